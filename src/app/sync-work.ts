/**
 * The sync after a publish as journaled work (docs/github-app.md, "Durable work"): before the
 * sync of a published revision starts, a `sync-after-publish` item is added to the WorkQueue
 * (keyed by the policy repository, so one runs at a time), so the push webhook is answered only
 * once it is durable. The sync then runs inline, as before (its failures fail the publish check
 * and the delivery); the queue's handler adopts that outcome. After a kill -9 in the middle, the
 * next start finds the item and runs the sync itself; after a failure it runs it again with
 * backoff until it succeeds, the last error kept.
 */
import type { SyncFailure } from '../rollout/sync-report.js';
import { isAncestor } from '../util/git.js';
import type { BackoffPolicy, WorkItem, WorkQueue } from './queue.js';
import type { PublishedEvent } from './sync-on-merge.js';

export const SYNC_WORK_KIND = 'sync-after-publish';
/** How long a replica killed in the middle of a sync keeps the others from running it. */
const RUNNING_CLAIM_MS = 10 * 60 * 1000;

export type SyncAfterPublish = (event: PublishedEvent) => Promise<{ failures: readonly SyncFailure[] }>;

export interface SyncWorkDeps {
  queue: WorkQueue;
  /** `owner/repo` of the policy repository: the key of every item. */
  policyRepository: string;
  /** The sync itself (sync-on-merge.ts, then the expired-exceptions PR). */
  sync: SyncAfterPublish;
  /** The revision served now: an item for one it descends from syncs up to it. */
  published: () => Promise<string | undefined>;
  backoff: BackoffPolicy;
  /** The policy repository's mirror with these revisions fetched (an item may come from another replica, or a start with an empty cache). */
  mirror: (revisions: string[]) => Promise<string>;
}

/** Registers the queue's handler; returns the journaled sync to run after each publish. */
export function journaledSync(deps: SyncWorkDeps): SyncAfterPublish {
  // Outcomes of inline runs, by item id, until the queue's handler takes them (same process only).
  const inline = new Map<string, Promise<{ failures: readonly SyncFailure[] }>>();
  const idOf = (event: PublishedEvent): string => `sync:${event.previous ?? 'none'}..${event.revision}`;
  /**
   * Several replicas: the item may be handed to another replica while the one that took the push
   * still runs it inline; whoever runs a sync holds a claim on it (expiring, should its holder be
   * killed), and the other one waits its turn (a throw: retried with backoff).
   */
  const exclusively = async <T>(id: string, run: () => Promise<T>): Promise<T> => {
    const name = `running:${id}`;
    if (!(await deps.queue.claim(name, RUNNING_CLAIM_MS))) throw new Error('this sync is running on another replica');
    try {
      return await run();
    } finally {
      await deps.queue.release(name);
    }
  };

  deps.queue.handle<PublishedEvent>(
    SYNC_WORK_KIND,
    async (item: WorkItem<PublishedEvent>) => {
      const running = inline.get(item.id);
      inline.delete(item.id);
      let outcome: { failures: readonly SyncFailure[] };
      if (running) outcome = await running;
      else {
        outcome = await exclusively(item.id, async () => {
          const revisions = [item.data.revision, ...(item.data.previous === undefined ? [] : [item.data.previous])];
          const dir = await deps.mirror(revisions);
          return deps.sync(await latest({ ...item.data, dir }));
        });
      }
      if (outcome.failures.length > 0) throw new Error(`sync failed for ${outcome.failures.map((failure) => `${failure.target}: ${failure.reason}`).join('; ')}`);
    },
    deps.backoff,
  );

  /** The event up to the revision served now when that one descends from it (never back to an older policy). */
  const latest = async (event: PublishedEvent): Promise<PublishedEvent> => {
    const published = await deps.published();
    if (published === undefined || published === event.revision || !(await isAncestor(event.dir, event.revision, published))) return event;
    return { ...event, revision: published };
  };

  return async (event) => {
    const id = idOf(event);
    let settle!: { resolve: (value: { failures: readonly SyncFailure[] }) => void; reject: (error: unknown) => void };
    const outcome = new Promise<{ failures: readonly SyncFailure[] }>((resolve, reject) => (settle = { resolve, reject }));
    // The handler may only see a rejection it awaits; never an unhandled one.
    outcome.catch(() => undefined);
    // A redelivery while the first run is queued leaves the first run's outcome for the handler.
    const handedOver = !inline.has(id);
    if (handedOver) inline.set(id, outcome);
    // Refused (the same id is queued or recently done): no handler will take this outcome.
    if (!(await deps.queue.add<PublishedEvent>({ id, kind: SYNC_WORK_KIND, key: deps.policyRepository.toLowerCase(), data: event })) && handedOver) inline.delete(id);
    try {
      const result = await exclusively(id, () => deps.sync(event));
      settle.resolve(result);
      return result;
    } catch (error) {
      settle.reject(error);
      throw error;
    }
  };
}
