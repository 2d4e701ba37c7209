/**
 * The review engine: two revisions of the policy repository in, one Review out. Pure.
 */
import { indexBaselineTexts, type BaselineIndex } from '../baselines/index.js';
import { policiesAsOf } from '../policy/expiry.js';
import { flattenPolicies } from '../policy/flatten.js';
import { BASELINES_DIR, SCOPE_SECTIONS, SCOPE_TYPES, attachmentMap, type AttachmentMap, type CompiledPolicy } from '../policy/model.js';
import type { PolicyRepository } from '../store/repository.js';
import { forecastBreakage } from './breakage.js';
import {
  RISK_KINDS,
  RISK_TITLES,
  type AttachmentChange,
  type PolicyChange,
  type Review,
  type ReviewInput,
  type ReviewSummary,
  type RiskKind,
  type RiskSummary,
  type ScopeChange,
} from './model.js';
import { formatNumber } from './escape.js';
import { diffPolicies } from './policies.js';
import { analyzeScopes } from './scopes.js';
import { firewallChanges } from './firewall.js';

const RISK_EXAMPLES = 10;

/**
 * A ReviewInput from a loaded repository: compiled policies, the attachment map and the baseline
 * index the loader built (or, for a repository value without one, an index of its `baselines/**`
 * texts; their diagnostics are the loader's and `validate`'s business).
 */
export function prepareReviewInput(repository: PolicyRepository, options: { label?: string; revision?: string } = {}): ReviewInput {
  const input: ReviewInput = {
    policies: repository.policies,
    attachments: repository.attachments,
    compiled: flattenPolicies(repository),
    attachmentMap: attachmentMap(repository.attachments),
  };
  if (options.label !== undefined) input.label = options.label;
  if (options.revision !== undefined) input.revision = options.revision;
  // Older callers build PolicyRepository values without the index: fall back to the texts.
  const baselines = (repository as Partial<PolicyRepository>).baselines ?? indexBaselineTexts([...repository.files].filter(([path]) => path.startsWith(`${BASELINES_DIR}/`))).value;
  if (baselines.files.size > 0) input.baselines = baselines;
  if (repository.files) input.files = repository.files;
  if (repository.settings) input.settings = repository.settings;
  return input;
}

export interface ReviewOptions {
  /**
   * The instant the whole review is about (docs/architecture.md#expiring-exceptions): the policy
   * diff, the precedence preview, the firewall files and the forecast take both sides as they stand
   * then (exceptions expired by then count as absent); later ends date future breakage. Read the
   * clock once per review and pass it here; now when absent.
   */
  at?: Date | number;
}

/** Compare two revisions. Pure given `options.at`: the same inputs give the same Review. */
export function reviewChange(base: ReviewInput, head: ReviewInput, options: ReviewOptions = {}): Review {
  const at = new Date(options.at ?? Date.now());
  // As written (with end dates): the policy diff describes dates, the forecast dates future breakage.
  const baseCompiled = base.compiled ?? flattenPolicies({ policies: new Map(base.policies) });
  const headCompiled = head.compiled ?? flattenPolicies({ policies: new Map(head.policies) });
  // As of `at`: what Harden-Runner (and the firewall) is given then, as the sync writes it.
  const baseNow = policiesAsOf(baseCompiled, at);
  const headNow = policiesAsOf(headCompiled, at);
  const baseAttachments = base.attachmentMap ?? attachmentMap(base.attachments);
  const headAttachments = head.attachmentMap ?? attachmentMap(head.attachments);

  const policyDiff = diffPolicies(base.policies, head.policies, baseCompiled, headCompiled, at);
  markInvalidPolicies(policyDiff.changes, base, head, baseCompiled, headCompiled);
  const policyChanges = new Map(policyDiff.changes.map((change) => [change.name, change]));
  const forecastIndex = withJobs(head.baselines) ?? withJobs(base.baselines);
  const scopes = analyzeScopes(
    { attachments: baseAttachments, compiled: baseNow },
    { attachments: headAttachments, compiled: headNow },
    policyDiff.enforcementChanged,
    policyChanges,
    [head.baselines, base.baselines],
  );
  const attachments = scopes.attachments;
  const forecast = forecastBreakage(forecastIndex, scopes, { compiled: baseCompiled, attachments: baseAttachments }, { compiled: headCompiled, attachments: headAttachments }, at);
  const risks = summarizeRisks(policyDiff.changes, scopes.scopes);

  const summary: ReviewSummary = {
    text: '',
    policiesCreated: policyDiff.changes.filter((change) => change.change === 'created').length,
    policiesDeleted: policyDiff.changes.filter((change) => change.change === 'deleted').length,
    policiesChanged: policyDiff.changes.filter((change) => change.change === 'changed').length,
    attachmentsChanged: attachments.length,
    scopesConsidered: scopes.considered,
    scopesChanged: scopes.scopes.length,
    jobsObserved: forecast.jobsObserved,
    jobsBreaking: forecast.breakage.length,
    jobsBreakingLater: forecast.breakageLater.length,
    endpointsNewlyBlocked: forecast.breakage.reduce((sum, job) => sum + job.endpoints.length, 0),
    alreadyBlocked: forecast.alreadyBlocked,
    risks: Object.fromEntries(risks.map((risk) => [risk.kind, { policies: risk.policies.length, scopes: risk.scopes }])),
  };
  summary.text = summaryLine(summary, forecastIndex !== undefined, forecast.breakageLater[0]?.expires);

  // The second enforcement target, when on: how each reached repository's firewall file changes.
  const firewall =
    head.settings?.githubFirewall?.enabled === true
      ? firewallChanges(
          { attachments: baseAttachments, compiled: baseNow, settings: base.settings ?? head.settings, ...(base.baselines ? { baselines: base.baselines } : {}) },
          { attachments: headAttachments, compiled: headNow, settings: head.settings, ...(head.baselines ? { baselines: head.baselines } : {}) },
          scopes.scopes,
        )
      : undefined;

  return {
    base: side(base, 'base'),
    head: side(head, 'head'),
    summary,
    policies: policyDiff.changes,
    attachments,
    scopes: scopes.scopes,
    scopeGroups: scopes.groups,
    breakage: forecast.breakage,
    breakageLater: forecast.breakageLater,
    at: at.toISOString(),
    risks,
    ...(firewall ? { firewall } : {}),
  };
}

const POLICY_FILE = /^policies\/([^/]+)\.yml$/;

/**
 * Policy files the change touches that have errors at the head: a file that does not parse is
 * missing from the head's policies (it would read as deleted) and one with a bad value may not
 * differ at all, yet the reviewer must see every file the change touches. Listed as changed and
 * invalid; what could be parsed stays in the row.
 */
function markInvalidPolicies(
  changes: PolicyChange[],
  base: ReviewInput,
  head: ReviewInput,
  baseCompiled: Readonly<Record<string, CompiledPolicy>>,
  headCompiled: Readonly<Record<string, CompiledPolicy>>,
): void {
  if (!head.invalidFiles || head.invalidFiles.size === 0) return;
  let added = false;
  for (const file of head.invalidFiles) {
    const name = POLICY_FILE.exec(file)?.[1];
    if (name === undefined) continue;
    const text = head.files?.get(file);
    const before = base.files?.get(file);
    if (text !== undefined && before !== undefined && text === before) continue;
    const existing = changes.find((change) => change.name === name);
    if (existing) {
      existing.invalid = true;
      // The file is still there: a parse failure is not a deletion.
      if (existing.change === 'deleted' && text !== undefined) existing.change = 'changed';
      continue;
    }
    const compiledBefore = baseCompiled[name];
    const compiledAfter = headCompiled[name];
    changes.push({
      name,
      change: before === undefined && compiledBefore === undefined ? 'created' : 'changed',
      endpointsAdded: [],
      endpointsRemoved: [],
      modeBefore: compiledBefore?.['egress-policy'] ?? null,
      modeAfter: compiledAfter?.['egress-policy'] ?? null,
      ownEndpointsAdded: [],
      ownEndpointsRemoved: [],
      extendsBefore: compiledBefore?.extends ?? [],
      extendsAfter: compiledAfter?.extends ?? [],
      changedAncestors: [],
      inheritedOnly: false,
      changed: [],
      wildcardsWidened: [],
      enforcementChanged: false,
      risks: [],
      invalid: true,
      delta: undefined,
    });
    added = true;
  }
  if (added) changes.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function withJobs(index: BaselineIndex | undefined): BaselineIndex | undefined {
  return index && index.files.size > 0 ? index : undefined;
}

function side(input: ReviewInput, fallback: string): Review['base'] {
  const label = input.label ?? (input.revision ? input.revision.slice(0, 12) : fallback);
  return input.revision ? { label, revision: input.revision } : { label };
}

export function diffAttachments(base: AttachmentMap, head: AttachmentMap): AttachmentChange[] {
  const changes: AttachmentChange[] = [];
  for (const type of SCOPE_TYPES) {
    const section = SCOPE_SECTIONS[type];
    const before = base[section];
    const after = head[section];
    const sectionChanges: AttachmentChange[] = [];
    for (const key of Object.keys(before)) {
      const from = before[key] ?? null;
      const to = Object.hasOwn(after, key) ? (after[key] ?? null) : null;
      if (from !== to) sectionChanges.push({ type, key, before: from, after: to, change: to === null ? 'detached' : 'moved' });
    }
    for (const key of Object.keys(after)) {
      if (!Object.hasOwn(before, key)) sectionChanges.push({ type, key, before: null, after: after[key] ?? null, change: 'attached' });
    }
    changes.push(...sectionChanges.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)));
  }
  return changes;
}

function summarizeRisks(policies: readonly PolicyChange[], scopes: readonly ScopeChange[]): RiskSummary[] {
  const byKind = new Map<RiskKind, RiskSummary>();
  const entry = (kind: RiskKind): RiskSummary => {
    let found = byKind.get(kind);
    if (!found) {
      found = { kind, title: RISK_TITLES[kind], policies: [], scopes: 0, examples: [] };
      byKind.set(kind, found);
    }
    return found;
  };
  for (const policy of policies) for (const kind of policy.risks) entry(kind).policies.push(policy.name);
  for (const scope of scopes) {
    for (const kind of scope.risks) {
      const found = entry(kind);
      found.scopes += 1;
      if (found.examples.length < RISK_EXAMPLES) found.examples.push({ type: scope.type, key: scope.key });
    }
  }
  return RISK_KINDS.filter((kind) => byKind.has(kind)).map((kind) => byKind.get(kind) as RiskSummary);
}

export function formatCount(count: number, singular: string, plural = `${singular}s`): string {
  return `${formatNumber(count)} ${count === 1 ? singular : plural}`;
}

function summaryLine(summary: ReviewSummary, haveBaselines: boolean, firstExpiry: string | undefined): string {
  const parts: string[] = [];
  const policyParts: string[] = [];
  if (summary.policiesCreated > 0) policyParts.push(`${formatNumber(summary.policiesCreated)} created`);
  if (summary.policiesChanged > 0) policyParts.push(`${formatNumber(summary.policiesChanged)} changed`);
  if (summary.policiesDeleted > 0) policyParts.push(`${formatNumber(summary.policiesDeleted)} deleted`);
  const policyTotal = summary.policiesCreated + summary.policiesChanged + summary.policiesDeleted;
  if (policyParts.length === 0) parts.push('no policy changes');
  else if (policyParts.length === 1 && summary.policiesChanged === policyTotal) parts.push(`${formatCount(policyTotal, 'policy', 'policies')} changed`);
  else parts.push(`${formatCount(policyTotal, 'policy', 'policies')} (${policyParts.join(', ')})`);
  if (summary.attachmentsChanged > 0) parts.push(`${formatCount(summary.attachmentsChanged, 'attachment')} changed`);
  parts.push(`${formatCount(summary.scopesChanged, 'scope')} ${summary.scopesChanged === 1 ? 'changes' : 'change'} effective policy`);
  if (!haveBaselines) parts.push('no baselines to forecast breakage');
  else parts.push(`${formatCount(summary.jobsBreaking, 'job')} would break`);
  if (summary.jobsBreakingLater > 0) parts.push(`${formatCount(summary.jobsBreakingLater, 'job')} when exceptions expire (first after ${firstExpiry ?? '?'})`);
  return parts.join(', ');
}
