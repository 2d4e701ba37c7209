import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey, parseApiKeyFile, startServer, type RunningServer, type ServerState } from '../../src/server/index.js';
import { makeTempRepo, SAMPLE_FILES, type TempRepo } from '../support/policy-repo.js';
import { captureLogger, getJson } from '../support/server.js';

const KEY = 'hook-key-abcdefghijklmnopqrstuvwxyz012345';
let repo: TempRepo;
let server: RunningServer;
let consoleSawState: ServerState | undefined;
const webhookCalls: string[] = [];

beforeAll(async () => {
  repo = makeTempRepo(SAMPLE_FILES, { git: true });
  repo.commit('policies');
  server = await startServer({
    source: repo.dir,
    port: 0,
    logger: captureLogger().logger,
    defaultMetrics: false,
    apiKeys: [{ name: 'arc', sha256: hashApiKey(KEY), cluster: 'arc-prod', organizations: ['acme'] }],
    consoleHandler: (req, res, state) => {
      if (req.url !== '/' && req.url !== '/console.css') return false;
      consoleSawState = state;
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<p>${state.bundle?.bundle.revision ?? 'none'}</p>`);
      return true;
    },
    webhookHandler: (req, res) => {
      webhookCalls.push(req.method ?? '');
      res.writeHead(202);
      res.end();
    },
    historyProvider: async (policy) => [{ type: 'created', policy: policy ?? 'base' }],
  });
});

afterAll(async () => {
  await server?.close();
  repo?.cleanup();
});

const apiKey = { authorization: `ApiKey ${KEY}` };

describe('HTTP surface', () => {
  it('answers ApiKey callers from the key (cluster) and the query (repository, workflow)', async () => {
    const release = await getJson(`${server.url}/v1/policy?repository=acme/api&workflow=.github/workflows/release.yml`, { headers: apiKey });
    expect(release.body).toMatchObject({ policy: 'base', scope: { type: 'workflow', key: 'acme/api/.github/workflows/release.yml' } });
    const byRef = await getJson(`${server.url}/v1/policy?repository=acme/api&workflow=${encodeURIComponent('acme/api/.github/workflows/release.yml@refs/heads/main')}`, { headers: apiKey });
    expect(byRef.body).toMatchObject({ policy: 'base' });
    const otherRepoWorkflow = await getJson(`${server.url}/v1/policy?repository=acme/api&workflow=acme/web/.github/workflows/x.yml`, { headers: apiKey });
    expect(otherRepoWorkflow.status).toBe(400);
    const outside = await getJson(`${server.url}/v1/policy?repository=evil/api`, { headers: apiKey });
    expect(outside.status).toBe(403);
    expect(outside.body).toEqual({ error: { code: 'forbidden', message: 'API key "arc" is not allowed to ask about organization "evil"' } });
    const wrongCluster = await getJson(`${server.url}/v1/policy?repository=acme/api&cluster=arc-dev`, { headers: apiKey });
    expect(wrongCluster.status).toBe(403);
    const noRepo = await getJson(`${server.url}/v1/policy`, { headers: apiKey });
    expect(noRepo.status).toBe(400);
    const unknown = await getJson(`${server.url}/v1/policy?repository=acme/api`, { headers: { authorization: `ApiKey ${KEY}x` } });
    expect(unknown.status).toBe(401);
    const scheme = await getJson(`${server.url}/v1/policy`, { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    expect(scheme.status).toBe(401);
    expect(scheme.body).toMatchObject({ error: { code: 'unauthenticated' } });
  });

  it('answers 405 with Allow for other methods, 404 for unknown paths, 413 for a body', async () => {
    const post = await getJson(`${server.url}/v1/bundle`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect(post.body).toMatchObject({ error: { code: 'method_not_allowed' } });
    const missing = await getJson(`${server.url}/v2/nothing`);
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ error: { code: 'not_found' } });
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${server.url}/v1/bundle`, { method: 'GET', headers: { 'content-length': '5' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end('hello');
    });
    expect(status).toBe(413);
  });

  it('passes unclaimed GET paths to the console handler with the server state', async () => {
    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toBe(`<p>${repo.git('rev-parse', 'HEAD').trim()}</p>`);
    expect(consoleSawState?.readiness().status).toBe('ok');
    expect(consoleSawState?.resolve({ repository: 'acme/api' })).toMatchObject({ policy: 'api' });
    expect((await fetch(`${server.url}/elsewhere`)).status).toBe(404);
  });

  it('mounts the webhook handler at /api/github/webhooks for any method', async () => {
    const response = await fetch(`${server.url}/api/github/webhooks`, { method: 'POST', body: '{}' });
    expect(response.status).toBe(202);
    expect(webhookCalls).toEqual(['POST']);
  });

  it('serves history from the provider and checks the policy name', async () => {
    expect((await getJson(`${server.url}/v1/history?policy=api`)).body).toEqual({ policy: 'api', events: [{ type: 'created', policy: 'api' }] });
    expect((await getJson(`${server.url}/v1/history`)).body).toEqual({ events: [{ type: 'created', policy: 'base' }] });
    expect((await getJson(`${server.url}/v1/history?policy=../x`)).status).toBe(400);
  });

  it('applies one rule to ?wait=: any whole number of seconds is capped at the maximum, anything else is 400', async () => {
    for (const wait of ['0', '60', '999999', '9999999', '99999999999999999999999']) {
      const response = await fetch(`${server.url}/v1/bundle?wait=${wait}`);
      expect(response.status, wait).toBe(200);
      await response.arrayBuffer();
    }
    for (const wait of ['', 'abc', '-1', '1.5', '1e3', ' 5']) {
      const response = await getJson(`${server.url}/v1/bundle?wait=${encodeURIComponent(wait)}`);
      expect(response.status, JSON.stringify(wait)).toBe(400);
      expect((response.body.error as { message: string }).message).toMatch(/capped at 60/);
    }
  });

  it('exposes health, readiness and metrics', async () => {
    expect((await getJson(`${server.url}/healthz`)).body).toEqual({ status: 'ok' });
    const ready = await getJson(`${server.url}/readyz`);
    expect(ready.body).toMatchObject({ status: 'ok', origin: 'git', source: { kind: 'git', location: repo.dir } });
    const metrics = await fetch(`${server.url}/metrics`);
    expect(metrics.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await metrics.text();
    expect(text).toContain(`egressctl_bundle_info{revision="${repo.git('rev-parse', 'HEAD').trim()}"`);
    expect(text).toMatch(/egressctl_bundle_age_seconds \d/);
    expect(text).toMatch(/egressctl_http_request_duration_seconds_bucket\{le="0\.005",route="healthz"\}/);
  });
});

describe('API key file', () => {
  const hash = hashApiKey(KEY);
  it('reads YAML and JSON, lower-casing names', () => {
    const yaml = `keys:\n  - name: arc\n    sha256: ${hash.toUpperCase()}\n    cluster: ARC-Prod\n    organizations: [Acme, acme, other]\n`;
    expect(parseApiKeyFile(yaml, 'keys.yml')).toEqual([{ name: 'arc', sha256: hash, cluster: 'arc-prod', organizations: ['acme', 'other'] }]);
    expect(parseApiKeyFile(JSON.stringify({ keys: [{ name: 'a', sha256: hash, cluster: 'c', organizations: ['o'] }] }), 'keys.json')).toHaveLength(1);
  });

  it('says where a file is wrong', () => {
    expect(() => parseApiKeyFile(`keys:\n  - name: arc\n    sha256: ${KEY}\n    cluster: c\n    organizations: [o]\n`, 'keys.yml')).toThrow(
      /keys\.yml:3: keys\[0\]\.sha256: required: 64 hex digits/,
    );
    expect(() => parseApiKeyFile(`keys:\n  - name: a\n    sha256: ${hash}\n    cluster: c\n    organizations: [o]\n  - name: b\n    sha256: ${hash}\n    cluster: c\n    organizations: [o]\n`, 'k.yml')).toThrow(
      /k\.yml:7: keys\[1\]\.sha256: same key as "a"/,
    );
    expect(() => parseApiKeyFile('keys:\n  - name: a\n    sha: x\n', 'k.yml')).toThrow(/k\.yml:3: keys\[0\]\.sha: unknown key/);
    expect(() => parseApiKeyFile('tokens: []\n', 'k.yml')).toThrow(/unknown key/);
  });
});
