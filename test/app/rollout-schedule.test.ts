/**
 * The scheduled full sync through Probot's installation clients, against the GitHub stand-in:
 * a pass queues one unit per managed organization, which queues one sync per repository
 * (sync-work.ts); only managed organizations, one PR, and nothing written on the next pass.
 */
import { expect, it } from 'vitest';
import { emptyBaselineFile, mergeObservations, renderBaselineFile } from '../../src/baselines/index.js';
import { ROLLOUT_BRANCH } from '../../src/rollout/rollout-body.js';
import { manifestPermissions, perTestApp, POLICY_REPO } from '../support/app.js';
import { SIMPLE_WORKFLOW } from '../support/workflows.js';

const scratch = perTestApp('egressctl-rollout-schedule-');

it('rolls out to managed organizations only, and a second pass writes nothing', async () => {
  const { standin } = scratch;
  standin.createInstallation({ account: 'acme', permissions: await manifestPermissions() });
  standin.createInstallation({ account: 'unmanaged', permissions: await manifestPermissions() });
  await standin.createRepository('acme/api', { files: { '.github/workflows/ci.yml': SIMPLE_WORKFLOW } });
  await standin.createRepository('unmanaged/api', { files: { '.github/workflows/ci.yml': SIMPLE_WORKFLOW } });
  const runs = Array.from({ length: 4 }, (_, index) => ({
    workflow: '.github/workflows/ci.yml',
    job: 'test',
    runId: String(index + 1),
    at: `2026-11-0${index + 1}T00:00:00Z`,
    endpoints: ['registry.npmjs.org:443'],
  }));
  await standin.createRepository(POLICY_REPO, {
    files: { 'egressctl.yml': 'organizations: [acme]\nunattached: baseline\n', 'baselines/acme/api.yml': renderBaselineFile(mergeObservations(emptyBaselineFile('acme/api'), runs).file) },
  });

  const egressctl = await scratch.load({ EGRESSCTL_ROLLOUT_INTERVAL_HOURS: '6' });
  expect((await egressctl.rollout!.runNow()).organizations).toEqual(['acme']);
  await egressctl.idle();
  expect(standin.pullRequests('acme/api')).toHaveLength(1);
  expect(standin.pullRequests('unmanaged/api')).toHaveLength(0);
  expect(standin.requests.filter((request) => request.repository === 'unmanaged/api')).toEqual([]);
  const file = (await standin.readFile('acme/api', '.github/workflows/ci.yml', ROLLOUT_BRANCH))!;
  expect(file).toContain('egress-policy: block');
  expect(file).toContain('registry.npmjs.org:443');

  standin.resetStats();
  await egressctl.rollout!.runNow();
  await egressctl.idle();
  expect(standin.stats().writes).toBe(0);
  // The pass did sync acme/api again (its repository unit read the open PR).
  expect(standin.requests.some((request) => request.repository === 'acme/api' && request.operationId === 'pulls/list')).toBe(true);
}, 60_000);
