/**
 * A policy's content diff: semantic (normalized policy, endpoints as sets, via jsondiffpatch) and
 * textual (unified diff of the YAML lines).
 */
import { create, type ArrayDelta, type Delta, type ObjectDelta } from 'jsondiffpatch';
import { flattenPolicies } from '../policy/flatten.js';
import type { Policy } from '../policy/model.js';
import type { ChangedKey, NormalizedPolicy, PolicyDiff } from './model.js';
import { unifiedDiff } from './text-diff.js';

const ENDPOINTS_KEY = 'allowed-endpoints';

/**
 * Endpoint lists are sorted and unique, so hashing items by value makes jsondiffpatch report
 * plain additions and removals (a set comparison) rather than positional edits.
 */
const differ = create({
  objectHash: (item: object) => JSON.stringify(item),
  arrays: { detectMove: false },
});

/**
 * The policy's own content in the bundle's shape (endpoints sorted and unique); `extends` keeps
 * the names as written, since the parents' content is not part of this file's history.
 */
export function normalizePolicy(policy: Policy): NormalizedPolicy {
  const compiled = flattenPolicies({ policies: new Map([[policy.name, { ...policy, extends: [] }]]) })[policy.name];
  if (!compiled) throw new Error(`flattenPolicies lost policy ${policy.name}`); // cannot happen: it compiles every policy given
  const { name: _name, ...normalized } = compiled;
  if (policy.extends.length > 0) normalized.extends = policy.extends.map((reference) => reference.name);
  return normalized;
}

/** The semantic part of a diff between two normalized policies. */
export function semanticDiff(before: NormalizedPolicy, after: NormalizedPolicy): Pick<PolicyDiff, 'endpointsAdded' | 'endpointsRemoved' | 'changed' | 'delta'> {
  const delta = (differ.diff(before, after) ?? null) as ObjectDelta | null;
  const endpointsAdded: string[] = [];
  const endpointsRemoved: string[] = [];
  const changed: ChangedKey[] = [];
  if (delta) {
    const endpointsDelta = delta[ENDPOINTS_KEY] as ArrayDelta | undefined;
    if (endpointsDelta) {
      for (const [index, entry] of Object.entries(endpointsDelta)) {
        if (index === '_t' || !Array.isArray(entry)) continue;
        if (index.startsWith('_')) endpointsRemoved.push(String(entry[0]));
        else if (entry.length === 1) endpointsAdded.push(String(entry[0]));
      }
    }
    const beforeRecord = before as Record<string, unknown>;
    const afterRecord = after as Record<string, unknown>;
    for (const key of Object.keys(delta).sort()) {
      if (key === ENDPOINTS_KEY) continue;
      changed.push({ key, before: beforeRecord[key] ?? null, after: afterRecord[key] ?? null });
    }
  }
  return { endpointsAdded: endpointsAdded.sort(), endpointsRemoved: endpointsRemoved.sort(), changed, delta: delta as Delta | null };
}

export interface DiffSide {
  /** Label for the text diff header, e.g. `a/policies/api.yml`. */
  label: string;
  text: string;
  /** Undefined when this side did not parse into a policy. */
  normalized: NormalizedPolicy | undefined;
}

/** Full diff; the semantic fields are null when either side could not be parsed. */
export function policyDiff(before: DiffSide, after: DiffSide): PolicyDiff {
  const text = unifiedDiff(before.text, after.text, before.label, after.label);
  if (!before.normalized || !after.normalized) {
    return { endpointsAdded: null, endpointsRemoved: null, changed: null, delta: null, text };
  }
  return { ...semanticDiff(before.normalized, after.normalized), text };
}

/** True when the diff says nothing changed in what the policy means. */
export function isSemanticallyEmpty(diff: PolicyDiff): boolean {
  return diff.changed !== null && diff.changed.length === 0 && (diff.endpointsAdded?.length ?? 0) === 0 && (diff.endpointsRemoved?.length ?? 0) === 0;
}
