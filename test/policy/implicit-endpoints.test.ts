/**
 * Harden-Runner's implicit endpoints, and every user of the list: an observed endpoint the agent
 * does not allow by itself (github.com, api.github.com) must reach recommendations, new policies,
 * block plans and the breakage forecast.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { mergeIntoBaselineDir } from '../../src/baselines/index.js';
import { IMPLICIT_ENDPOINTS, TELEMETRY_ENDPOINTS, implicitEndpointPatterns, implicitPatternFor } from '../../src/policy/endpoint.js';
import { runCli } from '../support/cli.js';
import { makeTempRepo, type TempRepo } from '../support/policy-repo.js';

let repo: TempRepo | undefined;
afterEach(() => repo?.cleanup());

/** What one audit job of a repository that checks out code reaches. */
const OBSERVED = [
  'github.com:443',
  'api.github.com:443',
  'codeload.github.com:443',
  'pipelines.actions.githubusercontent.com:443',
  'productionresultssa12.blob.core.windows.net:443',
  'agent.api.stepsecurity.io:443',
  'registry.npmjs.org:443',
];
const RECOMMENDED = ['api.github.com:443', 'github.com:443', 'registry.npmjs.org:443'];

async function observe(dir: string, runs = 4): Promise<void> {
  const observations = Array.from({ length: runs }, (_, index) => ({
    workflow: '.github/workflows/ci.yml',
    job: 'build',
    runId: String(index + 1),
    at: `2026-11-0${index + 1}T10:00:00Z`,
    endpoints: OBSERVED,
  }));
  await mergeIntoBaselineDir(dir, 'acme/api', observations);
}

describe('the implicit list', () => {
  it('is step-security/agent v0.16.0 addImplicitEndpoints, telemetry hosts apart', () => {
    expect([...IMPLICIT_ENDPOINTS].sort()).toEqual([
      '*.actions.githubusercontent.com:443',
      'actions-results-receiver-production.githubapp.com:443',
      'codeload.github.com:443',
      'productionresultssa*.blob.core.windows.net:443',
    ]);
    expect([...TELEMETRY_ENDPOINTS].sort()).toEqual(['agent.api.stepsecurity.io:443', 'prod.app-api.stepsecurity.io:443']);
    expect(implicitEndpointPatterns()).toHaveLength(6);
    expect(implicitEndpointPatterns({ disableTelemetry: true })).toHaveLength(4);
    expect(implicitPatternFor('github.com', 443)).toBeUndefined();
    expect(implicitPatternFor('api.github.com', 443)).toBeUndefined();
    expect(implicitPatternFor('prod.app-api.stepsecurity.io', 443, { disableTelemetry: true })).toBeUndefined();
    expect(implicitPatternFor('results-receiver.actions.githubusercontent.com', 443)?.text).toBe('*.actions.githubusercontent.com:443');
  });
});

describe('users of the implicit list keep every other observed endpoint', () => {
  it('recommend', async () => {
    repo = makeTempRepo();
    await observe(repo.dir);
    const run = await runCli(['recommend', '--repository', 'acme/api', '--json', '-C', repo.dir]);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as { jobs: { endpoints: string[]; stable: boolean }[] };
    expect(report.jobs[0]).toMatchObject({ endpoints: RECOMMENDED, stable: true });
  });

  it('policy create --from-baseline', async () => {
    repo = makeTempRepo();
    await observe(repo.dir);
    const run = await runCli(['policy', 'create', 'api-ci', '--from-baseline', 'job:acme/api/.github/workflows/ci.yml#build', '-C', repo.dir]);
    expect(run.stderr).toBe('');
    const text = await readFile(path.join(repo.dir, 'policies/api-ci.yml'), 'utf8');
    expect(text).toContain(`allowed-endpoints:\n${RECOMMENDED.map((endpoint) => `  - ${endpoint}\n`).join('')}`);
  });

  it('a block plan written into a workflow (harden --from-baselines)', async () => {
    repo = makeTempRepo();
    await observe(repo.dir);
    await mkdir(path.join(repo.dir, 'wf'), { recursive: true });
    await writeFile(path.join(repo.dir, 'wf/ci.yml'), 'on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: make\n');
    const run = await runCli(['harden', 'wf/ci.yml', '--from-baselines', '-C', '.', '--repository', 'acme/api', '--workflow', '.github/workflows/ci.yml'], {
      cwd: repo.dir,
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('egress-policy: block');
    for (const endpoint of RECOMMENDED) expect(run.stdout).toContain(endpoint);
    expect(run.stdout).not.toContain('codeload.github.com');
  });

  it('the breakage forecast of a review', async () => {
    repo = makeTempRepo({}, { git: true });
    await observe(repo.dir);
    repo.write({ 'policies/org.yml': 'egress-policy: audit\n', 'attachments.yml': 'organizations:\n  acme: org\n' });
    const base = repo.commit('audit');
    repo.write({ 'policies/org.yml': 'egress-policy: block\nallowed-endpoints: registry.npmjs.org\n' });
    const head = repo.commit('block');
    const run = await runCli(['diff', '-C', repo.dir, base, head, '--format', 'json']);
    const review = JSON.parse(run.stdout) as { breakage: { job: string; endpoints: string[] }[] };
    expect(review.breakage).toEqual([expect.objectContaining({ job: 'build', endpoints: ['api.github.com:443', 'github.com:443'] })]);
  });
});
