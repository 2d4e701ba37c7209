/**
 * Which GitHub the App talks to (docs/github-app.md, "GitHub Enterprise Server"): `github-url`
 * in the served policy repository's egressctl.yml is the one setting, and a delivery from another
 * GitHub is refused before any request. The stand-in is shaped like GitHub Enterprise Server: its
 * payloads name `<host>/api/v3` as their API.
 */
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import type { GitHubStandin } from '../support/github/index.js';
import { makeTempRepo, type TempRepo } from '../support/policy-repo.js';
import { followServe } from '../support/serve-process.js';
import { appEnvironment, closeStandin, POLICY_FILES, POLICY_REPO, repoRoot, startHarness, startPolicyStandin, type Harness } from '../support/app.js';

let harness: Harness | undefined;
let standin: GitHubStandin | undefined;
let policy: TempRepo | undefined;

afterEach(async () => {
  await harness?.close();
  harness = undefined;
  await closeStandin(standin);
  standin = undefined;
  policy?.cleanup();
  policy = undefined;
});

describe('the GitHub the App talks to', () => {
  it('refuses a delivery from another GitHub with the setting to fix, before any request', async () => {
    harness = await startHarness();
    const { standin: github, hookUrl } = harness;
    await github.commitFiles(POLICY_REPO, { branch: 'change', files: { 'policies/audit.yml': 'egress-policy: audit\ndescription: x\n' }, message: 'change' });
    const pr = await github.openPullRequest(POLICY_REPO, { head: 'change' });
    github.requests.length = 0;

    // As github.com would send it.
    const refused = await github.deliverWebhook({
      url: hookUrl,
      event: 'pull_request',
      action: 'opened',
      repository: POLICY_REPO,
      pullRequest: pr.number,
      overrides: { repository: { url: `https://api.github.com/repos/${POLICY_REPO}` } },
    });
    expect(refused.status).toBe(421);
    expect(JSON.parse(refused.body)).toMatchObject({
      error: {
        message: expect.stringContaining(
          `this delivery comes from the GitHub API at https://api.github.com, but the App talks to ${github.apiRoot}: set github-url: https://github.com in egressctl.yml`,
        ),
      },
    });
    expect(github.requests).toEqual([]);
    expect(github.checkRuns(POLICY_REPO)).toEqual([]);

    // The same delivery as the stand-in (this App's GitHub) sends it is reviewed.
    const accepted = await github.deliverWebhook({ url: hookUrl, event: 'pull_request', action: 'opened', repository: POLICY_REPO, pullRequest: pr.number });
    expect(accepted.status).toBe(200);
    expect(github.checkRuns(POLICY_REPO, { headSha: pr.headSha, name: 'egressctl / validate' })).toMatchObject([{ conclusion: 'success' }]);
  });

  it('egressctl serve takes the API from github-url in the served egressctl.yml, without GHE_HOST', async () => {
    standin = await startPolicyStandin();
    const github = standin;
    await github.commitFiles(POLICY_REPO, { branch: 'change', files: { 'policies/audit.yml': 'egress-policy: audit\ndescription: x\n' }, message: 'change' });
    const pr = await github.openPullRequest(POLICY_REPO, { head: 'change' });
    policy = makeTempRepo({ ...POLICY_FILES, 'egressctl.yml': `github-url: ${github.url}\n` });

    const script = `import('./src/cli/main.ts').then((m) => m.main(['serve', '--source', ${JSON.stringify(policy.dir)}])).then((code) => { process.exitCode = code; })`;
    // The operator's environment without GHE_HOST: github-url is the one setting.
    const { GHE_HOST: _host, GHE_PROTOCOL: _protocol, ...app } = appEnvironment(github);
    const env: NodeJS.ProcessEnv = { ...process.env, EGRESSCTL_PORT: '0', EGRESSCTL_LOG_LEVEL: 'warn', ...app, EGRESSCTL_POLICY_REPOSITORY: POLICY_REPO };
    delete env.GHE_HOST;
    delete env.GHE_PROTOCOL;
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const serving = followServe(child);
    const exited = serving.exited;
    try {
      const url = await serving.url;
      const reviewed = await github.deliverWebhook({ url: `${url}/api/github/webhooks`, event: 'pull_request', action: 'opened', repository: POLICY_REPO, pullRequest: pr.number });
      expect(reviewed.status).toBe(200);
      expect(github.checkRuns(POLICY_REPO, { headSha: pr.headSha, name: 'egressctl / validate' })).toMatchObject([{ conclusion: 'success' }]);
      // Every request the App made went to the API root github-url names.
      const paths = github.requests.filter((request) => request.kind === 'api').map((request) => request.path);
      expect(paths.length).toBeGreaterThan(0);
      expect(paths.filter((path) => !path.startsWith('/api/v3/'))).toEqual([]);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('egressctl serve refuses GHE_HOST and github-url naming different hosts', async () => {
    policy = makeTempRepo({ ...POLICY_FILES, 'egressctl.yml': 'github-url: https://ghes.acme.example\n' });
    const { runCli } = await import('../support/cli.js');
    const run = await runCli(['serve', '--source', policy.dir], { env: { GHE_HOST: 'old.acme.example' } });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('GHE_HOST says https://old.acme.example but egressctl.yml says github-url: https://ghes.acme.example');
  });
});
