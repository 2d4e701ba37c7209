/**
 * Two small guards around webhook handling:
 * - DeliveryLog: GitHub may deliver an event more than once (and a proxy may retry); a bounded,
 *   least-recently-used set of delivery ids makes each one run once. A delivery that failed is
 *   forgotten, so that a redelivery (same id) can try again.
 * - KeyedQueue: work on one repository runs one task at a time (the mirror's git locks, the
 *   "find our comment, else create it" step and publish ordering all need it); different
 *   repositories run in parallel.
 */
import { BoundedMap } from '../util/bounded-map.js';
import { LostOwnershipError } from '../github/write-fence.js';

export class DeliveryLog {
  private readonly ids: BoundedMap<string, true>;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, not ${capacity}`);
    this.ids = new BoundedMap(capacity);
  }

  /** True when `id` is new (and now recorded); false when it was seen already. */
  claim(id: string): boolean {
    // get() refreshes: a redelivered id stays remembered as long as it keeps coming.
    if (this.ids.get(id)) return false;
    this.ids.set(id, true);
    return true;
  }

  /** Forget `id` (its handling failed: a redelivery should run again). */
  release(id: string): void {
    this.ids.delete(id);
  }

  get size(): number {
    return this.ids.size;
  }
}

export class KeyedQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** Run `task` after every task queued before it under `key`; settle with its outcome. */
  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(task, task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Resolves once every task queued so far has settled. */
  async idle(): Promise<void> {
    while (this.tails.size > 0) await Promise.all([...this.tails.values()]);
  }

  get busy(): number {
    return this.tails.size;
  }
}

// --- The durable work queue (docs/github-app.md, "Durable work") ----------------------------

/** One unit of work as the queue keeps it. */
export interface WorkItem<T = unknown> {
  /** Unique: a second `add` with it is dropped (a redelivery, the same job seen twice). */
  id: string;
  /** Which handler runs it: `workflow-job`, `observation`, `feedback`, `sync-plan`, `organization-sync`, `repository-sync`, `publish-check`, `publish-check-watch`, `expired-exceptions`. */
  kind: string;
  /** Items with the same key run one at a time (a repository, lower-cased). */
  key: string;
  data: T;
  /** Failed attempts so far. */
  attempts: number;
  /** The last attempt's error, kept until it succeeds. */
  lastError?: string;
  /** The last attempt threw WorkNotReadyError: waiting, not failed (not listed by `failures`). */
  waiting?: boolean;
  /** Not run again before this time (ms since the epoch): the backoff after a failure. */
  notBefore: number;
  addedAt: number;
}

/**
 * Thrown by a handler whose item cannot run yet (a workflow run still in progress): retried with
 * the same backoff, but logged as waiting, not as a failure.
 */
export class WorkNotReadyError extends Error {
  override readonly name = 'WorkNotReadyError';
}

/**
 * What a handler is told about its hold on the item: with several replicas, a run whose job lock
 * expired (its event loop blocked, Redis out of reach) may have had the item handed to another
 * replica, and must stop writing (src/github/write-fence.ts).
 */
export interface WorkLease {
  /** True while this run still holds the item (and keeps holding it a lock period more); throws when it cannot tell. */
  owned(): Promise<boolean>;
}

/** The one replica's queue: nothing can take an item from a run. */
export const HELD: WorkLease = { owned: async () => true };

/** How the App logs an attempt that threw: a wait at info, a run that lost its item to another replica, anything else as a failure. */
export function logWorkError(log: { warn: (fields: object, message: string) => void; info: (fields: object, message: string) => void }, item: { id: string; kind?: string; attempts: number }, error: unknown): void {
  const fields = { id: item.id, ...(item.kind === undefined ? {} : { kind: item.kind }), attempts: item.attempts, err: error instanceof Error ? error.message : String(error) };
  if (error instanceof WorkNotReadyError) log.info(fields, 'work not ready yet: tried again later');
  else if (error instanceof LostOwnershipError) log.warn(fields, 'work taken over by another replica: this run stopped before writing to GitHub, the replica that holds it now does the work');
  else log.warn(fields, 'work failed: retried with backoff');
}

export type NewWork<T = unknown> = Pick<WorkItem<T>, 'id' | 'kind' | 'key' | 'data'>;

export interface BackoffPolicy {
  /** Delay after the first failure; doubles with each one. */
  firstMs: number;
  /** At most this. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { firstMs: 5_000, maxMs: 60 * 60 * 1000 };

export function backoffDelay(policy: BackoffPolicy, attempts: number): number {
  return Math.min(policy.maxMs, policy.firstMs * 2 ** Math.max(0, Math.min(attempts - 1, 30)));
}

/** What a batch handler is told about its schedule. */
export interface BatchOptions {
  /** At most one batch per this interval; a whole interval from the first item. */
  intervalMs: number;
}

/** One unit of a fan-in that did not do what it should, with why (a repository, a variable). */
export interface FanInFailure {
  target: string;
  reason: string;
  /** False: counted in the fan-in, but no retry of the unit can change it, so the unit is not retried for it. */
  retry?: false;
}

/** A fan-in whose every expected unit has settled: what it was opened with, and what failed. */
export interface FanInDone<P = unknown> {
  payload: P;
  failures: FanInFailure[];
}

export interface QueueFailure {
  id: string;
  kind: string;
  key: string;
  attempts: number;
  lastError: string;
}

/**
 * Every unit of the App's work goes through this (docs/github-app.md, "Durable work"): `add`
 * resolves once the item is durable (on disk, or in Redis), so a webhook is answered only then;
 * handlers run until they succeed, with exponential backoff and the last error kept; a restart
 * picks up what was left. Two backends: FileWorkQueue (the default, one replica, a journal in
 * the state directory) and RedisWorkQueue (several replicas, BullMQ).
 */
export interface WorkQueue {
  readonly description: string;
  /** Record `item` durably. False: its id is queued or was done recently (dropped). */
  add<T>(item: NewWork<T>): Promise<boolean>;
  /**
   * Run items of `kind` through `handler`: one at a time per key; a throw retries later. `lease`
   * says whether the run still holds the item; a handler that throws LostOwnershipError (it found
   * it does not) is neither retried nor failed here: the run that holds the item does the work.
   */
  handle<T>(kind: string, handler: (item: WorkItem<T>, lease: WorkLease) => Promise<void>, backoff?: BackoffPolicy): void;
  /**
   * Items of `kind` are collected and handed over together, at most once per interval; a throw keeps
   * them all for the next batch. `lease` says whether the run still holds the batch (as for `handle`):
   * a LostOwnershipError is logged, not recorded as the batch's error; the items stay for the holder.
   */
  handleBatches<T>(kind: string, options: BatchOptions, handler: (items: WorkItem<T>[], lease: WorkLease) => Promise<void>): void;
  /** Run the batch of `kind` now (tests, shutdown). */
  flush(kind: string): Promise<void>;
  /** Items of `kind` waiting out a backoff after a failure run now (level-triggered: a push to the policy repository retries what is in error). */
  retryNow(kind: string): Promise<void>;
  /** Items not done yet (of `kind`, or all). */
  pending(kind?: string): Promise<number>;
  /** Items whose last attempt failed, with their errors (not those waiting: WorkNotReadyError). */
  failures(): Promise<QueueFailure[]>;
  /**
   * True for the one replica that takes `name` for `ttlMs` (the scheduled full sync runs on one
   * replica per period). The embedded queue has one replica: always true.
   */
  claim(name: string, ttlMs: number): Promise<boolean>;
  /**
   * Fan-in (the publish check waits for the first attempt of every repository sync of its
   * publish): `openFanIn` records `payload` and the first units expected; `expectInFanIn` adds
   * units (a unit already settled is not expected again, so a re-run after a crash is harmless);
   * `settleInFanIn` marks a unit settled with its failures and returns the fan-in to the one
   * caller whose settle left nothing expected (once), else undefined. Durable like the items.
   */
  openFanIn(id: string, payload: unknown, expected: readonly string[]): Promise<void>;
  /** Returns how many units the fan-in has had so far (expected or settled) whose id starts with `countPrefix` (all without it); 0 once it is done. */
  expectInFanIn(id: string, units: readonly string[], countPrefix?: string): Promise<number>;
  settleInFanIn<P>(id: string, unit: string, failures: readonly FanInFailure[]): Promise<FanInDone<P> | undefined>;
  /** Give up `name` if this replica holds it (before its expiry). */
  release(name: string): Promise<void>;
  /** Resolves when nothing is running or ready to run (items waiting out a backoff or a batch interval do not count). */
  idle(): Promise<void>;
  /** Stop taking work; finish what runs (at most `graceMs`); a last batch of each batch kind; what is left stays journaled. */
  close(graceMs?: number): Promise<void>;
}
