/**
 * The pure parts of the rollout: per-file plans (GitHub-parser gate, composite action with
 * id-token permissions), fingerprints, the PR body (marker, evidence, size limit) and
 * display-name -> job id mapping for workflow_job webhooks.
 */
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildBaselineIndex, emptyBaselineFile, mergeObservations } from '../../src/baselines/index.js';
import { DEFAULT_SETTINGS } from '../../src/policy/model.js';
import { jobIdForDisplayName } from '../../src/app/github-jobs.js';
import { MAX_BODY_LENGTH, parseMarker, renderMarker, renderPullRequestBody } from '../../src/rollout/rollout-body.js';
import { grantIdToken } from '../../src/rollout/rollout-permissions.js';
import { planFingerprint, planRepository, planWorkflowFile, workflowsFingerprint, type RolloutConfig } from '../../src/rollout/rollout-plan.js';

const emptyIndex = buildBaselineIndex([]);
const inline: RolloutConfig = { mode: 'inline', pin: DEFAULT_SETTINGS.hardenRunner, baselines: emptyIndex };
const action: RolloutConfig = {
  mode: 'action',
  pin: DEFAULT_SETTINGS.hardenRunner,
  baselines: emptyIndex,
  action: { uses: 'acme/egressctl/actions/harden@0123456789abcdef0123456789abcdef01234567', version: 'v1.0.0', server: 'https://egress.acme.example', audience: 'https://egress.acme.example' },
};

const SIMPLE = `name: CI
on: [push]
permissions:
  contents: read
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - run: npm test
  release:
    runs-on: ubuntu-latest
    permissions:
      contents: write
    steps:
      - run: npm publish
`;

function jobPermissions(text: string, job: string): unknown {
  return (parse(text) as { jobs: Record<string, { permissions?: unknown }> }).jobs[job]?.permissions;
}

describe('planWorkflowFile', () => {
  it('audits jobs without a stable baseline and blocks with the stable one', async () => {
    const runs = Array.from({ length: 4 }, (_, index) => ({ workflow: '.github/workflows/ci.yml', job: 'test', runId: String(index), at: `2026-11-0${index + 1}T00:00:00Z`, endpoints: ['registry.npmjs.org:443'] }));
    const baselines = buildBaselineIndex([mergeObservations(emptyBaselineFile('acme/api'), runs).file]);
    const plan = await planWorkflowFile('acme/api', '.github/workflows/ci.yml', SIMPLE, { ...inline, baselines });
    expect(plan.status).toBe('changed');
    expect(plan.jobs.map((job) => [job.job, job.mode, job.endpoints])).toEqual([
      ['test', 'block', ['registry.npmjs.org:443']],
      ['release', 'audit', []],
    ]);
    expect(plan.jobs[0]!.evidence).toMatchObject({ runs: 4, stable: true, lastSeen: '2026-11-04T00:00:00Z' });
    expect(plan.jobs[1]!.evidence).toBeUndefined();
  });

  it('reports a file that does not parse and leaves it unchanged', async () => {
    const plan = await planWorkflowFile('acme/api', '.github/workflows/bad.yml', 'jobs: [\n', inline);
    expect(plan).toMatchObject({ status: 'invalid', after: 'jobs: [\n' });
    expect(plan.problems[0]).toMatch(/bad\.yml:\d+:\d+/);
  });

  it('rejects a rewrite that adds a GitHub workflow-parser error', async () => {
    // An input GitHub's parser refuses (an unclosed expression): the file stays as it was, with the parser's message.
    const bad: RolloutConfig = { ...action, action: { ...action.action!, server: '${{ vars.EGRESS_SERVER' } };
    const plan = await planWorkflowFile('acme/api', '.github/workflows/ci.yml', SIMPLE, bad);
    expect(plan.status).toBe('rejected');
    expect(plan.after).toBe(SIMPLE);
    expect(plan.problems.length).toBeGreaterThan(0);
    expect(plan.problems[0]).toMatch(/^\.github\/workflows\/ci\.yml:\d+:\d+: The expression is not closed/);
  });

  it('in action mode inserts the composite action and grants id-token: write without widening other permissions', async () => {
    const plan = await planWorkflowFile('acme/api', '.github/workflows/ci.yml', SIMPLE, action);
    expect(plan.status).toBe('changed');
    expect(plan.after).toContain('uses: acme/egressctl/actions/harden@0123456789abcdef0123456789abcdef01234567 # v1.0.0');
    expect(jobPermissions(plan.after, 'test')).toEqual({ contents: 'read', 'id-token': 'write' });
    expect(jobPermissions(plan.after, 'release')).toEqual({ contents: 'write', 'id-token': 'write' });
    expect((parse(plan.after) as { permissions: unknown }).permissions).toEqual({ contents: 'read' });
    expect(plan.jobs.every((job) => job.mode === 'policy-server' && /id-token: write/.test(job.reason ?? ''))).toBe(true);
    // Idempotent: planning the output again changes nothing.
    const again = await planWorkflowFile('acme/api', '.github/workflows/ci.yml', plan.after, action);
    expect(again.status).toBe('unchanged');
  });
});

describe('grantIdToken', () => {
  it('leaves a job without any permissions: alone, with a note', () => {
    const text = 'on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: x\n';
    const result = grantIdToken(text, ['a']);
    expect(result.output).toBe(text);
    expect(result.jobs.get('a')).toMatchObject({ action: 'manual' });
    expect(result.jobs.get('a')!.note).toMatch(/add it by hand/);
  });

  it('sees write-all and an existing id-token: write, and fixes id-token: none in place, keeping CRLF', () => {
    const text = 'on: push\r\npermissions: write-all\r\njobs:\r\n  a:\r\n    runs-on: ubuntu-latest\r\n    steps:\r\n      - run: x\r\n  b:\r\n    runs-on: ubuntu-latest\r\n    permissions:\r\n      id-token: none # for now\r\n    steps:\r\n      - run: y\r\n';
    const result = grantIdToken(text, ['a', 'b']);
    expect(result.jobs.get('a')).toMatchObject({ action: 'present' });
    expect(result.jobs.get('b')).toMatchObject({ action: 'granted' });
    expect(result.output).toBe(text.replace('id-token: none # for now', 'id-token: write # for now'));
  });
});

describe('fingerprints and the PR body', () => {
  it('a plan fingerprint changes with stable endpoints, not with run counts', () => {
    const runs = (count: number, endpoints: string[]) =>
      Array.from({ length: count }, (_, index) => ({ workflow: 'ci.yml', job: 'test', runId: String(index), at: `2026-11-${String(index + 1).padStart(2, '0')}T00:00:00Z`, endpoints }));
    const index = (count: number, endpoints: string[]) => buildBaselineIndex([mergeObservations(emptyBaselineFile('acme/api'), runs(count, endpoints)).file]);
    const four = planFingerprint('acme/api', { ...inline, baselines: index(4, ['a.example:443']) });
    expect(planFingerprint('acme/api', { ...inline, baselines: index(9, ['a.example:443']) })).toBe(four);
    expect(planFingerprint('acme/api', { ...inline, baselines: index(4, ['b.example:443']) })).not.toBe(four);
    expect(planFingerprint('acme/api', { ...inline, baselines: index(1, ['a.example:443']) })).not.toBe(four);
    expect(planFingerprint('acme/other', { ...inline, baselines: index(4, ['a.example:443']) })).toBe(planFingerprint('acme/other', inline));
    expect(workflowsFingerprint([{ path: 'b', sha: '1' }, { path: 'a', sha: '2' }])).toBe(workflowsFingerprint([{ path: 'a', sha: '2' }, { path: 'b', sha: '1' }]));
  });

  it('round-trips the marker and ignores an edited one', () => {
    const marker = { base: 'a'.repeat(40), workflows: 'w', plan: 'p', outputs: 'o' };
    expect(parseMarker(`intro\n${renderMarker(marker)}\nrest`)).toEqual(marker);
    expect(parseMarker(renderMarker(marker).replace('"v":1', '"v":2'))).toBeUndefined();
    expect(parseMarker('<!-- egressctl:rollout {not json -->')).toBeUndefined();
    expect(parseMarker(null)).toBeUndefined();
  });

  it('stays under GitHub\'s body limit for a huge repository, summarizing instead of cutting tables', async () => {
    const jobs = Array.from({ length: 400 }, (_, index) => `  job${index}:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${index}\n`).join('');
    const endpoints = Array.from({ length: 60 }, (_, index) => `host-${index}.registry.example.com:443`);
    const files = Array.from({ length: 6 }, (_, index) => ({ path: `.github/workflows/w${index}.yml`, text: `on: push\njobs:\n${jobs}` }));
    const runs = files.flatMap((file) =>
      Array.from({ length: 400 }, (_, job) => Array.from({ length: 4 }, (_, run) => ({ workflow: file.path, job: `job${job}`, runId: `${job}-${run}`, at: `2026-11-0${run + 1}T00:00:00Z`, endpoints }))).flat(),
    );
    const baselines = buildBaselineIndex([mergeObservations(emptyBaselineFile('acme/mono'), runs).file]);
    const plan = await planRepository('acme/mono', files, { ...inline, baselines });
    const marker = { base: 'b'.repeat(40), workflows: 'w', plan: 'p', outputs: 'o' };
    const body = renderPullRequestBody({ plan, marker, mode: 'inline' });
    expect(body.length).toBeLessThanOrEqual(MAX_BODY_LENGTH);
    expect(parseMarker(body)).toEqual(marker);
    // Every table row is complete: rows have the header's number of cells.
    for (const line of body.split('\n').filter((item) => item.startsWith('|'))) expect(line.endsWith('|')).toBe(true);
    expect(body).toMatch(/2,400 jobs in block mode/);
  }, 60_000);
});

describe('jobIdForDisplayName', () => {
  const workflow = `on: push
jobs:
  build:
    strategy:
      matrix:
        os: [ubuntu-latest]
    runs-on: \${{ matrix.os }}
    steps: [{run: x}]
  lint:
    name: Lint code
    runs-on: ubuntu-latest
    steps: [{run: x}]
  deploy:
    name: Deploy to \${{ inputs.env }}
    runs-on: ubuntu-latest
    steps: [{run: x}]
`;
  it('maps names, matrix legs and templated names to job ids', () => {
    expect(jobIdForDisplayName(workflow, 'build')).toBe('build');
    expect(jobIdForDisplayName(workflow, 'build (ubuntu-latest)')).toBe('build');
    expect(jobIdForDisplayName(workflow, 'Lint code')).toBe('lint');
    expect(jobIdForDisplayName(workflow, 'Deploy to production')).toBe('deploy');
    expect(jobIdForDisplayName(workflow, 'caller / called job')).toBeUndefined();
    expect(jobIdForDisplayName('not: [valid', 'build')).toBeUndefined();
  });
});
