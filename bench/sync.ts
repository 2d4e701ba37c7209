/**
 * Sync benchmark (docs/reconciliation.md): a 200-repository organization on the GitHub stand-in
 * (two workflows each), an organization policy attached. Sync by pull request: first run, re-run
 * with nothing new, and a sync on merge after a one-repository change (requests per affected and
 * per unaffected repository). Then an organization-level policy change reaching all 200
 * repositories under `delivery: pull-request` and under `delivery: variables`. Figures are
 * counts of REST requests (checked against GitHub's OpenAPI description) and ratios.
 */
import { parsePolicyRepository } from '../src/store/repository.js';
import type { PolicyRepository } from '../src/store/repository.js';
import { prepareReviewInput, reviewChange } from '../src/review/review.js';
import { tokenClient, type GitHubClient } from '../src/github/client.js';
import { VariableWriter } from '../src/rollout/github-variables.js';
import { affectedScopes, desiredVariables, storeStateOf, variableChanges } from '../src/rollout/sync-plan.js';
import { runSync, syncChange, type SyncResult } from '../src/rollout/sync.js';
import { startGitHubStandin, type GitHubStandin } from '../test/support/github/index.js';
import { SIMPLE_WORKFLOW } from '../test/support/workflows.js';
import { runWhenInvokedDirectly, type BenchSection } from './types.js';

const REPOSITORIES = Number(process.env['BENCH_SYNC_REPOS'] ?? 200);
const PERMISSIONS = { metadata: 'read', contents: 'write', pull_requests: 'write', workflows: 'write', actions_variables: 'write', organization_actions_variables: 'write' } as const;

const RELEASE = SIMPLE_WORKFLOW.replace('name: CI', 'name: Release').replace('test:', 'release:');

function store(settings: string, orgEndpoints: string[], attachments: string): PolicyRepository {
  const files: Record<string, string> = {
    'egressctl.yml': settings,
    'policies/org.yml': `egress-policy: block\nallowed-endpoints:\n${orgEndpoints.map((endpoint) => `  - ${endpoint}\n`).join('')}`,
    'policies/api.yml': 'egress-policy: block\nallowed-endpoints:\n  - registry.npmjs.org\n',
    'attachments.yml': attachments,
  };
  const loaded = parsePolicyRepository(new Map(Object.entries(files).map(([name, text]) => [name, Buffer.from(text)])));
  if (loaded.errors.length > 0) throw new Error(`bench store does not validate: ${loaded.errors.map((error) => error.message).join('; ')}`);
  return loaded.value;
}

async function organization(standin: GitHubStandin, org: string): Promise<GitHubClient> {
  const installation = standin.createInstallation({ account: org, permissions: { ...PERMISSIONS } });
  for (let index = 0; index < REPOSITORIES; index++) {
    await standin.createRepository(`${org}/svc-${String(index).padStart(3, '0')}`, { files: { '.github/workflows/ci.yml': SIMPLE_WORKFLOW, '.github/workflows/release.yml': RELEASE } });
  }
  // GitHub asks for >= 1 s between writes of one installation; the bench counts requests, not that wait.
  return tokenClient(standin.createInstallationToken(installation.id), { baseUrl: standin.url, writeSpacingMs: 0, notificationSpacingMs: 0 });
}

interface Measured {
  result: SyncResult;
  total: number;
  writes: number;
  byRepository: Record<string, { total: number; writes: number }>;
  ms: number;
}

async function measure(standin: GitHubStandin, run: () => Promise<SyncResult>): Promise<Measured> {
  standin.resetStats();
  const started = performance.now();
  const result = await run();
  const ms = performance.now() - started;
  const stats = standin.stats();
  return { result, total: stats.total, writes: stats.writes, byRepository: stats.byRepository, ms };
}

function perRepository(measured: Measured, org: string, affected: (name: string) => boolean): { affected: number[]; unaffected: number[] } {
  const out = { affected: [] as number[], unaffected: [] as number[] };
  for (let index = 0; index < REPOSITORIES; index++) {
    const name = `${org}/svc-${String(index).padStart(3, '0')}`;
    (affected(name) ? out.affected : out.unaffected).push(measured.byRepository[name]?.total ?? 0);
  }
  return out;
}

const mean = (values: readonly number[]) => (values.length === 0 ? 0 : values.reduce((sum, value) => sum + value, 0) / values.length);
const fmt = (value: number) => value.toFixed(2);

function review(before: PolicyRepository, after: PolicyRepository) {
  return affectedScopes(reviewChange(prepareReviewInput(before), prepareReviewInput(after)).scopes);
}

export async function runSyncBench(): Promise<BenchSection> {
  const standin = await startGitHubStandin();
  try {
    const org = 'bench';
    const client = await organization(standin, org);
    const settings = 'organizations: [bench]\nunattached: skip\n';
    const base = store(settings, ['proxy.golang.org'], 'organizations:\n  bench: org\n');
    const listing = 'organization' as const;

    const first = await measure(standin, () => runSync({ client, organization: org, policy: base, listing }));
    const rerun = await measure(standin, () => runSync({ client, organization: org, policy: base, listing }));
    const oneRepo = store(settings, ['proxy.golang.org'], 'organizations:\n  bench: org\nrepositories:\n  bench/svc-007: api\n');
    const changed = await measure(standin, () => syncChange({ client, organization: org, before: base, after: oneRepo, affected: review(base, oneRepo), listing }));
    const changedSplit = perRepository(changed, org, (name) => name === 'bench/svc-007');
    const orgWide = store(settings, ['proxy.golang.org', 'sum.golang.org'], 'organizations:\n  bench: org\nrepositories:\n  bench/svc-007: api\n');
    const orgChange = await measure(standin, () => syncChange({ client, organization: org, before: oneRepo, after: orgWide, affected: review(oneRepo, orgWide), listing }));
    standin.assertNoViolations();

    // The same organization-level change with delivery: variables (a second organization).
    const vorg = 'benchv';
    const vclient = await organization(standin, vorg);
    const vsettings = 'organizations: [benchv]\nunattached: skip\ndelivery: variables\n';
    const vbase = store(vsettings, ['proxy.golang.org'], 'organizations:\n  benchv: org\n');
    // The steps were written once by the first sync (one PR per repository, as under pull-request); only the variables matter here.
    await new VariableWriter(vclient).apply(variableChanges(new Map(), desiredVariables(storeStateOf(vbase), [vorg])));
    const vafter = store(vsettings, ['proxy.golang.org', 'sum.golang.org'], 'organizations:\n  benchv: org\n');
    const vchange = await measure(standin, () => syncChange({ client: vclient, organization: vorg, before: vbase, after: vafter, affected: review(vbase, vafter), listing }));
    const vscheduled = await measure(standin, async () => {
      // The scheduled pass's variable half: read back and compare everything (the workflow half costs what the re-run above costs).
      const writer = new VariableWriter(vclient);
      const repositories = Array.from({ length: REPOSITORIES }, (_, index) => `${vorg}/svc-${String(index).padStart(3, '0')}`);
      const variables = await writer.reassert(vorg, desiredVariables(storeStateOf(vafter), [vorg]), repositories);
      return { rollout: { organization: vorg, repositories: [], requests: writer.requests }, report: { organization: vorg, at: '', dryRun: false, repositories: [], variables }, requests: writer.requests };
    });
    standin.assertNoViolations();

    const statuses = (measured: Measured) => {
      const counts: Record<string, number> = {};
      for (const entry of measured.result.report.repositories) counts[entry.status] = (counts[entry.status] ?? 0) + 1;
      return Object.entries(counts).map(([status, count]) => `${count} ${status}`).join(', ') || 'no repository';
    };
    const all = (measured: Measured) => perRepository(measured, org, () => true).affected;
    const row = (label: string, measured: Measured, affected: number[], unaffected: number[]) =>
      `| ${label} | ${statuses(measured)} | ${affected.length > 0 ? fmt(mean(affected)) : '—'} | ${unaffected.length > 0 ? fmt(mean(unaffected)) : '—'} | ${measured.writes} | ${measured.total} | ${(measured.ms / 1000).toFixed(1)} s |`;
    const prOrgWrites = orgChange.writes;
    return {
      title: `Sync: ${REPOSITORIES} repositories, and delivery by variables vs pull request`,
      markdown: [
        `${REPOSITORIES} repositories with two workflows each, an organization policy attached (block). REST requests counted by the stand-in, every one checked against GitHub's OpenAPI description; writes are not spaced here (GitHub asks for 1 s between writes per installation, the default).`,
        '',
        '| run | result | requests / affected repository | requests / unaffected repository | writes | requests in total | wall time |',
        '|---|---|---|---|---|---|---|',
        row('first sync (opens PRs)', first, all(first), []),
        row('re-run, nothing new', rerun, [], all(rerun)),
        row('merge changing one repository\'s attachment', changed, changedSplit.affected, changedSplit.unaffected),
        row('merge changing the organization policy (pull-request)', orgChange, all(orgChange).filter((value) => value > 0), all(orgChange).filter((value) => value === 0)),
        '',
        `Re-run: ${rerun.writes} writes (target 0). One-repository change: ${fmt(mean(changedSplit.affected))} requests for the affected repository, ${fmt(mean(changedSplit.unaffected))} per unaffected one (target 0).`,
        '',
        '### Organization-level change reaching every repository: variables vs pull request',
        '',
        '| delivery | requests | writes | pull requests opened or updated | wall time |',
        '|---|---|---|---|---|',
        `| pull-request | ${orgChange.total} | ${prOrgWrites} | ${orgChange.result.report.repositories.filter((entry) => entry.status === 'pr-open').length} | ${(orgChange.ms / 1000).toFixed(1)} s |`,
        `| variables | ${vchange.total} | ${vchange.writes} | ${vchange.result.report.repositories.length} | ${(vchange.ms / 1000).toFixed(2)} s |`,
        '',
        `Ratio: ${(orgChange.total / Math.max(1, vchange.total)).toFixed(0)}x fewer requests and ${(prOrgWrites / Math.max(1, vchange.writes)).toFixed(0)}x fewer writes with variables (one organization variable instead of ${REPOSITORIES} pull requests). With variables the step is still written once per repository by the first sync (the same PR as under pull-request), and the scheduled pass that re-asserts variables reads the organization's list and one list per repository: ${vscheduled.total} requests, ${vscheduled.writes} writes when nothing drifted.`,
      ].join('\n'),
    };
  } finally {
    await standin.close();
  }
}

runWhenInvokedDirectly(import.meta.url, runSyncBench);
