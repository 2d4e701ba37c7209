/** `--read-access`: who may read the bundle, history and console (docs/security.md, "Read access"). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey } from '../../src/server/auth/api-keys.js';
import { createConsoleHandler } from '../../src/server/console/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { runCli } from '../support/cli.js';
import { makeTempRepo, SAMPLE_FILES, type TempRepo } from '../support/policy-repo.js';
import { captureLogger } from '../support/server.js';

const KEY = 'reader-key-0123456789abcdefghijklmnop';
let repo: TempRepo;
let server: RunningServer;

beforeAll(async () => {
  repo = makeTempRepo(SAMPLE_FILES, { git: true });
  repo.commit('first');
  server = await startServer({
    source: repo.dir,
    port: 0,
    logger: captureLogger().logger,
    defaultMetrics: false,
    consoleHandler: createConsoleHandler(),
    historyProvider: async () => [{ type: 'created', author: 'someone@example.com' }],
    apiKeys: [{ name: 'reader', sha256: hashApiKey(KEY), cluster: 'ops', organizations: ['acme'] }],
    readAccess: { mode: 'api-key' },
  });
});

afterAll(async () => {
  await server?.close();
  repo?.cleanup();
});

describe('--read-access api-key', () => {
  for (const route of ['/v1/bundle', '/v1/history', '/', '/policies']) {
    it(`refuses ${route} without a key and admits it with one`, async () => {
      const without = await fetch(`${server.url}${route}`);
      expect(without.status).toBe(401);
      expect(((await without.json()) as { error: { code: string } }).error.code).toBe('unauthenticated');
      const wrong = await fetch(`${server.url}${route}`, { headers: { authorization: `ApiKey ${KEY}-wrong` } });
      expect(wrong.status).toBe(401);
      const withKey = await fetch(`${server.url}${route}`, { headers: { authorization: `ApiKey ${KEY}` } });
      expect([200, 404]).toContain(withKey.status);
      if (route !== '/policies') expect(withKey.status).toBe(200);
    });
  }

  it('a replica follows it with EGRESSCTL_UPSTREAM_API_KEY (upstreamApiKey)', async () => {
    const refused = await startServer({ source: `${server.url}/v1/bundle`, port: 0, logger: captureLogger().logger, defaultMetrics: false, initialSourceTimeoutMs: 2_000 });
    const admitted = await startServer({ source: `${server.url}/v1/bundle`, port: 0, logger: captureLogger().logger, defaultMetrics: false, upstreamApiKey: KEY });
    try {
      expect(refused.state.bundle).toBeUndefined();
      expect(admitted.state.bundle?.bundle.revision).toBe(server.state.bundle?.bundle.revision);
    } finally {
      await refused.close();
      await admitted.close();
    }
  });

  it('leaves probes and metrics open', async () => {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    expect((await fetch(`${server.url}/metrics`)).status).toBe(200);
  });

  it('serve checks the flag and says when reading is public', async () => {
    expect(await runCli(['serve', '--read-access', 'api-key', '--port', '0'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/needs --api-keys/) });
    expect(await runCli(['serve', '--read-access', 'github', '--port', '0'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/GITHUB_CLIENT_ID/) });
    expect(await runCli(['serve', '--read-access', 'everyone', '--port', '0'])).toMatchObject({ code: 2 });
  });
});
