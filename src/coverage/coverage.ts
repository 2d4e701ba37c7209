/**
 * Coverage of workflow files (docs/architecture.md#coverage): every job's facts, every
 * enforcement target's answer, combined into one row per job, and totals per organization.
 * Pure: workflow text and the store in, rows out; the CLI, the sync and the console do the I/O.
 */
import { AUDIT_DEFAULT_VALUE, variableValue } from '../policy/delivery.js';
import type { BaselineIndex } from '../baselines/recommend.js';
import type { CallGraph } from '../policy/callers.js';
import type { ClusterMapping, Settings } from '../policy/model.js';
import { workflowCalls } from '../rollout/workflow-calls.js';
import { desiredWorkflowState, type StoreState } from '../rollout/desired-state.js';
import { storeStateOf } from '../rollout/sync-plan.js';
import type { PolicyRepository } from '../store/repository.js';
import { githubFirewallTarget } from './github-firewall-target.js';
import { hardenRunnerTarget, modeRank } from './harden-runner-target.js';
import type { CoverageContext, CoverageMode, CoverageTotals, EnforcementTarget, FileProblem, JobCoverage, RepositoryCoverage, RepositoryVariables, TargetAnswer } from './model.js';
import { storeVariables } from './variables.js';
import { workflowFacts } from './workflow-facts.js';

/** The enforcement targets coverage asks, in report order: Harden-Runner, then GitHub's egress firewall. */
export const ENFORCEMENT_TARGETS: readonly EnforcementTarget[] = [hardenRunnerTarget, githubFirewallTarget];

/** Repository files any target reads: the edges fetch exactly these besides the workflow files. */
export function targetFiles(targets: readonly EnforcementTarget[] = ENFORCEMENT_TARGETS): string[] {
  return [...new Set(targets.flatMap((target) => target.files))].sort();
}

/** What coverage needs from the store besides its desired state. */
export interface CoverageStore {
  state: StoreState;
  /** egressctl.yml `hook-runners`. */
  hookRunners: readonly string[];
  /** egressctl.yml `clusters`: ARC clusters, whose runners run the hook. */
  clusters?: readonly ClusterMapping[];
  /** egressctl.yml `github-firewall.larger-runners`: larger runners on GitHub's firewall image. */
  firewallLargerRunners?: readonly string[];
  /** The store's baselines: the firewall file's wildcards become the hosts they saw (the tamper check). */
  baselines?: BaselineIndex;
}

/**
 * What coverage needs from a loaded policy repository, as of `at` (exceptions that expired by then
 * do not count). `state`: the store already evaluated at `at` (a sync evaluates it once).
 */
export function coverageStoreOf(repository: Pick<PolicyRepository, 'policies' | 'attachments'> & { settings: Settings; baselines?: BaselineIndex }, at: Date | number, state?: StoreState): CoverageStore {
  return {
    state: state ?? storeStateOf(repository, at),
    hookRunners: repository.settings.hookRunners,
    clusters: repository.settings.clusters,
    ...(repository.settings.githubFirewall.largerRunners ? { firewallLargerRunners: repository.settings.githubFirewall.largerRunners } : {}),
    ...(repository.baselines ? { baselines: repository.baselines } : {}),
  };
}

/**
 * `callers`: the repository's call graph, so that a reusable workflow's jobs follow their callers'
 * policy as sync does. `variables`: the repository's Actions variables as they exist (read from
 * GitHub, or as a sync left them); absent: as the store writes them.
 */
export function coverageContext(
  store: CoverageStore,
  repository: string,
  file: string,
  files: Readonly<Record<string, string>> = {},
  callers?: CallGraph,
  variables: RepositoryVariables = storeVariables(store.state, repository),
): CoverageContext {
  const desired = desiredWorkflowState(store.state, repository, file, callers);
  const policy = desired.policy === null ? undefined : store.state.policies[desired.policy];
  return {
    repository,
    desired,
    variables: variables.values,
    unowned: variables.unowned,
    ...(variables.unknown ? { variablesUnknown: variables.unknown } : {}),
    hookRunners: store.hookRunners,
    clusters: store.clusters ?? [],
    ...(store.firewallLargerRunners ? { firewallLargerRunners: store.firewallLargerRunners } : {}),
    hookValue: policy ? variableValue(policy) : AUDIT_DEFAULT_VALUE,
    files,
  };
}

function enforcerName(answer: TargetAnswer): string {
  return answer.via ? `${answer.target} (${answer.via})` : answer.target;
}

/** One row from every target's answer: the strongest target decides the mode; reasons say why not block. */
export function combineAnswers(base: Pick<JobCoverage, 'repository' | 'file' | 'job' | 'line' | 'policy'>, answers: readonly TargetAnswer[]): JobCoverage {
  const enforcing = answers.filter((answer) => answer.mode !== null);
  const strongest = enforcing.reduce<TargetAnswer | undefined>((best, answer) => (best === undefined || modeRank(answer.mode) > modeRank(best.mode) ? answer : best), undefined);
  const mode: CoverageMode = strongest?.mode ?? 'none';
  const reasons = mode === 'block' ? [] : answers.flatMap((answer) => answer.reasons);
  const caveats = answers.flatMap((answer) => answer.caveats);
  const text = [...new Set([...reasons, ...caveats])].join('; ');
  // A target's failure counts where its answer decides the job's mode: a stronger target enforces more than it lets through.
  const failures = answers.filter((answer) => answer.failure !== undefined && modeRank(answer.mode) >= modeRank(strongest?.mode ?? null)).map((answer) => answer.failure as string);
  return { ...base, enforcedBy: enforcing.map(enforcerName), mode, reason: text === '' ? null : text, ...(failures.length > 0 ? { failure: failures.join('; ') } : {}), targets: [...answers] };
}

export interface WorkflowCoverage {
  jobs: JobCoverage[];
  problems: FileProblem[];
}

/** Coverage of one workflow file of a repository. */
export function coverWorkflow(
  text: string,
  file: string,
  repository: string,
  store: CoverageStore,
  options: { files?: Readonly<Record<string, string>>; targets?: readonly EnforcementTarget[]; callers?: CallGraph; variables?: RepositoryVariables } = {},
): WorkflowCoverage {
  const facts = workflowFacts(text, file);
  if (facts.error !== undefined) return { jobs: [], problems: [{ repository, file, message: `${file} ${facts.error}` }] };
  const context = coverageContext(store, repository, file, options.files, options.callers, options.variables);
  const targets = options.targets ?? ENFORCEMENT_TARGETS;
  const jobs = facts.jobs.map((job) =>
    combineAnswers(
      { repository, file, job: job.job, line: job.line, policy: context.desired.policy },
      targets.map((target) => target.answer(job, context)),
    ),
  );
  return { jobs, problems: [] };
}

export function coverageTotals(jobs: readonly Pick<JobCoverage, 'mode'>[]): CoverageTotals {
  const totals: CoverageTotals = { jobs: jobs.length, block: 0, audit: 0, unprotected: 0 };
  for (const job of jobs) {
    if (job.mode === 'block') totals.block++;
    else if (job.mode === 'audit') totals.audit++;
    else totals.unprotected++;
  }
  return totals;
}

/** Totals per organization (the part of `owner/repo` before the slash, lower-cased). */
export function totalsByOrganization(jobs: readonly Pick<JobCoverage, 'mode' | 'repository'>[]): Record<string, CoverageTotals> {
  const groups = new Map<string, Pick<JobCoverage, 'mode'>[]>();
  for (const job of jobs) {
    const organization = job.repository.slice(0, job.repository.indexOf('/')).toLowerCase();
    groups.set(organization, [...(groups.get(organization) ?? []), job]);
  }
  return Object.fromEntries([...groups].sort(([a], [b]) => (a < b ? -1 : 1)).map(([organization, group]) => [organization, coverageTotals(group)]));
}

/** Widths of the three bar segments (block, audit, unprotected) in `width` cells; every non-zero count gets at least one. */
export function barSegments(totals: CoverageTotals, width: number): [number, number, number] {
  if (totals.jobs === 0) return [0, 0, 0];
  const counts = [totals.block, totals.audit, totals.unprotected];
  const cells = counts.map((count) => (count === 0 ? 0 : Math.max(1, Math.round((count / totals.jobs) * width))));
  // Rounding may overshoot or undershoot: adjust the largest segment.
  const largest = cells.indexOf(Math.max(...cells));
  cells[largest] = (cells[largest] ?? 0) + width - cells.reduce((sum, cell) => sum + cell, 0);
  return [cells[0] ?? 0, cells[1] ?? 0, cells[2] ?? 0];
}

/** The terminal bar: `#` block, `~` audit, `.` unprotected. */
export function textBar(totals: CoverageTotals, width = 40): string {
  const [block, audit, unprotected] = barSegments(totals, width);
  return `[${'#'.repeat(block)}${'~'.repeat(audit)}${'.'.repeat(unprotected)}]`;
}

function percent(count: number, total: number): string {
  return total === 0 ? '0%' : `${Math.round((count / total) * 100)}%`;
}

export function totalsLine(organization: string, totals: CoverageTotals): string {
  return (
    `${organization}: ${textBar(totals)} ${totals.jobs} job${totals.jobs === 1 ? '' : 's'}: ` +
    `${totals.block} block (${percent(totals.block, totals.jobs)}), ${totals.audit} audit (${percent(totals.audit, totals.jobs)}), ` +
    `${totals.unprotected} unprotected (${percent(totals.unprotected, totals.jobs)})`
  );
}

/** Jobs that get less than the store through a variable no attachment owns (`JobCoverage.failure`). */
export function coverageFailures(jobs: readonly JobCoverage[]): { repository: string; file: string; job: string; line: number; failure: string }[] {
  return jobs.flatMap((job) => (job.failure !== undefined ? [{ repository: job.repository, file: job.file, job: job.job, line: job.line, failure: job.failure }] : []));
}

/** The text report: one line per job (a failure first on its line), then the totals with their bar, then the count of failures. */
export function renderCoverage(jobs: readonly JobCoverage[], problems: readonly FileProblem[]): string {
  const lines: string[] = [];
  for (const job of jobs) {
    const by = job.enforcedBy.length > 0 ? job.enforcedBy.join(' + ') : 'nothing';
    const failure = job.failure !== undefined ? `FAILS OPEN: ${job.failure}; ` : '';
    lines.push(`${job.repository} ${job.file}:${job.line} ${job.job}: ${failure}${job.mode === 'none' ? 'unprotected' : job.mode} (${by})${job.reason ? `: ${job.reason}` : ''}`);
  }
  for (const problem of problems) lines.push(`${problem.repository} ${problem.message}`);
  for (const [organization, totals] of Object.entries(totalsByOrganization(jobs))) lines.push(totalsLine(organization, totals));
  const failing = coverageFailures(jobs).length;
  if (failing > 0) lines.push(`FAILS OPEN: ${failing} job${failing === 1 ? ' gets' : 's get'} less than the store says through a variable no attachment owns`);
  return lines.length > 0 ? `${lines.join('\n')}\n` : 'no jobs\n';
}

/** Coverage of every workflow file of a repository. */
export function coverRepository(
  repository: string,
  workflows: readonly { path: string; text: string }[],
  store: CoverageStore,
  options: { at: string; files?: Readonly<Record<string, string>>; callers?: CallGraph; variables?: RepositoryVariables },
): RepositoryCoverage {
  const jobs: JobCoverage[] = [];
  const problems: FileProblem[] = [];
  // A called workflow follows its callers in the same repository, as sync plans it.
  const callers = options.callers ?? workflowCalls(repository, workflows);
  const variables = options.variables ?? storeVariables(store.state, repository);
  for (const workflow of workflows) {
    const result = coverWorkflow(workflow.text, workflow.path, repository, store, { ...(options.files ? { files: options.files } : {}), callers, variables });
    jobs.push(...result.jobs);
    problems.push(...result.problems);
  }
  return { at: options.at, jobs, problems };
}
