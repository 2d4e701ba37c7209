/**
 * `egressctl rollout --source baselines` in-process against the GitHub stand-in: App credentials
 * (JWT -> installation token) and a token, dry-run diffs, usage errors. Plans come from observed
 * baselines here, asked for explicitly (the store is the default: see sync-cli.test.ts).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { emptyBaselineFile, mergeObservations, renderBaselineFile } from '../../src/baselines/index.js';
import { ROLLOUT_BRANCH } from '../../src/rollout/rollout-body.js';
import { runCli } from '../support/cli.js';
import { startGitHubStandin, type GitHubStandin } from '../support/github/index.js';
import { makeTempRepo, type TempRepo } from '../support/policy-repo.js';
import { SIMPLE_WORKFLOW } from '../support/workflows.js';

const WORKFLOW = SIMPLE_WORKFLOW;

let standin: GitHubStandin;
let policy: TempRepo;
let installationId: number;

beforeEach(async () => {
  standin = await startGitHubStandin();
  installationId = standin.createInstallation({ account: 'acme' }).id;
  await standin.createRepository('acme/api', { files: { '.github/workflows/ci.yml': WORKFLOW } });
  await standin.createRepository('acme/web', { files: { '.github/workflows/ci.yml': WORKFLOW } });
  const runs = Array.from({ length: 4 }, (_, index) => ({ workflow: '.github/workflows/ci.yml', job: 'test', runId: String(index + 1), at: `2026-11-0${index + 1}T00:00:00Z`, endpoints: ['registry.npmjs.org:443'] }));
  policy = makeTempRepo({
    'egressctl.yml': 'organizations: [acme]\n',
    'baselines/acme/api.yml': renderBaselineFile(mergeObservations(emptyBaselineFile('acme/api'), runs).file),
  });
});

afterEach(async () => {
  policy.cleanup();
  await standin.finish();
});

describe('egressctl rollout', () => {
  it('rolls out with the GitHub App\'s credentials, then a re-run writes nothing', async () => {
    const env = { APP_ID: String(standin.app.id), PRIVATE_KEY: standin.app.privateKey!.replace(/\n/g, '\\n'), GITHUB_API_URL: standin.url };
    const first = await runCli(['rollout', '--source', 'baselines', '--org', 'acme', '--all', '-C', policy.dir, '--write-interval', '0'], { env });
    expect(first.stderr).toMatch(/acme\/api: created #1: opened pull request #1: 1 file/);
    expect(first.stderr).toMatch(/acme\/web: created #1/);
    expect(first.stderr).toMatch(/2 repositories: 2 created; \d+ GitHub API requests/);
    expect(first.code).toBe(0);
    expect(await standin.readFile('acme/api', '.github/workflows/ci.yml', ROLLOUT_BRANCH)).toContain('egress-policy: block');
    expect(await standin.readFile('acme/web', '.github/workflows/ci.yml', ROLLOUT_BRANCH)).toContain('egress-policy: audit');
    expect(standin.requests.some((request) => request.operationId === 'apps/create-installation-access-token')).toBe(true);

    standin.resetStats();
    const second = await runCli(['rollout', '--source', 'baselines', '--org', 'acme', '--repos', 'api,acme/web', '-C', policy.dir, '--json'], { env });
    expect(second.code).toBe(0);
    const report = JSON.parse(second.stdout) as { repositories: { repository: string; status: string }[] };
    expect(report.repositories.map((result) => result.status)).toEqual(['unchanged', 'unchanged']);
    // The only POST is the App's installation token (a new CLI process authenticates again).
    expect(standin.requests.filter((request) => request.write).map((request) => request.operationId)).toEqual(['apps/create-installation-access-token']);
  }, 60_000);

  it('--dry-run prints unified diffs and writes nothing (token credentials)', async () => {
    const env = { GITHUB_TOKEN: standin.createInstallationToken(installationId), GITHUB_API_URL: standin.url };
    const run = await runCli(['rollout', '--source', 'baselines', '--org', 'acme', '--repos', 'api', '--dry-run', '-C', policy.dir], { env });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^--- a\/\.github\/workflows\/ci\.yml\n\+\+\+ b\/\.github\/workflows\/ci\.yml\n@@ /);
    expect(run.stdout).toContain('+          egress-policy: block');
    expect(run.stderr).toMatch(/acme\/api: would-change: would open a pull request: 1 file/);
    expect(standin.stats().writes).toBe(0);
  }, 60_000);

  it('refuses bad usage with a clear message', async () => {
    const env = { GITHUB_TOKEN: 'ghs_x', GITHUB_API_URL: standin.url };
    expect((await runCli(['rollout', '--all', '-C', policy.dir], { env })).stderr).toMatch(/--org ORG is required/);
    expect((await runCli(['rollout', '--org', 'acme', '-C', policy.dir], { env })).stderr).toMatch(/--repos R1,R2\) or pass --all/);
    expect((await runCli(['rollout', '--org', 'other', '--all', '-C', policy.dir], { env })).stderr).toMatch(/not among the organizations egressctl.yml manages \(acme\)/);
    expect((await runCli(['rollout', '--org', 'acme', '--all', '--mode', 'action', '-C', policy.dir], { env })).stderr).toMatch(/--mode action needs --action/);
    const noCredentials = await runCli(['rollout', '--org', 'acme', '--all', '-C', policy.dir], { env: {} });
    expect(noCredentials.code).toBe(2);
    expect(noCredentials.stderr).toMatch(/no GitHub credentials/);
    expect(standin.stats().total).toBe(0);
  });
});
