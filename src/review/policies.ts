/**
 * Per-policy semantic diff: what each policy file says (own keys, normalized) and what
 * Harden-Runner gets from it (`extends` flattened), described as the history describes a change
 * (docs/architecture.md#policy-changes). Work is per policy, never per scope.
 */
import { EXTENDS_KEY, describePolicyChange, policyDelta, type KeyChange } from '../policy/change.js';
import { difference } from '../policy/endpoint.js';
import { PASSTHROUGH_FLAGS, type CompiledPolicy, type Policy } from '../policy/model.js';
import { normalizePolicy, type NormalizedPolicy, type PolicyContent } from '../policy/normalize.js';
import { widenedWildcards } from './endpoints.js';
import type { PolicyChange, RiskKind } from './model.js';
import { settingRisks } from './settings.js';

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let index = 0; index < a.length; index++) if (a[index] !== b[index]) return false;
  return true;
}

/** Is what Harden-Runner is given the same (mode, endpoints, flags, lockdown-mode)? */
export function sameEnforcement(a: CompiledPolicy, b: CompiledPolicy): boolean {
  if (a === b) return true;
  if (a['egress-policy'] !== b['egress-policy'] || !sameList(a['allowed-endpoints'], b['allowed-endpoints'])) return false;
  for (const flag of PASSTHROUGH_FLAGS) if (a[flag] !== b[flag]) return false;
  const lockdownA = a['lockdown-mode'];
  const lockdownB = b['lockdown-mode'];
  if (!lockdownA || !lockdownB) return lockdownA === lockdownB;
  return lockdownA.enabled === lockdownB.enabled && sameList([...lockdownA.detections].sort(), [...lockdownB.detections].sort());
}

/** Same own keys, positions and formatting aside. Cheap first: most policies of a change are untouched. */
function samePolicy(a: Policy, b: Policy): boolean {
  if (a === b) return true;
  if (a.egressPolicy !== b.egressPolicy || a.description !== b.description || a.allowedEndpoints.length !== b.allowedEndpoints.length) return false;
  if (!sameList(a.extends.map((reference) => reference.name), b.extends.map((reference) => reference.name))) return false;
  return JSON.stringify(normalizePolicy(a)) === JSON.stringify(normalizePolicy(b));
}

export interface PolicyDiff {
  changes: PolicyChange[];
  /** Names present at both revisions whose enforcement differs: every scope using one changes. */
  enforcementChanged: Set<string>;
}

export function diffPolicies(
  basePolicies: ReadonlyMap<string, Policy>,
  headPolicies: ReadonlyMap<string, Policy>,
  baseCompiled: Readonly<Record<string, CompiledPolicy>>,
  headCompiled: Readonly<Record<string, CompiledPolicy>>,
): PolicyDiff {
  const names = [...new Set([...basePolicies.keys(), ...headPolicies.keys()])].sort();
  const ownChanged = new Set<string>();
  const normalized = new Map<string, { before?: NormalizedPolicy; after?: NormalizedPolicy }>();
  for (const name of names) {
    const base = basePolicies.get(name);
    const head = headPolicies.get(name);
    if (base && head && samePolicy(base, head)) continue;
    const before = base && normalizePolicy(base);
    const after = head && normalizePolicy(head);
    normalized.set(name, { ...(before && { before }), ...(after && { after }) });
    ownChanged.add(name);
  }

  const changes: PolicyChange[] = [];
  const enforcementChanged = new Set<string>();
  for (const name of names) {
    const before = baseCompiled[name];
    const after = headCompiled[name];
    if (!before && !after) continue;
    if (before === after && !ownChanged.has(name)) continue;
    const enforcementDiffers = !before || !after || !sameEnforcement(before, after);
    if (before && after && enforcementDiffers) enforcementChanged.add(name);
    const own = normalized.get(name) ?? {};
    // Unchanged file and enforcement: the ancestry list is all that is left to compare.
    if (!ownChanged.has(name) && !enforcementDiffers && sameList(before?.extends ?? [], after?.extends ?? [])) continue;
    changes.push(describeChange(name, before, after, own.before, own.after, ownChanged, enforcementDiffers));
  }
  return { changes, enforcementChanged };
}

/**
 * What Harden-Runner gets, with `extends` as written when the file is at hand: the compiled list is
 * the whole ancestry, sorted, which is not what the author edited.
 */
function reviewedContent(compiled: CompiledPolicy | undefined, own: NormalizedPolicy | undefined): PolicyContent | undefined {
  if (!compiled) return undefined;
  const { name: _name, ...content } = compiled;
  if (own) {
    if (own.extends) content.extends = own.extends;
    else delete content.extends;
  }
  return content;
}

function describeChange(
  name: string,
  before: CompiledPolicy | undefined,
  after: CompiledPolicy | undefined,
  ownBefore: NormalizedPolicy | undefined,
  ownAfter: NormalizedPolicy | undefined,
  ownChanged: ReadonlySet<string>,
  enforcementChanged: boolean,
): PolicyChange {
  const reviewedBefore = reviewedContent(before, ownBefore);
  const reviewedAfter = reviewedContent(after, ownAfter);
  const described = describePolicyChange(reviewedBefore, reviewedAfter);
  const ownEndpointsBefore = ownBefore?.['allowed-endpoints'] ?? [];
  const ownEndpointsAfter = ownAfter?.['allowed-endpoints'] ?? [];
  const modeBefore = before?.['egress-policy'] ?? null;
  const modeAfter = after?.['egress-policy'] ?? null;
  const wildcardsWidened = widenedWildcards(before?.['allowed-endpoints'] ?? [], after?.['allowed-endpoints'] ?? []);

  const risks: RiskKind[] = [];
  if (before && after) {
    if (modeBefore === 'audit' && modeAfter === 'block') risks.push('audit-to-block');
    if (described.endpointsRemoved.length > 0 && modeAfter === 'block') risks.push('endpoints-removed');
  }
  if (wildcardsWidened.length > 0) risks.push('wildcard-widened');
  if (modeBefore === 'block' && modeAfter === 'audit') risks.push('block-to-audit');
  risks.push(...settingRisks(described.changed));

  return {
    name,
    change: !before ? 'created' : !after ? 'deleted' : 'changed',
    ...described,
    modeBefore,
    modeAfter,
    ownEndpointsAdded: difference(ownEndpointsAfter, ownEndpointsBefore),
    ownEndpointsRemoved: difference(ownEndpointsBefore, ownEndpointsAfter),
    extendsBefore: reviewedBefore?.extends ?? [],
    extendsAfter: reviewedAfter?.extends ?? [],
    changedAncestors: (after?.extends ?? []).filter((ancestor) => ownChanged.has(ancestor)),
    inheritedOnly: before !== undefined && after !== undefined && !ownChanged.has(name),
    wildcardsWidened,
    enforcementChanged,
    risks,
    delta: policyDelta(ownBefore, ownAfter),
  };
}

/**
 * The key changes a rendering lists: `changed`, and for a created policy the parents it extends
 * (its endpoints count them, so the reader needs to see where they come from).
 */
export function listedKeyChanges(policy: PolicyChange): KeyChange[] {
  if (policy.change !== 'created' || policy.extendsAfter.length === 0) return policy.changed;
  return [{ key: EXTENDS_KEY, before: [], after: policy.extendsAfter, weakens: false }, ...policy.changed];
}
