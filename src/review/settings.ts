/**
 * Harden-Runner settings other than mode and endpoints, compared between two compiled policies:
 * the passthrough flags and lockdown mode. Which direction weakens a job's hardening:
 * - `disable-sudo-and-containers`, `disable-sudo`: true protects; losing it weakens.
 * - `disable-file-monitoring`, `disable-telemetry`: true turns something off; gaining it weakens.
 * - `lockdown-mode`: turning it off, or dropping a detection while it stays on, weakens.
 * Pure; work is per (before, after) pair of policies, never per scope.
 */
import { PASSTHROUGH_FLAGS, type CompiledPolicy, type PassthroughFlag } from '../policy/model.js';
import type { RiskKind, SettingChange } from './model.js';

/** Flags whose `true` is the hardened state. */
const PROTECTIVE_FLAGS: ReadonlySet<PassthroughFlag> = new Set(['disable-sudo-and-containers', 'disable-sudo']);

export const LOCKDOWN_KEY = 'lockdown-mode';
export const DETECTIONS_KEY = 'lockdown-mode.detections';

function enabledDetections(policy: CompiledPolicy | undefined): string[] | null {
  const lockdown = policy?.['lockdown-mode'];
  return lockdown?.enabled ? [...lockdown.detections].sort() : null;
}

/**
 * Every setting that differs. With no policy before (a newly attached scope), nothing is weakened:
 * the scope was not hardened by a policy at all.
 */
export function settingChanges(before: CompiledPolicy | undefined, after: CompiledPolicy | undefined): SettingChange[] {
  const changes: SettingChange[] = [];
  const compared = before !== undefined;
  for (const flag of PASSTHROUGH_FLAGS) {
    const from = before?.[flag] ?? null;
    const to = after?.[flag] ?? null;
    if (from === to) continue;
    const weakens = compared && (PROTECTIVE_FLAGS.has(flag) ? from === true && to !== true : from !== true && to === true);
    changes.push({ key: flag, before: from, after: to, weakens });
  }
  const lockdownBefore = before?.['lockdown-mode']?.enabled ?? null;
  const lockdownAfter = after?.['lockdown-mode']?.enabled ?? null;
  if (lockdownBefore !== lockdownAfter) {
    changes.push({ key: LOCKDOWN_KEY, before: lockdownBefore, after: lockdownAfter, weakens: compared && lockdownBefore === true && lockdownAfter !== true });
  }
  const detectionsBefore = enabledDetections(before);
  const detectionsAfter = enabledDetections(after);
  // Detections matter while lockdown stays on; turning it off is the change above.
  if (detectionsBefore && detectionsAfter && detectionsBefore.join(',') !== detectionsAfter.join(',')) {
    const removed = detectionsBefore.filter((detection) => !detectionsAfter.includes(detection));
    changes.push({ key: DETECTIONS_KEY, before: detectionsBefore, after: detectionsAfter, weakens: removed.length > 0 });
  }
  return changes;
}

/** The risk kinds the weakening changes carry, in RISK_KINDS order. */
export function settingRisks(changes: readonly SettingChange[]): RiskKind[] {
  const risks: RiskKind[] = [];
  if (changes.some((change) => change.weakens && (change.key === LOCKDOWN_KEY || change.key === DETECTIONS_KEY))) risks.push('lockdown-weakened');
  if (changes.some((change) => change.weakens && change.key !== LOCKDOWN_KEY && change.key !== DETECTIONS_KEY)) risks.push('hardening-weakened');
  return risks;
}

function valueText(value: SettingChange['before']): string {
  if (value === null) return 'unset';
  if (Array.isArray(value)) return value.length === 0 ? 'none' : value.join(', ');
  return String(value);
}

/** One line per change, plain text (renderers escape it): `disable-sudo: true → unset`, detections as removed/added. */
export function settingText(change: SettingChange): string {
  if (change.key === DETECTIONS_KEY && Array.isArray(change.before) && Array.isArray(change.after)) {
    const after = change.after;
    const before = change.before;
    const removed = before.filter((detection) => !after.includes(detection));
    const added = after.filter((detection) => !before.includes(detection));
    const bits = [removed.length > 0 ? `${removed.join(', ')} removed` : '', added.length > 0 ? `${added.join(', ')} added` : ''].filter(Boolean);
    return `lockdown detections: ${bits.join('; ')}`;
  }
  return `${change.key}: ${valueText(change.before)} → ${valueText(change.after)}`;
}
