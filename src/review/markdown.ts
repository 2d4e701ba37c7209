/**
 * The review as a GitHub comment, plan-style: one summary line, then sections, long ones in
 * `<details>`. It must fit GitHub's 65,536-character limit: the renderer tries detail levels
 * from rich to terse and keeps the first that fits, so tables are always whole and the text says
 * what it left out and which command shows everything.
 */
import type { ScopeType } from '../policy/model.js';
import { RISK_TITLES, type JobBreakage, type JobExpiryBreakage, type PolicyChange, type Review, type ScopeChange, type WhyKind } from './model.js';
import { cell, code, escapeHtml, escapeMarkdown, formatNumber, htmlCode, table, truncate } from './escape.js';
import { ENDPOINT_LABELS, keyChangeText, type KeyChange } from '../policy/change.js';
import { WORK_TREE_LABEL } from './model.js';
import { expiredEntryText, listedKeyChanges, untilText } from './policies.js';
import type { FirewallFileChange } from './model.js';

export const GITHUB_COMMENT_LIMIT = 65_536;

export interface MarkdownOptions {
  /** Upper bound on the output's length (UTF-16 code units, which never undercount characters). */
  maxLength?: number;
  /** Shows everything the comment leaves out. Default `egressctl diff <base> <head> --format json`. */
  command?: string;
  /** Heading above the summary line; none by default (the summary line comes first). */
  title?: string;
}

/** How much detail one rendering attempt shows. */
interface Limits {
  policyRows: number;
  policyDiffs: number;
  diffLines: number;
  attachmentRows: number;
  groupRows: number;
  groupDetails: number;
  scopeRows: number;
  orgsPerGroup: number;
  breakageRows: number;
  endpointsPerCell: number;
  riskExamples: number;
}

/** The richest rendering; smaller ones scale every limit down towards FLOOR. */
const FULL: Limits = { policyRows: 300, policyDiffs: 100, diffLines: 200, attachmentRows: 500, groupRows: 100, groupDetails: 50, scopeRows: 100, orgsPerGroup: 10, breakageRows: 300, endpointsPerCell: 10, riskExamples: 5 };
const FLOOR: Limits = { policyRows: 5, policyDiffs: 0, diffLines: 0, attachmentRows: 5, groupRows: 5, groupDetails: 0, scopeRows: 0, orgsPerGroup: 2, breakageRows: 5, endpointsPerCell: 2, riskExamples: 1 };
const MAX_ATTEMPTS = 10;

function scaledLimits(scale: number): Limits {
  const limits = { ...FULL };
  for (const key of Object.keys(FULL) as (keyof Limits)[]) limits[key] = Math.max(FLOOR[key], Math.floor(FULL[key] * scale));
  return limits;
}

const n = formatNumber;
const plural = (count: number, singular: string, many = `${singular}s`) => `${n(count)} ${count === 1 ? singular : many}`;

/** What one rendering left out, for the closing note. */
class Omissions {
  private readonly counts = new Map<string, { singular: string; count: number }>();
  add(count: number, singular: string, many = `${singular}s`): void {
    if (count <= 0) return;
    const entry = this.counts.get(many) ?? { singular, count: 0 };
    entry.count += count;
    this.counts.set(many, entry);
  }
  get empty(): boolean {
    return this.counts.size === 0;
  }
  text(): string {
    return [...this.counts].map(([many, entry]) => plural(entry.count, entry.singular, many)).join(', ');
  }
}

/** The command as a code span, or as escaped text when it holds a backtick. */
function commandText(command: string): string {
  return command.includes('`') ? escapeMarkdown(command) : `\`${command}\``;
}

export function defaultCommand(review: Pick<Review, 'base' | 'head'>): string {
  const head = review.head.label === WORK_TREE_LABEL ? '' : ` ${review.head.label}`;
  return `egressctl diff ${review.base.label}${head} --format json`;
}

export function renderMarkdown(review: Review, options: MarkdownOptions = {}): string {
  const maxLength = options.maxLength ?? GITHUB_COMMENT_LIMIT;
  const command = options.command ?? defaultCommand(review);
  // Scale every limit down until the text fits: first in proportion to the overshoot (fixed parts
  // such as headings do not shrink, so this undershoots), then bisect back up towards the limit.
  let fits: string | undefined;
  let low = 0;
  let high = 1;
  let scale = 1;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const text = renderAt(review, scaledLimits(scale), command, options.title);
    if (text.length <= maxLength) {
      fits = text;
      low = scale;
      if (scale === 1 || text.length >= maxLength * 0.85 || high / Math.max(low, 1e-9) < 1.15) break;
    } else {
      high = scale;
      if (scale === 0) break;
    }
    scale = fits === undefined ? scale * (maxLength / text.length) * 0.9 : (low + high) / 2;
    if (fits === undefined && scale < 0.02) scale = 0;
  }
  if (fits !== undefined) return fits;
  return minimal(review, command, maxLength, options.title);
}

/** Last resort when even the tersest level is too long for the limit given: counts only. */
function minimal(review: Review, command: string, maxLength: number, title: string | undefined): string {
  const lines = [
    ...(title ? [`### ${escapeMarkdown(title)}`, ''] : []),
    `**${escapeMarkdown(review.summary.text)}**`,
    '',
    `Details left out to stay under ${n(maxLength)} characters: ${commandText(command)} shows all of it.`,
    '',
  ];
  const text = lines.join('\n');
  return text.length <= maxLength ? text : truncate(text, maxLength);
}

function renderAt(review: Review, limits: Limits, command: string, title: string | undefined): string {
  const omitted = new Omissions();
  const parts: string[] = [];
  if (title) parts.push(`### ${escapeMarkdown(title)}`);
  parts.push(`**${escapeMarkdown(review.summary.text)}**`);
  parts.push(`Comparing ${code(review.base.label)} → ${code(review.head.label)}.`);
  const risks = renderRisks(review, limits);
  if (risks) parts.push(risks);
  if (review.policies.length > 0) parts.push(renderPolicies(review.policies, limits, omitted, review.at.slice(0, 10)));
  if (review.attachments.length > 0) parts.push(renderAttachments(review, limits, omitted));
  parts.push(renderScopes(review, limits, omitted));
  parts.push(renderBreakage(review, limits, omitted));
  if (review.breakageLater.length > 0) parts.push(renderBreakageLater(review, limits, omitted));
  if (review.firewall && review.firewall.length > 0) parts.push(renderFirewall(review.firewall, limits, omitted));
  if (!omitted.empty) {
    parts.push(`---\n**Left out** to fit GitHub's comment limit: ${omitted.text()}. ${commandText(command)} shows all of it.`);
  }
  return `${parts.join('\n\n')}\n`;
}

/** The firewall file's change per repository (docs/github-firewall.md, "Review"), as many rows as the limits allow. */
function renderFirewall(changes: readonly FirewallFileChange[], limits: Limits, omitted: Omissions): string {
  const shown = changes.slice(0, limits.attachmentRows);
  omitted.add(changes.length - shown.length, 'firewall file row');
  const rows = shown.map((change) => [code(change.repository, 80), cell(change.changes.join('; ')), change.warnings.length > 0 ? cell(change.warnings.slice(0, 3).join('; ')) + (change.warnings.length > 3 ? ` +${n(change.warnings.length - 3)} more` : '') : '—']);
  return `### GitHub firewall files (${n(changes.length)})\n\n${table(['Repository', 'Change to .github/egress-firewall.yaml', 'Cannot be expressed'], rows)}`;
}

function renderRisks(review: Review, limits: Limits): string | undefined {
  if (review.risks.length === 0) return undefined;
  const lines = review.risks.map((risk) => {
    const bits: string[] = [];
    if (risk.policies.length > 0) {
      const shown = risk.policies.slice(0, limits.riskExamples).map((name) => code(name));
      const more = risk.policies.length - shown.length;
      bits.push(`${risk.policies.length === 1 ? 'policy' : 'policies'} ${shown.join(', ')}${more > 0 ? ` and ${n(more)} more` : ''}`);
    }
    if (risk.scopes > 0) {
      const examples = risk.examples.slice(0, limits.riskExamples).map((scope) => `${scope.type} ${code(scope.key, 80)}`);
      bits.push(`${plural(risk.scopes, 'scope')}${examples.length > 0 ? ` (e.g. ${examples.join(', ')})` : ''}`);
    }
    return `- ⚠️ **${RISK_TITLES[risk.kind]}**: ${bits.join('; ')}`;
  });
  return `**Risks**\n\n${lines.join('\n')}`;
}

/** `until`: exceptions among `endpoints`, each shown with its last day. */
function endpointList(endpoints: readonly string[], max: number, until?: Readonly<Record<string, string>>): string {
  if (endpoints.length === 0) return '';
  const shown = endpoints.slice(0, max).map((endpoint) => (until && Object.hasOwn(until, endpoint) ? `${code(endpoint)} ${escapeMarkdown(untilText(until[endpoint] as string))}` : code(endpoint)));
  const more = endpoints.length - shown.length;
  return more > 0 ? `${shown.join(', ')} +${n(more)} more` : shown.join(', ');
}

function countDelta(added: readonly string[], removed: readonly string[]): string {
  if (added.length === 0 && removed.length === 0) return '±0';
  return [added.length > 0 ? `+${n(added.length)}` : '', removed.length > 0 ? `−${n(removed.length)}` : ''].filter(Boolean).join(' ');
}

function modeText(before: string | null, after: string | null): string {
  if (before === after) return before ?? '';
  return `${before ?? '—'} → ${after ?? '—'}`;
}

/** Policies that change only through `extends`, the same way, share a row: 200 children of one base read as one line. */
function policyRows(policies: readonly PolicyChange[]): PolicyChange[][] {
  const direct: PolicyChange[][] = [];
  const inherited = new Map<string, PolicyChange[]>();
  for (const policy of policies) {
    if (!policy.inheritedOnly) {
      direct.push([policy]);
      continue;
    }
    const signature = JSON.stringify([policy.changedAncestors, policy.endpointsAdded, policy.endpointsRemoved, policy.modeBefore, policy.modeAfter, policy.changed, policy.risks]);
    const row = inherited.get(signature);
    if (row) row.push(policy);
    else inherited.set(signature, [policy]);
  }
  return [...direct, ...inherited.values()];
}

function policyNames(row: readonly PolicyChange[], max: number): string {
  const shown = row.slice(0, Math.max(1, max)).map((policy) => code(policy.name));
  const more = row.length - shown.length;
  return more > 0 ? `${shown.join(', ')} and ${n(more)} more` : shown.join(', ');
}

function renderPolicies(policies: readonly PolicyChange[], limits: Limits, omitted: Omissions, day: string): string {
  const rows = policyRows(policies);
  const shown = rows.slice(0, limits.policyRows);
  const hidden = rows.slice(shown.length).reduce((sum, row) => sum + row.length, 0);
  omitted.add(hidden, 'policy', 'policies');
  const tableRows = shown.map((row) => {
    const policy = row[0] as PolicyChange;
    const change = policy.inheritedOnly
      ? `${row.length > 1 ? `${n(row.length)} policies ` : ''}changed through extends ${policy.changedAncestors.map((name) => code(name)).join(', ')}`
      : policy.invalid
        ? `${policy.change}, invalid (see check)`
        : policy.change;
    return [
      policyNames(row, limits.endpointsPerCell),
      change,
      modeText(policy.modeBefore, policy.modeAfter),
      countDelta(policy.endpointsAdded, policy.endpointsRemoved),
      policy.risks.map((kind) => RISK_TITLES[kind]).join(', '),
    ];
  });
  const parts = [`### Policies (${n(policies.length)})`, table(['Policy', 'Change', 'Mode', 'Endpoints', 'Risks'], tableRows)];
  const withDiff = shown.slice(0, limits.policyDiffs);
  const withoutDiff = rows.length - withDiff.length;
  omitted.add(withoutDiff, 'policy diff');
  const open = rows.length <= 3;
  for (const row of withDiff) parts.push(renderPolicyDiff(row, limits, omitted, open, day));
  return parts.join('\n\n');
}

function renderPolicyDiff(row: readonly PolicyChange[], limits: Limits, omitted: Omissions, open: boolean, day: string): string {
  const policy = row[0] as PolicyChange;
  const own = new Set([...policy.ownEndpointsAdded, ...policy.ownEndpointsRemoved]);
  const via = (endpoint: string) => (own.has(endpoint) || policy.change !== 'changed' ? '' : '   (via extends)');
  const until = (endpoint: string) => (policy.until && Object.hasOwn(policy.until, endpoint) ? `   (${untilText(policy.until[endpoint] as string)})` : '');
  const lines = [
    ...policy.endpointsAdded.map((endpoint) => `${ENDPOINT_LABELS.added} ${endpoint}${until(endpoint)}${via(endpoint)}`),
    ...policy.endpointsRemoved.map((endpoint) => `${ENDPOINT_LABELS.removed} ${endpoint}${via(endpoint)}`),
  ];
  const shownLines = lines.slice(0, limits.diffLines);
  omitted.add(lines.length - shownLines.length, 'endpoint diff line');
  const body: string[] = [];
  if (shownLines.length > 0) {
    body.push(['```diff', ...shownLines, ...(lines.length > shownLines.length ? [`# … ${n(lines.length - shownLines.length)} more`] : []), '```'].join('\n'));
  }
  const notes: string[] = [];
  if (policy.inheritedOnly && policy.changedAncestors.length > 0) {
    notes.push(`- changed through \`extends\`: ${policy.changedAncestors.map((name) => code(name)).join(', ')}`);
  }
  for (const change of listedKeyChanges(policy)) notes.push(`- ${changeLine(change)}`);
  for (const entry of policy.expired ?? []) notes.push(`- ${cell(expiredEntryText(entry, day))}`);
  if (policy.wildcardsWidened.length > 0) notes.push(`- ⚠️ wildcard widened: ${endpointList(policy.wildcardsWidened, limits.endpointsPerCell)}`);
  if (notes.length > 0) body.push(notes.join('\n'));
  if (policy.invalid) body.unshift('❌ _This file has errors (the check lists each one at its line): the diff shows what could be parsed._');
  if (body.length === 0) body.push('_No difference in what Harden-Runner is given._');
  const names = row.length > 1 ? `${htmlCode(policy.name)} and ${escapeHtml(plural(row.length - 1, 'more policy', 'more policies'))}` : htmlCode(policy.name);
  const summary = `${names} ${escapeHtml(policy.change)}${policy.invalid ? ', invalid (see check)' : ''}: ${escapeHtml(countDelta(policy.endpointsAdded, policy.endpointsRemoved))} endpoints${
    policy.modeBefore !== policy.modeAfter ? `, ${escapeHtml(modeText(policy.modeBefore, policy.modeAfter))}` : ''
  }`;
  return details(summary, body.join('\n\n'), open);
}

function details(summary: string, body: string, open = false): string {
  return `<details${open ? ' open' : ''}><summary>${summary}</summary>\n\n${body}\n\n</details>`;
}

function renderAttachments(review: Review, limits: Limits, omitted: Omissions): string {
  const shown = review.attachments.slice(0, limits.attachmentRows);
  omitted.add(review.attachments.length - shown.length, 'attachment row');
  const rows = shown.map((change) => [change.type, code(change.key), change.before ? code(change.before) : '—', change.after ? code(change.after) : '—', change.change]);
  const tableText = table(['Scope', 'Key', 'Before', 'After', 'Change'], rows);
  const heading = `### Attachments (${n(review.attachments.length)})`;
  return shown.length > 20 ? `${heading}\n\n${details(`${escapeHtml(plural(review.attachments.length, 'attachment'))} changed`, tableText)}` : `${heading}\n\n${tableText}`;
}

function effectiveText(ref: { policy: string; mode: string } | null): string {
  return ref ? `${code(ref.policy)} (${ref.mode})` : '_no policy_';
}

function organizationsText(byOrganization: readonly { organization: string; count: number }[], max: number): string {
  const shown = byOrganization.slice(0, max).map((entry) => `${code(entry.organization, 60)} ${n(entry.count)}`);
  const more = byOrganization.length - shown.length;
  return more > 0 ? `${shown.join(', ')}, +${n(more)} more` : shown.join(', ');
}

function causeText(kind: WhyKind, causeType: ScopeType | undefined): string {
  const type = causeType ?? 'scope';
  switch (kind) {
    case 'policy-changed':
      return 'the effective policy itself changed';
    case 'moved':
      return `${type} attachment moved to another policy`;
    case 'attached':
      return `new ${type} attachment where no policy applied`;
    case 'detached':
      return `${type} attachment removed, no policy applies`;
    case 'shadowed':
      return `new ${type} attachment shadows a less specific one`;
    case 'unshadowed':
      return `${type} attachment removed, a less specific one applies`;
  }
}

function sortedCounts(counts: Map<string, number>): { organization: string; count: number }[] {
  return [...counts].map(([organization, count]) => ({ organization, count })).sort((a, b) => b.count - a.count || (a.organization < b.organization ? -1 : 1));
}

function renderScopes(review: Review, limits: Limits, omitted: Omissions): string {
  const heading = `### Precedence preview: ${plural(review.scopes.length, 'scope')} ${review.scopes.length === 1 ? 'changes' : 'change'} effective policy`;
  if (review.scopes.length === 0) {
    return `${heading}\n\nNo scope changes its effective policy (${plural(review.summary.scopesConsidered, 'scope')} considered: attachments at both revisions and everything in baselines).`;
  }
  const groups = review.scopeGroups;
  const parts = [heading, `Of ${plural(review.summary.scopesConsidered, 'scope')} considered (attachments at both revisions and everything in baselines).`];

  // By cause: at most six kinds times four scope types, so this table is always whole.
  const causes = new Map<string, { kind: WhyKind; causeType: ScopeType | undefined; scopes: number; transitions: number; organizations: Map<string, number> }>();
  const organizations = new Map<string, number>();
  for (const group of groups) {
    const id = `${group.kind}\u0000${group.causeType ?? ''}`;
    let cause = causes.get(id);
    if (!cause) {
      cause = { kind: group.kind, causeType: group.causeType, scopes: 0, transitions: 0, organizations: new Map() };
      causes.set(id, cause);
    }
    cause.scopes += group.count;
    cause.transitions += 1;
    for (const entry of group.byOrganization) {
      cause.organizations.set(entry.organization, (cause.organizations.get(entry.organization) ?? 0) + entry.count);
      organizations.set(entry.organization, (organizations.get(entry.organization) ?? 0) + entry.count);
    }
  }
  const causeRows = [...causes.values()]
    .sort((a, b) => b.scopes - a.scopes)
    .map((cause) => [cell(causeText(cause.kind, cause.causeType)), n(cause.scopes), n(cause.transitions), organizationsText(sortedCounts(cause.organizations), limits.orgsPerGroup)]);
  parts.push(table(['Why', 'Scopes', 'Transitions', 'Organizations'], causeRows));

  // By organization, with the jobs that would break there.
  const breaking = new Map<string, number>();
  for (const job of review.breakage) {
    const organization = job.repository.split('/')[0] ?? job.repository;
    breaking.set(organization, (breaking.get(organization) ?? 0) + 1);
  }
  const byOrganization = sortedCounts(organizations);
  if (byOrganization.length > 1) {
    const shownOrganizations = byOrganization.slice(0, limits.groupRows);
    omitted.add(byOrganization.length - shownOrganizations.length, 'organization row');
    const organizationTable = table(
      ['Organization', 'Scopes changing', 'Jobs that would break'],
      shownOrganizations.map((entry) => [code(entry.organization, 60), n(entry.count), n(breaking.get(entry.organization) ?? 0)]),
    );
    parts.push(details(`By organization: ${escapeHtml(plural(byOrganization.length, 'organization'))}`, organizationTable, byOrganization.length <= 10));
  }

  const shownGroups = groups.slice(0, limits.groupRows);
  const hiddenGroups = groups.slice(shownGroups.length);
  const hiddenScopes = hiddenGroups.reduce((sum, group) => sum + group.count, 0);
  omitted.add(hiddenGroups.length, `transition (${plural(hiddenScopes, 'scope')})`, `transitions (${plural(hiddenScopes, 'scope')})`);
  parts.push(
    `**Transitions**, before → after, most scopes first${hiddenGroups.length > 0 ? ` (${n(shownGroups.length)} of ${n(groups.length)})` : ''}:`,
    table(
      ['#', 'Change', 'Scopes', 'Endpoints', 'Settings', 'Organizations', 'Risks'],
      shownGroups.map((group, index) => [
        String(index + 1),
        cell(group.title),
        n(group.count),
        countDelta(group.added, group.removed),
        settingsCell([...group.settings, ...(group.endDates ?? [])]),
        organizationsText(group.byOrganization, limits.orgsPerGroup),
        group.risks.map((kind) => RISK_TITLES[kind]).join(', '),
      ]),
    ),
  );

  // Members of each detailed group, in listing order, found in one pass. Hidden groups are counted above.
  const detailGroups = limits.scopeRows > 0 ? shownGroups.slice(0, limits.groupDetails) : [];
  const members = new Map<number, ScopeChange[]>(detailGroups.map((_, index) => [index, []]));
  let leftOutRows = 0;
  for (const scope of review.scopes) {
    if (scope.group >= shownGroups.length) continue;
    const list = members.get(scope.group);
    if (list && list.length < limits.scopeRows) list.push(scope);
    else leftOutRows += 1;
  }
  omitted.add(leftOutRows, 'scope row');
  detailGroups.forEach((group, index) => {
    const rows = (members.get(index) ?? []).map((scope) => [
      `${scope.type} ${code(scope.key)}`,
      effectiveText(scope.before),
      effectiveText(scope.after),
      endpointDeltaCell(scope, limits.endpointsPerCell),
      cell(scope.why.text),
    ]);
    const more = group.count - rows.length;
    const body = [table(['Scope', 'Before', 'After', 'Endpoints', 'Why'], rows)];
    const settings = [...group.settings, ...(group.endDates ?? [])];
    if (settings.length > 0) body.unshift(`Settings, for every scope of this transition:\n\n${settings.map((change) => `- ${changeLine(change)}`).join('\n')}`);
    if (more > 0) body.push(`_…and ${plural(more, 'more scope')} in this group._`);
    parts.push(details(`${index + 1}. ${escapeHtml(group.title)}: ${escapeHtml(plural(group.count, 'scope'))}`, body.join('\n\n')));
  });
  return parts.join('\n\n');
}

/** Weakening changes are marked: they are what the Risks list counts. Words as in the history (docs/architecture.md#policy-changes). */
function changeLine(change: KeyChange): string {
  return `${change.weakens ? '⚠️ ' : ''}${cell(keyChangeText(change))}`;
}

function settingsCell(settings: readonly KeyChange[]): string {
  return settings.length === 0 ? '—' : settings.map(changeLine).join('<br>');
}

function endpointDeltaCell(scope: Pick<ScopeChange, 'added' | 'removed' | 'until'>, max: number): string {
  const bits: string[] = [];
  if (scope.added.length > 0) bits.push(`+ ${endpointList(scope.added, max, scope.until)}`);
  if (scope.removed.length > 0) bits.push(`− ${endpointList(scope.removed, max)}`);
  return bits.join('<br>') || '±0';
}

function renderBreakage(review: Review, limits: Limits, omitted: Omissions): string {
  const summary = review.summary;
  const heading = `### Breakage forecast: ${plural(summary.jobsBreaking, 'job')} would break`;
  if (summary.jobsObserved === 0) return `${heading}\n\n_No baselines (or no jobs in them): nothing to forecast from._`;
  const parts = [heading];
  const already =
    summary.alreadyBlocked.endpoints > 0
      ? ` Already blocked before this change, not counted: ${plural(summary.alreadyBlocked.endpoints, 'endpoint')} in ${plural(summary.alreadyBlocked.jobs, 'job')}.`
      : '';
  if (review.breakage.length === 0) {
    parts.push(`No job seen in baselines (${plural(summary.jobsObserved, 'job')}) uses an endpoint this change would newly block.${already}`);
    return parts.join('\n\n');
  }
  parts.push(
    `${plural(summary.endpointsNewlyBlocked, 'endpoint')} in use would be newly blocked (Harden-Runner's implicit endpoints and the agent's wildcard rule applied; ${plural(summary.jobsObserved, 'job')} in baselines).${already}`,
  );
  const shown = review.breakage.slice(0, limits.breakageRows);
  omitted.add(review.breakage.length - shown.length, 'breakage row');
  const rows = shown.map((job: JobBreakage) => [
    code(job.repository),
    code(job.workflow),
    code(job.job),
    endpointList(job.endpoints, limits.endpointsPerCell),
    `${n(job.runs)} of ${n(job.observedRuns)}`,
    `${effectiveText(job.before)} → ${effectiveText(job.after)}`,
  ]);
  const tableText = table(['Repository', 'Workflow', 'Job', 'Would be blocked', 'Runs', 'Policy'], rows);
  if (review.breakage.length - shown.length > 0) parts.push(`_Showing ${n(shown.length)} of ${plural(review.breakage.length, 'job')}._`);
  parts.push(shown.length > 10 ? details(`${escapeHtml(plural(review.breakage.length, 'job'))} would break`, tableText, true) : tableText);
  return parts.join('\n\n');
}


/** Jobs that break when exceptions expire (docs/architecture.md#expiring-exceptions), soonest first. */
function renderBreakageLater(review: Review, limits: Limits, omitted: Omissions): string {
  const jobs = review.breakageLater;
  const heading = `### Breaking when exceptions expire: ${plural(jobs.length, 'job')}`;
  const intro = `Endpoints in use that this change allows only through exceptions, which the base allowed longer: each is blocked from the UTC midnight after the day shown (forecast as of ${escapeMarkdown(review.at.slice(0, 10))}).`;
  const shown = jobs.slice(0, limits.breakageRows);
  omitted.add(jobs.length - shown.length, 'expiry breakage row');
  const rows = shown.map((job: JobExpiryBreakage) => {
    const listed = job.endpoints.slice(0, limits.endpointsPerCell).map((item) => `${code(item.endpoint)} after ${escapeMarkdown(item.expires)}`);
    const more = job.endpoints.length - listed.length;
    return [code(job.repository), code(job.workflow), code(job.job), `${listed.join(', ')}${more > 0 ? ` +${n(more)} more` : ''}`, `${effectiveText(job.before)} → ${effectiveText(job.after)}`];
  });
  const tableText = table(['Repository', 'Workflow', 'Job', 'Blocked after (last day allowed)', 'Policy'], rows);
  const parts = [heading, intro];
  if (jobs.length - shown.length > 0) parts.push(`_Showing ${n(shown.length)} of ${plural(jobs.length, 'job')}._`);
  parts.push(shown.length > 10 ? details(`${escapeHtml(plural(jobs.length, 'job'))} break when exceptions expire`, tableText, true) : tableText);
  return parts.join('\n\n');
}
