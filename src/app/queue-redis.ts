/**
 * The work queue for several replicas (docs/github-app.md, "Durable work"): BullMQ on one Redis.
 * - `add` claims the item's id with SET NX first (a day): the same delivery or job arriving at
 *   two replicas is queued once; the job is in Redis when `add` resolves.
 * - Handlers are BullMQ workers, one queue per kind. One item per key at a time across replicas:
 *   a worker takes a Redis lock on the key (renewed while it runs), and when another run holds
 *   it, here or on another replica, puts its job back a moment later (a DelayedError, which costs
 *   no attempt). A replica killed in the middle stops renewing BullMQ's job lock and ours
 *   (`lockMs`); another replica's stalled-job check finds the job and runs it once the key's lock
 *   expired: no claim outlives its holder by more than `lockMs`.
 * - Fan-ins (the publish check waits for every repository sync of its publish) are Redis sets
 *   settled by a script, so exactly one settle completes each.
 * - Failures are retried with the same exponential backoff as the embedded queue (a custom
 *   backoff strategy), practically without limit; BullMQ keeps the last error (failedReason).
 * - Batches (observations) wait in their queue with no worker; a repeatable flush job, which
 *   BullMQ creates once across replicas, hands them to one replica (under a lock), which removes
 *   them only after the batch handler succeeded.
 * - `claim(name, ttl)`: one replica runs a scheduled task (the full sync) per period.
 */
import { randomUUID } from 'node:crypto';
import { DelayedError, Queue, Worker, type ConnectionOptions, type Job } from 'bullmq';
import { messageOf } from '../util/errors.js';
import {
  backoffDelay,
  DEFAULT_BACKOFF,
  WorkNotReadyError,
  type BackoffPolicy,
  type BatchOptions,
  type FanInDone,
  type FanInFailure,
  type NewWork,
  type QueueFailure,
  type WorkItem,
  type WorkLease,
  type WorkQueue,
} from './queue.js';
import { LostOwnershipError } from '../github/write-fence.js';

export interface RedisWorkQueueOptions {
  /** redis://[user:password@]HOST:PORT[/DB] (rediss:// for TLS). */
  url: string;
  /** Key prefix in Redis; replicas of one App share it. Default `egressctl`. */
  prefix?: string;
  /** Items handled at once by this replica, per kind. Default 8. */
  concurrency?: number;
  /**
   * BullMQ's job lock and our lock on the item's key last this long unless renewed (at half of
   * it, while the handler runs): a killed replica's job is found stalled within about this plus
   * `stalledMs`, and handed to another replica. Default 10 s.
   */
  lockMs?: number;
  /** How often each replica looks for stalled jobs. Default 5 s. */
  stalledMs?: number;
  onError?: (item: WorkItem, error: unknown) => void;
}

/** Job data: the item without its retry state (BullMQ keeps attempts and the last error). */
/** `waits`: attempts that threw WorkNotReadyError (moved back to delayed: no attempt counted, no failedReason). */
type JobData = NewWork & { addedAt: number; waits?: number };

const ATTEMPTS = 1_000_000;
const SEEN_TTL_SECONDS = 24 * 60 * 60;
/** A fan-in's keys live this long (a publish whose syncs never all ran is forgotten after a week). */
const FAN_IN_TTL_MS = 7 * 24 * 60 * 60 * 1000;

// KEYS: hash, expected, settled, failures, done. ARGV: ttl, payload (or '' to add only), count prefix, units...
// Returns how many units (expected or settled) start with the prefix.
const FAN_IN_EXPECT = `
if redis.call('exists', KEYS[5]) == 1 then return 0 end
if ARGV[2] ~= '' then redis.call('hsetnx', KEYS[1], 'payload', ARGV[2]) end
if redis.call('hexists', KEYS[1], 'payload') == 0 then return 0 end
for i = 4, #ARGV do
  if redis.call('sismember', KEYS[3], ARGV[i]) == 0 then redis.call('sadd', KEYS[2], ARGV[i]) end
end
for i = 1, 4 do redis.call('pexpire', KEYS[i], ARGV[1]) end
local prefix = ARGV[3]
local count = 0
for _, key in ipairs({ KEYS[2], KEYS[3] }) do
  for _, unit in ipairs(redis.call('smembers', key)) do
    if string.sub(unit, 1, #prefix) == prefix then count = count + 1 end
  end
end
return count`;
// KEYS as above. ARGV: ttl, unit, failures (JSON each)... Returns {payload, failures...} to the one settle that empties it.
const FAN_IN_SETTLE = `
if redis.call('exists', KEYS[5]) == 1 then return false end
if redis.call('hexists', KEYS[1], 'payload') == 0 then return false end
if redis.call('sadd', KEYS[3], ARGV[2]) == 0 then return false end
redis.call('srem', KEYS[2], ARGV[2])
for i = 3, #ARGV do redis.call('rpush', KEYS[4], ARGV[i]) end
for i = 1, 4 do redis.call('pexpire', KEYS[i], ARGV[1]) end
if redis.call('scard', KEYS[2]) > 0 then return false end
redis.call('set', KEYS[5], '1', 'PX', ARGV[1])
local result = { redis.call('hget', KEYS[1], 'payload') }
for _, failure in ipairs(redis.call('lrange', KEYS[4], 0, -1)) do table.insert(result, failure) end
redis.call('del', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
return result`;
// KEYS: lock. ARGV: value, ttl. Our lock (or a free one) is ours for ttl more.
const KEY_LOCK = `
local held = redis.call('get', KEYS[1])
if held and held ~= ARGV[1] then return 0 end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;
// KEYS: lock. ARGV: value, ttl. Renewal: only a lock still ours. One that expired (the event loop
// blocked past it) is lost, never taken again: another replica may hold the key, or take it now.
const KEY_LOCK_EXTEND = `
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('pexpire', KEYS[1], ARGV[2])
return 1`;

export function redisConnection(url: string): ConnectionOptions {
  const parsed = new URL(url);
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : undefined;
  return {
    host: parsed.hostname,
    port: parsed.port ? Number(parsed.port) : 6379,
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(db !== undefined && Number.isInteger(db) ? { db } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
    // Workers block on Redis; BullMQ asks for this.
    maxRetriesPerRequest: null,
  };
}

/** BullMQ job ids may not contain ':'. */
function jobIdOf(id: string): string {
  return Buffer.from(id).toString('base64url');
}

export class RedisWorkQueue implements WorkQueue {
  readonly description: string;
  private readonly connection: ConnectionOptions;
  private readonly prefix: string;
  private readonly queues = new Map<string, Queue>();
  private readonly workers = new Map<string, Worker>();
  private readonly batches = new Map<string, { run: (items: WorkItem[], lease: WorkLease) => Promise<void>; options: BatchOptions; lastError?: string }>();
  private readonly owner = randomUUID();
  /** `kind\0key` of the items this replica runs now. */
  private readonly runningKeys = new Set<string>();
  private closed = false;

  private constructor(private readonly options: RedisWorkQueueOptions) {
    this.connection = redisConnection(options.url);
    this.prefix = options.prefix ?? 'egressctl';
    const shown = new URL(options.url);
    shown.password = '';
    this.description = `redis ${shown.host}`;
  }

  static async open(options: RedisWorkQueueOptions): Promise<RedisWorkQueue> {
    const queue = new RedisWorkQueue(options);
    // Fail at start, with the address, rather than at the first webhook.
    let timer: NodeJS.Timeout | undefined;
    const reached = (async () => (await queue.redis()).get(`${queue.prefix}:ping`))();
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`cannot reach Redis at ${queue.description.slice('redis '.length)} within 10 s`)), 10_000);
    });
    try {
      await Promise.race([reached, timeout]);
    } catch (error) {
      await queue.close(0);
      throw error;
    } finally {
      clearTimeout(timer);
    }
    return queue;
  }

  private queue(kind: string): Queue {
    let queue = this.queues.get(kind);
    if (!queue) {
      queue = new Queue(`${this.prefix}-${kind}`, { connection: this.connection, prefix: this.prefix });
      this.queues.set(kind, queue);
    }
    return queue;
  }

  private commandsDefined = false;

  /** The control connection, with our two scripts (SET NX PX, compare-and-delete). */
  private async redis() {
    const client = await this.queue('control').client;
    if (!this.commandsDefined) {
      client.defineCommand('egressctlClaim', { numberOfKeys: 1, lua: "if redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 1 else return 0 end" });
      // Only our own lock: it may have expired and been taken by another replica meanwhile.
      client.defineCommand('egressctlRelease', { numberOfKeys: 1, lua: "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end" });
      client.defineCommand('egressctlKeyLock', { numberOfKeys: 1, lua: KEY_LOCK });
      client.defineCommand('egressctlKeyLockExtend', { numberOfKeys: 1, lua: KEY_LOCK_EXTEND });
      client.defineCommand('egressctlFanInExpect', { numberOfKeys: 5, lua: FAN_IN_EXPECT });
      client.defineCommand('egressctlFanInSettle', { numberOfKeys: 5, lua: FAN_IN_SETTLE });
      this.commandsDefined = true;
    }
    return client;
  }

  /** SET NX with expiry: true for the one caller that got it. */
  async claim(name: string, ttlMs: number, value: string = this.owner): Promise<boolean> {
    const client = await this.redis();
    return Number(await client.runCommand('egressctlClaim', [`${this.prefix}:claim:${name}`, value, Math.max(1, Math.round(ttlMs))])) === 1;
  }

  async release(name: string, value: string = this.owner): Promise<void> {
    const client = await this.redis();
    await client.runCommand('egressctlRelease', [`${this.prefix}:claim:${name}`, value]);
  }

  private fanInKeys(id: string): string[] {
    const base = `${this.prefix}:fanin:${Buffer.from(id).toString('base64url')}`;
    return [base, `${base}:expected`, `${base}:settled`, `${base}:failures`, `${base}:done`];
  }

  async openFanIn(id: string, payload: unknown, expected: readonly string[]): Promise<void> {
    const client = await this.redis();
    await client.runCommand('egressctlFanInExpect', [...this.fanInKeys(id), FAN_IN_TTL_MS, JSON.stringify(payload), '', ...expected]);
  }

  async expectInFanIn(id: string, units: readonly string[], countPrefix = ''): Promise<number> {
    const client = await this.redis();
    return Number(await client.runCommand('egressctlFanInExpect', [...this.fanInKeys(id), FAN_IN_TTL_MS, '', countPrefix, ...units]));
  }

  async settleInFanIn<P>(id: string, unit: string, failures: readonly FanInFailure[]): Promise<FanInDone<P> | undefined> {
    const client = await this.redis();
    const result = (await client.runCommand('egressctlFanInSettle', [...this.fanInKeys(id), FAN_IN_TTL_MS, unit, ...failures.map((failure) => JSON.stringify(failure))])) as string[] | null;
    if (!result || result.length === 0) return undefined;
    const [payload, ...rest] = result;
    return { payload: JSON.parse(payload!) as P, failures: rest.map((text) => JSON.parse(text) as FanInFailure) };
  }

  async add<T>(work: NewWork<T>): Promise<boolean> {
    const client = await this.redis();
    if (Number(await client.runCommand('egressctlClaim', [`${this.prefix}:seen:${work.id}`, '1', SEEN_TTL_SECONDS * 1000])) !== 1) return false;
    const data: JobData = { ...work, addedAt: Date.now() };
    try {
      await this.queue(work.kind).add(work.kind, data, {
        jobId: jobIdOf(work.id),
        attempts: ATTEMPTS,
        backoff: { type: 'egressctl' },
        removeOnComplete: true,
        removeOnFail: false,
      });
    } catch (error) {
      await client.del(`${this.prefix}:seen:${work.id}`);
      throw error;
    }
    return true;
  }

  private itemOf(job: Job<JobData>): WorkItem {
    return {
      ...job.data,
      attempts: job.attemptsMade,
      ...(job.failedReason ? { lastError: job.failedReason } : {}),
      notBefore: job.timestamp + (job.delay ?? 0),
    };
  }

  handle<T>(kind: string, handler: (item: WorkItem<T>, lease: WorkLease) => Promise<void>, backoff: BackoffPolicy = DEFAULT_BACKOFF): void {
    const lockMs = this.options.lockMs ?? 10_000;
    const worker = new Worker<JobData>(
      `${this.prefix}-${kind}`,
      async (job, token) => {
        const lock = `${this.prefix}:claim:key:${kind}:${job.data.key}`;
        // Held by this replica for this job and renewed while it runs: a killed replica's lock
        // expires within `lockMs`, about when BullMQ hands its stalled job to another replica.
        const holder = `${this.owner}:${job.id ?? ''}`;
        const local = `${kind}\0${job.data.key}`;
        const client = await this.redis();
        const lockKey = async () => Number(await client.runCommand('egressctlKeyLock', [lock, holder, lockMs])) === 1;
        const extendKey = async () => Number(await client.runCommand('egressctlKeyLockExtend', [lock, holder, lockMs])) === 1;
        // Never two runs of one key in this process either (BullMQ may hand a job it thinks stalled to the replica still running it).
        if (this.runningKeys.has(local) || !(await lockKey())) {
          // Another job of this key runs (on this or another replica): try again shortly, without counting an attempt.
          await job.moveToDelayed(Date.now() + 200, token);
          throw new DelayedError();
        }
        this.runningKeys.add(local);
        const renew = setInterval(() => void extendKey().catch(() => undefined), Math.max(100, Math.floor(lockMs / 2)));
        renew.unref?.();
        // Held while BullMQ's job lock is still this run's token (checked and extended at once)
        // and the key's lock still this run's: BullMQ hands a job whose lock expired to another worker.
        const lease: WorkLease = { owned: async () => (token === undefined || Number(await job.extendLock(token, lockMs)) === 1) && (await extendKey()) };
        let waitFor: number | undefined;
        try {
          await handler(this.itemOf(job) as WorkItem<T>, lease);
        } catch (error) {
          this.options.onError?.({ ...this.itemOf(job), attempts: job.attemptsMade + 1, lastError: messageOf(error) }, error);
          if (error instanceof LostOwnershipError) {
            // Not ours any more: no failure and no retry from here. Should BullMQ's lock still be
            // this run's (only the key's was lost), the job goes back to wait for the key, costing
            // no attempt; otherwise BullMQ refuses this run's moves and the holder's run counts.
            try {
              await job.moveToDelayed(Date.now() + 200, token);
            } catch {
              return;
            }
            throw new DelayedError();
          }
          if (!(error instanceof WorkNotReadyError)) throw error;
          // Waiting, not failed: back to delayed with the same growing backoff, leaving no failedReason.
          const waits = (job.data.waits ?? 0) + 1;
          await job.updateData({ ...job.data, waits });
          waitFor = backoffDelay(backoff, waits);
        } finally {
          clearInterval(renew);
          this.runningKeys.delete(local);
          await client.runCommand('egressctlRelease', [lock, holder]);
        }
        if (waitFor !== undefined) {
          await job.moveToDelayed(Date.now() + waitFor, token);
          throw new DelayedError();
        }
      },
      {
        connection: this.connection,
        prefix: this.prefix,
        concurrency: this.options.concurrency ?? 8,
        lockDuration: lockMs,
        stalledInterval: this.options.stalledMs ?? 5_000,
        // A job whose replica died is handed over however often that happens: never failed for it.
        maxStalledCount: ATTEMPTS,
        settings: { backoffStrategy: (attemptsMade: number) => backoffDelay(backoff, attemptsMade) },
      },
    );
    worker.on('error', () => undefined);
    this.workers.set(kind, worker);
  }

  handleBatches<T>(kind: string, options: BatchOptions, handler: (items: WorkItem<T>[], lease: WorkLease) => Promise<void>): void {
    this.batches.set(kind, { run: handler as (items: WorkItem[], lease: WorkLease) => Promise<void>, options });
    const control = `flush-${kind}`;
    // One repeatable job across replicas (BullMQ keys it by name and interval).
    void this.queue(control)
      .upsertJobScheduler(`flush-${kind}`, { every: options.intervalMs }, { name: control, data: {} })
      .catch(() => undefined);
    const worker = new Worker(`${this.prefix}-${control}`, async () => this.flush(kind), { connection: this.connection, prefix: this.prefix, concurrency: 1 });
    worker.on('error', () => undefined);
    this.workers.set(control, worker);
  }

  async flush(kind: string): Promise<void> {
    const batch = this.batches.get(kind);
    if (!batch) return;
    const lock = `flush:${kind}`;
    const lockMs = this.options.lockMs ?? 10_000;
    // This run's own value (not the replica's): a later flush of this replica is another holder.
    const holder = `${this.owner}:${randomUUID()}`;
    // One replica at a time commits a batch; the other's items wait for the next. The claim lives a
    // lock period and is renewed while the batch runs, like a job's lock: a replica that dies or
    // whose event loop blocks past it loses the batch to the next flush, and its lease says so.
    if (!(await this.claim(lock, lockMs, holder))) return;
    const client = await this.redis();
    const extend = async () => Number(await client.runCommand('egressctlKeyLockExtend', [`${this.prefix}:claim:${lock}`, holder, lockMs])) === 1;
    const renew = setInterval(() => void extend().catch(() => undefined), Math.max(100, Math.floor(lockMs / 2)));
    renew.unref?.();
    const lease: WorkLease = { owned: extend };
    try {
      const jobs = (await this.queue(kind).getJobs(['waiting', 'prioritized', 'delayed', 'paused'], 0, 9_999)) as Job<JobData>[];
      if (jobs.length === 0) return;
      try {
        await batch.run(
          jobs.map((job) => this.itemOf(job)),
          lease,
        );
        delete batch.lastError;
      } catch (error) {
        this.options.onError?.(this.itemOf(jobs[0]!), error);
        // Taken over: not this batch's error; its items are the holder's to commit and remove.
        if (error instanceof LostOwnershipError) return;
        batch.lastError = messageOf(error);
        throw error;
      }
      await Promise.all(jobs.map((job) => job.remove().catch(() => undefined)));
    } finally {
      clearInterval(renew);
      await this.release(lock, holder);
    }
  }

  async retryNow(kind: string): Promise<void> {
    const jobs = (await this.queue(kind).getJobs(['delayed'], 0, 9_999)) as Job<JobData>[];
    await Promise.all(jobs.filter((job) => job.attemptsMade > 0).map((job) => job.promote().catch(() => undefined)));
  }

  private kinds(): string[] {
    return [...new Set([...this.workers.keys(), ...this.batches.keys()].filter((kind) => !kind.startsWith('flush-')))];
  }

  async pending(kind?: string): Promise<number> {
    let count = 0;
    for (const name of kind === undefined ? this.kinds() : [kind]) {
      const counts = await this.queue(name).getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'paused');
      count += Object.values(counts).reduce((sum, value) => sum + value, 0);
    }
    return count;
  }

  async failures(): Promise<QueueFailure[]> {
    const found: QueueFailure[] = [];
    for (const kind of this.kinds()) {
      const jobs = (await this.queue(kind).getJobs(['delayed', 'waiting'], 0, 999)) as Job<JobData>[];
      for (const job of jobs) if (job.failedReason) found.push({ id: job.data.id, kind, key: job.data.key, attempts: job.attemptsMade, lastError: job.failedReason });
      const batch = this.batches.get(kind);
      if (batch?.lastError) for (const job of jobs) found.push({ id: job.data.id, kind, key: job.data.key, attempts: 1, lastError: batch.lastError });
    }
    return found;
  }

  async idle(): Promise<void> {
    const handled = [...this.workers.keys()].filter((kind) => !kind.startsWith('flush-'));
    for (;;) {
      let busy = 0;
      for (const kind of handled) {
        const counts = await this.queue(kind).getJobCounts('waiting', 'active', 'prioritized');
        busy += Object.values(counts).reduce((sum, value) => sum + value, 0);
        // Delayed only by a key's lock (no attempt made yet) is about to run.
        const delayed = (await this.queue(kind).getJobs(['delayed'], 0, 999)) as Job<JobData>[];
        busy += delayed.filter((job) => job.attemptsMade === 0).length;
      }
      if (busy === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  async close(graceMs = 10_000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
      timer.unref?.();
    });
    const finish = (async () => {
      // Workers finish the jobs they hold; what they have not taken stays in Redis for the others.
      await Promise.all([...this.workers.values()].map((worker) => worker.close()));
      for (const kind of this.batches.keys()) await this.flush(kind).catch(() => undefined);
    })();
    await Promise.race([finish, deadline]);
    clearTimeout(timer);
    await Promise.all([...this.workers.values()].map((worker) => worker.close(true).catch(() => undefined)));
    await Promise.all([...this.queues.values()].map((queue) => queue.close().catch(() => undefined)));
  }
}
