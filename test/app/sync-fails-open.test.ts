/**
 * Fail closed on the publish check (docs/architecture.md#coverage, "GitHub App"): when a
 * repository's sync records a job that gets less than the store through a variable no attachment
 * owns, the people who merged learn it there: the check fails, naming the repository, the
 * workflow and job, and why. Such a job whose own workflow file is the cause (a person's edit
 * of its managed step, a sync PR not merged) is not retried with backoff, since nothing the App
 * writes changes it; the sync state keeps showing it. End to end on the OpenAPI-checked stand-in
 * with real git and signed webhooks.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { REPOSITORY_KIND } from '../../src/app/sync-work.js';
import { PUBLISH_CHECK_NAME } from '../../src/app/render.js';
import { tokenClient } from '../../src/github/client.js';
import { readSyncReport } from '../../src/rollout/sync-report.js';
import { runSync } from '../../src/rollout/sync.js';
import { renderCoverage } from '../../src/server/console/render-coverage.js';
import { renderSync } from '../../src/server/console/render-sync.js';
import { loadPolicyRepository } from '../../src/store/repository.js';
import { FAILS_OPEN_STORE, RELEASE_BLOCK_POLICY, olderChains, skipOwnVariable } from '../support/older-chains.js';
import { SIMPLE_WORKFLOW } from '../support/workflows.js';
import { POLICY_REPO, startHarness, type Harness } from '../support/app.js';

let harness: Harness | undefined;

afterEach(async () => {
  const current = harness;
  harness = undefined;
  await current?.finish();
});

async function deliverPush(h: Harness, after: string): Promise<void> {
  expect((await h.standin.deliverWebhook({ url: h.hookUrl, event: 'push', repository: POLICY_REPO, after })).status).toBe(200);
  await h.mount.app.idle();
}

function publishCheck(h: Harness, sha: string) {
  return h.standin.checkRuns(POLICY_REPO, { headSha: sha, name: PUBLISH_CHECK_NAME }).at(-1);
}

async function mergeOpen(h: Harness, repository: string): Promise<void> {
  const open = h.standin.pullRequests(repository).find((pull) => pull.state === 'open');
  expect(open, `an open sync PR in ${repository}`).toBeDefined();
  await h.standin.mergePullRequest(repository, open!.number);
}

const apiRequests = (h: Harness) => h.standin.requests.filter((request) => request.kind === 'api' && request.repository === 'acme/api').length;

/**
 * acme/api's release.yml failing open by its workflow file, found by the sync of a publish that
 * reaches acme/api (returned: the harness and that publish's commit); its sync PR is open.
 */
async function failingOpenByWorkflowFile(): Promise<{ h: Harness; sha: string }> {
    harness = await startHarness({ files: FAILS_OPEN_STORE, env: { EGRESSCTL_SYNC_RETRY_SECONDS: '1' } });
    const h = harness;
    await h.standin.createRepository('acme/api', { files: { '.github/workflows/ci.yml': SIMPLE_WORKFLOW, '.github/workflows/release.yml': SIMPLE_WORKFLOW.replace('name: CI', 'name: Release') } });
    await deliverPush(h, (await h.standin.refSha(POLICY_REPO, 'main'))!);

    // acme/api as an older egressctl left it (a full sync, its PR merged, then the older chains and variable name),
    // and a person's edit: release.yml's managed step no longer reads its own variable, so it falls back
    // through the retained repository-level EGRESSCTL_POLICY, which holds the repository's audit policy.
    const client = tokenClient(h.standin.createInstallationToken(h.installationId), { baseUrl: h.standin.url, writeSpacingMs: 0, notificationSpacingMs: 0 });
    const store = await loadPolicyRepository({ dir: h.standin.repository(POLICY_REPO).dir, rev: 'main' });
    await runSync({ client, organization: 'acme', policy: store.value, listing: 'installation' });
    await mergeOpen(h, 'acme/api');
    await olderChains(h.standin, 'acme/api', ['ci.yml', 'release.yml']);
    await skipOwnVariable(h.standin, 'acme/api', 'release.yml');

    // A merge that reaches acme/api: release-block allows one more endpoint.
    const sha = await h.standin.commitFiles(POLICY_REPO, { files: { 'policies/release-block.yml': `${RELEASE_BLOCK_POLICY}  - rekor.sigstore.dev:443\n` } });
    await deliverPush(h, sha);
    return { h, sha };
}

const failingOpenMetric = async (h: Harness): Promise<string | undefined> =>
  /^egressctl_coverage_jobs_failing_open\{organization="acme"\} (\d+)$/m.exec(await (await fetch(`${h.server.url}/metrics`)).text())?.[1];

describe('a job that fails open by its workflow file', () => {
  it('fails the publish check naming repository, workflow, job and why; is not retried; the sync state keeps showing it until the file is fixed', async () => {
    const { h, sha } = await failingOpenByWorkflowFile();

    const check = publishCheck(h, sha);
    expect(check).toMatchObject({ status: 'completed', conclusion: 'failure' });
    expect(check?.output.title).toMatch(/^Sync failed for 1 target/);
    // As a person reads it: the table's cells escape Markdown.
    const summary = (check?.output.summary ?? '').replace(/\\(.)/g, '$1');
    expect(summary).toMatch(
      /\| acme\/api \.github\/workflows\/release\.yml:4 job test \| FAILS OPEN: audit through retained EGRESSCTL_POLICY \(repository variable of acme\/api, holding policy api-audit\) where the store says block \(policy release-block\); without it the step would get block with \d+ endpoints?; .*workflow file/,
    );
    expect(summary).toContain('not retried');
    // The sync itself did its part: the PR that restores the step is open.
    expect(h.standin.pullRequests('acme/api').filter((pull) => pull.state === 'open')).toHaveLength(1);

    // Not retried with backoff (1 s here): nothing the App writes changes the workflow file.
    const queue = h.mount.app.queue!;
    expect(await queue.failures()).toEqual([]);
    expect(await queue.pending(REPOSITORY_KIND)).toBe(0);
    const before = apiRequests(h);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(apiRequests(h)).toBe(before);

    // The sync state keeps it: the coverage row with its failure, the console's /coverage and /sync pages.
    const report = await readSyncReport(h.cacheDir);
    const release = report.organizations['acme']?.coverage?.['acme/api']?.jobs.find((job) => job.file === '.github/workflows/release.yml');
    expect(release).toMatchObject({ mode: 'audit', policy: 'release-block', failureCause: 'workflow-file' });
    expect(release?.failure).toContain('audit through retained EGRESSCTL_POLICY');
    expect(renderCoverage(report, { mode: '', repository: '' }).content.value).toContain('1 job fails open:');
    const syncPage = renderSync(report, '').content.value;
    expect(syncPage).toMatch(/<tr data-repository="acme\/api" data-status="fails-open">.*FAILS OPEN: audit through retained EGRESSCTL_POLICY/s);
    // What an operator alerts on: the jobs failing open per organization, over the server's real /metrics.
    expect(await failingOpenMetric(h)).toBe('1');

    // The sync PR merged (the step reads its own variable again): the next publish that reaches acme/api passes,
    // and the retained variable goes.
    await mergeOpen(h, 'acme/api');
    const next = await h.standin.commitFiles(POLICY_REPO, { files: { 'policies/release-block.yml': `${RELEASE_BLOCK_POLICY}  - rekor.sigstore.dev:443\n  - tuf-repo-cdn.sigstore.dev:443\n` } });
    await deliverPush(h, next);
    expect(publishCheck(h, next)).toMatchObject({ status: 'completed', conclusion: 'success' });
    const after = await readSyncReport(h.cacheDir);
    expect(after.organizations['acme']?.coverage?.['acme/api']?.jobs.filter((job) => job.failure !== undefined)).toEqual([]);
    expect(h.standin.variables('repository', 'acme/api').has('EGRESSCTL_POLICY')).toBe(false);
    expect(await failingOpenMetric(h)).toBe('0');
  }, 120_000);

  it('merging the sync PR that fixes it syncs that repository again at once: the row clears without a scheduled pass or a publish', async () => {
    const { h, sha } = await failingOpenByWorkflowFile();
    expect(publishCheck(h, sha)).toMatchObject({ status: 'completed', conclusion: 'failure' });
    const failing = async () => (await readSyncReport(h.cacheDir)).organizations['acme']?.coverage?.['acme/api']?.jobs.filter((job) => job.failure !== undefined) ?? [];
    expect(await failing()).toHaveLength(1);
    expect(await failingOpenMetric(h)).toBe('1');

    // A person's own pull request merged in acme/api is not ours: nothing is queued.
    await h.standin.commitFiles('acme/api', { files: { 'README.md': 'hello\n' }, branch: 'docs' });
    const own = await h.standin.openPullRequest('acme/api', { head: 'docs' });
    await h.standin.mergePullRequest('acme/api', own.number);
    const quiet = h.standin.requests.length;
    expect((await h.standin.deliverWebhook({ url: h.hookUrl, event: 'pull_request', action: 'closed', repository: 'acme/api', pullRequest: own.number, sender: 'octocat' })).status).toBe(200);
    await h.mount.app.idle();
    expect(syncRequestsSince(h, quiet)).toEqual([]);
    expect(await failing()).toHaveLength(1);

    // The sync PR merged, and GitHub's pull_request.closed (merged) delivered, signed: acme/api alone is synced again.
    const open = h.standin.pullRequests('acme/api').find((pull) => pull.state === 'open' && pull.number !== own.number);
    expect(open).toBeDefined();
    await h.standin.mergePullRequest('acme/api', open!.number);
    const before = h.standin.requests.length;
    const delivery = { url: h.hookUrl, event: 'pull_request', action: 'closed', repository: 'acme/api', pullRequest: open!.number, sender: 'octocat' } as const;
    expect((await h.standin.deliverWebhook(delivery)).status).toBe(200);
    await h.mount.app.idle();
    expect(await failing()).toEqual([]);
    expect(await failingOpenMetric(h)).toBe('0');
    const row = (await readSyncReport(h.cacheDir)).organizations['acme']?.repositories.find((entry) => entry.repository === 'acme/api');
    expect(row?.status).toBe('synced');
    const requests = h.standin.requests.slice(before);
    // One repository's sync: no organization listing, nothing of another managed repository; a handful of requests
    // to acme/api (8 measured). The policy repository is left out: the publish check's watch may read its check
    // run in this window on a loaded machine, which is not part of this sync.
    expect(requests.filter((request) => ['apps/list-repos-accessible-to-installation', 'repos/list-for-org'].includes(request.operationId ?? ''))).toEqual([]);
    expect(requests.filter((request) => request.kind === 'api' && request.repository !== undefined && request.repository !== 'acme/api' && request.repository !== POLICY_REPO)).toEqual([]);
    expect(requests.filter((request) => request.repository === 'acme/api').length).toBeLessThanOrEqual(12);
    // That sync also removed the retained variable the job fell back through.
    expect(h.standin.variables('repository', 'acme/api').has('EGRESSCTL_POLICY')).toBe(false);

    // The same delivery again (GitHub redelivers): the unit dedupes, nothing more is synced.
    const settled = h.standin.requests.length;
    expect((await h.standin.deliverWebhook(delivery)).status).toBe(200);
    await h.mount.app.idle();
    expect(syncRequestsSince(h, settled)).toEqual([]);
  }, 120_000);
});

/**
 * Requests since `from` other than the publish check's watch reading its check run on the policy
 * repository: that watch retries with backoff and may land in any window on a loaded machine.
 */
function syncRequestsSince(h: Harness, from: number): string[] {
  return h.standin.requests
    .slice(from)
    .filter((request) => !(request.repository === POLICY_REPO && request.operationId === 'checks/get'))
    .map((request) => `${request.method} ${request.path}`);
}
