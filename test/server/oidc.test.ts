import { createPublicKey } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, base64url } from 'jose';
import { hashApiKey } from '../../src/server/auth/api-keys.js';
import { OidcVerifier } from '../../src/server/auth/oidc.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { makeTempRepo, type TempRepo } from '../support/policy-repo.js';
import { startHostileServer } from '../support/hostile-server.js';
import { PRECEDENCE_FILES, actionsClaims, captureLogger, getJson, startIssuer, type CapturedLogger, type Issuer } from '../support/server.js';

const AUDIENCE = 'egressctl-test';
const API_KEY = 'arc-prod-key-0123456789abcdefghijklmnop';

let repo: TempRepo;
let issuer: Issuer;
let server: RunningServer;
let log: CapturedLogger;

beforeAll(async () => {
  repo = makeTempRepo(PRECEDENCE_FILES, { git: true });
  repo.commit('policies');
  issuer = await startIssuer(AUDIENCE);
  log = captureLogger();
  server = await startServer({
    source: repo.dir,
    port: 0,
    logger: log.logger,
    defaultMetrics: false,
    oidc: { issuer: issuer.issuer, audience: AUDIENCE, jwksUrl: issuer.jwksUrl },
    organizations: ['acme', 'other'],
    apiKeys: [{ name: 'arc-prod-hook', sha256: hashApiKey(API_KEY), cluster: 'arc-prod', organizations: ['acme', 'other'] }],
  });
});

afterAll(async () => {
  await server?.close();
  await issuer?.close();
  repo?.cleanup();
});

async function policyWith(token: string, query = ''): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  return getJson(`${server.url}/v1/policy${query}`, { headers: { authorization: `Bearer ${token}` } });
}

describe('/v1/policy with GitHub Actions OIDC tokens', () => {
  it('answers the effective policy from the verified claims, in the documented shape', async () => {
    const { status, body, headers } = await policyWith(await issuer.token(actionsClaims('acme/api', 'release.yml')));
    expect(status).toBe(200);
    expect(headers.get('cache-control')).toBe('no-store');
    expect(body).toEqual({
      revision: repo.git('rev-parse', 'HEAD').trim(),
      policy: 'wf-pol',
      scope: { type: 'workflow', key: 'acme/api/.github/workflows/release.yml' },
      shadowed: [
        { type: 'repository', key: 'acme/api', policy: 'repo-pol' },
        { type: 'organization', key: 'acme', policy: 'org-pol' },
      ],
      config: {
        'egress-policy': 'block',
        'allowed-endpoints': 'repo.example.com:8443 wf.example.com:443',
        'disable-sudo-and-containers': true,
      },
      'lockdown-mode': { enabled: true, detections: ['Reverse-Shell'] },
    });
  });

  it('applies precedence workflow > repository > organization > cluster', async () => {
    const repoLevel = await policyWith(await issuer.token(actionsClaims('acme/api', 'ci.yml')));
    expect(repoLevel.body).toMatchObject({ policy: 'repo-pol', scope: { type: 'repository', key: 'acme/api' } });
    const orgLevel = await policyWith(await issuer.token(actionsClaims('acme/web', 'ci.yml')));
    expect(orgLevel.body).toMatchObject({ policy: 'org-pol', scope: { type: 'organization', key: 'acme' }, shadowed: [] });
    const none = await policyWith(await issuer.token(actionsClaims('other/thing', 'ci.yml')));
    expect(none.body).toMatchObject({ policy: null, scope: null, shadowed: [], config: {}, 'lockdown-mode': null });
    // The cluster comes only from an API key; the organization attachment still wins over it.
    const clusterOnly = await getJson(`${server.url}/v1/policy?repository=other/thing&workflow=.github/workflows/ci.yml`, {
      headers: { authorization: `ApiKey ${API_KEY}` },
    });
    expect(clusterOnly.body).toMatchObject({ policy: 'cluster-pol', scope: { type: 'cluster', key: 'arc-prod' } });
    const orgOverCluster = await getJson(`${server.url}/v1/policy?repository=acme/web`, { headers: { authorization: `ApiKey ${API_KEY}` } });
    expect(orgOverCluster.body).toMatchObject({
      policy: 'org-pol',
      shadowed: [{ type: 'cluster', key: 'arc-prod', policy: 'cluster-pol' }],
    });
  });

  it("gives a reusable workflow's job its caller's policy (workflow_ref, never job_workflow_ref)", async () => {
    const token = await issuer.token(
      actionsClaims('acme/api', 'release.yml', { job_workflow_ref: 'shared/workflows/.github/workflows/build.yml@refs/heads/main' }),
    );
    const { body } = await policyWith(token);
    expect(body).toMatchObject({ policy: 'wf-pol', scope: { type: 'workflow', key: 'acme/api/.github/workflows/release.yml' } });
  });

  it('ignores query parameters that try to name another repository, workflow or cluster', async () => {
    const token = await issuer.token(actionsClaims('acme/web', 'ci.yml'));
    const { status, body } = await policyWith(token, '?repository=acme/api&workflow=.github/workflows/release.yml&cluster=arc-prod&organization=other');
    expect(status).toBe(200);
    expect(body).toMatchObject({ policy: 'org-pol', scope: { type: 'organization', key: 'acme' }, shadowed: [] });
  });

  it('keeps a bounded verified-token cache: exact tokens only, oldest out first, none past exp', async () => {
    const verifier = new OidcVerifier({ issuer: issuer.issuer, audience: AUDIENCE, jwksUrl: issuer.jwksUrl, cacheSize: 2 });
    const [a, b, c] = await Promise.all(['ci.yml', 'release.yml', 'deploy.yml'].map((file) => issuer.token(actionsClaims('acme/api', file))));
    for (const token of [a, b, c]) expect((await verifier.verify(token!)).ok).toBe(true);
    expect(verifier.cached(a!)).toBeUndefined();
    expect(verifier.cached(b!)?.workflowRef).toBe('acme/api/.github/workflows/release.yml@refs/heads/main');
    expect(verifier.cached(c!)?.repository).toBe('acme/api');
    // One character more is another token: it goes through verification (and fails there).
    expect(verifier.cached(`${c!}A`)).toBeUndefined();
    expect(await verifier.verify(`${c!}A`)).toMatchObject({ ok: false, status: 401 });
    const identity = verifier.cached(c!);
    expect(verifier.cached(c!, identity!.exp * 1000 + 1)).toBeUndefined();
    expect(await verifier.verify(c!)).toMatchObject({ ok: true, cached: false });
  });

  it('serves a repeated token from the verified-token cache', async () => {
    const token = await issuer.token(actionsClaims('acme/api', 'ci.yml'));
    const first = await policyWith(token);
    const fetches = issuer.fetches();
    const second = await policyWith(token);
    expect(second.body).toEqual(first.body);
    expect(issuer.fetches()).toBe(fetches);
  });

  describe('refuses forged, stale and misdirected tokens, each with 401 and a log line', () => {
    const claims = actionsClaims('acme/api', 'release.yml');
    const attacks: [string, () => Promise<string>, string][] = [
      ['expired beyond the clock tolerance', () => issuer.token(claims, { expiresInSeconds: -120 }), 'expired'],
      ['not valid yet', () => issuer.token(claims, { notBeforeSeconds: 600 }), 'not_yet_valid'],
      ['issued in the future (iat ten years ahead, no nbf)', () => issuer.token(claims, { issuedAtSeconds: 10 * 365 * 86400, expiresInSeconds: 10 * 365 * 86400 + 300 }), 'not_yet_valid'],
      ['valid for ten years', () => issuer.token(claims, { expiresInSeconds: 10 * 365 * 86400 }), 'lifetime'],
      ['valid for a day', () => issuer.token(claims, { expiresInSeconds: 86400 }), 'lifetime'],
      ['for another audience', () => issuer.token(claims, { audience: 'someone-else' }), 'audience'],
      ['from another issuer', () => issuer.token(claims, { issuer: 'https://evil.example.com' }), 'issuer'],
      [
        'alg none',
        async () => `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${base64url.encode(JSON.stringify({ ...claims, iss: issuer.issuer, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 300 }))}.`,
        'algorithm',
      ],
      [
        'HS256 signed with the public key as the HMAC secret',
        async () => {
          const pem = createPublicKey({ key: issuer.publicJwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString();
          return new SignJWT(claims)
            .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
            .setIssuer(issuer.issuer)
            .setAudience(AUDIENCE)
            .setExpirationTime('5m')
            .sign(new TextEncoder().encode(pem));
        },
        'algorithm',
      ],
      ['signed by a key the issuer does not publish (unknown kid)', () => issuer.token(claims, { kid: 'k2', key: issuer.rogueKey }), 'unknown_key'],
      [
        'with a tampered payload',
        async () => {
          const [header, , signature] = (await issuer.token(actionsClaims('acme/web', 'ci.yml'))).split('.');
          const forged = base64url.encode(JSON.stringify({ ...claims, iss: issuer.issuer, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 300 }));
          return `${header}.${forged}.${signature}`;
        },
        'signature',
      ],
    ];
    for (const [name, makeToken, reason] of attacks) {
      it(name, async () => {
        const token = await makeToken();
        const before = log.lines().length;
        const { status, body, headers } = await policyWith(token);
        expect(status).toBe(401);
        expect(headers.get('www-authenticate')).toContain('Bearer');
        expect((body.error as { code: string }).code).toBe('invalid_token');
        const logged = log.lines().slice(before);
        expect(logged.some((line) => line.reason === reason && line.status === 401)).toBe(true);
        expect(log.text()).not.toContain(token.split('.')[2] || token);
      });
    }

    it('refetches the JWKS for unknown kids at most once per cooldown', async () => {
      const before = issuer.fetches();
      for (let i = 0; i < 5; i++) {
        const { status } = await policyWith(await issuer.token(claims, { kid: `unknown-${i}`, key: issuer.rogueKey }));
        expect(status).toBe(401);
      }
      expect(issuer.fetches() - before).toBeLessThanOrEqual(1);
    });
  });

  it('answers 403 to a valid token from an organization this server does not serve', async () => {
    const { status, body } = await policyWith(await issuer.token(actionsClaims('evil-org/repo', 'ci.yml')));
    expect(status).toBe(403);
    expect(body).toEqual({ error: { code: 'forbidden', message: 'organization "evil-org" is not served by this server' } });
    expect(log.lines().some((line) => line.reason === 'organization' && line.status === 403)).toBe(true);
  });

  it('counts refusals by reason in /metrics', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(/egressctl_auth_failures_total\{reason="expired"\} [1-9]/);
    expect(text).toMatch(/egressctl_http_requests_total\{route="policy",method="GET",status="401"\} [1-9]/);
  });

  it('refuses Bearer tokens with a clear message when no audience is configured', async () => {
    const other = await startServer({ source: repo.dir, port: 0, logger: captureLogger().logger, defaultMetrics: false, oidc: { issuer: issuer.issuer, jwksUrl: issuer.jwksUrl } });
    try {
      const { status, body } = await getJson(`${other.url}/v1/policy`, { headers: { authorization: `Bearer ${await issuer.token(claims())}` } });
      expect(status).toBe(401);
      expect((body.error as { message: string }).message).toMatch(/no OIDC audience configured/);
    } finally {
      await other.close();
    }
    function claims() {
      return actionsClaims('acme/api', 'ci.yml');
    }
  });

  it('caps the JWKS it reads: an issuer that streams without end is "cannot fetch the keys" (503) after 1 MiB', async () => {
    const flood = await startHostileServer('forever', { stopAfterBytes: 32 * 1024 * 1024 });
    try {
      const verifier = new OidcVerifier({ issuer: issuer.issuer, audience: AUDIENCE, jwksUrl: `${flood.url}/.well-known/jwks` });
      const outcome = await verifier.verify(await issuer.token(actionsClaims('acme/api', 'ci.yml')));
      expect(outcome).toMatchObject({ ok: false, status: 503, reason: 'jwks_unavailable' });
      // Counted once the verifier hung up: the final count, however slow the machine.
      await flood.settled();
      expect(flood.sent()).toBeLessThan(8 * 1024 * 1024);
    } finally {
      await flood.close();
    }
  });

  it('says the iat claim is missing, not that the token is not valid yet', async () => {
    const { status, body } = await policyWith(await issuer.token(actionsClaims('acme/api', 'ci.yml'), { withoutIssuedAt: true }));
    expect(status).toBe(401);
    const message = (body.error as { message: string }).message;
    expect(message).toMatch(/no "iat" \(issued-at\) claim/);
    expect(message).not.toMatch(/not valid yet/);
  });

  it('takes the longest token age from maxLifetimeSeconds (serve --oidc-max-age)', async () => {
    const verifier = (maxLifetimeSeconds?: number) =>
      new OidcVerifier({ issuer: issuer.issuer, audience: AUDIENCE, jwksUrl: issuer.jwksUrl, ...(maxLifetimeSeconds === undefined ? {} : { maxLifetimeSeconds }) });
    const twoHours = await issuer.token(actionsClaims('acme/api', 'ci.yml'), { expiresInSeconds: 7200 });
    expect(await verifier().verify(twoHours)).toMatchObject({ ok: false, reason: 'lifetime', message: expect.stringMatching(/3600 s.*--oidc-max-age/) });
    expect(await verifier(7200).verify(twoHours)).toMatchObject({ ok: true });
    expect(await verifier(600).verify(await issuer.token(actionsClaims('acme/api', 'ci.yml'), { expiresInSeconds: 900 }))).toMatchObject({ ok: false, reason: 'lifetime' });
  });
});
