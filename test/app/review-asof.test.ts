/**
 * The App's review comment takes the store as it stands now (docs/architecture.md#expiring-exceptions),
 * as the breakage forecast and the sync do: an exception over at the base and at the head is no
 * difference in the precedence preview and is not allowed there, one whose end date the pull
 * request moves into the past is a removed endpoint, and one still running shows its last day.
 * `egressctl diff` on the same commits prints the same preview. End to end: Probot, a real
 * server, the OpenAPI-checked GitHub stand-in, real git.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { POLICY_FILES, POLICY_REPO, startHarness, type Harness } from '../support/app.js';
import { runCli } from '../support/cli.js';
import { utcDay } from '../support/policy-tests.js';

let harness: Harness | undefined;
afterEach(async () => {
  const current = harness;
  harness = undefined;
  await current?.finish();
});

/** api.yml (extends base) with exceptions: endpoint -> last day. */
function apiPolicy(exceptions: Record<string, string>): string {
  return [
    'egress-policy: block',
    'extends: base',
    'allowed-endpoints:',
    '  - registry.npmjs.org',
    '  - proxy.golang.org:443',
    ...Object.entries(exceptions).flatMap(([endpoint, day]) => [`  - endpoint: ${endpoint}`, '    reason: temporary', '    owner: team-payments', `    expires: ${day}`]),
    '',
  ].join('\n');
}

/** The precedence preview of a markdown review, up to the breakage forecast. */
function preview(markdown: string): string {
  const from = markdown.indexOf('### Precedence preview');
  expect(from).toBeGreaterThanOrEqual(0);
  return markdown.slice(from, markdown.indexOf('### Breakage forecast', from));
}

describe('the review comment\'s precedence preview as of now', () => {
  it('leaves out exceptions that are over, removes one moved into the past, dates one still running; the CLI agrees', async () => {
    harness = await startHarness({
      files: { ...POLICY_FILES, 'policies/api.yml': apiPolicy({ 'sum.golang.org': utcDay(60), 'old.example.com': utcDay(-10) }) },
    });
    const { standin, hookUrl } = harness;
    const base = (await runGit(standin.rootDir, ['rev-parse', 'main'])).trim();
    const head = await standin.commitFiles(POLICY_REPO, {
      branch: 'exceptions',
      files: {
        'policies/api.yml': apiPolicy({ 'sum.golang.org': utcDay(-1), 'old.example.com': utcDay(-5), 'sandbox.payments.example.com': utcDay(5) }),
        // The release workflow moves from base to api: it gains api's endpoints, not the exception that is over.
        'attachments.yml': POLICY_FILES['attachments.yml']!.replace('release.yml: base', 'release.yml: api'),
      },
      message: 'api: end sum.golang.org, a sandbox for five days; release follows api',
    });
    const pr = await standin.openPullRequest(POLICY_REPO, { head: 'exceptions', title: 'api exceptions' });
    const delivered = await standin.deliverWebhook({ url: hookUrl, event: 'pull_request', action: 'opened', repository: POLICY_REPO, pullRequest: pr.number });
    expect(delivered.status).toBe(200);

    const [check] = standin.checkRuns(POLICY_REPO, { headSha: head, name: 'egressctl / validate' });
    expect(check).toMatchObject({ status: 'completed', conclusion: 'success' });
    const [comment] = standin.comments(POLICY_REPO, pr.number);
    const shown = preview(comment!.body);
    expect(shown).toContain(`\`sandbox.payments.example.com:443\` allowed until ${utcDay(5)}`);
    expect(shown).toContain('− `sum.golang.org:443`');
    expect(shown).not.toContain('old.example.com');
    expect(shown).toContain('+ `proxy.golang.org:443`, `registry.npmjs.org:443`, `sandbox.payments.example.com:443` allowed until');
    expect(comment!.body).toContain('⚠️ **endpoints removed**: policy `api`');

    // The CLI on the same two commits, as of now, prints the same preview.
    const cli = await runCli(['diff', '-C', repositoryDir(standin.rootDir), base, head, '--format', 'markdown']);
    expect(cli.code).toBe(0);
    expect(preview(cli.stdout)).toBe(shown);
  });
});

function repositoryDir(root: string): string {
  return path.join(root, ...POLICY_REPO.split('/'));
}

async function runGit(root: string, args: string[]): Promise<string> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve, reject) => execFile('git', ['-C', repositoryDir(root), ...args], (error, stdout) => (error ? reject(error) : resolve(stdout))));
}
