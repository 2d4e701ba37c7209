/**
 * Replicas serve the same published revision (issue 21; docs/github-app.md "Durable work",
 * docs/architecture.md#replicas-share-what-is-published): GitHub delivers a push to one replica,
 * which stores the bundle in the queue's Redis; every replica adopts it through its own store.
 * Real redis-server (Debian's, on a free loopback port), real `egressctl serve` processes against
 * the GitHub stand-in, and in-process servers for the races and the refusals.
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { openBundle } from '../../src/bundle/dsse.js';
import { publishOrdering } from '../../src/bundle/revision-order.js';
import { RedisBundlePeers } from '../../src/app/shared-bundle.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { sealSource } from '../../src/server/sources/seal.js';
import { POLICY_REPO, closeStandin, startAppProcess, startPolicyStandin, type AppProcess } from '../support/app.js';
import type { GitHubStandin } from '../support/github/index.js';
import type { TempRepo } from '../support/policy-repo.js';
import { redisMissing, startRedis, type RunningRedis } from '../support/redis.js';
import { bundleKeys, captureLogger, getJson, perTestScratch, waitFor } from '../support/server.js';

const missing = redisMissing();
if (missing) console.log(missing);

async function envelope(repo: TempRepo, rev: string, keys: ReturnType<typeof bundleKeys>): Promise<string> {
  const outcome = await sealSource(repo.dir, rev, [keys.privateKey]);
  if (!outcome.ok) throw new Error(outcome.message);
  return outcome.text;
}

/** The revision and ETag `/v1/bundle` serves now (undefined while none). */
async function bundleAt(url: string): Promise<{ revision: string; etag: string } | undefined> {
  const response = await fetch(`${url}/v1/bundle`);
  if (response.status !== 200) return undefined;
  return { revision: openBundle(await response.text()).bundle.revision, etag: response.headers.get('etag') ?? '' };
}

describe.skipIf(missing !== undefined)('replicas of `egressctl serve` on one redis-server serve what any of them published', () => {
  let redis: RunningRedis | undefined;
  let standin: GitHubStandin | undefined;
  let stateDir: string;
  const processes: AppProcess[] = [];

  beforeEach(async () => {
    redis = await startRedis();
    standin = await startPolicyStandin();
    // The repository the policy attaches to, so that the sync after a publish has one to sync.
    await standin.createRepository('acme/api', { files: { '.github/workflows/ci.yml': 'name: CI\non: [push]\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: npm test\n' } });
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'egressctl-shared-'));
  });
  afterEach(async () => {
    for (const app of processes.splice(0)) await app.kill9();
    await redis?.close();
    await closeStandin(standin, stateDir);
    standin = undefined;
  });

  async function replica(): Promise<AppProcess> {
    const dir = await mkdtemp(path.join(stateDir, 'replica-'));
    const app = await startAppProcess(standin!, dir, { EGRESSCTL_QUEUE: redis!.url });
    processes.push(app);
    return app;
  }

  async function push(app: AppProcess, after: string): Promise<void> {
    expect((await standin!.deliverWebhook({ url: app.hookUrl, event: 'push', repository: POLICY_REPO, after })).status).toBe(200);
  }

  it('a push delivered to replica A only: B serves the new revision within seconds (new ETag; a ?wait= long poll on B returns it)', async () => {
    const [a, b] = await Promise.all([replica(), replica()]);
    const first = (await standin!.refSha(POLICY_REPO, 'main'))!;
    await push(a, first);
    expect((await bundleAt(a.url))?.revision).toBe(first);
    // By the notification or, at worst, the 15 s re-check: either will do before the test proper.
    const before = await waitFor(async () => (await bundleAt(b.url))?.revision === first && bundleAt(b.url), 30_000, 'B to serve the first revision');

    // B long-polls for a change; the next push goes to A only.
    const polled = fetch(`${b.url}/v1/bundle?wait=30`, { headers: { 'if-none-match': before.etag } });
    const second = await standin!.commitFiles(POLICY_REPO, { files: { 'policies/api.yml': 'egress-policy: block\nextends: base\nallowed-endpoints:\n  - registry.npmjs.org\n' } });
    const [lagMs, answer] = await Promise.all([push(a, second).then(() => Date.now()), polled.then((response) => [Date.now(), response] as const)]).then(([pushed, [polledAt, response]]) => [polledAt - pushed, response] as const);
    // A answers the webhook after publishing and syncing: B has it by then, or soon after through
    // the notification (well under a second on an idle machine; the bound is room for a loaded one,
    // and stays under the 15 s re-check that would otherwise be the only way B learns of it).
    expect(lagMs).toBeLessThan(5_000);
    expect(answer.status).toBe(200);
    expect(openBundle(await answer.text()).bundle.revision).toBe(second);
    expect(answer.headers.get('etag')).not.toBe(before.etag);
    const now = await bundleAt(b.url);
    expect(now).toEqual({ revision: second, etag: answer.headers.get('etag') });
    expect(await getJson(`${b.url}/readyz`)).toMatchObject({ status: 200, body: { revision: second, origin: 'shared' } });
    // B's console shows it too.
    expect(await (await fetch(`${b.url}/`, { headers: { accept: 'text/html' } })).text()).toContain(`title="${second}"`);
  }, 120_000);

  it('a replica started after the publish serves it at start: ready, with that revision, before any push reaches it', async () => {
    const a = await replica();
    const sha = (await standin!.refSha(POLICY_REPO, 'main'))!;
    await push(a, sha);
    const late = await replica();
    // The first requests it answers: no wait, no push.
    const [bundle, ready] = await Promise.all([bundleAt(late.url), getJson(`${late.url}/readyz`)]);
    expect(bundle?.revision).toBe(sha);
    expect(ready).toMatchObject({ status: 200, body: { status: 'ok', revision: sha } });
  }, 120_000);
});

describe.skipIf(missing !== undefined)('the bundle stored in Redis', () => {
  const { cleanups, tempRepo, tempDir } = perTestScratch('egressctl-shared-');
  let redis: RunningRedis;
  beforeEach(async () => {
    redis = await startRedis();
    cleanups.push(() => redis.close());
  });

  async function peers(): Promise<RedisBundlePeers> {
    const opened = await RedisBundlePeers.open({ url: redis.url });
    cleanups.push(() => opened.close());
    return opened;
  }

  async function replica(keys: ReturnType<typeof bundleKeys>, logger = captureLogger().logger, stateDir = tempDir(), peerRecheckMs?: number): Promise<RunningServer> {
    const server = await startServer({
      ...(peerRecheckMs ? { peerRecheckMs } : {}),
      source: null,
      host: '127.0.0.1',
      port: 0,
      publicKeys: [keys.publicKey],
      stateDir,
      peers: await RedisBundlePeers.open({ url: redis.url }),
      logger,
      defaultMetrics: false,
    });
    cleanups.push(() => server.close());
    return server;
  }

  /** `count` commits of one repository, a day apart, oldest first. */
  function history(repo: TempRepo, count: number): string[] {
    return Array.from({ length: count }, (_, index) => {
      repo.write({ 'policies/audit.yml': `egress-policy: audit\ndescription: revision ${index}\n` });
      return repo.commit(`revision ${index}`, { date: `2024-03-${String(index + 1).padStart(2, '0')}T00:00:00Z` });
    });
  }

  it('an older bundle shared by a lagging replica never replaces a newer one', async () => {
    const repo = tempRepo();
    const [older, newer] = history(repo, 2) as [string, string];
    const keys = bundleKeys();
    const [one, other] = [await peers(), await peers()];
    const bundle = async (rev: string) => ({ ...openBundle(await envelope(repo, rev, keys)).bundle, text: await envelope(repo, rev, keys) });
    expect(await one.share(await bundle(newer), { kind: 'committed-at' })).toEqual({ status: 'stored', revision: newer });
    const lagging = await other.share(await bundle(older), { kind: 'committed-at' });
    expect(lagging).toMatchObject({ status: 'newer', revision: newer });
    expect(lagging.status === 'newer' && lagging.reason).toContain(`revision ${older}`);
    expect(openBundle((await one.latest())!).bundle.revision).toBe(newer);
    // The publish's own ordering (git ancestry) agrees: older does not descend from newer.
    expect(await other.share(await bundle(older), publishOrdering(async () => false))).toMatchObject({ status: 'newer', revision: newer });
    expect(await other.share(await bundle(newer), { kind: 'committed-at' })).toEqual({ status: 'unchanged', revision: newer });
  });

  it('race: two replicas sharing at the same moment, 30 times: the newest is what stays stored', async () => {
    const repo = tempRepo();
    const revisions = history(repo, 4);
    const keys = bundleKeys();
    const texts = await Promise.all(revisions.map((rev) => envelope(repo, rev, keys)));
    const points = texts.map((text) => ({ ...openBundle(text).bundle, text }));
    const replicas = [await peers(), await peers(), await peers()];
    const raw = new Redis(redis.url);
    cleanups.push(() => void raw.disconnect());
    for (let round = 0; round < 30; round++) {
      await raw.del('egressctl:bundle:current');
      // Each replica shares a different revision at once, in an order that changes every round.
      const order = [0, 1, 2, 3].sort(() => Math.random() - 0.5);
      await Promise.all(order.map((index, at) => replicas[at % replicas.length]!.share(points[index]!, { kind: 'committed-at' })));
      expect(openBundle((await replicas[0]!.latest())!).bundle.revision).toBe(revisions[3]);
    }
  });

  it('two replicas publishing at once: both end up serving the newer, never the older', async () => {
    const repo = tempRepo();
    const revisions = history(repo, 6);
    const keys = bundleKeys();
    const [a, b] = [await replica(keys), await replica(keys)];
    for (let index = 0; index + 1 < revisions.length; index += 2) {
      const [older, newer] = [revisions[index]!, revisions[index + 1]!];
      const [first, second] = index % 4 === 0 ? [a, b] : [b, a];
      await Promise.all([first.publish(await envelope(repo, older, keys)), second.publish(await envelope(repo, newer, keys))]);
      await waitFor(() => a.state.bundle?.bundle.revision === newer && b.state.bundle?.bundle.revision === newer, 12_000, `both replicas to serve ${newer}`);
    }
    const last = revisions.at(-1);
    expect(openBundle((await (await peers()).latest())!).bundle.revision).toBe(last);
    // Neither was ever refused or degraded on the way: the older one simply lost.
    expect(a.state.readiness().status).toBe('ok');
    expect(b.state.readiness().status).toBe('ok');
  });

  it('a notification missed (stored while the subscription was away): the periodic re-check adopts it', async () => {
    const repo = tempRepo();
    const [first, second] = history(repo, 2) as [string, string];
    const keys = bundleKeys();
    const b = await replica(keys, captureLogger().logger, tempDir(), 300);
    expect(await b.publish(await envelope(repo, first, keys))).toMatchObject({ status: 'accepted' });
    // Written as the script writes it, but with no PUBLISH: nobody is told.
    const text = await envelope(repo, second, keys);
    const raw = new Redis(redis.url);
    cleanups.push(() => void raw.disconnect());
    const committedAt = openBundle(text).bundle.committedAt;
    await raw.hset('egressctl:bundle:current', { envelope: text, revision: second, committedAt, committedAtMs: String(Date.parse(committedAt)) });
    await waitFor(() => b.state.bundle?.bundle.revision === second, 20_000, 'the re-check to adopt it');
    expect(b.state.bundle?.origin).toBe('shared');
  });

  it('Redis away during a publish: the other replica gets it once Redis is back (the next check stores it)', async () => {
    const repo = tempRepo();
    const [first, second] = history(repo, 2) as [string, string];
    const keys = bundleKeys();
    const captured = captureLogger();
    const a = await replica(keys, captured.logger, tempDir(), 300);
    const b = await replica(keys, captureLogger().logger, tempDir(), 300);
    await a.publish(await envelope(repo, first, keys));
    await waitFor(() => b.state.bundle?.bundle.revision === first, 20_000, 'B to serve the first revision');
    const port = Number(new URL(redis.url).port);
    await redis.close();
    expect(await a.publish(await envelope(repo, second, keys))).toMatchObject({ status: 'accepted', revision: second });
    expect(captured.lines().some((line) => line.msg === 'cannot share the published bundle with other replicas')).toBe(true);
    expect(b.state.bundle?.bundle.revision).toBe(first);
    // Back, and empty (no persistence): A's unshared publish is stored, B adopts it.
    redis = await startRedis({ port });
    cleanups.push(() => redis.close());
    await waitFor(() => b.state.bundle?.bundle.revision === second, 20_000, 'B to serve the second revision');
    expect(b.state.readiness().status).toBe('ok');
  });

  it('Redis failing during a publish, then answering again with the older bundle still stored: the next check stores the publish', async () => {
    const repo = tempRepo();
    const [first, second] = history(repo, 2) as [string, string];
    const keys = bundleKeys();
    const a = await replica(keys, captureLogger().logger, tempDir(), 300);
    const b = await replica(keys, captureLogger().logger, tempDir(), 300);
    await a.publish(await envelope(repo, first, keys));
    await waitFor(() => b.state.bundle?.bundle.revision === first, 20_000, 'B to serve the first revision');
    const raw = new Redis(redis.url);
    cleanups.push(() => void raw.disconnect());
    const stored = await raw.hgetall('egressctl:bundle:current');
    // Every command on the key fails (WRONGTYPE) while the publish happens.
    await raw.del('egressctl:bundle:current');
    await raw.set('egressctl:bundle:current', 'not a hash');
    expect(await a.publish(await envelope(repo, second, keys))).toMatchObject({ status: 'accepted', revision: second });
    await raw.del('egressctl:bundle:current');
    await raw.hset('egressctl:bundle:current', stored);
    await waitFor(() => b.state.bundle?.bundle.revision === second, 20_000, 'B to serve the second revision');
  });

  it('a bundle in Redis with a bad signature is refused with a log line; the replica keeps its last good one', async () => {
    const repo = tempRepo();
    const [good, next, forged] = history(repo, 3) as [string, string, string];
    const keys = bundleKeys();
    const captured = captureLogger();
    const stateDir = tempDir();
    const b = await replica(keys, captured.logger, stateDir);
    expect(await b.publish(await envelope(repo, good, keys))).toMatchObject({ status: 'accepted', revision: good });
    const before = await bundleAt(b.url);
    // Someone with another key stores a newer revision where the replicas look.
    const text = await envelope(repo, forged, bundleKeys());
    expect(await (await peers()).share({ ...openBundle(text).bundle, text }, { kind: 'committed-at' })).toMatchObject({ status: 'stored' });
    const refusal = await waitFor(
      () => captured.lines().find((line) => line.msg === 'bundle refused: still serving the last good one' && line.origin === 'shared'),
      // By the notification: the re-check is 15 s away (room for a loaded machine, still under it).
      12_000,
      'the refusal in the log',
    );
    expect(refusal).toMatchObject({ reason: 'verification' });
    expect(await bundleAt(b.url)).toEqual(before);
    expect(b.state.readiness()).toMatchObject({ status: 'degraded', problem: { reason: 'verification', origin: 'shared' } });
    // The state directory still holds the good one: a restart serves it.
    await b.close();
    const restarted = await replica(keys, captureLogger().logger, stateDir);
    expect(restarted.state.bundle?.bundle.revision).toBe(good);
    // Refused once, not at every re-check.
    expect(captured.lines().filter((line) => line.origin === 'shared' && line.msg === 'bundle refused: still serving the last good one')).toHaveLength(1);
    // The next publish replaces what this replica refused, though the forgery claims a later commit date.
    expect(await restarted.publish(await envelope(repo, next, keys))).toMatchObject({ status: 'accepted', revision: next });
    expect(openBundle((await (await peers()).latest())!).bundle.revision).toBe(next);
  });
});
