import { describe, expect, it } from 'vitest';
import { DeliveryLog, KeyedQueue, logWorkError } from '../../src/app/queue.js';
import { RunInProgressError } from '../../src/app/workflow-job.js';

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

describe('logWorkError', () => {
  const recorder = () => {
    const lines: { level: string; fields: object; message: string }[] = [];
    return { lines, log: { warn: (fields: object, message: string) => lines.push({ level: 'warn', fields, message }), info: (fields: object, message: string) => lines.push({ level: 'info', fields, message }) } };
  };

  it('logs a run still in progress as a wait at info, not as a failure', () => {
    const { lines, log } = recorder();
    logWorkError(log, { id: 'firewall-run:o/r:1:1', kind: 'firewall-run', attempts: 2 }, new RunInProgressError('acme/app run 1 (attempt 1) is in_progress'));
    expect(lines).toEqual([{ level: 'info', fields: { id: 'firewall-run:o/r:1:1', kind: 'firewall-run', attempts: 2, err: 'acme/app run 1 (attempt 1) is in_progress' }, message: 'work not ready yet: tried again later' }]);
  });

  it('logs any other error as a failure retried with backoff', () => {
    const { lines, log } = recorder();
    logWorkError(log, { id: 'x', attempts: 1 }, new Error('HTTP 500'));
    expect(lines).toEqual([{ level: 'warn', fields: { id: 'x', attempts: 1, err: 'HTTP 500' }, message: 'work failed: retried with backoff' }]);
    logWorkError(log, { id: 'y', attempts: 1 }, 'not an Error');
    expect(lines[1]?.fields).toEqual({ id: 'y', attempts: 1, err: 'not an Error' });
  });
});
