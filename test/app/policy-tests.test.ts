/**
 * The App's check on a policy pull request runs the policy tests at the head revision: a change
 * that breaks a test fails `egressctl / validate` with an annotation at the test's line (expected
 * vs actual, the policy that decided); exceptions that expire soon are notices, and the comment
 * lists them. End to end: Probot, a real server, the OpenAPI-checked GitHub stand-in, real git.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { POLICY_FILES, POLICY_REPO, startHarness, type Harness } from '../support/app.js';
import { utcDay } from '../support/policy-tests.js';

let harness: Harness | undefined;
afterEach(async () => {
  const current = harness;
  harness = undefined;
  await current?.finish();
});

const TESTS = [
  '# yaml-language-server: $schema=../schemas/policy-test.schema.json',
  '- name: acme/api builds with Go modules and npm',
  '  repository: acme/api',
  '  workflow: .github/workflows/ci.yml',
  '  allow:',
  '    - registry.npmjs.org',
  '    - proxy.golang.org',
  '    - github.com                  # from base, which api extends',
  '  block: [evil.example.com]',
  '- name: the release workflow gets base only',
  '  repository: acme/api',
  '  workflow: .github/workflows/release.yml',
  '  block: [registry.npmjs.org]',
  '',
].join('\n');

/** api.yml with an exception that ends in five days. */
function apiWithException(endpoints: string[]): string {
  return [
    'egress-policy: block',
    'extends: base',
    'allowed-endpoints:',
    ...endpoints.map((endpoint) => `  - ${endpoint}`),
    '  - endpoint: sandbox.payments.example.com',
    '    reason: contract tests until the mock lands',
    '    owner: team-payments',
    `    expires: ${utcDay(5)}`,
    '',
  ].join('\n');
}

describe('policy tests on a policy pull request', () => {
  it('fails the check at the test that breaks, lists the upcoming expiry, and passes once fixed', async () => {
    harness = await startHarness({
      files: { ...POLICY_FILES, 'tests/api.yml': TESTS, 'policies/api.yml': apiWithException(['registry.npmjs.org', 'proxy.golang.org:443']) },
    });
    const { standin, hookUrl } = harness;
    // The change drops the Go proxy: valid YAML, valid policy, but the tests say it breaks acme/api.
    const head = await standin.commitFiles(POLICY_REPO, { branch: 'trim', files: { 'policies/api.yml': apiWithException(['registry.npmjs.org']) }, message: 'api: drop the Go proxy' });
    const pr = await standin.openPullRequest(POLICY_REPO, { head: 'trim', title: 'Trim acme/api' });
    const delivered = await standin.deliverWebhook({ url: hookUrl, event: 'pull_request', action: 'opened', repository: POLICY_REPO, pullRequest: pr.number });
    expect(delivered.status).toBe(200);

    const [check] = standin.checkRuns(POLICY_REPO, { headSha: head, name: 'egressctl / validate' });
    expect(check).toMatchObject({ status: 'completed', conclusion: 'failure' });
    expect(check!.output.title).toBe('Not valid: 1 error');
    expect(check!.annotations.map((a) => [a.path, a.start_line, a.annotation_level, a.title])).toEqual([
      ['tests/api.yml', 7, 'failure', 'test/failed'],
      ['policies/api.yml', 5, 'notice', 'endpoint/expiring'], // the head's file: one endpoint fewer
    ]);
    expect(check!.annotations[0]!.message).toContain(
      'case "acme/api builds with Go modules and npm": expected proxy.golang.org:443 to be allowed, but it is blocked: policy "api" (attached to repository acme/api) is in block mode',
    );
    expect(check!.annotations[1]!.message).toContain(`expires on ${utcDay(5)} (5 days left) (owner: team-payments)`);
    expect(check!.output.summary).toContain('Policy tests: 1 of 2 cases passed (1 failed, annotated at the endpoint that failed).');

    const [comment] = standin.comments(POLICY_REPO, pr.number);
    expect(comment!.body).toContain('#### Exceptions that expire');
    expect(comment!.body).toContain(`| \`api\` | \`sandbox.payments.example.com:443\` | ${utcDay(5)} (5 days) | team-payments | contract tests until the mock lands |`);
    expect(comment!.body).toContain('Policy tests: 1 of 2 cases passed');

    // The fix keeps the Go proxy: the same tests pass, the notice stays, the comment is edited.
    const fixed = await standin.commitFiles(POLICY_REPO, {
      branch: 'trim',
      files: { 'policies/api.yml': apiWithException(['registry.npmjs.org', 'proxy.golang.org']) },
      message: 'api: keep the Go proxy',
    });
    await standin.deliverWebhook({ url: hookUrl, event: 'pull_request', action: 'synchronize', repository: POLICY_REPO, pullRequest: pr.number });
    const [passing] = standin.checkRuns(POLICY_REPO, { headSha: fixed, name: 'egressctl / validate' });
    expect(passing).toMatchObject({ status: 'completed', conclusion: 'success' });
    expect(passing!.annotations.map((a) => a.annotation_level)).toEqual(['notice']);
    expect(passing!.output.summary).toContain('Policy tests: 2 of 2 cases passed.');
    const comments = standin.comments(POLICY_REPO, pr.number);
    expect(comments).toHaveLength(1);
    expect(comments[0]!.edits).toBe(1);
    expect(comments[0]!.body).toContain('Policy tests: 2 of 2 cases passed');
  });

  it('reports a test file that does not parse as a located error', async () => {
    harness = await startHarness();
    const { standin, hookUrl } = harness;
    const head = await standin.commitFiles(POLICY_REPO, { branch: 'bad-test', files: { 'tests/api.yml': '- name: typo\n  repositry: acme/api\n  allow: [github.com]\n' } });
    const pr = await standin.openPullRequest(POLICY_REPO, { head: 'bad-test' });
    await standin.deliverWebhook({ url: hookUrl, event: 'pull_request', action: 'opened', repository: POLICY_REPO, pullRequest: pr.number });
    const [check] = standin.checkRuns(POLICY_REPO, { headSha: head, name: 'egressctl / validate' });
    expect(check).toMatchObject({ conclusion: 'failure' });
    expect(check!.annotations).toEqual([expect.objectContaining({ path: 'tests/api.yml', start_line: 2, annotation_level: 'failure', title: 'test/unknown-key' })]);
  });
});
