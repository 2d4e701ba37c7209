/**
 * A job log is input any step of the job can write to (issue 24.1): lines that look like the
 * agent's must not stop the policy repository validating or compiling, however many there are.
 */
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_BASELINE_FILE_BYTES, MAX_NAMES_PER_RUN, emptyBaselineFile, mergeObservations, parseBaselineFile, parseHardenRunnerLog, renderBaselineFile } from '../../src/baselines/index.js';
import type { CliIo } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';
import { parsePolicyRepository } from '../../src/store/repository.js';
import { SAMPLE_FILES } from '../support/policy-repo.js';

let dir: string;
/** Logs live outside the policy repository (the repository is read whole below). */
let logs: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'egressctl-baseline-hostile-'));
  logs = await mkdtemp(path.join(os.tmpdir(), 'egressctl-baseline-logs-'));
  for (const [file, text] of Object.entries(SAMPLE_FILES)) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), text);
  }
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(logs, { recursive: true, force: true });
});

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text), cwd: dir, env: {} };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

const BUILD = 'acme/api/.github/workflows/ci.yml#build';
const HOSTILE_LINES = ['domain not allowed: ~.', 'domain not allowed: !!js/function.', 'domain not allowed: "quoted".', 'domain not allowed: a b.', 'domain not allowed: *.evil.example.', 'domain not allowed: evil.example.com.'];
const ENDPOINT = 'endpoint called ip address:port 140.82.112.3:443, domain: github.com., pid: 1, process: /usr/bin/git';

/** The whole repository (policies and baselines) as `validate` and `compile` read it. */
async function repositoryErrors(): Promise<string[]> {
  const files = new Map<string, Uint8Array>();
  const walk = async (relative: string): Promise<void> => {
    for (const entry of await readdir(path.join(dir, relative), { withFileTypes: true })) {
      const child = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) await walk(child);
      else files.set(child, await readFile(path.join(dir, child)));
    }
  };
  await walk('');
  return parsePolicyRepository(files).errors.map((error) => `${error.file}:${error.line} ${error.code} ${error.message}`);
}

describe('names from job logs', () => {
  it('stores only names the endpoint grammar accepts, drops and counts the rest, and the repository still validates', async () => {
    await writeFile(path.join(logs, 'job.txt'), `${[ENDPOINT, ...HOSTILE_LINES].join('\n')}\n`);
    const result = await cli('baseline', 'from-log', path.join(logs, 'job.txt'), '--job', BUILD, '--run', '1', '-C', dir);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('baseline/unusable-name');
    expect(result.stderr).toContain('warning: 4 names of the log not stored');
    const text = await readFile(path.join(dir, 'baselines/acme/api.yml'), 'utf8');
    expect(text).toContain('evil.example.com:');
    for (const bad of ['~', '!!js', 'quoted', 'a b', '*.evil']) expect(text).not.toContain(bad);
    expect(await repositoryErrors()).toEqual([]);
    expect((await cli('validate', '-C', dir)).code).toBe(0);
  });

  it(`caps a run at ${MAX_NAMES_PER_RUN} names: a 30,000-name log makes a file the repository still loads`, async () => {
    const lines = Array.from({ length: 30_000 }, (_, index) => `domain not allowed: host${index}.flood.example.`);
    await writeFile(path.join(logs, 'flood.txt'), `${lines.join('\n')}\n`);
    const result = await cli('baseline', 'from-log', path.join(logs, 'flood.txt'), '--job', BUILD, '--run', '2', '-C', dir);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('baseline/too-many-names');
    expect(result.stderr).toContain(`warning: ${30_000 - MAX_NAMES_PER_RUN} names of the log not stored`);
    const text = await readFile(path.join(dir, 'baselines/acme/api.yml'), 'utf8');
    expect(Buffer.byteLength(text)).toBeLessThan(MAX_BASELINE_FILE_BYTES);
    expect(await repositoryErrors()).toEqual([]);
  }, 60_000);

  it('refuses a run that would grow a file past the size limit, leaving the file as it was', async () => {
    const flood = (job: number): string => Array.from({ length: MAX_NAMES_PER_RUN }, (_, index) => `domain not allowed: host-${job}-${index}.a-rather-long-name.flood.example.`).join('\n');
    let refused: { code: number; stderr: string } | undefined;
    for (let job = 0; job < 10 && !refused; job++) {
      await writeFile(path.join(logs, 'flood.txt'), `${flood(job)}\n`);
      const before = await readFile(path.join(dir, 'baselines/acme/api.yml'), 'utf8').catch(() => '');
      const result = await cli('baseline', 'from-log', path.join(logs, 'flood.txt'), '--job', `acme/api/.github/workflows/ci.yml#job${job}`, '--run', String(job), '-C', dir);
      if (result.code !== 0) {
        refused = result;
        expect(await readFile(path.join(dir, 'baselines/acme/api.yml'), 'utf8')).toBe(before);
      }
    }
    expect(refused?.code).toBe(1);
    expect(refused?.stderr).toMatch(/baselines\/acme\/api\.yml would be \d+ KiB with these runs, over the 768 KiB limit/);
    expect(await repositoryErrors()).toEqual([]);
  }, 120_000);

  it('reads a file poisoned before names were checked: bad blocked entries are warnings, dropped', () => {
    const text = ['repository: acme/api', 'workflows:', '  .github/workflows/ci.yml:', '    build:', '      runs: 1', '      endpoints: {}', '      blocked:', '        "~": { runs: 1, firstSeen: 2026-01-01T00:00:00Z, lastSeen: 2026-01-01T00:00:00Z }', '        "!!js/function": { runs: 1, firstSeen: 2026-01-01T00:00:00Z, lastSeen: 2026-01-01T00:00:00Z }', '        evil.example.com: { runs: 1, firstSeen: 2026-01-01T00:00:00Z, lastSeen: 2026-01-01T00:00:00Z }', ''].join('\n');
    const parsed = parseBaselineFile(text, 'baselines/acme/api.yml');
    expect(parsed.errors).toEqual([]);
    expect(parsed.warnings.map((warning) => warning.code)).toEqual(['baseline/invalid-endpoint', 'baseline/invalid-endpoint']);
    expect([...(parsed.value.workflows.get('.github/workflows/ci.yml')?.get('build')?.blocked.keys() ?? [])]).toEqual(['evil.example.com']);
  });

  it('never stores a name merge is handed that is not one (observations built elsewhere)', () => {
    const outcome = mergeObservations(emptyBaselineFile('acme/api'), [{ workflow: 'ci.yml', job: 'build', runId: '1', at: '2026-01-01T00:00:00Z', endpoints: [], blocked: ['~', '"quoted"', 'ok.example.com'] }]);
    expect(outcome.merged[0]?.dropped).toBe(2);
    const text = renderBaselineFile(outcome.file);
    expect(parseBaselineFile(text, 'baselines/acme/api.yml').errors).toEqual([]);
    expect(text).not.toContain('quoted');
    expect(parseHardenRunnerLog(HOSTILE_LINES.join('\n')).value).toMatchObject({ blocked: ['evil.example.com'], dropped: 4 });
  });
});

describe('merging into a big baseline', () => {
  it('is linear: 10,000 existing names parse, merge and render in seconds, not minutes', () => {
    const names = (prefix: string, count: number) => Array.from({ length: count }, (_, index) => `${prefix}${index}.blocked.example.com`);
    let file = emptyBaselineFile('acme/api');
    for (let run = 0; run < 5; run++) {
      file = mergeObservations(file, [{ workflow: 'ci.yml', job: 'build', runId: String(run), at: '2026-01-01T00:00:00Z', endpoints: [], blocked: names(`r${run}-`, MAX_NAMES_PER_RUN) }]).file;
    }
    const text = renderBaselineFile(file);
    const started = performance.now();
    const parsed = parseBaselineFile(text, 'baselines/acme/api.yml');
    expect(parsed.errors).toEqual([]);
    const merged = mergeObservations(parsed.value, [{ workflow: 'ci.yml', job: 'build', runId: 'next', at: '2026-01-02T00:00:00Z', endpoints: [], blocked: names('new-', MAX_NAMES_PER_RUN) }]);
    const next = renderBaselineFile(merged.file, text);
    // Before: ~23 s to parse and ~49 s to render over the previous text at this size (quadratic in
    // yaml's key checks and our lookups); now about 6 s on an idle machine. The bound leaves room for load.
    expect(performance.now() - started).toBeLessThan(45_000);
    expect(next.split('\n').filter((line) => line.includes('.blocked.example.com')).length).toBe(12_000);
  }, 120_000);
});
