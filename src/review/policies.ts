/**
 * Per-policy semantic diff: what each policy file says (own keys, normalized) and what
 * Harden-Runner gets from it (`extends` flattened), described as the history describes a change
 * (docs/architecture.md#policy-changes). Work is per policy, never per scope.
 *
 * What Harden-Runner gets is taken at the review's instant (docs/architecture.md#expiring-exceptions),
 * as the precedence preview, the forecast and the sync take it: endpoints, risks and whether
 * enforcement changed come from each side as it stands then. End dates are described as written
 * (a date moved into the past is said, and its endpoint is removed), and entries that count at
 * neither side are listed apart (`expired`).
 */
import { EXTENDS_KEY, describePolicyChange, expiryChanges, isExpiryKey, policyDelta, type KeyChange } from '../policy/change.js';
import { isExpired, policyAsOf } from '../policy/expiry.js';
import { difference } from '../policy/endpoint.js';
import { PASSTHROUGH_FLAGS, type CompiledPolicy, type Policy } from '../policy/model.js';
import { normalizePolicy, type NormalizedPolicy, type PolicyContent } from '../policy/normalize.js';
import { widenedWildcards } from './endpoints.js';
import type { ExpiredEntryChange, PolicyChange, RiskKind } from './model.js';
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

/**
 * `baseCompiled`/`headCompiled` are as written (with their end dates); `at` is the review's
 * instant. `enforcementChanged` is as of `at`: what the precedence preview needs.
 */
export function diffPolicies(
  basePolicies: ReadonlyMap<string, Policy>,
  headPolicies: ReadonlyMap<string, Policy>,
  baseCompiled: Readonly<Record<string, CompiledPolicy>>,
  headCompiled: Readonly<Record<string, CompiledPolicy>>,
  at: Date | number,
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
    const sides: Sides = { before, after, beforeNow: before && policyAsOf(before, at), afterNow: after && policyAsOf(after, at) };
    const enforcementDiffers = !sides.beforeNow || !sides.afterNow || !sameEnforcement(sides.beforeNow, sides.afterNow);
    if (before && after && enforcementDiffers) enforcementChanged.add(name);
    const own = normalized.get(name) ?? {};
    // Unchanged file and enforcement: the ancestry list is all that is left to compare.
    if (!ownChanged.has(name) && !enforcementDiffers && sameList(before?.extends ?? [], after?.extends ?? [])) continue;
    changes.push(describeChange(name, sides, own.before, own.after, ownChanged, enforcementDiffers, at));
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

/** One policy at both sides: as written (with end dates) and as of the review's instant. */
interface Sides {
  before: CompiledPolicy | undefined;
  after: CompiledPolicy | undefined;
  beforeNow: CompiledPolicy | undefined;
  afterNow: CompiledPolicy | undefined;
}

function isOver(date: string | null, at: Date | number): boolean {
  return date !== null && isExpired(date, at);
}

/**
 * End dates as written, for endpoints listed at both sides, unless over at both (those are in
 * `expiredEntries`): a date moved into the past is said next to its removed endpoint.
 */
function writtenEndDates(before: CompiledPolicy, after: CompiledPolicy, at: Date | number): KeyChange[] {
  return expiryChanges(before, after).filter((change) => !(isOver(change.before as string | null, at) && isOver(change.after as string | null, at)));
}

/** A policy file's own endpoints that count at `at` (its own end dates applied). */
function ownEndpointsAt(own: NormalizedPolicy | undefined, at: Date | number): string[] {
  const endpoints = own?.['allowed-endpoints'] ?? [];
  const expiry = own?.['endpoint-expiry'];
  return expiry ? endpoints.filter((endpoint) => !(Object.hasOwn(expiry, endpoint) && isExpired(expiry[endpoint] as string, at))) : endpoints;
}

/** Entries the change touches that count at neither side at `at` (see PolicyChange.expired). */
function expiredEntries(before: CompiledPolicy | undefined, after: CompiledPolicy | undefined, at: Date | number): ExpiredEntryChange[] {
  const state = (policy: CompiledPolicy | undefined, endpoint: string): { listed: boolean; date: string | null } => {
    if (!policy?.['allowed-endpoints'].includes(endpoint)) return { listed: false, date: null };
    const expiry = policy['endpoint-expiry'];
    return { listed: true, date: expiry && Object.hasOwn(expiry, endpoint) ? (expiry[endpoint] as string) : null };
  };
  const entries: ExpiredEntryChange[] = [];
  const candidates = new Set([...Object.keys(before?.['endpoint-expiry'] ?? {}), ...Object.keys(after?.['endpoint-expiry'] ?? {})]);
  for (const endpoint of [...candidates].sort()) {
    const from = state(before, endpoint);
    const to = state(after, endpoint);
    // Counting at a side: listed for good, or until a day not over yet.
    const counts = (side: { listed: boolean; date: string | null }) => side.listed && !isOver(side.date, at);
    if (counts(from) || counts(to) || (from.listed === to.listed && from.date === to.date)) continue;
    entries.push({ endpoint, before: from.listed ? from.date : null, after: to.listed ? to.date : null });
  }
  return entries;
}

function describeChange(
  name: string,
  sides: Sides,
  ownBefore: NormalizedPolicy | undefined,
  ownAfter: NormalizedPolicy | undefined,
  ownChanged: ReadonlySet<string>,
  enforcementChanged: boolean,
  at: Date | number,
): PolicyChange {
  const { before, after, beforeNow, afterNow } = sides;
  const reviewedBefore = reviewedContent(beforeNow, ownBefore);
  const reviewedAfter = reviewedContent(afterNow, ownAfter);
  const described = describePolicyChange(reviewedBefore, reviewedAfter);
  // End dates as written: the side as of `at` has lost the ones that are over.
  if (before && after) described.changed = [...described.changed.filter((change) => !isExpiryKey(change.key)), ...writtenEndDates(before, after, at)];
  const ownEndpointsBefore = ownEndpointsAt(ownBefore, at);
  const ownEndpointsAfter = ownEndpointsAt(ownAfter, at);
  const modeBefore = before?.['egress-policy'] ?? null;
  const modeAfter = after?.['egress-policy'] ?? null;
  const wildcardsWidened = widenedWildcards(beforeNow?.['allowed-endpoints'] ?? [], afterNow?.['allowed-endpoints'] ?? []);
  const until = untilOf(described.endpointsAdded, afterNow);
  const expired = expiredEntries(before, after, at);

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
    ...(until && { until }),
    ...(expired.length > 0 && { expired }),
  };
}

/** Of `endpoints`, those `policy` allows only until a day: endpoint -> last day; undefined when none. */
export function untilOf(endpoints: readonly string[], policy: CompiledPolicy | undefined): Record<string, string> | undefined {
  const expiry = policy?.['endpoint-expiry'];
  if (!expiry) return undefined;
  const dated = endpoints.filter((endpoint) => Object.hasOwn(expiry, endpoint)).map((endpoint) => [endpoint, expiry[endpoint] as string] as const);
  return dated.length === 0 ? undefined : Object.fromEntries(dated);
}

/**
 * The key changes a rendering lists: `changed`, and for a created policy the parents it extends
 * (its endpoints count them, so the reader needs to see where they come from).
 */
export function listedKeyChanges(policy: PolicyChange): KeyChange[] {
  if (policy.change !== 'created' || policy.extendsAfter.length === 0) return policy.changed;
  return [{ key: EXTENDS_KEY, before: [], after: policy.extendsAfter, weakens: false }, ...policy.changed];
}

/** How every rendering marks an endpoint allowed only until a day. */
export function untilText(lastDay: string): string {
  return `allowed until ${lastDay}`;
}

/** One entry of PolicyChange.expired, in words (plain text; renderers escape it). `day`: the review's UTC day. */
export function expiredEntryText(entry: ExpiredEntryChange, day: string): string {
  const noEffect = `no effect as of ${day}`;
  if (entry.after === null) return `expired exception deleted: ${entry.endpoint} (last day ${entry.before ?? '?'}; ${noEffect})`;
  if (entry.before === null) return `exception added already over: ${entry.endpoint} (last day ${entry.after}; ${noEffect})`;
  return `end date of an expired exception: ${entry.endpoint} ${entry.before} → ${entry.after} (${noEffect})`;
}
