/**
 * The App's durable units other than sync run under the write fence too
 * (docs/architecture.md#races-the-controller-closes): two replicas on a real redis-server, one
 * whose event loop blocks past its lock while it runs a unit. The other replica takes the unit
 * over and writes once; the blocked run, when it resumes, writes nothing to GitHub, records
 * nothing and logs one line. Real Probot, the OpenAPI-checked GitHub stand-in, real git.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Probot } from 'probot';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { EXPIRED_BRANCH, registerExpiredExceptions, type ExpiredResult } from '../../src/app/expired-exceptions.js';
import { GitMirrors } from '../../src/app/git-mirror.js';
import type { BaselineCommitResult } from '../../src/app/github-baselines.js';
import { logWorkError } from '../../src/app/queue.js';
import { redisConnection, RedisWorkQueue } from '../../src/app/queue-redis.js';
import { registerWorkflowJobHandler, type WorkflowJobHandle } from '../../src/app/workflow-job.js';
import type { Observation } from '../../src/baselines/index.js';
import { POLICY_FILES, POLICY_REPO } from '../support/app.js';
import { startGitHubStandin, type GitHubStandin } from '../support/github/index.js';
import { utcDay } from '../support/policy-tests.js';
import { redisMissing, startRedis, type RunningRedis } from '../support/redis.js';

const missing = redisMissing();
if (missing) console.log(missing);
let redis: RunningRedis | undefined;
let standin: GitHubStandin | undefined;
let work: string | undefined;
const queues: RedisWorkQueue[] = [];
const handles: WorkflowJobHandle[] = [];

beforeEach(async () => {
  if (missing) return;
  redis = await startRedis();
  standin = await startGitHubStandin();
  work = await mkdtemp(path.join(os.tmpdir(), 'egressctl-fence-units-'));
});
afterEach(async () => {
  for (const handle of handles.splice(0)) await handle.close();
  for (const queue of queues.splice(0)) await queue.close(100);
  await redis?.close();
  try {
    standin?.assertNoViolations();
  } finally {
    await standin?.close();
    if (work) await rm(work, { recursive: true, force: true });
  }
});

/** A replica's queue, logging as the App does (queue-open.ts), into `lines`. */
async function replica(lines: string[]): Promise<RedisWorkQueue> {
  const log = { warn: (_fields: object, message: string) => lines.push(message), info: (_fields: object, message: string) => lines.push(message) };
  // A short lock (as in queue-redis.test.ts): blocking the event loop 2.5 s loses it.
  const queue = await RedisWorkQueue.open({ url: redis!.url, lockMs: 1_000, stalledMs: 300, onError: (item, error) => logWorkError(log, item, error) });
  queues.push(queue);
  return queue;
}

/** The event loop blocked (a long GC pause, a synchronous parse): nothing of this process runs, lock renewals included. */
function blockEventLoop(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // Busy.
  }
}

async function until(condition: () => boolean, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const LOST = 'work taken over by another replica: this run stopped before writing to GitHub, the replica that holds it now does the work';

function writes(operationId: string): number {
  return standin!.requests.filter((request) => request.operationId === operationId && request.repository === POLICY_REPO).length;
}

it.skipIf(missing !== undefined)('expired-exceptions: a run that lost its job to another replica writes no tree, commit, ref or pull request; the holder proposes once', async () => {
  const installation = standin!.createInstallation({ account: 'acme' }).id;
  const api = ['egress-policy: block', 'extends: base', 'allowed-endpoints:', '  - registry.npmjs.org', '  - endpoint: sandbox.payments.example.com', '    reason: contract tests', `    expires: ${utcDay(-2)}`, ''].join('\n');
  await standin!.createRepository(POLICY_REPO, { files: { ...POLICY_FILES, 'policies/api.yml': api } });
  const revision = (await standin!.refSha(POLICY_REPO, 'main'))!;
  const mirrors = new GitMirrors(path.join(work!, 'mirrors'));
  const fetchRevision = (revisions: string[]) => mirrors.fetch(POLICY_REPO, { url: standin!.gitUrl(POLICY_REPO), token: standin!.createInstallationToken(installation) }, revisions);

  const [linesA, linesB] = [[] as string[], [] as string[]];
  const [queueA, queueB] = [await replica(linesA), await replica(linesB)];
  const results: { replica: string; result: ExpiredResult }[] = [];
  let runs = 0;
  const register = async (name: string, queue: RedisWorkQueue): Promise<(revision: string) => Promise<void>> => {
    const probot = new Probot({ ...standin!.probotOptions(), logLevel: 'fatal' });
    let propose: ((revision: string) => Promise<void>) | undefined;
    await probot.load((app) => {
      propose = registerExpiredExceptions(app, {
        queue,
        policyRepository: POLICY_REPO,
        backoff: { firstMs: 200, maxMs: 1_000 },
        mirror: async (revisions) => {
          runs += 1;
          const dir = await fetchRevision(revisions);
          if (name === 'a') {
            // Replica a blocks past its lock as it starts its unit, then goes on once b has taken the unit over and proposed.
            blockEventLoop(2_500);
            await until(() => results.some((entry) => entry.replica === 'b'), "replica b's proposal");
          }
          return dir;
        },
        onResult: (result) => results.push({ replica: name, result }),
      });
    });
    return propose!;
  };
  const proposeA = await register('a', queueA);
  await proposeA(revision);
  await until(() => runs === 1, "replica a's run");
  // Replica b starts working the same kind while a's run holds the unit.
  await register('b', queueB);
  // The blocked run ends: stopped (or, unfenced, having written).
  await until(() => linesA.includes(LOST) || results.some((entry) => entry.replica === 'a'), "the blocked run's end");

  // The blocked run wrote nothing: the tree, commit, branch and pull request are the holder's alone.
  expect(writes('git/create-tree')).toBe(1);
  expect(writes('git/create-commit')).toBe(1);
  expect(writes('git/create-ref')).toBe(1);
  expect(writes('git/update-ref')).toBe(0);
  expect(writes('pulls/create')).toBe(1);
  expect(writes('pulls/update')).toBe(0);
  expect(standin!.pullRequests(POLICY_REPO).filter((pr) => pr.head.ref === EXPIRED_BRANCH)).toHaveLength(1);
  // One proposal, by the replica that holds the unit; the blocked run reported no result.
  expect(results.map((entry) => [entry.replica, entry.result.action])).toEqual([['b', 'opened']]);
  // One line for the run that stopped; neither replica counted a failure.
  expect(linesA.filter((line) => line === LOST)).toHaveLength(1);
  expect([...linesA, ...linesB].filter((line) => line.startsWith('work failed'))).toEqual([]);
  expect(await queueA.failures()).toEqual([]);
}, 90_000);

it.skipIf(missing !== undefined)('baselines batch: a flush that lost its claim while blocked creates no tree, commit or ref update, and reports no flush; the holder commits once', async () => {
  const installation = standin!.createInstallation({ account: 'acme' }).id;
  await standin!.createRepository(POLICY_REPO, { files: { 'egressctl.yml': 'organizations: [acme]\n', 'README.md': 'policies\n' } });
  const [linesA, linesB] = [[] as string[], [] as string[]];
  const [queueA, queueB] = [await replica(linesA), await replica(linesB)];
  const flushes: { replica: string; result: BaselineCommitResult | { error: unknown } }[] = [];
  let blocked = false;
  const register = async (name: string, queue: RedisWorkQueue): Promise<void> => {
    const probot = new Probot({ ...standin!.probotOptions(), logLevel: 'fatal' });
    await probot.load((app) => {
      handles.push(
        registerWorkflowJobHandler(app, {
          policyRepository: POLICY_REPO,
          queue,
          // No timer flush: the test flushes each replica itself.
          flushIntervalMs: 3_600_000,
          onFlush: (result) => flushes.push({ replica: name, result }),
          ...(name === 'a'
            ? {
                policyClient: async () => {
                  const octokit = await probot.auth(installation);
                  // Replica a blocks past its claim right after reading the baselines file at the branch head,
                  // and goes on once b has committed the same batch.
                  octokit.hook.before('request', async (options: { method?: string; url?: string }) => {
                    if (blocked || options.method !== 'GET' || !(options.url ?? '').includes('/contents/')) return;
                    blocked = true;
                    blockEventLoop(2_500);
                    await until(() => flushes.some((entry) => entry.replica === 'b'), "replica b's commit");
                  });
                  return octokit;
                },
              }
            : {}),
        }),
      );
    });
  };
  await register('a', queueA);
  await register('b', queueB);
  // The flush scheduler's first run is due at once: let it pass (with nothing to commit) so that only this test's flushes run the batch.
  const scheduler = new Queue('egressctl-flush-observation', { connection: redisConnection(redis!.url), prefix: 'egressctl' });
  try {
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 50))) {
      const counts = await scheduler.getJobCounts('waiting', 'active', 'prioritized', 'delayed');
      if (counts.waiting === 0 && counts.active === 0 && counts.prioritized === 0 && counts.delayed! > 0) break;
    }
  } finally {
    await scheduler.close();
  }
  const observation = (runId: string): Observation => ({ workflow: '.github/workflows/ci.yml', job: 'build', runId, at: '2026-11-21T08:15:00Z', endpoints: ['registry.npmjs.org:443'], blocked: [] });
  for (const runId of ['901', '902']) {
    await queueA.add({ id: `observation:acme/api:${runId}`, kind: 'observation', key: 'acme/api', data: { repository: 'acme/api', observation: observation(runId) } });
  }
  const flushA = queueA.flush('observation');
  await until(() => blocked, "replica a's read");
  // a's claim expired while it was blocked: b's flush takes the batch.
  await queueB.flush('observation');
  await flushA;
  await until(() => linesA.includes(LOST) || flushes.some((entry) => entry.replica === 'a'), "the blocked flush's end");

  // The blocked flush wrote nothing: one tree, one commit, one ref update, all the holder's.
  expect(writes('git/create-tree')).toBe(1);
  expect(writes('git/create-commit')).toBe(1);
  expect(writes('git/update-ref')).toBe(1);
  // One flush reported, by the replica that holds the batch.
  expect(flushes.map((entry) => entry.replica)).toEqual(['b']);
  expect(flushes[0]!.result).toMatchObject({ attempts: 1 });
  expect(await standin!.readFile(POLICY_REPO, 'baselines/acme/api.yml')).toContain('registry.npmjs.org');
  expect(linesA.filter((line) => line === LOST)).toHaveLength(1);
  expect([...linesA, ...linesB].filter((line) => line.startsWith('work failed'))).toEqual([]);
  expect(await queueA.failures()).toEqual([]);
  expect(await queueA.pending('observation')).toBe(0);
}, 90_000);
