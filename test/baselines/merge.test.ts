import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mergeObservation, mergeObservations } from '../../src/baselines/merge.js';
import { RECENT_RUNS_LIMIT, emptyBaselineFile, type BaselineFile, type Observation } from '../../src/baselines/model.js';
import { renderBaselineFile } from '../../src/baselines/render.js';
import { InvalidInputError } from '../../src/util/errors.js';

function run(runId: string, at: string, endpoints: string[], extra: Partial<Observation> = {}): Observation {
  return { workflow: '.github/workflows/ci.yml', job: 'build', runId, at, endpoints, ...extra };
}

function job(file: BaselineFile, workflow = '.github/workflows/ci.yml', id = 'build') {
  const found = file.workflows.get(workflow)?.get(id);
  if (!found) throw new Error(`no job ${workflow}#${id}`);
  return found;
}

describe('mergeObservations', () => {
  it('keeps runs, firstSeen and lastSeen per endpoint and per job', () => {
    let file = emptyBaselineFile('Acme/API');
    file = mergeObservation(file, run('101', '2026-11-18T10:00:00Z', ['registry.npmjs.org:443', 'github.com:443', 'codeload.github.com:443', '8.8.8.8:53']));
    file = mergeObservation(file, run('102', '2026-11-19T10:00:00.5Z', ['registry.npmjs.org:443', 'nodejs.org:443']));
    file = mergeObservation(file, run('103', '2026-11-17T09:00:00Z', ['registry.npmjs.org:443']));
    expect(file.repository).toBe('acme/api');
    const build = job(file);
    expect(build.runs).toBe(3);
    expect(build.firstSeen).toBe('2026-11-17T09:00:00Z');
    expect(build.lastSeen).toBe('2026-11-19T10:00:00Z');
    expect(Object.fromEntries(build.endpoints)).toEqual({
      'registry.npmjs.org:443': { runs: 3, firstSeen: '2026-11-17T09:00:00Z', lastSeen: '2026-11-19T10:00:00Z' },
      'nodejs.org:443': { runs: 1, firstSeen: '2026-11-19T10:00:00Z', lastSeen: '2026-11-19T10:00:00Z' },
      // Not implicit in the agent (actions/checkout needs it listed): recommended like any other.
      'github.com:443': { runs: 1, firstSeen: '2026-11-18T10:00:00Z', lastSeen: '2026-11-18T10:00:00Z' },
    });
    expect([...build.implicit.keys()]).toEqual(['codeload.github.com:443']);
    expect([...build.addresses.keys()]).toEqual(['8.8.8.8:53']);
    // Run 2 added nodejs.org; run 3 added nothing.
    expect(build.lastGrowth).toEqual({ run: 2, runId: '102', at: '2026-11-19T10:00:00Z' });
    expect(build.recentRuns).toEqual(['101', '102', '103']);
  });

  it('collapses per-run implicit names into their pattern and keeps blocked names apart', () => {
    let file = emptyBaselineFile('acme/api');
    file = mergeObservation(file, run('1', '2026-11-18T10:00:00Z', ['productionresultssa18.blob.core.windows.net:443'], { blocked: ['Telemetry.Example.io.'] }));
    file = mergeObservation(file, run('2', '2026-11-18T11:00:00Z', ['productionresultssa3.blob.core.windows.net:443']));
    const build = job(file);
    expect(Object.fromEntries(build.implicit)).toEqual({
      'productionresultssa*.blob.core.windows.net:443': { runs: 2, firstSeen: '2026-11-18T10:00:00Z', lastSeen: '2026-11-18T11:00:00Z' },
    });
    expect([...build.blocked.keys()]).toEqual(['telemetry.example.io']);
    expect(build.endpoints.size).toBe(0);
    expect(build.lastGrowth).toBeUndefined();
  });

  it('changes nothing when the same run is merged twice (same object, identical bytes)', () => {
    const once = mergeObservation(emptyBaselineFile('acme/api'), run('555', '2026-11-18T10:00:00Z', ['registry.npmjs.org:443']));
    const outcome = mergeObservations(once, [run('555', '2026-11-20T10:00:00Z', ['evil.example.com:443'])]);
    expect(outcome.changed).toBe(false);
    expect(outcome.file).toBe(once);
    expect(outcome.skipped).toEqual([{ workflowPath: '.github/workflows/ci.yml', job: 'build', runId: '555', reason: 'run 555 was already merged' }]);
    expect(renderBaselineFile(outcome.file)).toBe(renderBaselineFile(once));
  });

  it('skips a duplicate inside one batch and merges the rest', () => {
    const outcome = mergeObservations(emptyBaselineFile('acme/api'), [
      run('1', '2026-11-18T10:00:00Z', ['a.example.com:443']),
      run('1', '2026-11-18T10:00:00Z', ['a.example.com:443']),
      run('2', '2026-11-18T11:00:00Z', ['a.example.com:443']),
    ]);
    expect(outcome.merged.map((item) => item.runId)).toEqual(['1', '2']);
    expect(outcome.skipped.map((item) => item.runId)).toEqual(['1']);
    expect(job(outcome.file).endpoints.get('a.example.com:443')?.runs).toBe(2);
  });

  it(`remembers the last ${RECENT_RUNS_LIMIT} run ids only`, () => {
    const runs = Array.from({ length: RECENT_RUNS_LIMIT + 1 }, (_, index) => run(String(1000 + index), '2026-11-18T10:00:00Z', ['a.example.com:443']));
    const file = mergeObservations(emptyBaselineFile('acme/api'), runs).file;
    expect(job(file).recentRuns).toHaveLength(RECENT_RUNS_LIMIT);
    expect(job(file).recentRuns[0]).toBe('1001');
    // The newest fifty are still recognized; the one that fell out would count again.
    expect(mergeObservations(file, [runs[RECENT_RUNS_LIMIT] as Observation]).changed).toBe(false);
    expect(mergeObservations(file, [runs[0] as Observation]).changed).toBe(true);
  });

  it('never modifies the input file (copy-on-write)', () => {
    const before = mergeObservation(emptyBaselineFile('acme/api'), run('1', '2026-11-18T10:00:00Z', ['a.example.com:443']));
    const snapshot = renderBaselineFile(before);
    const after = mergeObservations(before, [
      run('2', '2026-11-19T10:00:00Z', ['a.example.com:443', 'b.example.com:443']),
      run('3', '2026-11-19T10:00:00Z', ['c.example.com:443'], { workflow: 'acme/api/.github/workflows/release.yml', job: 'publish' }),
    ]).file;
    expect(renderBaselineFile(before)).toBe(snapshot);
    expect(job(after).endpoints.get('a.example.com:443')?.runs).toBe(2);
    expect(job(after, '.github/workflows/release.yml', 'publish').runs).toBe(1);
  });

  it('accepts the workflow as a file name, a path or a full key of the same repository', () => {
    const file = mergeObservations(emptyBaselineFile('acme/api'), [
      run('1', '2026-11-18', [], { workflow: 'ci.yml' }),
      run('2', '2026-11-18', [], { workflow: 'Acme/API/.github/workflows/CI.yml' }),
    ]).file;
    expect([...file.workflows.keys()]).toEqual(['.github/workflows/ci.yml']);
    expect(job(file).runs).toBe(2);
  });

  it('rejects observations that are not well-formed', () => {
    const file = emptyBaselineFile('acme/api');
    expect(() => mergeObservation(file, run('1', '2026-11-18', [], { workflow: 'acme/web/.github/workflows/ci.yml' }))).toThrow(InvalidInputError);
    expect(() => mergeObservation(file, run('1', 'yesterday', []))).toThrow(/ISO-8601/);
    expect(() => mergeObservation(file, run('1', '2026-11-18', ['https://x.example.com']))).toThrow(/not an endpoint/);
    expect(() => mergeObservation(file, run('1', '2026-11-18', [], { job: 'bad job' }))).toThrow(/job id/);
    expect(() => mergeObservation(file, run(' ', '2026-11-18', []))).toThrow(/run id/);
  });

  it('yields the same endpoint sets and counts whatever the order of the runs (property)', () => {
    const host = fc.constantFrom('a.example.com:443', 'b.example.com:8443', 'registry.npmjs.org:443', 'github.com:443', '8.8.8.8:53', 'productionresultssa7.blob.core.windows.net:443');
    const observation = fc.record({
      job: fc.constantFrom('build', 'test'),
      day: fc.integer({ min: 1, max: 28 }),
      endpoints: fc.uniqueArray(host, { maxLength: 5 }),
      blocked: fc.uniqueArray(fc.constantFrom('evil.example.net', '203.0.113.9'), { maxLength: 2 }),
    });
    fc.assert(
      fc.property(
        fc.array(observation, { maxLength: 25 }).chain((items) => fc.tuple(fc.constant(items), fc.shuffledSubarray(items.map((_, index) => index), { minLength: items.length, maxLength: items.length }))),
        ([items, order]) => {
          const observations = items.map((item, index) =>
            run(`r${index}`, `2026-11-${String(item.day).padStart(2, '0')}T12:00:00Z`, item.endpoints, { job: item.job, blocked: item.blocked }),
          );
          const inOrder = mergeObservations(emptyBaselineFile('acme/api'), observations).file;
          const shuffled = mergeObservations(emptyBaselineFile('acme/api'), order.map((index) => observations[index] as Observation)).file;
          const counts = (file: BaselineFile) =>
            [...(file.workflows.get('.github/workflows/ci.yml') ?? new Map())].map(([id, baseline]) => ({
              id,
              runs: baseline.runs,
              firstSeen: baseline.firstSeen,
              lastSeen: baseline.lastSeen,
              endpoints: Object.fromEntries([...baseline.endpoints].sort()),
              implicit: Object.fromEntries([...baseline.implicit].sort()),
              addresses: Object.fromEntries([...baseline.addresses].sort()),
              blocked: Object.fromEntries([...baseline.blocked].sort()),
            })).sort((a, b) => a.id.localeCompare(b.id));
          expect(counts(shuffled)).toEqual(counts(inOrder));
        },
      ),
      { numRuns: 200 },
    );
  });
});
