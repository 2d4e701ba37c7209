/**
 * What the App does when a sync cannot do what the store says (issue 21, docs/reconciliation.md
 * "Sync state"), end to end on the OpenAPI-checked stand-in: a failed variable write never makes
 * a step read variables, a failed sync is tried again (redelivery, the same push, a later merge)
 * and its row says failed, a closed PR stays closed for edits that do not change what its jobs
 * get, and with `delivery: variables` a change of attachment with the same values writes
 * variables only.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { REPOSITORY_POLICY_VARIABLE } from '../../src/policy/delivery.js';
import { loadPolicyRepository } from '../../src/store/repository.js';
import { tokenClient, type ClientTuning } from '../../src/github/client.js';
import { runSync } from '../../src/rollout/sync.js';
import { readSyncReport } from '../../src/rollout/sync-report.js';
import { renderSync } from '../../src/server/console/render-sync.js';
import { PUBLISH_CHECK_NAME } from '../../src/app/render.js';
import { SIMPLE_WORKFLOW } from '../support/workflows.js';
import { POLICY_REPO, startHarness, type Harness } from '../support/app.js';

const POLICIES = {
  'policies/base.yml': 'egress-policy: block\nallowed-endpoints:\n  - github.com:443\n',
  'policies/api.yml': 'egress-policy: block\nextends: base\nallowed-endpoints:\n  - registry.npmjs.org\n',
  'policies/api-copy.yml': 'egress-policy: block\nextends: base\nallowed-endpoints:\n  - registry.npmjs.org\n',
  'policies/org.yml': 'egress-policy: block\nallowed-endpoints:\n  - proxy.golang.org\n',
};
const PULL_REQUESTS = 'organizations: [acme]\nunattached: skip\n';
const VARIABLES = 'organizations: [acme]\nunattached: skip\ndelivery: variables\n';

let harness: Harness | undefined;

afterEach(async () => {
  const current = harness;
  harness = undefined;
  await current?.finish();
});

async function start(settings: string, attachments: string, options: { withoutVariablesPermission?: boolean; env?: NodeJS.ProcessEnv; octokit?: ClientTuning } = {}): Promise<Harness> {
  const h = await startHarness({ files: { 'egressctl.yml': settings, ...POLICIES, 'attachments.yml': attachments }, ...(options.env ? { env: options.env } : {}), ...(options.octokit ? { octokit: options.octokit } : {}) });
  if (options.withoutVariablesPermission) {
    // Before any token is issued: every token of the installation lacks them.
    const installation = h.standin.installation(h.installationId)!;
    const { actions_variables: _repository, organization_actions_variables: _organization, ...rest } = installation.permissions;
    installation.permissions = rest;
  }
  for (const name of ['acme/api', 'acme/web']) {
    await h.standin.createRepository(name, { files: { '.github/workflows/ci.yml': SIMPLE_WORKFLOW } });
  }
  await deliverPush(h, (await h.standin.refSha(POLICY_REPO, 'main'))!);
  return h;
}

async function deliverPush(h: Harness, after: string, deliveryId?: string): Promise<number> {
  const delivered = await h.standin.deliverWebhook({ url: h.hookUrl, event: 'push', repository: POLICY_REPO, after, ...(deliveryId ? { deliveryId } : {}) });
  await h.mount.app.idle();
  return delivered.status;
}

async function merge(h: Harness, files: Record<string, string | null>): Promise<string> {
  h.standin.resetStats();
  const sha = await h.standin.commitFiles(POLICY_REPO, { files });
  await deliverPush(h, sha);
  return sha;
}

function publishCheck(h: Harness, sha: string) {
  const runs = h.standin.checkRuns(POLICY_REPO, { headSha: sha, name: PUBLISH_CHECK_NAME });
  return runs[runs.length - 1];
}

async function rowOf(h: Harness, repository: string) {
  const report = await readSyncReport(h.cacheDir);
  return report.organizations['acme']?.repositories.find((entry) => entry.repository === repository);
}

/** What the scheduled pass runs, at the policy repository's head. */
async function fullSync(h: Harness): Promise<void> {
  const policy = await loadPolicyRepository({ dir: h.standin.repository(POLICY_REPO).dir, rev: 'main' });
  const client = tokenClient(h.standin.createInstallationToken(h.installationId), { baseUrl: h.standin.url, writeSpacingMs: 0 });
  const result = await runSync({ client, organization: 'acme', policy: policy.value, listing: 'installation', repositories: ['acme/api'] });
  expect(result.report.repositories.map((entry) => entry.status)).toEqual(['pr-closed']);
}

/** Open the sync PR of `repository` by merging `attachments`, then merge that PR as a person (the step is managed). */
async function mergedSyncPullRequest(h: Harness, attachments: string, repository: string): Promise<void> {
  await merge(h, { 'attachments.yml': attachments });
  const open = h.standin.pullRequests(repository).find((pull) => pull.state === 'open');
  expect(open).toBeDefined();
  await h.standin.mergePullRequest(repository, open!.number);
}

describe('defect 1: a failed variable write never switches a step to variables', () => {
  it('without the Variables permission: the step keeps its literals, the check fails, the row says failed with the reason', async () => {
    harness = await start(PULL_REQUESTS, 'organizations: {}\n', { withoutVariablesPermission: true });
    await mergedSyncPullRequest(harness, 'repositories:\n  acme/api: api\n', 'acme/api');
    expect(await harness.standin.readFile('acme/api', '.github/workflows/ci.yml')).toContain('egress-policy: block');

    const sha = await merge(harness, { 'egressctl.yml': VARIABLES });
    // Published: the bundle is fine; what failed is the sync.
    expect(await harness.servedRevision()).toBe(sha);
    const open = harness.standin.pullRequests('acme/api').filter((pull) => pull.state === 'open');
    for (const pull of open) {
      const proposed = await harness.standin.readFile('acme/api', '.github/workflows/ci.yml', pull.head.ref);
      expect(proposed).not.toContain('vars.');
    }
    expect(await harness.standin.readFile('acme/api', '.github/workflows/ci.yml')).toContain('egress-policy: block');
    const check = publishCheck(harness, sha);
    expect(check?.conclusion).toBe('failure');
    expect(check?.output.summary).toMatch(/acme\/api/);
    expect(check?.output.summary).toMatch(/Resource not accessible by integration/);
    const row = await rowOf(harness, 'acme/api');
    expect(row?.status).toBe('error');
    // The organization's variables are written and read back before any repository is synced:
    // unreadable, so no repository of acme is switched, and each row says why.
    expect(row?.reasons.join('\n')).toMatch(/not in place.*variables of acme cannot be read: Resource not accessible by integration/);
    const metrics = await (await fetch(`${harness.server.url}/metrics`)).text();
    // Every repository the switch to variables reaches: none of their variables can be read, so none is switched.
    expect(metrics).toContain('egressctl_sync_repositories{state="error"} 3');
  }, 90_000);
});

describe('defect 2: a failed sync is tried again', () => {
  const treesFail = (h: Harness) =>
    h.standin.failNextRequests({ count: 1000, status: 500, message: 'Server Error', match: (request) => request.operationId === 'git/get-tree' && request.repository?.toLowerCase() === 'acme/api' });

  it('a persistent 500 on one repository is retried with backoff, the others are unaffected, and it becomes synced once GitHub recovers', async () => {
    // The client does not retry a 5xx itself here: each tree read of acme/api is one attempt of its
    // unit of work, so the gaps between them are the queue's backoff (telling the client's own
    // retries apart by "under half a second" failed on a loaded machine, where those took longer).
    harness = await start(PULL_REQUESTS, 'organizations: {}\n', { env: { EGRESSCTL_SYNC_RETRY_SECONDS: '1' }, octokit: { throttleEnabled: false, serverErrorRetries: 0 } });
    const attempts: number[] = [];
    harness.standin.failNextRequests({
      count: 1000,
      status: 500,
      message: 'Server Error',
      match: (request) => {
        const mine = request.operationId === 'git/get-tree' && request.repository?.toLowerCase() === 'acme/api';
        if (mine) attempts.push(Date.now());
        return mine;
      },
    });
    const sha = await merge(harness, { 'attachments.yml': 'organizations:\n  acme: org\n' });
    // acme/web is not held up by acme/api: its PR is open, its row pr-open.
    expect(harness.standin.pullRequests('acme/web').filter((pull) => pull.state === 'open')).toHaveLength(1);
    expect((await rowOf(harness, 'acme/web'))?.status).toBe('pr-open');
    const webWrites = harness.standin.requests.filter((request) => request.write && request.repository === 'acme/web').length;
    const row = await rowOf(harness, 'acme/api');
    expect(row?.status).toBe('error');
    expect(row?.reasons.join('\n')).toMatch(/Server Error/);
    expect(harness.standin.pullRequests('acme/api')).toHaveLength(0);
    const check = publishCheck(harness, sha);
    expect(check?.conclusion).toBe('failure');
    expect(check?.output.summary).toMatch(/acme\/api/);
    expect(check?.output.summary).not.toMatch(/acme\/web/);
    // The queue keeps the last error while it retries: 1 s, then 2 s, then 4 s after each failure.
    const failures = await harness.mount.app.queue!.failures();
    expect(failures).toEqual([expect.objectContaining({ kind: 'repository-sync', key: 'acme/api', lastError: expect.stringMatching(/Server Error/) })]);
    const gapsNow = () => attempts.slice(1).map((at, index) => at - attempts[index]!);
    const deadline = Date.now() + 30_000;
    while (gapsNow().length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    const gaps = gapsNow();
    expect(gaps.length).toBeGreaterThanOrEqual(2);
    // At least the backoff after each failure (plus the rest of the attempt): 1 s, then 2 s.
    expect(gaps[0]).toBeGreaterThanOrEqual(950);
    expect(gaps[1]).toBeGreaterThanOrEqual(1_950);
    expect((await rowOf(harness, 'acme/api'))?.status).toBe('error');
    // acme/api's retries never touch acme/web again.
    expect(harness.standin.requests.filter((request) => request.write && request.repository === 'acme/web')).toHaveLength(webWrites);

    harness.standin.clearFaults();
    const recovered = Date.now() + 30_000;
    while ((await rowOf(harness, 'acme/api'))?.status === 'error' && Date.now() < recovered) await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await rowOf(harness, 'acme/api'))?.status).toBe('pr-open');
    expect(harness.standin.pullRequests('acme/api').filter((pull) => pull.state === 'open')).toHaveLength(1);
    await harness.mount.app.idle();
    expect(await harness.mount.app.queue!.failures()).toEqual([]);
  }, 120_000);

  it('a push of the revision already published retries what is in error at once (level-triggered)', async () => {
    harness = await start(PULL_REQUESTS, 'organizations: {}\n');
    treesFail(harness);
    const sha = await merge(harness, { 'attachments.yml': 'repositories:\n  acme/api: api\n' });
    expect((await rowOf(harness, 'acme/api'))?.status).toBe('error');
    // The default first retry is a minute away; GitHub recovers and the same push is delivered again (a new id).
    harness.standin.clearFaults();
    await deliverPush(harness, sha, 'redelivered-push-1');
    expect((await rowOf(harness, 'acme/api'))?.status).toBe('pr-open');
    expect(harness.standin.pullRequests('acme/api').filter((pull) => pull.state === 'open')).toHaveLength(1);
  }, 120_000);

  it('a 500 when looking up the installation of an organization is a failed sync, not "not installed" and a passing publish', async () => {
    harness = await start(PULL_REQUESTS, 'organizations: {}\n');
    harness.standin.failNextRequests({ count: 1000, status: 500, message: 'Server Error', match: (request) => request.operationId === 'apps/get-org-installation' });
    const sha = await merge(harness, { 'attachments.yml': 'repositories:\n  acme/api: api\n' });
    expect(harness.standin.pullRequests('acme/api')).toHaveLength(0);
    expect(publishCheck(harness, sha)?.conclusion).not.toBe('success');
  }, 90_000);

  it('a persistent 500 on a variable PATCH: the row says failed, not synced, and the next merge writes it', async () => {
    harness = await start(VARIABLES, 'organizations: {}\n');
    harness.standin.failNextRequests({ count: 1000, status: 500, message: 'Server Error', match: (request) => request.operationId === 'actions/update-repo-variable' || request.operationId === 'actions/create-repo-variable' });
    const sha = await merge(harness, { 'attachments.yml': 'repositories:\n  acme/api: api\n' });
    expect(harness.standin.variables('repository', 'acme/api').has(REPOSITORY_POLICY_VARIABLE)).toBe(false);
    const row = await rowOf(harness, 'acme/api');
    expect(row?.status).toBe('error');
    expect(row?.reasons.join('\n')).toMatch(/EGRESSCTL_REPO_POLICY/);
    expect(publishCheck(harness, sha)?.conclusion).toBe('failure');
    // Never a step that reads a variable that is not there.
    for (const pull of harness.standin.pullRequests('acme/api')) {
      expect(await harness.standin.readFile('acme/api', '.github/workflows/ci.yml', pull.head.ref)).not.toContain('vars.');
    }

    harness.standin.clearFaults();
    await merge(harness, { 'attachments.yml': 'repositories:\n  acme/api: api\n  acme/web: base\n' });
    expect(JSON.parse(harness.standin.variables('repository', 'acme/api').get(REPOSITORY_POLICY_VARIABLE)!.value)).toMatchObject({ policy: 'api' });
    expect((await rowOf(harness, 'acme/api'))?.status).not.toBe('error');
  }, 120_000);
});

describe('the retry timer', () => {
  it('repairs a failed repository without any webhook once GitHub recovers', async () => {
    harness = await start(PULL_REQUESTS, 'organizations: {}\n', { env: { EGRESSCTL_SYNC_RETRY_SECONDS: '1' } });
    harness.standin.failNextRequests({ count: 1000, status: 500, message: 'Server Error', match: (request) => request.operationId === 'git/get-tree' && request.repository?.toLowerCase() === 'acme/api' });
    await merge(harness, { 'attachments.yml': 'repositories:\n  acme/api: api\n' });
    expect((await rowOf(harness, 'acme/api'))?.status).toBe('error');
    harness.standin.clearFaults();
    const deadline = Date.now() + 30_000;
    while ((await rowOf(harness, 'acme/api'))?.status === 'error' && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await rowOf(harness, 'acme/api'))?.status).toBe('pr-open');
    expect(harness.standin.pullRequests('acme/api').filter((pull) => pull.state === 'open')).toHaveLength(1);
  }, 90_000);
});

describe('defect 3: the desired-state digest covers exactly what the jobs get', () => {
  it('a closed PR is not reopened by an edit of a policy that cannot win there, nor by a description', async () => {
    harness = await start(PULL_REQUESTS, 'organizations:\n  acme: org\n');
    await merge(harness, { 'attachments.yml': 'organizations:\n  acme: org\nrepositories:\n  acme/api: api\n' });
    const [pull] = harness.standin.pullRequests('acme/api');
    expect(pull?.state).toBe('open');
    await harness.standin.closePullRequest('acme/api', pull!.number);

    // The organization's policy cannot win for acme/api (its own attachment does); a full sync must not reopen.
    await merge(harness, { 'policies/org.yml': 'egress-policy: block\nallowed-endpoints:\n  - proxy.golang.org\n  - sum.golang.org\n' });
    await fullSync(harness);
    await merge(harness, { 'policies/base.yml': 'egress-policy: block\ndescription: the endpoints every job needs\nallowed-endpoints:\n  - github.com:443\n' });
    await fullSync(harness);
    expect(harness.standin.pullRequests('acme/api').filter((p) => p.state === 'open')).toHaveLength(0);
  }, 120_000);
});

describe('a sync PR closed by a person (pull_request.closed)', () => {
  async function deliverClosed(h: Harness, repository: string, number: number): Promise<number> {
    const delivered = await h.standin.deliverWebhook({ url: h.hookUrl, event: 'pull_request', action: 'closed', repository, pullRequest: number, sender: 'octocat' });
    await h.mount.app.idle();
    return delivered.status;
  }

  it('the row says pr-closed at once (report, /sync, metric); it stays closed until the desired state changes', async () => {
    harness = await start(PULL_REQUESTS, 'organizations: {}\n');
    await merge(harness, { 'attachments.yml': 'organizations:\n  acme: org\n' });
    const [pull] = harness.standin.pullRequests('acme/api');
    expect(pull?.state).toBe('open');
    expect((await rowOf(harness, 'acme/api'))?.status).toBe('pr-open');

    // A person's own pull request closed in the same repository changes nothing.
    await harness.standin.commitFiles('acme/api', { files: { 'README.md': 'hello\n' }, branch: 'docs' });
    const own = await harness.standin.openPullRequest('acme/api', { head: 'docs' });
    await harness.standin.closePullRequest('acme/api', own.number);
    expect(await deliverClosed(harness, 'acme/api', own.number)).toBe(200);
    expect((await rowOf(harness, 'acme/api'))?.status).toBe('pr-open');

    await harness.standin.closePullRequest('acme/api', pull!.number, { by: 'octocat' });
    expect(await deliverClosed(harness, 'acme/api', pull!.number)).toBe(200);
    const row = await rowOf(harness, 'acme/api');
    expect(row?.status).toBe('pr-closed');
    expect(row?.pr?.number).toBe(pull!.number);
    expect(row?.files).toEqual(['.github/workflows/ci.yml']);
    expect(row?.reasons.join('\n')).toMatch(new RegExp(`#${pull!.number} was closed without merging by octocat`));
    expect((await rowOf(harness, 'acme/web'))?.status).toBe('pr-open');
    const metrics = await (await fetch(`${harness.server.url}/metrics`)).text();
    expect(metrics).toContain('egressctl_sync_repositories{state="pr-closed"} 1');
    expect(metrics).toContain('egressctl_sync_repositories{state="pr-open"} 1');
    // The console's /sync page renders this same report (no console in this harness: rendered directly).
    const page = renderSync(await readSyncReport(harness.cacheDir), 'pr-closed').content.value;
    expect(page).toMatch(/data-repository="acme\/api" data-status="pr-closed">.*PR closed/);
    expect(page).not.toContain('data-repository="acme/web"');

    // A change that does not change what acme/api's jobs get: not reopened, still pr-closed.
    await merge(harness, { 'policies/base.yml': 'egress-policy: block\ndescription: the endpoints every job needs\nallowed-endpoints:\n  - github.com:443\n' });
    await merge(harness, { 'egressctl.yml': `${PULL_REQUESTS}# settings edited\n` });
    expect(harness.standin.pullRequests('acme/api').filter((p) => p.state === 'open')).toHaveLength(0);
    expect((await rowOf(harness, 'acme/api'))?.status).toBe('pr-closed');

    // The desired state changes: a new sync PR, and the row says so.
    await merge(harness, { 'policies/org.yml': 'egress-policy: block\nallowed-endpoints:\n  - proxy.golang.org\n  - sum.golang.org\n' });
    expect(harness.standin.pullRequests('acme/api').filter((p) => p.state === 'open')).toHaveLength(1);
    expect((await rowOf(harness, 'acme/api'))?.status).toBe('pr-open');
  }, 120_000);
});

describe('defect 5: variables delivery, a change of attachment with the same values', () => {
  it('detaching a repository policy whose values equal the organization\'s keeps its variable for the steps that read it, and opens the one PR that changes their chain (not a marker-only PR)', async () => {
    harness = await start(VARIABLES, 'organizations:\n  acme: api-copy\n');
    await mergedSyncPullRequest(harness, 'organizations:\n  acme: api-copy\nrepositories:\n  acme/api: api\n', 'acme/api');
    const step = await harness.standin.readFile('acme/api', '.github/workflows/ci.yml');
    // An attached repository reads its own variable, never the organization's name.
    expect(step).toContain('vars.EGRESSCTL_REPO_POLICY');
    expect(step).not.toContain('vars.EGRESSCTL_POLICY');

    await merge(harness, { 'attachments.yml': 'organizations:\n  acme: api-copy\n' });
    // The step on the default branch still falls back through EGRESSCTL_REPO_POLICY: it now holds the organization's policy.
    expect(JSON.parse(harness.standin.variables('repository', 'acme/api').get(REPOSITORY_POLICY_VARIABLE)!.value)).toMatchObject({ policy: 'api-copy' });
    const open = harness.standin.pullRequests('acme/api').filter((pull) => pull.state === 'open');
    expect(open).toHaveLength(1);
    // The PR changes the chain (it reads the organization's variable again), not only the marker.
    expect(await harness.standin.readFile('acme/api', '.github/workflows/ci.yml', open[0]!.head.ref)).toContain('vars.EGRESSCTL_POLICY');
    expect(harness.standin.requests.filter((request) => request.write && request.repository === 'acme/api').map((request) => request.operationId)).not.toContain('actions/delete-repo-variable');
  }, 120_000);
});
