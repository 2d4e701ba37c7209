/**
 * Coverage says what each job gets from the Actions variables that exist, including those sync
 * keeps with status `retained` during a migration (docs/architecture.md#coverage; docs/reconciliation.md,
 * "Variables: writes, removal, drift"), against the GitHub stand-in: in the coverage a sync records
 * (the CLI's full sync, its dry run, the App's repository unit; the console's /coverage page shows
 * it) and in `egressctl coverage --org`, which reads the variables from GitHub. Where the answer depends on a variable no attachment owns
 * it says so, and a job that gets less than the store through one is a failure (exit 1).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tokenClient, type GitHubClient } from '../../src/github/client.js';
import type { JobCoverage } from '../../src/coverage/model.js';
import { runSync, syncRepository, type SyncResult } from '../../src/rollout/sync.js';
import type { PolicyRepository } from '../../src/store/repository.js';
import { renderCoverage } from '../../src/server/console/render-coverage.js';
import { runCli } from '../support/cli.js';
import { startGitHubStandin, type GitHubStandin } from '../support/github/index.js';
import { olderChains as olderChainsOf } from '../support/older-chains.js';
import { makeTempRepo, type TempRepo } from '../support/policy-repo.js';
import { repositoryFromFiles } from '../support/review.js';
import { SIMPLE_WORKFLOW } from '../support/workflows.js';

const PERMISSIONS = { metadata: 'read', contents: 'write', pull_requests: 'write', workflows: 'write', actions_variables: 'write', organization_actions_variables: 'write' } as const;
const POLICIES = {
  'egressctl.yml': 'organizations: [acme]\ndelivery: variables\n',
  'policies/org-audit.yml': 'egress-policy: audit\n',
  'policies/org-block.yml': 'egress-policy: block\nallowed-endpoints:\n  - github.com:443\n',
  'policies/api-block.yml': 'egress-policy: block\nallowed-endpoints:\n  - github.com:443\n  - registry.npmjs.org:443\n',
  'policies/api-audit.yml': 'egress-policy: audit\n',
  'policies/release-audit.yml': 'egress-policy: audit\n',
  'policies/release-block.yml': 'egress-policy: block\nallowed-endpoints:\n  - github.com:443\n  - fulcio.sigstore.dev:443\n',
};

const files = (attachments: string): Record<string, string> => ({ ...POLICIES, 'attachments.yml': attachments });
const store = (attachments: string): PolicyRepository => repositoryFromFiles(files(attachments));

let standin: GitHubStandin;
let client: GitHubClient;
let token: string;
const temps: TempRepo[] = [];

beforeEach(async () => {
  standin = await startGitHubStandin();
  const installation = standin.createInstallation({ account: 'acme', permissions: { ...PERMISSIONS } });
  await standin.createRepository('acme/api', { files: { '.github/workflows/ci.yml': SIMPLE_WORKFLOW, '.github/workflows/release.yml': SIMPLE_WORKFLOW.replace('name: CI', 'name: Release') } });
  token = standin.createInstallationToken(installation.id);
  client = tokenClient(token, { baseUrl: standin.url, writeSpacingMs: 0, notificationSpacingMs: 0 });
});

afterEach(async () => {
  for (const temp of temps.splice(0)) temp.cleanup();
  await standin.finish();
});

async function mergeOpen(): Promise<void> {
  const open = standin.pullRequests('acme/api').find((pull) => pull.state === 'open');
  if (open) await standin.mergePullRequest('acme/api', open.number);
}

async function syncAndMerge(policy: PolicyRepository): Promise<SyncResult> {
  const result = await runSync({ client, organization: 'acme', policy, listing: 'organization' });
  await mergeOpen();
  return result;
}

function covered(result: SyncResult, file: string): JobCoverage {
  const job = result.report.coverage?.['acme/api']?.jobs.find((row) => row.file === `.github/workflows/${file}`);
  expect(job, `coverage of ${file}`).toBeDefined();
  return job!;
}

/** The workflows as an egressctl before EGRESSCTL_REPO_POLICY left them: every chain reads the repository-level EGRESSCTL_POLICY. */
const olderChains = () => olderChainsOf(standin, 'acme/api', ['ci.yml', 'release.yml']);

interface CoverageJson {
  jobs: (JobCoverage & { failure?: string })[];
  failures: { repository: string; file: string; job: string; failure: string }[];
  errors: unknown[];
}

async function coverageFromGitHub(attachments: string): Promise<{ code: number; report: CoverageJson; stderr: string }> {
  const policy = makeTempRepo(files(attachments));
  temps.push(policy);
  const run = await runCli(['coverage', '--org', 'acme', '-C', policy.dir, '--json'], { env: { GITHUB_TOKEN: token, GITHUB_API_URL: standin.url } });
  return { code: run.code, report: JSON.parse(run.stdout) as CoverageJson, stderr: run.stderr };
}

const row = (report: CoverageJson, file: string) => report.jobs.find((job) => job.repository === 'acme/api' && job.file === `.github/workflows/${file}`);

describe('the repository-level EGRESSCTL_POLICY kept during the move to EGRESSCTL_REPO_POLICY', () => {
  const attachments = 'organizations:\n  acme: org-audit\nrepositories:\n  acme/api: api-block\n';

  it('the sync records block through the retained variable, not the organization audit the steps would get without it', async () => {
    await syncAndMerge(store(attachments));
    await olderChains();
    const result = await runSync({ client, organization: 'acme', policy: store(attachments), listing: 'organization' });
    expect(result.report.variables.find((entry) => entry.level === 'repository' && entry.name === 'EGRESSCTL_POLICY')?.status).toBe('retained');
    const job = covered(result, 'ci.yml');
    expect(job).toMatchObject({ mode: 'block', enforcedBy: ['harden-runner (variables)'], policy: 'api-block' });
    expect(job.reason).toContain('block via retained EGRESSCTL_POLICY (repository variable of acme/api, holding policy api-block), pending removal');
    expect(job.failure).toBeUndefined();
    // Without it `vars.EGRESSCTL_POLICY` would give the organization's audit policy.
    expect(job.targets[0]?.dependsOn).toEqual([{ name: 'EGRESSCTL_POLICY', level: 'repository', target: 'acme/api', status: 'retained', policy: 'api-block', shadows: expect.stringContaining('"policy":"org-audit"') }]);
    expect(job.reason).toContain('without it the step would get audit');

    // Read from GitHub: the same answer.
    const read = await coverageFromGitHub(attachments);
    expect(read.code).toBe(0);
    expect(row(read.report, 'ci.yml')).toMatchObject({ mode: 'block', policy: 'api-block' });
    expect(row(read.report, 'ci.yml')?.reason).toContain('block via retained EGRESSCTL_POLICY');
    expect(read.report.failures).toEqual([]);

    // Variables that cannot be read are counted as the store writes them, said on the rows, and fail the run (once for the organization).
    standin.failNextRequests({ count: 1, status: 403, message: 'Resource not accessible by integration', match: (request) => request.operationId === 'actions/list-org-variables' });
    const unread = await coverageFromGitHub(attachments);
    expect(unread.code).toBe(1);
    expect(unread.report.errors).toEqual([{ repository: 'acme', message: expect.stringContaining('the organization variables of acme could not be read') }]);
    expect(row(unread.report, 'ci.yml')).toMatchObject({ mode: 'block' });
    expect(row(unread.report, 'ci.yml')?.reason).toContain('Actions variables not known (the organization variables of acme could not be read');

    // Once the sync PR merged and the next sync removed it, nothing depends on it any more.
    await mergeOpen();
    const after = await runSync({ client, organization: 'acme', policy: store(attachments), listing: 'organization' });
    expect(after.report.variables.find((entry) => entry.level === 'repository' && entry.name === 'EGRESSCTL_POLICY')?.status).toBe('deleted');
    expect(covered(after, 'ci.yml')).toMatchObject({ mode: 'block', reason: null });
    expect(covered(after, 'ci.yml').targets[0]?.dependsOn).toBeUndefined();
  });
});

describe("a removed workflow attachment's variable, kept at the workflow's new policy", () => {
  const withWorkflow = 'organizations:\n  acme: org-block\nworkflows:\n  acme/api/.github/workflows/release.yml: release-audit\n';
  const without = 'organizations:\n  acme: org-block\n';

  it("the App's repository unit, the scheduled sync and coverage --org say block through the retained EGRESSCTL_WF_RELEASE_YML", async () => {
    await syncAndMerge(store(withWorkflow));
    const unit = await syncRepository({ client, organization: 'acme', policy: store(without), target: { owner: 'acme', name: 'api' } });
    expect(unit.report.variables.find((entry) => entry.name === 'EGRESSCTL_WF_RELEASE_YML')?.status).toBe('retained');
    // The step on the default branch reads EGRESSCTL_WF_RELEASE_YML, then the literal of release-audit: the variable decides.
    for (const result of [unit, await runSync({ client, organization: 'acme', policy: store(without), listing: 'organization' })]) {
      const job = covered(result, 'release.yml');
      expect(job).toMatchObject({ mode: 'block', policy: 'org-block' });
      expect(job.reason).toContain('block via retained EGRESSCTL_WF_RELEASE_YML (repository variable of acme/api, holding policy org-block), pending removal');
      expect(job.failure).toBeUndefined();
    }
    const read = await coverageFromGitHub(without);
    expect(read.code).toBe(0);
    expect(row(read.report, 'release.yml')).toMatchObject({ mode: 'block' });
    expect(row(read.report, 'release.yml')?.reason).toContain('block via retained EGRESSCTL_WF_RELEASE_YML');
  });
});

describe('a job that gets less than the store through a retained variable is a failure', () => {
  // ci.yml gets the repository's audit policy; release.yml has a block policy of its own.
  const attachments = 'organizations:\n  acme: org-block\nrepositories:\n  acme/api: api-audit\nworkflows:\n  acme/api/.github/workflows/release.yml: release-block\n';

  it('with its own variable gone, release.yml falls through to the retained EGRESSCTL_POLICY (audit): coverage --org and sync --dry-run say so and fail', async () => {
    await syncAndMerge(store(attachments));
    await olderChains();
    const synced = await runSync({ client, organization: 'acme', policy: store(attachments), listing: 'organization' });
    expect(synced.report.variables.find((entry) => entry.level === 'repository' && entry.name === 'EGRESSCTL_POLICY')?.status).toBe('retained');
    expect(covered(synced, 'release.yml')).toMatchObject({ mode: 'block' });
    expect(covered(synced, 'release.yml').failure).toBeUndefined();
    // ci.yml gets audit through the retained variable, as the store says: said, not a failure.
    expect(covered(synced, 'ci.yml')).toMatchObject({ mode: 'audit', policy: 'api-audit' });
    expect(covered(synced, 'ci.yml').reason).toContain('audit via retained EGRESSCTL_POLICY');
    expect(covered(synced, 'ci.yml').failure).toBeUndefined();

    // A person deletes the workflow's own variable.
    standin.variables('repository', 'acme/api').delete('EGRESSCTL_WF_RELEASE_YML');
    const read = await coverageFromGitHub(attachments);
    expect(read.code).toBe(1);
    const release = row(read.report, 'release.yml');
    expect(release).toMatchObject({ mode: 'audit', policy: 'release-block' });
    expect(release?.failure).toContain('audit through retained EGRESSCTL_POLICY (repository variable of acme/api, holding policy api-audit) where the store says block (policy release-block)');
    expect(release?.failure).toContain('without it the step would get block');
    expect(read.report.failures).toEqual([expect.objectContaining({ repository: 'acme/api', file: '.github/workflows/release.yml', job: 'test' })]);
    expect(row(read.report, 'ci.yml')?.failure).toBeUndefined();

    const text = await runCli(['coverage', '--org', 'acme', '-C', temps[0]!.dir], { env: { GITHUB_TOKEN: token, GITHUB_API_URL: standin.url } });
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('acme/api .github/workflows/release.yml:4 test: FAILS OPEN: audit through retained EGRESSCTL_POLICY');

    // The dry run sees the variable missing and records the same failure in the sync's coverage.
    const dry = await runSync({ client, organization: 'acme', policy: store(attachments), listing: 'organization', dryRun: true });
    expect(covered(dry, 'release.yml')).toMatchObject({ mode: 'audit' });
    expect(covered(dry, 'release.yml').failure).toContain('through retained EGRESSCTL_POLICY');
    // The console's /coverage page shows what the sync recorded: the row is marked, the organization says how many fail open.
    const page = renderCoverage({ version: 1, organizations: { acme: dry.report } }, { mode: '', repository: '' }).content.value;
    expect(page).toMatch(/<tr data-repository="acme\/api" data-job="test" data-mode="audit" data-failure="fails-open">.*release\.yml.*<span class="badge error">fails open<\/span>.*Fails open: audit through retained EGRESSCTL_POLICY/);
    expect(page).toContain('1 job fails open:');
    // The scheduled sync puts the variable back: block again.
    const restored = await runSync({ client, organization: 'acme', policy: store(attachments), listing: 'organization' });
    expect(covered(restored, 'release.yml')).toMatchObject({ mode: 'block' });
    expect(covered(restored, 'release.yml').failure).toBeUndefined();
  });
});
