/**
 * Sync on merge and the scheduled sync, end to end on the OpenAPI-checked stand-in: pushes to
 * the policy repository's default branch are delivered as signed webhooks to a real server, the
 * App publishes, then syncs exactly the repositories (or, with `delivery: variables`, the Actions
 * variables) whose effective policy changed (docs/reconciliation.md).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { POLICY_VARIABLE, REPOSITORY_POLICY_VARIABLE, workflowVariableName } from '../../src/policy/delivery.js';
import { loadPolicyRepository } from '../../src/store/repository.js';
import { tokenClient } from '../../src/github/client.js';
import { runSync } from '../../src/rollout/sync.js';
import { ROLLOUT_BRANCH, parseMarker } from '../../src/rollout/rollout-body.js';
import { SYNC_REPORT_FILE, type SyncReportFile } from '../../src/rollout/sync-report.js';
import { SIMPLE_WORKFLOW } from '../support/workflows.js';
import { manifestPermissions, POLICY_REPO, startHarness, type Harness } from '../support/app.js';

const POLICIES = {
  'policies/base.yml': 'egress-policy: block\nallowed-endpoints:\n  - github.com:443\n',
  'policies/api.yml': 'egress-policy: block\nextends: base\nallowed-endpoints:\n  - registry.npmjs.org\n',
  'policies/org.yml': 'egress-policy: block\nallowed-endpoints:\n  - proxy.golang.org\n',
};

let harness: Harness | undefined;

afterEach(async () => {
  const current = harness;
  harness = undefined;
  await current?.finish();
});

/** A harness whose policy repository starts with `attachments` and `settings`, first revision published. */
async function start(settings: string, attachments: string): Promise<Harness> {
  const h = await startHarness({ files: { 'egressctl.yml': settings, ...POLICIES, 'attachments.yml': attachments } });
  h.standin.createInstallation({ account: 'other', permissions: await manifestPermissions() });
  for (const name of ['acme/api', 'acme/web', 'acme/docs', 'other/svc']) {
    await h.standin.createRepository(name, { files: { '.github/workflows/ci.yml': SIMPLE_WORKFLOW, '.github/workflows/release.yml': SIMPLE_WORKFLOW } });
  }
  await push(h, (await h.standin.refSha(POLICY_REPO, 'main'))!);
  return h;
}

async function push(h: Harness, after: string): Promise<void> {
  const delivered = await h.standin.deliverWebhook({ url: h.hookUrl, event: 'push', repository: POLICY_REPO, after });
  // 202: the server answered before the handler finished (long syncs); idle() waits for it.
  expect([200, 202]).toContain(delivered.status);
  await h.mount.app.idle();
  expect(await h.servedRevision()).toBe(after);
}

/** Commit to the policy repository's default branch (a merged PR) and deliver the push. */
async function merge(h: Harness, files: Record<string, string | null>): Promise<void> {
  h.standin.resetStats();
  const sha = await h.standin.commitFiles(POLICY_REPO, { files });
  await push(h, sha);
}

/** Requests made to a repository other than the policy repository. */
function requestsTo(h: Harness, repository: string) {
  return h.standin.requests.filter((request) => request.kind === 'api' && request.repository?.toLowerCase() === repository);
}

function writes(h: Harness) {
  return h.standin.requests.filter((request) => request.write && request.operationId !== 'apps/create-installation-access-token' && request.operationId !== 'checks/create' && request.operationId !== 'checks/update');
}

const SKIP = 'organizations: [acme, other]\nunattached: skip\n';

describe('sync on merge (delivery: pull-request)', () => {
  it('attaching a block policy to one repository opens a PR there only, with the policy\'s endpoints', async () => {
    harness = await start(SKIP, 'organizations: {}\n');
    await merge(harness, { 'attachments.yml': 'repositories:\n  acme/api: api\n' });

    const pulls = harness.standin.pullRequests('acme/api');
    expect(pulls).toHaveLength(1);
    expect(pulls[0]!.head.ref).toBe(ROLLOUT_BRANCH);
    const file = (await harness.standin.readFile('acme/api', '.github/workflows/ci.yml', ROLLOUT_BRANCH))!;
    expect(file).toContain('egress-policy: block');
    expect(file).toContain('registry.npmjs.org:443');
    expect(file).toContain('github.com:443');
    expect(pulls[0]!.body).toContain('policy `api`');
    for (const other of ['acme/web', 'acme/docs', 'other/svc']) {
      expect(harness.standin.pullRequests(other)).toHaveLength(0);
      expect(requestsTo(harness, other)).toHaveLength(0);
    }
    const report = JSON.parse(await readFile(path.join(harness.cacheDir, SYNC_REPORT_FILE), 'utf8')) as SyncReportFile;
    expect(report.organizations['acme']!.repositories).toEqual([expect.objectContaining({ repository: 'acme/api', status: 'pr-open', pr: expect.objectContaining({ number: 1 }) })]);
  }, 90_000);

  it('a second merge changing that policy updates the same PR', async () => {
    harness = await start(SKIP, 'repositories:\n  acme/api: api\n');
    await merge(harness, { 'attachments.yml': 'repositories:\n  acme/api: api\n  acme/web: base\n' });
    expect(harness.standin.pullRequests('acme/web')).toHaveLength(1);
    // The first publish syncs nothing (no previous revision): acme/api has no PR yet; attach-time PRs come from the web change.
    await merge(harness, { 'policies/base.yml': 'egress-policy: block\nallowed-endpoints:\n  - github.com:443\n  - ghcr.io\n' });
    const pulls = harness.standin.pullRequests('acme/web');
    expect(pulls).toHaveLength(1);
    expect(pulls[0]!.state).toBe('open');
    const file = (await harness.standin.readFile('acme/web', '.github/workflows/ci.yml', ROLLOUT_BRANCH))!;
    expect(file).toContain('ghcr.io:443');
    expect(requestsTo(harness, 'acme/web').some((request) => request.operationId === 'pulls/update')).toBe(true);
    expect(requestsTo(harness, 'acme/web').some((request) => request.operationId === 'pulls/create')).toBe(false);
  }, 90_000);

  it('an organization-level change touches every repository of that organization and none of another', async () => {
    harness = await start(SKIP, 'organizations: {}\n');
    await merge(harness, { 'attachments.yml': 'organizations:\n  acme: org\n' });
    for (const name of ['acme/api', 'acme/web', 'acme/docs']) {
      expect(harness.standin.pullRequests(name)).toHaveLength(1);
      expect(await harness.standin.readFile(name, '.github/workflows/ci.yml', ROLLOUT_BRANCH)).toContain('proxy.golang.org:443');
    }
    expect(harness.standin.pullRequests('other/svc')).toHaveLength(0);
    expect(requestsTo(harness, 'other/svc')).toHaveLength(0);
  }, 90_000);

  it('a re-run with nothing new writes nothing', async () => {
    harness = await start(SKIP, 'organizations: {}\n');
    await merge(harness, { 'attachments.yml': 'repositories:\n  acme/api: api\n' });
    expect(harness.standin.pullRequests('acme/api')).toHaveLength(1);
    // A merge that changes no effective policy (a description) syncs nothing and costs nothing outside the policy repository.
    await merge(harness, { 'policies/org.yml': 'egress-policy: block\ndescription: unused\nallowed-endpoints:\n  - proxy.golang.org\n' });
    expect(writes(harness).filter((request) => request.repository !== POLICY_REPO)).toEqual([]);
    // A full sync over every repository of acme at the same revision (what the scheduled pass runs): nothing is written.
    harness.standin.resetStats();
    const policy = await loadPolicyRepository({ dir: harness.standin.repository(POLICY_REPO).dir, rev: 'main' });
    const client = tokenClient(harness.standin.createInstallationToken(harness.installationId), { baseUrl: harness.standin.url, writeSpacingMs: 0 });
    const result = await runSync({ client, organization: 'acme', policy: policy.value, listing: 'installation' });
    expect(result.report.repositories.map((entry) => [entry.repository, entry.status])).toEqual([
      ['acme/api', 'pr-open'],
      ['acme/docs', 'synced'],
      ['acme/egress-policies', 'synced'],
      ['acme/web', 'synced'],
    ]);
    expect(harness.standin.stats().writes).toBe(0);
  }, 90_000);

  it('moving an exception\'s end date into the past syncs now; moving one still ahead writes nothing', async () => {
    const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
    const api = (expires: string) => `egress-policy: block\nextends: base\nallowed-endpoints:\n  - registry.npmjs.org\n  - endpoint: uploads.example.com\n    reason: release upload\n    expires: ${expires}\n`;
    harness = await start(SKIP, 'organizations: {}\n');
    await merge(harness, { 'policies/api.yml': api(day(30)), 'attachments.yml': 'repositories:\n  acme/api: api\n' });
    expect(await harness.standin.readFile('acme/api', '.github/workflows/ci.yml', ROLLOUT_BRANCH)).toContain('uploads.example.com:443');

    // A date still ahead: the steps get the same endpoints today, so nothing is asked of acme/api.
    await merge(harness, { 'policies/api.yml': api(day(10)) });
    expect(requestsTo(harness, 'acme/api')).toHaveLength(0);

    // A date in the past: the exception no longer counts, and the PR drops it at once.
    await merge(harness, { 'policies/api.yml': api(day(-1)) });
    const file = (await harness.standin.readFile('acme/api', '.github/workflows/ci.yml', ROLLOUT_BRANCH))!;
    expect(file).not.toContain('uploads.example.com');
    expect(file).toContain('registry.npmjs.org:443');
    expect(harness.standin.pullRequests('acme/api')).toHaveLength(1);
  }, 90_000);

  it('a closed PR is not reopened for the same desired state', async () => {
    harness = await start(SKIP, 'organizations: {}\n');
    await merge(harness, { 'attachments.yml': 'repositories:\n  acme/api: api\n' });
    const [pull] = harness.standin.pullRequests('acme/api');
    const desired = parseMarker(pull!.body)?.desired;
    expect(desired).toMatch(/^[0-9a-f]{32}$/);
    await harness.standin.closePullRequest('acme/api', pull!.number);

    // Same desired state for acme/api (another repository changes): acme/api is not touched.
    await merge(harness, { 'attachments.yml': 'repositories:\n  acme/api: api\n  acme/web: base\n' });
    expect(harness.standin.pullRequests('acme/api')).toHaveLength(1);
    expect(harness.standin.pullRequests('acme/api')[0]!.state).toBe('closed');

    // A change of acme/api's policy is a new desired state: a new PR.
    await merge(harness, { 'policies/api.yml': 'egress-policy: block\nextends: base\nallowed-endpoints:\n  - registry.npmjs.org\n  - pypi.org\n' });
    const pulls = harness.standin.pullRequests('acme/api');
    expect(pulls.filter((p) => p.state === 'open')).toHaveLength(1);
    expect(parseMarker(pulls.find((p) => p.state === 'open')!.body)?.desired).not.toBe(desired);
  }, 90_000);
});

describe('sync on merge (delivery: variables)', () => {
  const VARIABLES = 'organizations: [acme, other]\nunattached: skip\ndelivery: variables\n';

  it('a change to an organization policy writes one organization variable and opens no PR', async () => {
    harness = await start(VARIABLES, 'organizations:\n  acme: org\n');
    await merge(harness, { 'policies/org.yml': 'egress-policy: block\nallowed-endpoints:\n  - proxy.golang.org\n  - sum.golang.org\n' });
    const written = writes(harness).filter((request) => request.repository !== POLICY_REPO);
    expect(written.map((request) => request.operationId)).toEqual(['actions/update-org-variable', 'actions/create-org-variable']);
    const variable = harness.standin.variables('organization', 'acme').get(POLICY_VARIABLE)!;
    expect(JSON.parse(variable.value)).toMatchObject({ 'egress-policy': 'block', 'allowed-endpoints': 'proxy.golang.org:443 sum.golang.org:443', policy: 'org' });
    expect(variable.visibility).toBe('all');
    expect(harness.standin.pullRequests().filter((pull) => pull.repository !== POLICY_REPO)).toHaveLength(0);
    // Once it exists, the next change is exactly one write.
    await merge(harness, { 'policies/org.yml': 'egress-policy: block\nallowed-endpoints:\n  - proxy.golang.org\n' });
    expect(writes(harness).filter((request) => request.repository !== POLICY_REPO).map((request) => request.operationId)).toEqual(['actions/update-org-variable']);
    expect(harness.standin.variables('organization', 'other').size).toBe(0);
  }, 90_000);

  it('a repository attachment writes one repository variable, and installs the managed step once where it is missing', async () => {
    harness = await start(VARIABLES, 'organizations: {}\n');
    harness.standin.setVariable('repository', 'acme/api', REPOSITORY_POLICY_VARIABLE, 'stale');
    await merge(harness, { 'attachments.yml': 'repositories:\n  acme/api: api\n' });
    const operations = writes(harness).filter((request) => request.repository !== POLICY_REPO).map((request) => request.operationId);
    expect(operations[0]).toBe('actions/update-repo-variable');
    expect(operations).toContain('pulls/create');
    expect(writes(harness).filter((request) => request.repository !== POLICY_REPO && request.repository !== 'acme/api')).toEqual([]);
    expect(JSON.parse(harness.standin.variables('repository', 'acme/api').get(REPOSITORY_POLICY_VARIABLE)!.value)).toMatchObject({ policy: 'api', 'allowed-endpoints': 'github.com:443 registry.npmjs.org:443' });
    // acme/api had no managed step: the one-time PR installs one that reads the variables.
    const [pull] = harness.standin.pullRequests('acme/api');
    expect(pull).toBeDefined();
    const installed = await harness.standin.readFile('acme/api', '.github/workflows/ci.yml', pull!.head.ref);
    expect(installed).toContain('vars.EGRESSCTL_REPO_POLICY');
    expect(installed).not.toContain('vars.EGRESSCTL_POLICY');
    await harness.standin.mergePullRequest('acme/api', pull!.number);

    // Now the step is there: the next change of acme/api's policy is the variable write and two reads.
    await merge(harness, { 'policies/api.yml': 'egress-policy: block\nextends: base\nallowed-endpoints:\n  - registry.npmjs.org\n  - pypi.org\n' });
    expect(writes(harness).filter((request) => request.repository !== POLICY_REPO).map((request) => request.operationId)).toEqual(['actions/update-repo-variable']);
    expect(harness.standin.pullRequests('acme/api').filter((pr) => pr.state === 'open')).toHaveLength(0);
  }, 90_000);

  it('a workflow attachment writes that workflow\'s variable', async () => {
    harness = await start(VARIABLES, 'organizations: {}\n');
    await merge(harness, { 'attachments.yml': 'workflows:\n  acme/api/.github/workflows/release.yml: base\n' });
    const name = workflowVariableName('release.yml');
    expect(name).toBe('EGRESSCTL_WF_RELEASE_YML');
    const variables = harness.standin.variables('repository', 'acme/api');
    expect([...variables.keys()]).toEqual([name]);
    expect(JSON.parse(variables.get(name)!.value)).toMatchObject({ policy: 'base', 'allowed-endpoints': 'github.com:443' });
  }, 90_000);

  it('a deleted attachment removes its variable', async () => {
    harness = await start(VARIABLES, 'repositories:\n  acme/api: api\n  acme/web: base\n');
    // The first publish writes nothing (no previous revision); the scheduled pass would. Put them there as a previous sync did.
    await merge(harness, { 'attachments.yml': 'repositories:\n  acme/api: api\n  acme/web: org\n' });
    expect(harness.standin.variables('repository', 'acme/web').has(REPOSITORY_POLICY_VARIABLE)).toBe(true);
    await merge(harness, { 'attachments.yml': 'repositories:\n  acme/api: api\n' });
    expect(writes(harness).filter((request) => request.repository !== POLICY_REPO).map((request) => request.operationId)).toEqual(['actions/delete-repo-variable']);
    expect(harness.standin.variables('repository', 'acme/web').has(REPOSITORY_POLICY_VARIABLE)).toBe(false);
  }, 90_000);

  it('switching to variables removes a variable of ours the store does not own before steps read it', async () => {
    harness = await start(SKIP, 'repositories:\n  acme/api: api\n');
    // Left from an earlier period of variables delivery: the steps' chain reads it before EGRESSCTL_POLICY.
    const stale = workflowVariableName('.github/workflows/ci.yml');
    harness.standin.setVariable('repository', 'acme/api', stale, '{"egress-policy":"audit"}');
    await merge(harness, { 'egressctl.yml': VARIABLES });
    expect(harness.standin.variables('repository', 'acme/api').has(REPOSITORY_POLICY_VARIABLE)).toBe(true);
    expect(harness.standin.variables('repository', 'acme/api').has(stale)).toBe(false);
  }, 90_000);
});
