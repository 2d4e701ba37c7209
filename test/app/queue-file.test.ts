/**
 * The embedded durable work queue (src/app/queue-file.ts): what `add` acknowledged survives a
 * reopen (and a torn last line), ids are handled once, failures are retried with backoff and
 * their last error kept, a failed batch keeps its items, one key runs one item at a time.
 */
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileWorkQueue, JOURNAL_FILE } from '../../src/app/queue-file.js';
import { backoffDelay, WorkNotReadyError, type WorkItem } from '../../src/app/queue.js';

let dir: string;
const opened: FileWorkQueue[] = [];
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'egressctl-queue-'));
});
afterEach(async () => {
  for (const queue of opened.splice(0)) await queue.close(100);
  await rm(dir, { recursive: true, force: true });
});

async function openQueue(options: Parameters<typeof FileWorkQueue.open>[0] = {}): Promise<FileWorkQueue> {
  const queue = await FileWorkQueue.open({ dir, ...options });
  opened.push(queue);
  return queue;
}

describe('FileWorkQueue', () => {
  it('keeps what add acknowledged across a reopen, drops a second add of an id, and ignores a torn last line', async () => {
    const first = await openQueue();
    expect(await first.add({ id: 'job:1', kind: 'observation', key: 'acme/api', data: { n: 1 } })).toBe(true);
    expect(await first.add({ id: 'job:2', kind: 'observation', key: 'acme/web', data: { n: 2 } })).toBe(true);
    expect(await first.add({ id: 'job:1', kind: 'observation', key: 'acme/api', data: { n: 1 } })).toBe(false);
    // No close: as after kill -9. A write torn mid-line follows.
    await appendFile(path.join(dir, JOURNAL_FILE), '{"op":"add","item":{"id":"job:3"');
    opened.splice(0);

    const second = await openQueue();
    expect(second.pendingNow('observation')).toBe(2);
    const seen: unknown[] = [];
    second.handleBatches<{ n: number }>('observation', { intervalMs: 60_000 }, async (items) => {
      seen.push(...items.map((item) => item.data.n));
    });
    await second.flush('observation');
    expect(seen.sort()).toEqual([1, 2]);
    expect(second.pendingNow()).toBe(0);
    // Done ids stay known after another reopen: a redelivery is still dropped.
    await second.close();
    opened.splice(0);
    const third = await openQueue();
    expect(await third.add({ id: 'job:1', kind: 'observation', key: 'acme/api', data: { n: 1 } })).toBe(false);
    expect(third.pendingNow()).toBe(0);
  });

  it('an item not ready yet (WorkNotReadyError) is retried with backoff but never listed as a failure, also after a reopen', async () => {
    const queue = await openQueue();
    let calls = 0;
    queue.handle('watch', async () => {
      calls++;
      if (calls < 3) throw new WorkNotReadyError(`still under way (${calls})`);
    }, { firstMs: 20, maxMs: 1_000 });
    await queue.add({ id: 'watch:1', kind: 'watch', key: 'acme/policies', data: {} });
    await new Promise((resolve) => setTimeout(resolve, 5));
    await queue.idle();
    expect(calls).toBe(1);
    expect(await queue.failures()).toEqual([]);
    expect(await queue.pending()).toBe(1);
    await queue.close(100);
    opened.splice(0);
    const reopened = await openQueue();
    expect(await reopened.failures()).toEqual([]);
    reopened.handle('watch', async () => {
      calls++;
      if (calls < 3) throw new WorkNotReadyError(`still under way (${calls})`);
    }, { firstMs: 20, maxMs: 1_000 });
    const deadline = Date.now() + 20_000;
    while (calls < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    await reopened.idle();
    expect(calls).toBe(3);
    expect(await reopened.pending()).toBe(0);
  });

  it('retries a failing item with exponential backoff, keeping its last error until it succeeds', async () => {
    const queue = await openQueue();
    let calls = 0;
    queue.handle('sync', async () => {
      calls++;
      if (calls < 3) throw new Error(`GitHub answered 500 (attempt ${calls})`);
    }, { firstMs: 20, maxMs: 1_000 });
    await queue.add({ id: 'sync:acme/api', kind: 'sync', key: 'acme/api', data: {} });
    await new Promise((resolve) => setTimeout(resolve, 5));
    await queue.idle();
    expect((await queue.failures())[0]).toMatchObject({ id: 'sync:acme/api', attempts: 1, lastError: 'GitHub answered 500 (attempt 1)' });
    const deadline = Date.now() + 20_000;
    while (calls < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    await queue.idle();
    expect(calls).toBe(3);
    expect(await queue.failures()).toEqual([]);
    expect(await queue.pending()).toBe(0);
    expect([1, 2, 3, 20].map((attempts) => backoffDelay({ firstMs: 60_000, maxMs: 3_600_000 }, attempts))).toEqual([60_000, 120_000, 240_000, 3_600_000]);
  });

  it('a failed batch keeps all its items, journaled with the error, for the next batch', async () => {
    const queue = await openQueue();
    let fail = true;
    const committed: string[] = [];
    queue.handleBatches('observation', { intervalMs: 60_000 }, async (items: WorkItem[]) => {
      if (fail) throw new Error('committing baselines failed');
      committed.push(...items.map((item) => item.id));
    });
    for (const id of ['a', 'b']) await queue.add({ id, kind: 'observation', key: 'acme/api', data: {} });
    await queue.flush('observation');
    expect(queue.pendingNow()).toBe(2);
    expect((await queue.failures()).map((failure) => failure.lastError)).toEqual(['committing baselines failed', 'committing baselines failed']);
    expect(await readFile(path.join(dir, JOURNAL_FILE), 'utf8')).toContain('committing baselines failed');
    fail = false;
    await queue.flush('observation');
    expect(committed).toEqual(['a', 'b']);
    expect(queue.pendingNow()).toBe(0);
  });

  it('runs one item per key at a time, different keys in parallel', async () => {
    const queue = await openQueue();
    const active = new Map<string, number>();
    let overlapSameKey = false;
    let parallel = 0;
    queue.handle<{ key: string }>('sync', async (item) => {
      const now = (active.get(item.key) ?? 0) + 1;
      active.set(item.key, now);
      if (now > 1) overlapSameKey = true;
      parallel = Math.max(parallel, [...active.values()].reduce((sum, value) => sum + value, 0));
      await new Promise((resolve) => setTimeout(resolve, 20));
      active.set(item.key, now - 1);
    });
    await Promise.all(['a', 'a', 'a', 'b', 'b'].map((key, index) => queue.add({ id: `${key}${index}`, kind: 'sync', key, data: { key } })));
    await queue.idle();
    expect(overlapSameKey).toBe(false);
    expect(parallel).toBe(2);
    expect(queue.pendingNow()).toBe(0);
  });
});

describe('fan-in (the publish check waits for every repository sync of its publish)', () => {
  it('completes once, for the settle that leaves nothing expected, across a reopen; a unit settled is not expected again', async () => {
    const first = await openQueue();
    await first.openFanIn('publish:1', { check: 7 }, ['plan']);
    await first.expectInFanIn('publish:1', ['repo:a', 'repo:b']);
    expect(await first.settleInFanIn('publish:1', 'plan', [])).toBeUndefined();
    expect(await first.settleInFanIn('publish:1', 'repo:a', [{ target: 'acme/a', reason: 'Server Error' }])).toBeUndefined();
    // As after kill -9: a restart re-runs the plan, which expects its units again.
    opened.splice(0);
    const second = await openQueue();
    await second.expectInFanIn('publish:1', ['repo:a', 'repo:b']);
    expect(await second.settleInFanIn('publish:1', 'repo:a', [])).toBeUndefined();
    expect(await second.settleInFanIn('publish:1', 'repo:b', [])).toEqual({ payload: { check: 7 }, failures: [{ target: 'acme/a', reason: 'Server Error' }] });
    expect(await second.settleInFanIn('publish:1', 'repo:b', [])).toBeUndefined();
    opened.splice(0);
    const third = await openQueue();
    expect(await third.settleInFanIn('publish:1', 'repo:c', [])).toBeUndefined();
  });
});
