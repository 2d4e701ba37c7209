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
    permissions: { metadata: 'read', contents: 'read', actions_variables: 'write', organization_actions_variables: 'write' },
  });
  await standin.createRepository('acme/api', { files: { 'README.md': '# api\n' } });
  client = tokenClient(standin.createInstallationToken(installation.id), { baseUrl: standin.url, writeSpacingMs: 0, notificationSpacingMs: 0, retryAfterBaseValue: 1 });
});

afterEach(async () => {
  await standin.finish();
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

describe('VariableWriter.reassert keeping a variable steps may still read', () => {
  const kept = { level: 'repository' as const, target: 'acme/api', name: 'EGRESSCTL_WF_RELEASE_YML', value: '{"egress-policy":"block","allowed-endpoints":"github.com:443","disable-sudo-and-containers":false,"disable-file-monitoring":false,"disable-telemetry":false,"policy":"org-block"}', policy: 'org-block', scope: 'organization acme' };

  it('sets it to what its readers get now instead of deleting it, and says why', async () => {
    standin.setVariable('repository', 'acme/api', kept.name, '{"egress-policy":"audit"}');
    const writer = new VariableWriter(client);
    const entries = await writer.reassert('acme', new Map(), ['acme/api'], { retain: (variable) => (variable.name === kept.name ? kept : undefined) });
    expect(entries.find((entry) => entry.name === kept.name)).toMatchObject({ status: 'retained', value: kept.value, policy: 'org-block' });
    expect(standin.variables('repository', 'acme/api').get(kept.name)?.value).toBe(kept.value);
    expect((await writer.confirm('acme', new Map(), ['acme/api'], entries)).size).toBe(0);
  });

  it('does not confirm the repository when that write failed (its steps stay as they are)', async () => {
    standin.setVariable('repository', 'acme/api', kept.name, '{"egress-policy":"audit"}');
    standin.failNextRequests({ count: 5, status: 500, message: 'Server Error', match: (request) => request.operationId === 'actions/update-repo-variable' });
    const writer = new VariableWriter(client);
    const entries = await writer.reassert('acme', new Map(), ['acme/api'], { retain: (variable) => (variable.name === kept.name ? kept : undefined) });
    expect(entries.find((entry) => entry.name === kept.name)?.status).toBe('error');
    expect((await writer.confirm('acme', new Map(), ['acme/api'], entries)).get('acme/api')?.join('; ')).toContain(kept.name);
  });

  it('retire reads the default branch when the rollout did not: keeps it while a step falls back through it or the files cannot be read, removes it once none does', async () => {
    standin.setVariable('repository', 'acme/api', kept.name, kept.value);
    const writer = new VariableWriter(client);
    const entries = await writer.reassert('acme', new Map(), ['acme/api'], { retain: (variable) => (variable.name === kept.name ? kept : undefined) });
    const weaker = '{"egress-policy":"audit","allowed-endpoints":"","disable-sudo-and-containers":false,"disable-file-monitoring":false,"disable-telemetry":false,"policy":"release-audit"}';
    const step = `on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: step-security/harden-runner@v2\n        with:\n          egress-policy: \${{ fromJSON(vars.${kept.name} || '${weaker}')['egress-policy'] }}\n`;
    await standin.commitFiles('acme/api', { files: { '.github/workflows/release.yml': step } });
    const reading = await writer.retire('acme', new Map(), entries, new Map());
    expect(reading.find((entry) => entry.name === kept.name)).toMatchObject({ status: 'retained' });
    expect(reading.find((entry) => entry.name === kept.name)?.reason).toContain('.github/workflows/release.yml job build');

    standin.failNextRequests({ count: 5, status: 500, message: 'Server Error', match: (request) => request.operationId === 'repos/get-content' });
    const unreadable = await writer.retire('acme', new Map(), entries, new Map());
    expect(unreadable.find((entry) => entry.name === kept.name)?.reason).toContain('could not be read');
    expect(standin.variables('repository', 'acme/api').has(kept.name)).toBe(true);
    standin.clearFaults();

    // The sync PR merged: the step reads the organization's variable after it, which holds the same.
    await standin.commitFiles('acme/api', { files: { '.github/workflows/release.yml': step.replace(`vars.${kept.name} || `, `vars.${kept.name} || vars.EGRESSCTL_POLICY || `) } });
    const desired = new Map([['organization:acme:EGRESSCTL_POLICY', { ...kept, level: 'organization' as const, target: 'acme', name: 'EGRESSCTL_POLICY' }]]);
    const gone = await writer.retire('acme', desired, entries, new Map());
    expect(gone.find((entry) => entry.name === kept.name)?.status).toBe('deleted');
    expect(standin.variables('repository', 'acme/api').has(kept.name)).toBe(false);
  });
});
