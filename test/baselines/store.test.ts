import { mkdtemp, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Observation } from '../../src/baselines/model.js';
import { mergeIntoBaselineDir, readBaselineIndex, readStableAfterRuns, readStoredBaseline } from '../../src/baselines/store.js';
import { InvalidInputError } from '../../src/util/errors.js';
import { repoRoot } from '../support/baselines.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'egressctl-baselines-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const observation = (runId: string, endpoints: string[]): Observation => ({
  workflow: 'acme/api/.github/workflows/ci.yml',
  job: 'build',
  runId,
  at: '2026-11-20T10:00:00Z',
  endpoints,
});

describe('baseline files on disk', () => {
  it('creates baselines/<owner>/<repo>.yml, leaves no temp file and does not rewrite it when nothing changed', async () => {
    const first = await mergeIntoBaselineDir(dir, 'Acme/API', [observation('1', ['registry.npmjs.org:443'])]);
    expect(first).toMatchObject({ path: 'baselines/acme/api.yml', written: true, changed: true });
    const file = path.join(dir, 'baselines/acme/api.yml');
    const bytes = await readFile(file);
    const mtime = (await stat(file)).mtimeMs;
    expect(await readdir(path.join(dir, 'baselines/acme'))).toEqual(['api.yml']);

    const again = await mergeIntoBaselineDir(dir, 'acme/api', [observation('1', ['registry.npmjs.org:443'])]);
    expect(again).toMatchObject({ written: false, changed: false });
    expect(await readFile(file)).toEqual(bytes);
    expect((await stat(file)).mtimeMs).toBe(mtime);
  });

  it('merges a batch with one read and one write', async () => {
    const outcome = await mergeIntoBaselineDir(dir, 'acme/api', [observation('1', ['a.example.com:443']), observation('2', ['b.example.com:443'])]);
    expect(outcome.merged.map((item) => item.runId)).toEqual(['1', '2']);
    const stored = await readStoredBaseline(dir, 'acme/api');
    expect(stored.file.workflows.get('.github/workflows/ci.yml')?.get('build')?.runs).toBe(2);
  });

  it('refuses to merge into an invalid file, listing its errors', async () => {
    await mkdir(path.join(dir, 'baselines/acme'), { recursive: true });
    await writeFile(path.join(dir, 'baselines/acme/api.yml'), 'repository: acme/api\nworkflow: {}\n');
    const attempt = mergeIntoBaselineDir(dir, 'acme/api', [observation('1', [])]);
    await expect(attempt).rejects.toBeInstanceOf(InvalidInputError);
    await expect(mergeIntoBaselineDir(dir, 'acme/api', [observation('1', [])])).rejects.toThrow(/baselines\/acme\/api\.yml:2:1: error baseline\/schema/);
  });

  it('indexes the example repository\'s baselines and reads stable-after-runs from egressctl.yml', async () => {
    const index = await readBaselineIndex(repoRoot);
    expect(index.errors).toEqual([]);
    expect(index.value.jobs.length).toBeGreaterThanOrEqual(4);
    expect(await readStableAfterRuns(repoRoot)).toEqual({ stableAfterRuns: 3, diagnostics: [] });

    expect((await readBaselineIndex(dir)).value.jobs).toEqual([]);
    expect(await readStableAfterRuns(dir)).toEqual({ stableAfterRuns: 3, diagnostics: [] });
    await writeFile(path.join(dir, 'egressctl.yml'), 'baselines:\n  stable-after-runs: 5\n');
    expect((await readStableAfterRuns(dir)).stableAfterRuns).toBe(5);
  });
});
