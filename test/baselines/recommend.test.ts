import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { mergeObservations } from '../../src/baselines/merge.js';
import { emptyBaselineFile, type Observation } from '../../src/baselines/model.js';
import {
  buildBaselineIndex,
  endpointsFromSelector,
  findJob,
  indexBaselineTexts,
  parseBaselineSelector,
  recommendFile,
  selectJobs,
} from '../../src/baselines/recommend.js';
import { UsageError } from '../../src/util/errors.js';
import { repoRoot } from '../support/baselines.js';

function runs(endpointSets: string[][], job = 'build'): Observation[] {
  return endpointSets.map((endpoints, index) => ({
    workflow: '.github/workflows/ci.yml',
    job,
    runId: `${job}-${index + 1}`,
    at: `2026-11-${String(10 + index).padStart(2, '0')}T12:00:00Z`,
    endpoints,
  }));
}

const exampleTexts = new Map(
  ['baselines/acme/api.yml', 'baselines/acme/web.yml'].map((file) => [file, readFileSync(path.join(repoRoot, file), 'utf8')] as [string, string]),
);

describe('recommendations', () => {
  it('is stable once the last N runs added nothing', () => {
    const a = 'a.example.com:443';
    const b = 'b.example.com:443';
    const sequence = [[a], [a, b], [a], [b], [a, b]];
    const stableAfter = (count: number, n = 3) => {
      const file = mergeObservations(emptyBaselineFile('acme/api'), runs(sequence.slice(0, count))).file;
      const [job] = recommendFile(file, { stableAfterRuns: n });
      return job ? { stable: job.stable, since: job.runsSinceGrowth } : undefined;
    };
    expect(stableAfter(1)).toEqual({ stable: false, since: 0 });
    expect(stableAfter(2)).toEqual({ stable: false, since: 0 });
    expect(stableAfter(4)).toEqual({ stable: false, since: 2 });
    expect(stableAfter(5)).toEqual({ stable: true, since: 3 });
    expect(stableAfter(4, 2)).toEqual({ stable: true, since: 2 });
  });

  it('a job that never reached anything beyond implicit endpoints is stable after N runs with an empty list', () => {
    const file = mergeObservations(emptyBaselineFile('acme/api'), runs([['codeload.github.com:443'], [], ['pipelines.actions.githubusercontent.com:443']])).file;
    const [job] = recommendFile(file);
    expect(job).toMatchObject({ stable: true, runs: 3, endpoints: [], allowedEndpoints: '' });
  });

  it('recommends named endpoints only; implicit and IP-only evidence is shown but never recommended', () => {
    const file = mergeObservations(
      emptyBaselineFile('acme/api'),
      runs([['registry.npmjs.org:443', 'github.com:443', '8.8.8.8:53', 'productionresultssa1.blob.core.windows.net:443', 'nodejs.org:443']]),
    ).file;
    const [job] = recommendFile(file);
    // github.com is not one of the agent's implicit endpoints: leaving it out breaks actions/checkout.
    expect(job?.endpoints).toEqual(['github.com:443', 'nodejs.org:443', 'registry.npmjs.org:443']);
    expect(job?.allowedEndpoints).toBe('github.com:443 nodejs.org:443 registry.npmjs.org:443');
    expect(job?.evidence.map((item) => [item.endpoint, item.kind, item.recommended])).toEqual([
      ['github.com:443', 'endpoint', true],
      ['nodejs.org:443', 'endpoint', true],
      ['registry.npmjs.org:443', 'endpoint', true],
      ['productionresultssa*.blob.core.windows.net:443', 'implicit', false],
      ['8.8.8.8:53', 'address', false],
    ]);
  });
});

describe('the baseline index', () => {
  const indexed = indexBaselineTexts([...exampleTexts, ['policies/base.yml', 'egress-policy: audit\n']], { stableAfterRuns: 3 });

  it('lists every job of every baseline file with its recommendation', () => {
    expect(indexed.errors).toEqual([]);
    expect(indexed.value.jobs.map((job) => `${job.key} ${job.stable ? 'stable' : 'unstable'}`)).toEqual([
      'acme/api/.github/workflows/ci.yml#build stable',
      'acme/api/.github/workflows/ci.yml#test unstable',
      'acme/api/.github/workflows/release.yml#publish stable',
      'acme/web/.github/workflows/ci.yml#build unstable',
    ]);
    expect(findJob(indexed.value, 'ACME/api/.github/workflows/ci.yml#build')?.endpoints).toEqual([
      'github.com:443',
      'nodejs.org:443',
      'objects.githubusercontent.com:443',
      'registry.npmjs.org:443',
    ]);
    expect(findJob(indexed.value, { repository: 'acme/web', workflowPath: '.github/workflows/ci.yml', job: 'build' })?.file).toBe('baselines/acme/web.yml');
  });

  it('answers selectors with sorted, unique endpoints', () => {
    const index = indexed.value;
    expect(endpointsFromSelector(index, 'job:acme/api/.github/workflows/release.yml#publish')).toEqual(['api.github.com:443', 'github.com:443', 'registry.npmjs.org:443', 'uploads.github.com:443']);
    expect(endpointsFromSelector(index, 'workflow:acme/api/.github/workflows/ci.yml')).toEqual([
      'github.com:443',
      'nodejs.org:443',
      'objects.githubusercontent.com:443',
      'postgres.test.internal.acme.example:5432',
      'registry.npmjs.org:443',
      'sandbox.payments.example.com:443',
    ]);
    expect(endpointsFromSelector(index, 'repo:acme/web')).toEqual(['fonts.googleapis.com:443', 'github.com:443', 'registry.npmjs.org:443']);
    expect(endpointsFromSelector(index, 'org:acme')).toHaveLength(9);
    expect(endpointsFromSelector(index, 'org:acme', { stableOnly: true })).toEqual([
      'api.github.com:443',
      'github.com:443',
      'nodejs.org:443',
      'objects.githubusercontent.com:443',
      'registry.npmjs.org:443',
      'uploads.github.com:443',
    ]);
    expect(endpointsFromSelector(index, 'repo:other/thing')).toEqual([]);
    expect(selectJobs(index, { type: 'org', organization: 'acme' })).toHaveLength(4);
  });

  it('rejects a malformed selector with a usage error that shows the forms', () => {
    expect(() => endpointsFromSelector(indexed.value, 'acme/api')).toThrow(UsageError);
    expect(() => endpointsFromSelector(indexed.value, 'acme/api')).toThrow(/org:OWNER, repo:OWNER\/REPO/);
    expect(parseBaselineSelector('job:acme/api/.github/workflows/ci.yml')).toEqual({ error: expect.stringContaining('names no job') });
    expect(parseBaselineSelector('workflow:acme/api/ci.yml')).toEqual({ error: expect.stringContaining('is not a workflow') });
    expect(parseBaselineSelector('repo:acme')).toEqual({ error: expect.stringContaining('OWNER/REPO') });
  });

  it('collects diagnostics of every file and refuses a second file for one repository', () => {
    const result = indexBaselineTexts([
      ['baselines/acme/api.yml', exampleTexts.get('baselines/acme/api.yml') ?? ''],
      ['baselines/acme/api.yaml', 'repository: acme/api\nworkflows: {}\n'],
      ['baselines/acme/bad.yml', 'repository: acme/bad\nworkflows:\n  .github/workflows/x.yml:\n    j:\n      runs: -1\n'],
    ]);
    expect(result.errors.map((item) => `${item.file} ${item.code}`)).toEqual(['baselines/acme/api.yaml baseline/duplicate-repository', 'baselines/acme/bad.yml baseline/schema']);
    expect(result.value.files.get('acme/api')?.workflows.size).toBe(2);
  });

  it('buildBaselineIndex uses the stable-after setting for every job', () => {
    const files = [...indexed.value.files.values()];
    expect(buildBaselineIndex(files, { stableAfterRuns: 2 }).jobs.filter((job) => job.stable)).toHaveLength(3);
    expect(buildBaselineIndex(files, { stableAfterRuns: 10 }).jobs.filter((job) => job.stable)).toHaveLength(0);
  });
});
