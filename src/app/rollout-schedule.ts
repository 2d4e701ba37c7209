/**
 * The scheduled full sync (docs/reconciliation.md): every interval, for each installation of
 * the App on a managed organization (egressctl.yml `organizations`, all when empty), run the
 * same sync as `egressctl sync --all` (workflows, and with `delivery: variables` the variables,
 * put back where someone edited them); the report goes to the sync state (the console, the metrics). A run never overlaps the previous one; each run
 * derives everything from GitHub, so an interrupted run is simply continued by the next.
 */
import type { AppLogger, WebhookApp } from './delivery-guard.js';
import type { PolicyRepository } from '../store/repository.js';
import type { ActionSettings, RolloutMode } from '../rollout/rollout-plan.js';
import type { RolloutReport } from '../rollout/rollout.js';
import { failuresOf } from '../rollout/sync-report.js';
import type { SyncStateStore } from '../rollout/sync-state.js';
import { retryFailed } from './sync-on-merge.js';
import { runSync } from '../rollout/sync.js';

export const DEFAULT_ROLLOUT_INTERVAL_MS = 6 * 60 * 60 * 1000;

export interface RolloutScheduleDeps {
  /** The policy repository as it is now (settings: organizations and pin; baselines). */
  loadPolicy: () => Promise<PolicyRepository>;
  /** Default 6 hours. 0 disables the timer (runs only through `runNow`). */
  intervalMs?: number;
  mode?: RolloutMode;
  /** Required with mode `action`. */
  action?: ActionSettings;
  /** `owner/repo`, shown in PR bodies. */
  policyRepository?: string;
  /** Repositories in flight at once per organization. Default 4. */
  concurrency?: number;
  onRun?: (reports: RolloutReport[]) => void;
  /** Where each repository's last outcome is kept (the console's sync-status page). */
  syncState?: SyncStateStore;
  log?: AppLogger;
  /** Several replicas: true for the one that runs this period's pass (WorkQueue.claim). */
  claim?: (name: string, ttlMs: number) => Promise<boolean>;
}

export interface RolloutSchedule {
  /** Run now (or join the run in progress). */
  runNow(): Promise<RolloutReport[]>;
  stop(): void;
}

export function registerRolloutSchedule(app: WebhookApp, deps: RolloutScheduleDeps): RolloutSchedule {
  const log: AppLogger = deps.log ?? app.log;
  let running: Promise<RolloutReport[]> | undefined;
  let stopped = false;

  const runOnce = async (): Promise<RolloutReport[]> => {
    const policy = await deps.loadPolicy();
    const managed = policy.settings.organizations;
    const appOctokit = await app.auth();
    const installations = await appOctokit.paginate(appOctokit.rest.apps.listInstallations, { per_page: 100 });
    const reports: RolloutReport[] = [];
    for (const installation of installations) {
      const account = installation.account && 'login' in installation.account ? installation.account.login : undefined;
      if (!account || stopped) continue;
      if (managed.length > 0 && !managed.includes(account.toLowerCase())) continue;
      // Probot's Octokit carries the same REST methods, pagination, throttling and retries; its types are a separate copy.
      const client = await app.auth(installation.id);
      const synced = await runSync({
        client,
        organization: account,
        policy,
        listing: 'installation',
        mode: deps.mode ?? 'inline',
        ...(deps.action ? { action: deps.action } : {}),
        ...(deps.policyRepository ? { policyRepository: deps.policyRepository } : {}),
        ...(deps.concurrency ? { concurrency: deps.concurrency } : {}),
      });
      if (deps.syncState) await deps.syncState.record(synced.report);
      const drift = synced.report.variables.filter((entry) => entry.status === 'drift-restored');
      for (const entry of drift) log.error({ variable: entry.name, target: entry.target }, `variable drift: ${entry.reason ?? 'edited on GitHub'}`);
      const report = synced.rollout;
      const counts: Record<string, number> = {};
      for (const result of report.repositories) counts[result.status] = (counts[result.status] ?? 0) + 1;
      log.info({ organization: account, requests: report.requests, ...counts }, 'rollout finished');
      for (const result of report.repositories) if (result.status === 'failed') log.error({ repository: result.repository }, result.message);
      reports.push(report);
    }
    deps.onRun?.(reports);
    return reports;
  };

  const runNow = (): Promise<RolloutReport[]> => {
    running ??= runOnce().finally(() => {
      running = undefined;
    });
    return running;
  };

  const interval = deps.intervalMs ?? DEFAULT_ROLLOUT_INTERVAL_MS;
  const timer =
    interval > 0
      ? setInterval(() => {
          if (running) return;
          // A little under the interval: the next period's claim is free again when it comes.
          void (deps.claim ? deps.claim('scheduled-sync', Math.max(1, interval - 1_000)) : Promise.resolve(true)).then(
            (mine) => (mine ? runNow() : undefined),
          ).catch((error: unknown) => log.error({ err: error }, 'scheduled rollout failed'));
        }, interval)
      : undefined;
  timer?.unref?.();

  return {
    runNow,
    stop: () => {
      stopped = true;
      if (timer) clearInterval(timer);
    },
  };
}

export interface SyncRetryDeps {
  /** The policy repository as it is now. */
  loadPolicy: () => Promise<PolicyRepository>;
  /** Where each repository's last outcome is (its failed rows are what is retried). */
  syncState: SyncStateStore;
  /** `owner/repo`, shown in PR bodies. */
  policyRepository: string;
  /** The first retry after a failure; doubles while failures remain, to `maxMs`. */
  firstMs: number;
  /** Default one hour. */
  maxMs?: number;
  log?: AppLogger;
  concurrency?: number;
}

export interface SyncRetry {
  /** Retry what failed now (or join the retry in progress); resolves with what it left failed. */
  runNow(): Promise<number>;
  stop(): void;
}

/**
 * Failed repositories are retried sooner than the scheduled full sync (docs/github-app.md, "Sync
 * state"): after `firstMs`, then twice as long each time failures remain, up to an hour; back to
 * `firstMs` once nothing has failed. The state is the sync report, so a restart resumes it.
 */
export function registerSyncRetry(app: WebhookApp, deps: SyncRetryDeps): SyncRetry {
  const log: AppLogger = deps.log ?? app.log;
  const maxMs = deps.maxMs ?? 60 * 60 * 1000;
  let delay = deps.firstMs;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;
  let stopped = false;

  const failedNow = async (): Promise<number> => {
    const report = await deps.syncState.read();
    return Object.values(report.organizations).reduce((sum, run) => sum + (run.dryRun ? 0 : failuresOf(run).length), 0);
  };
  const runOnce = async (): Promise<number> => {
    if ((await failedNow()) === 0) return 0;
    const policy = await deps.loadPolicy();
    await retryFailed(app, { syncState: deps.syncState, policyRepository: deps.policyRepository, log, ...(deps.concurrency ? { concurrency: deps.concurrency } : {}) }, policy);
    return failedNow();
  };
  const runNow = (): Promise<number> => {
    running ??= runOnce().finally(() => {
      running = undefined;
    });
    return running;
  };
  const arm = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      runNow().then(
        (left) => {
          delay = left > 0 ? Math.min(maxMs, delay * 2) : deps.firstMs;
          if (left > 0) log.warn({ failed: left, nextRetrySeconds: Math.round(delay / 1000) }, 'sync retry: still failing');
        },
        (error: unknown) => {
          delay = Math.min(maxMs, delay * 2);
          log.error({ err: error }, 'sync retry failed');
        },
      ).finally(arm);
    }, delay);
    timer.unref?.();
  };
  arm();
  return {
    runNow,
    stop: () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
