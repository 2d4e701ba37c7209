/**
 * The one GitHub client (src/github/client.ts) against the stand-in: writes of one installation
 * are spaced and serialized, another installation's are not held up behind them, and a
 * secondary rate limit is waited out a bounded number of times, also when Probot builds the
 * client (Probot's own handlers never retry it).
 */
import { Probot } from 'probot';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gitHubClientClass, tokenClient, type RateLimitEvent } from '../../src/github/client.js';
import { gitHubErrorOf, gitHubMessageOf, gitHubStatus } from '../../src/util/errors.js';
import { freePort } from '../support/server.js';
import { startGitHubStandin, type GitHubStandin } from '../support/github/index.js';

let standin: GitHubStandin;
const VARIABLES_WRITE = { metadata: 'read', actions_variables: 'write' } as const;

beforeEach(async () => {
  standin = await startGitHubStandin();
});

afterEach(async () => {
  await standin.finish();
});

/** Send times of content-creating requests, taken where the request leaves the client. */
function recordingFetch(times: { label: string; at: number }[], label: string): typeof fetch {
  return (input, init) => {
    if (init?.method && init.method !== 'GET') times.push({ label, at: Date.now() });
    return fetch(input, init);
  };
}

describe('the GitHub client', () => {
  it('spaces the writes of one installation and does not hold another installation behind them', async () => {
    const acme = standin.createInstallation({ account: 'acme', permissions: VARIABLES_WRITE });
    const other = standin.createInstallation({ account: 'other', permissions: VARIABLES_WRITE });
    await standin.createRepository('acme/api', { files: { 'README.md': 'x\n' } });
    await standin.createRepository('other/svc', { files: { 'README.md': 'x\n' } });
    const Client = gitHubClientClass({ writeSpacingMs: 2000 });
    const sent: { label: string; at: number }[] = [];
    const clientFor = (installationId: number, label: string) =>
      new Client({
        baseUrl: standin.apiRoot,
        auth: { token: standin.createInstallationToken(installationId) },
        throttle: { id: String(installationId) } as never, // the key writes are spaced by (Probot sets it per installation)
        request: { fetch: recordingFetch(sent, label) },
      });
    const acmeClient = clientFor(acme.id, 'acme');
    const otherClient = clientFor(other.id, 'other');

    await Promise.all([
      ...['A', 'B', 'C'].map((name) => acmeClient.rest.actions.createRepoVariable({ owner: 'acme', repo: 'api', name, value: name })),
      otherClient.rest.actions.createRepoVariable({ owner: 'other', repo: 'svc', name: 'D', value: 'D' }),
    ]);

    const acmeTimes = sent.filter((entry) => entry.label === 'acme').map((entry) => entry.at);
    expect(acmeTimes).toHaveLength(3);
    // The spacing gate opens 2 s apart; without it the three leave within milliseconds. A request
    // leaves some time after its gate (90 ms seen on a loaded 2-core machine, 909 ms measured against
    // a 1 s gate in CI), so half the spacing: a machine 10 times slower than that still passes, and
    // writes that are not spaced still fail by far.
    for (let index = 1; index < acmeTimes.length; index++) expect(acmeTimes[index]! - acmeTimes[index - 1]!).toBeGreaterThanOrEqual(1_000);
    // The other installation's write went out before acme's second one (two seconds later at the earliest).
    const otherTime = sent.find((entry) => entry.label === 'other')!.at;
    expect(otherTime).toBeLessThan(acmeTimes[1]!);
    expect([...standin.variables('repository', 'acme/api').keys()].sort()).toEqual(['A', 'B', 'C']);
  }, 60_000);

  it('waits out a secondary rate limit a bounded number of times when Probot builds it', async () => {
    const installation = standin.createInstallation({ account: 'acme', permissions: VARIABLES_WRITE });
    await standin.createRepository('acme/api', { files: { 'README.md': 'x\n' } });
    const limits: RateLimitEvent[] = [];
    const probotWith = (secondaryLimitRetries: number) =>
      new Probot({
        ...standin.probotOptions(),
        logLevel: 'fatal',
        Octokit: gitHubClientClass({ secondaryLimitRetries, retryAfterBaseValue: 1, writeSpacingMs: 0, onLimit: (event) => limits.push(event) }),
      });

    // Bounded: one retry, then the error reaches the caller (a webhook must not wait forever).
    const bounded = await probotWith(1).auth(installation.id);
    standin.secondaryRateLimit(3, { retryAfter: 1 });
    await expect(bounded.rest.actions.createRepoVariable({ owner: 'acme', repo: 'api', name: 'A', value: 'a' })).rejects.toMatchObject({ status: 403 });
    expect(limits.map((event) => [event.kind, event.retrying])).toEqual([
      ['secondary', true],
      ['secondary', false],
    ]);
    expect(standin.stats().injectedFaults).toBe(2);

    // Within the bound it finishes (the third fault left from above, then success).
    limits.length = 0;
    const patient = await probotWith(3).auth(installation.id);
    await patient.rest.actions.createRepoVariable({ owner: 'acme', repo: 'api', name: 'B', value: 'b' });
    expect(limits.map((event) => event.retrying)).toEqual([true]);
    expect(standin.variables('repository', 'acme/api').has('B')).toBe(true);
  }, 60_000);
});

describe('a request that gets no answer (issue 23)', () => {
  it('is not an HTTP status: the message names what could not be reached', async () => {
    const port = await freePort(); // nothing listens there once the probe closed
    const client = tokenClient('ghp_test', { baseUrl: `http://127.0.0.1:${port}`, serverErrorRetries: 0, throttleEnabled: false });
    const error: unknown = await client.rest.repos.get({ owner: 'acme', repo: 'api' }).then(() => undefined, (caught: unknown) => caught);
    expect(error).toBeDefined();
    expect(gitHubStatus(error)).toBeUndefined();
    expect(gitHubMessageOf(error)).toBe(`could not reach 127.0.0.1:${port}: the connection was refused (nothing listens there)`);
    expect(gitHubMessageOf(error)).not.toMatch(/answered|500/);
  });

  it('a real 500 from GitHub is still one', async () => {
    const server = createServer((_request, response) => {
      response.writeHead(500, { 'content-type': 'application/json', 'x-github-request-id': 'ABCD:1234' });
      response.end('{"message":"Server Error"}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const client = tokenClient('ghp_test', { baseUrl: `http://127.0.0.1:${port}`, serverErrorRetries: 0, throttleEnabled: false });
      const error: unknown = await client.rest.repos.get({ owner: 'acme', repo: 'api' }).then(() => undefined, (caught: unknown) => caught);
      expect(gitHubErrorOf(error)).toEqual({ status: 500, requestId: 'ABCD:1234' });
      expect(gitHubMessageOf(error)).toMatch(/^GitHub answered 500: Server Error/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
