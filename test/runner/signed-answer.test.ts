/**
 * Signed /v1/policy answers end to end (docs/architecture.md, "Runner side: signed answers"):
 * a real server signing with the bundle key; the job-started hook (`--public-key`) and the
 * composite action's bundled script (`public-key` input) verifying them; forged, foreign-key,
 * misbound and planted answers all ending in on-error.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, parsePrivateKey } from '../../src/bundle/keys.js';
import { cacheFileName } from '../../src/runner/policy-client.js';
import { signAnswer, verifySignedAnswer, parseAnswerKeys } from '../../src/runner/signed-answer.js';
import { SIGNED_ANSWER_MEDIA_TYPE, type AnswerStatement } from '../../src/server/api.js';
import { hashApiKey, startServer, type RunningServer } from '../../src/server/index.js';
import { runCli } from '../support/cli.js';
import type { TempRepo } from '../support/policy-repo.js';
import { captureLogger } from '../support/server.js';
import { hookJobEnv, parseGithubFile, runHardenAction, startPolicyBackend, type ActionRun, type PolicyBackend, type TokenEndpoint } from '../support/runner.js';

const KEY = 'arc-prod-hook-key-0123456789abcdefghijkl';
const AUDIENCE = 'egressctl-signed-test';
const bundlePair = generateKeyPair();
const otherPair = generateKeyPair();
const signKey = parsePrivateKey(bundlePair.privateKeyPem);

let repo: TempRepo;
let server: RunningServer;
let tokens: TokenEndpoint;
let backend: PolicyBackend | undefined;
let work: string;
let publicKeyFile: string;
let otherKeyFile: string;

beforeAll(async () => {
  backend = await startPolicyBackend(AUDIENCE, {
    signKeys: [signKey],
    apiKeys: [{ name: 'arc-prod', sha256: hashApiKey(KEY), cluster: 'arc-prod', organizations: ['acme', 'other'] }],
  });
  ({ repo, tokens, server } = backend);
  work = mkdtempSync(path.join(tmpdir(), 'egressctl-signed-'));
  publicKeyFile = path.join(work, 'bundle.pub');
  otherKeyFile = path.join(work, 'other.pub');
  writeFileSync(publicKeyFile, bundlePair.publicKeyPem);
  writeFileSync(otherKeyFile, otherPair.publicKeyPem);
});

afterAll(async () => {
  await backend?.close();
  rmSync(work, { recursive: true, force: true });
});

/** A server answering every request with `body` (what an attacker in the path could send). */
async function fakeServer(body: (req: { accept: string }) => { type: string; text: string }): Promise<{ url: string; close(): Promise<void> }> {
  const fake: Server = createServer((req, res) => {
    const answer = body({ accept: req.headers.accept ?? '' });
    res.writeHead(200, { 'content-type': answer.type });
    res.end(answer.text);
  });
  await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(fake.address() as AddressInfo).port}`, close: () => new Promise((resolve) => fake.close(() => resolve())) };
}

const PERMISSIVE = { revision: 'f'.repeat(40), policy: null, scope: null, shadowed: [], config: {}, 'lockdown-mode': null };

function statement(overrides: Partial<AnswerStatement> = {}): AnswerStatement {
  const now = Date.now();
  return {
    _type: 'egressctl.answer/v1',
    subject: { organization: 'acme', repository: 'acme/api', workflow: 'acme/api/.github/workflows/ci.yml', cluster: 'arc-prod' },
    bundle: { revision: PERMISSIVE.revision, digest: 'sha256:0' },
    issuedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + 3600_000).toISOString(),
    answer: PERMISSIVE,
    ...overrides,
  };
}

let runs = 0;
// A tool cache per job: each run starts without a cached answer unless a test shares one.
function jobEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return hookJobEnv({ work, server: server.url, apiKey: KEY, repository: 'acme/api', overrides: { RUNNER_TOOL_CACHE: path.join(work, `cache-${++runs}`), ...overrides } });
}

describe('the server', () => {
  it('signs the answer for the caller, bound to repository, workflow, cluster, revision and an expiry', async () => {
    const response = await fetch(`${server.url}/v1/policy?repository=acme/api&workflow=.github/workflows/ci.yml`, {
      headers: { authorization: `ApiKey ${KEY}`, accept: SIGNED_ANSWER_MEDIA_TYPE },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe(SIGNED_ANSWER_MEDIA_TYPE);
    const text = await response.text();
    const verified = verifySignedAnswer(text, parseAnswerKeys(bundlePair.publicKeyPem), { repository: 'acme/api', workflow: 'acme/api/.github/workflows/ci.yml@refs/heads/main', cluster: 'arc-prod' });
    expect(verified.subject).toEqual({ organization: 'acme', repository: 'acme/api', workflow: 'acme/api/.github/workflows/ci.yml', cluster: 'arc-prod' });
    expect(verified.answer).toMatchObject({ policy: 'repo-pol', revision: repo.git('rev-parse', 'HEAD').trim() });
    expect(Date.parse(verified.expiresAt) - Date.parse(verified.issuedAt)).toBe(24 * 3600 * 1000);
    expect(() => verifySignedAnswer(text, parseAnswerKeys(otherPair.publicKeyPem), { repository: 'acme/api' })).toThrow(/not signed by a trusted key/);
    expect(() => verifySignedAnswer(text, parseAnswerKeys(bundlePair.publicKeyPem), { repository: 'acme/web' })).toThrow(/for repository acme\/api, not acme\/web/);
    expect(() => verifySignedAnswer(text, parseAnswerKeys(bundlePair.publicKeyPem), { repository: 'acme/api' }, Date.now() + 25 * 3600 * 1000 + 600_000)).toThrow(/expired/);
    // The same question again: the cached envelope, byte for byte (signed once per scope and revision).
    const again = await fetch(`${server.url}/v1/policy?repository=acme/api&workflow=.github/workflows/ci.yml`, { headers: { authorization: `ApiKey ${KEY}`, accept: SIGNED_ANSWER_MEDIA_TYPE } });
    expect(await again.text()).toBe(text);
  });

  it('refuses to sign without a signing key (406), so a verifying runner goes to on-error', async () => {
    const unsigned = await startServer({
      source: repo.dir,
      port: 0,
      logger: captureLogger().logger,
      defaultMetrics: false,
      apiKeys: [{ name: 'arc-prod', sha256: hashApiKey(KEY), cluster: 'arc-prod', organizations: ['acme'] }],
    });
    try {
      const response = await fetch(`${unsigned.url}/v1/policy?repository=acme/api`, { headers: { authorization: `ApiKey ${KEY}`, accept: SIGNED_ANSWER_MEDIA_TYPE } });
      expect(response.status).toBe(406);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('unsigned');
      const env = jobEnv({ EGRESSCTL_SERVER: unsigned.url });
      const result = await runCli(['hook', 'job-started', '--public-key', publicKeyFile, '--on-error', 'block'], { env });
      expect(result.code).toBe(0);
      expect(parseGithubFile(env.GITHUB_ENV as string)).toMatchObject({ EGRESS_POLICY: 'block', EGRESSCTL_POLICY_SOURCE: 'on-error' });
    } finally {
      await unsigned.close();
    }
  });
});

describe('egressctl hook job-started --public-key', () => {
  it('applies a verified answer and caches the envelope', async () => {
    const env = jobEnv();
    const result = await runCli(['hook', 'job-started', '--public-key', publicKeyFile], { env });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('signed by a trusted key');
    expect(parseGithubFile(env.GITHUB_ENV as string)).toMatchObject({ EGRESS_POLICY: 'block', EGRESSCTL_POLICY_NAME: 'repo-pol', EGRESSCTL_POLICY_SOURCE: 'server' });
    const cacheDir = path.join(env.RUNNER_TOOL_CACHE as string, 'egressctl', 'policy-cache');
    const [file] = readdirSync(cacheDir);
    const record = JSON.parse(readFileSync(path.join(cacheDir, file ?? ''), 'utf8')) as Record<string, unknown>;
    expect(typeof record.envelope).toBe('string');
    expect(record.answer).toBeUndefined();
  });

  const attacks: [string, () => { type: string; text: string }][] = [
    ['a forged permissive answer (plain JSON)', () => ({ type: 'application/json', text: JSON.stringify(PERMISSIVE) })],
    ['an answer signed with another key', () => ({ type: SIGNED_ANSWER_MEDIA_TYPE, text: signAnswer(statement(), [parsePrivateKey(otherPair.privateKeyPem)]) })],
    ['a genuine answer for another repository (replayed)', () => ({ type: SIGNED_ANSWER_MEDIA_TYPE, text: signAnswer(statement({ subject: { organization: 'acme', repository: 'acme/web', workflow: null, cluster: 'arc-prod' } }), [signKey]) })],
    ['a genuine answer for another workflow', () => ({ type: SIGNED_ANSWER_MEDIA_TYPE, text: signAnswer(statement({ subject: { organization: 'acme', repository: 'acme/api', workflow: 'acme/api/.github/workflows/other.yml', cluster: 'arc-prod' } }), [signKey]) })],
    [
      'an expired answer',
      () => ({ type: SIGNED_ANSWER_MEDIA_TYPE, text: signAnswer(statement({ issuedAt: new Date(Date.now() - 3 * 86400_000).toISOString(), expiresAt: new Date(Date.now() - 2 * 86400_000).toISOString() }), [signKey]) }),
    ],
  ];
  for (const [name, body] of attacks) {
    it(`sends ${name} to on-error`, async () => {
      const fake = await fakeServer(body);
      try {
        const env = jobEnv({ EGRESSCTL_SERVER: fake.url });
        const result = await runCli(['hook', 'job-started', '--public-key', publicKeyFile, '--on-error', 'block'], { env });
        expect(result.code).toBe(0);
        expect(parseGithubFile(env.GITHUB_ENV as string)).toMatchObject({ EGRESS_POLICY: 'block', EGRESSCTL_POLICY_SOURCE: 'on-error' });
        const closed = await runCli(['hook', 'job-started', '--public-key', publicKeyFile, '--fail-closed'], { env: jobEnv({ EGRESSCTL_SERVER: fake.url }) });
        expect(closed.code).toBe(1);
      } finally {
        await fake.close();
      }
    });
  }

  it('refuses a planted cache file (which made --fail-closed --on-error block run in audit)', async () => {
    const env = jobEnv({ EGRESSCTL_SERVER: 'http://127.0.0.1:9' });
    const cacheDir = path.join(env.RUNNER_TOOL_CACHE as string, 'egressctl', 'policy-cache');
    mkdirSync(cacheDir, { recursive: true });
    const scope = { server: env.EGRESSCTL_SERVER as string, repository: 'acme/api', workflow: env.GITHUB_WORKFLOW_REF as string };
    const audit = { ...PERMISSIVE, policy: 'planted', config: { 'egress-policy': 'audit' } };
    writeFileSync(path.join(cacheDir, cacheFileName(scope)), JSON.stringify({ fetchedAt: new Date().toISOString(), scope, answer: audit }));
    const planted = await runCli(['hook', 'job-started', '--public-key', publicKeyFile, '--fail-closed', '--on-error', 'block', '--timeout', '1'], { env });
    expect(planted.code).toBe(1);
    expect(planted.stderr).toMatch(/cached policy is not signed/);
    // An envelope signed by another key in the cache: refused too.
    writeFileSync(path.join(cacheDir, cacheFileName(scope)), JSON.stringify({ fetchedAt: new Date().toISOString(), scope, envelope: signAnswer(statement(), [parsePrivateKey(otherPair.privateKeyPem)]) }));
    const foreign = await runCli(['hook', 'job-started', '--public-key', publicKeyFile, '--on-error', 'block', '--timeout', '1'], { env: { ...env, GITHUB_ENV: path.join(work, 'env-foreign') } });
    expect(foreign.code).toBe(0);
    expect(parseGithubFile(path.join(work, 'env-foreign'))).toMatchObject({ EGRESS_POLICY: 'block', EGRESSCTL_POLICY_SOURCE: 'on-error' });
  });

  it('uses a verified cached envelope when the server is down', async () => {
    const cache = path.join(work, 'cache-shared');
    const own = await startServer({
      source: repo.dir,
      port: 0,
      logger: captureLogger().logger,
      defaultMetrics: false,
      signKeys: [signKey],
      apiKeys: [{ name: 'arc-prod', sha256: hashApiKey(KEY), cluster: 'arc-prod', organizations: ['acme'] }],
    });
    const first = jobEnv({ EGRESSCTL_SERVER: own.url, RUNNER_TOOL_CACHE: cache });
    expect((await runCli(['hook', 'job-started', '--public-key', publicKeyFile], { env: first })).code).toBe(0);
    await own.close();
    const later = jobEnv({ EGRESSCTL_SERVER: own.url, RUNNER_TOOL_CACHE: cache });
    const result = await runCli(['hook', 'job-started', '--public-key', publicKeyFile, '--fail-closed', '--timeout', '1'], { env: later });
    expect(result.code).toBe(0);
    expect(parseGithubFile(later.GITHUB_ENV as string)).toMatchObject({ EGRESS_POLICY: 'block', EGRESSCTL_POLICY_NAME: 'repo-pol', EGRESSCTL_POLICY_SOURCE: 'cache' });
  });
});

describe('the composite action (dist) with public-key', () => {
  // A tool cache per run: no answer cached by an earlier run may stand in for this one.
  const runAction = (inputs: Record<string, string>): Promise<ActionRun> =>
    runHardenAction({ work, tokenUrl: tokens.url, inputs, env: { RUNNER_TOOL_CACHE: path.join(work, `action-cache-${++runs}`) } });

  it('applies the verified answer', async () => {
    const result = await runAction({ server: server.url, audience: AUDIENCE, 'public-key': bundlePair.publicKeyPem });
    expect(result.code).toBe(0);
    expect(result.outputs).toMatchObject({ 'egress-policy': 'block', policy: 'wf-pol', source: 'server' });
  });

  it('sends a forged answer, or one signed with another key, to on-error', async () => {
    for (const body of [() => ({ type: 'application/json', text: JSON.stringify(PERMISSIVE) }), () => ({ type: SIGNED_ANSWER_MEDIA_TYPE, text: signAnswer(statement(), [parsePrivateKey(otherPair.privateKeyPem)]) })]) {
      const fake = await fakeServer(body);
      try {
        const result = await runAction({ server: fake.url, audience: AUDIENCE, 'public-key': bundlePair.publicKeyPem, 'on-error': 'block' });
        expect(result.code).toBe(0);
        expect(result.outputs).toMatchObject({ 'egress-policy': 'block', source: 'on-error' });
      } finally {
        await fake.close();
      }
    }
    const wrongKey = await runAction({ server: server.url, audience: AUDIENCE, 'public-key': otherPair.publicKeyPem, 'on-error': 'fail' });
    expect(wrongKey.code).toBe(1);
  });
});
