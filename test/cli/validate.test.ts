import { afterEach, describe, expect, it } from 'vitest';
import { makeTempRepo, SAMPLE_FILES, type TempRepo } from '../support/policy-repo.js';
import { runCli } from '../support/cli.js';

let repo: TempRepo | undefined;
afterEach(() => repo?.cleanup());

describe('egressctl validate', () => {
  it('exit 0 and a summary on a valid repository', async () => {
    repo = makeTempRepo(SAMPLE_FILES);
    const run = await runCli(['validate', '-C', repo.dir]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('valid: 3 policies, 4 attachments, 0 errors');
  });

  it('json contract with located errors, exit 1', async () => {
    repo = makeTempRepo({ ...SAMPLE_FILES, 'policies/api.yml': 'egress-policy: block\nallowed-endpoints:\n  - https://example.com\n' });
    const run = await runCli(['validate', '-C', repo.dir, '--format', 'json']);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as { ok: boolean; errors: unknown[]; warnings: unknown[] };
    expect(report.ok).toBe(false);
    expect(report.errors).toEqual([
      { file: 'policies/api.yml', line: 3, column: 5, code: 'endpoint/scheme', message: expect.stringContaining('"example.com"') },
    ]);
  });

  it('github format prints workflow commands relative to the workspace, escaped', async () => {
    repo = makeTempRepo({ ...SAMPLE_FILES, 'policies/api.yml': 'egress-policy: block\nallowed-endpoints: "a.com,b.com"\n' });
    const run = await runCli(['validate', '-C', '.', '--format', 'github'], { cwd: repo.dir, env: { GITHUB_WORKSPACE: repo.dir } });
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^::error file=policies\/api\.yml,line=2,col=21,title=endpoint\/invalid-host::/m);
  });

  it('--rev validates a commit, not the work tree', async () => {
    repo = makeTempRepo(SAMPLE_FILES, { git: true });
    repo.commit('good');
    repo.write({ 'attachments.yml': 'organizations:\n  acme: missing\n' });
    expect((await runCli(['validate', '-C', repo.dir])).code).toBe(1);
    expect((await runCli(['validate', '-C', repo.dir, '--rev', 'HEAD'])).code).toBe(0);
  });

  it('exit 2 for usage and I/O errors, without a stack trace', async () => {
    const usage = await runCli(['validate', '--format', 'xml']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--format must be text, json or github');
    const missing = await runCli(['validate', '-C', '/nonexistent/dir']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).not.toMatch(/\n\s+at /);
    repo = makeTempRepo(SAMPLE_FILES, { git: true });
    repo.commit('x');
    const badRev = await runCli(['validate', '-C', repo.dir, '--rev', 'nope']);
    expect(badRev.code).toBe(2);
    expect(badRev.stderr).toContain('unknown revision "nope"');
  });
});

describe('egressctl resolve', () => {
  it('answers the json contract from a work tree', async () => {
    repo = makeTempRepo(SAMPLE_FILES);
    const run = await runCli(['resolve', '-C', repo.dir, '--repository', 'acme/api', '--workflow', '.github/workflows/ci.yml', '--cluster', 'arc-prod', '--json']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      policy: 'api',
      scope: { type: 'repository', key: 'acme/api' },
      shadowed: [
        { type: 'organization', key: 'acme', policy: 'audit' },
        { type: 'cluster', key: 'arc-prod', policy: 'audit' },
      ],
      config: {
        'egress-policy': 'block',
        'allowed-endpoints': 'github.com:443 objects.githubusercontent.com:443 proxy.golang.org:443 registry.npmjs.org:443',
      },
    });
  });

  it('text output names the winner and what it shadows', async () => {
    repo = makeTempRepo(SAMPLE_FILES);
    const run = await runCli(['resolve', '-C', repo.dir, '--repository', 'acme/api', '--workflow', '.github/workflows/release.yml']);
    expect(run.stdout).toContain('policy: base (attached to workflow acme/api/.github/workflows/release.yml)');
    expect(run.stdout).toContain('shadows: repository acme/api -> api');
  });

  it('refuses an invalid repository with exit 1', async () => {
    repo = makeTempRepo({ ...SAMPLE_FILES, 'attachments.yml': 'organizations:\n  acme: nope\n' });
    const run = await runCli(['resolve', '-C', repo.dir, '--repository', 'acme/api']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('attachments.yml:2:9');
  });
});
