/**
 * VariableWriter.confirm (docs/reconciliation.md, "Variables: writes, removal, drift"): a
 * repository whose steps could read a variable the store no longer owns, because removing it
 * failed, is not confirmed, even when the store asks for no organization variable at all.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tokenClient, type GitHubClient } from '../../src/github/client.js';
import { POLICY_VARIABLE } from '../../src/policy/delivery.js';
import { VariableWriter } from '../../src/rollout/github-variables.js';
import { startGitHubStandin, type GitHubStandin } from '../support/github/index.js';

let standin: GitHubStandin;
let client: GitHubClient;

beforeEach(async () => {
  standin = await startGitHubStandin();
  const installation = standin.createInstallation({
    account: 'acme',
    permissions: { metadata: 'read', actions_variables: 'write', organization_actions_variables: 'write' },
  });
  await standin.createRepository('acme/api', { files: { 'README.md': '# api\n' } });
  client = tokenClient(standin.createInstallationToken(installation.id), { baseUrl: standin.url, writeSpacingMs: 0, notificationSpacingMs: 0, retryAfterBaseValue: 1 });
});

afterEach(async () => {
  try {
    standin.assertNoViolations();
  } finally {
    await standin.close();
  }
});

describe('VariableWriter.confirm with no organization variable in the store', () => {
  it('does not confirm a repository while a stale organization EGRESSCTL_POLICY could not be removed', async () => {
    // The organization's attachment was removed; its variable would still override every step's fallback.
    standin.setVariable('organization', 'acme', POLICY_VARIABLE, '{"egress-policy":"audit"}');
    standin.failNextRequests({ count: 5, status: 500, message: 'Server Error', match: (request) => request.operationId === 'actions/delete-org-variable' });
    const writer = new VariableWriter(client);
    const entries = await writer.reassert('acme', new Map(), ['acme/api']);
    expect(entries.find((entry) => entry.level === 'organization' && entry.name === POLICY_VARIABLE)?.status).toBe('error');

    const problems = await writer.confirm('acme', new Map(), ['acme/api'], entries);
    expect(problems.get('acme/api')?.join('; ')).toContain(`${POLICY_VARIABLE} on acme`);
  });

  it('does not confirm a repository when the organization variables could not be listed', async () => {
    standin.failNextRequests({ count: 5, status: 500, message: 'Server Error', match: (request) => request.operationId === 'actions/list-org-variables' });
    const writer = new VariableWriter(client);
    const entries = await writer.reassert('acme', new Map(), ['acme/api']);
    const problems = await writer.confirm('acme', new Map(), ['acme/api'], entries);
    expect(problems.has('acme/api')).toBe(true);
  });

  it('confirms a repository when nothing failed', async () => {
    standin.setVariable('organization', 'acme', POLICY_VARIABLE, '{"egress-policy":"audit"}');
    const writer = new VariableWriter(client);
    const entries = await writer.reassert('acme', new Map(), ['acme/api']);
    expect(standin.variables('organization', 'acme').has(POLICY_VARIABLE)).toBe(false);
    expect((await writer.confirm('acme', new Map(), ['acme/api'], entries)).size).toBe(0);
  });
});
