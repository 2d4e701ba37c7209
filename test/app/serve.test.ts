/**
 * The app inside `egressctl serve` (one process, one port), as an operator runs it: credentials
 * and settings from the environment, production throttling, a push published to the server.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openBundle } from '../../src/bundle/dsse.js';
import { generateKeyPair } from '../../src/bundle/keys.js';
import type { GitHubStandin } from '../support/github/index.js';
import { runCli } from '../support/cli.js';
import { appEnvironment, closeStandin, POLICY_REPO, repoRoot, startPolicyStandin } from '../support/app.js';
import { followServe } from '../support/serve-process.js';

let standin: GitHubStandin | undefined;
let work: string | undefined;

afterEach(async () => {
  await closeStandin(standin, work);
  standin = undefined;
  work = undefined;
});

describe('egressctl serve with the GitHub App', () => {
  it('answers webhooks on its own port and serves what a push to the default branch publishes', async () => {
    standin = await startPolicyStandin();
    work = await mkdtemp(path.join(os.tmpdir(), 'egressctl-serve-app-'));
    const keyFile = path.join(work, 'sign.pem');
    const keys = generateKeyPair();
    await writeFile(keyFile, keys.privateKeyPem, { mode: 0o600 });

    const script = `import('./src/cli/main.ts').then((m) => m.main(['serve', '--state-dir', ${JSON.stringify(path.join(work, 'state'))}])).then((code) => { process.exitCode = code; })`;
    // From the repository (tsx resolves there); it is a git work tree, yet with the App and no --source nothing but publish feeds the server.
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], {
      cwd: repoRoot,
      env: {
        ...process.env,
        EGRESSCTL_PORT: '0',
        EGRESSCTL_LOG_LEVEL: 'warn',
        EGRESSCTL_SIGN_KEY: keyFile,
        ...appEnvironment(standin),
        EGRESSCTL_POLICY_REPOSITORY: POLICY_REPO,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const serving = followServe(child);
    const exited = serving.exited;
    try {
      const url = await serving.url;
      // No --source: the server serves what the app publishes, nothing else.
      expect(serving.stderr()).toContain('none (bundles arrive by publish)');
      expect((await fetch(`${url}/v1/bundle`)).status).toBe(503);

      const head = (await standin.refSha(POLICY_REPO, 'main'))!;
      const bad = await standin.deliverWebhook({ url: `${url}/api/github/webhooks`, event: 'push', repository: POLICY_REPO, signature: 'invalid' });
      expect([400, 401]).toContain(bad.status);
      const pushed = await standin.deliverWebhook({ url: `${url}/api/github/webhooks`, event: 'push', repository: POLICY_REPO, after: head });
      expect(pushed.status).toBe(200);
      const served = openBundle(await (await fetch(`${url}/v1/bundle`)).text());
      expect(served.bundle.revision).toBe(head);
      expect(served.keyids).toEqual([]);
      expect(served.envelope.signatures.map((signature) => signature.keyid)).toEqual([keys.keyid]);
      // Completed once the sync after the publish (journaled work, nothing to sync here) ran.
      const deadline = Date.now() + 20_000;
      while (standin.checkRuns(POLICY_REPO, { headSha: head })[0]?.status !== 'completed' && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(standin.checkRuns(POLICY_REPO, { headSha: head })).toMatchObject([{ name: 'egressctl / publish', conclusion: 'success' }]);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('refuses a partial set of App credentials with a usage error', async () => {
    const run = await runCli(['serve'], { env: { APP_ID: '12', WEBHOOK_SECRET: 'x' }, cwd: os.tmpdir() });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('missing: PRIVATE_KEY or PRIVATE_KEY_PATH');
  });
});
