/**
 * GitHub's firewall as the store's second enforcement target, end to end on the OpenAPI-checked
 * stand-in (docs/github-firewall.md): a merge to the policy repository is delivered as a signed
 * push, the App publishes and syncs, and each affected repository gets ONE pull request holding
 * both the workflow changes (Harden-Runner, runs-on moved to the firewall runner) and the managed
 * `.github/egress-firewall.yaml`; a person's weaker file is left alone and reported as drift; a
 * re-run writes nothing. Both delivery forms.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tokenClient } from '../../src/github/client.js';
import { loadPolicyRepository } from '../../src/store/repository.js';
import { ROLLOUT_BRANCH } from '../../src/rollout/rollout-body.js';
import { runSync } from '../../src/rollout/sync.js';
import { SYNC_REPORT_FILE, type SyncReportFile } from '../../src/rollout/sync-report.js';
import { FIREWALL_FILE, readFirewallFile } from '../../src/rollout/github-firewall/index.js';
import { workflowProblems } from '../../src/rollout/workflow-check.js';
import { POLICY_REPO, startHarness, type Harness } from '../support/app.js';
import { firewallStoreFiles, firewallWorkflows } from '../support/github-firewall.js';
import { SIMPLE_WORKFLOW } from '../support/workflows.js';

/** A person's file in acme/legacy: log mode and a host the store does not allow (no marker). */
const PERSONS_FILE = '# ours, hand-written\nmode: log\nallow:\n  - api.github.com\n  - pastebin.com\n';

let harness: Harness | undefined;

afterEach(async () => {
  const current = harness;
  harness = undefined;
  await current?.finish();
});

async function start(settingsExtra = ''): Promise<Harness> {
  const files = firewallStoreFiles();
  // Nothing attached yet: the merge under test attaches.
  files['attachments.yml'] = 'repositories: {}\n';
  files['egressctl.yml'] = `${files['egressctl.yml'] ?? ''}${settingsExtra}`;
  const h = await startHarness({ files });
  for (const repo of ['api', 'web'] as const) {
    await h.standin.createRepository(`acme/${repo}`, { files: Object.fromEntries(firewallWorkflows(repo).map((file) => [file.path, file.text])) });
  }
  await h.standin.createRepository('acme/legacy', { files: { '.github/workflows/ci.yml': SIMPLE_WORKFLOW, [FIREWALL_FILE]: PERSONS_FILE } });
  await h.standin.createRepository('acme/docs', { files: { '.github/workflows/ci.yml': SIMPLE_WORKFLOW } });
  await push(h, (await h.standin.refSha(POLICY_REPO, 'main'))!);
  return h;
}

async function push(h: Harness, after: string): Promise<void> {
  const delivered = await h.standin.deliverWebhook({ url: h.hookUrl, event: 'push', repository: POLICY_REPO, after });
  expect([200, 202]).toContain(delivered.status);
  await h.mount.app.idle();
  expect(await h.servedRevision()).toBe(after);
}

async function merge(h: Harness, files: Record<string, string | null>): Promise<void> {
  h.standin.resetStats();
  await push(h, await h.standin.commitFiles(POLICY_REPO, { files }));
}

const ATTACH = `${firewallStoreFiles()['attachments.yml']!}  # and a repository whose firewall file a person wrote\n`.replace('  acme/web: ci-block\n', '  acme/web: ci-block\n  acme/legacy: ci-block\n');

async function expectOnePullRequestWithBoth(h: Harness, repository: string, mode: 'log' | 'enforce'): Promise<void> {
  const pulls = h.standin.pullRequests(repository);
  expect(pulls).toHaveLength(1);
  const firewall = (await h.standin.readFile(repository, FIREWALL_FILE, ROLLOUT_BRANCH))!;
  expect(readFirewallFile(firewall)).toMatchObject({ managed: true, mode, problems: [] });
  expect(pulls[0]!.body).toContain("### GitHub's egress firewall: `.github/egress-firewall.yaml`");
  // The workflow changes are in the same branch: Harden-Runner, and the runner label moved.
  const ci = (await h.standin.readFile(repository, '.github/workflows/ci.yml', ROLLOUT_BRANCH))!;
  expect(ci).toContain('step-security/harden-runner@');
  expect(ci).toContain('ubuntu-24.04-firewall');
  expect(await workflowProblems('.github/workflows/ci.yml', ci)).toEqual([]);
}

describe('sync on merge with github-firewall enabled', () => {
  it('opens one PR per affected repository with the workflows and the firewall file; a person\'s weaker file is drift; a re-run writes nothing', async () => {
    harness = await start();
    await merge(harness, { 'attachments.yml': ATTACH });

    await expectOnePullRequestWithBoth(harness, 'acme/api', 'log');
    await expectOnePullRequestWithBoth(harness, 'acme/web', 'enforce');
    const web = (await harness.standin.readFile('acme/web', FIREWALL_FILE, ROLLOUT_BRANCH))!;
    expect(web).toContain('  - fulcio.sigstore.dev\n');
    // The header names the policies and the store commit the App synced to.
    expect(web).toContain(`# policies: ci-block, release-block (store commit ${(await harness.standin.refSha(POLICY_REPO, 'main'))!.slice(0, 12)})`);
    expect(web).not.toContain('proxy.acme.example');
    expect(harness.standin.pullRequests('acme/web')[0]!.body).toMatch(/proxy\.acme\.example:8443: .*cannot be expressed: dropped/);
    const deploy = (await harness.standin.readFile('acme/web', '.github/workflows/deploy.yml', ROLLOUT_BRANCH))!;
    expect(deploy).toContain('runs-on: ubuntu-24.04-firewall');
    expect(harness.standin.pullRequests('acme/web')[0]!.body).toContain('a change of image');

    // acme/legacy: the workflow PR opens, the person's file is neither narrowed nor rewritten.
    expect(harness.standin.pullRequests('acme/legacy')).toHaveLength(1);
    expect(await harness.standin.readFile('acme/legacy', FIREWALL_FILE, ROLLOUT_BRANCH)).toBe(PERSONS_FILE);
    const report = JSON.parse(await readFile(path.join(harness.cacheDir, SYNC_REPORT_FILE), 'utf8')) as SyncReportFile;
    const legacy = report.organizations['acme']!.repositories.find((entry) => entry.repository === 'acme/legacy')!;
    expect(legacy.files).not.toContain(FIREWALL_FILE);
    expect(legacy.reasons.join('\n')).toMatch(/egress-firewall\.yaml: written by a person \(no egressctl marker\) and weaker than the store: mode log, the store says enforce \(block\); allows hosts the store does not: pastebin\.com/);
    expect(harness.standin.pullRequests('acme/docs')).toHaveLength(0);

    // A full sync at the same revision (the scheduled pass): nothing is written anywhere.
    harness.standin.resetStats();
    const policy = await loadPolicyRepository({ dir: harness.standin.repository(POLICY_REPO).dir, rev: 'main' });
    const client = tokenClient(harness.standin.createInstallationToken(harness.installationId), { baseUrl: harness.standin.url, writeSpacingMs: 0 });
    const again = await runSync({ client, organization: 'acme', policy: policy.value, listing: 'installation' });
    expect(Object.fromEntries(again.report.repositories.map((entry) => [entry.repository, entry.status]))).toMatchObject({ 'acme/api': 'pr-open', 'acme/web': 'pr-open', 'acme/legacy': 'pr-open' });
    expect(harness.standin.requests.filter((request) => request.write).map((request) => `${request.operationId} ${request.repository}`)).toEqual([]);
  }, 120_000);

  it('after the PR merged, an edit to the managed file (marker kept) is drift the next sync puts back', async () => {
    harness = await start();
    await merge(harness, { 'attachments.yml': ATTACH });
    await harness.standin.mergePullRequest('acme/web', harness.standin.pullRequests('acme/web')[0]!.number);
    const merged = (await harness.standin.readFile('acme/web', FIREWALL_FILE, 'main'))!;
    await harness.standin.commitFiles('acme/web', { files: { [FIREWALL_FILE]: merged.replace('mode: enforce', 'mode: log') } });
    const policy = await loadPolicyRepository({ dir: harness.standin.repository(POLICY_REPO).dir, rev: 'main' });
    const client = tokenClient(harness.standin.createInstallationToken(harness.installationId), { baseUrl: harness.standin.url, writeSpacingMs: 0 });
    const sync = await runSync({ client, organization: 'acme', policy: policy.value, repositories: ['acme/web'] });
    expect(sync.report.repositories[0]).toMatchObject({ status: 'pr-open', files: [FIREWALL_FILE] });
    expect(sync.report.repositories[0]!.reasons).toContain(`${FIREWALL_FILE}: mode log -> enforce`);
    expect(readFirewallFile((await harness.standin.readFile('acme/web', FIREWALL_FILE, ROLLOUT_BRANCH))!).mode).toBe('enforce');
  }, 120_000);

  it('turning the setting on in egressctl.yml syncs every repository of the organization, repository attachments included', async () => {
    const { 'egressctl.yml': settings } = firewallStoreFiles();
    harness = await start();
    // Attached with the firewall off: the sync PRs carry workflows only.
    await merge(harness, { 'egressctl.yml': 'organizations: [acme]\nunattached: skip\n' });
    await merge(harness, { 'attachments.yml': ATTACH });
    expect(await harness.standin.readFile('acme/web', FIREWALL_FILE, ROLLOUT_BRANCH)).toBeUndefined();
    await merge(harness, { 'egressctl.yml': settings! });
    await expectOnePullRequestWithBoth(harness, 'acme/web', 'enforce');
    await expectOnePullRequestWithBoth(harness, 'acme/api', 'log');
  }, 120_000);

  it('delivery: variables writes the firewall file in the same one-time PR', async () => {
    harness = await start('delivery: variables\n');
    await merge(harness, { 'attachments.yml': ATTACH });
    await expectOnePullRequestWithBoth(harness, 'acme/web', 'enforce');
    const ci = (await harness.standin.readFile('acme/web', '.github/workflows/ci.yml', ROLLOUT_BRANCH))!;
    expect(ci).toContain('vars.');
  }, 120_000);
});
