/**
 * Baselines from workflow_job webhooks, end to end against the GitHub stand-in: Probot receives
 * the events, the handler downloads job logs through the Actions API and commits baselines to
 * the policy repository in batches (one commit for several jobs), retrying when the branch
 * moved meanwhile; logs without Harden-Runner output are ignored.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Probot } from 'probot';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseBaselineFile } from '../../src/baselines/index.js';
import { registerWorkflowJobHandler, type WorkflowJobDeps, type WorkflowJobHandle } from '../../src/app/workflow-job.js';
import type { BaselineCommitResult } from '../../src/app/github-baselines.js';
import { FileWorkQueue } from '../../src/app/queue-file.js';
import { startGitHubStandin, type GitHubStandin } from '../support/github/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const AUDIT_LOG = readFileSync(path.resolve(here, '../baselines/fixtures/audit-job.txt'), 'utf8');
const NO_AGENT_LOG = readFileSync(path.resolve(here, '../baselines/fixtures/no-agent.txt'), 'utf8');
const POLICY_REPO = 'acme/egress-policies';

const WORKFLOW = `name: CI
on: [push]
jobs:
  build:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        node: [18, 20]
    steps:
      - name: Harden-Runner
        uses: step-security/harden-runner@05e31511f85b41b11d1cf0ef85d0992719546e2c # v2.21.0
        with:
          egress-policy: audit
      - run: npm test
  lint:
    name: Lint code
    runs-on: ubuntu-latest
    steps:
      - name: Harden-Runner
        uses: step-security/harden-runner@05e31511f85b41b11d1cf0ef85d0992719546e2c # v2.21.0
        with:
          egress-policy: audit
      - run: npm run lint
`;

const STEPS = [
  { name: 'Set up job', status: 'completed', conclusion: 'success', number: 1 },
  { name: 'Harden-Runner', status: 'completed', conclusion: 'success', number: 2 },
  { name: 'Post Harden-Runner', status: 'completed', conclusion: 'success', number: 3 },
];

let standin: GitHubStandin;
let installationId: number;
let probot: Probot;
let handle: WorkflowJobHandle;
let flushes: (BaselineCommitResult | { error: unknown })[];
let flushed: () => Promise<void>;

async function start(deps: Partial<WorkflowJobDeps> = {}): Promise<void> {
  probot = new Probot({ ...standin.probotOptions(), logLevel: 'fatal' });
  flushes = [];
  let notify: (() => void) | undefined;
  flushed = () => new Promise<void>((resolve) => (notify = resolve));
  await probot.load((app) => {
    handle = registerWorkflowJobHandler(app, {
      policyRepository: POLICY_REPO,
      flushIntervalMs: 300,
      onFlush: (result) => {
        flushes.push(result);
        notify?.();
      },
      ...deps,
    });
  });
}

async function completeJob(name: string, logs: string, extra: { runId?: number; steps?: typeof STEPS } = {}): Promise<number> {
  const job = await standin.addWorkflowJob('acme/api', { name, logs, steps: extra.steps ?? STEPS, workflowPath: '.github/workflows/ci.yml', ...(extra.runId ? { runId: extra.runId } : {}) });
  const payload = await standin.webhookPayload({ event: 'workflow_job', action: 'completed', repository: 'acme/api', workflowJob: job.id });
  await probot.receive({ id: `delivery-${job.id}`, name: 'workflow_job', payload } as Parameters<Probot['receive']>[0]);
  return job.id;
}

function policyCommits(): number {
  return standin.requests.filter((request) => request.operationId === 'git/create-commit' && request.repository === POLICY_REPO).length;
}

beforeEach(async () => {
  standin = await startGitHubStandin();
  installationId = standin.createInstallation({ account: 'acme' }).id;
  await standin.createRepository('acme/api', { files: { '.github/workflows/ci.yml': WORKFLOW } });
  await standin.createRepository(POLICY_REPO, { files: { 'egressctl.yml': 'organizations: [acme]\n', 'README.md': 'policies\n' } });
});

afterEach(async () => {
  try {
    await handle?.close();
    standin.assertNoViolations();
  } finally {
    await standin.close();
  }
});

describe('workflow_job baselines', () => {
  it('commits several job completions of one repository in one commit', async () => {
    // No timer flush during the test (a loaded machine may take longer than any interval over the
    // three deliveries): the batch is flushed once all three are in, as the interval would.
    await start({ flushIntervalMs: 3_600_000 });
    const runId = 777;
    const first = await completeJob('build (18)', AUDIT_LOG, { runId });
    const second = await completeJob('build (20)', AUDIT_LOG, { runId });
    const third = await completeJob('Lint code', AUDIT_LOG, { runId });
    await handle.idle();
    expect(await handle.pending()).toBe(3);
    expect(flushes).toHaveLength(0);
    await handle.flush();
    expect(flushes).toHaveLength(1);
    expect(policyCommits()).toBe(1);
    expect(await handle.pending()).toBe(0);

    const text = (await standin.readFile(POLICY_REPO, 'baselines/acme/api.yml'))!;
    const parsed = parseBaselineFile(text, 'baselines/acme/api.yml');
    expect(parsed.errors).toEqual([]);
    const jobs = parsed.value.workflows.get('.github/workflows/ci.yml')!;
    // Matrix legs are separate runs of the same job, keyed by their GitHub job ids.
    expect(jobs.get('build')!.runs).toBe(2);
    expect(jobs.get('build')!.recentRuns).toEqual([String(first), String(second)]);
    expect(jobs.get('lint')!.runs).toBe(1);
    expect(jobs.get('lint')!.recentRuns).toEqual([String(third)]);
    expect([...jobs.get('build')!.endpoints.keys()]).toContain('registry.npmjs.org:443');
    // The run's path was read once for the three jobs of the run.
    expect(standin.stats().byRoute['GET /repos/{owner}/{repo}/actions/runs/{run_id}']).toBe(1);
    expect(standin.stats().logDownloads).toBe(3);

    // A redelivered webhook changes nothing (same job id): the queue knows the job, its log is not read again.
    const payload = await standin.webhookPayload({ event: 'workflow_job', action: 'completed', repository: 'acme/api', workflowJob: third });
    await probot.receive({ id: 'redelivery', name: 'workflow_job', payload } as Parameters<Probot['receive']>[0]);
    await handle.idle();
    expect(await handle.pending()).toBe(0);
    expect(standin.stats().logDownloads).toBe(3);
    await handle.flush();
    expect(flushes).toHaveLength(1);
    expect(policyCommits()).toBe(1);
  }, 60_000);

  it("the baselines commit says the mode each run ran in, not audit for all (issue 23)", async () => {
    // Both runs in one batch: flushed once both are in, not by a timer that may fire between them.
    await start({ flushIntervalMs: 3_600_000 });
    const configured = (mode: string) => `2026-11-21T08:15:01.0000000Z [!] Current Configuration: \n2026-11-21T08:15:01.0000001Z {"repo":"acme/api","egress_policy":"${mode}"}\n`;
    await completeJob('build (18)', configured('block') + AUDIT_LOG, { runId: 901 });
    await completeJob('Lint code', configured('audit') + AUDIT_LOG, { runId: 901 });
    await handle.idle();
    await handle.flush();
    expect(flushes).toHaveLength(1);
    const head = await standin.refSha(POLICY_REPO);
    const message = (await (await fetch(`${standin.url}/repos/${POLICY_REPO}/git/commits/${head}`, { headers: { authorization: `token ${standin.createInstallationToken(installationId)}` } })).json()) as { message: string };
    expect(message.message).toContain('- acme/api: 2 runs (1 in block mode, 1 in audit mode)');
    expect(message.message).not.toContain('in audit mode (workflow_job webhooks)');
  });

  it('retries when the policy branch moved before the ref update', async () => {
    let moved = false;
    await start({
      policyClient: async () => {
        const appOctokit = await probot.auth();
        const installation = (await appOctokit.rest.apps.getRepoInstallation({ owner: 'acme', repo: 'egress-policies' })).data.id;
        const octokit = await probot.auth(installation);
        const updateRef = octokit.rest.git.updateRef.bind(octokit.rest.git);
        octokit.rest.git.updateRef = (async (params: Parameters<typeof updateRef>[0]) => {
          if (!moved) {
            moved = true;
            // A person merges a policy change meanwhile.
            await standin.commitFiles(POLICY_REPO, { files: { 'policies/ci.yml': 'egress-policy: audit\n' }, message: 'Add policy' });
          }
          return updateRef(params);
        }) as typeof updateRef;
        return octokit;
      },
      // Both jobs in one batch (flushed below): a timer could flush between the two deliveries.
      flushIntervalMs: 3_600_000,
    });
    await completeJob('build (18)', AUDIT_LOG);
    await completeJob('Lint code', AUDIT_LOG);
    await handle.idle();
    await handle.flush();
    expect(flushes).toHaveLength(1);
    expect(flushes[0]).toMatchObject({ attempts: 2 });
    expect(await standin.readFile(POLICY_REPO, 'policies/ci.yml')).toBe('egress-policy: audit\n');
    const text = (await standin.readFile(POLICY_REPO, 'baselines/acme/api.yml'))!;
    const jobs = parseBaselineFile(text, 'x').value.workflows.get('.github/workflows/ci.yml')!;
    expect(jobs.get('build')!.runs).toBe(1);
    expect(jobs.get('lint')!.runs).toBe(1);
  }, 60_000);

  it('keeps an acknowledged job when GitHub answers 401 (bad or not yet valid credentials), and reads it once that passes', async () => {
    const queue = FileWorkQueue.memory();
    try {
      await start({ flushIntervalMs: 3_600_000, queue });
      standin.failNextRequests({ count: 10_000, status: 401, message: 'Bad credentials', match: (request) => request.operationId === 'actions/get-workflow-run' });
      await completeJob('build (18)', AUDIT_LOG);
      await handle.idle();
      // Octokit's own retries for a fresh token are spent: the job is kept, with its error, not dropped.
      expect((await queue.failures()).map((failure) => failure.kind)).toEqual(['workflow-job']);
      standin.clearFaults();
      const deadline = Date.now() + 20_000;
      while ((await handle.pending()) === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await handle.pending()).toBe(1);
      expect(standin.stats().logDownloads).toBe(1);
    } finally {
      await queue.close();
    }
  }, 60_000);

  it('ignores a job log without agent output, and jobs of organizations not managed', async () => {
    await start({ flushIntervalMs: 50 });
    await completeJob('build (18)', NO_AGENT_LOG);
    await handle.idle();
    expect(standin.stats().logDownloads).toBe(1);
    expect(await handle.pending()).toBe(0);

    // egressctl.yml manages only acme: a job elsewhere costs no request beyond reading settings.
    await standin.commitFiles(POLICY_REPO, { files: { 'egressctl.yml': 'organizations: [other]\n' } });
    await handle.close();
    await start({ flushIntervalMs: 50 });
    standin.resetStats();
    await completeJob('build (20)', AUDIT_LOG);
    await handle.idle();
    expect(await handle.pending()).toBe(0);
    expect(standin.stats().logDownloads).toBe(0);
    expect(standin.stats().byRoute['GET /repos/{owner}/{repo}/actions/runs/{run_id}']).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(policyCommits()).toBe(0);
  }, 60_000);

  it('drops names a step printed to look like the agent, counts them for the commit message, and the baseline stays valid', async () => {
    await start({ flushIntervalMs: 50 });
    const wait = flushed();
    await completeJob('build (18)', `${AUDIT_LOG}\ndomain not allowed: ~.\ndomain not allowed: !!js/function.\ndomain not allowed: "quoted".\n`);
    await handle.idle();
    await wait;
    expect(flushes[0]).toMatchObject({ repositories: [{ repository: 'acme/api', merged: 1, dropped: 3 }] });
    const text = (await standin.readFile(POLICY_REPO, 'baselines/acme/api.yml'))!;
    expect(parseBaselineFile(text, 'baselines/acme/api.yml').errors).toEqual([]);
    expect(text).not.toMatch(/!!js|quoted|"~"/);
  }, 60_000);

  it('reads at most maxLogBytes of a job log: a bigger one is skipped with a warning, not read whole', async () => {
    const warnings: string[] = [];
    const log = { info: () => undefined, debug: () => undefined, error: () => undefined, warn: (_object: object, message?: string) => void warnings.push(message ?? '') };
    await start({ flushIntervalMs: 50, maxLogBytes: 64 * 1024, log });
    // A job that prints 256 KiB before the agent's lines.
    await completeJob('build (18)', `${'x'.repeat(255)}\n`.repeat(1024) + AUDIT_LOG);
    await handle.idle();
    expect(standin.stats().logDownloads).toBe(1);
    expect(await handle.pending()).toBe(0);
    expect(warnings).toEqual([expect.stringMatching(/job log .* not read: .*limited to 64 KiB/)]);
  }, 60_000);

  it('skips the log download when no step looks like Harden-Runner', async () => {
    await start();
    await completeJob('Lint code', AUDIT_LOG, { steps: [{ name: 'Set up job', status: 'completed', conclusion: 'success', number: 1 }, { name: 'Run npm run lint', status: 'completed', conclusion: 'success', number: 2 }] });
    await handle.idle();
    expect(standin.stats().logDownloads).toBe(0);
    expect(await handle.pending()).toBe(0);
  }, 60_000);
});

describe('workflow_job: requests before the first useful one', () => {
  const NOT_HARDENED = [
    { name: 'Set up job', status: 'completed', conclusion: 'success', number: 1 },
    { name: 'Run npm test', status: 'completed', conclusion: 'success', number: 2 },
  ];

  async function receive(jobId: number, delivery: string): Promise<void> {
    const payload = await standin.webhookPayload({ event: 'workflow_job', action: 'completed', repository: 'acme/api', workflowJob: jobId });
    await probot.receive({ id: delivery, name: 'workflow_job', payload } as Parameters<Probot['receive']>[0]);
  }

  const count = (operationId: string, filter: (request: { path: string }) => boolean = () => true): number =>
    standin.requests.filter((request) => request.operationId === operationId && filter(request)).length;

  it('decides from the step names in the payload, before any API request', async () => {
    await start();
    const job = await standin.addWorkflowJob('acme/api', { name: 'Lint code', logs: AUDIT_LOG, steps: NOT_HARDENED, workflowPath: '.github/workflows/ci.yml' });
    const before = standin.requests.length;
    await receive(job.id, 'not-hardened');
    await handle.idle();
    expect(standin.requests.slice(before).map((request) => request.route)).toEqual([]);
  }, 60_000);

  it('shares one installation lookup and one egressctl.yml read between concurrent deliveries, for a short while', async () => {
    // No flush meanwhile: a baselines commit looks the installation up too.
    // The lifetime is generous and the payloads are built first: the three deliveries start together,
    // so a loaded machine cannot spread them over more than one lifetime.
    await start({ lookupTtlMs: 3_000, flushIntervalMs: 600_000 });
    const jobs = await Promise.all(['build (18)', 'build (20)', 'Lint code'].map((name) => standin.addWorkflowJob('acme/api', { name, logs: AUDIT_LOG, steps: STEPS, workflowPath: '.github/workflows/ci.yml', runId: 4242 })));
    const payloads = await Promise.all(jobs.map((job) => standin.webhookPayload({ event: 'workflow_job', action: 'completed', repository: 'acme/api', workflowJob: job.id })));
    await Promise.all(payloads.map((payload, index) => probot.receive({ id: `concurrent-${jobs[index]!.id}`, name: 'workflow_job', payload } as Parameters<Probot['receive']>[0])));
    await handle.idle();
    const settingsReads = () => count('repos/get-content', (request) => request.path.includes('egressctl.yml'));
    expect(count('apps/get-repo-installation')).toBe(1);
    expect(settingsReads()).toBe(1);
    expect(await handle.pending()).toBe(3);

    // After the lifetime, the next delivery looks again (an uninstall or a settings edit shows).
    await new Promise((resolve) => setTimeout(resolve, 3_100));
    const late = await standin.addWorkflowJob('acme/api', { name: 'Lint code', logs: AUDIT_LOG, steps: STEPS, workflowPath: '.github/workflows/ci.yml' });
    await receive(late.id, 'late');
    await handle.idle();
    expect(count('apps/get-repo-installation')).toBe(2);
    expect(settingsReads()).toBe(2);
  }, 60_000);
});

describe('workflow_job: blocked endpoints feed back into one policy pull request', () => {
  const BLOCK_LOG = readFileSync(path.resolve(here, '../baselines/fixtures/block-job.txt'), 'utf8');
  const API_POLICY = '# acme/api in block mode\negress-policy: block\nallowed-endpoints:\n  - github.com:443\n  - registry.npmjs.org   # npm\n';

  function feedbackPulls() {
    return standin.pullRequests(POLICY_REPO).filter((pr) => pr.head.ref === 'egressctl/blocked-endpoints');
  }

  it('opens one pull request for a blocked-domain log, and updates it for a second log with the same domain', async () => {
    await standin.commitFiles(POLICY_REPO, {
      files: { 'policies/api.yml': API_POLICY, 'attachments.yml': 'repositories:\n  acme/api: api\n' },
      message: 'policies',
    });
    const feedbacks: unknown[] = [];
    await start({ flushIntervalMs: 50, onFeedback: (result) => feedbacks.push(result) });
    let wait = flushed();
    const first = await completeJob('build (18)', BLOCK_LOG);
    await handle.idle();
    await wait;
    await handle.flush();
    expect(feedbacks).toMatchObject([{ action: 'opened' }]);
    let pulls = feedbackPulls();
    expect(pulls).toHaveLength(1);
    const pr = pulls[0]!;
    expect(pr.state).toBe('open');
    expect(pr.mergedAt).toBeNull();
    // The policy file is edited in place: its comments stay, the names are added to its list.
    const proposed = (await standin.readFile(POLICY_REPO, 'policies/api.yml', 'egressctl/blocked-endpoints'))!;
    expect(proposed.startsWith(API_POLICY)).toBe(true);
    expect(proposed.slice(API_POLICY.length)).toMatch(/^ {2}- telemetry\.example-analytics\.io:443 {2}# blocked in 1 run, last \S+\n {2}- uploads\.evil-mirror\.net:443 {2}# blocked in 1 run, last \S+\n$/);
    // The base branch is untouched.
    expect(await standin.readFile(POLICY_REPO, 'policies/api.yml')).toBe(API_POLICY);
    expect(pr.body).toContain('### Policy `api`: `policies/api.yml` line 6');
    expect(pr.body).toContain('| `telemetry.example-analytics.io:443` | 1 | `acme/api/.github/workflows/ci.yml#build` |');
    expect(pr.body).toMatch(/\| `uploads\.evil-mirror\.net:443` \| 1 \| `acme\/api\/\.github\/workflows\/ci\.yml#build` \| \d{4}-\d\d-\d\dT[\d:]+Z \| \d{4}-\d\d-\d\dT[\d:]+Z \|/);

    // A second log with the same names: the same pull request, updated; no second one.
    wait = flushed();
    const second = await completeJob('Lint code', BLOCK_LOG);
    expect(second).not.toBe(first);
    await handle.idle();
    await wait;
    await handle.flush();
    expect(feedbacks).toMatchObject([{ action: 'opened' }, { action: 'updated', pullRequest: pr.number }]);
    pulls = feedbackPulls();
    expect(pulls).toHaveLength(1);
    expect(pulls[0]!.number).toBe(pr.number);
    expect(pulls[0]!.body).toContain('| `telemetry.example-analytics.io:443` | 2 | `acme/api/.github/workflows/ci.yml#build`<br>`acme/api/.github/workflows/ci.yml#lint` |');
    const updated = (await standin.readFile(POLICY_REPO, 'policies/api.yml', 'egressctl/blocked-endpoints'))!;
    expect(updated.match(/telemetry\.example-analytics\.io/g)).toHaveLength(1);
    expect(updated).toContain('# blocked in 2 runs');
    expect(standin.requests.filter((request) => request.operationId === 'pulls/create')).toHaveLength(1);
  }, 120_000);
});

describe('workflow_job: the ARC cluster a job ran on goes into its baseline', () => {
  const ARC_LOG = readFileSync(path.resolve(here, '../baselines/fixtures/arc-job.txt'), 'utf8');
  const SETTINGS = ['organizations: [acme]', 'clusters:', '  arc-prod:', '    runner-groups: [arc-prod]', '  arc-gpu:', '    labels: [arc-gpu-runners]', ''].join('\n');

  async function complete(name: string, logs: string, runner: { runnerGroupName: string | null; labels: string[]; runnerName: string }): Promise<number> {
    const job = await standin.addWorkflowJob('acme/api', { name, logs, steps: STEPS, workflowPath: '.github/workflows/ci.yml', ...runner });
    const payload = await standin.webhookPayload({ event: 'workflow_job', action: 'completed', repository: 'acme/api', workflowJob: job.id });
    // The real payload shape: GitHub's runner group and the job's runs-on labels.
    const workflowJob = payload.workflow_job as { runner_group_name: string | null; labels: string[] };
    expect([workflowJob.runner_group_name, workflowJob.labels]).toEqual([runner.runnerGroupName ?? 'GitHub Actions', runner.labels]);
    await probot.receive({ id: `delivery-${job.id}`, name: 'workflow_job', payload } as Parameters<Probot['receive']>[0]);
    return job.id;
  }

  it('maps runner group and labels through egressctl.yml, trusts the hook line only on self-hosted runners', async () => {
    await standin.commitFiles(POLICY_REPO, { files: { 'egressctl.yml': SETTINGS }, message: 'clusters' });
    // The three jobs in one batch, flushed once all are in (a timer could fire between deliveries).
    await start({ flushIntervalMs: 3_600_000 });
    // Runner group arc-prod (even though the log says otherwise further down: the payload wins).
    const byGroup = await complete('build (18)', ARC_LOG, { runnerGroupName: 'arc-prod', labels: ['arc-prod-runners'], runnerName: 'arc-prod-runners-7x9kq-runner-2lmvd' });
    // A scale set named by its label in a group egressctl.yml does not list.
    const byLabel = await complete('build (20)', AUDIT_LOG, { runnerGroupName: 'Default', labels: ['arc-gpu-runners'], runnerName: 'arc-gpu-runners-x1' });
    // GitHub-hosted: a step that prints the hook's line does not make it a cluster run.
    const hosted = await complete('Lint code', ARC_LOG, { runnerGroupName: null, labels: ['ubuntu-latest'], runnerName: 'GitHub Actions 3' });
    await handle.idle();
    await handle.flush();
    expect(flushes).toHaveLength(1);
    const text = (await standin.readFile(POLICY_REPO, 'baselines/acme/api.yml'))!;
    const parsed = parseBaselineFile(text, 'baselines/acme/api.yml');
    expect(parsed.errors).toEqual([]);
    const jobs = parsed.value.workflows.get('.github/workflows/ci.yml')!;
    expect([...jobs.get('build')!.clusters.keys()]).toEqual(['arc-gpu', 'arc-prod']);
    expect(jobs.get('build')!.recentRuns).toEqual([String(byGroup), String(byLabel)].sort((a, b) => Number(a) - Number(b)));
    expect(jobs.get('build')!.endpoints.get('registry.npmjs.org:443')?.clusters).toEqual(['arc-gpu', 'arc-prod']);
    expect(jobs.get('lint')!.recentRuns).toEqual([String(hosted)]);
    expect(jobs.get('lint')!.clusters.size).toBe(0);
    expect(jobs.get('lint')!.endpoints.get('registry.npmjs.org:443')?.clusters).toBeUndefined();
  }, 60_000);

  it('takes the cluster the job-started hook printed when egressctl.yml maps none', async () => {
    await start();
    const wait = flushed();
    await complete('Lint code', ARC_LOG, { runnerGroupName: 'Default', labels: ['self-hosted', 'linux'], runnerName: 'arc-prod-runners-7x9kq-runner-2lmvd' });
    await handle.idle();
    await wait;
    const text = (await standin.readFile(POLICY_REPO, 'baselines/acme/api.yml'))!;
    expect(text).toContain('      clusters:\n        arc-prod: { runs: 1,');
  }, 60_000);
});
