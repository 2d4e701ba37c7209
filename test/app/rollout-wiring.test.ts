/**
 * The scheduled rollout as the App wires it (createEgressctlApp with
 * EGRESSCTL_ROLLOUT_INTERVAL_HOURS): the policy repository is read from the head of its default
 * branch through the App's installation and git, and its baselines open a pull request.
 */
import { expect, it } from 'vitest';
import type { EgressctlApp } from '../../src/app/app.js';
import { emptyBaselineFile, mergeObservations, renderBaselineFile } from '../../src/baselines/index.js';
import { ROLLOUT_BRANCH } from '../../src/rollout/rollout-body.js';
import { manifestPermissions, perTestApp, POLICY_REPO } from '../support/app.js';
import { SIMPLE_WORKFLOW } from '../support/workflows.js';

const WORKFLOW = SIMPLE_WORKFLOW;

const scratch = perTestApp('egressctl-rollout-wiring-');

function baselineFor(repository: string): string {
  const runs = Array.from({ length: 4 }, (_, index) => ({
    workflow: '.github/workflows/ci.yml',
    job: 'test',
    runId: String(index + 1),
    at: `2026-11-0${index + 1}T00:00:00Z`,
    endpoints: ['registry.npmjs.org:443'],
  }));
  return renderBaselineFile(mergeObservations(emptyBaselineFile(repository), runs).file);
}

function loadApp(): Promise<EgressctlApp> {
  return scratch.load({ EGRESSCTL_ROLLOUT_INTERVAL_HOURS: '6' });
}

it('runs the rollout from the policy repository at its default branch head', async () => {
  const { standin } = scratch;
  standin.createInstallation({ account: 'acme', permissions: await manifestPermissions() });
  await standin.createRepository(POLICY_REPO, { files: { 'egressctl.yml': 'organizations: [acme]\nunattached: baseline\n', 'baselines/acme/api.yml': baselineFor('acme/api') } });
  await standin.createRepository('acme/api', { files: { '.github/workflows/ci.yml': WORKFLOW } });

  const egressctl = await loadApp();
  expect(egressctl.rollout).toBeDefined();
  const pass = await egressctl.rollout!.runNow();
  expect(pass.organizations).toEqual(['acme']);
  // The pass queues the organization's unit, which queues one sync per repository (sync-work.ts).
  await egressctl.idle();
  const pulls = standin.pullRequests('acme/api');
  expect(pulls).toHaveLength(1);
  expect(pulls[0]!.head.ref).toBe(ROLLOUT_BRANCH);
  const file = (await standin.readFile('acme/api', '.github/workflows/ci.yml', ROLLOUT_BRANCH))!;
  expect(file).toContain('registry.npmjs.org:443');
  // The git token the App minted for the policy repository read nothing else.
  const gitRequests = standin.requests.filter((request) => request.kind === 'git');
  expect(gitRequests.length).toBeGreaterThan(0);
  expect(new Set(gitRequests.map((request) => request.repository))).toEqual(new Set([POLICY_REPO]));
}, 60_000);

it('refuses to roll out from a policy repository head with errors', async () => {
  const { standin } = scratch;
  standin.createInstallation({ account: 'acme', permissions: await manifestPermissions() });
  await standin.createRepository(POLICY_REPO, { files: { 'egressctl.yml': 'organizations: 5\n', 'baselines/acme/api.yml': baselineFor('acme/api') } });
  await standin.createRepository('acme/api', { files: { '.github/workflows/ci.yml': WORKFLOW } });

  const egressctl = await loadApp();
  await expect(egressctl.rollout!.runNow()).rejects.toThrow(/policy repository acme\/egress-policies at main \([0-9a-f]{12}\) has 1 error\(s\), no rollout: egressctl\.yml:1/);
  expect(standin.pullRequests('acme/api')).toHaveLength(0);
}, 60_000);

it('has no schedule with EGRESSCTL_ROLLOUT_INTERVAL_HOURS=0 (it is on by default)', async () => {
  expect((await scratch.load()).rollout).toBeDefined();
  const app = await scratch.load({ EGRESSCTL_ROLLOUT_INTERVAL_HOURS: '0' });
  expect(app.rollout).toBeUndefined();
});
