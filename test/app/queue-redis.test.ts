/**
 * The Redis work queue's fan-in (src/app/queue-redis.ts) on a real redis-server: two replicas
 * settle the units of one publish at the same time, and exactly one of them gets it complete.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { RedisWorkQueue } from '../../src/app/queue-redis.js';
import { WorkNotReadyError, type WorkLease } from '../../src/app/queue.js';
import { LostOwnershipError } from '../../src/github/write-fence.js';
import { redisMissing, startRedis, type RunningRedis } from '../support/redis.js';

const missing = redisMissing();
if (missing) console.log(missing);
let redis: RunningRedis | undefined;
const queues: RedisWorkQueue[] = [];
beforeEach(async () => {
  if (!missing) redis = await startRedis();
});
afterEach(async () => {
  for (const queue of queues.splice(0)) await queue.close(100);
  await redis?.close();
});

it.skipIf(missing !== undefined)('a fan-in settled by two replicas at once completes exactly once, with every failure', async () => {
  const [a, b] = await Promise.all([RedisWorkQueue.open({ url: redis!.url }), RedisWorkQueue.open({ url: redis!.url })]);
  queues.push(a!, b!);
  const units = Array.from({ length: 40 }, (_, index) => `repo:${index}`);
  await a!.openFanIn('publish:9', { check: 9 }, ['plan']);
  await b!.expectInFanIn('publish:9', units);
  // Expected again (a re-run after a crash), including one already settled: harmless.
  await b!.settleInFanIn('publish:9', 'plan', []);
  // The units so far, settled or not, counted by prefix (the publish check's "syncing N repositories").
  expect(await a!.expectInFanIn('publish:9', [...units, 'plan'], 'repo:')).toBe(40);
  expect(await a!.expectInFanIn('publish:9', [])).toBe(41);
  const settled = await Promise.all(units.map((unit, index) => (index % 2 === 0 ? a! : b!).settleInFanIn('publish:9', unit, index % 10 === 0 ? [{ target: `acme/${index}`, reason: 'failed' }] : [])));
  const done = settled.filter((result) => result !== undefined);
  expect(done).toHaveLength(1);
  expect(done[0]!.payload).toEqual({ check: 9 });
  expect(done[0]!.failures.map((failure) => failure.target).sort()).toEqual(['acme/0', 'acme/10', 'acme/20', 'acme/30']);
  expect(await a!.settleInFanIn('publish:9', 'repo:1', [])).toBeUndefined();
  // Done: nothing to count.
  expect(await b!.expectInFanIn('publish:9', ['repo:99'], 'repo:')).toBe(0);
}, 60_000);

it.skipIf(missing !== undefined)('an item not ready yet (WorkNotReadyError) is retried with backoff but never listed as a failure', async () => {
  const queue = await RedisWorkQueue.open({ url: redis!.url });
  queues.push(queue);
  let calls = 0;
  queue.handle('watch', async () => {
    calls++;
    if (calls < 3) throw new WorkNotReadyError(`still under way (${calls})`);
  }, { firstMs: 50, maxMs: 1_000 });
  await queue.add({ id: 'watch:1', kind: 'watch', key: 'acme/policies', data: {} });
  const deadline = Date.now() + 10_000;
  while (calls < 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  await new Promise((resolve) => setTimeout(resolve, 20));
  expect(await queue.failures()).toEqual([]);
  while (calls < 3 && Date.now() < deadline) {
    expect(await queue.failures()).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  expect(calls).toBe(3);
  while ((await queue.pending()) > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  expect(await queue.pending()).toBe(0);
}, 60_000);

it.skipIf(missing !== undefined)('a run whose event loop blocked past its lock is told it no longer holds the item; another replica runs it, once (race 3)', async () => {
  const options = { url: redis!.url, lockMs: 1_000, stalledMs: 300 };
  const [a, b] = [await RedisWorkQueue.open(options), await RedisWorkQueue.open(options)];
  queues.push(a, b);
  const runs: { replica: string; before?: boolean; after?: boolean; takenMeanwhile?: boolean }[] = [];
  let taken = false;
  const lost: unknown[] = [];
  const handler = (replica: string) => async (_item: unknown, lease: WorkLease): Promise<void> => {
    const run: { replica: string; before?: boolean; after?: boolean; takenMeanwhile?: boolean } = { replica };
    runs.push(run);
    if (runs.length > 1) {
      taken = true;
      return;
    }
    run.before = await lease.owned();
    // The event loop blocked for 2.5 locks (a long GC pause, a synchronous parse): no renewal, the lock expires in Redis.
    const until = Date.now() + 2_500;
    while (Date.now() < until) {
      // Busy: nothing else of this process runs, timers included.
    }
    const deadline = Date.now() + 15_000;
    while (!taken && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    run.takenMeanwhile = taken;
    run.after = await lease.owned();
    if (!run.after) {
      const error = new LostOwnershipError('lost');
      lost.push(error);
      throw error;
    }
  };
  a.handle('repository-sync', handler('a'));
  await a.add({ id: 'repository-sync:acme/web@1', kind: 'repository-sync', key: 'acme/web', data: {} });
  const deadline = Date.now() + 10_000;
  while (runs.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  // Replica b starts working the same kind while a's run holds the item.
  b.handle('repository-sync', handler('b'));
  while ((!taken || runs[0]!.after === undefined) && Date.now() < deadline + 15_000) await new Promise((resolve) => setTimeout(resolve, 20));
  // Handed over while the blocked run still ran (its key's lock expired with the job's: it is not taken back by its renewal).
  expect(runs[0]).toEqual({ replica: 'a', before: true, takenMeanwhile: true, after: false });
  expect(lost).toHaveLength(1);
  while ((await a.pending()) > 0 && Date.now() < deadline + 20_000) await new Promise((resolve) => setTimeout(resolve, 20));
  expect(await a.pending()).toBe(0);
  // The blocked run and the one run that took over; no failure left behind by the run that lost it.
  expect(runs).toHaveLength(2);
  expect(await a.failures()).toEqual([]);
}, 60_000);
