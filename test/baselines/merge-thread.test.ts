/** A large baseline merge runs in a worker thread: the same text, and the event loop stays free (issue 24.2). */
import { describe, expect, it } from 'vitest';
import { emptyBaselineFile, MAX_NAMES_PER_RUN, mergeBaselineText, mergeBaselineTextOffThread, mergeObservations, renderBaselineFile, type Observation } from '../../src/baselines/index.js';

const names = (prefix: string, count: number) => Array.from({ length: count }, (_, index) => `${prefix}${index}.blocked.example.com`);
const run = (id: string, blocked: string[]): Observation => ({ workflow: 'ci.yml', job: 'build', runId: id, at: '2026-01-01T00:00:00Z', endpoints: [], blocked });

function bigFile(runs: number): string {
  let file = emptyBaselineFile('acme/api');
  for (let index = 0; index < runs; index++) file = mergeObservations(file, [run(String(index), names(`r${index}-`, MAX_NAMES_PER_RUN))]).file;
  return renderBaselineFile(file);
}

describe('mergeBaselineTextOffThread', () => {
  it('gives what the in-process merge gives, and keeps the event loop answering while it works', async () => {
    const previous = bigFile(2);
    const input = { repository: 'acme/api', path: 'baselines/acme/api.yml', previous, observations: [run('next', names('new-', MAX_NAMES_PER_RUN))] };
    const expected = mergeBaselineText(input);
    expect(expected).toMatchObject({ merged: 1, skipped: 0 });

    let longestGap = 0;
    let last = performance.now();
    const ticker = setInterval(() => {
      const now = performance.now();
      longestGap = Math.max(longestGap, now - last);
      last = now;
    }, 10);
    try {
      const outcome = await mergeBaselineTextOffThread(input, { thresholdBytes: 0 });
      // The gap up to now counts too: work done in-process would leave no tick behind it.
      longestGap = Math.max(longestGap, performance.now() - last);
      expect(outcome).toEqual(expected);
    } finally {
      clearInterval(ticker);
    }
    // In-process, this merge holds the loop for seconds; in the worker the ticker keeps running.
    expect(longestGap).toBeLessThan(750);
  }, 120_000);

  it('runs small merges in-process and reports a worker failure as an error', async () => {
    const small = await mergeBaselineTextOffThread({ repository: 'acme/api', path: 'baselines/acme/api.yml', previous: undefined, observations: [run('1', ['ok.example.com'])] });
    expect(small).toMatchObject({ merged: 1, content: expect.stringContaining('ok.example.com') });
    await expect(
      mergeBaselineTextOffThread({ repository: 'acme/api', path: 'baselines/acme/api.yml', previous: undefined, observations: [{ ...run('1', []), workflow: 'other/repo/.github/workflows/x.yml' }] }, { thresholdBytes: -1 }),
    ).rejects.toThrow(/merging baselines\/acme\/api\.yml failed: .*not a workflow file of acme\/api/);
  });
});
