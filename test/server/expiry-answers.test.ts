/**
 * Expiring exceptions at the server: `/v1/policy` drops an expired entry at answer time even
 * though the served bundle still lists it (a stale bundle cannot keep it alive), a cached answer
 * is made again when midnight UTC passes, and a signed answer never outlives an exception it
 * carries. Real server on loopback, real git source, real signatures.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openBundle } from '../../src/bundle/dsse.js';
import { hashApiKey } from '../../src/server/auth/api-keys.js';
import { SIGNED_ANSWER_MEDIA_TYPE } from '../../src/server/api.js';
import { startServer, type RunningServer, type StartServerOptions } from '../../src/server/server.js';
import { verifySignedAnswer } from '../../src/runner/signed-answer.js';
import { bundleKeys, captureLogger, getJson, perTestScratch } from '../support/server.js';
import { utcDay } from '../support/policy-tests.js';

const { cleanups, tempRepo } = perTestScratch('egressctl-expiry-');
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const API_KEY = 'expiry-test-key-0123456789abcdef';
const apiKeys = [{ name: 'hook', sha256: hashApiKey(API_KEY), cluster: 'arc', organizations: ['acme'] }];
const auth = { authorization: `ApiKey ${API_KEY}` };

async function serve(options: StartServerOptions): Promise<RunningServer> {
  const server = await startServer({ port: 0, logger: captureLogger().logger, defaultMetrics: false, apiKeys, ...options });
  cleanups.push(() => server.close());
  return server;
}

function policyWith(expired: string, tomorrow: string): string {
  return [
    'egress-policy: block',
    'allowed-endpoints:',
    '  - github.com:443',
    '  - endpoint: sandbox.payments.example.com',
    '    reason: contract tests (SEC-1412)',
    '    owner: team-payments',
    `    expires: ${expired}`,
    '  - endpoint: uploads.example.com',
    '    reason: release upload',
    `    expires: ${tomorrow}`,
    '',
  ].join('\n');
}

describe('/v1/policy and expiring exceptions', () => {
  it('drops an entry that expired yesterday from the answer while the served bundle still lists it', async () => {
    const repo = tempRepo();
    repo.write({ 'policies/api.yml': policyWith(utcDay(-1), utcDay(1)), 'attachments.yml': 'repositories:\n  acme/api: api\n' });
    repo.commit('api with exceptions');
    const server = await serve({ source: repo.dir });

    const answer = await getJson(`${server.url}/v1/policy?repository=acme/api`, { headers: auth });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ policy: 'api', scope: { type: 'repository', key: 'acme/api' } });
    expect((answer.body.config as Record<string, string>)['allowed-endpoints']).toBe('github.com:443 uploads.example.com:443');

    // The bundle is not rewritten by the clock: it carries both entries and their dates.
    const envelope = await fetch(`${server.url}/v1/bundle`);
    const { bundle } = openBundle(await envelope.text(), { publicKeys: [] });
    expect(bundle.policies['api']!['allowed-endpoints']).toContain('sandbox.payments.example.com:443');
    expect(bundle.policies['api']!['endpoint-expiry']).toEqual({ 'sandbox.payments.example.com:443': utcDay(-1), 'uploads.example.com:443': utcDay(1) });
  });

  it('answers again when midnight UTC passes, though the answer was cached and the bundle did not change', async () => {
    const repo = tempRepo();
    repo.write({ 'policies/api.yml': policyWith('2026-03-31', '2026-06-30'), 'attachments.yml': 'repositories:\n  acme/api: api\n' });
    const revision = repo.commit('api with exceptions');
    let clock = Date.parse('2026-03-31T23:59:59.000Z');
    const server = await serve({ source: repo.dir, answerClock: () => clock });
    const endpoints = async () => {
      const answer = await getJson(`${server.url}/v1/policy?repository=acme/api`, { headers: auth });
      expect(answer.body.revision).toBe(revision);
      return (answer.body.config as Record<string, string>)['allowed-endpoints'];
    };
    expect(await endpoints()).toBe('github.com:443 sandbox.payments.example.com:443 uploads.example.com:443');
    clock += 500;
    expect(await endpoints()).toBe('github.com:443 sandbox.payments.example.com:443 uploads.example.com:443');
    clock = Date.parse('2026-04-01T00:00:00.000Z');
    expect(await endpoints()).toBe('github.com:443 uploads.example.com:443');
    clock = Date.parse('2026-07-01T00:00:00.000Z');
    expect(await endpoints()).toBe('github.com:443');
  });

  it('signs answers that expire no later than the first exception they carry', async () => {
    const keys = bundleKeys();
    const repo = tempRepo();
    repo.write({ 'policies/api.yml': policyWith('2026-03-31', '2026-06-30'), 'attachments.yml': 'repositories:\n  acme/api: api\n' });
    repo.commit('api with exceptions');
    const clock = Date.parse('2026-03-31T20:00:00.000Z');
    const server = await serve({ source: repo.dir, signKeys: [keys.privateKey], answerClock: () => clock });
    const response = await fetch(`${server.url}/v1/policy?repository=acme/api`, { headers: { ...auth, accept: SIGNED_ANSWER_MEDIA_TYPE } });
    expect(response.status).toBe(200);
    const statement = verifySignedAnswer(await response.text(), [keys.publicKey], { repository: 'acme/api' }, clock);
    // 24 h would reach into April; the sandbox exception ends at midnight.
    expect(statement.expiresAt).toBe('2026-04-01T00:00:00.000Z');
    expect(statement.answer.config['allowed-endpoints']).toContain('sandbox.payments.example.com:443');
  });
});
