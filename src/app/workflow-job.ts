/**
 * Baselines from `workflow_job` webhooks (docs/architecture.md#github-app): when a job that ran Harden-Runner
 * completes, download its log through the Actions API, extract what the agent saw, and commit
 * it to the policy repository's baselines, in batches: observations wait in the work queue
 * (journaled, so a restart loses none) and are committed at most once per interval, in one
 * commit (never one per job).
 *
 * Per job: the run's workflow path (`GET actions/runs/{id}`, cached per run: matrix legs share
 * it), the workflow file at the run's commit (cached) to turn the display name into the job id
 * and to check that the job has a Harden-Runner step, then the log. A log without agent output
 * is ignored. Each matrix leg is its own run in the baseline (keyed by the GitHub job id).
 *
 * A job that ran on GitHub's firewall runner (its labels say so: a standard firewall label, or a
 * larger runner egressctl.yml lists) journals its run instead: once the run is over, its jobs on
 * the firewall runner are read together, the run's decisions artifacts once per run attempt
 * (github-firewall-decisions.ts, docs/github-firewall.md), each leg's Harden-Runner log as above;
 * a leg running both gives one observation.
 */
import type { AppLogger, WebhookApp } from './delivery-guard.js';
import { normalizeTimestamp, parseHardenRunnerLog, WORKFLOW_PATH_PATTERN, type Observation } from '../baselines/index.js';
import { clusterForRunner, clusterFromJobLog } from '../baselines/cluster.js';
import { DiagnosticSink, formatDiagnostic } from '../policy/diagnostics.js';
import { SETTINGS_FILE, type Settings } from '../policy/model.js';
import { parseSettingsFile } from '../policy/settings-file.js';
import type { GitHubClient } from '../github/client.js';
import { commitBaselines, type BaselineCommitResult } from './github-baselines.js';
import { jobIdForDisplayName } from './github-jobs.js';
import { proposeBlockedEndpoints, type FeedbackResult } from './feedback.js';
import { BoundedMap } from '../util/bounded-map.js';
import { gitHubStatus } from '../util/errors.js';
import { confirmFence, fenceWrites, LostOwnershipError, runFenced } from '../github/write-fence.js';
import { boundedFetch, FetchLimitError } from '../util/bounded-fetch.js';
import { logWorkError, WorkNotReadyError, type BackoffPolicy, type WorkLease, type WorkQueue } from './queue.js';
import { FileWorkQueue } from './queue-file.js';
import { runsBehindFirewall } from '../rollout/github-firewall/format.js';
import { firewallEndpointsOfRun } from './github-firewall-decisions.js';

export const DEFAULT_FLUSH_INTERVAL_MS = 5 * 60 * 1000;
/**
 * Most bytes of one job log read, and the time for all of it: a job can print without end, and
 * the log is read on the App's own process. Harden-Runner's agent output is a small part of a log.
 */
export const DEFAULT_MAX_LOG_BYTES = 64 * 1024 * 1024;
const LOG_DOWNLOAD_TIMEOUT_MS = 120_000;

export interface WorkflowJobDeps {
  /** `owner/repo` of the policy repository (EGRESSCTL_POLICY_REPOSITORY). */
  policyRepository: string;
  /** Branch to commit to; default the policy repository's default branch. */
  policyBranch?: string;
  /** At most one commit per this interval. Default 5 minutes. */
  flushIntervalMs?: number;
  /**
   * Organizations whose jobs feed baselines (lower-cased); empty means all. Default: `organizations`
   * of egressctl.yml in the policy repository, re-read at most once per flush interval.
   */
  organizations?: () => Promise<readonly string[]> | readonly string[];
  /** A client for the policy repository. Default: the App's installation on it. */
  policyClient?: () => Promise<GitHubClient>;
  /** How long the policy repository's installation and egressctl.yml are reused. Default 60 s. */
  lookupTtlMs?: number;
  /** Only look at jobs with a step whose name suggests Harden-Runner (saves API calls). Default true. */
  prefilterSteps?: boolean;
  /** Most bytes of a job log read (default DEFAULT_MAX_LOG_BYTES); a bigger log is skipped with a warning. */
  maxLogBytes?: number;
  /** Called after each flush (metrics, tests). */
  onFlush?: (result: BaselineCommitResult | { error: unknown }) => void;
  /** Open or update the blocked-endpoints pull request after committing blocked names (docs/github-app.md). Default true. */
  feedback?: boolean;
  /** Called after each feedback attempt (tests). */
  onFeedback?: (result: FeedbackResult | { error: unknown }) => void;
  log?: AppLogger;
  /** Backoff while a run on the firewall runner is still going (default DEFAULT_FIREWALL_RUN_BACKOFF). */
  firewallRunBackoff?: BackoffPolicy;
  /**
   * Where deliveries, observations and feedback are journaled before the webhook is answered
   * (queue.ts). Default: a queue in memory of its own (not durable), closed with the handle.
   */
  queue?: WorkQueue;
}

export interface WorkflowJobHandle {
  /** Commit what is pending now (also called by the timer). */
  flush(): Promise<void>;
  /** Wait for webhook work in progress (log downloads) to finish. */
  idle(): Promise<void>;
  /** Observations waiting for the next flush. */
  pending(): Promise<number>;
  /** Stop the timer and flush what is left (closes the queue when it is the handle's own). */
  close(): Promise<void>;
}

/** The runner group of GitHub-hosted runners in `workflow_job` payloads. */
const HOSTED_RUNNER_GROUP = 'github actions';
const HARDEN_STEP_NAME = /harden[-_ ]?runner|\/actions\/harden\b|egressctl/i;
/** The workflow uses Harden-Runner or this project's action somewhere (a cheap check before downloading a log). */
const HARDEN_USES = /uses:\s*['"]?(step-security\/harden-runner|[^/\s'"]+\/[^/\s'"]+\/actions\/harden)@/i;


function textOf(data: unknown): string {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
  return '';
}

export const DEFAULT_LOOKUP_TTL_MS = 60_000;

/**
 * Promises by key for a short while, in flight included (a burst of deliveries shares one
 * look-up); a rejected one is dropped at once so the next delivery tries again.
 */
class Expiring<V> {
  /** `at`: when the value arrived; Infinity while the look-up is in flight (always shared). */
  private readonly map = new Map<string, { at: number; value: Promise<V> }>();
  constructor(private readonly ttlMs: number) {}
  get(key: string, load: () => Promise<V>): Promise<V> {
    const hit = this.map.get(key);
    if (hit && (hit.at === Infinity || Date.now() - hit.at < this.ttlMs)) return hit.value;
    const value = load();
    const entry = { at: Infinity, value };
    this.map.set(key, entry);
    value.then(
      () => {
        entry.at = Date.now();
      },
      () => {
        if (this.map.get(key) === entry) this.map.delete(key);
      },
    );
    return value;
  }
}

/** By time, then by run id (numerically when both are numbers: GitHub job ids grow). */
export function compareObservations(a: Observation, b: Observation): number {
  if (a.at !== b.at) return a.at < b.at ? -1 : 1;
  if (/^\d+$/.test(a.runId) && /^\d+$/.test(b.runId)) return Number(a.runId) - Number(b.runId);
  return a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : 0;
}

function splitRepository(fullName: string): { owner: string; repo: string } {
  const [owner = '', repo = ''] = fullName.split('/');
  if (!owner || !repo) throw new TypeError(`policy repository must be owner/repo, not "${fullName}"`);
  return { owner, repo };
}

/** Register the `workflow_job.completed` handler on a Probot app; returns a handle for flushing and shutdown. */
export function registerWorkflowJobHandler(app: WebhookApp, deps: WorkflowJobDeps): WorkflowJobHandle {
  const log: AppLogger = deps.log ?? app.log;
  const interval = deps.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS;
  const policy = splitRepository(deps.policyRepository);
  // Small bounded caches: webhooks of one run arrive close together.
  const runPaths = new BoundedMap<string, Promise<string | undefined>>(2000);
  const workflowTexts = new BoundedMap<string, Promise<string | undefined>>(500);
  const logFetch = boundedFetch({ maxBytes: deps.maxLogBytes ?? DEFAULT_MAX_LOG_BYTES, timeoutMs: LOG_DOWNLOAD_TIMEOUT_MS });

  // The policy repository's installation and its egressctl.yml, shared by concurrent deliveries
  // and re-read after a short while (an uninstall or a settings change shows within it).
  const lookups = new Expiring<unknown>(deps.lookupTtlMs ?? DEFAULT_LOOKUP_TTL_MS);
  const installationOfPolicy = (): Promise<number> =>
    lookups.get(`installation:${deps.policyRepository}`, async () => {
      const appOctokit = await app.auth();
      return (await appOctokit.rest.apps.getRepoInstallation({ owner: policy.owner, repo: policy.repo })).data.id;
    }) as Promise<number>;
  // Every client of these units: its writes ask the running unit's fence (docs/architecture.md#races-the-controller-closes).
  const unfencedPolicyClient = deps.policyClient ?? (async (): Promise<GitHubClient> => app.auth(await installationOfPolicy()));
  const policyClient = async (): Promise<GitHubClient> => fenceWrites(await unfencedPolicyClient());
  const installationClient = async (installationId: number): Promise<GitHubClient> => fenceWrites(await app.auth(installationId));
  /** One attempt of a unit under a fence on its lease: once another replica holds it, its writes are refused and it stops. */
  const fenced = <T>(unit: string, lease: WorkLease, work: () => Promise<T>): Promise<T> => runFenced(() => lease.owned(), unit, work);

  type IntakeSettings = Pick<Settings, 'organizations' | 'clusters'> & { largerRunners: readonly string[] };
  const readSettings = async (): Promise<IntakeSettings> => {
    try {
      const client = await policyClient();
      const response = await client.rest.repos.getContent({ ...policy, path: SETTINGS_FILE, mediaType: { format: 'raw' }, ...(deps.policyBranch ? { ref: deps.policyBranch } : {}) });
      const sink = new DiagnosticSink();
      const { organizations, clusters, githubFirewall } = parseSettingsFile(SETTINGS_FILE, textOf(response.data), sink);
      return { organizations, clusters, largerRunners: githubFirewall.largerRunners ?? [] };
    } catch (error) {
      if (gitHubStatus(error) !== 404) log.warn({ err: error }, `cannot read ${SETTINGS_FILE} of ${deps.policyRepository}: accepting every organization`);
      return { organizations: [], clusters: [], largerRunners: [] };
    }
  };
  const settings = async (): Promise<IntakeSettings> => {
    const installation = deps.policyClient ? 'custom' : String(await installationOfPolicy());
    return lookups.get(`settings:${installation}`, readSettings) as Promise<IntakeSettings>;
  };
  /**
   * Whether a job with these labels ran behind GitHub's firewall: a standard firewall label, or a
   * larger runner on the firewall image that egressctl.yml lists (docs/github-firewall.md#larger-runners).
   * The settings are read (cached like the rest) only for a job that may have run on a larger
   * runner: not self-hosted, and not in the runner group of GitHub's standard hosted runners.
   */
  const behindFirewall = async (job: { labels?: readonly string[] | null; runner_group_name?: string | null }): Promise<boolean> => {
    const labels = job.labels ?? [];
    if (runsBehindFirewall(labels)) return true;
    const group = job.runner_group_name?.trim().toLowerCase();
    if (labels.length === 0 || group === HOSTED_RUNNER_GROUP || labels.some((label) => label.toLowerCase() === 'self-hosted')) return false;
    const largerRunners = await settings().then((read) => read.largerRunners, () => []);
    return runsBehindFirewall(labels, largerRunners);
  };
  const organizations = async (): Promise<readonly string[]> => {
    if (deps.organizations) return (await deps.organizations()).map((org) => org.toLowerCase());
    return (await settings()).organizations;
  };

  /** The blocked-endpoints pull request: its own unit of work, retried until it succeeds; its failure never undoes the baselines commit. */
  const feedback = async (branch: string, repositories: readonly string[]): Promise<void> => {
    try {
      const client = await policyClient();
      const result = await proposeBlockedEndpoints(client, { ...policy, branch }, repositories);
      if (result.action !== 'none') log.info({ pullRequest: result.pullRequest, action: result.action, policies: result.proposals.map((proposal) => proposal.policy) }, 'blocked endpoints proposed');
      deps.onFeedback?.(result);
    } catch (error) {
      // Taken over by another replica: nothing to report here (the queue logs the one line).
      if (error instanceof LostOwnershipError) throw error;
      log.error({ err: error }, 'proposing blocked endpoints failed: retried with backoff');
      deps.onFeedback?.({ error });
      throw error;
    }
  };

  const ownQueue = deps.queue === undefined;
  const queue: WorkQueue = deps.queue ?? FileWorkQueue.memory({ onError: (item, error) => logWorkError(log, item, error) });

  const commitBatch = async (batch: Map<string, Observation[]>): Promise<void> => {
    // Jobs finish in any order and are read concurrently: merge in time order, so growth is attributed to the right run.
    for (const list of batch.values()) list.sort(compareObservations);
    try {
      const result = await commitBaselines(await policyClient(), { ...policy, ...(deps.policyBranch ? { branch: deps.policyBranch } : {}) }, batch);
      for (const summary of result.repositories) if (summary.error) log.error({ repository: summary.repository }, summary.error);
      log.info({ commit: result.commit, attempts: result.attempts, repositories: result.repositories.length }, result.commit ? 'committed baselines' : 'baselines already had these runs');
      deps.onFlush?.(result);
      const blocked = [...batch].filter(([, list]) => list.some((observation) => (observation.blocked?.length ?? 0) > 0)).map(([repository]) => repository);
      if (result.commit && blocked.length > 0 && deps.feedback !== false) {
        await queue.add<FeedbackWork>({ id: `feedback:${result.commit}`, kind: FEEDBACK_KIND, key: deps.policyRepository.toLowerCase(), data: { branch: result.branch, repositories: blocked } });
      }
    } catch (error) {
      if (error instanceof LostOwnershipError) throw error;
      log.error({ err: error }, 'committing baselines failed: kept (journaled) for the next flush');
      deps.onFlush?.({ error });
      throw error;
    }
  };

  /** Cached per key, in flight included: the legs of a matrix arrive together and share one look-up. */
  const cached = <V>(cache: BoundedMap<string, Promise<V>>, key: string, load: () => Promise<V>): Promise<V> => {
    const hit = cache.peek(key);
    if (hit) return hit;
    const promise = load();
    cache.set(key, promise);
    promise.catch(() => cache.delete(key));
    return promise;
  };

  const workflowPathOf = (client: GitHubClient, owner: string, repo: string, runId: number): Promise<string | undefined> =>
    cached(runPaths, `${owner}/${repo}#${runId}`.toLowerCase(), async () => {
      const path = (await client.rest.actions.getWorkflowRun({ owner, repo, run_id: runId })).data.path ?? '';
      // `path` may carry `@ref` for reusable workflows: keep the file part.
      const file = path.split('@')[0] ?? '';
      return WORKFLOW_PATH_PATTERN.test(file.toLowerCase()) ? file : undefined;
    });

  const workflowTextOf = (client: GitHubClient, owner: string, repo: string, path: string, sha: string): Promise<string | undefined> =>
    cached(workflowTexts, `${owner}/${repo}/${path}@${sha}`.toLowerCase(), async () => {
      try {
        return textOf((await client.rest.repos.getContent({ owner, repo, path, ref: sha, mediaType: { format: 'raw' } })).data);
      } catch (error) {
        if (gitHubStatus(error) === 404) return undefined;
        throw error;
      }
    });

  const handle = async (installationId: number, client: GitHubClient, repository: { owner: { login: string }; name: string }, job: JobPayload): Promise<void> => {
    const owner = repository.owner.login;
    const repo = repository.name;
    const fullName = `${owner}/${repo}`;
    // A job on GitHub's firewall runner leaves a decisions artifact (docs/github-firewall.md), Harden-Runner or not.
    const onFirewall = await behindFirewall(job);
    if (deps.prefilterSteps !== false && !onFirewall && !mayRunHardenRunner(job)) return;
    const managed = await organizations();
    if (managed.length > 0 && !managed.includes(owner.toLowerCase())) return;

    if (onFirewall) {
      // The firewall's decisions are the run's: its jobs on the firewall runner are read together,
      // once per run attempt, however many legs complete (the id makes a second add a no-op, on
      // every replica and after a restart).
      const attempt = job.run_attempt ?? 1;
      await queue.add<FirewallRunWork>({
        id: `firewall-run:${fullName.toLowerCase()}:${job.run_id}:${attempt}`,
        kind: FIREWALL_RUN_KIND,
        key: fullName.toLowerCase(),
        data: { installationId, repository, runId: job.run_id, attempt },
      });
      return;
    }

    const path = await workflowPathOf(client, owner, repo, job.run_id);
    if (!path) return;
    const text = await workflowTextOf(client, owner, repo, path, job.head_sha);
    if (text === undefined || !HARDEN_USES.test(text)) return;
    const jobId = jobIdForDisplayName(text, job.name);
    if (!jobId) {
      log.debug({ repository: fullName, job: job.name, path }, 'job name matches no single job of the workflow: ignored');
      return;
    }
    const observation = await hardenRunnerObservation(client, owner, repo, path, jobId, job);
    if (observation) await observe(fullName, String(job.id), observation);
  };

  /** What Harden-Runner's agent saw in one job (its log), or undefined when its log has no agent output. */
  const hardenRunnerObservation = async (client: GitHubClient, owner: string, repo: string, path: string, jobId: string, job: JobPayload): Promise<Observation | undefined> => {
    const fullName = `${owner}/${repo}`;
    let logText: string;
    try {
      // Bounded (bytes, and one deadline for the body), and read here: Octokit would swallow a body error.
      const response = await client.rest.actions.downloadJobLogsForWorkflowRun({ owner, repo, job_id: job.id, request: { fetch: logFetch, parseSuccessResponseBody: false } });
      logText = await new Response(response.data as unknown as ReadableStream<Uint8Array> | null).text();
    } catch (error) {
      // Expired or deleted logs: nothing to learn.
      if (gitHubStatus(error) === 404 || gitHubStatus(error) === 410) return undefined;
      const limit = error instanceof FetchLimitError ? error : (error as { cause?: unknown } | null)?.cause;
      if (limit instanceof FetchLimitError) {
        log.warn({ repository: fullName, job: job.id }, `job log of ${fullName} job ${job.id} not read: ${limit.message}`);
        return undefined;
      }
      throw error;
    }
    const parsed = parseHardenRunnerLog(logText, `${fullName} job ${job.id}`);
    if (parsed.value.agentLines === 0) {
      log.debug({ repository: fullName, job: job.id }, 'no Harden-Runner agent output in the job log: ignored');
      return undefined;
    }
    for (const warning of parsed.warnings) {
      if (warning.code === 'baseline/configuration-differs') log.warn({ repository: fullName, job: job.id }, formatDiagnostic(warning));
    }
    const evidence = parsed.value;
    const cluster = await clusterOf(job, logText);
    const at = (job.completed_at ? normalizeTimestamp(job.completed_at) : undefined) ?? evidence.endedAt ?? nowSeconds();
    return {
      workflow: path.toLowerCase(),
      job: jobId,
      runId: String(job.id),
      at,
      endpoints: [...new Set([...evidence.endpoints, ...evidence.addresses])],
      blocked: evidence.blocked,
      ...(evidence.mode ? { mode: evidence.mode } : {}),
      ...(evidence.dropped > 0 ? { dropped: evidence.dropped } : {}),
      ...(cluster ? { cluster } : {}),
    };
  };

  /**
   * A run's jobs on the firewall runner, once the run is over (the preview's decisions come "at the
   * conclusion of a workflow run"): each leg's Harden-Runner log as for any job, and the run's
   * decisions artifacts read once (firewallEndpointsOfRun), each united into the observation of
   * the first leg it belongs to. So a job running both gives one observation per leg with the
   * firewall's hosts in one of them, and a matrix of N legs counts one decisions artifact once.
   */
  const handleFirewallRun = async (work: FirewallRunWork): Promise<void> => {
    const { installationId, repository, runId, attempt } = work;
    const owner = repository.owner.login;
    const repo = repository.name;
    const fullName = `${owner}/${repo}`;
    const client = await installationClient(installationId);
    const run = (await client.rest.actions.getWorkflowRun({ owner, repo, run_id: runId })).data;
    if ((run.run_attempt ?? 1) <= attempt && run.status !== 'completed') throw new RunInProgressError(`${fullName} run ${runId} (attempt ${attempt}) is ${run.status ?? 'not over'}: its firewall decisions are read once it completes`);
    const path = (run.path ?? '').split('@')[0] ?? '';
    if (!WORKFLOW_PATH_PATTERN.test(path.toLowerCase())) return;
    const text = await workflowTextOf(client, owner, repo, path, run.head_sha);
    if (text === undefined) return;

    const legs: (JobPayload & { jobKey: string })[] = [];
    const startedAt: string[] = [];
    for await (const page of client.paginate.iterator(client.rest.actions.listJobsForWorkflowRun, { owner, repo, run_id: runId, filter: 'all', per_page: 100 })) {
      for (const job of page.data) {
        if ((job.run_attempt ?? 1) !== attempt || job.status !== 'completed' || !(await behindFirewall(job))) continue;
        const jobKey = jobIdForDisplayName(text, job.name);
        if (!jobKey) {
          log.debug({ repository: fullName, job: job.name, path }, 'job name matches no single job of the workflow: ignored');
          continue;
        }
        if (job.started_at) startedAt.push(job.started_at);
        legs.push({
          jobKey,
          id: job.id,
          run_id: job.run_id,
          run_attempt: job.run_attempt ?? 1,
          name: job.name,
          head_sha: job.head_sha,
          completed_at: job.completed_at ?? null,
          steps: (job.steps ?? []).map((step) => ({ name: step.name })),
          labels: job.labels ?? [],
          runner_group_name: job.runner_group_name ?? null,
        });
      }
    }
    legs.sort((a, b) => a.id - b.id);
    const firewall = await firewallEndpointsOfRun(
      client,
      { owner, repo, runId, ...(attempt > 1 && startedAt.length > 0 ? { since: startedAt.sort()[0] } : {}) },
      legs.map((leg) => ({ jobId: leg.id, jobKey: leg.jobKey, jobName: leg.name })),
      log,
    );
    const hardenUsed = HARDEN_USES.test(text);
    for (const leg of legs) {
      const harden = hardenUsed && (deps.prefilterSteps === false || mayRunHardenRunner(leg)) ? await hardenRunnerObservation(client, owner, repo, path, leg.jobKey, leg) : undefined;
      const seen = firewall.get(leg.id);
      let observation = harden;
      if (seen) {
        observation = harden
          ? { ...harden, endpoints: [...new Set([...harden.endpoints, ...seen])] }
          : { workflow: path.toLowerCase(), job: leg.jobKey, runId: String(leg.id), at: (leg.completed_at ? normalizeTimestamp(leg.completed_at) : undefined) ?? nowSeconds(), endpoints: seen, blocked: [] };
      }
      if (observation) await observe(fullName, String(leg.id), observation);
    }
  };

  /** An observation waits, journaled, for the next baselines commit. */
  const observe = async (fullName: string, jobId: string, observation: Observation): Promise<void> => {
    // A run that lost its job records nothing (the holder records the same observation, by the same id).
    await confirmFence('recording an observation');
    await queue.add<ObservationWork>({ id: `observation:${fullName.toLowerCase()}:${jobId}`, kind: OBSERVATION_KIND, key: fullName.toLowerCase(), data: { repository: fullName, observation } });
  };

  /**
   * The ARC cluster of a job (docs/architecture.md#arc-clusters-in-baselines): egressctl.yml's
   * `clusters` applied to the payload's runner group and labels (GitHub's word), else the cluster
   * the job-started hook printed in the log, trusted only on a self-hosted runner group (on
   * GitHub's hosted runners no hook runs, so such a line would come from a step).
   */
  const clusterOf = async (job: JobPayload, logText: string): Promise<string | undefined> => {
    // A settings look-up that fails (no installation yet) leaves the mapping out; the log's hook line may still say.
    const mappings = await settings().then((read) => read.clusters, () => []);
    const mapped = clusterForRunner(mappings, { runnerGroup: job.runner_group_name ?? null, labels: job.labels ?? [] });
    if (mapped) return mapped;
    const group = job.runner_group_name?.trim().toLowerCase();
    return group && group !== HOSTED_RUNNER_GROUP ? clusterFromJobLog(logText) : undefined;
  };

  // Each unit of work is journaled before the webhook is answered (docs/github-app.md, "Durable work"):
  // the job to read (its log download can take longer than GitHub waits), then its observation, then feedback.
  queue.handle<JobWork>(JOB_KIND, (item, lease) =>
    fenced(`${item.kind} ${item.key}`, lease, async () => {
      const { installationId, repository, job } = item.data;
      try {
        await handle(installationId, await installationClient(installationId), repository, job);
      } catch (error) {
        const status = gitHubStatus(error);
        // GitHub's answer about the job, not a failure to reach it: retrying cannot change it. A 401 is
        // about our credentials (a key being rotated, a clock off): the job is kept and retried.
        if (status === 404 || status === 410 || status === 422) {
          log.error({ err: error, repository: `${repository.owner.login}/${repository.name}`, job: job.id }, 'workflow_job: could not read the job');
          return;
        }
        throw error;
      }
    }),
  );
  queue.handle<FirewallRunWork>(
    FIREWALL_RUN_KIND,
    (item, lease) =>
      fenced(`${item.kind} ${item.key}`, lease, async () => {
        try {
          await handleFirewallRun(item.data);
        } catch (error) {
          const status = gitHubStatus(error);
          if (status === 404 || status === 410 || status === 422) {
            log.error({ err: error, repository: `${item.data.repository.owner.login}/${item.data.repository.name}`, run: item.data.runId }, 'workflow_job: could not read the firewall run');
            return;
          }
          throw error;
        }
      }),
    deps.firewallRunBackoff ?? DEFAULT_FIREWALL_RUN_BACKOFF,
  );
  queue.handleBatches<ObservationWork>(OBSERVATION_KIND, { intervalMs: interval }, async (items, lease) => {
    const batch = new Map<string, Observation[]>();
    for (const item of items) {
      const key = item.data.repository.toLowerCase();
      batch.set(key, [...(batch.get(key) ?? []), item.data.observation]);
    }
    await fenced(`${OBSERVATION_KIND} batch`, lease, () => commitBatch(batch));
  });
  queue.handle<FeedbackWork>(FEEDBACK_KIND, (item, lease) => fenced(`${item.kind} ${item.key}`, lease, () => feedback(item.data.branch, item.data.repositories)));

  app.on('workflow_job.completed', async (context) => {
    const payload = context.payload;
    const job = payload.workflow_job;
    // Free (the step names and labels are in the payload): a job without Harden-Runner, not on the
    // firewall runner, is not even journaled. Labels that are not standard ones cost the cached
    // egressctl.yml look-up (larger runners on the firewall image are listed there).
    if (deps.prefilterSteps !== false && !mayRunHardenRunner(job) && !(await behindFirewall(job))) return;
    const installationId = (payload as { installation?: { id?: number } }).installation?.id;
    if (installationId === undefined) return;
    const repository = { owner: { login: payload.repository.owner.login }, name: payload.repository.name };
    const data: JobWork = {
      installationId,
      repository,
      job: {
        id: job.id,
        run_id: job.run_id,
        run_attempt: job.run_attempt ?? 1,
        name: job.name,
        head_sha: job.head_sha,
        completed_at: job.completed_at,
        steps: (job.steps ?? []).map((step) => ({ name: step.name })),
        labels: job.labels ?? [],
        runner_group_name: job.runner_group_name ?? null,
      },
    };
    // Keyed by the job: the same job delivered twice (or to two replicas) is read once.
    await queue.add<JobWork>({ id: `workflow-job:${job.id}`, kind: JOB_KIND, key: payload.repository.full_name.toLowerCase(), data });
  });

  return {
    flush: async () => {
      await queue.idle();
      await queue.flush(OBSERVATION_KIND);
      await queue.idle();
    },
    idle: () => queue.idle(),
    pending: () => queue.pending(OBSERVATION_KIND),
    close: async () => {
      if (ownQueue) await queue.close();
    },
  };
}

const JOB_KIND = 'workflow-job';
const FIREWALL_RUN_KIND = 'firewall-run';
/** A run still going is looked at again after a minute, then less often (long runs), at most every half hour. */
export const DEFAULT_FIREWALL_RUN_BACKOFF: BackoffPolicy = { firstMs: 60_000, maxMs: 30 * 60_000 };

/** The run's firewall decisions are only there once it is over: retried (with backoff) until then. */
export class RunInProgressError extends WorkNotReadyError {}

function nowSeconds(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The step names (in the payload) may show Harden-Runner; a job without steps listed may too. */
function mayRunHardenRunner(job: { steps?: { name: string }[] }): boolean {
  return !job.steps || job.steps.length === 0 || job.steps.some((step) => HARDEN_STEP_NAME.test(step.name));
}
const OBSERVATION_KIND = 'observation';
const FEEDBACK_KIND = 'feedback';

interface JobPayload {
  id: number;
  run_id: number;
  /** Which attempt of the run (re-runs keep the run id); absent in journals written before it was kept: 1. */
  run_attempt?: number;
  name: string;
  head_sha: string;
  completed_at: string | null;
  steps?: { name: string }[];
  labels?: string[];
  runner_group_name?: string | null;
}

/** A completed job to read (journaled as the webhook arrives). */
interface JobWork {
  installationId: number;
  repository: { owner: { login: string }; name: string };
  job: JobPayload;
}

/** A run whose jobs ran on the firewall runner: read once per attempt, after it completes. */
interface FirewallRunWork {
  installationId: number;
  repository: { owner: { login: string }; name: string };
  runId: number;
  attempt: number;
}

/** What a job's log showed, waiting for the next baselines commit. */
interface ObservationWork {
  repository: string;
  observation: Observation;
}

/** The blocked-endpoints pull request to open or update after a commit with blocked names. */
interface FeedbackWork {
  branch: string;
  repositories: string[];
}
