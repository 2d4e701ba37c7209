/** The app on Probot's own runner: settings from the environment, bundles published to a file. */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Probot } from 'probot';
import { afterEach, describe, expect, it } from 'vitest';
import egressctlApp from '../../src/app/index.js';
import { gitHubClientClass } from '../../src/github/client.js';
import { appFromEnv } from '../../src/app/standalone.js';
import { openBundle } from '../../src/bundle/dsse.js';
import { generateKeyPair, parsePublicKeys } from '../../src/bundle/keys.js';
import type { GitHubStandin } from '../support/github/index.js';
import { closeStandin, POLICY_REPO, startPolicyStandin } from '../support/app.js';

let standin: GitHubStandin | undefined;
let work: string | undefined;

afterEach(async () => {
  await closeStandin(standin, work);
  standin = undefined;
  work = undefined;
});

describe('standalone app', () => {
  it('publishes a push to EGRESSCTL_BUNDLE_FILE, signed with EGRESSCTL_SIGN_KEY', async () => {
    standin = await startPolicyStandin();
    work = await mkdtemp(path.join(os.tmpdir(), 'egressctl-standalone-'));
    const keys = generateKeyPair();
    await writeFile(path.join(work, 'sign.pem'), keys.privateKeyPem);
    const app = await appFromEnv(
      {
        EGRESSCTL_POLICY_REPOSITORY: POLICY_REPO,
        EGRESSCTL_SIGN_KEY: 'sign.pem',
        EGRESSCTL_BUNDLE_FILE: 'out/bundle.dsse.json',
        EGRESSCTL_APP_CACHE_DIR: path.join(work, 'cache'),
        EGRESSCTL_GIT_URL_TEMPLATE: `${standin.url}/git/{owner}/{repo}.git`,
      },
      work,
    );
    const probot = new Probot({ ...standin.probotOptions(), logLevel: 'fatal', Octokit: gitHubClientClass({ throttleEnabled: false }) });
    await probot.load(app.appFn);
    const head = (await standin.refSha(POLICY_REPO, 'main'))!;
    const payload = await standin.webhookPayload({ event: 'push', repository: POLICY_REPO, after: head });
    await probot.receive({ id: 'delivery-1', name: 'push', payload } as Parameters<Probot['receive']>[0]);
    await app.idle();
    const published = openBundle(await readFile(path.join(work, 'out/bundle.dsse.json'), 'utf8'), { publicKeys: parsePublicKeys(keys.publicKeyPem) });
    expect(published.bundle.revision).toBe(head);
    expect(published.keyids).toEqual([keys.keyid]);
    expect(standin.checkRuns(POLICY_REPO, { headSha: head })).toMatchObject([{ name: 'egressctl / publish', conclusion: 'success' }]);
    await app.close();
  });

  it('is the default export Probot runs (`probot run ./dist/app/index.js`), configured by process.env', async () => {
    standin = await startPolicyStandin();
    work = await mkdtemp(path.join(os.tmpdir(), 'egressctl-standalone-'));
    const settings: Record<string, string> = {
      EGRESSCTL_POLICY_REPOSITORY: POLICY_REPO,
      EGRESSCTL_BUNDLE_FILE: path.join(work, 'bundle.dsse.json'),
      EGRESSCTL_APP_CACHE_DIR: path.join(work, 'cache'),
      EGRESSCTL_GIT_URL_TEMPLATE: `${standin.url}/git/{owner}/{repo}.git`,
    };
    const saved = Object.fromEntries(Object.keys(settings).map((name) => [name, process.env[name]]));
    Object.assign(process.env, settings);
    try {
      const probot = new Probot({ ...standin.probotOptions(), logLevel: 'fatal', Octokit: gitHubClientClass({ throttleEnabled: false }) });
      await probot.load(egressctlApp);
      const head = (await standin.refSha(POLICY_REPO, 'main'))!;
      const payload = await standin.webhookPayload({ event: 'push', repository: POLICY_REPO, after: head });
      await probot.receive({ id: 'delivery-2', name: 'push', payload } as Parameters<Probot['receive']>[0]);
      expect(openBundle(await readFile(settings.EGRESSCTL_BUNDLE_FILE!, 'utf8')).bundle.revision).toBe(head);
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });
});
