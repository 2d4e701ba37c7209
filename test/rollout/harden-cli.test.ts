import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mergeIntoBaselineDir } from '../../src/baselines/index.js';
import type { CliIo } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';
import { parse } from 'yaml';
import { DEFAULT_SETTINGS } from '../../src/policy/model.js';

const WORKFLOW = [
  'on: push',
  'jobs:',
  '  build:',
  '    runs-on: ubuntu-latest',
  '    steps:',
  '      - run: make',
  '  windows:',
  '    runs-on: windows-latest',
  '    steps:',
  '      - run: make',
  '',
].join('\r\n');

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'egressctl-harden-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (text) => void (stdout += text), stderr: (text) => void (stderr += text), cwd: dir, env: {} };
  const code = await main(['harden', ...args], io);
  return { code, stdout, stderr };
}

describe('egressctl harden', () => {
  it('prints the rewritten file, reports jobs on stderr, and leaves the file alone', async () => {
    await writeFile(path.join(dir, 'ci.yml'), WORKFLOW);
    const { code, stdout, stderr } = await run(['ci.yml', '--endpoints', 'github.com, registry.npmjs.org:443']);
    expect(code).toBe(0);
    expect(stdout).toContain('egress-policy: block\r\n          allowed-endpoints: >-\r\n            github.com:443\r\n            registry.npmjs.org:443\r\n');
    expect(stdout).toContain(`uses: step-security/harden-runner@${DEFAULT_SETTINGS.hardenRunner.sha} # ${DEFAULT_SETTINGS.hardenRunner.version}`);
    expect(stderr).toBe('build: inserted\nwindows: inserted (runs on Windows: hosted Windows and macOS support audit only, so audit there)\n');
    expect(await readFile(path.join(dir, 'ci.yml'), 'utf8')).toBe(WORKFLOW);
  });

  it('writes in place (atomically, keeping the mode), then finds nothing to do', async () => {
    const file = path.join(dir, 'ci.yml');
    await writeFile(file, WORKFLOW);
    await chmod(file, 0o600);
    const first = await run(['ci.yml', '--mode', 'audit', '--write']);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toContain('build: inserted\n');
    expect(first.stdout).toContain('wrote ci.yml\n');
    const written = await readFile(file, 'utf8');
    expect(written).toContain('          egress-policy: audit\r\n      - run: make\r\n');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['ci.yml']);
    const second = await run(['ci.yml', '--mode', 'audit', '--write']);
    expect(second.stdout).toContain('build: unchanged\n');
    expect(second.stdout).toContain('ci.yml unchanged\n');
    expect(await readFile(file, 'utf8')).toBe(written);
  });

  it('prints JSON with the output and one entry per job', async () => {
    await writeFile(path.join(dir, 'ci.yml'), WORKFLOW);
    const { code, stdout } = await run(['ci.yml', '--json', '--pin', 'b'.repeat(40), '--pin-version', 'v9.9.9']);
    expect(code).toBe(0);
    const json = JSON.parse(stdout) as { output: string; changed: boolean; jobs: unknown[] };
    expect(json.changed).toBe(true);
    expect(json.output).toContain(`uses: step-security/harden-runner@${'b'.repeat(40)} # v9.9.9`);
    expect(json.jobs).toEqual([
      { job: 'build', action: 'inserted', mode: 'audit', endpoints: [], policy: null, reason: null, changes: [] },
      { job: 'windows', action: 'inserted', mode: 'audit', endpoints: [], policy: null, reason: null, changes: [] },
    ]);
  });

  it('exits 1 with file:line:column when the workflow does not parse', async () => {
    await writeFile(path.join(dir, 'bad.yml'), 'on: push\njobs:\n  a:\n    runs-on: x\n    runs-on: y\n');
    const { code, stdout, stderr } = await run(['bad.yml']);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^bad\.yml:5:5: error workflow\/yaml: Map keys must be unique/);
  });

  it('rejects bad endpoints (exit 1) and bad flag combinations (exit 2)', async () => {
    await writeFile(path.join(dir, 'ci.yml'), WORKFLOW);
    const endpoints = await run(['ci.yml', '--endpoints', 'https://github.com/x']);
    expect(endpoints.code).toBe(1);
    expect(endpoints.stderr).toContain('has a scheme');
    expect((await run(['ci.yml', '--pin', 'b'.repeat(40)])).code).toBe(2);
    expect((await run(['ci.yml', '--pin', 'v2', '--pin-version', 'v2'])).code).toBe(2);
    expect((await run(['ci.yml', '--mode', 'strict'])).code).toBe(2);
    expect((await run(['ci.yml', '--mode', 'audit', '--endpoints', 'github.com'])).code).toBe(2);
    expect((await run(['ci.yml', '--from-baselines'])).stderr).toContain('--repository OWNER/REPO');
    expect((await run([])).code).toBe(2);
    expect((await run(['missing.yml'])).stderr).toContain('cannot read missing.yml');
  });

  it('plans from baselines: block where stable, audit elsewhere', async () => {
    const policyRepo = path.join(dir, 'policies-repo');
    const observations = [1, 2, 3, 4].map((run) => ({
      workflow: '.github/workflows/ci.yml',
      job: 'build',
      runId: String(run),
      at: `2026-01-0${run}T00:00:00Z`,
      endpoints: ['registry.npmjs.org:443', 'proxy.golang.org:443'],
    }));
    await mergeIntoBaselineDir(policyRepo, 'acme/api', observations);
    const workflows = path.join(dir, 'api', '.github', 'workflows');
    await mkdir(workflows, { recursive: true });
    await writeFile(path.join(workflows, 'ci.yml'), WORKFLOW.replace('  windows:\r\n    runs-on: windows-latest', '  lint:\r\n    runs-on: ubuntu-latest'));
    const { code, stdout, stderr } = await run(['api/.github/workflows/ci.yml', '--from-baselines', '-C', 'policies-repo', '--repository', 'acme/api']);
    expect(code).toBe(0);
    expect(stdout).toContain('egress-policy: block\r\n          allowed-endpoints: >-\r\n            proxy.golang.org:443\r\n            registry.npmjs.org:443\r\n');
    expect(stderr).toContain('build: inserted (stable baseline: 2 endpoints from 4 runs');
    expect(stderr).toContain('lint: inserted (no baseline yet: audit mode to start collecting one)');
  });

  it('inserts the composite action', async () => {
    await writeFile(path.join(dir, 'ci.yml'), WORKFLOW);
    const { code, stdout } = await run(['ci.yml', '--composite', 'acme/egressctl/actions/harden@v1', '--server', 'https://egress.example', '--audience', 'egressctl']);
    expect(code).toBe(0);
    expect(stdout).toContain('uses: acme/egressctl/actions/harden@v1\r\n        with:\r\n          server: https://egress.example\r\n          audience: egressctl\r\n');
    expect((await run(['ci.yml', '--composite', 'acme/egressctl/actions/harden@v1', '--server', 'https://x'])).code).toBe(2);
  });

  it('takes several files: one report per file, a JSON array, exit 1 when one is invalid', async () => {
    await writeFile(path.join(dir, 'a.yml'), WORKFLOW);
    await writeFile(path.join(dir, 'bad.yml'), 'on: push\njobs:\n  a:\n    runs-on: x\n    runs-on: y\n');
    const { code, stdout } = await run(['a.yml', 'bad.yml', '--json']);
    expect(code).toBe(1);
    const reports = JSON.parse(stdout) as Array<{ file: string; valid: boolean; errors?: string[] }>;
    expect(reports.map((report) => [report.file, report.valid])).toEqual([['a.yml', true], ['bad.yml', false]]);
    expect(reports[1]?.errors?.[0]).toMatch(/^bad\.yml:5:5: error workflow\/yaml/);
    const plain = await run(['a.yml', 'a.yml', '--mode', 'audit', '--write']);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toContain('a.yml:\nbuild: inserted');
  });
});

describe('egressctl harden --policy-from (the store is the desired state)', () => {
  const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
  const linux = 'on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: make\n';

  async function workflow(name: string): Promise<string> {
    const file = path.join('repo', '.github', 'workflows', name);
    await mkdir(path.join(dir, 'repo', '.github', 'workflows'), { recursive: true });
    await writeFile(path.join(dir, file), linux);
    return file;
  }

  async function hardenJson(args: string[]) {
    const { code, stdout, stderr } = await run([...args, '--policy-from', repoRoot, '--json']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    return JSON.parse(stdout) as { output: string; draft: boolean; jobs: Array<{ job: string; mode: string; endpoints: string[]; policy: string | null; reason: string }> };
  }

  const withOf = (output: string) => (parse(output) as { jobs: { build: { steps: Array<{ with: Record<string, unknown> }> } } }).jobs.build.steps[0]?.with ?? {};

  it("a workflow of acme/api gets api-block's endpoints, marked as managed", async () => {
    const report = await hardenJson([await workflow('ci.yml'), '--repository', 'acme/api']);
    const job = report.jobs[0];
    expect(job).toMatchObject({ job: 'build', mode: 'block', policy: 'api-block' });
    expect(job?.endpoints).toContain('proxy.golang.org:443');
    expect(job?.endpoints).not.toContain('fulcio.sigstore.dev:443');
    expect(withOf(report.output)['egress-policy']).toBe('block');
    expect(String(withOf(report.output)['allowed-endpoints']).split(' ')).toEqual(job?.endpoints);
    expect(report.output).toContain('# egressctl: managed, policy api-block');
  });

  it("release.yml of acme/api gets release-block's endpoints and flags", async () => {
    const report = await hardenJson([await workflow('release.yml'), '--repository', 'acme/api']);
    expect(report.jobs[0]).toMatchObject({ mode: 'block', policy: 'release-block' });
    expect(report.jobs[0]?.endpoints).toContain('fulcio.sigstore.dev:443');
    expect(withOf(report.output)['disable-telemetry']).toBe(true);
  });

  it('an organization-only repository gets an audit step; --workflow names the path of a file elsewhere', async () => {
    await writeFile(path.join(dir, 'loose.yml'), linux);
    const report = await hardenJson(['loose.yml', '--workflow', '.github/workflows/ci.yml', '--repository', 'acme/other']);
    expect(report.jobs[0]).toMatchObject({ mode: 'audit', policy: 'org-audit' });
    expect(withOf(report.output)).toEqual({ 'egress-policy': 'audit' });
    const refused = await run(['loose.yml', '--repository', 'acme/other', '--policy-from', repoRoot]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--workflow');
  });

  it("a reusable workflow's jobs follow the caller in the same folder (issue 19, defect 3)", async () => {
    const build = path.join('repo', '.github', 'workflows', 'build.yml');
    await mkdir(path.join(dir, 'repo', '.github', 'workflows'), { recursive: true });
    await writeFile(path.join(dir, build), 'on:\n  workflow_call:\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: make\n');
    await writeFile(path.join(dir, 'repo', '.github', 'workflows', 'release.yml'), 'on: push\njobs:\n  call:\n    uses: ./.github/workflows/build.yml\n');
    const report = await hardenJson([build, '--repository', 'acme/api']);
    expect(report.jobs[0]).toMatchObject({ job: 'build', mode: 'block', policy: 'release-block' });
    expect(report.jobs[0]?.reason).toContain('build.yml is a reusable workflow called by release.yml: its jobs follow release.yml (policy release-block)');
    expect(report.jobs[0]?.endpoints).toContain('fulcio.sigstore.dev:443');
  });

  it('a file in a subfolder of .github/workflows/ is a per-file error; the batch goes on and reports every file (issue 19, defect 6)', async () => {
    const first = await workflow('a.yml');
    const action = path.join('repo', '.github', 'workflows', 'shared', 'action.yml');
    await mkdir(path.join(dir, path.dirname(action)), { recursive: true });
    const composite = 'name: shared\nruns:\n  using: composite\n  steps:\n    - run: echo\n      shell: bash\n';
    await writeFile(path.join(dir, action), composite);
    const last = await workflow('z.yml');
    const json = await run([first, action, last, '--repository', 'acme/api', '--policy-from', repoRoot, '--json']);
    expect(json.code).toBe(1);
    const reports = JSON.parse(json.stdout) as Array<{ file: string; valid: boolean; errors?: string[] }>;
    expect(reports.map((report) => [report.file, report.valid])).toEqual([[first, true], [action, false], [last, true]]);
    expect(reports[1]?.errors?.join('\n')).toContain('in a subfolder of .github/workflows/');
    expect(reports[1]?.errors?.join('\n')).not.toContain('not under .github/workflows/');
    const written = await run([first, action, last, '--repository', 'acme/api', '--policy-from', repoRoot, '--write']);
    expect(written.code).toBe(1);
    expect(written.stdout).toContain(`wrote ${first}`);
    expect(written.stdout).toContain(`wrote ${last}`);
    expect(written.stderr).toContain(`${action}: not a workflow`);
    expect(await readFile(path.join(dir, action), 'utf8')).toBe(composite);
  });
});
