/**
 * The App as a controller (issue 21, docs/github-app.md "Durable work"), with real processes:
 * `egressctl serve` running the App against the GitHub stand-in, killed with SIGKILL or stopped
 * with SIGTERM and started again on the same state directory; and two replicas sharing one
 * redis-server (Debian's, started here on a free loopback port). What a webhook acknowledged is
 * never lost, and a delivery seen by both replicas is handled once.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseBaselineFile } from '../../src/baselines/index.js';
import { SYNC_REPORT_FILE } from '../../src/rollout/sync-report.js';
import { POLICY_REPO, closeStandin, repoRoot, startAppProcess, startPolicyStandin, type AppProcess } from '../support/app.js';
import type { GitHubStandin } from '../support/github/index.js';
import { redisMissing, startRedis, type RunningRedis } from '../support/redis.js';
import { AUDIT_JOB_STEPS, AUDIT_WORKFLOW } from '../support/workflows.js';

const LOG = readFileSync(path.join(repoRoot, 'test/baselines/fixtures/audit-job.txt'), 'utf8');

let standin: GitHubStandin | undefined;
let stateDir: string;
const processes: AppProcess[] = [];

beforeEach(async () => {
  standin = await startPolicyStandin();
  await standin.createRepository('acme/api', { files: { '.github/workflows/ci.yml': AUDIT_WORKFLOW } });
  stateDir = await mkdtemp(path.join(os.tmpdir(), 'egressctl-durable-'));
});
afterEach(async () => {
  for (const app of processes.splice(0)) await app.kill9();
  await closeStandin(standin, stateDir);
  standin = undefined;
});

async function start(dir: string, env: NodeJS.ProcessEnv = {}): Promise<AppProcess> {
  const app = await startAppProcess(standin!, dir, env);
  processes.push(app);
  return app;
}

/** Register `count` completed jobs with Harden-Runner logs; their ids. */
async function jobs(count: number): Promise<number[]> {
  const ids: number[] = [];
  for (let index = 0; index < count; index++) {
    const job = await standin!.addWorkflowJob('acme/api', { name: 'build', logs: LOG, steps: AUDIT_JOB_STEPS, workflowPath: '.github/workflows/ci.yml' });
    ids.push(job.id);
  }
  return ids;
}

async function deliver(app: AppProcess, job: number, deliveryId?: string): Promise<number> {
  const delivered = await standin!.deliverWebhook({ url: app.hookUrl, event: 'workflow_job', action: 'completed', repository: 'acme/api', workflowJob: job, ...(deliveryId ? { deliveryId } : {}) });
  return delivered.status;
}

/** Run ids in the policy repository's baseline of acme/api. */
async function baselineRuns(): Promise<Set<string>> {
  const text = await standin!.readFile(POLICY_REPO, 'baselines/acme/api.yml');
  if (text === undefined) return new Set();
  const parsed = parseBaselineFile(text, 'baselines/acme/api.yml');
  return new Set([...parsed.value.workflows.values()].flatMap((jobs) => [...jobs.values()].flatMap((job) => job.recentRuns)));
}

/**
 * Polls `check` until it holds; past `timeoutMs`, an error naming `what`. Deadlines are for things
 * that happen eventually (queued work through real processes, git over HTTP, Redis): generous,
 * since CI runs them on a loaded 2-core machine (a sync PR took over 30 s in a full run there).
 */
async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function policyCommits(): number {
  return standin!.requests.filter((request) => request.repository === POLICY_REPO && request.operationId === 'git/update-ref').length;
}

describe('one replica, the journal in the state directory', () => {
  it('kill -9 with observations acknowledged but not committed: the restart commits every one', async () => {
    const first = await start(stateDir, { EGRESSCTL_BASELINE_FLUSH_SECONDS: '3600' });
    const ids = await jobs(10);
    const statuses = await Promise.all(ids.map((id) => deliver(first, id)));
    expect(statuses.every((status) => status === 200)).toBe(true);
    // Acknowledged: some logs read, some not yet; nothing committed (the flush is an hour away).
    await first.kill9();
    expect(policyCommits()).toBe(0);

    await start(stateDir, { EGRESSCTL_BASELINE_FLUSH_SECONDS: '1' });
    await until('all 10 runs in the baselines', async () => (await baselineRuns()).size === 10);
    expect([...(await baselineRuns())].sort()).toEqual(ids.map(String).sort());
  }, 240_000);

  it('SIGTERM while the baselines commit fails: the observations stay journaled and the next start commits them (defect 4)', async () => {
    const first = await start(stateDir, { EGRESSCTL_BASELINE_FLUSH_SECONDS: '3600', EGRESSCTL_SHUTDOWN_GRACE: '4' });
    const ids = await jobs(5);
    for (const id of ids) expect(await deliver(first, id)).toBe(200);
    await until('5 logs read', () => standin!.stats().logDownloads === 5);
    standin!.failNextRequests({ count: 10_000, status: 500, message: 'Server Error', match: (request) => request.repository === POLICY_REPO && request.method !== 'GET' });
    const started = Date.now();
    expect(await first.stop()).toBe(0);
    // The 4 s grace, not the 10 s default nor a retry without end; the rest is room for a loaded machine.
    expect(Date.now() - started).toBeLessThan(9_500);
    expect(await baselineRuns()).toEqual(new Set());

    standin!.clearFaults();
    const second = await start(stateDir, { EGRESSCTL_BASELINE_FLUSH_SECONDS: '1' });
    await until('all 5 runs in the baselines', async () => (await baselineRuns()).size === 5);
    // Not read again: the observations themselves were journaled.
    expect(standin!.stats().logDownloads).toBe(5);
    expect(await second.stop()).toBe(0);
  }, 240_000);

  it('kill -9 in the middle of a repository sync after a publish: the restart runs the journaled unit of that repository', async () => {
    const first = await start(stateDir);
    const published = await standin!.deliverWebhook({ url: first.hookUrl, event: 'push', repository: POLICY_REPO, after: (await standin!.refSha(POLICY_REPO, 'main'))! });
    expect(published.status).toBe(200);
    const sha = await standin!.commitFiles(POLICY_REPO, { files: { 'policies/api.yml': 'egress-policy: block\nextends: base\nallowed-endpoints:\n  - registry.npmjs.org\n' } });
    // The sync reaches acme/api: the App dies there, the sync not done, its row not written.
    standin!.failNextRequests({
      count: 1,
      status: 500,
      message: 'unused',
      match: (request) => {
        if (request.repository === 'acme/api' && request.operationId === 'pulls/list') first.child.kill('SIGKILL');
        return false;
      },
    });
    // Answered once journaled, before the sync runs; the App dies when the sync reaches acme/api.
    expect((await standin!.deliverWebhook({ url: first.hookUrl, event: 'push', repository: POLICY_REPO, after: sha })).status).toBe(200);
    await first.exited;
    standin!.clearFaults();
    expect(standin!.pullRequests('acme/api')).toHaveLength(0);

    // Left in the journal: acme/api's own unit of work, not the publish as a whole.
    const journal = readFileSync(path.join(stateDir, 'app-git/queue/journal.jsonl'), 'utf8');
    expect(journal).toMatch(/"kind":"repository-sync","key":"acme\/api"/);
    await start(stateDir);
    await until('the sync PR of acme/api', () => standin!.pullRequests('acme/api').some((pull) => pull.state === 'open'), 60_000);
    // The publish check of that push completes after the restart.
    await until('the publish check completed', () => standin!.checkRuns(POLICY_REPO, { headSha: sha, name: 'egressctl / publish' }).at(-1)?.status === 'completed', 60_000);
    expect(standin!.requests.filter((request) => request.repository === 'acme/api' && request.operationId === 'pulls/create')).toHaveLength(1);
  }, 240_000);

  it('SIGTERM in the middle of a slow repository sync: the exit keeps the grace, the unit stays journaled, the next start runs it', async () => {
    const settings = { EGRESSCTL_SHUTDOWN_GRACE: '2', EGRESSCTL_SYNC_RETRY_SECONDS: '1' };
    const first = await start(stateDir, settings);
    expect((await standin!.deliverWebhook({ url: first.hookUrl, event: 'push', repository: POLICY_REPO, after: (await standin!.refSha(POLICY_REPO, 'main'))! })).status).toBe(200);
    const sha = await standin!.commitFiles(POLICY_REPO, { files: { 'policies/api.yml': 'egress-policy: block\nextends: base\nallowed-endpoints:\n  - registry.npmjs.org\n' } });
    // acme/api's tree read is held until the first process is gone: a sync slower than any grace.
    let reached = false;
    let release!: () => void;
    standin!.delayRequests({ count: 1, until: new Promise<void>((resolve) => (release = resolve)), match: (request) => (reached ||= request.operationId === 'git/get-tree' && request.repository === 'acme/api') });
    try {
      expect((await standin!.deliverWebhook({ url: first.hookUrl, event: 'push', repository: POLICY_REPO, after: sha })).status).toBe(200);
      await until('the sync of acme/api in flight', () => reached, 60_000);
      const stopping = Date.now();
      expect(await first.stop()).toBe(0);
      // The 2 s grace, not the 10 s default nor the held read; the rest is room for a loaded machine.
      expect(Date.now() - stopping).toBeLessThan(9_000);
    } finally {
      release();
    }
    expect(standin!.pullRequests('acme/api')).toHaveLength(0);

    const second = await start(stateDir, settings);
    await until('the sync PR of acme/api', () => standin!.pullRequests('acme/api').some((pull) => pull.state === 'open'), 60_000);
    await until('the publish check completed', () => standin!.checkRuns(POLICY_REPO, { headSha: sha, name: 'egressctl / publish' }).at(-1)?.status === 'completed', 60_000);
    expect(await second.stop()).toBe(0);
  }, 240_000);

  it('SIGTERM with observations pending and GitHub up: they are committed before the exit', async () => {
    const first = await start(stateDir, { EGRESSCTL_BASELINE_FLUSH_SECONDS: '3600' });
    const ids = await jobs(3);
    for (const id of ids) expect(await deliver(first, id)).toBe(200);
    await until('3 logs read', () => standin!.stats().logDownloads === 3);
    expect(await first.stop()).toBe(0);
    expect((await baselineRuns()).size).toBe(3);
  }, 240_000);
});

const missing = redisMissing();
if (missing) console.log(missing);

describe.skipIf(missing !== undefined)('two replicas on one redis-server', () => {
  let redis: RunningRedis | undefined;
  beforeEach(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    for (const app of processes.splice(0)) await app.kill9();
    await redis?.close();
  });

  async function replicas(env: NodeJS.ProcessEnv): Promise<[AppProcess, AppProcess]> {
    const other = await mkdtemp(path.join(os.tmpdir(), 'egressctl-durable-b-'));
    const settings = { EGRESSCTL_QUEUE: redis!.url, ...env };
    const [a, b] = await Promise.all([start(stateDir, settings), start(other, settings)]);
    return [a, b];
  }

  it('20 workflow_job events split across both, some sent to both: all 20 runs in the baselines, each log read once', async () => {
    const [a, b] = await replicas({ EGRESSCTL_BASELINE_FLUSH_SECONDS: '2' });
    const ids = await jobs(20);
    await Promise.all(ids.map((id, index) => deliver(index % 2 === 0 ? a : b, id, `delivery-${id}`)));
    // The same deliveries again, to the other replica: one set of reads and writes.
    await Promise.all(ids.slice(0, 6).map((id, index) => deliver(index % 2 === 0 ? b : a, id, `delivery-${id}`)));
    await until('all 20 runs in the baselines', async () => (await baselineRuns()).size === 20);
    expect([...(await baselineRuns())].sort()).toEqual(ids.map(String).sort());
    expect(standin!.stats().logDownloads).toBe(20);
  }, 240_000);

  it('kill -9 of the replica in the middle of a repository sync: the other completes it within seconds, each repository written once', async () => {
    for (const name of ['acme/web', 'acme/docs']) await standin!.createRepository(name, { files: { '.github/workflows/ci.yml': AUDIT_WORKFLOW } });
    const settings = { EGRESSCTL_QUEUE: redis!.url, EGRESSCTL_SYNC_RETRY_SECONDS: '1' };
    const a = await start(stateDir, settings);
    expect((await standin!.deliverWebhook({ url: a.hookUrl, event: 'push', repository: POLICY_REPO, after: (await standin!.refSha(POLICY_REPO, 'main'))! })).status).toBe(200);
    // An organization scope: every repository of acme it reaches is its own unit of work (acme/api keeps its own attachment).
    const sha = await standin!.commitFiles(POLICY_REPO, { files: { 'attachments.yml': 'organizations:\n  acme: base\nrepositories:\n  acme/api: api\nworkflows:\n  acme/api/.github/workflows/release.yml: base\n' } });
    // The tree reads of acme/web and acme/docs hang on replica A: it is in the middle of both
    // repositories' syncs, before any write, when it dies. Long enough that A is surely still
    // waiting when it is killed (starting B takes seconds on a busy machine).
    const reachedAt = new Map<string, number>();
    standin!.delayRequests({
      count: 2,
      ms: 90_000,
      match: (request) => {
        const mine = request.operationId === 'git/get-tree' && (request.repository === 'acme/web' || request.repository === 'acme/docs');
        if (mine && !reachedAt.has(request.repository!)) reachedAt.set(request.repository!, Date.now());
        return mine;
      },
    });
    const answered = Date.now();
    expect((await standin!.deliverWebhook({ url: a.hookUrl, event: 'push', repository: POLICY_REPO, after: sha })).status).toBe(200);
    // Not after the 90 s tree reads: the sync is queued work (seconds at most, even on a loaded machine).
    expect(Date.now() - answered).toBeLessThan(30_000);
    await until('replica A in the middle of acme/web and acme/docs', () => reachedAt.size === 2, 60_000);
    const reached = Math.min(...reachedAt.values());
    const other = await mkdtemp(path.join(os.tmpdir(), 'egressctl-durable-b-'));
    const b = await start(other, settings);
    expect(standin!.pullRequests('acme/web')).toHaveLength(0);
    await a.kill9();
    const killed = Date.now();
    // Still inside both tree reads: nothing of either written before the kill.
    expect(killed - reached).toBeLessThan(90_000);
    expect(standin!.requests.filter((request) => (request.repository === 'acme/web' || request.repository === 'acme/docs') && request.write)).toEqual([]);
    await until('acme/web synced by replica B', () => standin!.pullRequests('acme/web').some((pull) => pull.state === 'open'), 70_000);
    const recovery = Date.now() - killed;
    console.log(`replica killed in the middle of a repository sync: the other completed it ${(recovery / 1000).toFixed(1)} s later`);
    // Through BullMQ's lock (10 s) and stalled-job check (5 s): 13-20 s idle, 25.8 s seen with the
    // machine loaded; without the takeover it would not complete at all.
    expect(recovery).toBeLessThan(60_000);
    await until('acme/docs synced', () => standin!.pullRequests('acme/docs').some((pull) => pull.state === 'open'), 60_000);
    // The publish check: completed once every repository of the publish had its first attempt, by whichever replica settled last.
    await until('the publish check completed', () => standin!.checkRuns(POLICY_REPO, { headSha: sha, name: 'egressctl / publish' }).at(-1)?.status === 'completed', 60_000);
    expect(standin!.checkRuns(POLICY_REPO, { headSha: sha, name: 'egressctl / publish' }).at(-1)?.conclusion).toBe('success');
    // Once per repository: one branch, one commit, one PR, no write GitHub refused (a second writer would hit 422s).
    for (const name of ['acme/web', 'acme/docs']) {
      const writes = standin!.requests.filter((request) => request.repository === name && request.write);
      expect(writes.map((request) => `${request.operationId} ${request.status}`)).toEqual(['git/create-ref 201', 'repos/create-or-update-file-contents 200', 'pulls/create 201']);
    }
    // Long enough for any duplicate to show.
    const after = standin!.requests.filter((request) => request.write && request.repository !== POLICY_REPO).length;
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(standin!.requests.filter((request) => request.write && request.repository !== POLICY_REPO).length).toBe(after);
    expect(b.child.exitCode).toBeNull();
  }, 240_000);

  it('a replica paused past its job lock in the middle of a repository sync: the other takes the job, and the paused one, resumed, writes nothing (race 3)', async () => {
    await standin!.createRepository('acme/web', { files: { '.github/workflows/ci.yml': AUDIT_WORKFLOW } });
    const settings = { EGRESSCTL_QUEUE: redis!.url, EGRESSCTL_SYNC_RETRY_SECONDS: '1' };
    const a = await start(stateDir, settings);
    expect((await standin!.deliverWebhook({ url: a.hookUrl, event: 'push', repository: POLICY_REPO, after: (await standin!.refSha(POLICY_REPO, 'main'))! })).status).toBe(200);
    const sha = await standin!.commitFiles(POLICY_REPO, { files: { 'attachments.yml': 'organizations:\n  acme: audit\nrepositories:\n  acme/api: api\n  acme/web: base\nworkflows:\n  acme/api/.github/workflows/release.yml: base\n' } });
    // Replica A stops dead (SIGSTOP: as a blocked event loop or a long GC pause, nothing of it runs) as it reads
    // acme/web's tree, after its reads and before its writes; the answer waits in its socket.
    let paused = false;
    standin!.delayRequests({
      count: 1,
      ms: 500,
      match: (request) => {
        if (paused || request.operationId !== 'git/get-tree' || request.repository !== 'acme/web') return false;
        paused = a.child.kill('SIGSTOP');
        return true;
      },
    });
    expect((await standin!.deliverWebhook({ url: a.hookUrl, event: 'push', repository: POLICY_REPO, after: sha })).status).toBe(200);
    await until('replica A paused in the middle of acme/web', () => paused, 60_000);
    const pausedAt = Date.now();
    const writesOnWeb = () => standin!.requests.filter((request) => request.repository === 'acme/web' && request.write).map((request) => `${request.operationId} ${request.status}`);
    expect(writesOnWeb()).toEqual([]);
    // Replica B starts; A's job lock (10 s) expires while it is paused, and B's stalled-job check hands B the job.
    const b = await start(await mkdtemp(path.join(os.tmpdir(), 'egressctl-durable-b-')), settings);
    await until('acme/web synced by replica B', () => writesOnWeb().some((write) => write.startsWith('pulls/create')), 60_000);
    const synced = ['git/create-ref 201', 'repos/create-or-update-file-contents 200', 'pulls/create 201'];
    expect(writesOnWeb()).toEqual(synced);
    console.log(`replica paused past its job lock: the other synced acme/web ${((Date.now() - pausedAt) / 1000).toFixed(1)} s after the pause began`);
    // A resumes where it stopped, its tree read answered: before its first write it finds the job is no longer its own, and stops.
    a.child.kill('SIGCONT');
    await until('replica A resumed and stopped, or wrote', () => /work taken over by another replica/.test(a.stdout()) || writesOnWeb().length > synced.length, 60_000);
    // Long enough for any write of A to show.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(writesOnWeb()).toEqual(synced);
    // One clear line in A's log: which unit, before which write, and why.
    const line = a.stdout().split('\n').find((text) => text.includes('work taken over by another replica'));
    expect(JSON.parse(line!)).toMatchObject({ kind: 'repository-sync', msg: expect.stringMatching(/this run stopped before writing to GitHub/), err: expect.stringMatching(/^repository-sync acme\/web: stopped before POST \/repos\/\{owner\}\/\{repo\}\/git\/refs: this replica no longer holds the job/) });
    expect(standin!.pullRequests('acme/web')).toHaveLength(1);
    // The publish check is completed (by B, which settled the unit), as a success.
    await until('the publish check completed', () => standin!.checkRuns(POLICY_REPO, { headSha: sha, name: 'egressctl / publish' }).at(-1)?.status === 'completed', 60_000);
    expect(standin!.checkRuns(POLICY_REPO, { headSha: sha, name: 'egressctl / publish' }).at(-1)?.conclusion).toBe('success');
    expect(a.child.exitCode).toBeNull();
    expect(b.child.exitCode).toBeNull();
  }, 240_000);

  it('the sync state is shared: an outcome recorded by one replica is on the other\'s /sync page and in its egressctl_sync_repositories', async () => {
    const [a, b] = await replicas({});
    const page = async (app: AppProcess): Promise<string> => (await fetch(`${app.url}/sync`)).text();
    const metric = async (app: AppProcess, state: string): Promise<number | undefined> => {
      const found = new RegExp(`^egressctl_sync_repositories\\{state="${state}"\\} (\\d+)$`, 'm').exec(await (await fetch(`${app.url}/metrics`)).text());
      return found ? Number(found[1]) : undefined;
    };
    // Replica a publishes the first revision, and b serves it too (a bundle to show its console with; the replicas share what
    // they publish: shared-bundle.test.ts); the first publish syncs nothing.
    const first = (await standin!.refSha(POLICY_REPO, 'main'))!;
    expect((await standin!.deliverWebhook({ url: a.hookUrl, event: 'push', repository: POLICY_REPO, after: first })).status).toBe(200);
    await until('b serves the first revision', async () => (await (await fetch(`${b.url}/readyz`)).json() as { revision: string | null }).revision === first, 30_000);
    for (const app of [a, b]) expect(await page(app)).toContain('No sync has run yet.');
    // A publish on replica a syncs acme/api (a sync PR): a records it.
    const sha = await standin!.commitFiles(POLICY_REPO, { files: { 'policies/api.yml': 'egress-policy: block\nextends: base\nallowed-endpoints:\n  - registry.npmjs.org\n' } });
    expect((await standin!.deliverWebhook({ url: a.hookUrl, event: 'push', repository: POLICY_REPO, after: sha })).status).toBe(200);
    // The sync is queued work (either replica may run acme/api's unit): wait for its outcome.
    await until('the sync PR of acme/api', () => standin!.pullRequests('acme/api').some((candidate) => candidate.state === 'open'), 60_000);
    const pull = standin!.pullRequests('acme/api').find((candidate) => candidate.state === 'open');
    await until('a and b show pr-open', async () => (await metric(a, 'pr-open')) === 1 && (await metric(b, 'pr-open')) === 1, 40_000);
    for (const app of [b, a]) {
      expect(await page(app)).toMatch(/data-repository="acme\/api" data-status="pr-open"/);
      expect(await metric(app, 'pr-open')).toBe(1);
    }
    // The other way round: a person closes the PR and only replica b hears of it.
    await standin!.closePullRequest('acme/api', pull!.number, { by: 'octocat' });
    expect((await standin!.deliverWebhook({ url: b.hookUrl, event: 'pull_request', action: 'closed', repository: 'acme/api', pullRequest: pull!.number, sender: 'octocat' })).status).toBe(200);
    await until('a shows pr-closed', async () => (await metric(a, 'pr-closed')) === 1, 40_000);
    expect(await metric(a, 'pr-open')).toBe(0);
    expect(await page(a)).toMatch(/data-repository="acme\/api" data-status="pr-closed"/);
    // The state is in Redis, not in either replica's state directory.
    expect(existsSync(path.join(stateDir, 'app-git', SYNC_REPORT_FILE))).toBe(false);
  }, 240_000);

  it('kill -9 of one replica with observations pending: the other commits them', async () => {
    const [a, b] = await replicas({ EGRESSCTL_BASELINE_FLUSH_SECONDS: '5' });
    const ids = await jobs(10);
    for (const id of ids) expect(await deliver(a, id)).toBe(200);
    await until('10 logs read', () => standin!.stats().logDownloads === 10);
    await a.kill9();
    await until('all 10 runs in the baselines', async () => (await baselineRuns()).size === 10, 100_000);
    expect(b.child.exitCode).toBeNull();
  }, 240_000);
});
