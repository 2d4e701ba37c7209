/**
 * The sync report (docs/reconciliation.md): per repository synced / out of sync / PR open /
 * PR closed / error, with the reasons, derived from a rollout result. Persisted as one JSON file
 * in a state directory (the CLI's --state-dir, the App's cache dir) so the console's sync-status
 * page shows the last run; one entry per organization, replaced by each run on it. Several App
 * replicas keep the same report in Redis instead (sync-state.ts is the seam).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../util/fs.js';
import type { JobCoverage, RepositoryCoverage } from '../coverage/model.js';
import type { FilePlan, JobReport } from './rollout-plan.js';
import type { RepositoryRollout } from './rollout.js';
import { describeChange, type StepChange } from './harden.js';

export type SyncStatus = 'synced' | 'out-of-sync' | 'pr-open' | 'pr-closed' | 'error';

export interface SyncEntry {
  repository: string;
  status: SyncStatus;
  pr: { number: number; url: string } | null;
  /** Workflow files the sync would change (or changed in its PR). */
  files: string[];
  reasons: string[];
}

/** One Actions variable as sync last wrote or found it (`delivery: variables`). */
export interface VariableEntry {
  level: 'organization' | 'repository';
  target: string;
  name: string;
  /** The value as last written (or found equal). Null: deleted. */
  value: string | null;
  policy?: string;
  /**
   * `out-of-sync`: a dry run found it differing (value: what GitHub has). `retained`: no
   * attachment owns it any more, but managed steps may still fall back through it: it holds what
   * they get now until none does (docs/reconciliation.md, "Variables: writes, removal, drift").
   */
  status: 'written' | 'unchanged' | 'deleted' | 'drift-restored' | 'retained' | 'out-of-sync' | 'error';
  reason?: string;
}

export interface OrganizationSync {
  organization: string;
  /** ISO time of the run. */
  at: string;
  dryRun: boolean;
  repositories: SyncEntry[];
  variables: VariableEntry[];
  /**
   * Per repository (`owner/repo`, as GitHub spells it), coverage of the workflow files this run
   * read (docs/architecture.md#coverage). A repository the run decided without reading its files
   * keeps the coverage recorded before.
   */
  coverage?: Record<string, RepositoryCoverage>;
}

export interface SyncReportFile {
  version: 1;
  organizations: Record<string, OrganizationSync>;
}

export const SYNC_REPORT_FILE = 'sync-report.json';

/** A step change as words (`egress-policy: audit -> block`), never as JSON (issue 23). */
function changeText(change: unknown): string {
  if (typeof change === 'string') return change;
  if (typeof change === 'object' && change !== null && typeof (change as StepChange).field === 'string') return describeChange(change as StepChange);
  return JSON.stringify(change);
}

function jobReasons(file: FilePlan, job: JobReport): string | undefined {
  const where = `${file.path} job ${job.job}`;
  const policy = job.policy === undefined ? '' : job.policy === null ? ' (no policy attached)' : ` (policy ${job.policy})`;
  const changes = job.changes;
  // The per-step change list, when the planner reports one: "old -> new" per input.
  const detail = Array.isArray(changes) && changes.length > 0 ? `: ${changes.map(changeText).join('; ')}` : job.reason ? `: ${job.reason}` : '';
  if (job.action === 'inserted') return `${where}: no Harden-Runner step; the store wants ${job.mode ?? 'one'}${policy}`;
  if (job.action !== 'updated') return undefined;
  switch (job.drift?.kind) {
    case 'edited':
      return `${where}: managed step edited by hand; the store wants ${job.mode ?? 'it'}${policy}${detail}`;
    case 'stale':
      return `${where}: stale policy: the managed step was written for ${job.drift.was === null ? 'no policy' : `policy ${job.drift.was}`}, the store now says${policy || ' none'}${detail}`;
    case 'unmanaged':
      return `${where}: a Harden-Runner step egressctl does not manage disagrees with the store${policy}${detail}`;
    default:
      return `${where}: the Harden-Runner step differs from the store${policy}${detail}`;
  }
}

/** Why a repository is out of sync, one line per job or file. */
export function syncReasons(files: readonly FilePlan[]): string[] {
  const reasons: string[] = [];
  for (const file of files) {
    for (const job of file.jobs) {
      // Drift a sync cannot fix by itself: a person's env: entry would override the store on self-hosted runners.
      if (job.policyEnv) reasons.push(`${file.path} job ${job.job}: EGRESSCTL_POLICY is set in ${job.policyEnv.join(', ')}: only the job-started hook may set it; remove it`);
    }
    if (file.status === 'invalid' || file.status === 'rejected') {
      reasons.push(`${file.path}: left unchanged (${file.status === 'invalid' ? 'does not parse' : 'the rewrite would add GitHub parser errors'})`);
      continue;
    }
    if (file.status !== 'changed') {
      // Not a reason to open a PR, but worth seeing: what a fork's pull request gets is older than the store.
      for (const job of file.jobs) {
        if (job.fallbackBehind) reasons.push(`${file.path} job ${job.job}: fallback behind the store${job.policy ? ` (policy ${job.policy})` : ''}: runs without variables (pull requests from forks) get the older, stricter policy until the next sync PR (the store's is only looser)`);
      }
      continue;
    }
    for (const job of file.jobs) {
      const reason = jobReasons(file, job);
      if (reason) reasons.push(reason);
      if (job.fallbackStricter) {
        reasons.push(`${file.path} job ${job.job}: fallback stricter in the store${job.policy ? ` (policy ${job.policy})` : ''}: ${job.fallbackStricter.join('; ')}: written now, since runs without variables (pull requests from forks, Dependabot) would keep the weaker one`);
      }
    }
  }
  return reasons;
}

/** A rollout result as a sync entry. */
export function syncEntry(result: RepositoryRollout): SyncEntry {
  const pr = result.pullRequest ?? null;
  const files = result.files.filter((file) => file.status === 'changed').map((file) => file.path);
  const reasons = [...syncReasons(result.files), ...(result.firewall?.reasons ?? [])];
  // A person's firewall file weaker than the store is drift even when nothing is written (docs/github-firewall.md).
  const drift = result.firewall?.action === 'drift';
  const entry = (status: SyncStatus, extra: string[] = []): SyncEntry => ({ repository: result.repository, status: status === 'synced' && drift ? 'out-of-sync' : status, pr, files, reasons: [...extra, ...reasons] });
  switch (result.status) {
    case 'created':
    case 'updated':
    case 'unchanged':
      return entry(pr ? 'pr-open' : 'synced', pr ? [result.message] : []);
    case 'up-to-date':
    case 'no-workflows':
    case 'skipped':
      return entry('synced', result.status === 'up-to-date' ? [] : [result.message]);
    case 'closed':
      return entry('pr-closed', [result.message]);
    case 'would-change':
      return entry('out-of-sync', [result.message]);
    case 'invalid':
    case 'failed':
      return entry('error', [result.message]);
  }
}

/** A sync pull request a person closed without merging (the `pull_request.closed` webhook). */
export interface ClosedPullRequest {
  /** `owner/repo`, as GitHub spells it. */
  repository: string;
  number: number;
  url: string;
  /** Login of who closed it. */
  by: string;
  /** ISO time it was closed. */
  at: string;
}

/**
 * The repository's row once a person closed its sync PR: `pr-closed` at once, not at the next
 * sync; the files it proposed are kept. The next sync leaves it closed until the desired state
 * changes (rollout.ts compares the PR's marker with the desired-state digest).
 */
export function closedPullRequestEntry(closed: ClosedPullRequest, previous: SyncEntry | undefined): SyncEntry {
  return {
    repository: closed.repository,
    status: 'pr-closed',
    pr: { number: closed.number, url: closed.url },
    files: previous?.files ?? [],
    reasons: [`pull request #${closed.number} was closed without merging by ${closed.by} on ${closed.at}: not reopened until the desired state changes (--force opens a new one)`],
  };
}

/** A repository, variable or job a sync could not bring to the store's state, with why. */
export interface SyncFailure {
  /** `owner/repo`, `NAME on TARGET` for a variable, `owner/repo FILE:LINE job JOB` for a job that fails open. */
  target: string;
  reason: string;
  /** False: no retry of the sync can change it (a workflow file a person must change): reported, not retried. */
  retry?: false;
}

/** Why a job fails open, and what ends it (JobCoverage.failureCause), in the words of the publish check and `egressctl sync`. */
const FAILURE_CAUSES: Record<NonNullable<JobCoverage['failureCause']>, string> = {
  'workflow-file': "the workflow file on the default branch falls back through that variable (a person's edit of the managed step, or its sync pull request not merged): merge that pull request or restore the step",
  variables: 'a sync that writes the variables the store asks for ends it',
};

/**
 * Jobs whose recorded coverage fails open (docs/architecture.md#coverage), each with its failure
 * of the sync, named by repository, workflow file, line and job. Only one whose workflow file is
 * the cause is `retry: false`: the App retrying its sync would write the same variables and find
 * the same file, while a variable a sync writes or removes is put right by the next attempt.
 */
export function failingJobsOf(run: Pick<OrganizationSync, 'coverage'>): { job: JobCoverage; failure: SyncFailure }[] {
  return Object.values(run.coverage ?? {}).flatMap((coverage) =>
    coverage.jobs.flatMap((job) => {
      if (job.failure === undefined) return [];
      const cause = job.failureCause === undefined ? '' : `; ${FAILURE_CAUSES[job.failureCause]}`;
      const failure: SyncFailure = { target: `${job.repository} ${job.file}:${job.line} job ${job.job}`, reason: `FAILS OPEN: ${job.failure}${cause}`, ...(job.failureCause === 'workflow-file' ? { retry: false as const } : {}) };
      return [{ job, failure }];
    }),
  );
}

/** The sync failures of jobs that fail open (failingJobsOf). */
export function failsOpenOf(run: Pick<OrganizationSync, 'coverage'>): SyncFailure[] {
  return failingJobsOf(run).map((failing) => failing.failure);
}

/** What a run left failed: repositories in error, variables whose write or removal failed, jobs that fail open. */
export function failuresOf(run: Pick<OrganizationSync, 'repositories' | 'variables' | 'coverage'>): SyncFailure[] {
  return [
    ...run.repositories.filter((entry) => entry.status === 'error').map((entry) => ({ target: entry.repository, reason: entry.reasons.join('; ') })),
    ...run.variables.filter((entry) => entry.status === 'error').map((entry) => ({ target: `${entry.name} on ${entry.target}`, reason: entry.reason ?? 'failed' })),
    ...failsOpenOf(run),
  ];
}

export const SYNC_STATUSES: readonly SyncStatus[] = ['synced', 'out-of-sync', 'pr-open', 'pr-closed', 'error'];

/** Repositories per state over every organization (the metric egressctl_sync_repositories; dry runs do not count). */
export function syncStateCounts(file: SyncReportFile): Record<SyncStatus, number> {
  const counts = Object.fromEntries(SYNC_STATUSES.map((status) => [status, 0])) as Record<SyncStatus, number>;
  for (const run of Object.values(file.organizations)) {
    if (run.dryRun) continue;
    for (const entry of run.repositories) counts[entry.status] += 1;
  }
  return counts;
}

/**
 * Jobs whose recorded coverage fails open, per organization (lower-cased), 0 for one with none
 * (the metric egressctl_coverage_jobs_failing_open; dry runs do not count). Apart from
 * syncStateCounts, whose states are exclusive: a repository whose coverage fails open is also
 * synced or pr-open.
 */
export function failingOpenCounts(file: SyncReportFile): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const [organization, run] of Object.entries(file.organizations)) {
    if (run.dryRun) continue;
    counts[organization] = failingJobsOf(run).length;
  }
  return counts;
}

/**
 * An organization's last complete listing of its installation's repositories
 * (docs/architecture.md#races-the-controller-closes): `generation` counts the listings,
 * `repositories` are lower-cased. A unit queued before it (an older generation) writes no row for
 * a repository it does not name.
 */
export interface OrganizationListing {
  generation: number;
  repositories: string[];
}

/** What `sync-report.json` holds: the report, and per organization (lower-cased) its last listing. */
interface SyncStateFile extends SyncReportFile {
  listings?: Record<string, OrganizationListing>;
}

export interface RecordOptions {
  /** Only what the run names changes (the App's units); otherwise the run replaces its organization's entries. */
  merge?: boolean;
  /**
   * The listing generation the writing unit was queued at. Rows of repositories a newer listing
   * does not name are not written (the unit ran on while the listing dropped them). Undefined: a
   * writer no listing can outdate (the CLI, a webhook about the repository itself).
   */
  generation?: number;
}

async function readSyncFile(dir: string): Promise<SyncStateFile> {
  try {
    const value = JSON.parse(await readFile(path.join(dir, SYNC_REPORT_FILE), 'utf8')) as Partial<SyncStateFile>;
    if (value.version === 1 && value.organizations && typeof value.organizations === 'object') {
      return { version: 1, organizations: value.organizations, ...(value.listings && typeof value.listings === 'object' ? { listings: value.listings } : {}) };
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' && !(error instanceof SyntaxError)) throw error;
  }
  return { version: 1, organizations: {} };
}

export async function readSyncReport(dir: string): Promise<SyncReportFile> {
  const { version, organizations } = await readSyncFile(dir);
  return { version, organizations };
}

/** The listing generation of `organization` (0 before its first complete listing). */
export async function syncGeneration(dir: string, organization: string): Promise<number> {
  await writing.get(dir);
  return (await readSyncFile(dir)).listings?.[organization.toLowerCase()]?.generation ?? 0;
}

/**
 * `run` as a unit queued at `generation` may write it: without the repositories (rows, coverage,
 * repository variables) a newer listing than the unit's does not name. `dropped`: those rows.
 */
export function withoutUnlisted(run: OrganizationSync, listing: OrganizationListing | undefined, generation: number | undefined): { run: OrganizationSync; dropped: string[] } {
  if (generation === undefined || listing === undefined || generation >= listing.generation) return { run, dropped: [] };
  return pruneRun(run, listing.repositories);
}

/** A write the listing left with nothing to write is not made (not even its time). */
function isEmptyWrite(before: OrganizationSync, after: OrganizationSync): boolean {
  return after.repositories.length === 0 && after.variables.length === 0 && (before.repositories.length > 0 || before.variables.length > 0);
}

/**
 * Record one organization's run. `merge`: only the repositories and variables it names change
 * (a sync on merge touches a few); otherwise the organization's entry is replaced (a full sync).
 */
const writing = new Map<string, Promise<unknown>>();

/** Coverage of the repositories this run reached but did not read stays as recorded before; repositories no longer synced drop out. */
function withKeptCoverage(run: OrganizationSync, previous: OrganizationSync | undefined): OrganizationSync {
  if (!run.coverage && !previous?.coverage) return run;
  const reached = new Set(run.repositories.map((entry) => entry.repository));
  const coverage: Record<string, RepositoryCoverage> = {};
  for (const [repository, entry] of Object.entries(previous?.coverage ?? {})) if (reached.has(repository)) coverage[repository] = entry;
  Object.assign(coverage, run.coverage ?? {});
  return { ...run, coverage: Object.fromEntries(Object.entries(coverage).sort(([a], [b]) => (a < b ? -1 : 1))) };
}

export async function recordSync(dir: string, run: OrganizationSync, options: RecordOptions = {}): Promise<SyncReportFile> {
  return (await recordSyncRun(dir, run, options)).report;
}

/** recordSync, saying which repositories' rows were not written (a newer listing dropped them; RecordOptions.generation). */
export function recordSyncRun(dir: string, run: OrganizationSync, options: RecordOptions = {}): Promise<{ report: SyncReportFile; dropped: string[] }> {
  // Read-modify-write: one at a time per directory (the App syncs organizations concurrently).
  const next = (writing.get(dir) ?? Promise.resolve()).then(() => writeRun(dir, run, options));
  writing.set(dir, next.catch(() => undefined));
  return next;
}

/**
 * Drop `organization`'s rows (and their coverage and repository variables) for repositories not in
 * `listed`, a complete listing of its installation's repositories: a repository deleted on GitHub
 * or taken out of the installation stops being counted. Returns the names dropped.
 */
export function pruneSync(dir: string, organization: string, listed: readonly string[]): Promise<string[]> {
  const next = (writing.get(dir) ?? Promise.resolve()).then(async () => {
    const file = await readSyncFile(dir);
    const key = organization.toLowerCase();
    // The listing is kept even when it drops nothing: units queued before it must not write back what it lacks.
    const listings = file.listings ?? {};
    listings[key] = { generation: (listings[key]?.generation ?? 0) + 1, repositories: [...new Set(listed.map((name) => name.toLowerCase()))].sort() };
    file.listings = listings;
    const previous = file.organizations[key];
    const pruned = previous ? pruneRun(previous, listed) : { run: previous, dropped: [] };
    if (pruned.run) file.organizations[key] = pruned.run;
    await writeFile(dir, file);
    return pruned.dropped;
  });
  writing.set(dir, next.catch(() => undefined));
  return next;
}

/** `run` without the repositories `listed` does not name (case-insensitive), and what was dropped. */
export function pruneRun(run: OrganizationSync, listed: readonly string[]): { run: OrganizationSync; dropped: string[] } {
  const keep = new Set(listed.map((name) => name.toLowerCase()));
  const kept = (repository: string): boolean => keep.has(repository.toLowerCase());
  const dropped = run.repositories.filter((entry) => !kept(entry.repository)).map((entry) => entry.repository);
  if (dropped.length === 0) return { run, dropped };
  return {
    dropped,
    run: {
      ...run,
      repositories: run.repositories.filter((entry) => kept(entry.repository)),
      variables: run.variables.filter((entry) => entry.level !== 'repository' || kept(entry.target)),
      ...(run.coverage ? { coverage: Object.fromEntries(Object.entries(run.coverage).filter(([repository]) => kept(repository))) } : {}),
    },
  };
}

async function writeFile(dir: string, file: SyncStateFile): Promise<void> {
  await writeFileAtomic(path.join(dir, SYNC_REPORT_FILE), `${JSON.stringify(file, null, 2)}\n`, { mkdirs: true });
}

async function writeRun(dir: string, written: OrganizationSync, options: RecordOptions): Promise<{ report: SyncReportFile; dropped: string[] }> {
  const file = await readSyncFile(dir);
  const key = written.organization.toLowerCase();
  const { run, dropped } = withoutUnlisted(written, file.listings?.[key], options.generation);
  const report = (): SyncReportFile => ({ version: 1, organizations: file.organizations });
  if (isEmptyWrite(written, run)) return { report: report(), dropped };
  const previous = file.organizations[key];
  let next = run;
  if (options.merge && previous) {
    const repositories = new Map(previous.repositories.map((entry) => [entry.repository, entry]));
    for (const entry of run.repositories) repositories.set(entry.repository, entry);
    const variables = new Map(previous.variables.map((entry) => [`${entry.level}:${entry.target}:${entry.name}`, entry]));
    for (const entry of run.variables) variables.set(`${entry.level}:${entry.target}:${entry.name}`, entry);
    next = { ...run, repositories: [...repositories.values()].sort((a, b) => (a.repository < b.repository ? -1 : 1)), variables: [...variables.values()] };
  }
  next = withKeptCoverage(next, previous);
  file.organizations[key] = next;
  await writeFile(dir, file);
  return { report: report(), dropped };
}
