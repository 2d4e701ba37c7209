/**
 * ARC clusters in baselines (docs/architecture.md#arc-clusters-in-baselines): runs record the
 * cluster they ran on (`--cluster`, or the job-started hook's line in the log), and
 * `recommend --cluster` and `policy create --from-baseline cluster:NAME` read only those runs.
 * Real git repositories in temp dirs, the CLI in-process, the fixtures' job logs.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { clusterForRunner, clusterFromJobLog, hookClusterLine } from '../../src/baselines/cluster.js';
import { mergeObservations, parseBaselineFile, renderBaselineFile } from '../../src/baselines/index.js';
import { fixture, fixturesDir } from '../support/baselines.js';
import { runCli } from '../support/cli.js';
import { makeTempRepo, SAMPLE_FILES, type TempRepo } from '../support/policy-repo.js';

let repo: TempRepo | undefined;
afterEach(() => repo?.cleanup());

const API_BUILD = 'acme/api/.github/workflows/ci.yml#build';
const WEB_TEST = 'acme/web/.github/workflows/test.yml#test';
const cli = (...args: string[]) => runCli([...args, '-C', repo?.dir ?? ''], { cwd: fixturesDir });
const read = (file: string) => readFileSync(path.join(repo?.dir ?? '', file), 'utf8');

/** Four runs: two on arc-prod (one told by the hook's log line), one GitHub-hosted, one on arc-dev. */
async function recordRuns(): Promise<void> {
  repo = makeTempRepo(SAMPLE_FILES, { git: true });
  repo.commit('policies');
  const fromHook = await cli('baseline', 'from-log', 'arc-job.txt', '--job', API_BUILD, '--run', '5001');
  expect(fromHook.stderr).toBe('');
  expect(fromHook.stdout).toContain('merged run 5001 (2026-11-21T08:03:11Z) on cluster arc-prod into acme/api/.github/workflows/ci.yml#build');
  const hosted = await cli('baseline', 'import', 'insights-endpoints.txt', '--job', API_BUILD, '--run', '5002', '--at', '2026-11-22T09:00:00Z');
  expect(hosted.stdout).toContain('merged run 5002 (2026-11-22T09:00:00Z) into');
  const explicit = await cli('baseline', 'from-log', 'audit-job.txt', '--job', WEB_TEST, '--run', '5003', '--cluster', 'ARC-Prod');
  expect(explicit.stdout).toContain('on cluster arc-prod');
  const dev = await cli('baseline', 'from-log', 'arc-job.txt', '--job', WEB_TEST, '--run', '5004', '--cluster', 'arc-dev');
  expect(dev.stdout).toContain('on cluster arc-dev');
}

describe('which cluster a run ran on', () => {
  it('takes the hook\'s line from "Set up runner", not a later line a step printed', () => {
    const log = fixture('arc-job.txt');
    expect(log).toContain(hookClusterLine('arc-dev'));
    expect(clusterFromJobLog(log)).toBe('arc-prod');
    expect(clusterFromJobLog(fixture('audit-job.txt'))).toBeUndefined();
    expect(clusterFromJobLog('2026-11-21T08:01:52.9812345Z egressctl: runner cluster: Not A Name\n')).toBeUndefined();
  });

  it('maps a workflow_job runner group first, then runs-on labels that the cluster\'s runners all have', () => {
    const clusters = [
      { name: 'arc-prod', runnerGroups: ['arc-prod'], labels: ['arc-prod-runners'] },
      { name: 'arc-gpu', runnerGroups: [], labels: ['gpu', 'linux', 'self-hosted'] },
    ];
    expect(clusterForRunner(clusters, { runnerGroup: 'ARC-Prod', labels: ['whatever'] })).toBe('arc-prod');
    expect(clusterForRunner(clusters, { runnerGroup: 'Default', labels: ['arc-prod-runners'] })).toBe('arc-prod');
    expect(clusterForRunner(clusters, { runnerGroup: 'Default', labels: ['self-hosted', 'GPU'] })).toBe('arc-gpu');
    expect(clusterForRunner(clusters, { runnerGroup: 'Default', labels: ['self-hosted', 'gpu', 'windows'] })).toBeUndefined();
    expect(clusterForRunner(clusters, { runnerGroup: 'GitHub Actions', labels: ['ubuntu-latest'] })).toBeUndefined();
    expect(clusterForRunner(clusters, { runnerGroup: null, labels: [] })).toBeUndefined();
  });
});

describe('baselines per ARC cluster', () => {
  it('records runs per cluster and, per endpoint, the clusters that saw it; the file stays valid', async () => {
    await recordRuns();
    const api = read('baselines/acme/api.yml');
    expect(api).toContain('      clusters:\n        arc-prod: { runs: 1, firstSeen: 2026-11-21T08:03:11Z, lastSeen: 2026-11-21T08:03:11Z }\n');
    expect(api).toContain('registry.npmjs.org:443: { runs: 2, firstSeen: 2026-11-21T08:03:11Z, lastSeen: 2026-11-22T09:00:00Z, clusters: [ arc-prod ] }');
    // Seen only on the GitHub-hosted run: no cluster list.
    expect(api).toContain('fonts.googleapis.com:443: { runs: 1, firstSeen: 2026-11-22T09:00:00Z, lastSeen: 2026-11-22T09:00:00Z }\n');
    const web = read('baselines/acme/web.yml');
    expect(web).toContain('        arc-dev: { runs: 1,');
    expect(web).toContain('        arc-prod: { runs: 1,');
    expect(web).toContain('clusters: [ arc-dev, arc-prod ] }');
    for (const [file, text] of [['baselines/acme/api.yml', api], ['baselines/acme/web.yml', web]] as const) {
      const parsed = parseBaselineFile(text, file);
      expect(parsed.errors).toEqual([]);
      expect(parsed.warnings).toEqual([]);
    }
    expect((await cli('validate', '--format', 'json')).code).toBe(0);
  });

  it('recommend --cluster lists every job that ran there, with only what those runs saw', async () => {
    await recordRuns();
    const run = await cli('recommend', '--cluster', 'arc-prod', '--json');
    expect(run.stderr).toBe('');
    const answer = JSON.parse(run.stdout) as { cluster: string; 'allowed-endpoints': string; jobs: { key: string; cluster: string; runs: number; clusterRuns: number; endpoints: string[] }[] };
    expect(answer.cluster).toBe('arc-prod');
    expect(answer.jobs.map((job) => [job.key, job.cluster, job.runs, job.clusterRuns])).toEqual([
      [API_BUILD, 'arc-prod', 2, 1],
      [WEB_TEST, 'arc-prod', 2, 1],
    ]);
    expect(answer['allowed-endpoints']).toBe('github.com:443 objects.githubusercontent.com:443 postgres.test.internal.acme.example:5432 registry.npmjs.org:443');
    // The hosted run's fonts.googleapis.com is the job's, not the cluster's.
    const whole = JSON.parse((await cli('recommend', '--repository', 'acme/api', '--json')).stdout) as { jobs: { endpoints: string[] }[] };
    expect(whole.jobs[0]?.endpoints).toContain('fonts.googleapis.com:443');

    const text = await cli('recommend', '--cluster', 'arc-dev', '--repository', 'acme/web');
    expect(text.stdout).toContain(`${WEB_TEST} on cluster arc-dev\n  not stable: 1 run without a new endpoint, 3 needed; 2 runs observed (1 on cluster arc-dev), last new endpoint at run 1 (5003, 2026-11-20T10:03:11Z)\n`);
    expect(text.stdout).toContain('cluster arc-dev: 1 job, 4 recommended endpoints');

    const none = await cli('recommend', '--cluster', 'arc-eu');
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no job has runs recorded on cluster "arc-eu" (clusters in baselines/: arc-dev, arc-prod)');
    expect((await cli('recommend', '--cluster', 'ARC Prod')).code).toBe(2);
  });

  it('policy create --from-baseline cluster:NAME writes the cluster\'s endpoints, then attaches to the cluster', async () => {
    await recordRuns();
    const created = await cli('policy', 'create', 'arc-prod-observed', '--from-baseline', 'cluster:arc-prod');
    expect(created.stderr).toBe('');
    expect(created.stdout).toContain('created policies/arc-prod-observed.yml (block, 4 endpoints)');
    expect(read('policies/arc-prod-observed.yml')).toBe(
      [
        '# yaml-language-server: $schema=../schemas/policy.schema.json',
        '# Endpoints observed in baselines for cluster:arc-prod.',
        'egress-policy: block',
        'allowed-endpoints:',
        '  - github.com:443',
        '  - objects.githubusercontent.com:443',
        '  - postgres.test.internal.acme.example:5432',
        '  - registry.npmjs.org:443',
        '',
      ].join('\n'),
    );
    expect((await cli('attach', 'arc-prod-observed', '--cluster', 'arc-prod')).stdout).toBe('attached arc-prod-observed to cluster arc-prod (was audit)\n');
    const unknown = await cli('policy', 'create', 'eu', '--from-baseline', 'cluster:arc-eu');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('baselines/ has no observed endpoints for cluster:arc-eu');
  });

  it('refuses a cluster name that could not be an attachments.yml key, writing nothing', async () => {
    repo = makeTempRepo(SAMPLE_FILES, { git: true });
    const run = await cli('baseline', 'from-log', 'audit-job.txt', '--job', API_BUILD, '--cluster', 'prod cluster');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--cluster: "prod cluster" is not a cluster name');
    expect(() => read('baselines/acme/api.yml')).toThrow();
  });
});

describe('the baseline file format stays backward compatible', () => {
  const OLD = [
    '# yaml-language-server: $schema=../../schemas/baselines.schema.json',
    'repository: acme/api',
    'workflows:',
    '  .github/workflows/ci.yml:',
    '    # reviewed by @sec-team',
    '    build:',
    '      runs: 1',
    '      firstSeen: 2026-11-20T10:03:11Z',
    '      lastSeen: 2026-11-20T10:03:11Z',
    '      lastGrowth: { run: 1, runId: "9001", at: 2026-11-20T10:03:11Z }',
    '      endpoints:',
    '        registry.npmjs.org:443: { runs: 1, firstSeen: 2026-11-20T10:03:11Z, lastSeen: 2026-11-20T10:03:11Z } # npm',
    '        nodejs.org:443: { runs: 1, firstSeen: 2026-11-20T10:03:11Z, lastSeen: 2026-11-20T10:03:11Z }',
    '      recentRuns: [ "9001" ]',
    '',
  ].join('\n');

  // The schema comment right above the first key (no blank line) is that key's comment to yaml: it must not be added twice.
  it('reads a file written before clusters, and a cluster run adds only its keys, comments kept', () => {
    const parsed = parseBaselineFile(OLD, 'baselines/acme/api.yml');
    expect([parsed.errors, parsed.warnings]).toEqual([[], []]);
    expect(renderBaselineFile(parsed.value, OLD)).toBe(OLD);
    const merged = mergeObservations(parsed.value, [
      { workflow: '.github/workflows/ci.yml', job: 'build', runId: '9002', at: '2026-11-21T08:03:11Z', endpoints: ['registry.npmjs.org:443'], cluster: 'arc-prod' },
    ]);
    expect(renderBaselineFile(merged.file, OLD)).toBe(
      OLD.replace('      runs: 1\n', '      runs: 2\n')
        .replace('      lastSeen: 2026-11-20T10:03:11Z\n      lastGrowth', '      lastSeen: 2026-11-21T08:03:11Z\n      lastGrowth')
        .replace('      endpoints:\n', '      clusters:\n        arc-prod: { runs: 1, firstSeen: 2026-11-21T08:03:11Z, lastSeen: 2026-11-21T08:03:11Z }\n      endpoints:\n')
        .replace(
          'registry.npmjs.org:443: { runs: 1, firstSeen: 2026-11-20T10:03:11Z, lastSeen: 2026-11-20T10:03:11Z } # npm',
          'registry.npmjs.org:443: { runs: 2, firstSeen: 2026-11-20T10:03:11Z, lastSeen: 2026-11-21T08:03:11Z, clusters: [ arc-prod ] } # npm',
        )
        .replace('[ "9001" ]', '[ "9001", "9002" ]'),
    );
  });

  it('says where a cluster name in a file is not one', () => {
    const bad = OLD.replace('      endpoints:\n', '      clusters:\n        ARC Prod: { runs: 1, firstSeen: 2026-11-21T08:03:11Z, lastSeen: 2026-11-21T08:03:11Z }\n      endpoints:\n');
    const parsed = parseBaselineFile(bad, 'baselines/acme/api.yml');
    expect(parsed.errors.map((item) => `${item.line}:${item.column} ${item.message}`)).toEqual([
      '12:9 "ARC Prod" in "workflows > .github/workflows/ci.yml > build > clusters" is not a cluster name (lower-case letters, digits, ".", "_" and "-")',
    ]);
  });
});

describe('egressctl.yml clusters', () => {
  it('checks its shape with the schema: a misspelt key names the right one', async () => {
    repo = makeTempRepo({
      ...SAMPLE_FILES,
      'egressctl.yml': ['# yaml-language-server: $schema=./schemas/egressctl.schema.json', 'clusters:', '  arc-prod:', '    runner-group: [arc-prod]', ''].join('\n'),
    });
    const run = await cli('validate', '--format', 'json');
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as { errors: { code: string; line: number; column: number; message: string }[] };
    expect(report.errors.map((item) => `${item.code} ${item.line}:${item.column} ${item.message}`)).toEqual([
      'settings/unknown-key 4:5 unknown key "runner-group": did you mean "runner-groups"? (known keys: runner-groups, labels)',
    ]);
  });

  it('reports a runner group under two clusters, a bad name and an empty cluster at their lines', async () => {
    repo = makeTempRepo({
      ...SAMPLE_FILES,
      'egressctl.yml': [
        'clusters:',
        '  arc-prod:',
        '    runner-groups: [arc-prod]',
        '    labels: [arc-prod-runners]',
        '  arc-dev:',
        '    runner-groups: [ARC-Prod, arc-dev]',
        '  Bad_Name!: { labels: [x] }',
        '  arc-empty: {}',
        '  arc-same:',
        '    labels: [arc-prod-runners]',
        '',
      ].join('\n'),
    });
    const run = await cli('validate', '--format', 'json');
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as { errors: { code: string; line: number; column: number; message: string }[] };
    expect(report.errors.map((item) => `${item.code} ${item.line}:${item.column}`)).toEqual([
      'settings/cluster-runner-group 6:21',
      'settings/cluster-name 7:3',
      'settings/cluster-empty 8:3',
      'settings/cluster-labels 10:13',
    ]);
    expect(report.errors[0]?.message).toBe('runner group "arc-prod" is already listed under cluster "arc-prod" (line 3): a runner group belongs to one cluster');
  });
});
