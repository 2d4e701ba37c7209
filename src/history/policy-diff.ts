/**
 * A policy's content diff: the shared description of the change (docs/architecture.md#policy-changes)
 * and a unified diff of the YAML lines.
 */
import { describePolicyChange, policyDelta } from '../policy/change.js';
import type { NormalizedPolicy } from '../policy/normalize.js';
import type { PolicyDiff } from './model.js';
import { unifiedDiff } from './text-diff.js';

export interface DiffSide {
  /** Label for the text diff header, e.g. `a/policies/api.yml`. */
  label: string;
  text: string;
  /** Undefined when this side did not parse into a policy. */
  normalized: NormalizedPolicy | undefined;
}

/** Full diff; the described fields are null when either side could not be parsed. */
export function policyDiff(before: DiffSide, after: DiffSide): PolicyDiff {
  const text = unifiedDiff(before.text, after.text, before.label, after.label);
  if (!before.normalized || !after.normalized) {
    return { endpointsAdded: null, endpointsRemoved: null, changed: null, delta: null, text };
  }
  return { ...describePolicyChange(before.normalized, after.normalized), delta: policyDelta(before.normalized, after.normalized) ?? null, text };
}

/** True when the diff says nothing changed in what the policy means. */
export function isSemanticallyEmpty(diff: PolicyDiff): boolean {
  return diff.changed !== null && diff.changed.length === 0 && (diff.endpointsAdded?.length ?? 0) === 0 && (diff.endpointsRemoved?.length ?? 0) === 0;
}
