/**
 * `egressctl coverage`: workflow files on disk with the store of a policy repository, an
 * organization read from the GitHub stand-in (every request checked against GitHub's OpenAPI
 * description), and the last sync's state; `--json` has `jobs[]` and `totals`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { startGitHubStandin, type GitHubStandin } from '../support/github/index.js';
import { makeTempRepo, type TempRepo } from '../support/policy-repo.js';
import { SIMPLE_WORKFLOW } from '../support/workflows.js';

const POLICY_FILES = {
  'egressctl.yml': 'organizations: [acme]\nhook-runners: [arc-prod]\n',
  'policies/api.yml': 'egress-policy: block\nallowed-endpoints:\n  - github.com:443\n  - registry.npmjs.org:443\n',
  'policies/org.yml': 'egress-policy: audit\n',
  'attachments.yml': 'organizations:\n  acme: org\nrepositories:\n  acme/api: api\n',
};

const MIXED = `name: Build
on: [push, pull_request]
jobs:
  linux:
    runs-on: ubuntu-latest
    steps:
      - uses: step-security/harden-runner@05e31511f85b41b11d1cf0ef85d0992719546e2c # v2.21.0
        with: # egressctl: managed, policy api
          egress-policy: block
          allowed-endpoints: >-
            github.com:443
            registry.npmjs.org:443
      - run: make
  windows:
    runs-on: windows-2022
    steps:
      - uses: step-security/harden-runner@05e31511f85b41b11d1cf0ef85d0992719546e2c # v2.21.0
        with: # egressctl: managed, policy api
          egress-policy: audit
      - run: make
  in-container:
    runs-on: ubuntu-latest
    container: node:20
    steps:
      - run: npm test
  self-hosted:
    runs-on: [self-hosted, linux, gpu]
    steps:
      - run: make
  release:
    uses: ./.github/workflows/release.yml
`;

let policy: TempRepo;

beforeEach(() => {
  policy = makeTempRepo(POLICY_FILES);
});
afterEach(() => policy.cleanup());

interface CoverageJson {
  jobs: { repository: string; file: string; job: string; enforcedBy: string[]; mode: string; reason: string | null }[];
  totals: { jobs: number; block: number; audit: number; unprotected: number };
  organizations: Record<string, { jobs: number; block: number; audit: number; unprotected: number }>;
  problems: { message: string }[];
  errors: unknown[];
}

describe('egressctl coverage --policy-from', () => {
  it('lists every job with what enforces it, the mode and why not, and the totals', async () => {
    const repo = makeTempRepo({ '.github/workflows/build.yml': MIXED });
    try {
      const run = await runCli(['coverage', '--policy-from', policy.dir, '--repository', 'acme/api', path.join(repo.dir, '.github/workflows/build.yml'), '--json']);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const report = JSON.parse(run.stdout) as CoverageJson;
      expect(report.jobs.map((job) => [job.job, job.mode, job.enforcedBy])).toEqual([
        ['linux', 'block', ['harden-runner (inline)']],
        ['windows', 'audit', ['harden-runner (inline)']],
        ['in-container', 'none', []],
        ['self-hosted', 'none', []],
        ['release', 'none', []],
      ]);
      expect(report.jobs[0]).toMatchObject({ repository: 'acme/api', file: '.github/workflows/build.yml' });
      expect(report.jobs[1]!.reason).toContain('hosted Windows and macOS support audit only');
      expect(report.jobs[2]!.reason).toContain('container');
      expect(report.jobs[3]!.reason).toContain("without egressctl's job-started hook");
      expect(report.jobs[4]!.reason).toContain('reusable workflow');
      expect(report.totals).toEqual({ jobs: 5, block: 1, audit: 1, unprotected: 3 });
      expect(report.organizations).toEqual({ acme: report.totals });

      const text = await runCli(['coverage', '--policy-from', policy.dir, '--repository', 'acme/api', path.join(repo.dir, '.github/workflows/build.yml')]);
      expect(text.stdout).toContain('acme/api .github/workflows/build.yml:4 linux: block (harden-runner (inline))');
      expect(text.stdout).toContain('acme: [########~~~~~~~~........................] 5 jobs: 1 block (20%), 1 audit (20%), 3 unprotected (60%)');
    } finally {
      repo.cleanup();
    }
  });

  it('a file that is not a workflow is a located problem and exit 1; the other files are still reported', async () => {
    const repo = makeTempRepo({ '.github/workflows/a.yml': 'jobs: [broken\n', '.github/workflows/b.yml': SIMPLE_WORKFLOW });
    try {
      const run = await runCli(['coverage', '--policy-from', policy.dir, '--repository', 'acme/api', path.join(repo.dir, '.github/workflows/a.yml'), path.join(repo.dir, '.github/workflows/b.yml')]);
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(/a\.yml does not parse as YAML/);
      expect(run.stdout).toContain('.github/workflows/b.yml:');
    } finally {
      repo.cleanup();
    }
  });

  it('refuses a half-given command with its usage', async () => {
    const run = await runCli(['coverage', '--policy-from', policy.dir, 'x.yml']);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('--policy-from needs --repository OWNER/REPO');
  });
});

describe('egressctl coverage --org', () => {
  let standin: GitHubStandin;
  let stateDir: string;
  let env: Record<string, string>;

  beforeEach(async () => {
    standin = await startGitHubStandin();
    const installation = standin.createInstallation({ account: 'acme' });
    await standin.createRepository('acme/api', { files: { '.github/workflows/build.yml': MIXED, '.github/workflows/ci.yml': SIMPLE_WORKFLOW } });
    await standin.createRepository('acme/web', { files: { '.github/workflows/ci.yml': SIMPLE_WORKFLOW } });
    await standin.createRepository('acme/empty-docs', { files: { 'README.md': 'docs\n' } });
    stateDir = mkdtempSync(path.join(os.tmpdir(), 'egressctl-coverage-state-'));
    env = { GITHUB_TOKEN: standin.createInstallationToken(installation.id), GITHUB_API_URL: standin.url };
  });

  afterEach(async () => {
    rmSync(stateDir, { recursive: true, force: true });
    try {
      standin.assertNoViolations();
    } finally {
      await standin.close();
    }
  });

  it('reads every repository from GitHub with a progress line each, then the totals', async () => {
    const run = await runCli(['coverage', '--org', 'acme', '-C', policy.dir, '--json'], { env });
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('acme/api: 6 jobs: 1 block, 1 audit, 4 unprotected');
    expect(run.stderr).toContain('acme/empty-docs: 0 jobs');
    // The tree, the workflow blob, and the file the firewall target declares (absent here: 404).
    expect(run.stderr).toContain('acme/web: 1 job: 0 block, 0 audit, 1 unprotected (3 requests)');
    const report = JSON.parse(run.stdout) as CoverageJson;
    expect(report.totals).toEqual({ jobs: 7, block: 1, audit: 1, unprotected: 5 });
    expect(report.jobs.filter((job) => job.repository === 'acme/web').map((job) => [job.job, job.mode, job.reason])).toEqual([['test', 'none', 'no Harden-Runner step']]);
    expect(standin.stats().writes).toBe(0);
    // A repository costs its tree, one blob per workflow file and one read per file a target declares (the listing is shared).
    expect(standin.stats().byRepository['acme/api']?.total).toBe(4);

    const text = await runCli(['coverage', '--org', 'acme', '-C', policy.dir], { env });
    expect(text.stderr).toMatch(/3 repositories read; \d+ GitHub API requests\n$/);
    expect(text.stdout).toContain('acme: [######~~~~~~............................] 7 jobs: 1 block (14%), 1 audit (14%), 5 unprotected (71%)');
  });

  it('--state-dir shows what the last sync read, without asking GitHub', async () => {
    const synced = await runCli(['sync', '--org', 'acme', '--all', '--dry-run', '-C', policy.dir, '--state-dir', stateDir], { env });
    expect(synced.code).toBe(0);
    standin.resetStats();
    const run = await runCli(['coverage', '--org', 'acme', '--state-dir', stateDir, '--json'], { env: {} });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as CoverageJson;
    expect(report.totals).toEqual({ jobs: 7, block: 1, audit: 1, unprotected: 5 });
    expect(standin.stats().total).toBe(0);

    const none = await runCli(['coverage', '--org', 'other', '--state-dir', stateDir]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('has no coverage for other');
  });
});
