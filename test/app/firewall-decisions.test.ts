/**
 * Baselines from GitHub's firewall (docs/github-firewall.md, "Baselines from the firewall"), end
 * to end against the stand-in: a `workflow_job` completed on the firewall runner makes the App
 * list the run's artifacts, download the job's `firewall-decisions-*` zip through the Actions
 * artifacts API and merge `decision[].url` into baselines, in the same batched commit as the
 * Harden-Runner logs; a job running both gives one observation.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Probot } from 'probot';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseBaselineFile } from '../../src/baselines/index.js';
import { artifactOfJob } from '../../src/app/github-firewall-decisions.js';
import { registerWorkflowJobHandler, type WorkflowJobHandle } from '../../src/app/workflow-job.js';
import type { BaselineCommitResult } from '../../src/app/github-baselines.js';
import { FileWorkQueue } from '../../src/app/queue-file.js';
import { readZipEntries } from '../../src/util/zip.js';
import { startGitHubStandin, type GitHubStandin } from '../support/github/index.js';
import { zipFiles } from '../support/github/zip.js';
import { DECISIONS_FIXTURE } from '../support/github-firewall.js';

const POLICY_REPO = 'acme/egress-policies';
const DECISIONS = readFileSync(DECISIONS_FIXTURE, 'utf8');
const AUDIT_LOG = readFileSync(new URL('../baselines/fixtures/audit-job.txt', import.meta.url), 'utf8');

const WORKFLOW = `name: CI
on: [push]
jobs:
  test:
    runs-on: ubuntu-24.04-firewall
    steps:
      - uses: actions/checkout@v4
      - run: pip install ruff && ruff check .
  build:
    runs-on: ubuntu-24.04-firewall
    steps:
      - name: Harden-Runner
        uses: step-security/harden-runner@05e31511f85b41b11d1cf0ef85d0992719546e2c # v2.21.0
        with:
          egress-policy: audit
      - run: npm test
`;
const STEPS = [
  { name: 'Set up job', status: 'completed', conclusion: 'success', number: 1 },
  { name: 'Run actions/checkout@v4', status: 'completed', conclusion: 'success', number: 2 },
];

let standin: GitHubStandin;
let probot: Probot;
let handle: WorkflowJobHandle;
let flushes: (BaselineCommitResult | { error: unknown })[];

beforeEach(async () => {
  standin = await startGitHubStandin();
  standin.createInstallation({ account: 'acme' });
  await standin.createRepository('acme/api', { files: { '.github/workflows/ci.yml': WORKFLOW } });
  await standin.createRepository(POLICY_REPO, { files: { 'egressctl.yml': 'organizations: [acme]\n' } });
  probot = new Probot({ ...standin.probotOptions(), logLevel: 'fatal' });
  flushes = [];
  await probot.load((app) => {
    handle = registerWorkflowJobHandler(app, { policyRepository: POLICY_REPO, flushIntervalMs: 60_000, onFlush: (result) => flushes.push(result) });
  });
});

afterEach(async () => {
  try {
    await handle?.close();
    standin.assertNoViolations();
  } finally {
    await standin.close();
  }
});

async function complete(name: string, input: Partial<Parameters<GitHubStandin['addWorkflowJob']>[1]>): Promise<number> {
  const job = await standin.addWorkflowJob('acme/api', { name, steps: STEPS, labels: ['ubuntu-24.04-firewall'], workflowPath: '.github/workflows/ci.yml', ...input });
  const payload = await standin.webhookPayload({ event: 'workflow_job', action: 'completed', repository: 'acme/api', workflowJob: job.id });
  await probot.receive({ id: `delivery-${job.id}`, name: 'workflow_job', payload } as Parameters<Probot['receive']>[0]);
  return job.id;
}

async function baselineJobs() {
  const text = (await standin.readFile(POLICY_REPO, 'baselines/acme/api.yml'))!;
  const parsed = parseBaselineFile(text, 'baselines/acme/api.yml');
  expect(parsed.errors).toEqual([]);
  return parsed.value.workflows.get('.github/workflows/ci.yml')!;
}

describe('workflow_job on the firewall runner', () => {
  it('reads the run\'s decisions artifact into the job\'s baseline, batched with the other jobs in one commit', async () => {
    const runId = 4242;
    const test = await complete('test', { runId, artifacts: [{ name: 'firewall-decisions-test', files: { 'firewall-decisions-test.json': DECISIONS } }] });
    const build = await complete('build', { runId, logs: AUDIT_LOG, steps: [...STEPS, { name: 'Harden-Runner', status: 'completed', conclusion: 'success', number: 3 }], artifacts: [{ name: 'firewall-decisions-build', files: { 'firewall-decisions-build.json': JSON.stringify({ decision: [{ url: 'https://ghcr.io/v2/' }] }) } }] });
    await handle.idle();
    expect(await handle.pending()).toBe(2);
    await handle.flush();
    expect(standin.requests.filter((request) => request.operationId === 'git/create-commit' && request.repository === POLICY_REPO)).toHaveLength(1);
    const jobs = await baselineJobs();
    expect(jobs.get('test')!.recentRuns).toEqual([String(test)]);
    expect([...jobs.get('test')!.endpoints.keys()]).toEqual(expect.arrayContaining(['archive.ubuntu.com:80', 'files.pythonhosted.org:443', 'proxy.acme.example:8443']));
    // Harden-Runner's log and the firewall's decisions of one job: one run, both sets of endpoints.
    expect(jobs.get('build')!.runs).toBe(1);
    expect(jobs.get('build')!.recentRuns).toEqual([String(build)]);
    expect([...jobs.get('build')!.endpoints.keys()]).toEqual(expect.arrayContaining(['ghcr.io:443', 'registry.npmjs.org:443']));
    expect(standin.stats().byRoute['GET /repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}']).toBe(2);
  });

  it("a larger runner on the firewall image: read when egressctl.yml's github-firewall.larger-runners lists its label", async () => {
    const artifacts = [{ name: 'firewall-decisions-test', files: { 'firewall-decisions-test.json': DECISIONS } }];
    // Not listed: a larger runner's label is its name; nothing says it is on the firewall image.
    await complete('test', { labels: ['acme-firewall-16core'], runnerGroupName: 'larger-runners', artifacts });
    await handle.idle();
    expect(standin.stats().byRoute['GET /repos/{owner}/{repo}/actions/runs/{run_id}/artifacts']).toBeUndefined();
    await standin.commitFiles(POLICY_REPO, { files: { 'egressctl.yml': 'organizations: [acme]\ngithub-firewall:\n  larger-runners: [ACME-Firewall-16core]\n' } });
    // A fresh handler: the settings are re-read at most once a minute.
    await handle.close();
    probot = new Probot({ ...standin.probotOptions(), logLevel: 'fatal' });
    await probot.load((app) => {
      handle = registerWorkflowJobHandler(app, { policyRepository: POLICY_REPO, flushIntervalMs: 60_000, onFlush: (result) => flushes.push(result) });
    });
    const id = await complete('test', { labels: ['acme-firewall-16core'], runnerGroupName: 'larger-runners', artifacts });
    await handle.idle();
    await handle.flush();
    expect(standin.stats().byRoute['GET /repos/{owner}/{repo}/actions/runs/{run_id}/artifacts']).toBe(1);
    const jobs = await baselineJobs();
    expect(jobs.get('test')!.recentRuns).toEqual([String(id)]);
    expect([...jobs.get('test')!.endpoints.keys()]).toEqual(expect.arrayContaining(['files.pythonhosted.org:443']));
  });

  it('a job not on the firewall runner costs no artifact request; an artifact of another shape is ignored', async () => {
    await complete('test', { labels: ['ubuntu-latest'], artifacts: [{ name: 'firewall-decisions-test', files: { 'firewall-decisions-test.json': DECISIONS } }] });
    await complete('test', { artifacts: [{ name: 'firewall-decisions-test', files: { 'firewall-decisions-test.json': '[{"url": "https://a.example"}]' } }] });
    await handle.idle();
    expect(await handle.pending()).toBe(0);
    expect(standin.stats().byRoute['GET /repos/{owner}/{repo}/actions/runs/{run_id}/artifacts']).toBe(1);
  });
});

const MATRIX_WORKFLOW = `name: Matrix
on: [push]
jobs:
  test:
    runs-on: ubuntu-24.04-firewall
    strategy:
      matrix:
        node: [18, 20, 22]
    steps:
      - uses: actions/setup-node@v4
        with:
          node-version: \${{ matrix.node }}
      - run: npm test
`;

describe('a matrix on the firewall runner: the run\'s decisions are read once', () => {
  const legs = ['test (18)', 'test (20)', 'test (22)'];
  const matrixJob = (name: string, runId: number, extra: Partial<Parameters<GitHubStandin['addWorkflowJob']>[1]> = {}) =>
    standin.addWorkflowJob('acme/api', { name, runId, steps: STEPS, labels: ['ubuntu-24.04-firewall'], workflowPath: '.github/workflows/matrix.yml', ...extra });
  const deliver = async (probotApp: Probot, id: number): Promise<void> => {
    const payload = await standin.webhookPayload({ event: 'workflow_job', action: 'completed', repository: 'acme/api', workflowJob: id });
    await probotApp.receive({ id: `delivery-${id}`, name: 'workflow_job', payload } as Parameters<Probot['receive']>[0]);
  };
  const artifactRequests = () => ({
    lists: standin.stats().byRoute['GET /repos/{owner}/{repo}/actions/runs/{run_id}/artifacts'] ?? 0,
    downloads: standin.stats().byRoute['GET /repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}'] ?? 0,
  });
  const matrixBaseline = async () => {
    const text = (await standin.readFile(POLICY_REPO, 'baselines/acme/api.yml'))!;
    const parsed = parseBaselineFile(text, 'baselines/acme/api.yml');
    expect(parsed.errors).toEqual([]);
    return parsed.value.workflows.get('.github/workflows/matrix.yml')!.get('test')!;
  };

  beforeEach(async () => {
    await standin.commitFiles('acme/api', { files: { '.github/workflows/matrix.yml': MATRIX_WORKFLOW }, message: 'matrix workflow' });
  });

  it('three legs of one run: one listing, one download, one run in the baseline', async () => {
    const runId = 5151;
    const ids: number[] = [];
    for (const [index, name] of legs.entries()) {
      const artifacts = index === 0 ? [{ name: 'firewall-decisions-run', files: { 'firewall-decisions-run.json': DECISIONS } }] : [];
      ids.push((await matrixJob(name, runId, { artifacts })).id);
    }
    for (const id of ids) await deliver(probot, id);
    await handle.idle();
    await handle.flush();
    expect(artifactRequests()).toEqual({ lists: 1, downloads: 1 });
    const job = await matrixBaseline();
    expect(job.runs).toBe(1);
    expect([...job.endpoints.values()].map((stats) => stats.runs)).toEqual([...job.endpoints.values()].map(() => 1));
    expect([...job.endpoints.keys()]).toEqual(expect.arrayContaining(['files.pythonhosted.org:443']));
    // A redelivery of a leg after the commit reads nothing again.
    await deliver(probot, ids[1]!);
    await handle.idle();
    expect(artifactRequests()).toEqual({ lists: 1, downloads: 1 });
  });

  it('a leg that completes while the run goes on: the decisions are read once the run is over', async () => {
    const runId = 7171;
    const first = await matrixJob(legs[0]!, runId, { artifacts: [{ name: 'firewall-decisions-run', files: { 'firewall-decisions-run.json': DECISIONS } }] });
    const second = await matrixJob(legs[1]!, runId, { status: 'in_progress' });
    const queue = FileWorkQueue.memory();
    const app = new Probot({ ...standin.probotOptions(), logLevel: 'fatal' });
    let own!: WorkflowJobHandle;
    await app.load((loaded) => {
      own = registerWorkflowJobHandler(loaded, { policyRepository: POLICY_REPO, flushIntervalMs: 60_000, queue, firewallRunBackoff: { firstMs: 200, maxMs: 400 } });
    });
    try {
      await deliver(app, first.id);
      await own.idle();
      // The run is still going: nothing listed yet, the run waits in the queue.
      expect(artifactRequests()).toEqual({ lists: 0, downloads: 0 });
      expect(await queue.pending('firewall-run')).toBe(1);
      await matrixJob(legs[1]!, runId, { id: second.id });
      await deliver(app, second.id);
      for (let waited = 0; (await queue.pending('firewall-run')) > 0 && waited < 400; waited++) await new Promise((resolve) => setTimeout(resolve, 50));
      await own.idle();
      await own.flush();
      expect(artifactRequests()).toEqual({ lists: 1, downloads: 1 });
      const job = await matrixBaseline();
      expect(job.runs).toBe(1);
      expect(job.recentRuns).toEqual([String(first.id)]);
    } finally {
      await queue.close();
    }
  });

  it('durable: a restart between the legs (the journal on disk) still reads the run once', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'egressctl-fw-queue-'));
    try {
      const runId = 6161;
      const ids: number[] = [];
      for (const [index, name] of legs.entries()) {
        const artifacts = index === 0 ? [{ name: 'firewall-decisions-run', files: { 'firewall-decisions-run.json': DECISIONS } }] : [];
        ids.push((await matrixJob(name, runId, { artifacts })).id);
      }
      const replica = async () => {
        const queue = await FileWorkQueue.open({ dir });
        const app = new Probot({ ...standin.probotOptions(), logLevel: 'fatal' });
        let own!: WorkflowJobHandle;
        await app.load((loaded) => {
          own = registerWorkflowJobHandler(loaded, { policyRepository: POLICY_REPO, flushIntervalMs: 60_000, queue });
        });
        return { app, handle: own, queue };
      };
      const first = await replica();
      await deliver(first.app, ids[0]!);
      await first.handle.idle();
      await first.handle.flush();
      await first.queue.close();
      const second = await replica();
      await deliver(second.app, ids[1]!);
      await deliver(second.app, ids[2]!);
      await second.handle.idle();
      await second.handle.flush();
      await second.queue.close();
      expect(artifactRequests()).toEqual({ lists: 1, downloads: 1 });
      expect((await matrixBaseline()).runs).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('which artifact is the job\'s', () => {
  it('the only one, else the one naming the job id or key; never a guess', () => {
    const artifact = (id: number, name: string) => ({ id, name, expired: false });
    const job = { jobId: 99, jobKey: 'unit_tests', jobName: 'Unit tests (linux)' };
    expect(artifactOfJob([artifact(1, 'firewall-decisions-abc'), artifact(2, 'coverage')], job)?.id).toBe(1);
    expect(artifactOfJob([artifact(1, 'firewall-decisions-98'), artifact(2, 'firewall-decisions-99')], job)?.id).toBe(2);
    expect(artifactOfJob([artifact(1, 'firewall-decisions-lint'), artifact(2, 'firewall-decisions-unit-tests')], job)?.id).toBe(2);
    expect(artifactOfJob([artifact(1, 'firewall-decisions-a'), artifact(2, 'firewall-decisions-b')], job)).toBeUndefined();
    expect(artifactOfJob([{ ...artifact(1, 'firewall-decisions-a'), expired: true }], job)).toBeUndefined();
  });

  it('zip archives as GitHub serves them read back', () => {
    const entries = readZipEntries(zipFiles({ 'firewall-decisions-x.json': DECISIONS, 'dir/other.txt': 'x' }));
    expect(entries.get('firewall-decisions-x.json')!.toString('utf8')).toBe(DECISIONS);
    expect(() => readZipEntries(Buffer.from('not a zip'))).toThrow(/not a zip archive/);
  });
});
