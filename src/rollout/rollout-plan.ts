/**
 * What a policy-based pull request changes in one repository (docs/architecture.md#reconciliation), as data: per workflow
 * file the hardened text (or why it stays as it is) and per job the mode, endpoints and the
 * baseline evidence behind them. No I/O: the rollout reads the files from GitHub and hands
 * them in. GitHub's own workflow parser gates every rewritten file.
 */
import { createHash } from 'node:crypto';
import { findJob, type BaselineIndex, type JobRecommendation } from '../baselines/index.js';
import { formatDiagnostic } from '../policy/diagnostics.js';
import type { HardenRunnerPin } from '../policy/model.js';
import { storePlanner, type StoreState } from './desired-state.js';
import { baselinePlanner, evidenceFromIndex, uniformPlanner } from './harden-plan.js';
import { hardenWorkflow, stepDrift, type CompositePlan, type JobAction, type JobInfo, type JobPlanner, type StepDrift } from './harden.js';
import { blockedByPolicy, desiredDigest } from './sync-plan.js';
import { grantIdToken } from './rollout-permissions.js';
import { newWorkflowErrors } from './workflow-check.js';
import { workflowCalls } from './workflow-calls.js';
import type { CallGraph } from '../policy/callers.js';
import { deliveryFallbackOf, deliveryFallbacksIn, fallbackTightening, withoutDeliveryFallbacks, withoutRepositoryLink } from '../policy/delivery.js';

/** Bump when the rollout's output for the same inputs changes, so open PRs get re-evaluated. */
export const ROLLOUT_FORMAT = 1;

export type RolloutMode = 'inline' | 'action';

/** This project's composite action (docs/architecture.md#runners), for `--mode action`. */
export interface ActionSettings {
  /** `<owner>/<repo>/actions/harden@<ref>` */
  uses: string;
  /** Comment after a SHA ref, e.g. `v1.2.0`. */
  version?: string;
  server: string;
  audience: string;
  onError?: 'audit' | 'block' | 'fail';
}

export interface RolloutConfig {
  mode: RolloutMode;
  /** Harden-Runner pin (egressctl.yml `harden-runner`); existing steps are re-pinned to it. */
  pin: HardenRunnerPin;
  /** Required for `mode: 'action'`. */
  action?: ActionSettings;
  baselines: BaselineIndex;
  /**
   * Sync (docs/reconciliation.md): the store is the desired state, every job follows its
   * workflow's effective policy, and baselines are evidence only. Absent: rollout from baselines.
   */
  store?: StoreState;
  /** The store's commit, for the header of the firewall file (docs/github-firewall.md); not part of the plan's fingerprint. */
  revision?: string;
}

export interface JobEvidence {
  runs: number;
  stable: boolean;
  stableAfter: number;
  runsSinceGrowth: number;
  firstSeen?: string;
  lastSeen?: string;
  /** Recommended endpoints of the baseline. */
  endpoints: string[];
}

export interface JobReport {
  job: string;
  /** 1-based line of the job's key in the original file. */
  line: number;
  action: JobAction;
  /** `block`/`audit` for inline Harden-Runner, `policy-server` for the composite action. */
  mode?: 'block' | 'audit' | 'policy-server';
  /** Allowed endpoints written (block mode). */
  endpoints: string[];
  /** Why skipped, or notes (plan, guard, permissions). */
  reason?: string;
  skipCode?: string;
  evidence?: JobEvidence;
  /** Sync: the policy the job follows (null: none attached). */
  policy?: string | null;
  /** Sync, block mode: endpoints the job was seen using that the policy would block (from its baseline). */
  blocked?: string[];
  /** Sync: why the job differs from the store (docs/reconciliation.md), when it does. */
  drift?: Drift;
  /** The planner's per-step change report (old -> new per input), when hardenWorkflow gives one. */
  changes?: unknown[];
  /**
   * `delivery: variables`: the managed step's fallback (what runs without variables get) is
   * behind the store, and waits for the repository's next sync PR (the variables carry the policy).
   */
  fallbackBehind?: boolean;
  /**
   * `delivery: variables`: how the store's fallback enforces more than the one the step had
   * (`fallbackTightening`): written at once, never deferred, since runs without variables (pull
   * requests from forks, Dependabot) would keep the weaker one.
   */
  fallbackStricter?: string[];
  /** Where the workflow sets EGRESSCTL_POLICY in an `env:` (drift: only the job-started hook may set it). */
  policyEnv?: string[];
}

/**
 * `missing`: no Harden-Runner step; `edited`: a managed step (marker) for this policy changed by
 * hand; `stale`: a managed step whose marker names another policy; `unmanaged`: a step without
 * the marker that disagrees with the store.
 */
export type Drift = { kind: 'missing' } | StepDrift;

/** Why a job the sync inserts into or updates differs from the store. Pure. */
export function driftOf(action: JobAction, job: JobInfo | undefined, policy: string | null): Drift | undefined {
  if (action === 'inserted') return { kind: 'missing' };
  if (action !== 'updated') return undefined;
  // `managedBy` is read from the step's marker comment (harden.ts); absent: not ours.
  return stepDrift(job?.existing, policy);
}

export type FileStatus = 'changed' | 'unchanged' | 'invalid' | 'rejected';

export interface FilePlan {
  /** `.github/workflows/<file>` as in the repository. */
  path: string;
  before: string;
  /** The new text; `before` unless status is `changed`. */
  after: string;
  /** `invalid`: the file does not parse; `rejected`: the rewrite would add GitHub parser errors. */
  status: FileStatus;
  jobs: JobReport[];
  /** For `invalid` and `rejected`: what is wrong, located. */
  problems: string[];
}

export interface RepositoryPlan {
  repository: string;
  files: FilePlan[];
}

export function changedFiles(plan: RepositoryPlan): FilePlan[] {
  return plan.files.filter((file) => file.status === 'changed');
}

/** Jobs of one repository's baselines, built once per index (lookups per repository stay cheap). */
const byRepositoryCache = new WeakMap<BaselineIndex, Map<string, JobRecommendation[]>>();

export function baselineJobsOf(index: BaselineIndex, repository: string): JobRecommendation[] {
  let map = byRepositoryCache.get(index);
  if (!map) {
    map = new Map();
    for (const job of index.jobs) {
      const list = map.get(job.repository);
      if (list) list.push(job);
      else map.set(job.repository, [job]);
    }
    byRepositoryCache.set(index, map);
  }
  return map.get(repository.toLowerCase()) ?? [];
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Everything besides the workflow files that decides the rollout's output for a repository:
 * mode, pin, action settings, and per baseline job whether it is stable and its endpoints.
 * Run counts and times are left out on purpose: they change with every job run and only feed
 * the PR body's evidence, which is refreshed whenever the files change.
 */
export function planFingerprint(repository: string, config: RolloutConfig): string {
  const jobs = baselineJobsOf(config.baselines, repository).map((job) => [job.workflowPath, job.job, job.stable, job.stable ? job.endpoints : []]);
  return sha256(
    JSON.stringify({
      format: ROLLOUT_FORMAT,
      mode: config.mode,
      pin: config.mode === 'inline' ? config.pin : null,
      action: config.mode === 'action' ? (config.action ?? null) : null,
      jobs,
      desired: config.store ? desiredDigest(config.store, repository) : null,
    }),
  ).slice(0, 32);
}

/** The workflow files as GitHub stores them (path and blob SHA): changes when any of them changes. */
export function workflowsFingerprint(entries: readonly { path: string; sha: string }[]): string {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return sha256(sorted.map((entry) => `${entry.path}\0${entry.sha}`).join('\n')).slice(0, 32);
}

/** The content the PR proposes: changed paths and their new texts. */
export function outputsFingerprint(plan: RepositoryPlan): string {
  return sha256(
    changedFiles(plan)
      .map((file) => `${file.path}\0${sha256(file.after)}`)
      .sort()
      .join('\n'),
  ).slice(0, 32);
}

function evidenceOf(found: JobRecommendation | undefined): JobEvidence | undefined {
  if (!found) return undefined;
  return {
    runs: found.runs,
    stable: found.stable,
    stableAfter: found.stableAfter,
    runsSinceGrowth: found.runsSinceGrowth,
    endpoints: found.endpoints,
    ...(found.firstSeen ? { firstSeen: found.firstSeen } : {}),
    ...(found.lastSeen ? { lastSeen: found.lastSeen } : {}),
  };
}

function plannerFor(repository: string, workflowPath: string, config: RolloutConfig, callers?: CallGraph): JobPlanner {
  if (config.mode === 'action') {
    const action = config.action;
    if (!action) throw new TypeError('rollout mode "action" needs action settings (uses, server, audience)');
    const plan: CompositePlan = {
      kind: 'composite',
      uses: action.uses,
      repin: true,
      with: { server: action.server, audience: action.audience, ...(action.onError ? { 'on-error': action.onError } : {}) },
      ...(action.version ? { version: action.version } : {}),
    };
    return uniformPlanner(plan);
  }
  if (config.store) {
    // With `delivery: variables` the store planner writes the variables chain (docs/reconciliation.md).
    return storePlanner({
      store: config.store,
      repository,
      workflowPath,
      repin: true,
      baselineOf: evidenceFromIndex(config.baselines, repository, workflowPath),
      ...(callers ? { callers } : {}),
    });
  }
  return baselinePlanner({
    pin: config.pin,
    repin: true,
    baselineOf: evidenceFromIndex(config.baselines, repository, workflowPath),
  });
}

/**
 * Plan one workflow file. `callers`: the repository's call graph (workflow-calls.ts), so that a
 * reusable workflow's jobs follow their callers' policy.
 */
export async function planWorkflowFile(repository: string, path: string, text: string, config: RolloutConfig, callers?: CallGraph): Promise<FilePlan> {
  const repo = repository.toLowerCase();
  const workflowPath = path.toLowerCase();
  // The planner sees each job's existing step (and its marker): kept to say why a job drifted.
  const seen = new Map<string, JobInfo>();
  const planner = plannerFor(repo, workflowPath, config, callers);
  const result = hardenWorkflow(text, {
    plan: (job) => {
      seen.set(job.id, job);
      return planner(job);
    },
    file: path,
  });
  if (result.errors.length > 0) {
    return { path, before: text, after: text, status: 'invalid', jobs: [], problems: result.errors.map(formatDiagnostic) };
  }
  const jobs: JobReport[] = result.jobs.map((outcome) => {
    const plan = outcome.plan;
    const mode = plan === undefined ? undefined : plan.kind === 'composite' ? 'policy-server' : plan.mode;
    const report: JobReport = {
      job: outcome.job,
      line: outcome.line,
      action: outcome.action,
      endpoints: plan?.kind === 'harden-runner' && plan.mode === 'block' ? [...(plan.endpoints ?? [])] : [],
      ...(mode ? { mode } : {}),
      ...(outcome.reason ? { reason: outcome.reason } : {}),
      ...(outcome.skipCode ? { skipCode: outcome.skipCode } : {}),
      ...(outcome.policyEnv ? { policyEnv: outcome.policyEnv } : {}),
    };
    const evidence = evidenceOf(findJob(config.baselines, { repository: repo, workflowPath, job: outcome.job }));
    if (evidence) report.evidence = evidence;
    if (plan?.kind === 'harden-runner' && plan.managedBy) {
      report.policy = plan.managedBy.policy;
      const drift = driftOf(outcome.action, seen.get(outcome.job), plan.managedBy.policy);
      if (drift) report.drift = drift;
      // Read defensively: the change list is newer than this module (docs/reconciliation.md, never weaken silently).
      const changes = (outcome as { changes?: unknown }).changes;
      if (Array.isArray(changes) && changes.length > 0) report.changes = changes;
      if (plan.mode === 'block' && evidence) {
        const blocked = blockedByPolicy(evidence.endpoints, plan.endpoints ?? []);
        if (blocked.length > 0) report.blocked = blocked;
      }
    }
    return report;
  });

  let output = result.output;
  if (config.mode === 'action') {
    const hardened = jobs.filter((job) => job.action !== 'skipped').map((job) => job.job);
    const granted = grantIdToken(output, hardened);
    output = granted.output;
    for (const job of jobs) {
      const outcome = granted.jobs.get(job.job);
      if (!outcome || outcome.action === 'present') continue;
      job.reason = job.reason ? `${job.reason}; ${outcome.note}` : outcome.note;
      if (outcome.action === 'granted' && job.action === 'unchanged') job.action = 'updated';
    }
  }
  if (output === text) return { path, before: text, after: text, status: 'unchanged', jobs, problems: [] };
  const added = await newWorkflowErrors(path, text, output);
  if (added.length > 0) return { path, before: text, after: text, status: 'rejected', jobs, problems: added };
  return { path, before: text, after: output, status: 'changed', jobs, problems: [] };
}

/** Plan every workflow file of a repository (files in the order given). */
export async function planRepository(repository: string, files: readonly { path: string; text: string }[], config: RolloutConfig): Promise<RepositoryPlan> {
  const planned: FilePlan[] = [];
  const callers = config.store ? workflowCalls(repository, files) : undefined;
  for (const file of files) planned.push(await planWorkflowFile(repository, file.path, file.text, config, callers));
  const deferred = config.store?.settings.delivery === 'variables' ? deferFallbackOnly(planned) : planned;
  return { repository: repository.toLowerCase(), files: deferred };
}

/** The text with the policy each egressctl marker names blanked (harden.ts markerText). */
function withoutMarkerPolicies(text: string): string {
  return text.replace(/(#\s*egressctl:\s*managed)(?:,\s*(?:policy\s+[a-z0-9][a-z0-9._-]*|no policy attached))?/g, '$1');
}

/** The fallback literals a job's step changes from and to (its `with.*` change list), or undefined. */
function jobFallbacks(job: JobReport): { from: string; to: string } | undefined {
  for (const change of job.changes ?? []) {
    const { field, from, to } = change as { field?: unknown; from?: unknown; to?: unknown };
    if (typeof field !== 'string' || !field.startsWith('with.') || typeof from !== 'string' || typeof to !== 'string') continue;
    const old = deliveryFallbackOf(from);
    const now = deliveryFallbackOf(to);
    if (old !== undefined && now !== undefined && old !== now) return { from: old, to: now };
  }
  return undefined;
}

/**
 * With `delivery: variables` a change of a policy's contents reaches the jobs through the
 * variable; the literal the managed steps fall back to changes too. When every changed file
 * differs only in fallbacks and every new fallback is looser than (or enforces the same as) the
 * one written, that alone opens no pull request (docs/reconciliation.md, "Fail closed"): the
 * files stay as they are, the jobs say their fallback is behind, and the next sync PR of the
 * repository brings them along; meanwhile runs without variables get the older, stricter one.
 * A STRICTER fallback (more blocking, fewer endpoints, audit -> block) is written at once: runs
 * without variables (pull requests from forks, Dependabot) must not keep a weaker one.
 */
function deferFallbackOnly(files: FilePlan[]): FilePlan[] {
  const annotated = files.map(markStricterFallbacks);
  const changed = annotated.filter((file) => file.status === 'changed');
  // The policy a marker names changes with the fallback when an attachment changes: that alone is no PR either (issue 21).
  // A chain that does not read EGRESSCTL_REPO_POLICY yet (written before it existed) waits too: where no repository attachment applies it reads what the store says.
  const behind = (text: string) => withoutRepositoryLink(withoutMarkerPolicies(withoutDeliveryFallbacks(text)));
  if (changed.length === 0 || !changed.every((file) => behind(file.before) === behind(file.after))) return annotated;
  // Compared literal by literal over the whole file, so that no stricter one hides behind a job the change list does not name.
  const tightens = (file: FilePlan) => {
    const before = deliveryFallbacksIn(file.before);
    const after = deliveryFallbacksIn(file.after);
    return before.length !== after.length || before.some((old, index) => fallbackTightening(old, after[index] ?? '').length > 0);
  };
  if (changed.some(tightens)) return annotated;
  return annotated.map((file) => {
    if (file.status !== 'changed') return file;
    if (withoutRepositoryLink(file.after) === file.before) {
      const jobs = file.jobs.map((job) =>
        job.action === 'updated'
          ? {
              ...job,
              action: 'unchanged' as const,
              reason: `${job.reason ? `${job.reason}; ` : ''}the step does not read EGRESSCTL_REPO_POLICY yet, so a repository attachment added later would reach it only through the sync PR that attachment opens; it reads the organization's variable and its fallback, as the store says, and the next sync PR brings the link along`,
            }
          : job,
      );
      return { ...file, after: file.before, status: 'unchanged' as const, jobs };
    }
    const jobs = file.jobs.map((job) =>
      job.action === 'updated'
        ? {
            ...job,
            action: 'unchanged' as const,
            fallbackBehind: true,
            reason: `${job.reason ? `${job.reason}; ` : ''}the store's fallback is only looser than the one written (or the same in what it enforces), so it waits for the next sync PR: the variables carry the policy meanwhile, and runs without variables (pull requests from forks, Dependabot) keep the older, stricter one`,
          }
        : job,
    );
    return { ...file, after: file.before, status: 'unchanged' as const, jobs };
  });
}

/** Jobs of a changed file whose fallback the store makes stricter say so (`fallbackStricter`, and first in the reason). */
function markStricterFallbacks(file: FilePlan): FilePlan {
  if (file.status !== 'changed') return file;
  const jobs = file.jobs.map((job) => {
    const fallbacks = job.action === 'updated' ? jobFallbacks(job) : undefined;
    const stricter = fallbacks ? fallbackTightening(fallbacks.from, fallbacks.to) : [];
    if (stricter.length === 0) return job;
    const why = `the fallback (what runs without variables get: pull requests from forks, Dependabot) is stricter in the store (${stricter.join('; ')}): written now, not left for a later sync PR`;
    return { ...job, fallbackStricter: stricter, reason: job.reason ? `${why}; ${job.reason}` : why };
  });
  return { ...file, jobs };
}
