/**
 * Precedence preview: every known scope whose effective policy changes, before -> after, with
 * why. One pass over the scopes with constant work each (a few map lookups); everything that
 * depends only on the policies involved (endpoint differences, wildcard widening) is computed
 * once per (before, after) pair, so cost does not grow with scopes x policies.
 *
 * Both sides' policies come in as of the review's instant (docs/architecture.md#expiring-exceptions):
 * an exception over by then is neither a difference nor allowed. One still running is marked with
 * its last day where the preview lists it (`until`), and end dates that differ for endpoints kept
 * are said (`endDates`), from the `endpoint-expiry` the policies carry.
 */
import type { BaselineIndex } from '../baselines/index.js';
import { SCOPE_SECTIONS, SCOPE_TYPES, type AttachmentMap, type CompiledPolicy, type ScopeType } from '../policy/model.js';
import { expiryChanges, settingChanges } from '../policy/change.js';
import { difference } from '../policy/endpoint.js';
import { widenedWildcards } from './endpoints.js';
import type { AttachmentChange, EffectiveRef, KeyChange, PolicyChange, RiskKind, ScopeChange, ScopeGroup, ScopeRef, ScopeWhy, SettingChange } from './model.js';
import { settingRisks } from './settings.js';
import { untilOf } from './policies.js';

/** Broad to narrow: the order scopes are listed in. */
const LISTING_ORDER: Record<ScopeType, number> = { organization: 0, repository: 1, workflow: 2, cluster: 3 };
/** Precedence rank: lower is more specific. */
const SPECIFICITY: Record<ScopeType, number> = Object.fromEntries(SCOPE_TYPES.map((type, index) => [type, index])) as Record<ScopeType, number>;

export const CLUSTERS_GROUP = '(clusters)';

interface KnownScope {
  type: ScopeType;
  key: string;
  /** Undefined until derived from the key. */
  organization: string | null | undefined;
  repository: string | null | undefined;
}

export interface RevisionSide {
  attachments: AttachmentMap;
  /** As of the review's instant (`policiesAsOf`): exceptions over by then are gone. */
  compiled: Readonly<Record<string, CompiledPolicy>>;
}

export interface ScopeAnalysis {
  scopes: ScopeChange[];
  /** Own attachments that differ, found on the same pass (sorted by type, then key). */
  attachments: AttachmentChange[];
  groups: ScopeGroup[];
  /** `type:key` -> change, for changed scopes only. */
  byKey: Map<string, ScopeChange>;
  considered: number;
}

export function scopeId(type: ScopeType, key: string): string {
  return `${type}:${key}`;
}

function lookup(section: Record<string, string>, key: string | null): string | undefined {
  // Attachment maps are plain objects: never let a key like "constructor" reach the prototype.
  return key !== null && Object.hasOwn(section, key) ? section[key] : undefined;
}

/**
 * Visit every known scope once: attachment keys at either revision, repositories of workflow keys,
 * and every repository and workflow in baselines. Duplicates are recognized through the attachment
 * maps rather than one big set of ids, so the common case (a scope with its own attachment) costs
 * two lookups and no string work.
 */
export function forEachKnownScope(
  base: AttachmentMap,
  head: AttachmentMap,
  baselines: readonly (BaselineIndex | undefined)[],
  visit: (type: ScopeType, key: string) => void,
): void {
  for (const type of SCOPE_TYPES) {
    const section = SCOPE_SECTIONS[type];
    for (const key of Object.keys(head[section])) visit(type, key);
    for (const key of Object.keys(base[section])) if (!Object.hasOwn(head[section], key)) visit(type, key);
  }
  const extraRepositories = new Set<string>();
  const repository = (name: string) => {
    if (Object.hasOwn(head.repositories, name) || Object.hasOwn(base.repositories, name) || extraRepositories.has(name)) return;
    extraRepositories.add(name);
    visit('repository', name);
  };
  for (const key of Object.keys(head.workflows)) repository(key.slice(0, key.indexOf('/', key.indexOf('/') + 1)));
  for (const key of Object.keys(base.workflows)) if (!Object.hasOwn(head.workflows, key)) repository(key.slice(0, key.indexOf('/', key.indexOf('/') + 1)));
  const baselineWorkflows = new Set<string>();
  for (const index of baselines) {
    if (!index) continue;
    for (const [name, file] of index.files) {
      repository(name);
      for (const workflowPath of file.workflows.keys()) {
        const key = `${name}/${workflowPath}`;
        if (Object.hasOwn(head.workflows, key) || Object.hasOwn(base.workflows, key) || baselineWorkflows.has(key)) continue;
        baselineWorkflows.add(key);
        visit('workflow', key);
      }
    }
  }
}

/** Organization and repository are derived on first use: most scopes never need them. */
function lazyScope(type: ScopeType, key: string): KnownScope {
  return { type, key, organization: undefined, repository: undefined };
}

function organizationOf(scope: KnownScope): string | null {
  if (scope.organization === undefined) {
    const slash = scope.key.indexOf('/');
    scope.organization = scope.type === 'cluster' ? null : slash === -1 ? scope.key : scope.key.slice(0, slash);
  }
  return scope.organization;
}

function repositoryOf(scope: KnownScope): string | null {
  if (scope.repository === undefined) {
    const first = scope.key.indexOf('/');
    const second = first === -1 ? -1 : scope.key.indexOf('/', first + 1);
    scope.repository = scope.type === 'repository' ? scope.key : scope.type === 'workflow' && second !== -1 ? scope.key.slice(0, second) : null;
  }
  return scope.repository;
}

interface Winner {
  policy: string;
  scope: ScopeRef;
}

/** Precedence (docs/architecture.md#precedence) for a known scope: itself and the less specific scopes it belongs to. */
function winnerAt(map: AttachmentMap, scope: KnownScope): Winner | null {
  let policy: string | undefined;
  switch (scope.type) {
    case 'cluster':
      policy = lookup(map.clusters, scope.key);
      return policy === undefined ? null : { policy, scope: { type: 'cluster', key: scope.key } };
    case 'workflow':
      policy = lookup(map.workflows, scope.key);
      if (policy !== undefined) return { policy, scope: { type: 'workflow', key: scope.key } };
    // falls through
    case 'repository':
      policy = lookup(map.repositories, repositoryOf(scope));
      if (policy !== undefined) return { policy, scope: { type: 'repository', key: repositoryOf(scope) ?? scope.key } };
    // falls through
    case 'organization':
      policy = lookup(map.organizations, organizationOf(scope));
      return policy === undefined ? null : { policy, scope: { type: 'organization', key: organizationOf(scope) ?? scope.key } };
  }
}

interface Transition {
  id: number;
  added: string[];
  removed: string[];
  settings: SettingChange[];
  until: Record<string, string> | undefined;
  endDates: KeyChange[];
  widened: boolean;
}

export function analyzeScopes(
  base: RevisionSide,
  head: RevisionSide,
  enforcementChanged: ReadonlySet<string>,
  policyChanges: ReadonlyMap<string, PolicyChange>,
  baselines: readonly (BaselineIndex | undefined)[],
): ScopeAnalysis {
  const transitions = new Map<string, Transition>();
  const transitionOf = (before: string | null, after: string | null): Transition => {
    const id = `${before ?? ''}\u0000${after ?? ''}`;
    let found = transitions.get(id);
    if (!found) {
      const policyBefore = before === null ? undefined : base.compiled[before];
      const policyAfter = after === null ? undefined : head.compiled[after];
      const endpointsBefore = policyBefore?.['allowed-endpoints'] ?? [];
      const endpointsAfter = policyAfter?.['allowed-endpoints'] ?? [];
      const added = difference(endpointsAfter, endpointsBefore);
      found = {
        id: transitions.size,
        added,
        removed: difference(endpointsBefore, endpointsAfter),
        settings: settingChanges(policyBefore, policyAfter),
        until: untilOf(added, policyAfter),
        endDates: policyBefore && policyAfter ? expiryChanges(policyBefore, policyAfter) : [],
        widened: before !== null && after !== null && widenedWildcards(endpointsBefore, endpointsAfter).length > 0,
      };
      transitions.set(id, found);
    }
    return found;
  };

  const changed: ScopeChange[] = [];
  const groupIds: string[] = [];
  const attachments: AttachmentChange[] = [];
  let considered = 0;
  forEachKnownScope(base.attachments, head.attachments, baselines, (type, key) => {
    considered += 1;
    // Fast path: a scope with the same own attachment at both revisions is decided by it.
    const section = SCOPE_SECTIONS[type];
    const own = lookup(head.attachments[section], key);
    const ownBefore = lookup(base.attachments[section], key);
    if (own !== undefined && own === ownBefore && !enforcementChanged.has(own)) return;
    if (own !== ownBefore) {
      attachments.push({ type, key, before: ownBefore ?? null, after: own ?? null, change: ownBefore === undefined ? 'attached' : own === undefined ? 'detached' : 'moved' });
    }

    const scope = lazyScope(type, key);
    const beforeWinner = winnerAt(base.attachments, scope);
    const afterWinner = winnerAt(head.attachments, scope);
    const beforeName = beforeWinner?.policy ?? null;
    const afterName = afterWinner?.policy ?? null;
    if (beforeName === afterName && (beforeName === null || !enforcementChanged.has(beforeName))) return;

    const before = effective(beforeWinner, base.compiled);
    const after = effective(afterWinner, head.compiled);
    const transition = transitionOf(beforeName, afterName);
    const why = explain(scope, beforeWinner, afterWinner, policyChanges);
    // Modes follow from the policy names, so kind, cause type and transition decide the group.
    groupIds.push(`${why.kind}\u0000${why.kind === 'policy-changed' ? '' : (why.cause?.type ?? '')}\u0000${transition.id}`);
    changed.push({
      type,
      key,
      organization: organizationOf(scope),
      before,
      after,
      added: transition.added,
      removed: transition.removed,
      settings: transition.settings,
      ...(transition.until && { until: transition.until }),
      ...(transition.endDates.length > 0 && { endDates: transition.endDates }),
      why,
      risks: scopeRisks(before, after, transition),
      group: -1,
    });
  });
  // Sort scopes (and their group ids with them) broad to narrow, then by key.
  const order = changed.map((_, index) => index);
  const compare = (a: ScopeChange, b: ScopeChange) => LISTING_ORDER[a.type] - LISTING_ORDER[b.type] || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  order.sort((a, b) => compare(changed[a] as ScopeChange, changed[b] as ScopeChange));
  const scopes = order.map((index) => changed[index] as ScopeChange);
  const groups = groupScopes(scopes, order.map((index) => groupIds[index] as string));
  attachments.sort((a, b) => SPECIFICITY[a.type] - SPECIFICITY[b.type] || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { scopes, attachments, groups, byKey: new Map(scopes.map((change) => [scopeId(change.type, change.key), change])), considered };
}

function effective(winner: Winner | null, compiled: Readonly<Record<string, CompiledPolicy>>): EffectiveRef | null {
  if (!winner) return null;
  // An attachment to an unknown policy is a validation error (no bundle is built from it): not enforcing.
  const mode = compiled[winner.policy]?.['egress-policy'] ?? 'audit';
  return { policy: winner.policy, mode, scope: winner.scope };
}

function scopeRisks(before: EffectiveRef | null, after: EffectiveRef | null, transition: Transition): RiskKind[] {
  const risks: RiskKind[] = [];
  if (after?.mode === 'block' && (before === null || before.mode === 'audit')) risks.push('audit-to-block');
  // Removing endpoints matters where the agent blocks; in audit mode it only changes a report.
  if (after?.mode === 'block' && transition.removed.length > 0) risks.push('endpoints-removed');
  if (before !== null && after === null) risks.push('policy-lost');
  if (transition.widened) risks.push('wildcard-widened');
  if (before?.mode === 'block' && after?.mode === 'audit') risks.push('block-to-audit');
  risks.push(...settingRisks(transition.settings));
  return risks;
}

export function describeScope(scope: ScopeRef): string {
  return `${scope.type} ${scope.key}`;
}

function isSelf(scope: KnownScope, ref: ScopeRef): boolean {
  return scope.type === ref.type && scope.key === ref.key;
}

function explain(scope: KnownScope, before: Winner | null, after: Winner | null, policyChanges: ReadonlyMap<string, PolicyChange>): ScopeWhy {
  if (before && after && before.scope.type === after.scope.type && before.scope.key === after.scope.key) {
    if (before.policy === after.policy) {
      const change = policyChanges.get(after.policy);
      const through = change?.inheritedOnly && change.changedAncestors.length > 0 ? ` through extends ${change.changedAncestors.join(', ')}` : '';
      return { kind: 'policy-changed', text: `policy ${after.policy} changed${through}` };
    }
    const subject = isSelf(scope, after.scope) ? 'its attachment' : `the ${describeScope(after.scope)} attachment`;
    return { kind: 'moved', text: `${subject} moved from ${before.policy} to ${after.policy}`, cause: after.scope };
  }
  if (!before && after) {
    const text = isSelf(scope, after.scope) ? `newly attached to ${after.policy}` : `a new ${describeScope(after.scope)} attachment applies ${after.policy}`;
    return { kind: 'attached', text, cause: after.scope };
  }
  if (before && !after) {
    const subject = isSelf(scope, before.scope) ? `its attachment (${before.policy})` : `the ${describeScope(before.scope)} attachment (${before.policy})`;
    return { kind: 'detached', text: `${subject} was removed: no policy applies any more`, cause: before.scope };
  }
  if (before && after && SPECIFICITY[after.scope.type] < SPECIFICITY[before.scope.type]) {
    const subject = isSelf(scope, after.scope) ? `its new attachment (${after.policy})` : `a new ${describeScope(after.scope)} attachment (${after.policy})`;
    return { kind: 'shadowed', text: `${subject} now shadows ${describeScope(before.scope)} (${before.policy})`, cause: after.scope };
  }
  if (before && after) {
    const subject = isSelf(scope, before.scope) ? `its attachment (${before.policy})` : `the ${describeScope(before.scope)} attachment (${before.policy})`;
    return { kind: 'unshadowed', text: `${subject} was removed: ${describeScope(after.scope)} (${after.policy}) applies now`, cause: before.scope };
  }
  // Unreachable: unchanged scopes are filtered out before explaining.
  return { kind: 'policy-changed', text: 'no change' };
}

function groupTitle(group: Pick<ScopeGroup, 'kind' | 'causeType' | 'before' | 'after'>): string {
  const before = group.before ? `${group.before.policy} (${group.before.mode})` : 'no policy';
  const after = group.after ? `${group.after.policy} (${group.after.mode})` : 'no policy';
  const cause = group.causeType ?? 'scope';
  switch (group.kind) {
    case 'policy-changed':
      return group.before && group.after && group.before.mode !== group.after.mode
        ? `policy ${group.after.policy} changed, ${group.before.mode} → ${group.after.mode}`
        : `policy ${group.after?.policy ?? before} changed`;
    case 'moved':
      return `${cause} attachments moved: ${before} → ${after}`;
    case 'attached':
      return `new ${cause} attachments: no policy → ${after}`;
    case 'detached':
      return `${cause} attachments removed: ${before} → no policy`;
    case 'shadowed':
      return `new ${cause} attachments shadow ${before} with ${after}`;
    case 'unshadowed':
      return `${cause} attachments removed: ${before} → ${after}`;
  }
}

function groupScopes(scopes: readonly ScopeChange[], ids: readonly string[]): ScopeGroup[] {
  const byId = new Map<string, { group: ScopeGroup; organizations: Map<string, number>; members: ScopeChange[] }>();
  scopes.forEach((scope, index) => {
    const causeType = scope.why.kind === 'policy-changed' ? undefined : scope.why.cause?.type;
    const id = ids[index] as string;
    let entry = byId.get(id);
    if (!entry) {
      const group: ScopeGroup = {
        kind: scope.why.kind,
        ...(causeType && { causeType }),
        before: scope.before && { policy: scope.before.policy, mode: scope.before.mode },
        after: scope.after && { policy: scope.after.policy, mode: scope.after.mode },
        title: '',
        count: 0,
        byType: {},
        byOrganization: [],
        added: scope.added,
        removed: scope.removed,
        settings: scope.settings,
        ...(scope.until && { until: scope.until }),
        ...(scope.endDates && { endDates: scope.endDates }),
        risks: scope.risks,
      };
      group.title = groupTitle(group);
      entry = { group, organizations: new Map(), members: [] };
      byId.set(id, entry);
    }
    entry.group.count += 1;
    entry.group.byType[scope.type] = (entry.group.byType[scope.type] ?? 0) + 1;
    const organization = scope.organization ?? CLUSTERS_GROUP;
    entry.organizations.set(organization, (entry.organizations.get(organization) ?? 0) + 1);
    entry.members.push(scope);
  });
  const entries = [...byId.values()].sort((a, b) => b.group.count - a.group.count || (a.group.title < b.group.title ? -1 : a.group.title > b.group.title ? 1 : 0));
  return entries.map((entry, index) => {
    entry.group.byOrganization = [...entry.organizations]
      .map(([organization, count]) => ({ organization, count }))
      .sort((a, b) => b.count - a.count || (a.organization < b.organization ? -1 : 1));
    for (const member of entry.members) member.group = index;
    return entry.group;
  });
}
