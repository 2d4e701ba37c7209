/**
 * Server hardening (docs/security.md): rewind protection when ancestry is unknown, stale
 * temporary files, the answer cache's byte bound and key length, readiness naming what fails,
 * history served stale or 503, and the signers named in the "serving bundle" log line.
 */
import { readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hashApiKey } from '../../src/server/auth/api-keys.js';
import { gitHistoryProvider } from '../../src/server/history.js';
import { startServer, type RunningServer, type StartServerOptions } from '../../src/server/index.js';
import { keyIdOf } from '../../src/bundle/keys.js';
import { sealSource } from '../../src/server/sources/seal.js';
import { bundleKeys, captureLogger, getJson, perTestScratch, type CapturedLogger } from '../support/server.js';

const API_KEY = 'hardening-test-key-0123456789abcdef';
const { cleanups, tempRepo, tempDir } = perTestScratch('egressctl-hardening-');

async function serve(options: StartServerOptions, log: CapturedLogger = captureLogger()): Promise<RunningServer> {
  const server = await startServer({ port: 0, logger: log.logger, defaultMetrics: false, ...options });
  cleanups.push(() => server.close());
  return server;
}

describe('rewind protection when the served commit is not in the repository', () => {
  it('refuses and reports degraded (a fresh clone started with an old state directory), unless --allow-rewind', async () => {
    const stateDir = tempDir();
    const original = tempRepo();
    const servedSha = original.commit('first', { date: '2024-01-01T00:00:00Z' });
    const first = await serve({ source: original.dir, stateDir });
    expect(first.state.bundle?.bundle.revision).toBe(servedSha);
    await first.close();

    // Another history (rewritten, then cloned afresh): a newer commit date, but the served commit is unknown to it.
    const rewritten = tempRepo();
    rewritten.write({ 'policies/extra.yml': 'egress-policy: audit\n' });
    const foreign = rewritten.commit('rewritten', { date: '2024-06-01T00:00:00Z' });
    const second = await serve({ source: rewritten.dir, stateDir });
    expect(second.state.bundle?.bundle.revision).toBe(servedSha);
    const ready = await getJson(`${second.url}/readyz`);
    expect(ready.body.status).toBe('degraded');
    expect((ready.body.problem as { reason: string; message: string }).message).toContain('--allow-rewind');
    await second.close();

    const allowed = await serve({ source: rewritten.dir, stateDir, allowRewind: true });
    expect(allowed.state.bundle?.bundle.revision).toBe(foreign);
  });
});

describe('state directory', () => {
  it('removes temporary files a kill -9 left behind, at start', async () => {
    const stateDir = tempDir();
    writeFileSync(path.join(stateDir, '.bundle.dsse.json.0123456789ab.tmp'), '{"half":');
    writeFileSync(path.join(stateDir, 'keep.txt'), 'not ours to remove');
    const repo = tempRepo();
    repo.commit('first');
    await serve({ source: repo.dir, stateDir });
    expect(readdirSync(stateDir).sort()).toEqual(['bundle.dsse.json', 'keep.txt']);
  });

  it('reports a state directory that cannot be written in /readyz', async () => {
    const stateDir = tempDir();
    const repo = tempRepo();
    repo.commit('first');
    const server = await serve({ source: repo.dir, stateDir });
    expect((await getJson(`${server.url}/readyz`)).body.status).toBe('ok');
    // A file where the directory was: every write fails (ENOTDIR), even as root.
    rmSync(stateDir, { recursive: true, force: true });
    writeFileSync(stateDir, 'not a directory');
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // readiness probes the disk at most once a second
    const ready = await getJson(`${server.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.body.status).toBe('degraded');
    expect(ready.body.reason).toMatch(/^state-dir: cannot write the state directory/);
    expect(ready.body.failing).toEqual([expect.objectContaining({ component: 'state-dir', message: expect.stringContaining('cannot write the state directory') })]);
    // A deployment that keeps degraded replicas serving their last good bundle asks for that.
    expect((await getJson(`${server.url}/readyz?degraded=ok`)).status).toBe(200);
  });
});

describe('source failures', () => {
  it('/readyz names the failing source when the repository is gone; /v1/history serves what it had, marked stale, or 503', async () => {
    const repo = tempRepo();
    repo.commit('first');
    const history = await gitHistoryProvider(repo.dir);
    const server = await serve({ source: repo.dir, ...(history ? { historyProvider: history } : {}) });
    const before = await getJson(`${server.url}/v1/history`);
    expect(before.status).toBe(200);
    const events = before.body.events;

    rmSync(repo.dir, { recursive: true, force: true });
    await server.refresh();
    const ready = await getJson(`${server.url}/readyz`);
    expect(ready.body.status).toBe('degraded');
    expect(ready.body.failing).toEqual([expect.objectContaining({ component: 'source' })]);

    const stale = await getJson(`${server.url}/v1/history`);
    expect(stale.status).toBe(200);
    expect(stale.headers.get('x-egressctl-stale')).toBe('true');
    expect(stale.body.events).toEqual(events);
    const never = await getJson(`${server.url}/v1/history?policy=base`);
    expect(never.status).toBe(503);
    expect(never.body.error).toEqual({ code: 'history_unavailable', message: expect.stringContaining('cannot be read') });
    expect(JSON.stringify(never.body)).not.toContain(repo.dir);
  });

  it('/readyz answers 503 while degraded, with the reason in the body', async () => {
    const repo = tempRepo();
    repo.commit('first');
    const server = await serve({ source: repo.dir });
    expect((await getJson(`${server.url}/readyz`)).status).toBe(200);
    rmSync(repo.dir, { recursive: true, force: true });
    await server.refresh();
    const ready = await getJson(`${server.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.body.status).toBe('degraded');
    expect(ready.body.reason).toMatch(/^source: cannot read HEAD/);
  });

  for (const kind of ['git', 'worktree', 'file'] as const) {
    it(`notices a renamed ${kind} source within the poll interval, without a file-system event or refresh`, async () => {
      const repo = tempRepo();
      let location = repo.dir;
      if (kind === 'git') repo.commit('first');
      if (kind === 'worktree') rmSync(path.join(repo.dir, '.git'), { recursive: true, force: true });
      if (kind === 'file') {
        location = path.join(tempDir(), 'bundle.json');
        const sealed = await sealSource(repo.dir, repo.commit('first'), []);
        if (!sealed.ok) throw new Error(sealed.message);
        writeFileSync(location, sealed.text);
      }
      const server = await serve({ source: location, pollIntervalMs: 200 });
      expect((await getJson(`${server.url}/readyz`)).status).toBe(200);
      renameSync(location, `${location}.renamed`);
      cleanups.push(() => rmSync(`${location}.renamed`, { recursive: true, force: true }));
      // Polled every 0.2 s and nothing else looks: noticed within a few polls, even on a slow machine.
      const deadline = Date.now() + 15_000;
      let ready = await getJson(`${server.url}/readyz`);
      while (ready.status === 200 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        ready = await getJson(`${server.url}/readyz`);
      }
      expect(ready.status).toBe(503);
      expect(ready.body.failing).toEqual([expect.objectContaining({ component: 'source' })]);
    });
  }
});

describe('/v1/policy answer cache', () => {
  const apiKeys = [{ name: 'hook', sha256: hashApiKey(API_KEY), cluster: 'arc', organizations: ['acme'] }];

  it('refuses over-long workflow paths with 400', async () => {
    const repo = tempRepo();
    repo.commit('first');
    const server = await serve({ source: repo.dir, apiKeys });
    const long = `.github/workflows/${'a'.repeat(15_000)}.yml`;
    const answer = await getJson(`${server.url}/v1/policy?repository=acme/api&workflow=${long}`, { headers: { authorization: `ApiKey ${API_KEY}` } });
    expect(answer.status).toBe(400);
    expect((answer.body.error as { code: string }).code).toBe('bad_request');
  });

  it('is bounded by bytes, not only by entries', async () => {
    const repo = tempRepo();
    repo.commit('first');
    const limit = 64 * 1024;
    const server = await serve({ source: repo.dir, apiKeys, answerCacheBytes: limit });
    let peak = 0;
    for (let index = 0; index < 300; index++) {
      const workflow = `.github/workflows/${String(index).padStart(400, 'w')}.yml`;
      const answer = await fetch(`${server.url}/v1/policy?repository=acme/api&workflow=${workflow}`, { headers: { authorization: `ApiKey ${API_KEY}` } });
      expect(answer.status).toBe(200);
      await answer.arrayBuffer();
      const value = (await server.metrics.answerCacheBytes.get()).values[0]?.value ?? 0;
      peak = Math.max(peak, value);
    }
    expect(peak).toBeGreaterThan(limit / 2);
    expect(peak).toBeLessThanOrEqual(limit);
  });
});

describe('the serving log line', () => {
  it('names the keys that signed what the server compiled itself', async () => {
    const keys = bundleKeys();
    const repo = tempRepo();
    repo.commit('first');
    const log = captureLogger();
    await serve({ source: repo.dir, signKeys: [keys.privateKey] }, log);
    const line = log.lines().find((entry) => entry.msg === 'serving bundle');
    expect(line?.keyids).toEqual([keyIdOf(keys.publicKey)]);
  });
});
