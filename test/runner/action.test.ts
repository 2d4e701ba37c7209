import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { githubFileEntries } from '../../src/runner/github-files.js';
import { hardenInputs, policyAnswerProblem } from '../../src/runner/policy-client.js';
import type { TempRepo } from '../support/policy-repo.js';
import { captureLogger, type Issuer } from '../support/server.js';
import { ACTION_DIST as DIST, parseGithubFile, runHardenAction, startPolicyBackend, type ActionRun, type PolicyBackend, type TokenEndpoint } from '../support/runner.js';

const AUDIENCE = 'https://egress.test';

let repo: TempRepo;
let issuer: Issuer;
let tokens: TokenEndpoint;
let server: RunningServer;
let backend: PolicyBackend | undefined;
let work: string;

beforeAll(async () => {
  backend = await startPolicyBackend(AUDIENCE);
  ({ repo, issuer, tokens, server } = backend);
  work = mkdtempSync(path.join(tmpdir(), 'egressctl-action-'));
});

afterAll(async () => {
  await backend?.close();
  rmSync(work, { recursive: true, force: true });
});

function runAction(inputs: Record<string, string>, env: Record<string, string> = {}): Promise<ActionRun> {
  return runHardenAction({ work, tokenUrl: tokens.url, inputs, env: { RUNNER_TEMP: path.join(work, 'temp'), ...env } });
}

describe('actions/harden/dist/index.js', () => {
  it('is what scripts/build-action.mjs builds from src/runner (committed file not stale)', async () => {
    const outfile = path.join(work, 'rebuilt.js');
    // @ts-expect-error: a plain ESM script without type declarations
    const { buildAction } = (await import('../../scripts/build-action.mjs')) as { buildAction: (file: string) => Promise<string> };
    await buildAction(outfile);
    expect(readFileSync(outfile).equals(readFileSync(DIST)), 'actions/harden/dist/index.js is stale: run node scripts/build-action.mjs').toBe(true);
    const bundled = readFileSync(DIST, 'utf8');
    // Dependency-free: only node: built-ins are imported.
    const imports = [...bundled.matchAll(/^import .* from "([^"]+)";$/gm)].map((match) => match[1]);
    expect(imports.every((name) => name?.startsWith('node:'))).toBe(true);
  });

  it('gets an OIDC token for the audience, fetches the policy and writes step outputs', async () => {
    const result = await runAction({ server: server.url, audience: AUDIENCE });
    expect(result.code).toBe(0);
    expect(tokens.audiences.at(-1)).toBe(AUDIENCE);
    expect(result.outputs).toEqual({
      'egress-policy': 'block',
      'allowed-endpoints': 'repo.example.com:8443 wf.example.com:443',
      'disable-sudo': 'false',
      'disable-sudo-and-containers': 'true',
      'disable-file-monitoring': 'false',
      'disable-telemetry': 'false',
      policy: 'wf-pol',
      scope: 'workflow:acme/api/.github/workflows/release.yml',
      revision: repo.git('rev-parse', 'HEAD').trim(),
      source: 'server',
      'lockdown-mode': '{"detections":["Reverse-Shell"],"enabled":true}',
    });
    expect(result.stdout).toContain('egressctl: policy wf-pol (workflow acme/api/.github/workflows/release.yml)');
    expect(result.stdout).toMatch(/^::add-mask::ey/m);
    expect(readdirSync(path.join(work, 'tool-cache', 'egressctl', 'policy-cache'))).toHaveLength(1);
  });

  it('defaults the audience to the server URL origin', async () => {
    const result = await runAction({ server: `${server.url}/`, 'on-error': 'fail' }, { RUNNER_TOOL_CACHE: path.join(work, 'cache-audience') });
    expect(tokens.audiences.at(-1)).toBe(new URL(server.url).origin);
    // The test server's audience is different, so the server refuses and on-error=fail fails.
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/::error title=egressctl::cannot get the egress policy: .*401.*another audience/);
  });

  it('falls back to the cached policy when the server is down, then to on-error', async () => {
    const own = await startServer({
      source: repo.dir,
      port: 0,
      logger: captureLogger().logger,
      defaultMetrics: false,
      oidc: { issuer: issuer.issuer, audience: AUDIENCE, jwksUrl: issuer.jwksUrl },
    });
    const cacheEnv = { RUNNER_TOOL_CACHE: path.join(work, 'cache-fallback') };
    const fresh = await runAction({ server: own.url, audience: AUDIENCE }, cacheEnv);
    expect(fresh.outputs.source).toBe('server');
    await own.close();

    const cached = await runAction({ server: own.url, audience: AUDIENCE, 'on-error': 'fail' }, cacheEnv);
    expect(cached.code).toBe(0);
    expect(cached.outputs).toMatchObject({ source: 'cache', policy: 'wf-pol', 'egress-policy': 'block', 'allowed-endpoints': 'repo.example.com:8443 wf.example.com:443' });
    expect(cached.stdout).toMatch(/::warning title=egressctl::the server failed \(cannot reach .*ECONNREFUSED\); using the policy cached at/);

    const emptyCache = { RUNNER_TOOL_CACHE: path.join(work, 'cache-empty') };
    const audit = await runAction({ server: own.url, audience: AUDIENCE }, emptyCache);
    expect(audit).toMatchObject({ code: 0, outputs: { source: 'on-error', 'egress-policy': 'audit', 'allowed-endpoints': '', policy: '' } });
    const block = await runAction({ server: own.url, audience: AUDIENCE, 'on-error': 'block' }, emptyCache);
    expect(block).toMatchObject({ code: 0, outputs: { source: 'on-error', 'egress-policy': 'block', 'allowed-endpoints': '' } });
    const fail = await runAction({ server: own.url, audience: AUDIENCE, 'on-error': 'fail' }, emptyCache);
    expect(fail.code).toBe(1);
    expect(fail.outputs).toEqual({});
    expect(fail.stdout).toMatch(/::error title=egressctl::.*no cached policy for this scope, and on-error is fail/);
  });

  it('explains a missing id-token permission, and rejects bad inputs', async () => {
    const noToken = await runAction(
      { server: server.url, audience: AUDIENCE },
      { ACTIONS_ID_TOKEN_REQUEST_URL: '', ACTIONS_ID_TOKEN_REQUEST_TOKEN: '', RUNNER_TOOL_CACHE: path.join(work, 'cache-no-token') },
    );
    expect(noToken).toMatchObject({ code: 0, outputs: { source: 'on-error', 'egress-policy': 'audit' } });
    expect(noToken.stdout).toContain('permissions: id-token: write');
    expect((await runAction({ server: server.url, 'on-error': 'maybe' })).code).toBe(1);
    expect((await runAction({ server: 'ftp://x' })).stdout).toContain("the server input must be the egressctl server's http(s) URL");
  });
});

describe('runner helpers', () => {
  it('writes multi-line safe GITHUB_OUTPUT entries that cannot inject other outputs', () => {
    const file = path.join(work, 'multi');
    writeFileSync(file, githubFileEntries({ a: 'one\ntwo', b: 'x\nEOF\nc=evil', empty: '' }));
    expect(parseGithubFile(file)).toEqual({ a: 'one\ntwo', b: 'x\nEOF\nc=evil', empty: '' });
    expect(() => githubFileEntries({ 'bad name': 'x' })).toThrow(/not a valid output/);
  });

  it('checks answers before using them and never enables telemetry opt-out outside block', () => {
    expect(policyAnswerProblem({ revision: 'r', policy: 'p', config: { 'egress-policy': 'block', 'allowed-endpoints': 'a:443\nb:443' } })).toMatch(/one-line/);
    expect(policyAnswerProblem({ revision: 'r', policy: null, config: {} })).toBeUndefined();
    const inputs = hardenInputs({ revision: 'r', policy: 'p', scope: null, shadowed: [], config: { 'egress-policy': 'audit', 'disable-telemetry': true }, 'lockdown-mode': null });
    expect(inputs['disable-telemetry']).toBe('false');
  });
});
