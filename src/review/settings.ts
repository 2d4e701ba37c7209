/**
 * Which risks a change's weakened settings carry. What changed and whether it weakens the job is
 * the shared description in policy/change.ts (docs/architecture.md#policy-changes).
 */
import { DETECTIONS_KEY, LOCKDOWN_KEY, isSettingKey, type KeyChange } from '../policy/change.js';
import type { RiskKind } from './model.js';

/** The risk kinds the weakening settings carry, in RISK_KINDS order; mode and endpoints have risks of their own. */
export function settingRisks(changes: readonly KeyChange[]): RiskKind[] {
  const weakened = changes.filter((change) => change.weakens && isSettingKey(change.key));
  const risks: RiskKind[] = [];
  if (weakened.some((change) => change.key === LOCKDOWN_KEY || change.key === DETECTIONS_KEY)) risks.push('lockdown-weakened');
  if (weakened.some((change) => change.key !== LOCKDOWN_KEY && change.key !== DETECTIONS_KEY)) risks.push('hardening-weakened');
  return risks;
}
