/**
 * `egressctl sync` fails closed (docs/architecture.md#coverage, docs/reconciliation.md#sync): a
 * job whose coverage the run records gets less than the store through a variable no attachment
 * owns is named in the summary (repository, workflow:line, job, why, in the publish check's
 * words), carried in `--json` (`failsOpen`), and the command exits 1, in a dry run too. Against
 * the GitHub stand-in, the CLI in-process.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tokenClient, type GitHubClient } from '../../src/github/client.js';
import { runSync } from '../../src/rollout/sync.js';
import { runCli } from '../support/cli.js';
import { DEFAULT_INSTALLATION_PERMISSIONS, startGitHubStandin, type GitHubStandin } from '../support/github/index.js';
import { FAILS_OPEN_STORE, olderChains, skipOwnVariable } from '../support/older-chains.js';
import { makeTempRepo, type TempRepo } from '../support/policy-repo.js';
import { repositoryFromFiles } from '../support/review.js';
import { SIMPLE_WORKFLOW } from '../support/workflows.js';

const RELEASE_FAILS_OPEN = 'acme/api .github/workflows/release.yml:4 job test: FAILS OPEN: audit through retained EGRESSCTL_POLICY (repository variable of acme/api, holding policy api-audit) where the store says block (policy release-block)';

let standin: GitHubStandin;
let client: GitHubClient;
let policy: TempRepo;
let env: Record<string, string>;

beforeEach(async () => {
  standin = await startGitHubStandin();
  const installation = standin.createInstallation({ account: 'acme', permissions: { ...DEFAULT_INSTALLATION_PERMISSIONS, actions_variables: 'write', organization_actions_variables: 'write' } });
  await standin.createRepository('acme/api', { files: { '.github/workflows/ci.yml': SIMPLE_WORKFLOW, '.github/workflows/release.yml': SIMPLE_WORKFLOW.replace('name: CI', 'name: Release') } });
  const token = standin.createInstallationToken(installation.id);
  client = tokenClient(token, { baseUrl: standin.url, writeSpacingMs: 0, notificationSpacingMs: 0 });
  policy = makeTempRepo(FAILS_OPEN_STORE);
  env = { GITHUB_TOKEN: token, GITHUB_API_URL: standin.url };
  // acme/api as an older egressctl left it: managed steps reading the repository-level EGRESSCTL_POLICY.
  await runSync({ client, organization: 'acme', policy: repositoryFromFiles(FAILS_OPEN_STORE), listing: 'organization' });
  await mergeOpen();
  await olderChains(standin, 'acme/api', ['ci.yml', 'release.yml']);
});

afterEach(async () => {
  policy.cleanup();
  await standin.finish();
});

async function mergeOpen(): Promise<void> {
  const open = standin.pullRequests('acme/api').find((pull) => pull.state === 'open');
  expect(open, 'an open sync PR').toBeDefined();
  await standin.mergePullRequest('acme/api', open!.number);
}

const sync = (...args: string[]) => runCli(['sync', '--org', 'acme', '--all', '-C', policy.dir, ...args], { env });

interface SyncJson {
  repositories: { repository: string; status: string }[];
  failsOpen?: { repository: string; file: string; job: string; line: number; failure: string; cause: string; reason: string }[];
}

describe('egressctl sync with a job that fails open', () => {
  it("by a person's edit of its workflow file: the dry run and the sync name it and exit 1 until the sync PR that restores the step is merged", async () => {
    await skipOwnVariable(standin, 'acme/api', 'release.yml');

    const dry = await sync('--dry-run');
    expect(dry.code).toBe(1);
    expect(dry.stderr).toContain(RELEASE_FAILS_OPEN);
    expect(dry.stderr).toMatch(/job test: FAILS OPEN: .*; the workflow file on the default branch/);
    expect(dry.stderr).toMatch(/^1 repository: 1 would-change; \d+ GitHub API requests; 1 job fails open$/m);

    const json = await sync('--dry-run', '--json');
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout) as SyncJson;
    expect(report.failsOpen).toEqual([
      {
        repository: 'acme/api',
        file: '.github/workflows/release.yml',
        job: 'test',
        line: 4,
        failure: expect.stringContaining('audit through retained EGRESSCTL_POLICY'),
        cause: 'workflow-file',
        reason: expect.stringMatching(/^FAILS OPEN: audit through retained EGRESSCTL_POLICY .*the workflow file on the default branch/),
      },
    ]);

    // The sync opens the PR that restores the step; until it is merged the job still fails open.
    const synced = await sync();
    expect(synced.code).toBe(1);
    expect(synced.stderr).toContain(RELEASE_FAILS_OPEN);
    expect(synced.stderr).toMatch(/^1 repository: 1 created; \d+ GitHub API requests; 1 job fails open$/m);

    await mergeOpen();
    const fixed = await sync('--json');
    expect(fixed.code).toBe(0);
    expect((JSON.parse(fixed.stdout) as SyncJson).failsOpen).toEqual([]);
  });

  it("by a deleted variable: the dry run names it as one a sync puts back (exit 1); the sync puts it back (exit 0)", async () => {
    // A person deletes release.yml's own variable: its chain falls through to the retained EGRESSCTL_POLICY.
    standin.variables('repository', 'acme/api').delete('EGRESSCTL_WF_RELEASE_YML');
    const dry = await sync('--dry-run', '--json');
    expect(dry.code).toBe(1);
    expect((JSON.parse(dry.stdout) as SyncJson).failsOpen).toEqual([expect.objectContaining({ file: '.github/workflows/release.yml', cause: 'variables', reason: expect.stringContaining('a sync that writes the variables the store asks for ends it') })]);
    const text = await sync('--dry-run');
    expect(text.code).toBe(1);
    expect(text.stderr).toContain(RELEASE_FAILS_OPEN);

    const synced = await sync();
    expect(synced.stderr).not.toContain('FAILS OPEN');
    expect(synced.code).toBe(0);
    expect(standin.variables('repository', 'acme/api').has('EGRESSCTL_WF_RELEASE_YML')).toBe(true);
  });
});
