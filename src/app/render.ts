/**
 * What the app writes on GitHub, as pure functions: check-run annotations and outputs, and the
 * pull request comment. Everything stays under GitHub's limits by construction: 50 annotations
 * a request, 65,535 characters for a check summary, 65,536 for a comment; rows are dropped
 * whole (never a table cut in half) and the text says how many were left out.
 */
import type { Bundle } from '../bundle/build.js';
import type { Diagnostic } from '../policy/diagnostics.js';
import type { ExpiringEntry } from '../policy/expiry.js';
import type { TestSummary } from '../policy/policy-tests.js';
import { SCOPE_TYPES, SCOPE_SECTIONS } from '../policy/model.js';
import { cell, code, formatNumber, truncate } from '../review/escape.js';
import { renderMarkdown } from '../review/markdown.js';
import type { Review } from '../review/model.js';
import type { SyncFailure } from '../rollout/sync-report.js';

export const VALIDATE_CHECK_NAME = 'egressctl / validate';
export const PUBLISH_CHECK_NAME = 'egressctl / publish';
/** Hidden marker that identifies the app's review comment on a pull request. */
export const REVIEW_MARKER = '<!-- egressctl:review -->';
/** GitHub's limits. */
export const ANNOTATIONS_PER_REQUEST = 50;
export const CHECK_SUMMARY_LIMIT = 65_535;
export const COMMENT_LIMIT = 65_536;
const CHECK_TITLE_LIMIT = 250;
const ANNOTATION_MESSAGE_LIMIT = 4_000;
const ANNOTATION_TITLE_LIMIT = 255;
/** Diagnostics listed in a check summary (all of them are annotations, up to the cap). */
const SUMMARY_DIAGNOSTIC_ROWS = 50;

export type CheckConclusion = 'success' | 'failure' | 'neutral';

export interface Annotation {
  path: string;
  start_line: number;
  end_line: number;
  annotation_level: 'failure' | 'warning' | 'notice';
  message: string;
  title: string;
}

export interface CheckOutput {
  conclusion: CheckConclusion;
  title: string;
  summary: string;
  annotations: Annotation[];
}

const n = formatNumber;
const plural = (count: number, singular: string, many = `${singular}s`): string => `${n(count)} ${count === 1 ? singular : many}`;
export const shortSha = (sha: string): string => sha.slice(0, 12);

/** Errors first, then warnings, then notices, each in file/line order; at most `max`. */
export function annotationsFor(errors: readonly Diagnostic[], warnings: readonly Diagnostic[], max: number, notices: readonly Diagnostic[] = []): Annotation[] {
  return [...errors, ...warnings, ...notices].slice(0, Math.max(0, max)).map((d) => ({
    path: d.file,
    start_line: Math.max(1, d.line),
    end_line: Math.max(1, d.line),
    annotation_level: d.severity === 'error' ? 'failure' : d.severity === 'notice' ? 'notice' : 'warning',
    message: truncate(`${d.message} (column ${d.column})`, ANNOTATION_MESSAGE_LIMIT),
    title: truncate(d.code, ANNOTATION_TITLE_LIMIT),
  }));
}

/** `items` in consecutive groups of at most `size`. */
export function batches<T>(items: readonly T[], size = ANNOTATIONS_PER_REQUEST): T[][] {
  const groups: T[][] = [];
  for (let start = 0; start < items.length; start += size) groups.push(items.slice(start, start + size));
  return groups;
}

export interface ValidateInput {
  errors: readonly Diagnostic[];
  warnings: readonly Diagnostic[];
  review: Review;
  headSha: string;
  /** The merge base the head was compared with. */
  baseSha: string;
  maxAnnotations: number;
  /** Findings worth knowing that are no problem (exceptions expiring soon): annotated last. */
  notices?: readonly Diagnostic[];
  /** The policy tests' result at the head (failures are among `errors`); undefined without tests. */
  tests?: TestSummary;
}

/** "Policy tests: 4 of 5 cases passed." */
export function testsLine(tests: TestSummary | undefined): string {
  if (tests === undefined) return '';
  if (tests.cases === 0) return 'Policy tests: none could run.';
  return `Policy tests: ${n(tests.passed)} of ${plural(tests.cases, 'case')} passed${tests.failed > 0 ? ` (${n(tests.failed)} failed, annotated at the endpoint that failed)` : ''}.`;
}

/**
 * `egressctl / validate`: errors fail the check; a change with warnings only passes (success,
 * so that a required check reads green) and every warning is an annotation.
 */
export function validateCheckOutput(input: ValidateInput): CheckOutput {
  const { errors, warnings } = input;
  const notices = input.notices ?? [];
  const annotations = annotationsFor(errors, warnings, input.maxAnnotations, notices);
  const counts = [errors.length > 0 ? plural(errors.length, 'error') : '', warnings.length > 0 ? plural(warnings.length, 'warning') : ''].filter(Boolean).join(', ');
  const title =
    errors.length > 0
      ? `Not valid: ${counts}`
      : truncate(`Valid${warnings.length > 0 ? ` (${counts})` : ''}: ${input.review.summary.text}`, CHECK_TITLE_LIMIT);
  const intro = [
    `**${errors.length > 0 ? `The policy repository does not validate: ${counts}.` : warnings.length > 0 ? `Valid, with ${counts}.` : 'Valid.'}**`,
    '',
    `Checked \`${shortSha(input.headSha)}\` against the merge base \`${shortSha(input.baseSha)}\`. ${cell(input.review.summary.text, 1000)}`,
    '',
    errors.length > 0 ? 'The check fails until every error is fixed; the pull request comment shows what the change does.' : 'The pull request comment shows what the change does.',
    ...(input.tests === undefined ? [] : ['', testsLine(input.tests)]),
  ].join('\n');
  const summary = withDiagnostics(intro, errors, [...warnings, ...notices], annotations.length, CHECK_SUMMARY_LIMIT);
  return { conclusion: errors.length > 0 ? 'failure' : 'success', title, summary, annotations };
}

/** `intro` plus a table of the first diagnostics, whole rows only, under `limit`. */
export function withDiagnostics(intro: string, errors: readonly Diagnostic[], warnings: readonly Diagnostic[], annotated: number, limit: number): string {
  const all = [...errors, ...warnings];
  if (all.length === 0) return truncate(intro, limit);
  const header = ['', '', '| | Where | Rule | Message |', '|---|---|---|---|'].join('\n');
  const rows: string[] = [];
  const closing = (shown: number): string => {
    const notes: string[] = [];
    if (shown < all.length) notes.push(`${plural(all.length - shown, 'more finding')} not listed here.`);
    if (annotated < all.length) notes.push(`${plural(annotated, 'finding')} annotated (errors first); run \`egressctl validate\` for all ${n(all.length)}.`);
    else notes.push('Each one is annotated at its line.');
    return `\n\n${notes.join(' ')}`;
  };
  let length = intro.length + header.length;
  for (const d of all.slice(0, SUMMARY_DIAGNOSTIC_ROWS)) {
    const row = `\n| ${d.severity === 'error' ? '❌' : d.severity === 'notice' ? 'ℹ️' : '⚠️'} | ${code(`${d.file}:${d.line}:${d.column}`)} | ${code(d.code, 80)} | ${cell(d.message, 400)} |`;
    // Room for the closing note, whatever it says (it is short).
    if (length + row.length + 400 > limit) break;
    rows.push(row);
    length += row.length;
  }
  if (rows.length === 0) return truncate(`${intro}${closing(0)}`, limit);
  return `${intro}${header}${rows.join('')}${closing(rows.length)}`;
}

export interface CommentInput {
  review: Review;
  headSha: string;
  baseSha: string;
  errors: number;
  warnings: number;
  /** Link to the validate check run. */
  checkUrl?: string;
  maxLength?: number;
  /** Exceptions that expired or expire soon, soonest first (docs/architecture.md#expiring-exceptions). */
  expiries?: readonly ExpiringEntry[];
  tests?: TestSummary;
}

/** Rows of the expiry table a comment shows at most. */
const EXPIRY_ROWS = 25;

/** The comment's section on exceptions that expired or expire soon: whole rows only. */
export function expirySection(expiries: readonly ExpiringEntry[] | undefined): string {
  if (expiries === undefined || expiries.length === 0) return '';
  const rows = expiries.slice(0, EXPIRY_ROWS).map((entry) => {
    const when = entry.daysLeft < 0 ? `**expired** ${entry.expires}` : entry.daysLeft === 0 ? `${entry.expires} (last day)` : `${entry.expires} (${plural(entry.daysLeft, 'day')})`;
    return `| ${code(entry.policy, 80)} | ${code(entry.endpoint, 120)} | ${when} | ${cell(entry.owner ?? '', 80)} | ${cell(entry.reason ?? '', 200)} |`;
  });
  const more = expiries.length > EXPIRY_ROWS ? `\n\n${plural(expiries.length - EXPIRY_ROWS, 'more exception')} not listed; \`egressctl validate\` shows each one.` : '';
  return [
    '',
    '',
    '#### Exceptions that expire',
    '',
    'Entries with `expires` in the store at the head of this change. After its last day (UTC) an entry is dropped from every answer, workflow and variable; the App proposes a pull request that deletes expired entries.',
    '',
    '| Policy | Endpoint | Expires | Owner | Reason |',
    '|---|---|---|---|---|',
    ...rows,
  ].join('\n') + more;
}

/** The pull request comment: marker, heading, validity banner, the review, a footer. */
export function reviewCommentBody(input: CommentInput): string {
  const maxLength = input.maxLength ?? COMMENT_LIMIT;
  const head = shortSha(input.headSha);
  const base = shortSha(input.baseSha);
  const check = input.checkUrl ? `[${VALIDATE_CHECK_NAME}](${input.checkUrl})` : `\`${VALIDATE_CHECK_NAME}\``;
  const banner =
    input.errors > 0
      ? `> [!CAUTION]\n> **This change does not validate: ${plural(input.errors, 'error')}${input.warnings > 0 ? `, ${plural(input.warnings, 'warning')}` : ''}.** The check ${check} shows each one at its line; the preview below reads what could be parsed.`
      : input.warnings > 0
        ? `> [!NOTE]\n> Valid, with ${plural(input.warnings, 'warning')} (annotated in ${check}).`
        : '';
  // A blank line after the banner: without it CommonMark continues the quote (lazy continuation)
  // and the headline renders inside the alert.
  const prefix = [REVIEW_MARKER, '### egressctl review', '', ...(banner ? [banner, '', ''] : [])].join('\n');
  const tests = input.tests === undefined ? '' : `\n\n${testsLine(input.tests)}`;
  const suffix = `${tests}${expirySection(input.expiries)}\n\n<sub>Head \`${head}\` compared with the merge base \`${base}\`. This comment is updated on every push.</sub>\n`;
  // Labels and the "show everything" command use short SHAs, as a person would type them.
  const review: Review = { ...input.review, base: { ...input.review.base, label: base }, head: { ...input.review.head, label: head } };
  const body = renderMarkdown(review, { maxLength: Math.max(0, maxLength - prefix.length - suffix.length), command: `egressctl diff ${base} ${head} --format json` });
  return `${prefix}${body}${suffix}`;
}

export interface PublishedInput {
  bundle: Bundle;
  keyids: readonly string[];
  previous: string | undefined;
  destination: string;
}

export function publishedOutput(input: PublishedInput, status: 'accepted' | 'unchanged'): CheckOutput {
  const { bundle } = input;
  const short = shortSha(bundle.revision);
  const attachmentCounts = SCOPE_TYPES.map((type) => `${n(Object.keys(bundle.attachments[SCOPE_SECTIONS[type]] ?? {}).length)} ${SCOPE_SECTIONS[type]}`).join(', ');
  const policyCount = Object.keys(bundle.policies).length;
  const lines = [
    status === 'accepted' ? `**Published revision \`${bundle.revision}\`** to ${cell(input.destination)}.` : `**Revision \`${bundle.revision}\` is already published** (${cell(input.destination)}).`,
    '',
    '| | |',
    '|---|---|',
    `| Revision | \`${bundle.revision}\` |`,
    `| Committed | ${bundle.committedAt} |`,
    `| Digest | \`${bundle.digest}\` |`,
    `| Policies | ${n(policyCount)} |`,
    `| Attachments | ${attachmentCounts} |`,
    `| Signed by | ${input.keyids.length > 0 ? input.keyids.map((id) => `\`${id}\``).join(', ') : 'nobody: unsigned (servers with a public key configured refuse it; set EGRESSCTL_SIGN_KEY)'} |`,
    `| Replaces | ${input.previous === undefined ? 'nothing (first bundle)' : input.previous === bundle.revision ? '—' : `\`${input.previous}\``} |`,
  ];
  return {
    conclusion: 'success',
    title: status === 'accepted' ? `Published ${short}: ${plural(policyCount, 'policy', 'policies')}` : `Already published: ${short}`,
    summary: lines.join('\n'),
    annotations: [],
  };
}

/** The title prefix of a check completed as superseded: what `isSuperseded` recognizes. */
const SUPERSEDED_TITLE = 'Superseded by ';

/** A check run as GitHub returns it, completed with supersededOutput (by the push handler or the publish-check watch). */
export function isSuperseded(run: { status?: string | null; conclusion?: string | null; output?: { title?: string | null } | null }): boolean {
  return run.status === 'completed' && run.conclusion === 'neutral' && (run.output?.title ?? '').startsWith(SUPERSEDED_TITLE);
}

export function supersededOutput(revision: string, published: string): CheckOutput {
  return {
    conclusion: 'neutral',
    title: `${SUPERSEDED_TITLE}${shortSha(published)}`,
    summary: `Not published: \`${revision}\` is an ancestor of the published revision \`${published}\` (pushes arrived out of order). Servers keep the newer one.`,
    annotations: [],
  };
}

/** A superseded publish whose own sync failed: still a failure, saying why it is not just "Superseded". */
export function supersededSyncFailedOutput(failed: CheckOutput, published: string | undefined): CheckOutput {
  const newer = published === undefined ? 'a newer revision' : `\`${published}\``;
  const note = `Superseded by ${newer}, whose check reports only what its own change reaches: the failures below are shown here so that none is left off every check.`;
  return { ...failed, summary: `${note}\n\n${failed.summary}` };
}

export function notCompiledOutput(revision: string, errors: readonly Diagnostic[], warnings: readonly Diagnostic[], published: string | undefined, maxAnnotations: number): CheckOutput {
  const keeps = published === undefined ? 'Servers have no bundle yet.' : `Servers keep serving the last good revision \`${published}\`.`;
  const intro = `**Not published: \`${revision}\` does not compile (${plural(errors.length, 'error')}).** ${keeps}`;
  return {
    conclusion: 'failure',
    title: `Not published: ${plural(errors.length, 'error')}`,
    summary: withDiagnostics(intro, errors, warnings, Math.min(maxAnnotations, errors.length + warnings.length), CHECK_SUMMARY_LIMIT),
    annotations: annotationsFor(errors, warnings, maxAnnotations),
  };
}

export function refusedOutput(revision: string, message: string, published: string | undefined): CheckOutput {
  const keeps = published === undefined ? '' : ` Servers keep serving \`${published}\`.`;
  return {
    conclusion: 'failure',
    title: 'Not published: refused by the bundle store',
    summary: truncate(`**Not published: \`${revision}\` was refused.**${keeps}\n\n${cell(message, 4000)}`, CHECK_SUMMARY_LIMIT),
    annotations: [],
  };
}

/** When the app itself failed (git, GitHub, a bug): the check must not pass silently. */
export function failedOutput(what: string, message: string): CheckOutput {
  return {
    conclusion: 'failure',
    title: `egressctl could not ${what}`,
    summary: truncate(`**egressctl could not ${what}.** Redeliver the webhook or push again to retry.\n\n${cell(message, 4000)}`, CHECK_SUMMARY_LIMIT),
    annotations: [],
  };
}

/**
 * The publish check when the revision was published but the sync that follows did not finish:
 * a failure (the store is not what the repositories have), naming each repository and variable
 * with its reason, and each job that fails open (docs/architecture.md#coverage); the publish
 * summary follows. They are retried (docs/github-app.md, "Sync state"), except a job that fails
 * open by its workflow file (`SyncFailure.retry` false).
 */
export function syncFailedOutput(published: CheckOutput, revision: string, failures: readonly SyncFailure[]): CheckOutput {
  const shown = failures.slice(0, 50);
  const final = failures.filter((failure) => failure.retry === false).length;
  const retried = final === 0 ? ' Each is retried with backoff, and `/sync` shows where it stands.' : final < failures.length ? ' The others are retried with backoff, and `/sync` shows where they stand.' : '';
  const notRetried = final > 0 ? ` A job that fails open by its workflow file is not retried (no sync changes the file): the scheduled sync and the next publish that reaches its repository look again, and \`/coverage\` shows it meanwhile.` : '';
  const lines = [
    `**The sync after publishing \`${revision}\` failed** for ${plural(failures.length, 'repository, variable or job', 'repositories, variables or jobs')}.${retried}${notRetried}`,
    '',
    '| Where | Why |',
    '|---|---|',
    // A job that fails open takes some 450 characters to say where, why and what ends it (cell's default is 200).
    ...shown.map((failure) => `| ${cell(failure.target)} | ${cell(failure.reason, 600)} |`),
    ...(failures.length > shown.length ? ['', `And ${formatNumber(failures.length - shown.length)} more (see \`/sync\`).`] : []),
    '',
    published.summary,
  ];
  return { conclusion: 'failure', title: `Sync failed for ${plural(failures.length, 'target', 'targets')} (${shortSha(revision)} published)`, summary: lines.join('\n'), annotations: [] };
}
