/**
 * The tamper check end to end: the App (Probot, real server) receives `pull_request` webhooks
 * built from @octokit/webhooks-examples payloads, in a repository other than the policy
 * repository, and reports check run `egressctl / egress policy` through the GitHub stand-in
 * (every request checked against GitHub's OpenAPI description, with app.yml's permissions).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TAMPER_CHECK_NAME } from '../../src/coverage/tamper.js';
import { storePlanner } from '../../src/rollout/desired-state.js';
import { hardenWorkflow } from '../../src/rollout/harden.js';
import { storeStateOf } from '../../src/rollout/sync-plan.js';
import { planRepository } from '../../src/rollout/rollout-plan.js';
import { buildBaselineIndex } from '../../src/baselines/index.js';
import { loadPolicyRepository } from '../../src/store/repository.js';
import { POLICY_FILES, POLICY_REPO, repoRoot, startHarness, type Harness } from '../support/app.js';
import { loadGitHubOpenApi } from '../support/github/index.js';
import { makeTempRepo } from '../support/policy-repo.js';

const CI = `name: CI
on: [push, pull_request]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: go test ./...
`;
const FILE = '.github/workflows/ci.yml';

/** The workflow as egressctl's sync PR wrote it from POLICY_FILES (acme/api: policy api, block). */
async function managedWorkflow(): Promise<string> {
  const dir = makeTempRepo(POLICY_FILES);
  try {
    const loaded = await loadPolicyRepository({ dir: dir.dir });
    expect(loaded.errors).toEqual([]);
    const result = hardenWorkflow(CI, { file: FILE, plan: storePlanner({ store: storeStateOf(loaded.value), repository: 'acme/api', workflowPath: FILE }) });
    expect(result.output).toContain('# egressctl: managed, policy api');
    return result.output;
  } finally {
    dir.cleanup();
  }
}

let harness: Harness;
let managed: string;

beforeEach(async () => {
  harness = await startHarness();
  managed = await managedWorkflow();
  await harness.standin.createRepository('acme/api', { files: { [FILE]: managed, 'README.md': '# api\n' } });
});

afterEach(async () => {
  try {
    harness.standin.assertNoViolations();
  } finally {
    await harness.close();
  }
});

describe('egress policy weakened outside the store', () => {
  it('fails a pull request that lowers the mode, with old -> new and a link to the policy; passes once it is put back', async () => {
    const { standin, hookUrl } = harness;
    await standin.commitFiles('acme/api', { branch: 'quiet', files: { [FILE]: managed.replace('egress-policy: block', 'egress-policy: audit') }, message: 'CI: audit only' });
    const pr = await standin.openPullRequest('acme/api', { head: 'quiet', title: 'CI: audit only' });

    const opened = await standin.deliverWebhook({ url: hookUrl, event: 'pull_request', action: 'opened', repository: 'acme/api', pullRequest: pr.number });
    expect(opened.status).toBe(200);
    const [failing] = standin.checkRuns('acme/api', { headSha: pr.headSha, name: TAMPER_CHECK_NAME });
    expect(failing).toMatchObject({ status: 'completed', conclusion: 'failure' });
    expect(failing!.output.title).toBe('egress policy weakened outside the store');
    expect(failing!.output.summary).toContain('| `.github/workflows/ci.yml` | `test` | `egress-policy` | `block` -> `audit` | lowers the mode from block to audit (the store says block) |');
    // The policy's page on the same GitHub as the repository (the stand-in serves web pages under /_html).
    expect(failing!.output.summary).toContain(`[api](${standin.url}/_html/${POLICY_REPO}/blob/HEAD/policies/api.yml)`);
    expect(failing!.annotations).toEqual([expect.objectContaining({ path: FILE, annotation_level: 'failure', message: expect.stringContaining('egress-policy: block -> audit') })]);
    // The policy repository's own review is not involved.
    expect(standin.checkRuns('acme/api', { name: 'egressctl / validate' })).toEqual([]);

    const fixed = await standin.commitFiles('acme/api', { branch: 'quiet', files: { [FILE]: managed.replace('go test ./...', 'go test -race ./...') }, message: 'CI: keep block, race detector' });
    await standin.deliverWebhook({ url: hookUrl, event: 'pull_request', action: 'synchronize', repository: 'acme/api', pullRequest: pr.number });
    const [passing] = standin.checkRuns('acme/api', { headSha: fixed, name: TAMPER_CHECK_NAME });
    expect(passing).toMatchObject({ status: 'completed', conclusion: 'success' });
    expect(passing!.output.title).toBe('Egress policy kept');
  });

  it('fails a pull request that removes the step or allows more endpoints; names each input', async () => {
    const { standin, hookUrl } = harness;
    const lines = managed.split('\n');
    const start = lines.findIndex((line) => line.includes('harden-runner@'));
    const end = lines.findIndex((line, index) => index > start && line.startsWith('      - '));
    const withoutStep = [...lines.slice(0, start), ...lines.slice(end)].join('\n');
    await standin.commitFiles('acme/api', {
      branch: 'loosen',
      files: { [FILE]: withoutStep, '.github/workflows/lint.yml': managed.replace('registry.npmjs.org:443', 'registry.npmjs.org:443\n            pastebin.com:443') },
      message: 'CI: simplify',
    });
    // lint.yml is new in this pull request: its step is judged as written, nothing to weaken.
    const pr = await standin.openPullRequest('acme/api', { head: 'loosen' });
    await standin.deliverWebhook({ url: hookUrl, event: 'pull_request', action: 'opened', repository: 'acme/api', pullRequest: pr.number });
    const [run] = standin.checkRuns('acme/api', { headSha: pr.headSha, name: TAMPER_CHECK_NAME });
    expect(run).toMatchObject({ conclusion: 'failure' });
    expect(run!.output.summary).toContain('| `.github/workflows/ci.yml` | `test` | `step` |');
    expect(run!.output.summary).toContain('the managed Harden-Runner step was removed');
    expect(run!.output.summary).not.toContain('lint.yml');
  });

  it('does not pass when a changed workflow file cannot be read at one end (it could not look)', async () => {
    const { standin, hookUrl } = harness;
    await standin.commitFiles('acme/api', { branch: 'quiet', files: { [FILE]: managed.replace('egress-policy: block', 'egress-policy: audit') }, message: 'CI: audit only' });
    const pr = await standin.openPullRequest('acme/api', { head: 'quiet', title: 'CI: audit only' });
    // The listing says the file is modified, yet GitHub answers 404 for it at the merge base.
    standin.failNextRequests({ count: 1, status: 404, message: 'Not Found', match: (request) => request.operationId === 'repos/get-content' && request.repository === 'acme/api' });
    await standin.deliverWebhook({ url: hookUrl, event: 'pull_request', action: 'opened', repository: 'acme/api', pullRequest: pr.number });
    const runs = standin.checkRuns('acme/api', { headSha: pr.headSha, name: TAMPER_CHECK_NAME });
    expect(runs.length).toBeGreaterThan(0);
    expect(runs.every((run) => run.conclusion !== 'success')).toBe(true);
  });

  it('a pull request that touches no workflow file costs the file listing and a passing check, nothing else', async () => {
    const { standin, hookUrl } = harness;
    await standin.commitFiles('acme/api', { branch: 'docs', files: { 'README.md': '# api\n\nMore.\n' }, message: 'docs' });
    const pr = await standin.openPullRequest('acme/api', { head: 'docs' });
    standin.resetStats();
    await standin.deliverWebhook({ url: hookUrl, event: 'pull_request', action: 'opened', repository: 'acme/api', pullRequest: pr.number });
    const [run] = standin.checkRuns('acme/api', { headSha: pr.headSha, name: TAMPER_CHECK_NAME });
    expect(run).toMatchObject({ conclusion: 'success' });
    expect(run!.output.title).toBe('No workflow file changed');
    const byRoute = standin.stats().byRoute;
    const routes = Object.keys(byRoute).filter((route) => !route.startsWith('POST /app/installations/'));
    expect(routes.sort()).toEqual(['GET /repos/{owner}/{repo}/pulls/{pull_number}/files', 'POST /repos/{owner}/{repo}/check-runs']);
    expect(byRoute['GET /repos/{owner}/{repo}/pulls/{pull_number}/files']).toBe(1);
    expect(byRoute['POST /repos/{owner}/{repo}/check-runs']).toBe(1);
  });
});

describe('a reusable workflow is judged by its callers (src/policy/callers.ts)', () => {
  it("fails a pull request that widens build.yml's step to build.yml's own attachment while release.yml (policy base) calls it", async () => {
    const { standin, hookUrl } = harness;
    const BUILD = '.github/workflows/build.yml';
    const RELEASE = '.github/workflows/release.yml';
    const build = ['on:', '  workflow_call:', 'jobs:', '  compile:', '    runs-on: ubuntu-latest', '    steps:', '      - uses: actions/checkout@v4', '      - run: make', ''].join('\n');
    const release = ['name: release', 'on: push', 'jobs:', '  build:', '    uses: ./.github/workflows/build.yml', ''].join('\n');
    const dir = makeTempRepo(POLICY_FILES);
    let synced: string;
    let own: string;
    try {
      const loaded = await loadPolicyRepository({ dir: dir.dir });
      const state = storeStateOf(loaded.value);
      const plan = await planRepository('acme/api', [{ path: BUILD, text: build }, { path: RELEASE, text: release }], { mode: 'inline', pin: state.settings.hardenRunner, baselines: buildBaselineIndex([]), store: state });
      synced = plan.files.find((file) => file.path === BUILD)?.after ?? '';
      // build.yml's own attachment (the repository's api policy: more endpoints), as if nothing called it.
      own = hardenWorkflow(build, { file: BUILD, plan: storePlanner({ store: state, repository: 'acme/api', workflowPath: BUILD }) }).output;
    } finally {
      dir.cleanup();
    }
    expect(synced).toContain('# egressctl: managed, policy base');
    expect(own).toContain('registry.npmjs.org:443');
    await standin.commitFiles('acme/api', { files: { [BUILD]: synced, [RELEASE]: release }, message: 'egressctl sync' });
    await standin.commitFiles('acme/api', { branch: 'wider', files: { [BUILD]: own.replace('policy api', 'policy base') }, message: 'build: more endpoints' });
    const pr = await standin.openPullRequest('acme/api', { head: 'wider' });
    await standin.deliverWebhook({ url: hookUrl, event: 'pull_request', action: 'opened', repository: 'acme/api', pullRequest: pr.number });
    const [run] = standin.checkRuns('acme/api', { headSha: pr.headSha, name: TAMPER_CHECK_NAME });
    expect(run).toMatchObject({ conclusion: 'failure' });
    expect(run!.output.summary).toContain('| `.github/workflows/build.yml` | `compile` | `allowed-endpoints` |');
    expect(run!.output.summary).toContain('allows endpoints the store does not: proxy.golang.org:443, registry.npmjs.org:443');
  });
});

describe('docs/github-app.md', () => {
  it('the organization ruleset it shows is a body GitHub takes, and requires this check from the App', () => {
    const doc = readFileSync(path.join(repoRoot, 'docs/github-app.md'), 'utf8');
    const section = doc.slice(doc.indexOf('### Make it required with an organization ruleset'));
    const body = JSON.parse(/```json\n([\s\S]*?)```/.exec(section)?.[1] ?? 'null') as { rules: { parameters: { required_status_checks: { context: string }[] } }[] };
    const routes = loadGitHubOpenApi();
    const operation = routes.operations().find((candidate) => candidate.operationId === 'repos/create-org-ruleset');
    expect(operation).toBeDefined();
    expect(routes.validateBody(operation!, body)).toBeUndefined();
    expect(body.rules[0]!.parameters.required_status_checks[0]!.context).toBe(TAMPER_CHECK_NAME);
  });
});
