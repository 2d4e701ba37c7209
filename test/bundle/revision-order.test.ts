import { describe, expect, it } from 'vitest';
import { publishOrdering, stepsBack } from '../../src/bundle/revision-order.js';

const old = { revision: 'a', committedAt: '2026-01-01T00:00:00Z' };
const recent = { revision: 'b', committedAt: '2026-02-01T00:00:00Z' };

describe('stepsBack', () => {
  it('refuses an older committedAt, accepts a newer one', async () => {
    expect(await stepsBack(recent, old, { kind: 'committed-at' })).toMatch(/is older than the served b/);
    expect(await stepsBack(old, recent, { kind: 'committed-at' })).toBeUndefined();
    expect(await stepsBack(recent, old, { kind: 'content' })).toBeUndefined();
  });

  it('orders a publish by ancestry when the publisher can tell, else by date', async () => {
    expect(await stepsBack(old, recent, publishOrdering(async () => false), 'published')).toMatch(/does not descend from the published a/);
    expect(await stepsBack(recent, old, publishOrdering(async () => true), 'published')).toBeUndefined();
    expect(await stepsBack(recent, old, publishOrdering(async () => undefined), 'published')).toMatch(/older than the published b/);
    expect(await stepsBack(recent, old, publishOrdering(), 'published')).toMatch(/older than the published/);
  });

  it('refuses an unknown served commit for a git source unless rewinds are allowed', async () => {
    const relation = async (): Promise<'unknown'> => 'unknown';
    expect(await stepsBack(old, recent, { kind: 'git', allowRewind: false, onUnknown: 'refuse', relation })).toMatch(/--allow-rewind/);
    expect(await stepsBack(old, recent, { kind: 'git', allowRewind: true, onUnknown: 'refuse', relation })).toBeUndefined();
  });
});
