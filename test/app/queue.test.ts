import { describe, expect, it } from 'vitest';
import { DeliveryLog, KeyedQueue } from '../../src/app/queue.js';

describe('DeliveryLog', () => {
  it('claims an id once, forgets released ids, and keeps only the newest ones', () => {
    const log = new DeliveryLog(3);
    expect(log.claim('a')).toBe(true);
    expect(log.claim('a')).toBe(false);
    log.release('a');
    expect(log.claim('a')).toBe(true);
    for (const id of ['b', 'c', 'd']) expect(log.claim(id)).toBe(true);
    expect(log.size).toBe(3);
    // `a` was the oldest: evicted, so it counts as new again.
    expect(log.claim('a')).toBe(true);
    expect(log.claim('d')).toBe(false);
  });

  it('refreshes an id that keeps coming, so it is not evicted first', () => {
    const log = new DeliveryLog(2);
    log.claim('x');
    log.claim('y');
    expect(log.claim('x')).toBe(false);
    log.claim('z'); // evicts y, the least recently seen
    expect(log.claim('x')).toBe(false);
    expect(log.claim('y')).toBe(true);
  });

  it('rejects a capacity that is not a positive integer', () => {
    expect(() => new DeliveryLog(0)).toThrow(RangeError);
  });
});

describe('KeyedQueue', () => {
  it('runs tasks of one key one at a time, in order, and other keys in parallel', async () => {
    const queue = new KeyedQueue();
    const events: string[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const first = queue.run('repo', async () => {
      events.push('a:start');
      await gate;
      events.push('a:end');
      throw new Error('a failed');
    });
    const second = queue.run('repo', async () => {
      events.push('b');
      return 2;
    });
    const other = queue.run('other', async () => {
      events.push('other');
      return 3;
    });
    expect(await other).toBe(3);
    expect(events).toEqual(['a:start', 'other']);
    release();
    await expect(first).rejects.toThrow('a failed');
    expect(await second).toBe(2);
    expect(events).toEqual(['a:start', 'other', 'a:end', 'b']);
    await queue.idle();
    expect(queue.busy).toBe(0);
  });
});
