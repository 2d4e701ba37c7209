/**
 * The Probot application function: registers the handlers with a delivery guard (each
 * delivery id runs once) and one per-repository queue shared by every flow.
 */
import type { KeyObject } from 'node:crypto';
import type { ApplicationFunction } from 'probot';
import { formatDiagnostic } from '../policy/diagnostics.js';
import { loadPolicyRepository } from '../store/repository.js';
import type { PolicyRepository } from '../store/repository.js';
import { gitUrl, type AppConfig } from './config.js';
import { GitMirrors } from './git-mirror.js';
import { GitTokens } from './github.js';
import { handleCheckRunRerequested, handlePullRequest, handlePush, type HandlerDeps } from './handlers.js';
import type { BundlePublisher } from './publish.js';
import { guardDeliveries, type WebhookApp } from './delivery-guard.js';
import { DeliveryLog, KeyedQueue, type WorkQueue } from './queue.js';
import { openSyncState, openWorkQueue } from './queue-open.js';
import type { SyncStateStore } from '../rollout/sync-state.js';
import { registerRolloutSchedule, type RolloutSchedule } from './rollout-schedule.js';
import { registerSyncWork } from './sync-work.js';
import { registerExpiredExceptions } from './expired-exceptions.js';
import { registerTamperCheck } from './tamper-check.js';
import { registerSyncPullRequestClosed } from './sync-pr-closed.js';
import { registerWorkflowJobHandler, type WorkflowJobDeps, type WorkflowJobHandle } from './workflow-job.js';

export interface EgressctlAppOptions {
  config: AppConfig;
  /** Where pushes to the default branch are published; a function so it can be bound late (serve). */
  publisher?: BundlePublisher | (() => BundlePublisher | undefined | Promise<BundlePublisher | undefined>);
  signKeys?: readonly KeyObject[];
  /** Overrides for the `workflow_job` baselines handler (flush interval, ...); it runs when the policy repository is set. */
  workflowJob?: Partial<WorkflowJobDeps>;
  /** The work queue; default: the one `config.queue` says (the journal in the state directory, or Redis). */
  queue?: WorkQueue;
  /** Where each repository's last sync outcome is kept; default: the one `config.queue` says (sync-report.json in the state directory, or the same Redis). */
  syncState?: SyncStateStore;
  /** Registers more handlers (e.g. baselines from `workflow_job`) on the guarded app, with the shared deps. */
  extensions?: ((app: WebhookApp, deps: HandlerDeps) => void | Promise<void>)[];
}

export interface EgressctlApp {
  appFn: ApplicationFunction;
  deps: HandlerDeps;
  deliveries: DeliveryLog;
  /** The scheduled rollout, once the app is loaded with EGRESSCTL_ROLLOUT_INTERVAL_HOURS and the policy repository set. */
  readonly rollout: RolloutSchedule | undefined;
  /** The durable work queue, once the app is loaded. */
  readonly queue: WorkQueue | undefined;
  /** The sync state, once the app is loaded. */
  readonly syncState: SyncStateStore | undefined;
  /** Resolves when no repository has work queued or running. */
  idle(): Promise<void>;
  /**
   * At shutdown, after the server stopped taking webhooks: stop timers, finish the work in flight
   * and commit pending baselines within `graceMs`; whatever is left stays journaled for the next start.
   */
  close(graceMs?: number): Promise<void>;
}


export function createEgressctlApp(options: EgressctlAppOptions): EgressctlApp {
  const { config } = options;
  const publisher = options.publisher;
  const deps: HandlerDeps = {
    config,
    mirrors: new GitMirrors(config.cacheDir),
    tokens: new GitTokens(),
    queue: new KeyedQueue(),
    publisher: typeof publisher === 'function' ? publisher : () => publisher,
    signKeys: options.signKeys ?? [],
  };
  const deliveries = new DeliveryLog(config.deliveryCacheSize);

  let baselines: WorkflowJobHandle | undefined;
  let rollout: RolloutSchedule | undefined;
  let queue: WorkQueue | undefined;
  let syncState: SyncStateStore | undefined;
  const appFn: ApplicationFunction = async (probot) => {
    const app = guardDeliveries(probot, deliveries);
    // Opened before any handler is registered: what a previous run journaled is picked up.
    queue ??= options.queue ?? (await openWorkQueue(config.queue, probot.log));
    syncState ??= options.syncState ?? (await openSyncState(config.queue, config.cacheDir));
    app.on(['pull_request.opened', 'pull_request.synchronize', 'pull_request.reopened'], (context) => handlePullRequest(context, deps));
    app.on('push', (context) => handlePush(context, deps));
    app.on('check_run.rerequested', (context) => handleCheckRunRerequested(context, deps));
    if (config.policyRepository !== undefined) {
      baselines = registerWorkflowJobHandler(app, { policyRepository: config.policyRepository, flushIntervalMs: config.baselineFlushMs, queue, ...options.workflowJob });
      const policyRepository = config.policyRepository;
      const backoff = { firstMs: config.syncRetryMs, maxMs: 60 * 60 * 1000 };
      const mirror = (shas: string[]) => policyMirror(app, deps, policyRepository, shas);
      // Each repository sync is its own unit of durable work, retried with backoff (sync-work.ts).
      const sync = registerSyncWork({
        app,
        queue,
        policyRepository,
        syncState,
        backoff,
        published: async () => (await deps.publisher())?.current(),
        mirror,
        knownDirs: [config.cacheDir],
        ...(config.rollout ? { mode: config.rollout.mode, ...(config.rollout.action ? { action: config.rollout.action } : {}) } : {}),
      });
      // Then the pull request that deletes expired exceptions, journaled too.
      const expired = registerExpiredExceptions(app, { queue, policyRepository, mirror, backoff });
      deps.afterPublish = async (event) => {
        await sync.afterPublish(event);
        await expired(event.revision);
      };
      registerSyncPullRequestClosed(app, { syncState, afterMerged: (event) => sync.afterSyncPullRequestMerged(event) });
      registerTamperCheck(app, { policyRepository, loadStore: () => loadPolicyHead(app, deps, policyRepository).then((head) => head.policy), cacheDir: config.cacheDir });
      if (config.rollout) {
        rollout?.stop();
        rollout = registerRolloutSchedule(app, {
          // Each pass also proposes the removal of exceptions that expired since the last publish.
          loadHead: async () => {
            const head = await loadPolicyHead(app, deps, policyRepository);
            await expired(head.revision);
            return head;
          },
          fullSync: (revision, organizations, pass) => sync.fullSync(revision, organizations, pass),
          intervalMs: config.rollout.intervalMs,
          claim: (name, ttlMs) => queue!.claim(name, ttlMs),
        });
      }
    } else {
      probot.log.warn('EGRESSCTL_POLICY_REPOSITORY is not set: workflow_job events do not feed baselines (they need a repository to commit to)');
    }
    for (const extension of options.extensions ?? []) await extension(app, deps);
  };
  return {
    appFn,
    deps,
    deliveries,
    get rollout() {
      return rollout;
    },
    get queue() {
      return queue;
    },
    get syncState() {
      return syncState;
    },
    idle: async () => {
      // Twice: work queued by a webhook, then what that work queued (a publish's repository syncs).
      for (let round = 0; round < 2; round++) await Promise.all([deps.queue.idle(), baselines?.idle(), queue?.idle()]);
    },
    close: async (graceMs?: number) => {
      rollout?.stop();
      await baselines?.close();
      // Finishes what runs and commits a last batch within the grace; the rest stays journaled.
      await queue?.close(graceMs);
      // Only what it opened itself: a store given to it belongs to the caller.
      if (!options.syncState) await syncState?.close();
    },
  };
}

/**
 * The policy repository at the head of its default branch, for the scheduled rollout: the App's
 * installation on it gives the API client and a read-only git token; the commit is fetched into
 * its mirror under the repository's queue (pushes fetch into the same mirror). A head with
 * errors is refused: rolling out from a broken policy repository would be guessing.
 */
async function loadPolicyHead(app: WebhookApp, deps: HandlerDeps, fullName: string): Promise<{ policy: PolicyRepository; revision: string }> {
  const [owner = '', repo = ''] = fullName.split('/');
  const appOctokit = await app.auth();
  const { data: installation } = await appOctokit.rest.apps.getRepoInstallation({ owner, repo });
  const octokit = await app.auth(installation.id);
  const { data: repository } = await octokit.rest.repos.get({ owner, repo });
  const { data: branch } = await octokit.rest.repos.getBranch({ owner, repo, branch: repository.default_branch });
  const sha = branch.commit.sha;
  return deps.queue.run(fullName.toLowerCase(), async () => {
    const dir = await fetchPolicyRevisions(deps, { octokit, installationId: installation.id, fullName, cloneUrl: repository.clone_url }, [sha]);
    const loaded = await loadPolicyRepository({ dir, rev: sha });
    if (loaded.errors.length > 0) {
      const shown = loaded.errors.slice(0, 5).map(formatDiagnostic).join('; ');
      const more = loaded.errors.length > 5 ? `; and ${loaded.errors.length - 5} more` : '';
      throw new Error(`policy repository ${fullName} at ${repository.default_branch} (${sha.slice(0, 12)}) has ${loaded.errors.length} error(s), no rollout: ${shown}${more}`);
    }
    return { policy: loaded.value, revision: sha };
  });
}

/** Fetch `shas` of the policy repository into this App's mirror of it; the mirror's directory. */
async function fetchPolicyRevisions(
  deps: HandlerDeps,
  target: { octokit: Awaited<ReturnType<WebhookApp['auth']>>; installationId: number; fullName: string; cloneUrl: string },
  shas: string[],
): Promise<string> {
  const [owner = '', repo = ''] = target.fullName.split('/');
  const token = await deps.tokens.get(target.octokit, target.installationId, { owner, repo });
  const url = deps.config.gitUrlTemplate ? gitUrl(deps.config.gitUrlTemplate, { owner, repo }) : target.cloneUrl;
  return deps.mirrors.fetch(target.fullName, { url, token }, shas);
}

/** The policy repository's mirror with `shas` in it, for work picked up from the queue (another replica, a restart). */
async function policyMirror(app: WebhookApp, deps: HandlerDeps, fullName: string, shas: string[]): Promise<string> {
  // Usually there already (the push fetched them): no request at all.
  const dir = await deps.mirrors.open(fullName);
  const kept = await deps.mirrors.kept(dir);
  if (shas.every((sha) => kept.has(sha))) return dir;
  const [owner = '', repo = ''] = fullName.split('/');
  const appOctokit = await app.auth();
  const { data: installation } = await appOctokit.rest.apps.getRepoInstallation({ owner, repo });
  const octokit = await app.auth(installation.id);
  const { data: repository } = await octokit.rest.repos.get({ owner, repo });
  return deps.queue.run(fullName.toLowerCase(), () => fetchPolicyRevisions(deps, { octokit, installationId: installation.id, fullName, cloneUrl: repository.clone_url }, shas));
}
