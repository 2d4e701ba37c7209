/**
 * The GitHub App end to end: Probot (real), `startServer` (real HTTP), the GitHub stand-in
 * (OpenAPI-checked), real git repositories fetched over git's HTTP protocol.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REVIEW_MARKER } from '../../src/app/render.js';
import { gitText } from '../../src/util/git.js';
import { API_KEY, POLICY_FILES, POLICY_REPO, repoRoot, startHarness, type Harness } from '../support/app.js';

let harness: Harness;

afterEach(async () => {
  const current = harness;
  if (!current) return;
  harness = undefined as never;
  try {
    current.standin.assertNoViolations();
  } finally {
    await current.close();
  }
});

const BROKEN_API = 'egress-policy: block\nextends: base\nallowed-endpoints:\n  - registry.npmjs.org\n  - https://proxy.golang.org\n';
const FIXED_API = 'egress-policy: block\nextends: base\nallowed-endpoints:\n  - registry.npmjs.org\n  - proxy.golang.org:443\n  - sum.golang.org:443\n';

describe('pull request review and publish on merge', () => {
  beforeEach(async () => {
    harness = await startHarness();
  });

  it('fails a breaking PR at the right line, edits one comment on the fix, publishes the merge', async () => {
    const { standin, hookUrl } = harness;
    await standin.commitFiles(POLICY_REPO, { branch: 'tighten', files: { 'policies/api.yml': BROKEN_API }, message: 'api: add the Go proxy' });
    const pr = await standin.openPullRequest(POLICY_REPO, { head: 'tighten', title: 'Go proxy for acme/api' });

    const opened = await standin.deliverWebhook({ url: hookUrl, event: 'pull_request', action: 'opened', repository: POLICY_REPO, pullRequest: pr.number });
    expect(opened.status).toBe(200);
    const [failing] = standin.checkRuns(POLICY_REPO, { headSha: pr.headSha, name: 'egressctl / validate' });
    expect(failing).toMatchObject({ status: 'completed', conclusion: 'failure' });
    expect(failing!.output.title).toMatch(/^Not valid: 1 error$/);
    expect(failing!.annotations).toEqual([
      expect.objectContaining({ path: 'policies/api.yml', start_line: 5, end_line: 5, annotation_level: 'failure', title: 'endpoint/scheme' }),
    ]);
    expect(failing!.output.summary).toContain('policies/api.yml:5:5');
    let comments = standin.comments(POLICY_REPO, pr.number);
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body.startsWith(REVIEW_MARKER)).toBe(true);
    expect(comments[0]!.body).toContain('does not validate: 1 error');
    expect(comments[0]!.user.login).toBe('egressctl[bot]');

    // The fix: same comment, edited in place; the check on the new head passes.
    const fixedHead = await standin.commitFiles(POLICY_REPO, { branch: 'tighten', files: { 'policies/api.yml': FIXED_API }, message: 'api: fix the endpoint' });
    const synchronized = await standin.deliverWebhook({ url: hookUrl, event: 'pull_request', action: 'synchronize', repository: POLICY_REPO, pullRequest: pr.number });
    expect(synchronized.status).toBe(200);
    const [passing] = standin.checkRuns(POLICY_REPO, { headSha: fixedHead, name: 'egressctl / validate' });
    expect(passing).toMatchObject({ status: 'completed', conclusion: 'success', annotations: [] });
    comments = standin.comments(POLICY_REPO, pr.number);
    expect(comments).toHaveLength(1);
    expect(comments[0]!.edits).toBe(1);
    expect(comments[0]!.body).not.toContain('does not validate');
    expect(comments[0]!.body).toContain(fixedHead.slice(0, 12));
    expect(comments[0]!.body).toContain('sum.golang.org');

    // Merge, then the push to the default branch publishes the merge commit.
    const mergeSha = await standin.mergePullRequest(POLICY_REPO, pr.number);
    const pushed = await standin.deliverWebhook({ url: hookUrl, event: 'push', repository: POLICY_REPO, after: mergeSha });
    expect(pushed.status).toBe(200);
    // The sync after it is journaled work; the check completes when it had its first attempt.
    await harness.mount.app.idle();
    const [publish] = standin.checkRuns(POLICY_REPO, { headSha: mergeSha, name: 'egressctl / publish' });
    expect(publish).toMatchObject({ status: 'completed', conclusion: 'success' });
    expect(publish!.output.title).toBe(`Published ${mergeSha.slice(0, 12)}: 3 policies`);
    expect(publish!.output.summary).toContain(`| Revision | \`${mergeSha}\` |`);
    expect(publish!.output.summary).toContain('1 workflows, 1 repositories, 1 organizations, 0 clusters');
    expect(publish!.output.summary).toMatch(/Signed by \| `sha256:[0-9a-f]{64}`/);
    expect(await harness.servedRevision()).toBe(mergeSha);

    const answer = await fetch(`${harness.server.url}/v1/policy?repository=acme/api`, { headers: { authorization: `ApiKey ${API_KEY}` } });
    expect(answer.status).toBe(200);
    const policy = (await answer.json()) as { revision: string; policy: string; config: Record<string, string> };
    expect(policy).toMatchObject({ revision: mergeSha, policy: 'api' });
    expect(policy.config['allowed-endpoints']).toContain('sum.golang.org:443');
  });

  it('passes a warning-only change with warning annotations', async () => {
    const { standin, hookUrl } = harness;
    const withWarnings = 'egress-policy: block\nallowed-endpoints:\n  - github.com:443\n  - objects.githubusercontent.com\n  - 10.0.0.1:443\n  - github.com\n';
    const head = await standin.commitFiles(POLICY_REPO, { branch: 'warn', files: { 'policies/base.yml': withWarnings } });
    const pr = await standin.openPullRequest(POLICY_REPO, { head: 'warn' });
    await standin.deliverWebhook({ url: hookUrl, event: 'pull_request', action: 'opened', repository: POLICY_REPO, pullRequest: pr.number });
    const [check] = standin.checkRuns(POLICY_REPO, { headSha: head });
    expect(check).toMatchObject({ conclusion: 'success' });
    expect(check!.output.title).toMatch(/^Valid \(2 warnings\): /);
    expect(check!.annotations.map((a) => [a.start_line, a.annotation_level, a.title])).toEqual([
      [5, 'warning', 'endpoint/ipv4'],
      [6, 'warning', 'endpoint/duplicate'],
    ]);
    expect(standin.comments(POLICY_REPO, pr.number)[0]!.body).toContain('Valid, with 2 warnings');
  });

  it('sends more than 50 annotations in batches of at most 50', async () => {
    const { standin, hookUrl } = harness;
    const endpoints = Array.from({ length: 120 }, (_, index) => `  - https://host${index}.example.com\n`).join('');
    // github.com:443 last: the block policy stays valid for checkout, so the 120 errors are all there is.
    const head = await standin.commitFiles(POLICY_REPO, { branch: 'many', files: { 'policies/base.yml': `egress-policy: block\nallowed-endpoints:\n${endpoints}  - github.com:443\n` } });
    const pr = await standin.openPullRequest(POLICY_REPO, { head: 'many' });
    standin.resetStats();
    await standin.deliverWebhook({ url: hookUrl, event: 'pull_request', action: 'opened', repository: POLICY_REPO, pullRequest: pr.number });
    const [check] = standin.checkRuns(POLICY_REPO, { headSha: head });
    expect(check).toMatchObject({ conclusion: 'failure' });
    expect(check!.annotations).toHaveLength(120);
    expect(check!.annotations.map((a) => a.start_line)).toEqual(Array.from({ length: 120 }, (_, index) => index + 3));
    // 120 annotations: 50 + 50 + 20, the last update with the conclusion.
    expect(check!.updates).toBe(3);
    expect(standin.stats().byRoute['PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}']).toBe(3);
    expect(check!.output.summary!.length).toBeLessThanOrEqual(65_535);
    expect(check!.output.summary).toContain('70 more findings not listed here');
  });

  it('caps annotations and says so, for a change with hundreds of errors', async () => {
    const { standin, hookUrl } = harness;
    const endpoints = Array.from({ length: 400 }, (_, index) => `  - https://host${index}.example.com/${'x'.repeat(300)}\n`).join('');
    const head = await standin.commitFiles(POLICY_REPO, { branch: 'huge', files: { 'policies/base.yml': `egress-policy: block\nallowed-endpoints:\n${endpoints}` } });
    const pr = await standin.openPullRequest(POLICY_REPO, { head: 'huge' });
    await standin.deliverWebhook({ url: hookUrl, event: 'pull_request', action: 'opened', repository: POLICY_REPO, pullRequest: pr.number });
    const [check] = standin.checkRuns(POLICY_REPO, { headSha: head });
    expect(check!.annotations).toHaveLength(250);
    expect(check!.output.summary!.length).toBeLessThanOrEqual(65_535);
    expect(check!.output.summary).toMatch(/250 findings annotated \(errors first\); run `egressctl validate` for all [\d,]+\./);
  });

  it('never publishes an ancestor of the published revision (pushes out of order)', async () => {
    const { standin, hookUrl } = harness;
    const older = await standin.commitFiles(POLICY_REPO, { files: { 'policies/audit.yml': 'egress-policy: audit\ndescription: first\n' } });
    const newer = await standin.commitFiles(POLICY_REPO, { files: { 'policies/audit.yml': 'egress-policy: audit\ndescription: second\n' } });

    await standin.deliverWebhook({ url: hookUrl, event: 'push', repository: POLICY_REPO, after: newer, before: older });
    expect(await harness.servedRevision()).toBe(newer);
    const late = await standin.deliverWebhook({ url: hookUrl, event: 'push', repository: POLICY_REPO, after: older });
    expect(late.status).toBe(200);
    expect(await harness.servedRevision()).toBe(newer);
    const [superseded] = standin.checkRuns(POLICY_REPO, { headSha: older, name: 'egressctl / publish' });
    expect(superseded).toMatchObject({ status: 'completed', conclusion: 'neutral' });
    expect(superseded!.output.title).toBe(`Superseded by ${newer.slice(0, 12)}`);
    expect(harness.server.state.degraded).toBeUndefined();
  });

  it('keeps the last good bundle when a push does not compile, and says where the errors are', async () => {
    const { standin, hookUrl } = harness;
    const good = (await standin.refSha(POLICY_REPO, 'main'))!;
    await standin.deliverWebhook({ url: hookUrl, event: 'push', repository: POLICY_REPO, after: good });
    expect(await harness.servedRevision()).toBe(good);

    const bad = await standin.commitFiles(POLICY_REPO, { files: { 'attachments.yml': `${POLICY_FILES['attachments.yml']}clusters:\n  arc-prod: missing-policy\n` } });
    await standin.deliverWebhook({ url: hookUrl, event: 'push', repository: POLICY_REPO, after: bad });
    expect(await harness.servedRevision()).toBe(good);
    const [failed] = standin.checkRuns(POLICY_REPO, { headSha: bad, name: 'egressctl / publish' });
    expect(failed).toMatchObject({ conclusion: 'failure' });
    expect(failed!.output.title).toBe('Not published: 1 error');
    expect(failed!.output.summary).toContain(`Servers keep serving the last good revision \`${good}\``);
    expect(failed!.annotations).toEqual([expect.objectContaining({ path: 'attachments.yml', start_line: 8, annotation_level: 'failure' })]);
  });

  it('publishes only pushes to the default branch, and reports an already published revision', async () => {
    const { standin, hookUrl } = harness;
    const feature = await standin.commitFiles(POLICY_REPO, { branch: 'feature', files: { 'policies/audit.yml': 'egress-policy: audit\ndescription: feature\n' } });
    await standin.deliverWebhook({ url: hookUrl, event: 'push', repository: POLICY_REPO, ref: 'refs/heads/feature', after: feature });
    expect(await harness.servedRevision()).toBeUndefined();
    expect(standin.checkRuns(POLICY_REPO, { headSha: feature })).toEqual([]);

    const main = (await standin.refSha(POLICY_REPO, 'main'))!;
    await standin.deliverWebhook({ url: hookUrl, event: 'push', repository: POLICY_REPO, after: main });
    await harness.mount.app.idle();
    await standin.deliverWebhook({ url: hookUrl, event: 'push', repository: POLICY_REPO, after: main });
    await harness.mount.app.idle();
    const checks = standin.checkRuns(POLICY_REPO, { headSha: main, name: 'egressctl / publish' });
    expect(checks.map((check) => check.output.title)).toEqual([`Published ${main.slice(0, 12)}: 3 policies`, `Already published: ${main.slice(0, 12)}`]);
  });

  it('follows default-branch from egressctl.yml on the default branch, not from the branch pushed', async () => {
    const { standin, hookUrl } = harness;
    // A feature branch that names itself the branch to publish is not published.
    const sneaky = await standin.commitFiles(POLICY_REPO, { branch: 'sneaky', files: { 'egressctl.yml': 'default-branch: sneaky\n' } });
    await standin.deliverWebhook({ url: hookUrl, event: 'push', repository: POLICY_REPO, ref: 'refs/heads/sneaky', after: sneaky });
    expect(await harness.servedRevision()).toBeUndefined();

    // main declares `production`: pushes to main are not published, pushes to production are.
    const main = await standin.commitFiles(POLICY_REPO, { files: { 'egressctl.yml': 'default-branch: production\n' } });
    await standin.deliverWebhook({ url: hookUrl, event: 'push', repository: POLICY_REPO, after: main });
    expect(await harness.servedRevision()).toBeUndefined();
    const production = await standin.commitFiles(POLICY_REPO, { branch: 'production', from: main, files: { 'policies/audit.yml': 'egress-policy: audit\ndescription: prod\n' } });
    await standin.deliverWebhook({ url: hookUrl, event: 'push', repository: POLICY_REPO, ref: 'refs/heads/production', after: production });
    expect(await harness.servedRevision()).toBe(production);
  });

  it('rejects a bad signature with no side effect', async () => {
    const { standin, hookUrl } = harness;
    await standin.commitFiles(POLICY_REPO, { branch: 'x', files: { 'policies/api.yml': BROKEN_API } });
    const pr = await standin.openPullRequest(POLICY_REPO, { head: 'x' });
    standin.resetStats();
    for (const signature of ['invalid', 'none'] as const) {
      const response = await standin.deliverWebhook({ url: hookUrl, event: 'pull_request', action: 'opened', repository: POLICY_REPO, pullRequest: pr.number, signature });
      expect([400, 401]).toContain(response.status);
    }
    const push = await standin.deliverWebhook({ url: hookUrl, event: 'push', repository: POLICY_REPO, signature: 'invalid' });
    expect([400, 401]).toContain(push.status);
    expect(standin.stats().total).toBe(0);
    expect(standin.checkRuns(POLICY_REPO)).toEqual([]);
    expect(standin.comments(POLICY_REPO)).toEqual([]);
    expect(await harness.servedRevision()).toBeUndefined();
    // Nothing fetched (no mirror); the work queue's journal is there from the start.
    expect((await readdir(harness.cacheDir)).filter((name) => name !== 'queue')).toEqual([]);
  });

  it('handles a repeated delivery id once', async () => {
    const { standin, hookUrl } = harness;
    await standin.commitFiles(POLICY_REPO, { branch: 'again', files: { 'policies/api.yml': FIXED_API } });
    const pr = await standin.openPullRequest(POLICY_REPO, { head: 'again' });
    const first = await standin.deliverWebhook({ url: hookUrl, event: 'pull_request', action: 'opened', repository: POLICY_REPO, pullRequest: pr.number });
    const repeated = await standin.deliverWebhook({ url: hookUrl, event: 'pull_request', action: 'opened', repository: POLICY_REPO, pullRequest: pr.number, deliveryId: first.deliveryId });
    expect(repeated.status).toBe(200);
    // Two at once with the same id: still once.
    const main = (await standin.refSha(POLICY_REPO, 'main'))!;
    const pushId = '7d0b4b7e-0000-4000-8000-000000000001';
    const both = await Promise.all([1, 2].map(() => standin.deliverWebhook({ url: hookUrl, event: 'push', repository: POLICY_REPO, after: main, deliveryId: pushId })));
    expect(both.map((response) => response.status)).toEqual([200, 200]);
    expect(standin.checkRuns(POLICY_REPO, { name: 'egressctl / validate' })).toHaveLength(1);
    expect(standin.checkRuns(POLICY_REPO, { name: 'egressctl / publish' })).toHaveLength(1);
    expect(standin.comments(POLICY_REPO, pr.number)).toHaveLength(1);
  });

  it('reviews again, once, when a pull request delivery is redelivered while its review runs', async () => {
    const { standin, hookUrl } = harness;
    await standin.commitFiles(POLICY_REPO, { branch: 'inflight', files: { 'policies/api.yml': FIXED_API } });
    const pr = await standin.openPullRequest(POLICY_REPO, { head: 'inflight' });
    const deliveryId = '7d0b4b7e-0000-4000-8000-000000000002';
    const deliver = () => standin.deliverWebhook({ url: hookUrl, event: 'pull_request', action: 'opened', repository: POLICY_REPO, pullRequest: pr.number, deliveryId });
    // The first review fails after it has started (its comment is refused), and that comment is
    // held until three redeliveries have reached the App's handlers: they arrive while it runs, on
    // any machine, however slow.
    let release!: () => void;
    let reachComment!: () => void;
    const commentReached = new Promise<void>((resolve) => (reachComment = resolve));
    const isComment = (request: { operationId: string }): boolean => request.operationId === 'issues/create-comment';
    standin.delayRequests({ count: 1, until: new Promise<void>((resolve) => (release = resolve)), match: (request) => isComment(request) && (reachComment(), true) });
    standin.failNextRequests({ count: 1, status: 422, message: 'Validation Failed', match: isComment });
    let dispatched = 0;
    let allDispatched!: () => void;
    const redeliveriesDispatched = new Promise<void>((resolve) => (allDispatched = resolve));
    // Probot hands each delivery to every matching handler in one go: this one is called with the guard's.
    harness.mount.probot.onAny((context) => {
      if (context.id === deliveryId && ++dispatched === 4) allDispatched();
    });
    const first = deliver();
    await commentReached;
    const redeliveries = [deliver(), deliver(), deliver()];
    await redeliveriesDispatched;
    // @octokit/webhooks starts all of a delivery's handlers from promise callbacks, after the same
    // transform (Probot's context: no I/O): once those callbacks have run out, which they have when
    // setImmediate fires, the guard has seen all three redeliveries.
    await new Promise((resolve) => setImmediate(resolve));
    release();
    const answers = await Promise.all([first, ...redeliveries]);
    expect(answers[0]!.status).toBe(422);
    expect(answers.slice(1).map((answer) => answer.status)).toEqual([200, 200, 200]);
    const runs = standin.checkRuns(POLICY_REPO, { headSha: pr.headSha, name: 'egressctl / validate' });
    expect(runs.map((run) => run.conclusion)).toEqual(['failure', 'success']);
    expect(standin.comments(POLICY_REPO, pr.number)).toHaveLength(1);
    // Once it has ended, the same id is a duplicate again.
    await deliver();
    expect(standin.checkRuns(POLICY_REPO, { name: 'egressctl / validate' })).toHaveLength(2);
  });

  it('retries a delivery whose handling failed (the id is forgotten)', async () => {
    const { standin, hookUrl } = harness;
    await standin.commitFiles(POLICY_REPO, { branch: 'flaky', files: { 'policies/api.yml': FIXED_API } });
    const pr = await standin.openPullRequest(POLICY_REPO, { head: 'flaky' });
    standin.failNextRequests({ count: 1, status: 422, message: 'Validation Failed', match: (request) => request.operationId === 'issues/create-comment' });
    const failed = await standin.deliverWebhook({ url: hookUrl, event: 'pull_request', action: 'opened', repository: POLICY_REPO, pullRequest: pr.number });
    // @octokit/webhooks answers with the failed request's status.
    expect(failed.status).toBe(422);
    expect(standin.comments(POLICY_REPO, pr.number)).toHaveLength(0);
    const retried = await standin.deliverWebhook({ url: hookUrl, event: 'pull_request', action: 'opened', repository: POLICY_REPO, pullRequest: pr.number, deliveryId: failed.deliveryId });
    expect(retried.status).toBe(200);
    expect(standin.comments(POLICY_REPO, pr.number)).toHaveLength(1);
  });

  it('says what failed on git without the server\'s paths, on the check run and in the webhook answer', async () => {
    const { standin, hookUrl, cacheDir } = harness;
    // A mirror git cannot use: every git command in it fails, naming its directory.
    const mirror = path.join(cacheDir, 'acme', 'egress-policies.git');
    await mkdir(mirror, { recursive: true });
    await writeFile(path.join(mirror, 'HEAD'), 'not a ref\n');
    await standin.commitFiles(POLICY_REPO, { branch: 'broken-mirror', files: { 'policies/api.yml': FIXED_API } });
    const pr = await standin.openPullRequest(POLICY_REPO, { head: 'broken-mirror' });
    const reviewed = await standin.deliverWebhook({ url: hookUrl, event: 'pull_request', action: 'opened', repository: POLICY_REPO, pullRequest: pr.number });
    const mergeSha = await standin.mergePullRequest(POLICY_REPO, pr.number);
    const pushed = await standin.deliverWebhook({ url: hookUrl, event: 'push', repository: POLICY_REPO, after: mergeSha });

    const [check] = standin.checkRuns(POLICY_REPO, { headSha: pr.headSha, name: 'egressctl / validate' });
    expect(check).toMatchObject({ status: 'completed', conclusion: 'failure', output: { title: 'egressctl could not review this change' } });
    for (const text of [check!.output.summary!, reviewed.body, pushed.body]) {
      expect(text).toMatch(/git/);
      expect(text).not.toContain(cacheDir);
      expect(text).not.toContain(os.tmpdir());
      expect(text).not.toMatch(/(^|[\s'"(])\/(tmp|var|home|root|private)\//);
    }
    expect(reviewed.status).toBe(500);
    expect(pushed.status).toBe(500);
  });

  it('re-runs the review when the validate check is re-requested (the Re-run button)', async () => {
    const { standin, hookUrl } = harness;
    await standin.commitFiles(POLICY_REPO, { branch: 'rerun', files: { 'policies/api.yml': FIXED_API } });
    const pr = await standin.openPullRequest(POLICY_REPO, { head: 'rerun' });
    standin.failNextRequests({ count: 1, status: 422, message: 'Validation Failed', match: (request) => request.operationId === 'issues/create-comment' });
    await standin.deliverWebhook({ url: hookUrl, event: 'pull_request', action: 'opened', repository: POLICY_REPO, pullRequest: pr.number });
    const [first] = standin.checkRuns(POLICY_REPO, { headSha: pr.headSha, name: 'egressctl / validate' });
    expect(first).toMatchObject({ status: 'completed', conclusion: 'failure', output: { title: 'egressctl could not review this change' } });
    expect(standin.comments(POLICY_REPO, pr.number)).toHaveLength(0);

    const rerun = await standin.deliverWebhook({ url: hookUrl, event: 'check_run', action: 'rerequested', repository: POLICY_REPO, checkRun: first!.id });
    expect(rerun.status).toBe(200);
    const runs = standin.checkRuns(POLICY_REPO, { headSha: pr.headSha, name: 'egressctl / validate' });
    expect(runs).toHaveLength(2);
    expect(runs[1]).toMatchObject({ status: 'completed', conclusion: 'success' });
    const comments = standin.comments(POLICY_REPO, pr.number);
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body).toContain('sum.golang.org');

    // Another check's re-run (publish) is not a review.
    const before = standin.requests.length;
    await standin.deliverWebhook({
      url: hookUrl,
      event: 'check_run',
      action: 'rerequested',
      repository: POLICY_REPO,
      checkRun: first!.id,
      overrides: { check_run: { name: 'someone else / lint' } },
    });
    expect(standin.requests.length).toBe(before);
  });

  it('finds its comment on a later page and ignores a person quoting the marker', async () => {
    const { standin, hookUrl } = harness;
    await standin.commitFiles(POLICY_REPO, { branch: 'busy', files: { 'policies/api.yml': FIXED_API } });
    const pr = await standin.openPullRequest(POLICY_REPO, { head: 'busy' });
    // 150 comments by people before the App's first one (so ours is on the second page), one of them quoting the marker.
    const token = standin.createUserToken('octocat');
    for (let index = 0; index < 150; index++) {
      const body = index === 0 ? `${REVIEW_MARKER} quoting the bot` : `comment ${index}`;
      const response = await fetch(`${standin.url}/repos/${POLICY_REPO}/issues/${pr.number}/comments`, {
        method: 'POST',
        headers: { authorization: `token ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ body }),
      });
      expect(response.status).toBe(201);
    }
    await standin.deliverWebhook({ url: hookUrl, event: 'pull_request', action: 'opened', repository: POLICY_REPO, pullRequest: pr.number });
    await standin.commitFiles(POLICY_REPO, { branch: 'busy', files: { 'policies/audit.yml': 'egress-policy: audit\ndescription: busy\n' } });
    standin.resetStats();
    await standin.deliverWebhook({ url: hookUrl, event: 'pull_request', action: 'synchronize', repository: POLICY_REPO, pullRequest: pr.number });
    const ours = standin.comments(POLICY_REPO, pr.number).filter((comment) => comment.user.type === 'Bot');
    expect(ours).toHaveLength(1);
    expect(ours[0]!.edits).toBe(1);
    expect(standin.comments(POLICY_REPO, pr.number).find((comment) => comment.body.endsWith('quoting the bot'))!.edits).toBe(0);
    expect(standin.stats().byRoute['GET /repos/{owner}/{repo}/issues/{issue_number}/comments']).toBe(2);
    expect(standin.stats().byRoute['POST /repos/{owner}/{repo}/issues/{issue_number}/comments'] ?? 0).toBe(0);
  });

  it('never stores the token: no remote, no credentials in the mirror', async () => {
    const { standin, hookUrl } = harness;
    const main = (await standin.refSha(POLICY_REPO, 'main'))!;
    await standin.deliverWebhook({ url: hookUrl, event: 'push', repository: POLICY_REPO, after: main });
    const mirror = path.join(harness.cacheDir, 'acme', 'egress-policies.git');
    const config = await gitText(mirror, ['config', '--local', '--list']);
    expect(config).not.toMatch(/ghs_|extraheader|remote\./i);
    expect(await gitText(mirror, ['for-each-ref', '--format=%(refname)'])).toBe(`refs/egressctl/${main}\n`);
  });
});

describe('which repository is the policy repository', () => {
  it('reviews only EGRESSCTL_POLICY_REPOSITORY when it is set', async () => {
    harness = await startHarness();
    const { standin, hookUrl } = harness;
    await standin.createRepository('acme/other-policies', { files: POLICY_FILES });
    await standin.commitFiles('acme/other-policies', { branch: 'b', files: { 'policies/api.yml': BROKEN_API } });
    const pr = await standin.openPullRequest('acme/other-policies', { head: 'b' });
    standin.resetStats();
    const response = await standin.deliverWebhook({ url: hookUrl, event: 'pull_request', action: 'opened', repository: 'acme/other-policies', pullRequest: pr.number });
    expect(response.status).toBe(200);
    // No review: only the tamper check every installed repository gets (its file listing and its check run).
    const routes = Object.keys(standin.stats().byRoute).filter((route) => !route.startsWith('POST /app/installations/'));
    expect(routes.sort()).toEqual(['GET /repos/{owner}/{repo}/pulls/{pull_number}/files', 'POST /repos/{owner}/{repo}/check-runs']);
    expect(standin.checkRuns('acme/other-policies').map((run) => run.name)).toEqual(['egressctl / egress policy']);
    expect(standin.comments('acme/other-policies', pr.number)).toEqual([]);
  });

  it('without the setting, reviews repositories that hold policies/ or attachments.yml at the head', async () => {
    harness = await startHarness({ policyRepository: null });
    const { standin, hookUrl } = harness;
    await standin.createRepository('acme/api', { files: { 'README.md': '# api\n' } });
    await standin.commitFiles('acme/api', { branch: 'b', files: { 'README.md': '# api!\n' } });
    const ignored = await standin.openPullRequest('acme/api', { head: 'b' });
    await standin.deliverWebhook({ url: hookUrl, event: 'pull_request', action: 'opened', repository: 'acme/api', pullRequest: ignored.number });
    expect(standin.checkRuns('acme/api')).toEqual([]);

    await standin.commitFiles(POLICY_REPO, { branch: 'b', files: { 'policies/api.yml': BROKEN_API } });
    const reviewed = await standin.openPullRequest(POLICY_REPO, { head: 'b' });
    await standin.deliverWebhook({ url: hookUrl, event: 'pull_request', action: 'opened', repository: POLICY_REPO, pullRequest: reviewed.number });
    expect(standin.checkRuns(POLICY_REPO)).toMatchObject([{ conclusion: 'failure' }]);

    // policies/ alone is enough (nothing attached yet).
    await standin.createRepository('acme/new-policies', { files: { 'policies/base.yml': POLICY_FILES['policies/base.yml']! } });
    await standin.commitFiles('acme/new-policies', { branch: 'b', files: { 'policies/api.yml': BROKEN_API } });
    const fresh = await standin.openPullRequest('acme/new-policies', { head: 'b' });
    await standin.deliverWebhook({ url: hookUrl, event: 'pull_request', action: 'opened', repository: 'acme/new-policies', pullRequest: fresh.number });
    expect(standin.checkRuns('acme/new-policies')).toMatchObject([{ conclusion: 'failure' }]);
    // Every contents request names a path (the stand-in refuses one without, as GitHub's description has no such call).
    expect(standin.requests.filter((request) => request.operationId === 'repos/get-content').every((request) => !/\/contents\/?(\?|$)/.test(request.path))).toBe(true);
  });
});

describe('workflow_job in the same app', () => {
  it('feeds baselines through the delivery guard (a repeated delivery downloads one log) and flushes on close', async () => {
    harness = await startHarness();
    const { standin, hookUrl } = harness;
    const workflow = [
      'on: push',
      'jobs:',
      '  build:',
      '    runs-on: ubuntu-latest',
      '    steps:',
      '      - name: Harden-Runner',
      '        uses: step-security/harden-runner@05e31511f85b41b11d1cf0ef85d0992719546e2c # v2.21.0',
      '        with:',
      '          egress-policy: audit',
      '      - run: npm test',
      '',
    ].join('\n');
    await standin.createRepository('acme/api', { files: { '.github/workflows/ci.yml': workflow } });
    const log = await readFile(path.join(repoRoot, 'test/baselines/fixtures/audit-job.txt'), 'utf8');
    const steps = [
      { name: 'Set up job', status: 'completed', conclusion: 'success', number: 1 },
      { name: 'Harden-Runner', status: 'completed', conclusion: 'success', number: 2 },
    ];
    const job = await standin.addWorkflowJob('acme/api', { name: 'build', logs: log, steps, workflowPath: '.github/workflows/ci.yml' });
    const first = await standin.deliverWebhook({ url: hookUrl, event: 'workflow_job', action: 'completed', repository: 'acme/api', workflowJob: job.id });
    expect(first.status).toBe(200);
    await standin.deliverWebhook({ url: hookUrl, event: 'workflow_job', action: 'completed', repository: 'acme/api', workflowJob: job.id, deliveryId: first.deliveryId });
    await harness.mount.app.idle();
    expect(standin.stats().logDownloads).toBe(1);
    await harness.mount.close();
    expect(await standin.readFile(POLICY_REPO, 'baselines/acme/api.yml')).toContain('.github/workflows/ci.yml');
  });
});

describe('throttling and retries', () => {
  it('goes through @octokit/plugin-throttling and plugin-retry: a secondary rate limit and a 502 are retried', async () => {
    harness = await startHarness({ octokit: { retryAfterBaseValue: 20, serverErrorRetryBaseMs: 20 } });
    const { standin, hookUrl } = harness;
    await standin.commitFiles(POLICY_REPO, { branch: 'limits', files: { 'policies/api.yml': FIXED_API } });
    const pr = await standin.openPullRequest(POLICY_REPO, { head: 'limits' });
    standin.secondaryRateLimit(1, { retryAfter: 1 });
    standin.failNextRequests({ count: 1, status: 502, message: 'Bad Gateway', match: (request) => request.operationId === 'issues/create-comment' });
    const response = await standin.deliverWebhook({ url: hookUrl, event: 'pull_request', action: 'opened', repository: POLICY_REPO, pullRequest: pr.number });
    // 202 when the retries outlast the webhook's answer (a loaded machine): the review still ends.
    expect([200, 202]).toContain(response.status);
    await harness.mount.app.idle();
    expect(standin.stats().injectedFaults).toBe(2);
    expect(standin.checkRuns(POLICY_REPO, { name: 'egressctl / validate' })).toMatchObject([{ conclusion: 'success' }]);
    expect(standin.comments(POLICY_REPO, pr.number)).toHaveLength(1);
  });
});
