import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CliIo } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';
import { fixturesDir } from '../support/baselines.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'egressctl-baseline-cli-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text), cwd: fixturesDir, env: {} };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

const BUILD = 'acme/api/.github/workflows/ci.yml#build';
const baselineText = () => readFile(path.join(dir, 'baselines/acme/api.yml'), 'utf8');

describe('egressctl baseline', () => {
  it('merges a job log, and the same run again changes no byte', async () => {
    const first = await cli('baseline', 'from-log', 'audit-job.txt', '--job', BUILD, '--run', '9000000123', '-C', dir);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('baselines/acme/api.yml: merged run 9000000123 (2026-11-20T10:03:11Z) into acme/api/.github/workflows/ci.yml#build');
    // github.com is not implicit (step-security/agent addImplicitEndpoints): actions/checkout needs it listed.
    expect(first.stdout).toContain('4 endpoints (new: github.com:443 objects.githubusercontent.com:443 postgres.test.internal.acme.example:5432 registry.npmjs.org:443), 3 implicit, 2 IP-only addresses');
    const text = await baselineText();
    expect(text.startsWith('# yaml-language-server: $schema=../../schemas/baselines.schema.json\n')).toBe(true);

    const again = await cli('baseline', 'from-log', 'audit-job.txt', '--job', BUILD, '--run', '9000000123', '-C', dir);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('was already merged: nothing changed');
    expect(await baselineText()).toBe(text);
  });

  it('derives a run id from the content without --run, so importing the same file twice is a no-op', async () => {
    const first = await cli('baseline', 'import', 'insights-endpoints.txt', '--job', BUILD, '--at', '2026-11-22', '-C', dir);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/merged run sha256-[0-9a-f]{16} \(2026-11-22T00:00:00Z\)/);
    const text = await baselineText();
    const second = await cli('baseline', 'import', 'insights-endpoints.txt', '--job', BUILD, '-C', dir);
    expect(second.stdout).toContain('already merged');
    expect(await baselineText()).toBe(text);
    expect(text).toContain('151.101.1.195:443: { runs: 1');
  });

  it('keeps comments of the existing file', async () => {
    await cli('baseline', 'import', 'insights-endpoints.txt', '--job', BUILD, '--at', '2026-11-22', '-C', dir);
    const file = path.join(dir, 'baselines/acme/api.yml');
    const edited = (await readFile(file, 'utf8')).replace('    build:\n', '    # reviewed by @sec-team\n    build:\n');
    await writeFile(file, edited);
    await cli('baseline', 'from-log', 'audit-job.txt', '--job', BUILD, '-C', dir);
    expect(await readFile(file, 'utf8')).toContain('    # reviewed by @sec-team\n    build:\n      runs: 2\n');
  });

  it('fails with located errors for an invalid list and writes nothing', async () => {
    const result = await cli('baseline', 'import', 'insights-invalid.txt', '--job', BUILD, '-C', dir);
    expect(result.code).toBe(1);
    expect(result.stderr.split('\n').filter(Boolean)).toEqual([
      expect.stringMatching(/^insights-invalid\.txt:2:1: error endpoint\/scheme: /),
      expect.stringMatching(/^insights-invalid\.txt:2:29: error endpoint\/port: /),
      expect.stringMatching(/^insights-invalid\.txt:4:28: error endpoint\/multiple-wildcards: /),
    ]);
    await expect(baselineText()).rejects.toThrow(/ENOENT/);
  });

  it('says when a log has no Harden-Runner agent output', async () => {
    const result = await cli('baseline', 'from-log', 'no-agent.txt', '--job', BUILD, '-C', dir);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('no-agent.txt:1:1: error baseline/no-agent-log: no Harden-Runner agent log found');
  });

  it('explains usage mistakes without a stack trace', async () => {
    const cases: [string[], RegExp][] = [
      [['baseline'], /from-log, import or from-firewall/],
      [['baseline', 'from-log', 'audit-job.txt', '-C', dir], /--job .* is required/],
      [['baseline', 'from-log', 'audit-job.txt', '--job', 'acme/api/ci.yml#build', '-C', dir], /is not a workflow/],
      [['baseline', 'from-log', 'audit-job.txt', '--job', 'acme/api/.github/workflows/ci.yml', '-C', dir], /names no job/],
      [['baseline', 'from-log', 'audit-job.txt', '--job', BUILD, '--at', 'soon', '-C', dir], /--at "soon" is not an ISO-8601/],
      [['baseline', 'from-log', 'missing.txt', '--job', BUILD, '-C', dir], /missing\.txt does not exist/],
    ];
    for (const [args, message] of cases) {
      const result = await cli(...args);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
  });
});

describe('egressctl recommend', () => {
  async function importRuns(sets: string[][]): Promise<void> {
    for (const [index, endpoints] of sets.entries()) {
      const list = path.join(dir, `run-${index}.txt`);
      await writeFile(list, `${endpoints.join('\n')}\n`);
      const result = await cli('baseline', 'import', list, '--job', BUILD, '--run', String(100 + index), '--at', `2026-11-1${index}T08:00:00Z`, '-C', dir);
      expect(result.code).toBe(0);
    }
  }

  it('prints the recommendation, its stability and evidence as JSON', async () => {
    await importRuns([['registry.npmjs.org:443', 'github.com:443', '8.8.8.8:53'], ['registry.npmjs.org:443', 'nodejs.org:443'], ['registry.npmjs.org:443'], ['nodejs.org:443']]);
    const unstable = await cli('recommend', '--repository', 'acme/api', '--json', '-C', dir);
    expect(unstable.code).toBe(0);
    const parsed = JSON.parse(unstable.stdout) as { stableAfter: number; jobs: { stable: boolean }[] };
    expect(parsed.stableAfter).toBe(3);
    expect(parsed.jobs[0]?.stable).toBe(false);

    const list = path.join(dir, 'run-4.txt');
    await writeFile(list, 'registry.npmjs.org:443\n');
    await cli('baseline', 'import', list, '--job', BUILD, '--run', '104', '--at', '2026-11-14T08:00:00Z', '-C', dir);
    const stable = await cli('recommend', '--repository', 'acme/api', '--workflow', 'ci.yml', '--job', 'build', '--json', '-C', dir);
    expect(JSON.parse(stable.stdout)).toEqual({
      repository: 'acme/api',
      file: 'baselines/acme/api.yml',
      stableAfter: 3,
      jobs: [
        {
          key: BUILD,
          repository: 'acme/api',
          workflow: 'acme/api/.github/workflows/ci.yml',
          workflowPath: '.github/workflows/ci.yml',
          job: 'build',
          stable: true,
          runs: 5,
          runsSinceGrowth: 3,
          stableAfter: 3,
          firstSeen: '2026-11-10T08:00:00Z',
          lastSeen: '2026-11-14T08:00:00Z',
          lastGrowth: { run: 2, runId: '101', at: '2026-11-11T08:00:00Z' },
          'allowed-endpoints': 'github.com:443 nodejs.org:443 registry.npmjs.org:443',
          endpoints: ['github.com:443', 'nodejs.org:443', 'registry.npmjs.org:443'],
          evidence: [
            { endpoint: 'github.com:443', kind: 'endpoint', recommended: true, runs: 1, firstSeen: '2026-11-10T08:00:00Z', lastSeen: '2026-11-10T08:00:00Z' },
            { endpoint: 'nodejs.org:443', kind: 'endpoint', recommended: true, runs: 2, firstSeen: '2026-11-11T08:00:00Z', lastSeen: '2026-11-13T08:00:00Z' },
            { endpoint: 'registry.npmjs.org:443', kind: 'endpoint', recommended: true, runs: 4, firstSeen: '2026-11-10T08:00:00Z', lastSeen: '2026-11-14T08:00:00Z' },
            { endpoint: '8.8.8.8:53', kind: 'address', recommended: false, runs: 1, firstSeen: '2026-11-10T08:00:00Z', lastSeen: '2026-11-10T08:00:00Z' },
          ],
        },
      ],
    });
  });

  it('takes stable-after from egressctl.yml unless --stable-after says otherwise, and prints text', async () => {
    await importRuns([['registry.npmjs.org:443'], ['registry.npmjs.org:443']]);
    await writeFile(path.join(dir, 'egressctl.yml'), 'baselines:\n  stable-after-runs: 1\n');
    const fromSettings = await cli('recommend', '--repository', 'acme/api', '-C', dir);
    expect(fromSettings.stdout).toContain('  stable: the last 1 run added nothing; 2 runs observed');
    expect(fromSettings.stdout).toContain('  allowed-endpoints: registry.npmjs.org:443\n');
    expect(fromSettings.stdout).toContain('1 job, 1 stable (stable after 1 run without a new endpoint)');
    const overridden = await cli('recommend', '--repository', 'acme/api', '--stable-after', '4', '-C', dir);
    expect(overridden.stdout).toContain('  not stable: 1 run without a new endpoint, 4 needed');
  });

  it('fails clearly without a baseline, for an unknown job and for bad flags', async () => {
    const missing = await cli('recommend', '--repository', 'acme/web', '-C', dir);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no baseline for acme/web: baselines/acme/web.yml does not exist');
    await importRuns([['registry.npmjs.org:443']]);
    const unknown = await cli('recommend', '--repository', 'acme/api', '--job', 'deploy', '-C', dir);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('(jobs: acme/api/.github/workflows/ci.yml#build)');
    expect((await cli('recommend', '-C', dir)).stderr).toContain('--repository OWNER/REPO is required');
    expect((await cli('recommend', '--repository', 'acme/api', '--workflow', 'acme/web/.github/workflows/ci.yml', '-C', dir)).stderr).toContain('is not a workflow file of acme/api');
    expect((await cli('recommend', '--repository', 'acme/api', '--stable-after', '0', '-C', dir)).code).toBe(2);
  });
});
