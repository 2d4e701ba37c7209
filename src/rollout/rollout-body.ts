/**
 * The policy-based pull request's title, commit message and body (docs/architecture.md#reconciliation): each job with its
 * mode, endpoints and evidence (runs observed, last seen), each skipped job with its reason,
 * each file left unchanged with why. The body carries a hidden marker with the state the PR was
 * built from, so a re-run can tell "nothing new" from GitHub alone, with the fewest requests.
 * Bodies stay under GitHub's 65,536-character limit by summarizing (never by cutting a table).
 * Pure.
 */
import { baselinePath } from '../baselines/index.js';
import { cell, code, formatNumber, table } from '../review/escape.js';
import type { FilePlan, JobReport, RepositoryPlan, RolloutMode } from './rollout-plan.js';

export const ROLLOUT_BRANCH = 'egressctl/harden-runner';
export const PULL_REQUEST_TITLE = 'Harden-Runner: restrict egress of GitHub Actions jobs';
/** GitHub refuses longer PR bodies; we stay a little below. */
export const MAX_BODY_LENGTH = 65_000;

const MARKER_PREFIX = '<!-- egressctl:rollout ';
const MARKER_SUFFIX = ' -->';

/** What the PR was built from (all hashes from rollout-plan.ts). */
export interface RolloutMarker {
  /** Commit of the default branch the PR's commit sits on. */
  base: string;
  /** workflowsFingerprint of the default branch's workflow files at `base`. */
  workflows: string;
  /** planFingerprint: mode, pin, baselines' stable endpoints. */
  plan: string;
  /** outputsFingerprint: the proposed file contents. */
  outputs: string;
  /** Sync: desiredDigest of the repository (sync-plan.ts); a closed PR stays closed until it changes. */
  desired?: string;
}

export function renderMarker(marker: RolloutMarker): string {
  return `${MARKER_PREFIX}${JSON.stringify({ v: 1, ...marker })}${MARKER_SUFFIX}`;
}

export function parseMarker(body: string | null | undefined): RolloutMarker | undefined {
  if (!body) return undefined;
  const start = body.indexOf(MARKER_PREFIX);
  if (start === -1) return undefined;
  const end = body.indexOf(MARKER_SUFFIX, start + MARKER_PREFIX.length);
  if (end === -1) return undefined;
  try {
    const value = JSON.parse(body.slice(start + MARKER_PREFIX.length, end)) as Record<string, unknown>;
    const fields = ['base', 'workflows', 'plan', 'outputs'] as const;
    if (value['v'] !== 1 || !fields.every((field) => typeof value[field] === 'string')) return undefined;
    const marker: RolloutMarker = { base: String(value['base']), workflows: String(value['workflows']), plan: String(value['plan']), outputs: String(value['outputs']) };
    if (typeof value['desired'] === 'string') marker.desired = value['desired'];
    return marker;
  } catch {
    // A person edited the marker: treat the PR as not built by this version; it gets rebuilt.
    return undefined;
  }
}

interface Counts {
  block: number;
  audit: number;
  server: number;
  skipped: number;
}

function countJobs(files: readonly FilePlan[]): Counts {
  const counts: Counts = { block: 0, audit: 0, server: 0, skipped: 0 };
  for (const file of files) {
    for (const job of file.jobs) {
      if (job.action === 'skipped') counts.skipped++;
      else if (job.mode === 'block') counts.block++;
      else if (job.mode === 'audit') counts.audit++;
      else counts.server++;
    }
  }
  return counts;
}

function plural(count: number, word: string): string {
  return `${formatNumber(count)} ${word}${count === 1 ? '' : 's'}`;
}

function evidenceText(job: JobReport): string {
  const evidence = job.evidence;
  if (!evidence) return 'no baseline yet';
  const parts = [`${plural(evidence.runs, 'run')} observed`];
  // Baselines are evidence, never the source (docs/reconciliation.md): say what the policy would block.
  if (job.blocked && job.blocked.length > 0) parts.push(`seen but not allowed by the policy: ${job.blocked.slice(0, 20).map((endpoint) => code(endpoint)).join(', ')}${job.blocked.length > 20 ? ` and ${formatNumber(job.blocked.length - 20)} more` : ''}`);
  if (evidence.lastSeen) parts.push(`last seen ${evidence.lastSeen}`);
  parts.push(evidence.stable ? `stable (${evidence.runsSinceGrowth} runs without a new endpoint)` : `not stable yet (${evidence.runsSinceGrowth} of ${evidence.stableAfter} runs without a new endpoint)`);
  return parts.join(', ');
}

type Detail = 'full' | 'compact' | 'minimal';

function modeText(job: JobReport): string {
  const policy = job.policy === undefined ? '' : job.policy === null ? ' (no policy attached)' : ` (policy ${code(job.policy)})`;
  if (job.mode === 'block') return `block${policy}`;
  if (job.mode === 'audit') return `audit${policy}`;
  return 'from policy server';
}

function endpointsCell(job: JobReport, detail: Detail): string {
  if (job.mode === 'policy-server') return 'from the policy server';
  if (job.mode !== 'block') return 'all (audit: collecting a baseline)';
  if (job.endpoints.length === 0) return 'none beyond GitHub\'s own';
  if (detail === 'full') return job.endpoints.map((endpoint) => code(endpoint)).join('<br>');
  return plural(job.endpoints.length, 'endpoint');
}

function fileSection(file: FilePlan, detail: Detail): string {
  const lines = [`### ${code(file.path)}`, ''];
  if (file.status === 'invalid' || file.status === 'rejected') {
    lines.push(
      file.status === 'invalid' ? 'Left unchanged: the file does not parse.' : 'Left unchanged: the rewrite would add errors that GitHub\'s workflow parser reports.',
      '',
      ...file.problems.slice(0, 10).map((problem) => `- ${cell(problem, 300)}`),
      ...(file.problems.length > 10 ? [`- … and ${formatNumber(file.problems.length - 10)} more`] : []),
    );
    return lines.join('\n');
  }
  const hardened = file.jobs.filter((job) => job.action !== 'skipped');
  const skipped = file.jobs.filter((job) => job.action === 'skipped');
  if (hardened.length > 0) {
    const rows = hardened.map((job) => {
      // Evidence text is ours (numbers and ISO times): no escaping needed.
      const row = [code(job.job), modeText(job), endpointsCell(job, detail), evidenceText(job)];
      if (detail === 'full') row.push(job.action === 'unchanged' ? 'already in place' : job.action);
      return row;
    });
    lines.push(table(detail === 'full' ? ['Job', 'Mode', 'Allowed endpoints', 'Evidence', 'Change'] : ['Job', 'Mode', 'Allowed endpoints', 'Evidence'], rows));
    const notes = detail === 'full' ? hardened.filter((job) => job.reason) : [];
    if (notes.length > 0) lines.push('', ...notes.map((job) => `- ${code(job.job)}: ${cell(job.reason ?? '', 400)}`));
  }
  if (skipped.length > 0) {
    lines.push('', '**Skipped**', '', ...skipped.map((job) => `- ${code(job.job)}: ${cell(job.reason ?? 'skipped', detail === 'full' ? 400 : 120)}`));
  }
  return lines.join('\n');
}

function minimalSection(file: FilePlan): string {
  const counts = countJobs([file]);
  const status = file.status === 'changed' ? 'changed' : file.status === 'unchanged' ? 'unchanged' : file.status === 'invalid' ? 'left unchanged (does not parse)' : 'left unchanged (GitHub parser errors)';
  return `| ${code(file.path)} | ${status} | ${counts.block} | ${counts.audit} | ${counts.server} | ${counts.skipped} |`;
}

export interface BodyInput {
  plan: RepositoryPlan;
  marker: RolloutMarker;
  mode: RolloutMode;
  /** `owner/repo` of the policy repository, shown as where baselines live. */
  policyRepository?: string;
  /** Sync: jobs follow the store's policies (the text says so instead of "from baselines"). */
  fromStore?: boolean;
  /** egressctl.yml `github-firewall`: the firewall file's path, what changes and what it cannot express (docs/github-firewall.md). */
  firewall?: { file: string; reasons: string[] };
}

function header(input: BodyInput): string[] {
  const counts = countJobs(input.plan.files);
  const baselineFile = baselinePath(input.plan.repository);
  const where = input.policyRepository ? `${code(baselineFile)} in ${code(input.policyRepository)}` : code(baselineFile);
  const summary =
    input.mode === 'action'
      ? `${plural(counts.server, 'job')} get the egress policy from the policy server; ${plural(counts.skipped, 'job')} skipped.`
      : `${plural(counts.block, 'job')} in block mode (stable baseline), ${plural(counts.audit, 'job')} in audit mode (collecting a baseline first), ${plural(counts.skipped, 'job')} skipped.`;
  if (input.fromStore) {
    const blocked = input.plan.files.flatMap((file) => file.jobs).filter((job) => (job.blocked?.length ?? 0) > 0).length;
    return [
      renderMarker(input.marker),
      '## Restrict egress with Harden-Runner',
      '',
      `This pull request brings each job's Harden-Runner step in line with the egress policy the policy store${input.policyRepository ? ` (${code(input.policyRepository)})` : ''} attaches to its workflow (workflow, then repository, then organization). Managed steps carry a marker comment naming their policy.`,
      '',
      `${plural(counts.block, 'job')} in block mode, ${plural(counts.audit, 'job')} in audit mode, ${plural(counts.skipped, 'job')} skipped.`,
      ...(blocked > 0 ? ['', `**${plural(blocked, 'job')} ${blocked === 1 ? 'was' : 'were'} seen using endpoints their policy would block** (see Evidence): this pull request is a draft until someone checks them; change the policy through a pull request in the policy repository if they are needed.`] : []),
      '',
      '> Opened by egressctl sync. The branch is rebuilt when the store or the workflows change; edits pushed to it are overwritten. Closing this pull request without merging stops the updates until the desired state changes again.',
    ];
  }
  return [
    renderMarker(input.marker),
    '## Restrict egress with Harden-Runner',
    '',
    input.mode === 'action'
      ? 'This pull request puts the egressctl action first in each eligible job: it fetches the job\'s egress policy from the policy server and runs Harden-Runner with it.'
      : `This pull request puts Harden-Runner first in each eligible job. Jobs whose observed endpoints (baselines: ${where}) have been stable get \`egress-policy: block\` with exactly those endpoints; the others run in audit mode so that their baseline gets collected.`,
    '',
    summary,
    '',
    '> Opened by egressctl. The branch is rebuilt when baselines or workflows change; edits pushed to it are overwritten. Closing this pull request without merging stops the updates (`egressctl rollout --force` opens a new one).',
  ];
}

/** The firewall target's section: the file is not a workflow, so it gets lines, not a job table. */
function firewallSection(firewall: NonNullable<BodyInput['firewall']>): string[] {
  if (firewall.reasons.length === 0) return [];
  return [
    `### GitHub's egress firewall: ${code(firewall.file)}`,
    '',
    "The same store drives GitHub's native egress firewall, which runs outside the runner VM (docs: github-firewall.md in egressctl). What changes, and what the file cannot express:",
    '',
    ...firewall.reasons.map((reason) => `- ${reason}`),
    '',
  ];
}

function render(input: BodyInput, detail: Detail): string {
  const files = input.firewall ? input.plan.files.filter((file) => file.path !== input.firewall?.file) : input.plan.files;
  const parts = [...header(input), '', ...(input.firewall ? firewallSection(input.firewall) : [])];
  if (detail === 'minimal') {
    parts.push('| File | Status | Block | Audit | Policy server | Skipped |', '|---|---|---|---|---|---|', ...files.map(minimalSection), '', `Per-job details: ${code(baselinePath(input.plan.repository))}.`);
  } else {
    parts.push(...files.map((file) => `${fileSection(file, detail)}\n`));
  }
  return `${parts.join('\n').trimEnd()}\n`;
}

/** The PR body: full detail when it fits, endpoint counts when not, one row per file as a last resort. */
export function renderPullRequestBody(input: BodyInput): string {
  for (const detail of ['full', 'compact'] as const) {
    const body = render(input, detail);
    if (body.length <= MAX_BODY_LENGTH) return body;
  }
  const minimal = render(input, 'minimal');
  if (minimal.length <= MAX_BODY_LENGTH) return minimal;
  // Thousands of workflow files: keep the marker and the summary only.
  return `${[...header(input), '', `${plural(files(input), 'workflow file')}: see the diff.`].join('\n')}\n`;
}

function files(input: BodyInput): number {
  return input.plan.files.length;
}

/** `fromStore`: sync, whose modes come from the policies, not from baselines (issue 23). */
export function commitMessage(plan: RepositoryPlan, mode: RolloutMode, options: { fromStore?: boolean } = {}): string {
  const changed = plan.files.filter((file) => file.status === 'changed');
  const counts = countJobs(changed);
  const subject = mode === 'action' ? 'Get egress policies from the policy server in GitHub Actions jobs' : 'Restrict egress of GitHub Actions jobs with Harden-Runner';
  const detail =
    mode === 'action'
      ? `${plural(counts.server, 'job')} use the egressctl action.`
      : options.fromStore
        ? `${plural(counts.block, 'job')} in block mode, ${plural(counts.audit, 'job')} in audit mode, as the policy store says.`
        : `${plural(counts.block, 'job')} in block mode from stable baselines, ${plural(counts.audit, 'job')} in audit mode.`;
  return `${subject}\n\n${detail}\n\n${changed.map((file) => `- ${file.path}`).join('\n')}\n`;
}
