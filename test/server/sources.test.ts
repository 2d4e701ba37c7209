import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startServer, STATE_BUNDLE_FILE, type RunningServer, type StartServerOptions } from '../../src/server/index.js';
import { sealSource } from '../../src/server/sources/seal.js';
import { startHostileServer } from '../support/hostile-server.js';
import type { TempRepo } from '../support/policy-repo.js';
import { bundleKeys, captureLogger, getJson, perTestScratch, waitFor } from '../support/server.js';

const { cleanups, tempRepo, tempDir } = perTestScratch('egressctl-serve-');

async function serve(options: StartServerOptions): Promise<RunningServer> {
  const server = await startServer({ port: 0, logger: captureLogger().logger, defaultMetrics: false, ...options });
  cleanups.push(() => server.close());
  return server;
}

async function envelope(repo: TempRepo, rev: string, keys = bundleKeys()): Promise<string> {
  const outcome = await sealSource(repo.dir, rev, [keys.privateKey]);
  if (!outcome.ok) throw new Error(outcome.message);
  return outcome.text;
}

async function served(server: RunningServer): Promise<string | undefined> {
  return server.state.bundle?.bundle.revision;
}

describe('/v1/bundle', () => {
  it('sends an ETag, answers If-None-Match with 304, and long-polls with ?wait', async () => {
    const repo = tempRepo();
    repo.commit('first');
    const server = await serve({ source: repo.dir });
    const first = await fetch(`${server.url}/v1/bundle`);
    expect(first.status).toBe(200);
    const etag = first.headers.get('etag') ?? '';
    expect(etag).toMatch(/^"[0-9a-f]{64}"$/);
    expect(JSON.parse(await first.text())).toHaveProperty('payloadType', 'application/vnd.egressctl.bundle.v1+json');

    const again = await fetch(`${server.url}/v1/bundle`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(etag);

    const started = Date.now();
    const held = await fetch(`${server.url}/v1/bundle?wait=1`, { headers: { 'if-none-match': etag } });
    expect(held.status).toBe(304);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);

    const bad = await getJson(`${server.url}/v1/bundle?wait=soon`);
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { code: 'bad_request' } });
  });

  it('keeps the git source fresh on the fallback poll (unchanged refs) and still follows new commits', async () => {
    const repo = tempRepo();
    const first = repo.commit('first');
    const server = await serve({ source: repo.dir, pollIntervalMs: 50 });
    expect(await served(server)).toBe(first);
    const seen = server.state.source.lastSuccessAt?.getTime() ?? 0;
    // Polls that find HEAD and its ref unchanged still report the source healthy.
    await waitFor(async () => (server.state.source.lastSuccessAt?.getTime() ?? 0) > seen, 20_000);
    expect(await served(server)).toBe(first);
    repo.write({ 'policies/audit.yml': 'egress-policy: audit\ndescription: polled\n' });
    const second = repo.commit('second');
    await waitFor(async () => (await served(server)) === second, 20_000);
    // A detached HEAD at the first commit is a change of HEAD too (refused as a rewind, seen all the same).
    repo.git('checkout', '-q', '--detach', first);
    await waitFor(async () => server.state.degraded?.revision === first, 20_000);
    expect(await served(server)).toBe(second);
  });

  it('answers a long poll as soon as a new commit lands on the git source (the watch, not the poll)', async () => {
    const repo = tempRepo();
    repo.commit('first');
    // The fallback poll is a minute away and the long poll ends after 20 s: only the watch can
    // answer it with the new revision, and the time bound leaves room for a slow machine (about
    // 0.1 s on an idle one).
    const server = await serve({ source: repo.dir, pollIntervalMs: 60_000 });
    const etag = (await fetch(`${server.url}/v1/bundle`)).headers.get('etag') ?? '';
    const poll = fetch(`${server.url}/v1/bundle?wait=20`, { headers: { 'if-none-match': etag } }).then((response) => ({ response, at: Date.now() }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    repo.write({ 'policies/audit.yml': 'egress-policy: audit\ndescription: changed\n' });
    const sha = repo.commit('second');
    const committedAt = Date.now();
    const { response, at } = await poll;
    expect(response.status).toBe(200);
    expect(response.headers.get('x-egressctl-revision')).toBe(sha);
    expect(at - committedAt).toBeLessThan(10_000);
  });

  it('chains: a replica following the first server converges on each new commit', async () => {
    const repo = tempRepo();
    repo.commit('first');
    const first = await serve({ source: repo.dir, pollIntervalMs: 60_000 });
    const replica = await serve({ source: `${first.url}/v1/bundle` });
    expect(await served(replica)).toBe(await served(first));
    expect(replica.state.readiness()).toMatchObject({ status: 'ok', origin: 'upstream', source: { kind: 'upstream' } });

    repo.write({ 'policies/base.yml': 'egress-policy: block\nallowed-endpoints: github.com api.github.com\n' });
    const sha = repo.commit('second');
    // The replica's own long poll is held 55 s: converging well before that is the upstream
    // answering it on the new commit (about a second on an idle machine).
    await waitFor(async () => (await served(replica)) === sha, 20_000, 'the replica to converge');
    const [a, b] = await Promise.all([fetch(`${first.url}/v1/bundle`), fetch(`${replica.url}/v1/bundle`)]);
    expect(await b.text()).toBe(await a.text());
  });
});

describe('shutdown', () => {
  it('ends long polls with 304 and stops accepting', async () => {
    const repo = tempRepo();
    repo.commit('first');
    const server = await startServer({ source: repo.dir, port: 0, logger: captureLogger().logger, defaultMetrics: false });
    const etag = (await fetch(`${server.url}/v1/bundle`)).headers.get('etag') ?? '';
    const started = Date.now();
    const poll = fetch(`${server.url}/v1/bundle?wait=30`, { headers: { 'if-none-match': etag } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const closing = server.close();
    expect((await poll).status).toBe(304);
    await closing;
    // The poll would be held 30 s: ended by the close, with room for a slow machine.
    expect(Date.now() - started).toBeLessThan(15_000);
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  });
});

describe('refusals', () => {
  it('refuses a tampered bundle from a file source and keeps serving the last good one', async () => {
    const repo = tempRepo();
    const sha = repo.commit('first');
    const keys = bundleKeys();
    const dir = tempDir();
    const file = path.join(dir, 'bundle.json');
    const good = await envelope(repo, sha, keys);
    writeFileSync(file, good);
    const server = await serve({ source: file, publicKeys: [keys.publicKey] });
    expect(await served(server)).toBe(sha);

    const tampered = JSON.parse(good) as { payload: string };
    const payload = JSON.parse(Buffer.from(tampered.payload, 'base64').toString('utf8')) as { policies: Record<string, { 'allowed-endpoints': string[] }> };
    payload.policies.base?.['allowed-endpoints'].push('evil.example.com:443');
    tampered.payload = Buffer.from(JSON.stringify(payload)).toString('base64');
    writeFileSync(file, JSON.stringify(tampered));
    await server.refresh();

    const ready = await getJson(`${server.url}/readyz`);
    // Degraded is not ready (503, the reason in the body); the last good bundle is still served.
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ status: 'degraded', reason: expect.stringMatching(/^verification: /), revision: sha, problem: { reason: 'verification', origin: 'file' } });
    expect(String((ready.body.problem as { message: string }).message)).toMatch(/modified|signature/);
    expect(await (await fetch(`${server.url}/v1/bundle`)).text()).toBe(good);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/egressctl_bundle_refusals_total\{reason="verification"\} 1/);

    // An unsigned bundle is refused too when a key is configured.
    const unsigned = await sealSource(repo.dir, sha, []);
    if (!unsigned.ok) throw new Error(unsigned.message);
    writeFileSync(file, unsigned.text);
    await server.refresh();
    expect(server.state.degraded).toMatchObject({ reason: 'verification' });
    expect(server.state.degraded?.message).toMatch(/not signed|no signature/);
    // The good file back: the same revision changes nothing and clears the degraded state.
    writeFileSync(file, good);
    await server.refresh();
    expect(server.state.readiness().status).toBe('ok');
  });

  it('refuses an older revision from a file source (committedAt) and from the git source (ancestry)', async () => {
    const repo = tempRepo();
    const older = repo.commit('first', { date: '2024-01-01T00:00:00Z' });
    repo.write({ 'policies/audit.yml': 'egress-policy: audit\ndescription: newer\n' });
    const newer = repo.commit('second', { date: '2024-02-01T00:00:00Z' });
    const keys = bundleKeys();
    const file = path.join(tempDir(), 'bundle.json');
    writeFileSync(file, await envelope(repo, newer, keys));
    const server = await serve({ source: file, publicKeys: [keys.publicKey] });
    expect(await served(server)).toBe(newer);
    writeFileSync(file, await envelope(repo, older, keys));
    await server.refresh();
    expect(await served(server)).toBe(newer);
    expect(server.state.degraded).toMatchObject({ reason: 'older', revision: older });

    const gitServer = await serve({ source: repo.dir, pollIntervalMs: 60_000 });
    expect(await served(gitServer)).toBe(newer);
    repo.git('reset', '-q', '--hard', older);
    await gitServer.refresh();
    expect(await served(gitServer)).toBe(newer);
    expect(gitServer.state.degraded?.message).toMatch(/does not descend/);

    const rewinding = await serve({ source: repo.dir, allowRewind: true, stateDir: tempDir() });
    expect(await served(rewinding)).toBe(older);
  });

  it('refuses a commit whose policies do not validate, and keeps the last good bundle', async () => {
    const repo = tempRepo();
    const good = repo.commit('first');
    const server = await serve({ source: repo.dir, pollIntervalMs: 60_000 });
    repo.write({ 'policies/base.yml': 'egress-policy: sometimes\n' });
    const bad = repo.commit('broken');
    await server.refresh();
    expect(await served(server)).toBe(good);
    expect(server.state.degraded).toMatchObject({ reason: 'compile', revision: bad });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/egressctl_bundle_refusals_total\{reason="compile"\} 1/);
  });
});

describe('state directory', () => {
  it('serves the saved bundle at restart while the source is down', async () => {
    const repo = tempRepo();
    const sha = repo.commit('first');
    const stateDir = tempDir();
    const first = await serve({ source: repo.dir, stateDir });
    const text = await (await fetch(`${first.url}/v1/bundle`)).text();
    await first.close();
    expect(readFileSync(path.join(stateDir, STATE_BUNDLE_FILE), 'utf8')).toBe(text);

    // An upstream that refuses connections: nothing listens on the closed server's port.
    const down = `http://127.0.0.1:${first.port}/v1/bundle`;
    const restarted = await serve({ source: down, stateDir, initialSourceTimeoutMs: 2_000 });
    const response = await fetch(`${restarted.url}/v1/bundle`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe(text);
    const ready = await getJson(`${restarted.url}/readyz`);
    // Still served, but degraded (503): readiness names the source that cannot be reached.
    expect(ready.status).toBe(503);
    expect((await getJson(`${restarted.url}/readyz?degraded=ok`)).status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'degraded', revision: sha, origin: 'state', failing: [expect.objectContaining({ component: 'source' })] });
    expect((ready.body.source as { lastError: { message: string } }).lastError.message).toMatch(/cannot reach/);
  });

  it('caps what it reads from an upstream: a body that does not end is a source error naming the cap', async () => {
    const flood = await startHostileServer('forever', { stopAfterBytes: 80 * 1024 * 1024 });
    cleanups.push(() => flood.close());
    const replica = await serve({ source: `${flood.url}/v1/bundle`, initialSourceTimeoutMs: 10_000 });
    const ready = await getJson(`${replica.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.body.reason).toBe(`source: cannot reach ${flood.url}/v1/bundle: ${flood.url}/v1/bundle sent more than 64 MiB: answers are limited to 64 MiB`);
    expect(flood.sent()).toBeLessThan(80 * 1024 * 1024);
  }, 60_000);

  it('answers 503 with a JSON error while there is no bundle at all', async () => {
    const server = await serve({ source: null });
    const bundle = await getJson(`${server.url}/v1/bundle`);
    expect(bundle.status).toBe(503);
    expect(bundle.body).toMatchObject({ error: { code: 'no_bundle' } });
    expect((await getJson(`${server.url}/readyz`)).status).toBe(503);
  });
});

describe('publish()', () => {
  it('accepts a newer signed bundle, ignores the same revision, refuses older and tampered ones', async () => {
    const repo = tempRepo();
    const older = repo.commit('first', { date: '2024-01-01T00:00:00Z' });
    repo.write({ 'policies/audit.yml': 'egress-policy: audit\ndescription: newer\n' });
    const newer = repo.commit('second', { date: '2024-02-01T00:00:00Z' });
    const keys = bundleKeys();
    const stateDir = tempDir();
    const server = await serve({ source: null, publicKeys: [keys.publicKey], stateDir });
    const waiting = fetch(`${server.url}/v1/bundle?wait=10`);
    expect(await server.publish(await envelope(repo, newer, keys))).toMatchObject({ status: 'accepted', revision: newer });
    expect((await waiting).status).toBe(200);
    expect(await server.publish(await envelope(repo, newer, keys))).toEqual({ status: 'unchanged', revision: newer });
    expect(await server.publish(await envelope(repo, older, keys))).toMatchObject({ status: 'refused', reason: 'older' });
    expect(await server.publish(await envelope(repo, older, bundleKeys()))).toMatchObject({ status: 'refused', reason: 'verification' });
    // The app's own ancestry test decides when it gives one.
    expect(await server.publish(await envelope(repo, older, keys), { isDescendant: async () => true })).toMatchObject({ status: 'accepted' });
    expect(readFileSync(path.join(stateDir, STATE_BUNDLE_FILE), 'utf8')).toBe(await envelope(repo, older, keys));
  });
});
