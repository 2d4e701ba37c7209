/**
 * The scheduled full sync (docs/reconciliation.md): every interval, one replica (WorkQueue.claim)
 * reads the head of the policy repository's default branch and queues, for each installation of
 * the App on a managed organization (egressctl.yml `organizations`, all when empty), that
 * organization's unit of work (sync-work.ts): with `delivery: variables` it re-asserts the
 * organization's variables (put back where someone edited them), then it queues a sync of every
 * repository: the same units, and the same code, as the sync after a publish. A pass never
 * starts while the previous one is being queued; each unit derives everything from GitHub, so an
 * interrupted pass is simply continued by the queue.
 */
import type { AppLogger, WebhookApp } from './delivery-guard.js';
import type { PolicyRepository } from '../store/repository.js';

export const DEFAULT_ROLLOUT_INTERVAL_MS = 6 * 60 * 60 * 1000;

export interface RolloutScheduleDeps {
  /** The policy repository at the head of its default branch (settings: organizations), with that revision. */
  loadHead: () => Promise<{ policy: PolicyRepository; revision: string }>;
  /** Queue the full sync of `organizations` at `revision` (SyncWork.fullSync). */
  fullSync: (revision: string, organizations: readonly string[], pass: string) => Promise<number>;
  /** Default 6 hours. 0 disables the timer (runs only through `runNow`). */
  intervalMs?: number;
  log?: AppLogger;
  /** Several replicas: true for the one that runs this period's pass (WorkQueue.claim). */
  claim?: (name: string, ttlMs: number) => Promise<boolean>;
}

/** What a pass queued. */
export interface ScheduledPass {
  revision: string;
  /** Lower-cased logins of the organizations queued. */
  organizations: string[];
}

export interface RolloutSchedule {
  /** Queue a pass now (or join the one being queued); the work itself runs in the queue. */
  runNow(): Promise<ScheduledPass>;
  stop(): void;
}

export function registerRolloutSchedule(app: WebhookApp, deps: RolloutScheduleDeps): RolloutSchedule {
  const log: AppLogger = deps.log ?? app.log;
  let running: Promise<ScheduledPass> | undefined;
  let stopped = false;

  const runOnce = async (): Promise<ScheduledPass> => {
    const { policy, revision } = await deps.loadHead();
    const managed = policy.settings.organizations;
    const appOctokit = await app.auth();
    const installations = await appOctokit.paginate(appOctokit.rest.apps.listInstallations, { per_page: 100 });
    const organizations: string[] = [];
    for (const installation of installations) {
      const account = installation.account && 'login' in installation.account ? installation.account.login.toLowerCase() : undefined;
      if (!account || stopped) continue;
      if (managed.length > 0 && !managed.includes(account)) continue;
      organizations.push(account);
    }
    const queued = await deps.fullSync(revision, organizations, `scheduled:${new Date().toISOString()}`);
    log.info({ revision, organizations, queued }, 'scheduled sync queued');
    return { revision, organizations };
  };

  const runNow = (): Promise<ScheduledPass> => {
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
          void (deps.claim ? deps.claim('scheduled-sync', Math.max(1, interval - 1_000)) : Promise.resolve(true))
            .then((mine) => (mine ? runNow() : undefined))
            .catch((error: unknown) => log.error({ err: error }, 'scheduled rollout failed'));
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
