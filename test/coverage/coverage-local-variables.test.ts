/**
 * `egressctl coverage --policy-from` with the Actions variables that exist (docs/architecture.md#coverage):
 * from a sync's state (`--state-dir DIR`, the sync-report.json a sync left) or from the files
 * `gh variable list --json name,value` prints (`--repo-variables FILE`, `--org-variables FILE`).
 * The workflows and variables come from a real sync against the GitHub stand-in; the files on disk
 * are what the stand-in holds. Without a source it says once that it assumed the store's variables.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tokenClient, type GitHubClient } from '../../src/github/client.js';
import { recordSync } from '../../src/rollout/sync-report.js';
import { runSync } from '../../src/rollout/sync.js';
import { runCli } from '../support/cli.js';
import { startGitHubStandin, type GitHubStandin } from '../support/github/index.js';
import { FAILS_OPEN_STORE, olderChains } from '../support/older-chains.js';
import { makeTempRepo, type TempRepo } from '../support/policy-repo.js';
import { repositoryFromFiles } from '../support/review.js';
import { SIMPLE_WORKFLOW } from '../support/workflows.js';

const PERMISSIONS = { metadata: 'read', contents: 'write', pull_requests: 'write', workflows: 'write', actions_variables: 'write', organization_actions_variables: 'write' } as const;

let standin: GitHubStandin;
let client: GitHubClient;
let policy: TempRepo;
let work: string;

beforeEach(async () => {
  standin = await startGitHubStandin();
  const installation = standin.createInstallation({ account: 'acme', permissions: { ...PERMISSIONS } });
  await standin.createRepository('acme/api', { files: { '.github/workflows/ci.yml': SIMPLE_WORKFLOW, '.github/workflows/release.yml': SIMPLE_WORKFLOW.replace('name: CI', 'name: Release') } });
  client = tokenClient(standin.createInstallationToken(installation.id), { baseUrl: standin.url, writeSpacingMs: 0, notificationSpacingMs: 0 });
  policy = makeTempRepo(FAILS_OPEN_STORE);
  work = mkdtempSync(path.join(os.tmpdir(), 'egressctl-coverage-vars-'));
});

afterEach(async () => {
  policy.cleanup();
  rmSync(work, { recursive: true, force: true });
  await standin.finish();
});

/** Sync, merge its PR, then leave the steps and variables as an older egressctl did (a retained EGRESSCTL_POLICY); a second sync records it. */
async function retainedSetup(stateDir: string): Promise<void> {
  const store = repositoryFromFiles(FAILS_OPEN_STORE);
  await runSync({ client, organization: 'acme', policy: store, listing: 'organization' });
  const open = standin.pullRequests('acme/api').find((pull) => pull.state === 'open');
  if (open) await standin.mergePullRequest('acme/api', open.number);
  await olderChains(standin, 'acme/api', ['ci.yml', 'release.yml']);
  const synced = await runSync({ client, organization: 'acme', policy: store, listing: 'organization' });
  expect(synced.report.variables.find((entry) => entry.level === 'repository' && entry.name === 'EGRESSCTL_POLICY')?.status).toBe('retained');
  await recordSync(stateDir, synced.report);
  // The workflow files as the repository has them, on disk.
  mkdirSync(path.join(work, 'api/.github/workflows'), { recursive: true });
  for (const file of ['ci.yml', 'release.yml']) writeFileSync(path.join(work, 'api/.github/workflows', file), (await standin.readFile('acme/api', `.github/workflows/${file}`)) ?? '');
}

const workflowFiles = () => ['ci.yml', 'release.yml'].map((file) => path.join(work, 'api/.github/workflows', file));

/** `gh variable list --json name,value` of the stand-in's variables. */
function ghList(level: 'organization' | 'repository', target: string, file: string): string {
  const listed = [...standin.variables(level, target).values()].map((variable) => ({ name: variable.name, value: variable.value }));
  const written = path.join(work, file);
  writeFileSync(written, JSON.stringify(listed, null, 2));
  return written;
}

interface CoverageJson {
  variables: { organization: string; repository: string };
  jobs: { file: string; job: string; mode: string; reason: string | null; failure?: string }[];
  failures: { file: string; job: string; failure: string }[];
}

const row = (report: CoverageJson, file: string) => report.jobs.find((job) => job.file === `.github/workflows/${file}`);

describe('coverage --policy-from with the variables that exist', () => {
  it('--state-dir: evaluates with the variables as the sync left them, retained ones included, and names the source', async () => {
    const stateDir = path.join(work, 'state');
    await retainedSetup(stateDir);
    const run = await runCli(['coverage', '--policy-from', policy.dir, '--repository', 'acme/api', '--state-dir', stateDir, ...workflowFiles(), '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as CoverageJson;
    expect(report.variables.repository).toContain(path.join(stateDir, 'sync-report.json'));
    expect(report.variables.organization).toContain(path.join(stateDir, 'sync-report.json'));
    expect(row(report, 'ci.yml')).toMatchObject({ mode: 'audit' });
    expect(row(report, 'ci.yml')?.reason).toContain('audit via retained EGRESSCTL_POLICY (repository variable of acme/api, holding policy api-audit), pending removal');

    const text = await runCli(['coverage', '--policy-from', policy.dir, '--repository', 'acme/api', '--state-dir', stateDir, ...workflowFiles()]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`variables of acme/api: as the sync recorded in ${path.join(stateDir, 'sync-report.json')} left them`);
    expect(text.stdout).toContain('audit via retained EGRESSCTL_POLICY');
  });

  it('--repo-variables / --org-variables: gh variable list output; a job that gets less than the store through the retained variable fails open (exit 1)', async () => {
    await retainedSetup(path.join(work, 'state'));
    // A person deletes the workflow's own variable: release.yml falls through to the retained EGRESSCTL_POLICY (audit).
    standin.variables('repository', 'acme/api').delete('EGRESSCTL_WF_RELEASE_YML');
    const repoFile = ghList('repository', 'acme/api', 'repo-vars.json');
    const orgFile = ghList('organization', 'acme', 'org-vars.json');
    const run = await runCli(['coverage', '--policy-from', policy.dir, '--repository', 'acme/api', '--repo-variables', repoFile, '--org-variables', orgFile, ...workflowFiles(), '--json']);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as CoverageJson;
    expect(report.variables).toEqual({ organization: `file ${orgFile}`, repository: `file ${repoFile}` });
    expect(row(report, 'release.yml')?.failure).toContain('audit through retained EGRESSCTL_POLICY (repository variable of acme/api, holding policy api-audit) where the store says block (policy release-block)');
    expect(report.failures).toEqual([expect.objectContaining({ file: '.github/workflows/release.yml', job: 'test' })]);

    // Only the repository's: the organization's are taken as the store writes them, and it says so.
    const text = await runCli(['coverage', '--policy-from', policy.dir, '--repository', 'acme/api', '--repo-variables', repoFile, ...workflowFiles()]);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain(`variables of acme/api: from ${repoFile}`);
    expect(text.stdout).toContain('organization variables of acme: assumed as the store writes them');
    expect(text.stdout).toContain('release.yml:4 test: FAILS OPEN: audit through retained EGRESSCTL_POLICY');

    // Without a source: as before (the store's variables: EGRESSCTL_WF_RELEASE_YML is there), said once.
    const plain = await runCli(['coverage', '--policy-from', policy.dir, '--repository', 'acme/api', ...workflowFiles()]);
    expect(plain.code).toBe(0);
    expect(plain.stdout.match(/assumed as the store writes them/g)).toHaveLength(1);
    expect(plain.stdout).toContain('retained or left-over variables are not seen');
  });

  it('a variables file that is not gh variable list output: located error, exit 1, no stack trace', async () => {
    writeFileSync(path.join(work, 'wf.yml'), SIMPLE_WORKFLOW);
    const cases: [string, RegExp][] = [
      ['{not json', /bad\.json: not JSON: /],
      ['{"name":"X","value":"1"}', /bad\.json: expected an array of \{"name", "value"\} as `gh variable list --json name,value` prints it/],
      ['[{"name":"EGRESSCTL_POLICY","value":"{}"},{"name":"OTHER"}]', /bad\.json: \[1\] \(OTHER\): "value" must be a string/],
      ['[{"value":"x"}]', /bad\.json: \[0\]: "name" must be a non-empty string/],
      ['[{"name":"egressctl_policy","value":"a"},{"name":"EGRESSCTL_POLICY","value":"b"}]', /bad\.json: \[1\]: EGRESSCTL_POLICY is listed twice/],
    ];
    for (const [content, message] of cases) {
      writeFileSync(path.join(work, 'bad.json'), content);
      const run = await runCli(['coverage', '--policy-from', policy.dir, '--repository', 'acme/api', '--repo-variables', path.join(work, 'bad.json'), path.join(work, 'wf.yml')]);
      expect(run.code, content).toBe(1);
      expect(run.stderr, content).toMatch(message);
      expect(run.stderr, content).not.toMatch(/\n\s+at /);
    }
    const missing = await runCli(['coverage', '--policy-from', policy.dir, '--repository', 'acme/api', '--org-variables', path.join(work, 'none.json'), path.join(work, 'wf.yml')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/none\.json: cannot read/);
    const noState = await runCli(['coverage', '--policy-from', policy.dir, '--repository', 'acme/api', '--state-dir', path.join(work, 'empty'), path.join(work, 'wf.yml')]);
    expect(noState.code).toBe(1);
    expect(noState.stderr).toContain(`${path.join(work, 'empty', 'sync-report.json')} has no sync of acme: run egressctl sync --org acme --state-dir`);
    // The files are for workflow files on disk: --org reads the variables from GitHub.
    const withOrg = await runCli(['coverage', '--org', 'acme', '--repo-variables', path.join(work, 'bad.json')]);
    expect(withOrg.code).toBe(2);
    expect(withOrg.stderr).toContain('--repo-variables and --org-variables go with --policy-from');
  });
});
