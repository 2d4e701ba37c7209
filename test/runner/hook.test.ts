import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterFromJobLog } from '../../src/baselines/cluster.js';
import { hashApiKey, startServer, type RunningServer } from '../../src/server/index.js';
import { deliveryExpression, variableChain, type DeliveredInput } from '../../src/policy/delivery.js';
import { runCli } from '../support/cli.js';
import { evaluateInput } from '../support/expressions.js';
import { makeTempRepo, type TempRepo } from '../support/policy-repo.js';
import { PRECEDENCE_FILES, captureLogger } from '../support/server.js';
import { hookJobEnv, parseGithubFile } from '../support/runner.js';
import { startHostileServer } from '../support/hostile-server.js';

const KEY = 'arc-prod-hook-key-0123456789abcdefghijkl';
let repo: TempRepo;
let server: RunningServer;
let work: string;

beforeAll(async () => {
  repo = makeTempRepo(PRECEDENCE_FILES, { git: true });
  repo.commit('policies');
  server = await startServer({
    source: repo.dir,
    port: 0,
    logger: captureLogger().logger,
    defaultMetrics: false,
    apiKeys: [{ name: 'arc-prod', sha256: hashApiKey(KEY), cluster: 'arc-prod', organizations: ['acme', 'other'] }],
  });
  work = mkdtempSync(path.join(tmpdir(), 'egressctl-hook-'));
});

afterAll(async () => {
  await server?.close();
  repo?.cleanup();
  rmSync(work, { recursive: true, force: true });
});

function jobEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return hookJobEnv({ work, server: server.url, apiKey: KEY, repository: 'other/tool', overrides: { EGRESSCTL_CLUSTER: 'arc-prod', ...overrides } });
}

describe('egressctl hook job-started', () => {
  it('fetches the policy with the API key and hands it to the job (log, file, GITHUB_ENV)', async () => {
    const env = jobEnv();
    const result = await runCli(['hook', 'job-started'], { env });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('egressctl: policy cluster-pol (cluster arc-prod)');
    const file = path.join(env.RUNNER_TEMP as string, 'egressctl', 'policy.json');
    expect(result.stdout).toContain(`policy written to ${file}`);
    const written = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    expect(written).toMatchObject({ source: 'server', policy: 'cluster-pol', scope: { type: 'cluster', key: 'arc-prod' }, config: { 'egress-policy': 'audit' } });
    expect(parseGithubFile(env.GITHUB_ENV as string)).toMatchObject({
      EGRESS_POLICY: 'audit',
      ALLOWED_ENDPOINTS: '',
      EGRESSCTL_POLICY_NAME: 'cluster-pol',
      EGRESSCTL_POLICY_SOURCE: 'server',
      EGRESSCTL_POLICY_FILE: file,
    });

    const acme = jobEnv({ GITHUB_REPOSITORY: 'acme/api', GITHUB_WORKFLOW_REF: 'acme/api/.github/workflows/release.yml@refs/tags/v1' });
    const output = path.join(work, 'custom.json');
    expect((await runCli(['hook', 'job-started', '--output', output], { env: acme })).code).toBe(0);
    expect(JSON.parse(readFileSync(output, 'utf8'))).toMatchObject({ policy: 'wf-pol', config: { 'egress-policy': 'block', 'allowed-endpoints': 'repo.example.com:8443 wf.example.com:443' } });
    expect(parseGithubFile(acme.GITHUB_ENV as string)).toMatchObject({ EGRESS_POLICY: 'block', DISABLE_SUDO_AND_CONTAINERS: 'true' });
  });

  it('prints its cluster where the job log carries it to baselines (baseline from-log, the App)', async () => {
    const result = await runCli(['hook', 'job-started', '--cluster', 'ARC-Prod'], { env: jobEnv() });
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n')[0]).toBe('egressctl: runner cluster: arc-prod');
    // The runner shows a job-started hook's output under "Set up runner", each line time-stamped.
    const log = [
      'A job started hook has been configured by the self-hosted runner administrator',
      "##[group]Run '/home/runner/hooks/job-started.sh'",
      '##[endgroup]',
      ...result.stdout.trimEnd().split('\n'),
    ]
      .map((line, index) => `2026-11-21T08:01:52.${String(index).padStart(7, '0')}Z ${line}`)
      .join('\n');
    expect(clusterFromJobLog(log)).toBe('arc-prod');
    const none = await runCli(['hook', 'job-started'], { env: jobEnv({ EGRESSCTL_CLUSTER: '' }) });
    expect(none.stdout).not.toContain('runner cluster');
  });

  it('exports lockdown mode (environment and policy.json) and EGRESSCTL_POLICY in the managed step\'s JSON shape', async () => {
    const acme = jobEnv({ GITHUB_REPOSITORY: 'acme/api', GITHUB_WORKFLOW_REF: 'acme/api/.github/workflows/release.yml@refs/tags/v1' });
    expect((await runCli(['hook', 'job-started'], { env: acme })).code).toBe(0);
    const exported = parseGithubFile(acme.GITHUB_ENV as string);
    expect(exported).toMatchObject({ EGRESSCTL_LOCKDOWN_MODE: 'true', EGRESSCTL_LOCKDOWN_DETECTIONS: 'Reverse-Shell', EGRESSCTL_POLICY_NAME: 'wf-pol' });
    // docs/reconciliation.md "Variables": exactly these keys, always all present, compact JSON.
    expect(exported.EGRESSCTL_POLICY).toBe(
      '{"egress-policy":"block","allowed-endpoints":"repo.example.com:8443 wf.example.com:443","disable-sudo-and-containers":true,"disable-file-monitoring":false,"disable-telemetry":false,"policy":"wf-pol"}',
    );
    const written = JSON.parse(readFileSync(path.join(acme.RUNNER_TEMP as string, 'egressctl', 'policy.json'), 'utf8')) as Record<string, unknown>;
    expect(written['lockdown-mode']).toEqual({ enabled: true, detections: ['Reverse-Shell'] });

    // The managed step's `with:` (docs/reconciliation.md), evaluated by GitHub's own expression engine
    // with the hook's GITHUB_ENV as `env` and a repository variable that must lose to it.
    // The step as written (self-hosted: the hook's env is read first), ending in an audit fallback that must lose too.
    const chain = variableChain('.github/workflows/release.yml');
    const vars = { EGRESSCTL_POLICY: '{"egress-policy":"audit","allowed-endpoints":"","disable-sudo-and-containers":false,"disable-file-monitoring":false,"disable-telemetry":false,"policy":"org"}' };
    const input = (key: DeliveredInput): string => evaluateInput(deliveryExpression(key, chain), { env: exported, vars, runner: { os: 'Linux', environment: 'self-hosted' } });
    expect(input('egress-policy')).toBe('block');
    expect(input('allowed-endpoints')).toBe('repo.example.com:8443 wf.example.com:443');
    expect(input('disable-sudo-and-containers')).toBe('true');

    const plain = jobEnv();
    expect((await runCli(['hook', 'job-started'], { env: plain })).code).toBe(0);
    expect(parseGithubFile(plain.GITHUB_ENV as string)).toMatchObject({ EGRESSCTL_LOCKDOWN_MODE: 'false', EGRESSCTL_LOCKDOWN_DETECTIONS: '' });
  });

  it('uses the cached policy when the server is down; fails closed only when told and nothing is cached', async () => {
    const cache = { RUNNER_TOOL_CACHE: path.join(work, 'cache-fallback') };
    const own = await startServer({
      source: repo.dir,
      port: 0,
      logger: captureLogger().logger,
      defaultMetrics: false,
      apiKeys: [{ name: 'arc-prod', sha256: hashApiKey(KEY), cluster: 'arc-prod', organizations: ['acme'] }],
    });
    const scope = { GITHUB_REPOSITORY: 'acme/api', GITHUB_WORKFLOW_REF: 'acme/api/.github/workflows/ci.yml@refs/heads/main', EGRESSCTL_SERVER: own.url };
    expect((await runCli(['hook', 'job-started'], { env: jobEnv({ ...cache, ...scope }) })).code).toBe(0);
    await own.close();

    const cachedEnv = jobEnv({ ...cache, ...scope });
    const cached = await runCli(['hook', 'job-started', '--fail-closed', '--timeout', '1'], { env: cachedEnv });
    expect(cached.code).toBe(0);
    expect(cached.stdout).toMatch(/using the policy cached at/);
    expect(parseGithubFile(cachedEnv.GITHUB_ENV as string)).toMatchObject({ EGRESS_POLICY: 'block', EGRESSCTL_POLICY_NAME: 'repo-pol', EGRESSCTL_POLICY_SOURCE: 'cache' });

    const empty = { RUNNER_TOOL_CACHE: path.join(work, 'cache-empty') };
    const openEnv = jobEnv({ ...empty, ...scope });
    const open = await runCli(['hook', 'job-started', '--on-error', 'block'], { env: openEnv });
    expect(open.code).toBe(0);
    expect(parseGithubFile(openEnv.GITHUB_ENV as string)).toMatchObject({ EGRESS_POLICY: 'block', ALLOWED_ENDPOINTS: '', EGRESSCTL_POLICY_SOURCE: 'on-error' });
    const closed = await runCli(['hook', 'job-started', '--fail-closed'], { env: jobEnv({ ...empty, ...scope }) });
    expect(closed.code).toBe(1);
    expect(closed.stderr).toMatch(/cannot get the egress policy/);
  });

  it('bounds the server\'s answer: a body that never ends stops at the cap, a trickle at --timeout (body included)', async () => {
    const scope = { GITHUB_REPOSITORY: 'acme/api', GITHUB_WORKFLOW_REF: 'acme/api/.github/workflows/ci.yml@refs/heads/main', RUNNER_TOOL_CACHE: path.join(work, 'cache-hostile') };
    const flood = await startHostileServer('forever', { stopAfterBytes: 64 * 1024 * 1024 });
    try {
      const result = await within(30_000, 'the hook against a body that never ends', runCli(['hook', 'job-started', '--fail-closed', '--timeout', '5'], { env: jobEnv({ ...scope, EGRESSCTL_SERVER: flood.url }) }));
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/sent more than 1 MiB: answers are limited to 1 MiB/);
      await flood.settled();
      expect(flood.sent()).toBeLessThan(16 * 1024 * 1024);
    } finally {
      await flood.close();
    }
    const trickle = await startHostileServer('trickle', { trickleMs: 50 });
    try {
      const started = performance.now();
      const result = await within(30_000, 'the hook against a trickling body', runCli(['hook', 'job-started', '--fail-closed', '--timeout', '1'], { env: jobEnv({ ...scope, EGRESSCTL_SERVER: trickle.url }) }));
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/did not answer completely within 1 s/);
      // Three attempts of at most a second each and the backoff between them (4.5 s), with room for a loaded machine.
      expect(performance.now() - started).toBeLessThan(15_000);
    } finally {
      await trickle.close();
    }
  }, 60_000);

  it('fails open without an API key unless --fail-closed, and checks its arguments', async () => {
    const noKey = jobEnv({ EGRESSCTL_API_KEY: '' });
    const open = await runCli(['hook', 'job-started'], { env: noKey });
    expect(open.code).toBe(0);
    expect(open.stderr).toMatch(/no API key/);
    expect(parseGithubFile(noKey.GITHUB_ENV as string)).toMatchObject({ EGRESS_POLICY: 'audit', EGRESSCTL_POLICY_SOURCE: 'on-error' });
    expect((await runCli(['hook', 'job-started', '--fail-closed'], { env: jobEnv({ EGRESSCTL_API_KEY: '' }) })).code).toBe(1);
    const wrongKey = await runCli(['hook', 'job-started', '--fail-closed'], { env: jobEnv({ EGRESSCTL_API_KEY: `${KEY}-wrong`, RUNNER_TOOL_CACHE: path.join(work, 'cache-wrong') }) });
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toMatch(/401/);
    expect((await runCli(['hook'], { env: jobEnv() })).code).toBe(2);
    expect((await runCli(['hook', 'job-started', '--on-error', 'fail'], { env: jobEnv() })).code).toBe(2);
  });
});

/** `promise`, or an error naming `what` once `ms` pass: a hang fails with its phase named, not the test timeout. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
