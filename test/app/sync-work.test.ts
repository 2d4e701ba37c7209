/**
 * Each repository sync is its own unit of durable work (issue 21, docs/github-app.md "Durable
 * work"), end to end on the OpenAPI-checked stand-in with real signed webhooks: the push webhook
 * is answered once the work is journaled, not after the sync; the publish check stays in
 * progress until every repository of the publish had its first attempt; with `delivery:
 * variables` the organization's variables are written and read back before any repository is
 * synced.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { FanInFailure } from '../../src/app/queue.js';
import { PUBLISH_CHECK_NAME } from '../../src/app/render.js';
import { POLICY_VARIABLE } from '../../src/policy/delivery.js';
import { readSyncReport } from '../../src/rollout/sync-report.js';
import { SIMPLE_WORKFLOW } from '../support/workflows.js';
import { POLICY_REPO, startHarness, type Harness } from '../support/app.js';

const POLICIES = {
  'policies/base.yml': 'egress-policy: block\nallowed-endpoints:\n  - github.com:443\n',
  'policies/api.yml': 'egress-policy: block\nextends: base\nallowed-endpoints:\n  - registry.npmjs.org\n',
  'policies/org.yml': 'egress-policy: block\nallowed-endpoints:\n  - proxy.golang.org\n',
};
const PULL_REQUESTS = 'organizations: [acme]\nunattached: skip\n';

let harness: Harness | undefined;
/** Releases a read held by holdTreeRead (afterEach too, so that a failed test does not leave it hanging). */
let releaseHeld: (() => void) | undefined;

afterEach(async () => {
  releaseHeld?.();
  releaseHeld = undefined;
  const current = harness;
  harness = undefined;
  await current?.finish();
});

async function start(settings: string, attachments: string, env: NodeJS.ProcessEnv = {}): Promise<Harness> {
  const h = await startHarness({ files: { 'egressctl.yml': settings, ...POLICIES, 'attachments.yml': attachments }, env });
  for (const name of ['acme/api', 'acme/web']) await h.standin.createRepository(name, { files: { '.github/workflows/ci.yml': SIMPLE_WORKFLOW } });
  await h.standin.deliverWebhook({ url: h.hookUrl, event: 'push', repository: POLICY_REPO, after: (await h.standin.refSha(POLICY_REPO, 'main'))! });
  await h.mount.app.idle();
  return h;
}

/**
 * GitHub does not answer `repository`'s next tree read until the test calls `release`: that sync is
 * slower than whatever the test does meanwhile, on any machine (test/support/README.md, "Waiting in tests").
 */
function holdTreeRead(h: Harness, repository: string): { reached: () => boolean; release: () => void } {
  let reached = false;
  let release!: () => void;
  const until = new Promise<void>((resolve) => (release = resolve));
  releaseHeld = release;
  h.standin.delayRequests({ count: 1, until, match: (request) => (reached ||= request.operationId === 'git/get-tree' && request.repository === repository) });
  return { reached: () => reached, release };
}

function publishCheck(h: Harness, sha: string) {
  return h.standin.checkRuns(POLICY_REPO, { headSha: sha, name: PUBLISH_CHECK_NAME }).at(-1);
}

describe('the push webhook and the publish check', () => {
  it('answers the push before a slow repository sync finishes; the check stays in progress until it had its attempt, then passes', async () => {
    harness = await start(PULL_REQUESTS, 'organizations: {}\n');
    // GitHub does not answer acme/api's tree until the test releases it: a sync slower than the
    // webhook on any machine (GitHub gives a webhook 10 s; syncing many repositories takes longer).
    // A webhook that waited for the sync would never be answered: the race below names that.
    harness.standin.resetStats();
    let release!: () => void;
    let held = false;
    harness.standin.delayRequests({ count: 1, until: new Promise<void>((resolve) => (release = resolve)), match: (request) => (held ||= request.operationId === 'git/get-tree' && request.repository === 'acme/api') });
    const sha = await harness.standin.commitFiles(POLICY_REPO, { files: { 'attachments.yml': 'repositories:\n  acme/api: api\n  acme/web: base\n' } });
    try {
      let timer: NodeJS.Timeout | undefined;
      const delivered = await Promise.race([
        harness.standin.deliverWebhook({ url: harness.hookUrl, event: 'push', repository: POLICY_REPO, after: sha }),
        new Promise<never>((_resolve, reject) => (timer = setTimeout(() => reject(new Error("the push webhook was not answered within 45 s while acme/api's tree read was held: it waits for the sync")), 45_000))),
      ]).finally(() => clearTimeout(timer));
      expect(delivered.status).toBe(200);
      expect(await harness.servedRevision()).toBe(sha);
      // Published, sync under way: in progress, and nothing written to acme/api yet.
      expect(publishCheck(harness, sha)).toMatchObject({ status: 'in_progress', output: { title: expect.stringMatching(/^Published [0-9a-f]{12}; syncing/) } });
      expect(harness.standin.pullRequests('acme/api')).toHaveLength(0);
      // Once the organization's unit queued its repositories: how many, still in progress (acme/api's sync is held up).
      await expect.poll(() => publishCheck(harness!, sha)?.output.title, { timeout: 20_000 }).toBe(`Published ${sha.slice(0, 12)}; syncing 2 repositories`);
      await expect.poll(() => held, { timeout: 20_000 }).toBe(true);
      expect(publishCheck(harness, sha)).toMatchObject({ status: 'in_progress', output: { summary: expect.stringContaining('Syncing 2 repositories') } });
      expect(harness.standin.pullRequests('acme/api')).toHaveLength(0);
    } finally {
      release();
    }

    await harness.mount.app.idle();
    expect(harness.standin.pullRequests('acme/api').filter((pull) => pull.state === 'open')).toHaveLength(1);
    expect(harness.standin.pullRequests('acme/web').filter((pull) => pull.state === 'open')).toHaveLength(1);
    expect(publishCheck(harness, sha)).toMatchObject({ status: 'completed', conclusion: 'success', output: { title: `Published ${sha.slice(0, 12)}: 3 policies` } });
    // Three updates: "published; syncing", the count once (one organization), then completed once.
    const updates = harness.standin.requests.filter((request) => request.operationId === 'checks/update' && request.repository === POLICY_REPO);
    expect(updates.map((request) => request.status)).toEqual([200, 200, 200]);
  }, 90_000);

  it('concludes failure naming each repository that could not be synced, after each had its first attempt', async () => {
    harness = await start(PULL_REQUESTS, 'organizations: {}\n');
    harness.standin.failNextRequests({ count: 1000, status: 500, message: 'Server Error', match: (request) => request.operationId === 'git/get-tree' && request.repository === 'acme/web' });
    const sha = await harness.standin.commitFiles(POLICY_REPO, { files: { 'attachments.yml': 'organizations:\n  acme: org\n' } });
    expect((await harness.standin.deliverWebhook({ url: harness.hookUrl, event: 'push', repository: POLICY_REPO, after: sha })).status).toBe(200);
    await harness.mount.app.idle();
    const check = publishCheck(harness, sha);
    expect(check).toMatchObject({ status: 'completed', conclusion: 'failure' });
    expect(check?.output.title).toMatch(/^Sync failed for 1 target/);
    expect(check?.output.summary).toMatch(/\| acme\/web \| .*Server Error/);
    expect(check?.output.summary).not.toMatch(/\| acme\/api \|/);
    expect(harness.standin.pullRequests('acme/api').filter((pull) => pull.state === 'open')).toHaveLength(1);
    const report = await readSyncReport(harness.cacheDir);
    expect(report.organizations['acme']?.repositories.find((entry) => entry.repository === 'acme/web')?.status).toBe('error');
  }, 90_000);
});

describe('an organization the App is not installed on', () => {
  it('fails the publish check naming it (nothing there follows the store), while the installed organization is synced', async () => {
    harness = await start('organizations: [acme, ghost]\nunattached: skip\n', 'organizations: {}\n');
    const sha = await harness.standin.commitFiles(POLICY_REPO, { files: { 'attachments.yml': 'repositories:\n  acme/api: api\n  ghost/app: api\n' } });
    expect((await harness.standin.deliverWebhook({ url: harness.hookUrl, event: 'push', repository: POLICY_REPO, after: sha })).status).toBe(200);
    await harness.mount.app.idle();
    const check = publishCheck(harness, sha);
    expect(check).toMatchObject({ status: 'completed', conclusion: 'failure' });
    expect(check?.output.summary).toMatch(/\| ghost \| .*the App is not installed on ghost/);
    expect(check?.output.summary).not.toMatch(/\| acme\/api \|/);
    expect(harness.standin.pullRequests('acme/api').filter((pull) => pull.state === 'open')).toHaveLength(1);
  }, 90_000);
});

describe('the publish check is level-triggered', () => {
  it('completes even when the queue backend failed as the repository units settled (nothing of the sync is left to run)', async () => {
    harness = await start(PULL_REQUESTS, 'organizations: {}\n', { EGRESSCTL_SYNC_RETRY_SECONDS: '1' });
    const queue = harness.mount.app.queue!;
    const settle = queue.settleInFanIn.bind(queue);
    let lost = 0;
    // Fault injection on the real queue: its backend fails as each repository unit settles (its first attempt), so the fan-in never completes.
    Object.assign(queue, {
      settleInFanIn: (id: string, unit: string, failures: FanInFailure[]) => {
        if (unit.startsWith('repository-sync:')) {
          lost++;
          return Promise.reject(new Error('Connection is closed.'));
        }
        return settle(id, unit, failures);
      },
    });
    const sha = await harness.standin.commitFiles(POLICY_REPO, { files: { 'attachments.yml': 'repositories:\n  acme/api: api\n  acme/web: base\n' } });
    expect((await harness.standin.deliverWebhook({ url: harness.hookUrl, event: 'push', repository: POLICY_REPO, after: sha })).status).toBe(200);
    await harness.mount.app.idle();
    await expect.poll(() => publishCheck(harness!, sha)?.status, { timeout: 20_000, interval: 250 }).toBe('completed');
    expect(lost).toBe(2);
    expect(publishCheck(harness, sha)).toMatchObject({ conclusion: 'success', output: { title: `Published ${sha.slice(0, 12)}: 3 policies` } });
    expect(harness.standin.pullRequests('acme/web').filter((pull) => pull.state === 'open')).toHaveLength(1);

    // A newer push is published before the older check was completed: the older one is superseded (neutral), the newer completed.
    const older = await harness.standin.commitFiles(POLICY_REPO, { files: { 'attachments.yml': 'repositories:\n  acme/api: base\n  acme/web: base\n' } });
    // The older sync of acme/api is held until the newer revision is published.
    const held = holdTreeRead(harness, 'acme/api');
    await harness.standin.deliverWebhook({ url: harness.hookUrl, event: 'push', repository: POLICY_REPO, after: older });
    await expect.poll(held.reached, { timeout: 20_000 }).toBe(true);
    const newer = await harness.standin.commitFiles(POLICY_REPO, { files: { 'attachments.yml': 'repositories:\n  acme/api: api\n  acme/web: api\n' } });
    await harness.standin.deliverWebhook({ url: harness.hookUrl, event: 'push', repository: POLICY_REPO, after: newer });
    held.release();
    await expect.poll(() => [publishCheck(harness!, older)?.status, publishCheck(harness!, newer)?.status], { timeout: 30_000, interval: 250 }).toEqual(['completed', 'completed']);
    expect(publishCheck(harness, older)).toMatchObject({ conclusion: 'neutral', output: { title: `Superseded by ${newer.slice(0, 12)}` } });
    expect(publishCheck(harness, newer)).toMatchObject({ conclusion: 'success', output: { title: `Published ${newer.slice(0, 12)}: 3 policies` } });
  }, 90_000);
});

describe('a publish check completed as superseded', () => {
  it('stays superseded when its own fan-in completes later: the completion reads the check and does not overwrite it (race 2)', async () => {
    harness = await start(PULL_REQUESTS, 'organizations: {}\n', { EGRESSCTL_SYNC_RETRY_SECONDS: '1' });
    // The older publish's sync of acme/api is held up: its fan-in completes after the watch superseded its check.
    const held = holdTreeRead(harness, 'acme/api');
    const older = await harness.standin.commitFiles(POLICY_REPO, { files: { 'attachments.yml': 'repositories:\n  acme/api: api\n  acme/web: base\n' } });
    expect((await harness.standin.deliverWebhook({ url: harness.hookUrl, event: 'push', repository: POLICY_REPO, after: older })).status).toBe(200);
    await expect.poll(held.reached, { timeout: 20_000 }).toBe(true);
    const newer = await harness.standin.commitFiles(POLICY_REPO, { files: { 'attachments.yml': 'repositories:\n  acme/api: api\n  acme/web: api\n' } });
    expect((await harness.standin.deliverWebhook({ url: harness.hookUrl, event: 'push', repository: POLICY_REPO, after: newer })).status).toBe(200);
    // The watch sees the newer revision published: the older check is superseded while its sync still runs.
    await expect.poll(() => publishCheck(harness!, older)?.output.title, { timeout: 30_000, interval: 100 }).toBe(`Superseded by ${newer.slice(0, 12)}`);
    const olderCheck = publishCheck(harness, older)!;
    expect(olderCheck).toMatchObject({ status: 'completed', conclusion: 'neutral' });
    // Then the held sync settles: the older publish's fan-in completes (it would report success).
    held.release();
    await harness.mount.app.idle();
    await expect.poll(() => publishCheck(harness!, newer)?.status, { timeout: 30_000, interval: 250 }).toBe('completed');
    expect(publishCheck(harness, older)).toMatchObject({ status: 'completed', conclusion: 'neutral', output: { title: `Superseded by ${newer.slice(0, 12)}` } });
    expect(publishCheck(harness, newer)).toMatchObject({ conclusion: 'success' });
    // On the older check: one completion (the watch's), and the fan-in's completion read it first and wrote nothing.
    const onOlder = harness.standin.requests.filter((request) => request.path.endsWith(`/check-runs/${olderCheck.id}`));
    const completions = onOlder.filter((request) => request.operationId === 'checks/update');
    const superseded = onOlder.findIndex((request) => request.operationId === 'checks/update' && request === completions.at(-1));
    expect(onOlder.slice(superseded + 1).map((request) => `${request.operationId} ${request.status}`)).toContain('checks/get 200');
    expect(onOlder.slice(superseded + 1).filter((request) => request.write)).toEqual([]);
  }, 90_000);

  it('is superseded by its own fan-in when a newer revision was published before the watch looked again: the same outcome whoever completes it', async () => {
    // The watch looks again only after a minute (the default retry): the fan-in completes the older check first.
    harness = await start(PULL_REQUESTS, 'organizations: {}\n');
    // The older sync of acme/api is held until the newer revision is published.
    const held = holdTreeRead(harness, 'acme/api');
    const older = await harness.standin.commitFiles(POLICY_REPO, { files: { 'attachments.yml': 'repositories:\n  acme/api: api\n  acme/web: base\n' } });
    await harness.standin.deliverWebhook({ url: harness.hookUrl, event: 'push', repository: POLICY_REPO, after: older });
    await expect.poll(held.reached, { timeout: 20_000 }).toBe(true);
    const newer = await harness.standin.commitFiles(POLICY_REPO, { files: { 'attachments.yml': 'repositories:\n  acme/api: api\n  acme/web: api\n' } });
    await harness.standin.deliverWebhook({ url: harness.hookUrl, event: 'push', repository: POLICY_REPO, after: newer });
    held.release();
    await harness.mount.app.idle();
    await expect.poll(() => [publishCheck(harness!, older)?.status, publishCheck(harness!, newer)?.status], { timeout: 30_000, interval: 250 }).toEqual(['completed', 'completed']);
    expect(publishCheck(harness, older)).toMatchObject({ conclusion: 'neutral', output: { title: `Superseded by ${newer.slice(0, 12)}` } });
    expect(publishCheck(harness, newer)).toMatchObject({ conclusion: 'success' });
    // Completed once, by the fan-in, after reading the check.
    const id = publishCheck(harness, older)!.id;
    const onOlder = harness.standin.requests.filter((request) => request.path.endsWith(`/check-runs/${id}`)).map((request) => `${request.method} ${request.operationId}`);
    expect(onOlder.slice(-2)).toEqual(['GET checks/get', 'PATCH checks/update']);
  }, 90_000);

  it('a superseded publish whose own sync failed completes as failed, naming what failed (the newer check does not reach it)', async () => {
    harness = await start(PULL_REQUESTS, 'organizations: {}\n', { EGRESSCTL_SYNC_RETRY_SECONDS: '3600' });
    const held = holdTreeRead(harness, 'acme/api');
    const older = await harness.standin.commitFiles(POLICY_REPO, { files: { 'attachments.yml': 'repositories:\n  acme/api: api\n  acme/web: base\n' } });
    await harness.standin.deliverWebhook({ url: harness.hookUrl, event: 'push', repository: POLICY_REPO, after: older });
    await expect.poll(held.reached, { timeout: 20_000 }).toBe(true);
    // The newer change reaches acme/web only; acme/api's sync (the older publish's) then fails.
    const newer = await harness.standin.commitFiles(POLICY_REPO, { files: { 'attachments.yml': 'repositories:\n  acme/api: api\n  acme/web: api\n' } });
    await harness.standin.deliverWebhook({ url: harness.hookUrl, event: 'push', repository: POLICY_REPO, after: newer });
    harness.standin.failNextRequests({ count: 1000, status: 500, message: 'Server Error', match: (request) => request.repository === 'acme/api' });
    held.release();
    await harness.mount.app.idle();
    await expect.poll(() => [publishCheck(harness!, older)?.status, publishCheck(harness!, newer)?.status], { timeout: 30_000, interval: 250 }).toEqual(['completed', 'completed']);
    expect(publishCheck(harness, newer)).toMatchObject({ conclusion: 'success' });
    const olderCheck = publishCheck(harness, older)!;
    expect(olderCheck).toMatchObject({ conclusion: 'failure' });
    expect(olderCheck.output.summary).toContain(`Superseded by \`${newer}\``);
    expect(olderCheck.output.summary).toContain('acme/api');
  }, 90_000);
});

describe('delivery: variables', () => {
  it('writes the organization\'s variable and reads it back before any repository is synced', async () => {
    harness = await start(PULL_REQUESTS, 'organizations:\n  acme: org\n');
    harness.standin.resetStats();
    const sha = await harness.standin.commitFiles(POLICY_REPO, { files: { 'egressctl.yml': `${PULL_REQUESTS}delivery: variables\n` } });
    await harness.standin.deliverWebhook({ url: harness.hookUrl, event: 'push', repository: POLICY_REPO, after: sha });
    await harness.mount.app.idle();
    expect(JSON.parse(harness.standin.variables('organization', 'acme').get(POLICY_VARIABLE)!.value)).toMatchObject({ policy: 'org' });
    const requests = harness.standin.requests.filter((request) => request.kind === 'api');
    const organizationWork = requests.map((request, index) => (request.operationId?.endsWith('-org-variable') || request.operationId === 'actions/list-org-variables' ? index : -1)).filter((index) => index >= 0);
    const repositoryWork = requests.map((request, index) => (request.repository === 'acme/api' || request.repository === 'acme/web' ? index : -1)).filter((index) => index >= 0);
    // Read, written (update: 404, then create), read back; only then a repository.
    expect(organizationWork.map((index) => requests[index]!.operationId)).toEqual(['actions/list-org-variables', 'actions/update-org-variable', 'actions/create-org-variable', 'actions/list-org-variables']);
    expect(repositoryWork.length).toBeGreaterThan(0);
    expect(Math.max(...organizationWork)).toBeLessThan(Math.min(...repositoryWork));
    for (const name of ['acme/api', 'acme/web']) {
      const [pull] = harness.standin.pullRequests(name).filter((item) => item.state === 'open');
      expect(await harness.standin.readFile(name, '.github/workflows/ci.yml', pull!.head.ref)).toContain('vars.EGRESSCTL_POLICY');
    }
  }, 90_000);
});
