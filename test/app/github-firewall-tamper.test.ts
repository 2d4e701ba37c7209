/**
 * The tamper check on `.github/egress-firewall.yaml`, end to end on the OpenAPI-checked stand-in
 * (docs/github-app.md, "Egress policy weakened outside the store"; docs/github-firewall.md): the
 * App syncs acme/web from the firewall fixtures' store and the sync PR is merged; then a person's
 * pull request that widens the file gets the failing check `egressctl / egress policy`, with old ->
 * new per field, read from the pull request's head; egressctl's own sync pull request after the
 * store widened passes; a narrowing passes. Webhooks are signed @octokit/webhooks-examples payloads.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TAMPER_CHECK_NAME } from '../../src/coverage/tamper.js';
import { ROLLOUT_BRANCH } from '../../src/rollout/rollout-body.js';
import { FIREWALL_FILE, MANAGED_MARKER, readFirewallFile } from '../../src/rollout/github-firewall/index.js';
import { POLICY_REPO, startHarness, type Harness } from '../support/app.js';
import { firewallStoreFiles, firewallWorkflows } from '../support/github-firewall.js';

let harness: Harness;
/** acme/web's firewall file on main, as egressctl's merged sync PR wrote it. */
let merged: string;

async function push(h: Harness, after: string): Promise<void> {
  const delivered = await h.standin.deliverWebhook({ url: h.hookUrl, event: 'push', repository: POLICY_REPO, after });
  expect([200, 202]).toContain(delivered.status);
  await h.mount.app.idle();
  expect(await h.servedRevision()).toBe(after);
}

/** Delivers `pull_request.<action>` and returns the check run the App reported on the head. */
async function checkOf(number: number, action: 'opened' | 'synchronize' = 'opened') {
  const { standin, hookUrl } = harness;
  const delivered = await standin.deliverWebhook({ url: hookUrl, event: 'pull_request', action, repository: 'acme/web', pullRequest: number });
  expect(delivered.status).toBe(200);
  const headSha = standin.pullRequest('acme/web', number).headSha;
  const runs = standin.checkRuns('acme/web', { headSha, name: TAMPER_CHECK_NAME });
  expect(runs).toHaveLength(1);
  return runs[0]!;
}

beforeEach(async () => {
  const files = firewallStoreFiles();
  const attachments = files['attachments.yml']!;
  // Nothing attached at first: the merge below attaches, and the App syncs.
  files['attachments.yml'] = 'repositories: {}\n';
  harness = await startHarness({ files });
  // Both repositories the store attaches exist (a sync that cannot reach one fails the delivery, for GitHub to redeliver).
  for (const repo of ['api', 'web'] as const) {
    await harness.standin.createRepository(`acme/${repo}`, { files: { ...Object.fromEntries(firewallWorkflows(repo).map((file) => [file.path, file.text])), 'README.md': `# ${repo}\n` } });
  }
  await push(harness, (await harness.standin.refSha(POLICY_REPO, 'main'))!);
  await push(harness, await harness.standin.commitFiles(POLICY_REPO, { files: { 'attachments.yml': attachments } }));
  const [sync] = harness.standin.pullRequests('acme/web');
  expect(sync).toBeDefined();
  await harness.standin.mergePullRequest('acme/web', sync!.number);
  merged = (await harness.standin.readFile('acme/web', FIREWALL_FILE, 'main'))!;
  expect(readFirewallFile(merged)).toMatchObject({ managed: true, mode: 'enforce', problems: [] });
}, 120_000);

afterEach(async () => {
  try {
    harness.standin.assertNoViolations();
  } finally {
    await harness.close();
  }
});

describe('a pull request in a target repository that widens .github/egress-firewall.yaml', () => {
  it('fails with old -> new per field, annotated on the head; passes once the file matches the store again', async () => {
    const { standin } = harness;
    const widened = merged.replace('mode: enforce', 'mode: log').replace('  - pypi.org\n', '  - pypi.org\n  - pastebin.com\n');
    await standin.commitFiles('acme/web', { branch: 'debug-egress', files: { [FIREWALL_FILE]: widened }, message: 'CI: let the debug upload through' });
    const pr = await standin.openPullRequest('acme/web', { head: 'debug-egress', title: 'CI: let the debug upload through' });

    const failing = await checkOf(pr.number);
    expect(failing).toMatchObject({ status: 'completed', conclusion: 'failure' });
    expect(failing.output.title).toBe('egress policy weakened outside the store');
    expect(failing.output.summary).toContain('| `.github/egress-firewall.yaml` | `*` | `mode` | `enforce` -> `log` | log blocks nothing: the store says enforce (block) |');
    expect(failing.output.summary).toMatch(/\| `\.github\/egress-firewall\.yaml` \| `\*` \| `allow` \| `[^`]*` -> `[^`]*pastebin\.com[^`]*` \| allows hosts the store does not: pastebin\.com \|/);
    // Both policies the file unites, linked in the policy repository on the same GitHub.
    expect(failing.output.summary).toContain(`[ci-block](${standin.url}/_html/${POLICY_REPO}/blob/HEAD/policies/ci-block.yml), [release-block](${standin.url}/_html/${POLICY_REPO}/blob/HEAD/policies/release-block.yml)`);
    const lines = widened.split('\n');
    expect(failing.annotations.map((annotation) => [annotation.path, annotation.start_line])).toEqual([
      [FIREWALL_FILE, lines.indexOf('mode: log') + 1],
      [FIREWALL_FILE, lines.indexOf('  - pastebin.com') + 1],
    ]);

    // Put back as the store has it, a narrowing besides: passes.
    await standin.commitFiles('acme/web', { branch: 'debug-egress', files: { [FIREWALL_FILE]: merged.replace('  - pypi.org\n', '') }, message: 'CI: keep enforce; pypi not needed' });
    const passing = await checkOf(pr.number, 'synchronize');
    expect(passing).toMatchObject({ status: 'completed', conclusion: 'success' });
    expect(passing.output.title).toBe('Egress policy kept');
  }, 60_000);

  it('deleting the managed file fails; removing its marker fails', async () => {
    const { standin } = harness;
    await standin.commitFiles('acme/web', { branch: 'drop-firewall', files: { [FIREWALL_FILE]: null }, message: 'Remove the firewall file' });
    const deleted = await checkOf((await standin.openPullRequest('acme/web', { head: 'drop-firewall' })).number);
    expect(deleted.conclusion).toBe('failure');
    expect(deleted.output.summary).toContain('deleted while the store has github-firewall enabled');

    const unmarked = merged.split('\n').filter((line) => !line.startsWith(MANAGED_MARKER)).join('\n');
    await standin.commitFiles('acme/web', { branch: 'mine-now', files: { [FIREWALL_FILE]: unmarked }, message: 'The firewall file is ours' });
    const run = await checkOf((await standin.openPullRequest('acme/web', { head: 'mine-now' })).number);
    expect(run.conclusion).toBe('failure');
    expect(run.output.summary).toContain('| `marker` |');
  }, 60_000);
});

describe("egressctl's own sync pull request", () => {
  it('passes after the store widened the file (judged against the store, not the base)', async () => {
    const { standin } = harness;
    const policy = firewallStoreFiles()['policies/ci-block.yml']!.replace('  - pypi.org:443\n', '  - pypi.org:443\n  - ghcr.io:443\n');
    await push(harness, await standin.commitFiles(POLICY_REPO, { files: { 'policies/ci-block.yml': policy }, message: 'ci-block: pull images from ghcr.io' }));
    const open = standin.pullRequests('acme/web').filter((pr) => pr.state === 'open');
    expect(open).toHaveLength(1);
    const proposed = (await standin.readFile('acme/web', FIREWALL_FILE, ROLLOUT_BRANCH))!;
    expect(readFirewallFile(proposed).allow).toContain('ghcr.io');
    expect(readFirewallFile(merged).allow).not.toContain('ghcr.io');

    const run = await checkOf(open[0]!.number);
    expect(run).toMatchObject({ status: 'completed', conclusion: 'success' });
    expect(run.output.title).toBe('Egress policy kept');
    expect(run.output.summary).toContain('`.github/egress-firewall.yaml`');
  }, 60_000);
});
