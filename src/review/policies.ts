/**
 * Per-policy semantic diff: what each policy file says (own keys, normalized) and what
 * Harden-Runner gets from it (`extends` flattened). Work is per policy, never per scope.
 */
import { create } from 'jsondiffpatch';
import { PASSTHROUGH_FLAGS, type CompiledPolicy, type Policy } from '../policy/model.js';
import { difference, widenedWildcards } from './endpoints.js';
import type { KeyChange, PolicyChange, RiskKind } from './model.js';
import { settingChanges, settingRisks } from './settings.js';

const differ = create({ arrays: { detectMove: false } });

/** A policy as written, in a canonical shape: what its file says, independent of formatting. */
export interface NormalizedPolicy {
  description?: string;
  'egress-policy': string;
  'allowed-endpoints': string[];
  extends: string[];
  flags: Record<string, boolean>;
  'lockdown-mode'?: { enabled: boolean; detections: string[] };
}

export function normalizePolicy(policy: Policy): NormalizedPolicy {
  const flags: Record<string, boolean> = {};
  for (const flag of PASSTHROUGH_FLAGS) {
    const value = policy.flags[flag];
    if (value !== undefined) flags[flag] = value;
  }
  const normalized: NormalizedPolicy = {
    'egress-policy': policy.egressPolicy,
    'allowed-endpoints': [...new Set(policy.allowedEndpoints.map((entry) => entry.endpoint))].sort(),
    // Order matters: among parents a later one wins scalar keys.
    extends: policy.extends.map((reference) => reference.name),
    flags,
  };
  if (policy.description !== undefined) normalized.description = policy.description;
  if (policy.lockdownMode) {
    normalized['lockdown-mode'] = { enabled: policy.lockdownMode.enabled, detections: [...policy.lockdownMode.detections].sort() };
  }
  return normalized;
}

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

function describeChange(
  name: string,
  before: CompiledPolicy | undefined,
  after: CompiledPolicy | undefined,
  ownBefore: NormalizedPolicy | undefined,
  ownAfter: NormalizedPolicy | undefined,
  ownChanged: ReadonlySet<string>,
  enforcementChanged: boolean,
): PolicyChange {
  const endpointsBefore = before?.['allowed-endpoints'] ?? [];
  const endpointsAfter = after?.['allowed-endpoints'] ?? [];
  const ownEndpointsBefore = ownBefore?.['allowed-endpoints'] ?? [];
  const ownEndpointsAfter = ownAfter?.['allowed-endpoints'] ?? [];
  const endpointsAdded = difference(endpointsAfter, endpointsBefore);
  const endpointsRemoved = difference(endpointsBefore, endpointsAfter);
  const modeBefore = before?.['egress-policy'] ?? null;
  const modeAfter = after?.['egress-policy'] ?? null;
  const wildcardsWidened = widenedWildcards(endpointsBefore, endpointsAfter);

  const risks: RiskKind[] = [];
  if (before && after) {
    if (modeBefore === 'audit' && modeAfter === 'block') risks.push('audit-to-block');
    if (endpointsRemoved.length > 0 && modeAfter === 'block') risks.push('endpoints-removed');
  }
  if (wildcardsWidened.length > 0) risks.push('wildcard-widened');
  if (modeBefore === 'block' && modeAfter === 'audit') risks.push('block-to-audit');
  if (before && after) risks.push(...settingRisks(settingChanges(before, after)));

  return {
    name,
    change: !before ? 'created' : !after ? 'deleted' : 'changed',
    endpointsAdded,
    endpointsRemoved,
    modeBefore,
    modeAfter,
    ownEndpointsAdded: difference(ownEndpointsAfter, ownEndpointsBefore),
    ownEndpointsRemoved: difference(ownEndpointsBefore, ownEndpointsAfter),
    extendsBefore: ownBefore?.extends ?? before?.extends ?? [],
    extendsAfter: ownAfter?.extends ?? after?.extends ?? [],
    changedAncestors: (after?.extends ?? []).filter((ancestor) => ownChanged.has(ancestor)),
    inheritedOnly: before !== undefined && after !== undefined && !ownChanged.has(name),
    otherKeys: otherKeyChanges(before, after, ownBefore, ownAfter),
    wildcardsWidened,
    enforcementChanged,
    risks,
    delta: differ.diff(ownBefore ?? null, ownAfter ?? null),
  };
}

function otherKeyChanges(
  before: CompiledPolicy | undefined,
  after: CompiledPolicy | undefined,
  ownBefore: NormalizedPolicy | undefined,
  ownAfter: NormalizedPolicy | undefined,
): KeyChange[] {
  if (!before || !after) return [];
  const changes: KeyChange[] = [];
  const descriptionBefore = ownBefore?.description ?? before.description ?? null;
  const descriptionAfter = ownAfter?.description ?? after.description ?? null;
  if (descriptionBefore !== descriptionAfter) changes.push({ key: 'description', before: descriptionBefore, after: descriptionAfter });
  for (const flag of PASSTHROUGH_FLAGS) {
    const flagBefore = before[flag] ?? null;
    const flagAfter = after[flag] ?? null;
    if (flagBefore !== flagAfter) changes.push({ key: flag, before: flagBefore, after: flagAfter });
  }
  const lockdownBefore = before['lockdown-mode'] ?? null;
  const lockdownAfter = after['lockdown-mode'] ?? null;
  if (JSON.stringify(lockdownBefore) !== JSON.stringify(lockdownAfter)) changes.push({ key: 'lockdown-mode', before: lockdownBefore, after: lockdownAfter });
  return changes;
}
