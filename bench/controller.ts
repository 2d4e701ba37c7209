/**
 * The App as a controller (docs/github-app.md, "Durable work"): `workflow_job` deliveries at a
 * steady rate (default 1,000 a minute) into the App mounted in a real server, the GitHub stand-in
 * serving the job logs. Per configuration: p50/p99 time to acknowledge, process memory, journal
 * size, and whether every delivery's run reached the baselines after the flush. Baseline: the
 * same App with its queue in memory (not durable), measured in the same run; then the journal in
 * the state directory; then two replicas sharing one redis-server (skipped, with a line, when
 * Debian's redis-server is missing). BENCH_CONTROLLER_SECONDS (default 20) and
 * BENCH_CONTROLLER_PER_MINUTE (default 1000) set the load; the issue's full run is 300 s.
 */
import { readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { parseBaselineFile } from '../src/baselines/index.js';
import { FileWorkQueue, JOURNAL_FILE } from '../src/app/queue-file.js';
import { createWebhookHandler, type WebhookMount } from '../src/app/server-mount.js';
import { WEBHOOK_PATH } from '../src/server/api.js';
import { startServer, type RunningServer } from '../src/server/server.js';
import { appEnvironment, manifestPermissions, POLICY_FILES, POLICY_REPO, repoRoot } from '../test/support/app.js';
import { deliverWebhook, startGitHubStandin, type GitHubStandin } from '../test/support/github/index.js';
import type { JsonObject } from '../test/support/github/webhooks.js';
import { redisMissing, startRedis } from '../test/support/redis.js';
import { runWhenInvokedDirectly, type BenchSection } from './types.js';
import { AUDIT_JOB_STEPS, AUDIT_WORKFLOW } from '../test/support/workflows.js';

const SECONDS = Number(process.env['BENCH_CONTROLLER_SECONDS'] ?? 20);
const PER_MINUTE = Number(process.env['BENCH_CONTROLLER_PER_MINUTE'] ?? 1000);
const LOG = readFileSync(path.join(repoRoot, 'test/baselines/fixtures/audit-job.txt'), 'utf8');

interface Replica {
  server: RunningServer;
  mount: WebhookMount;
  hookUrl: string;
}

interface Row {
  name: string;
  deliveries: number;
  p50: number;
  p99: number;
  max: number;
  rssMiB: number;
  journalKiB: number | undefined;
  committed: number;
  failedAnswers: number;
}

async function replica(standin: GitHubStandin, cacheDir: string, env: NodeJS.ProcessEnv, memory: boolean): Promise<Replica> {
  const mount = await createWebhookHandler(
    { ...appEnvironment(standin), EGRESSCTL_POLICY_REPOSITORY: POLICY_REPO, EGRESSCTL_APP_CACHE_DIR: cacheDir, EGRESSCTL_BASELINE_FLUSH_SECONDS: '3600', EGRESSCTL_ROLLOUT_INTERVAL_HOURS: '0', ...env },
    { logger: pino({ level: 'silent' }), octokit: { throttleEnabled: false, serverErrorRetryBaseMs: 5 }, ...(memory ? { queue: FileWorkQueue.memory() } : {}) },
  );
  if (!mount) throw new Error('no App mount');
  const server = await startServer({ source: null, host: '127.0.0.1', port: 0, webhookHandler: mount.handler, logger: pino({ level: 'silent' }), defaultMetrics: false });
  mount.attach(server);
  return { server, mount, hookUrl: `${server.url}${WEBHOOK_PATH}` };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;
}

async function runs(standin: GitHubStandin): Promise<number> {
  const text = await standin.readFile(POLICY_REPO, 'baselines/acme/api.yml');
  if (text === undefined) return 0;
  const parsed = parseBaselineFile(text, 'baselines/acme/api.yml');
  return [...parsed.value.workflows.values()].flatMap((jobs) => [...jobs.values()]).reduce((sum, job) => sum + job.runs, 0);
}

async function measure(name: string, mode: 'memory' | 'journal' | 'redis'): Promise<Row> {
  const standin = await startGitHubStandin();
  const dirs: string[] = [];
  const replicas: Replica[] = [];
  let stopRedis: (() => Promise<void>) | undefined;
  try {
    standin.createInstallation({ account: 'acme', permissions: await manifestPermissions() });
    await standin.createRepository(POLICY_REPO, { files: POLICY_FILES });
    await standin.createRepository('acme/api', { files: { '.github/workflows/ci.yml': AUDIT_WORKFLOW } });
    const headSha = (await standin.refSha('acme/api', 'main'))!;
    const count = Math.round((SECONDS * PER_MINUTE) / 60);
    const payloads: JsonObject[] = [];
    for (let index = 0; index < count; index++) {
      const job = await standin.addWorkflowJob('acme/api', { name: 'build', logs: LOG, steps: AUDIT_JOB_STEPS, workflowPath: '.github/workflows/ci.yml', headSha });
      payloads.push(await standin.webhookPayload({ event: 'workflow_job', action: 'completed', repository: 'acme/api', workflowJob: job.id }));
    }
    let env: NodeJS.ProcessEnv = {};
    if (mode === 'redis') {
      const redis = await startRedis();
      stopRedis = redis.close;
      env = { EGRESSCTL_QUEUE: redis.url };
    }
    for (let index = 0; index < (mode === 'redis' ? 2 : 1); index++) {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'egressctl-bench-controller-'));
      dirs.push(dir);
      replicas.push(await replica(standin, dir, env, mode === 'memory'));
    }
    const rssBefore = process.memoryUsage().rss;
    let peakRss = rssBefore;
    const latencies: number[] = [];
    let failedAnswers = 0;
    const gap = 60_000 / PER_MINUTE;
    const started = performance.now();
    const sent: Promise<void>[] = [];
    for (let index = 0; index < count; index++) {
      const due = started + index * gap;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const target = replicas[index % replicas.length]!;
      const at = performance.now();
      sent.push(
        deliverWebhook({ url: target.hookUrl, event: 'workflow_job', payload: payloads[index]!, secret: standin.webhookSecret }).then((response) => {
          latencies.push(performance.now() - at);
          if (response.status !== 200) failedAnswers++;
        }),
      );
      if (index % 50 === 0) peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }
    await Promise.all(sent);
    for (const { mount } of replicas) await mount.app.idle();
    await Promise.all(replicas.map(({ mount }) => mount.app.queue?.idle()));
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    const journal = mode === 'journal' ? statSync(path.join(dirs[0]!, 'queue', JOURNAL_FILE)).size : undefined;
    // The flush: every observation acknowledged must reach the baselines.
    for (const { mount } of replicas) await mount.app.queue?.flush('observation');
    const deadline = Date.now() + 60_000;
    let committed = await runs(standin);
    while (committed < count && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      for (const { mount } of replicas) await mount.app.queue?.flush('observation');
      committed = await runs(standin);
    }
    latencies.sort((a, b) => a - b);
    return {
      name,
      deliveries: count,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      max: latencies[latencies.length - 1] ?? 0,
      rssMiB: peakRss / 2 ** 20,
      journalKiB: journal === undefined ? undefined : journal / 1024,
      committed,
      failedAnswers,
    };
  } finally {
    for (const { server, mount } of replicas) {
      await server.close();
      await mount.close(2_000);
    }
    await stopRedis?.();
    await standin.close();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  }
}

export async function runControllerBench(): Promise<BenchSection> {
  const rows: Row[] = [];
  rows.push(await measure('queue in memory (baseline, not durable)', 'memory'));
  rows.push(await measure('journal in the state directory (1 replica)', 'journal'));
  const missing = redisMissing();
  if (missing) process.stderr.write(`bench controller: ${missing}\n`);
  else rows.push(await measure('Redis (BullMQ), 2 replicas', 'redis'));
  const base = rows[0]!;
  const table = [
    '| queue | deliveries | ack p50 | ack p99 (x baseline) | ack max | peak RSS | journal | runs in baselines after the flush | non-200 answers |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (row) =>
        `| ${row.name} | ${row.deliveries} | ${row.p50.toFixed(1)} ms | ${row.p99.toFixed(1)} ms (${(row.p99 / Math.max(base.p99, 0.001)).toFixed(2)}x) | ${row.max.toFixed(0)} ms | ${row.rssMiB.toFixed(0)} MiB | ${row.journalKiB === undefined ? '—' : `${row.journalKiB.toFixed(0)} KiB`} | ${row.committed} of ${row.deliveries}${row.committed === row.deliveries ? '' : ' (LOST)'} | ${row.failedAnswers} |`,
    ),
  ];
  return {
    title: `App as a controller: workflow_job deliveries at ${PER_MINUTE.toLocaleString('en')}/min for ${SECONDS} s`,
    markdown: [
      ...table,
      '',
      `Each delivery is answered once it is journaled (the log is read after). Peak RSS is the whole bench process (stand-in, server${rows.length > 2 ? 's' : ''} and App${rows.length > 2 ? 's' : ''}). The issue's full run is 1,000/min for 300 s (\`BENCH_CONTROLLER_SECONDS=300\`); the default is shortened to keep \`npm run bench\` fast.`,
    ].join('\n'),
  };
}

runWhenInvokedDirectly(import.meta.url, runControllerBench);
