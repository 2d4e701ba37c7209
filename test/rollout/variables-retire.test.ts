/**
 * Variables a managed step still reads are never taken away from under it (docs/reconciliation.md,
 * "Variables: writes, removal, drift"), against the GitHub stand-in. Each step is evaluated with
 * GitHub's expression engine with the variables GitHub would resolve for the run (a repository
 * variable over the organization's of the same name), with one of them missing, and for a fork's
 * pull request (no variables at all):
 * - a repository attachment's variable moves to its own name (EGRESSCTL_REPO_POLICY), and the old
 *   repository-level EGRESSCTL_POLICY is kept until no step of the repository reads it;
 * - a removed workflow attachment's variable is set to the workflow's new effective policy while
 *   a step still falls back through it, and removed once none does.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { tokenClient, type GitHubClient } from '../../src/github/client.js';
import { planOrganizations } from '../../src/app/sync-on-merge.js';
import { affectedScopes } from '../../src/rollout/sync-plan.js';
import { runSync, syncRepository, type SyncResult } from '../../src/rollout/sync.js';
import type { PolicyRepository } from '../../src/store/repository.js';
import { prepareReviewInput, reviewChange } from '../../src/review/review.js';
import { startGitHubStandin, type GitHubStandin } from '../support/github/index.js';
import { evaluateInput } from '../support/expressions.js';
import { repositoryFromFiles } from '../support/review.js';
import { SIMPLE_WORKFLOW } from '../support/workflows.js';

const PERMISSIONS = { metadata: 'read', contents: 'write', pull_requests: 'write', workflows: 'write', actions_variables: 'write', organization_actions_variables: 'write' } as const;
const POLICIES = {
  'egressctl.yml': 'organizations: [acme]\ndelivery: variables\n',
  'policies/org-audit.yml': 'egress-policy: audit\n',
  'policies/org-block.yml': 'egress-policy: block\nallowed-endpoints:\n  - github.com:443\n',
  'policies/api-block.yml': 'egress-policy: block\nallowed-endpoints:\n  - registry.npmjs.org:443\n',
  'policies/release-audit.yml': 'egress-policy: audit\n',
};

function store(attachments: string): PolicyRepository {
  const files: Record<string, string> = { ...POLICIES, 'attachments.yml': attachments };
  return repositoryFromFiles(files);
}

let standin: GitHubStandin;
let client: GitHubClient;

beforeEach(async () => {
  standin = await startGitHubStandin();
  const installation = standin.createInstallation({ account: 'acme', permissions: { ...PERMISSIONS } });
  await standin.createRepository('acme/api', { files: { '.github/workflows/ci.yml': SIMPLE_WORKFLOW, '.github/workflows/release.yml': SIMPLE_WORKFLOW.replace('name: CI', 'name: Release') } });
  client = tokenClient(standin.createInstallationToken(installation.id), { baseUrl: standin.url, writeSpacingMs: 0, notificationSpacingMs: 0 });
});

afterEach(async () => {
  await standin.finish();
});

/** `vars` as GitHub resolves it for a run of acme/api: the organization's, then the repository's over them. */
function liveVars(without: string[] = []): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const [name, record] of standin.variables('organization', 'acme')) vars[name] = record.value;
  for (const [name, record] of standin.variables('repository', 'acme/api')) vars[name] = record.value;
  for (const name of without) delete vars[name];
  return vars;
}

/** What Harden-Runner in job `test` of a workflow text receives, on Linux, GitHub-hosted. */
function stepGets(text: string | undefined, vars: Record<string, string> | undefined): { mode: string; endpoints: string } {
  const inputs = (parse(text ?? '') as { jobs: { test: { steps: Array<{ with?: Record<string, string> }> } } }).jobs.test.steps[0]?.with ?? {};
  const contexts = { runner: { os: 'Linux', environment: 'github-hosted' }, ...(vars ? { vars } : {}) };
  return { mode: evaluateInput(String(inputs['egress-policy']), contexts), endpoints: evaluateInput(String(inputs['allowed-endpoints']), contexts) };
}

const onDefault = (file: string) => standin.readFile('acme/api', `.github/workflows/${file}`);
const onSyncBranch = (file: string) => standin.readFile('acme/api', `.github/workflows/${file}`, 'egressctl/harden-runner');

async function syncAndMerge(policy: PolicyRepository): Promise<SyncResult> {
  const result = await runSync({ client, organization: 'acme', policy, listing: 'organization' });
  const open = standin.pullRequests('acme/api').find((pull) => pull.state === 'open');
  if (open) await standin.mergePullRequest('acme/api', open.number);
  return result;
}

function entry(result: SyncResult, level: 'organization' | 'repository', name: string) {
  return result.report.variables.find((variable) => variable.level === level && variable.name === name);
}

const API_BLOCK = { mode: 'block', endpoints: 'registry.npmjs.org:443' };
const ORG_BLOCK = { mode: 'block', endpoints: 'github.com:443' };

describe('a repository attachment reads its own variable, EGRESSCTL_REPO_POLICY', () => {
  const attached = () => store('organizations:\n  acme: org-audit\nrepositories:\n  acme/api: api-block\n');

  it('is written and read; with it deleted the steps fall to their literal, not to the organization variable', async () => {
    await syncAndMerge(attached());
    expect(standin.variables('repository', 'acme/api').get('EGRESSCTL_REPO_POLICY')?.value).toContain('"policy":"api-block"');
    expect(standin.variables('repository', 'acme/api').has('EGRESSCTL_POLICY')).toBe(false);
    const ci = await onDefault('ci.yml');
    expect(stepGets(ci, liveVars())).toEqual(API_BLOCK);
    expect(stepGets(ci, liveVars(['EGRESSCTL_REPO_POLICY']))).toEqual(API_BLOCK);
    expect(liveVars(['EGRESSCTL_REPO_POLICY'])['EGRESSCTL_POLICY']).toContain('"egress-policy":"audit"');
    expect(stepGets(ci, undefined)).toEqual(API_BLOCK);
  });

  it('migrates steps that read the repository-level EGRESSCTL_POLICY: it is kept until no step reads it, then removed', async () => {
    await syncAndMerge(attached());
    // The state an earlier egressctl left: steps read EGRESSCTL_POLICY, the repository holds it.
    const value = standin.variables('repository', 'acme/api').get('EGRESSCTL_REPO_POLICY')?.value ?? '';
    const old = (text: string | undefined) => (text ?? '').replaceAll('vars.EGRESSCTL_REPO_POLICY', 'vars.EGRESSCTL_POLICY');
    await standin.commitFiles('acme/api', { files: { '.github/workflows/ci.yml': old(await onDefault('ci.yml')), '.github/workflows/release.yml': old(await onDefault('release.yml')) }, message: 'older egressctl' });
    standin.variables('repository', 'acme/api').delete('EGRESSCTL_REPO_POLICY');
    standin.setVariable('repository', 'acme/api', 'EGRESSCTL_POLICY', value);

    const first = await runSync({ client, organization: 'acme', policy: attached(), listing: 'organization' });
    // The step on the default branch still reads EGRESSCTL_POLICY: the repository's must stay, or the organization's (audit) applies.
    expect(stepGets(await onDefault('ci.yml'), liveVars())).toEqual(API_BLOCK);
    expect(entry(first, 'repository', 'EGRESSCTL_POLICY')).toMatchObject({ status: 'retained', value });
    expect(entry(first, 'repository', 'EGRESSCTL_POLICY')?.reason).toContain('.github/workflows/ci.yml');
    expect(entry(first, 'repository', 'EGRESSCTL_REPO_POLICY')).toMatchObject({ status: 'written' });
    // The sync PR switches the steps to EGRESSCTL_REPO_POLICY, written and read back before.
    const proposed = await onSyncBranch('ci.yml');
    expect(proposed).toContain('vars.EGRESSCTL_REPO_POLICY');
    expect(proposed).not.toContain('vars.EGRESSCTL_POLICY');
    expect(stepGets(proposed, liveVars())).toEqual(API_BLOCK);
    expect(stepGets(proposed, liveVars(['EGRESSCTL_REPO_POLICY']))).toEqual(API_BLOCK);

    // A second scheduled pass before the merge keeps it too.
    const again = await runSync({ client, organization: 'acme', policy: attached(), listing: 'organization' });
    expect(entry(again, 'repository', 'EGRESSCTL_POLICY')?.status).toBe('retained');
    expect(standin.variables('repository', 'acme/api').has('EGRESSCTL_POLICY')).toBe(true);

    const open = standin.pullRequests('acme/api').find((pull) => pull.state === 'open');
    await standin.mergePullRequest('acme/api', open!.number);
    const after = await runSync({ client, organization: 'acme', policy: attached(), listing: 'organization' });
    expect(entry(after, 'repository', 'EGRESSCTL_POLICY')).toMatchObject({ status: 'deleted' });
    expect(entry(after, 'repository', 'EGRESSCTL_POLICY')?.reason).toContain('no managed step');
    expect(standin.variables('repository', 'acme/api').has('EGRESSCTL_POLICY')).toBe(false);
    for (const file of ['ci.yml', 'release.yml']) {
      const text = await onDefault(file);
      expect(stepGets(text, liveVars()), file).toEqual(API_BLOCK);
      expect(stepGets(text, undefined), file).toEqual(API_BLOCK);
    }
  });
});

describe('removing a workflow attachment', () => {
  const withWorkflow = () => store('organizations:\n  acme: org-block\nworkflows:\n  acme/api/.github/workflows/release.yml: release-audit\n');
  const without = () => store('organizations:\n  acme: org-block\n');

  it("after the merge: the workflow variable holds the workflow's new policy while its steps fall back through it, and is removed once none does", async () => {
    await syncAndMerge(withWorkflow());
    expect(stepGets(await onDefault('release.yml'), liveVars())).toEqual({ mode: 'audit', endpoints: '' });
    const before = withWorkflow();
    const after = without();
    // What the App does after the merge (src/app/sync-work.ts): the plan names acme/api, whose repository unit syncs it.
    const affected = affectedScopes(reviewChange(prepareReviewInput(before), prepareReviewInput(after)).scopes);
    expect(planOrganizations(before, after, affected)).toEqual([{ organization: 'acme', repositories: ['acme/api'] }]);
    const merged = await syncRepository({ client, organization: 'acme', policy: after, target: { owner: 'acme', name: 'api' } });

    // The step on the default branch reads only EGRESSCTL_WF_RELEASE_YML, then the literal of release-audit.
    const variable = standin.variables('repository', 'acme/api').get('EGRESSCTL_WF_RELEASE_YML');
    expect(variable?.value).toContain('"policy":"org-block"');
    expect(stepGets(await onDefault('release.yml'), liveVars())).toEqual(ORG_BLOCK);
    expect(entry(merged, 'repository', 'EGRESSCTL_WF_RELEASE_YML')).toMatchObject({ status: 'retained', policy: 'org-block' });
    expect(entry(merged, 'repository', 'EGRESSCTL_WF_RELEASE_YML')?.reason).toContain('org-block');
    // The sync PR rewrites the step to read the broader variables.
    const proposed = await onSyncBranch('release.yml');
    expect(stepGets(proposed, liveVars())).toEqual(ORG_BLOCK);
    expect(stepGets(proposed, liveVars(['EGRESSCTL_WF_RELEASE_YML']))).toEqual(ORG_BLOCK);
    expect(stepGets(proposed, undefined)).toEqual(ORG_BLOCK);

    // The scheduled pass before the PR merges keeps it; after, it removes it.
    const scheduled = await runSync({ client, organization: 'acme', policy: without(), listing: 'organization' });
    expect(entry(scheduled, 'repository', 'EGRESSCTL_WF_RELEASE_YML')?.status).toBe('retained');
    expect(stepGets(await onDefault('release.yml'), liveVars())).toEqual(ORG_BLOCK);
    const open = standin.pullRequests('acme/api').find((pull) => pull.state === 'open');
    await standin.mergePullRequest('acme/api', open!.number);
    const later = await runSync({ client, organization: 'acme', policy: without(), listing: 'organization' });
    expect(entry(later, 'repository', 'EGRESSCTL_WF_RELEASE_YML')).toMatchObject({ status: 'deleted' });
    expect(standin.variables('repository', 'acme/api').has('EGRESSCTL_WF_RELEASE_YML')).toBe(false);
    expect(stepGets(await onDefault('release.yml'), liveVars())).toEqual(ORG_BLOCK);
    expect(stepGets(await onDefault('release.yml'), undefined)).toEqual(ORG_BLOCK);
  });

  it('seen first by the scheduled pass (no merge-time sync): the same', async () => {
    await syncAndMerge(withWorkflow());
    const scheduled = await runSync({ client, organization: 'acme', policy: without(), listing: 'organization' });
    expect(entry(scheduled, 'repository', 'EGRESSCTL_WF_RELEASE_YML')).toMatchObject({ status: 'retained', policy: 'org-block' });
    expect(stepGets(await onDefault('release.yml'), liveVars())).toEqual(ORG_BLOCK);
  });

  it('a workflow that falls back to nothing attached: the variable is removed at once (the old literal gives more than the store asks)', async () => {
    const onlyWorkflow = store('workflows:\n  acme/api/.github/workflows/release.yml: org-block\n');
    await syncAndMerge(onlyWorkflow);
    const result = await runSync({ client, organization: 'acme', policy: store('{}\n'), listing: 'organization' });
    expect(entry(result, 'repository', 'EGRESSCTL_WF_RELEASE_YML')?.status).toBe('deleted');
    expect(stepGets(await onDefault('release.yml'), liveVars())).toEqual(ORG_BLOCK);
  });
});
