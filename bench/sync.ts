/**
 * Sync benchmark (docs/reconciliation.md): an organization of BENCH_SYNC_REPOS repositories
 * (default 40, two workflows each) on the GitHub stand-in, an organization policy attached. The
 * full sync (`runSync`, what the CLI and the scheduled pass run): first run, re-run with nothing
 * new; these are the reference. Then what the App does after a merge: a push to the policy
 * repository delivered as a signed webhook to the App running in-process (as bench/controller.ts
 * runs it), which publishes, plans the change and fans out one queue item per organization and
 * per repository (src/app/sync-work.ts), timed until its queue is idle. Scenarios: one
 * repository's attachment changes; the organization policy changes (reaching every repository),
 * under `delivery: pull-request` and under `delivery: variables`. Figures are counts of REST
 * requests (checked against GitHub's OpenAPI description) and ratios.
 */
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { parsePolicyRepository } from '../src/store/repository.js';
import type { PolicyRepository } from '../src/store/repository.js';
import { generateKeyPair, parsePrivateKey } from '../src/bundle/keys.js';
import { createWebhookHandler, type WebhookMount } from '../src/app/server-mount.js';
import { WEBHOOK_PATH } from '../src/server/api.js';
import { startServer, type RunningServer } from '../src/server/server.js';
import { tokenClient, type GitHubClient } from '../src/github/client.js';
import { VariableWriter } from '../src/rollout/github-variables.js';
import { desiredVariables, storeStateOf, variableChanges } from '../src/rollout/sync-plan.js';
import { SYNC_REPORT_FILE, type SyncReportFile } from '../src/rollout/sync-report.js';
import { runSync, type SyncResult } from '../src/rollout/sync.js';
import { appEnvironment, manifestPermissions } from '../test/support/app.js';
import { startGitHubStandin, type GitHubStandin } from '../test/support/github/index.js';
import { SIMPLE_WORKFLOW } from '../test/support/workflows.js';
import { runWhenInvokedDirectly, type BenchSection } from './types.js';

const REPOSITORIES = Number(process.env['BENCH_SYNC_REPOS'] ?? 40);
/** The policy repository sits in an organization of its own, so the managed organization holds exactly the benchmarked repositories. */
const ADMIN_ORG = 'bench-admin';
const POLICY_REPOSITORY = `${ADMIN_ORG}/egress-policies`;

const RELEASE = SIMPLE_WORKFLOW.replace('name: CI', 'name: Release').replace('test:', 'release:');

function storeFiles(settings: string, orgEndpoints: string[], attachments: string): Record<string, string> {
  return {
    'egressctl.yml': settings,
    'policies/org.yml': `egress-policy: block\nallowed-endpoints:\n${orgEndpoints.map((endpoint) => `  - ${endpoint}\n`).join('')}`,
    'policies/api.yml': 'egress-policy: block\nallowed-endpoints:\n  - registry.npmjs.org\n',
    'attachments.yml': attachments,
  };
}

function store(files: Record<string, string>): PolicyRepository {
  const loaded = parsePolicyRepository(new Map(Object.entries(files).map(([name, text]) => [name, Buffer.from(text)])));
  if (loaded.errors.length > 0) throw new Error(`bench store does not validate: ${loaded.errors.map((error) => error.message).join('; ')}`);
  return loaded.value;
}

const repositoryName = (org: string, index: number) => `${org}/svc-${String(index).padStart(3, '0')}`;
/** The repository the one-repository change attaches another policy to. */
const ONE = Math.min(7, REPOSITORIES - 1);

/** The stand-in with `org`'s repositories and the policy repository at `files`, the App running in-process on it. */
interface Stand {
  standin: GitHubStandin;
  /** An installation token on `org` (the full sync's client, as the CLI has). */
  client: GitHubClient;
  mount: WebhookMount;
  server: RunningServer;
  hookUrl: string;
  cacheDir: string;
  close(): Promise<void>;
}

async function stand(org: string, files: Record<string, string>): Promise<Stand> {
  const standin = await startGitHubStandin();
  let server: RunningServer | undefined;
  let mount: WebhookMount | undefined;
  const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'egressctl-bench-sync-'));
  const close = async () => {
    await server?.close();
    await mount?.close(2_000);
    await standin.close();
    await rm(cacheDir, { recursive: true, force: true });
  };
  try {
    const permissions = await manifestPermissions();
    const installation = standin.createInstallation({ account: org, permissions });
    standin.createInstallation({ account: ADMIN_ORG, permissions });
    await standin.createRepository(POLICY_REPOSITORY, { files });
    for (let index = 0; index < REPOSITORIES; index++) {
      await standin.createRepository(repositoryName(org, index), { files: { '.github/workflows/ci.yml': SIMPLE_WORKFLOW, '.github/workflows/release.yml': RELEASE } });
    }
    // GitHub asks for >= 1 s between writes of one installation; the bench counts requests, not that wait (for the App too).
    const client = tokenClient(standin.createInstallationToken(installation.id), { baseUrl: standin.url, writeSpacingMs: 0, notificationSpacingMs: 0 });
    const signKey = parsePrivateKey(generateKeyPair().privateKeyPem);
    const logger = pino({ level: 'silent' });
    mount = await createWebhookHandler(
      { ...appEnvironment(standin), EGRESSCTL_POLICY_REPOSITORY: POLICY_REPOSITORY, EGRESSCTL_APP_CACHE_DIR: cacheDir, EGRESSCTL_BASELINE_FLUSH_SECONDS: '3600', EGRESSCTL_ROLLOUT_INTERVAL_HOURS: '0' },
      { logger, signKeys: [signKey], octokit: { throttleEnabled: false, writeSpacingMs: 0, notificationSpacingMs: 0, serverErrorRetryBaseMs: 5 } },
    );
    if (!mount) throw new Error('no App mount');
    server = await startServer({ source: null, host: '127.0.0.1', port: 0, signKeys: [signKey], webhookHandler: mount.handler, logger, defaultMetrics: false, syncReportDir: cacheDir });
    mount.attach(server);
    const result: Stand = { standin, client, mount, server, hookUrl: `${server.url}${WEBHOOK_PATH}`, cacheDir, close };
    // The first publish: no previous revision, nothing synced on merge.
    await push(result);
    return result;
  } catch (error) {
    await close();
    throw error;
  }
}

/** Delivers the push of the policy repository's head to the App and waits until its queue is idle. */
async function push(s: Stand): Promise<void> {
  const after = (await s.standin.refSha(POLICY_REPOSITORY, 'main'))!;
  const delivered = await s.standin.deliverWebhook({ url: s.hookUrl, event: 'push', repository: POLICY_REPOSITORY, after });
  if (delivered.status !== 200 && delivered.status !== 202) throw new Error(`the App answered the push with ${delivered.status}`);
  await s.mount.app.idle();
}

interface Measured {
  total: number;
  writes: number;
  byRepository: Record<string, { total: number; writes: number }>;
  ms: number;
  /** Status per repository of the organization (the full sync's result, or the App's sync report for the repositories it touched). */
  statuses: Record<string, string>;
}

function measured(standin: GitHubStandin, ms: number, statuses: Record<string, string>): Measured {
  const stats = standin.stats();
  return { total: stats.total, writes: stats.writes, byRepository: stats.byRepository, ms, statuses };
}

/** The reference: a full sync of the organization (`runSync`). */
async function fullSync(s: Stand, run: () => Promise<SyncResult>): Promise<Measured> {
  s.standin.resetStats();
  const started = performance.now();
  const result = await run();
  const ms = performance.now() - started;
  return measured(s.standin, ms, Object.fromEntries(result.report.repositories.map((entry) => [entry.repository, entry.status])));
}

/** What the App does after a merge: commit `files` to the policy repository, deliver the push, wait for the queue. */
async function merge(s: Stand, org: string, files: Record<string, string>): Promise<Measured> {
  const sha = await s.standin.commitFiles(POLICY_REPOSITORY, { files, message: 'bench: policy change' });
  s.standin.resetStats();
  const started = performance.now();
  const delivered = await s.standin.deliverWebhook({ url: s.hookUrl, event: 'push', repository: POLICY_REPOSITORY, after: sha });
  if (delivered.status !== 200 && delivered.status !== 202) throw new Error(`the App answered the push with ${delivered.status}`);
  await s.mount.app.idle();
  const ms = performance.now() - started;
  const stats = s.standin.stats();
  const report = JSON.parse(await readFile(path.join(s.cacheDir, SYNC_REPORT_FILE), 'utf8')) as SyncReportFile;
  const statuses: Record<string, string> = {};
  for (const entry of report.organizations[org]?.repositories ?? []) if (stats.byRepository[entry.repository]) statuses[entry.repository] = entry.status;
  return measured(s.standin, ms, statuses);
}

function perRepository(m: Measured, org: string, affected: (name: string) => boolean): { affected: number[]; unaffected: number[] } {
  const out = { affected: [] as number[], unaffected: [] as number[] };
  for (let index = 0; index < REPOSITORIES; index++) {
    const name = repositoryName(org, index);
    (affected(name) ? out.affected : out.unaffected).push(m.byRepository[name]?.total ?? 0);
  }
  return out;
}

/** Requests outside the managed organization's repositories: the App's own (tokens, installation look-ups, the publish check, variables of the organization). */
function outsideRepositories(m: Measured, org: string): number {
  const inRepositories = Object.entries(m.byRepository).filter(([name]) => name.startsWith(`${org}/`)).reduce((sum, [, entry]) => sum + entry.total, 0);
  return m.total - inRepositories;
}

const mean = (values: readonly number[]) => (values.length === 0 ? 0 : values.reduce((sum, value) => sum + value, 0) / values.length);
const fmt = (value: number) => value.toFixed(2);
const seconds = (m: Measured) => `${(m.ms / 1000).toFixed(m.ms < 1000 ? 2 : 1)} s`;

function statuses(m: Measured): string {
  const counts: Record<string, number> = {};
  for (const status of Object.values(m.statuses)) counts[status] = (counts[status] ?? 0) + 1;
  return Object.entries(counts).map(([status, count]) => `${count} ${status}`).join(', ') || 'no repository';
}

export async function runSyncBench(): Promise<BenchSection> {
  const org = 'bench';
  const settings = 'organizations: [bench]\nunattached: skip\n';
  const baseFiles = storeFiles(settings, ['proxy.golang.org'], 'organizations:\n  bench: org\n');
  const attachedToOne = `organizations:\n  bench: org\nrepositories:\n  ${repositoryName(org, ONE)}: api\n`;
  const oneRepoFiles = storeFiles(settings, ['proxy.golang.org'], attachedToOne);
  const orgWideFiles = storeFiles(settings, ['proxy.golang.org', 'sum.golang.org'], attachedToOne);
  const pr = await stand(org, baseFiles);
  let first: Measured, rerun: Measured, changed: Measured, orgChange: Measured;
  try {
    const base = store(baseFiles);
    first = await fullSync(pr, () => runSync({ client: pr.client, organization: org, policy: base, listing: 'installation' }));
    rerun = await fullSync(pr, () => runSync({ client: pr.client, organization: org, policy: base, listing: 'installation' }));
    changed = await merge(pr, org, { 'attachments.yml': oneRepoFiles['attachments.yml']! });
    orgChange = await merge(pr, org, { 'policies/org.yml': orgWideFiles['policies/org.yml']! });
    pr.standin.assertNoViolations();
  } finally {
    await pr.close();
  }

  // The same organization-level change with delivery: variables (a second organization, its own App).
  const vorg = 'benchv';
  const vsettings = 'organizations: [benchv]\nunattached: skip\ndelivery: variables\n';
  const vbaseFiles = storeFiles(vsettings, ['proxy.golang.org'], 'organizations:\n  benchv: org\n');
  const vafterFiles = storeFiles(vsettings, ['proxy.golang.org', 'sum.golang.org'], 'organizations:\n  benchv: org\n');
  const vars = await stand(vorg, vbaseFiles);
  let vchange: Measured, vscheduled: Measured;
  try {
    // The steps were written once by the first sync (one PR per repository, as under pull-request); only the variables matter here.
    await new VariableWriter(vars.client).apply(variableChanges(new Map(), desiredVariables(storeStateOf(store(vbaseFiles)), [vorg])));
    vchange = await merge(vars, vorg, { 'policies/org.yml': vafterFiles['policies/org.yml']! });
    vscheduled = await fullSync(vars, async () => {
      // The scheduled pass's variable half: read back and compare everything (the workflow half costs what the re-run above costs).
      const writer = new VariableWriter(vars.client);
      const repositories = Array.from({ length: REPOSITORIES }, (_, index) => repositoryName(vorg, index));
      const variables = await writer.reassert(vorg, desiredVariables(storeStateOf(store(vafterFiles)), [vorg]), repositories);
      return { rollout: { organization: vorg, repositories: [], requests: writer.requests }, report: { organization: vorg, at: '', dryRun: false, repositories: [], variables }, requests: writer.requests };
    });
    vars.standin.assertNoViolations();
  } finally {
    await vars.close();
  }

  const all = (m: Measured) => perRepository(m, org, () => true).affected;
  const changedSplit = perRepository(changed, org, (name) => name === repositoryName(org, ONE));
  const row = (label: string, m: Measured, affected: number[], unaffected: number[], app: boolean) =>
    `| ${label} | ${statuses(m)} | ${affected.length > 0 ? fmt(mean(affected)) : '—'} | ${unaffected.length > 0 ? fmt(mean(unaffected)) : '—'} | ${app ? outsideRepositories(m, org) : '—'} | ${m.writes} | ${m.total} | ${seconds(m)} |`;
  const orgReached = all(orgChange);
  const pullRequests = (m: Measured, organization: string) => Object.entries(m.byRepository).filter(([name, entry]) => name.startsWith(`${organization}/`) && entry.writes > 0).length;
  return {
    title: `Sync: ${REPOSITORIES} repositories, the App after a merge, and delivery by variables vs pull request`,
    markdown: [
      `${REPOSITORIES} repositories with two workflows each, an organization policy attached (block). REST requests counted by the stand-in, every one checked against GitHub's OpenAPI description; writes are not spaced here (GitHub asks for 1 s between writes per installation, the default). The first two rows are the full sync (\`runSync\`, what the CLI and the scheduled pass run), the reference. The merge rows are the App's path: a signed push webhook to the App running in-process, which publishes, plans the change and queues one item per organization and per repository; requests and wall time run from the delivery until its queue is idle, publishing included. "The App's own" counts its requests outside the organization's repositories (installation tokens and look-ups, the publish check on the policy repository, organization variables); \`BENCH_SYNC_REPOS\` sets the organization's size.`,
      '',
      '| run | result | requests / affected repository | requests / unaffected repository | the App\'s own | writes | requests in total | wall time |',
      '|---|---|---|---|---|---|---|---|',
      row('full sync, first run (opens PRs; reference)', first, all(first), [], false),
      row('full sync, re-run, nothing new (reference)', rerun, [], all(rerun), false),
      row('App: merge changing one repository\'s attachment', changed, changedSplit.affected, changedSplit.unaffected, true),
      row('App: merge changing the organization policy (pull-request)', orgChange, orgReached.filter((value) => value > 0), orgReached.filter((value) => value === 0), true),
      '',
      `Re-run: ${rerun.writes} writes (target 0). One-repository change through the App: ${fmt(mean(changedSplit.affected))} requests for the affected repository, ${fmt(mean(changedSplit.unaffected))} per unaffected one (target 0). Organization change through the App: ${fmt(mean(orgReached.filter((value) => value > 0)))} requests per repository it reaches against ${fmt(mean(all(first)))} for the full sync's first run (${(orgChange.ms / Math.max(1, first.ms)).toFixed(2)}x its wall time).`,
      '',
      '### Organization-level change reaching every repository, through the App: variables vs pull request',
      '',
      '| delivery | requests | writes | repositories written to (PRs opened or updated) | wall time |',
      '|---|---|---|---|---|',
      `| pull-request | ${orgChange.total} | ${orgChange.writes} | ${pullRequests(orgChange, org)} | ${seconds(orgChange)} |`,
      `| variables | ${vchange.total} | ${vchange.writes} | ${pullRequests(vchange, vorg)} | ${seconds(vchange)} |`,
      '',
      `Ratio: ${(orgChange.total / Math.max(1, vchange.total)).toFixed(0)}x fewer requests and ${(orgChange.writes / Math.max(1, vchange.writes)).toFixed(0)}x fewer writes with variables (the organization variable instead of ${pullRequests(orgChange, org)} pull requests; both counts include the App's own requests: tokens, the publish check). With variables the step is still written once per repository by the first sync (the same PR as under pull-request), and the scheduled pass that re-asserts variables reads the organization's list and one list per repository: ${vscheduled.total} requests, ${vscheduled.writes} writes when nothing drifted.`,
    ].join('\n'),
  };
}

runWhenInvokedDirectly(import.meta.url, runSyncBench);
