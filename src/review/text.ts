/**
 * The review for a terminal: the same sections as the comment, grouped, with a row limit per
 * group so thousands of changed scopes read as a summary.
 */
import { ENDPOINT_LABELS, keyChangeText, type KeyChange } from '../policy/change.js';
import { formatNumber } from './escape.js';
import { RISK_TITLES, type PolicyChange, type Review, type ScopeChange } from './model.js';
import { expiredEntryText, listedKeyChanges, untilText } from './policies.js';

export interface TextOptions {
  /** Rows listed per scope group and in the breakage list; 0 lists everything. Default 20. */
  maxRows?: number;
  /** Shows everything left out. */
  command?: string;
}

const n = formatNumber;
const plural = (count: number, singular: string, many = `${singular}s`) => `${n(count)} ${count === 1 ? singular : many}`;

/** User text must not drive the terminal: control characters become spaces. */
function plain(text: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
}

function effective(ref: { policy: string; mode: string } | null): string {
  return ref ? `${plain(ref.policy)} (${ref.mode})` : 'no policy';
}

function delta(added: readonly string[], removed: readonly string[]): string {
  return [added.length > 0 ? `+${n(added.length)}` : '', removed.length > 0 ? `-${n(removed.length)}` : ''].filter(Boolean).join(' ') || '±0';
}

export function renderText(review: Review, options: TextOptions = {}): string {
  const maxRows = options.maxRows ?? 20;
  const limit = maxRows === 0 ? Number.POSITIVE_INFINITY : maxRows;
  let leftOut = 0;
  const out: string[] = [plain(review.summary.text), `base ${plain(review.base.label)} -> head ${plain(review.head.label)}`];

  if (review.risks.length > 0) {
    out.push('', 'Risks:');
    for (const risk of review.risks) {
      const bits: string[] = [];
      if (risk.policies.length > 0) bits.push(`${risk.policies.length === 1 ? 'policy' : 'policies'} ${risk.policies.map(plain).join(', ')}`);
      if (risk.scopes > 0) bits.push(`${plural(risk.scopes, 'scope')} (e.g. ${risk.examples.slice(0, 3).map((scope) => `${scope.type} ${plain(scope.key)}`).join(', ')})`);
      out.push(`  ! ${RISK_TITLES[risk.kind]}: ${bits.join('; ')}`);
    }
  }

  if (review.policies.length > 0) {
    out.push('', `Policies (${n(review.policies.length)}):`);
    for (const policy of review.policies) out.push(...policyLines(policy, review.at.slice(0, 10)));
  }

  if (review.attachments.length > 0) {
    out.push('', `Attachments (${n(review.attachments.length)}):`);
    for (const change of review.attachments) {
      out.push(`  ${change.change.padEnd(8)} ${change.type} ${plain(change.key)}: ${plain(change.before ?? '-')} -> ${plain(change.after ?? '-')}`);
    }
  }

  out.push('', `Precedence preview: ${plural(review.scopes.length, 'scope')} ${review.scopes.length === 1 ? 'changes' : 'change'} effective policy (of ${n(review.summary.scopesConsidered)} considered)`);
  const members = new Map<number, ScopeChange[]>();
  for (const scope of review.scopes) {
    const list = members.get(scope.group) ?? [];
    if (list.length < limit) list.push(scope);
    members.set(scope.group, list);
  }
  review.scopeGroups.forEach((group, index) => {
    const organizations = group.byOrganization.slice(0, 5).map((entry) => `${plain(entry.organization)} ${n(entry.count)}`);
    if (group.byOrganization.length > 5) organizations.push(`+${n(group.byOrganization.length - 5)} more`);
    const risks = group.risks.length > 0 ? ` [${group.risks.map((kind) => RISK_TITLES[kind]).join(', ')}]` : '';
    out.push(`  [${index + 1}] ${plain(group.title)}: ${plural(group.count, 'scope')}, endpoints ${delta(group.added, group.removed)} (${organizations.join(', ')})${risks}`);
    for (const change of group.settings) out.push(`      ${changeLine(change)}`);
    // The transition's endpoints (as of the review's instant), an exception with its last day.
    const endpoints = [
      ...group.added.map((endpoint) => `${ENDPOINT_LABELS.added} ${endpoint}${group.until && Object.hasOwn(group.until, endpoint) ? ` (${untilText(group.until[endpoint] as string)})` : ''}`),
      ...group.removed.map((endpoint) => `${ENDPOINT_LABELS.removed} ${endpoint}`),
    ];
    for (const line of endpoints.slice(0, limit)) out.push(`      ${line}`);
    if (endpoints.length > limit) {
      out.push(`      ... and ${n(endpoints.length - limit)} more endpoints`);
      leftOut += endpoints.length - limit;
    }
    for (const change of group.endDates ?? []) out.push(`      ${changeLine(change)}`);
    const rows = members.get(index) ?? [];
    for (const scope of rows) {
      out.push(`      ${scope.type} ${plain(scope.key)}: ${effective(scope.before)} -> ${effective(scope.after)}: ${plain(scope.why.text)}`);
    }
    if (group.count > rows.length) {
      out.push(`      ... and ${n(group.count - rows.length)} more`);
      leftOut += group.count - rows.length;
    }
  });

  const summary = review.summary;
  out.push('', `Breakage forecast: ${plural(summary.jobsBreaking, 'job')} would break`);
  if (summary.jobsObserved === 0) out.push('  no baselines (or no jobs in them): nothing to forecast from');
  for (const job of review.breakage.slice(0, limit)) {
    const endpoints = job.endpoints.map((endpoint) => `${endpoint} (${n(job.endpointRuns[endpoint] ?? 0)} of ${n(job.observedRuns)} runs)`);
    out.push(`  ${plain(job.repository)} ${plain(job.workflow)}#${plain(job.job)}: ${endpoints.join(', ')}; ${effective(job.before)} -> ${effective(job.after)}`);
  }
  if (review.breakage.length > limit) {
    out.push(`  ... and ${n(review.breakage.length - limit)} more jobs`);
    leftOut += review.breakage.length - limit;
  }
  if (summary.alreadyBlocked.endpoints > 0) {
    out.push(`  already blocked before this change, not counted: ${plural(summary.alreadyBlocked.endpoints, 'endpoint')} in ${plural(summary.alreadyBlocked.jobs, 'job')}`);
  }
  if (review.breakageLater.length > 0) {
    // Exceptions this change leans on: the job breaks after the last day shown (UTC).
    out.push('', `Breaking when exceptions expire (as of ${review.at.slice(0, 10)}): ${plural(review.breakageLater.length, 'job')}`);
    for (const job of review.breakageLater.slice(0, limit)) {
      const endpoints = job.endpoints.map((item) => `${item.endpoint} after ${item.expires} (${n(item.runs)} of ${n(job.observedRuns)} runs)`);
      out.push(`  ${plain(job.repository)} ${plain(job.workflow)}#${plain(job.job)}: ${endpoints.join(', ')}; ${effective(job.before)} -> ${effective(job.after)}`);
    }
    if (review.breakageLater.length > limit) {
      out.push(`  ... and ${n(review.breakageLater.length - limit)} more jobs`);
      leftOut += review.breakageLater.length - limit;
    }
  }
  if (leftOut > 0) out.push('', `${n(leftOut)} rows left out: ${options.command ? `${plain(options.command)} shows` : '--all or --format json show'} all of them.`);
  return `${out.join('\n')}\n`;
}

function policyLines(policy: PolicyChange, day: string): string[] {
  const mode = policy.modeBefore === policy.modeAfter ? (policy.modeAfter ?? '') : `${policy.modeBefore ?? '-'} -> ${policy.modeAfter ?? '-'}`;
  const via = policy.inheritedOnly && policy.changedAncestors.length > 0 ? ` (through extends ${policy.changedAncestors.map(plain).join(', ')})` : '';
  const invalid = policy.invalid ? '  INVALID (see validate)' : '';
  const lines = [`  ${policy.change.padEnd(8)} ${plain(policy.name)}  ${mode}  endpoints ${delta(policy.endpointsAdded, policy.endpointsRemoved)}${via}${invalid}`];
  const own = new Set([...policy.ownEndpointsAdded, ...policy.ownEndpointsRemoved]);
  const mark = (endpoint: string) => (policy.change === 'changed' && !own.has(endpoint) ? '   (via extends)' : '');
  const until = (endpoint: string) => (policy.until && Object.hasOwn(policy.until, endpoint) ? ` (${untilText(policy.until[endpoint] as string)})` : '');
  for (const endpoint of policy.endpointsAdded) lines.push(`      ${ENDPOINT_LABELS.added} ${endpoint}${until(endpoint)}${mark(endpoint)}`);
  for (const endpoint of policy.endpointsRemoved) lines.push(`      ${ENDPOINT_LABELS.removed} ${endpoint}${mark(endpoint)}`);
  for (const change of listedKeyChanges(policy)) lines.push(`      ${changeLine(change)}`);
  for (const entry of policy.expired ?? []) lines.push(`      ${plain(expiredEntryText(entry, day))}`);
  if (policy.wildcardsWidened.length > 0) lines.push(`      ! wildcard widened: ${policy.wildcardsWidened.join(', ')}`);
  return lines;
}

/** Weakenings marked `!`, as in `egressctl history`; words as there (docs/architecture.md#policy-changes). */
function changeLine(change: KeyChange): string {
  return `${change.weakens ? '! ' : ''}${plain(keyChangeText(change))}`;
}
