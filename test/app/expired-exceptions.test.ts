/**
 * The App's pull request that deletes expired exceptions: opened after a publish, updated in
 * place by the next one, the files edited line by line. End to end: Probot, a real server, the
 * OpenAPI-checked GitHub stand-in (app.yml's permissions), real git.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EXPIRED_BRANCH, EXPIRED_MARKER } from '../../src/app/expired-exceptions.js';
import { API_KEY, POLICY_FILES, POLICY_REPO, startHarness, type Harness } from '../support/app.js';
import { utcDay } from '../support/policy-tests.js';

let harness: Harness | undefined;
afterEach(async () => {
  const current = harness;
  harness = undefined;
  await current?.finish();
});

const api = (extra: string) =>
  [
    '# acme/api: Go and npm',
    'egress-policy: block',
    'extends: base',
    'allowed-endpoints:',
    '  - registry.npmjs.org',
    '  - endpoint: sandbox.payments.example.com   # SEC-1412',
    '    reason: contract tests until the mock lands',
    '    owner: team-payments',
    `    expires: ${utcDay(-2)}`,
    '  - proxy.golang.org:443',
    extra,
  ].join('\n');

describe('expired exceptions after a publish', () => {
  it('opens one pull request that deletes the expired entries, and updates it on the next publish', async () => {
    harness = await startHarness({ files: { ...POLICY_FILES, 'policies/api.yml': api('') } });
    const { standin, hookUrl } = harness;
    const main = (await standin.refSha(POLICY_REPO, 'main'))!;
    await standin.deliverWebhook({ url: hookUrl, event: 'push', repository: POLICY_REPO, after: main });
    await harness.mount.app.idle();
    expect(await harness.servedRevision()).toBe(main);

    // Served without the expired entry already; the pull request only tidies the file.
    const answer = await fetch(`${harness.server.url}/v1/policy?repository=acme/api`, { headers: { authorization: `ApiKey ${API_KEY}` } });
    expect(((await answer.json()) as { config: Record<string, string> }).config['allowed-endpoints']).not.toContain('sandbox.payments.example.com');

    let [pr] = standin.pullRequests(POLICY_REPO).filter((item) => item.head.ref === EXPIRED_BRANCH);
    expect(pr).toMatchObject({ state: 'open', title: 'Remove 1 expired exception from policy api', base: { ref: 'main' } });
    expect(pr!.body).toContain(EXPIRED_MARKER);
    expect(pr!.body).toContain(`| \`api\` (\`policies/api.yml\` line 6) | \`sandbox.payments.example.com\` | ${utcDay(-2)} | team-payments | contract tests until the mock lands |`);
    expect(await standin.readFile(POLICY_REPO, 'policies/api.yml', EXPIRED_BRANCH)).toBe(
      ['# acme/api: Go and npm', 'egress-policy: block', 'extends: base', 'allowed-endpoints:', '  - registry.npmjs.org', '  - proxy.golang.org:443', ''].join('\n'),
    );

    // Another entry expires and a new commit is published: the same pull request, updated.
    const next = await standin.commitFiles(POLICY_REPO, {
      files: { 'policies/api.yml': api(`  - endpoint: uploads.example.com\n    reason: release upload\n    expires: ${utcDay(-1)}\n`) },
      message: 'api: release upload exception',
    });
    await standin.deliverWebhook({ url: hookUrl, event: 'push', repository: POLICY_REPO, after: next });
    await harness.mount.app.idle();
    const open = standin.pullRequests(POLICY_REPO).filter((item) => item.head.ref === EXPIRED_BRANCH);
    expect(open).toHaveLength(1);
    [pr] = open;
    expect(pr!.title).toBe('Remove 2 expired exceptions from policy api');
    const edited = await standin.readFile(POLICY_REPO, 'policies/api.yml', EXPIRED_BRANCH);
    expect(edited).not.toContain('uploads.example.com');
    expect(edited).not.toContain('sandbox.payments.example.com');
    expect(edited).toContain('  - proxy.golang.org:443\n');
  });

  it('is not reopened after a person closed it, until the set of expired entries changes', async () => {
    harness = await startHarness({ files: { ...POLICY_FILES, 'policies/api.yml': api('') } });
    const { standin, hookUrl } = harness;
    const publish = async (sha: string) => {
      expect((await standin.deliverWebhook({ url: hookUrl, event: 'push', repository: POLICY_REPO, after: sha })).status).toBe(200);
      await harness!.mount.app.idle();
    };
    await publish((await standin.refSha(POLICY_REPO, 'main'))!);
    const [pr] = standin.pullRequests(POLICY_REPO).filter((item) => item.head.ref === EXPIRED_BRANCH);
    expect(pr?.state).toBe('open');
    await standin.closePullRequest(POLICY_REPO, pr!.number);

    // Another change, the same expired entry (now on another line): left closed, nothing written for it.
    standin.resetStats();
    await publish(await standin.commitFiles(POLICY_REPO, { files: { 'policies/api.yml': `# moved down\n${api('')}` } }));
    expect(standin.pullRequests(POLICY_REPO).filter((item) => item.head.ref === EXPIRED_BRANCH).map((item) => item.state)).toEqual(['closed']);
    expect(standin.requests.filter((request) => request.write && request.repository === POLICY_REPO && request.operationId?.startsWith('git/'))).toEqual([]);

    // Another entry expires: the set changed, a new pull request.
    await publish(await standin.commitFiles(POLICY_REPO, { files: { 'policies/api.yml': api(`  - endpoint: uploads.example.com\n    reason: release upload\n    expires: ${utcDay(-1)}\n`) } }));
    const pulls = standin.pullRequests(POLICY_REPO).filter((item) => item.head.ref === EXPIRED_BRANCH);
    expect(pulls.map((item) => item.state)).toEqual(['closed', 'open']);
    expect(pulls[1]!.title).toBe('Remove 2 expired exceptions from policy api');
  });

  it('opens nothing while every exception still counts', async () => {
    harness = await startHarness();
    const { standin, hookUrl } = harness;
    const head = await standin.commitFiles(POLICY_REPO, {
      files: { 'policies/api.yml': `egress-policy: block\nallowed-endpoints:\n  - endpoint: x.example.com\n    reason: r\n    expires: ${utcDay(0)}\n` },
    });
    await standin.deliverWebhook({ url: hookUrl, event: 'push', repository: POLICY_REPO, after: head });
    await harness.mount.app.idle();
    expect(await harness.servedRevision()).toBe(head);
    expect(standin.pullRequests(POLICY_REPO)).toEqual([]);
  });
});
