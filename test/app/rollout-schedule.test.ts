/**
 * The scheduled rollout through Probot's installation clients, against the GitHub stand-in:
 * only managed organizations, one PR, and nothing written on the next run.
 */
import { Probot } from 'probot';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { registerRolloutSchedule, type RolloutSchedule } from '../../src/app/rollout-schedule.js';
import { emptyBaselineFile, mergeObservations, renderBaselineFile } from '../../src/baselines/index.js';
import { parsePolicyRepository } from '../../src/store/repository.js';
import { ROLLOUT_BRANCH } from '../../src/rollout/rollout-body.js';
import { startGitHubStandin, type GitHubStandin } from '../support/github/index.js';
import { SIMPLE_WORKFLOW } from '../support/workflows.js';

const WORKFLOW = SIMPLE_WORKFLOW;

let standin: GitHubStandin;
let schedule: RolloutSchedule | undefined;

beforeEach(async () => {
  standin = await startGitHubStandin();
});

afterEach(async () => {
  schedule?.stop();
  try {
    standin.assertNoViolations();
  } finally {
    await standin.close();
  }
});

it('rolls out to managed organizations only, and a second run writes nothing', async () => {
  standin.createInstallation({ account: 'acme' });
  standin.createInstallation({ account: 'unmanaged' });
  await standin.createRepository('acme/api', { files: { '.github/workflows/ci.yml': WORKFLOW } });
  await standin.createRepository('unmanaged/api', { files: { '.github/workflows/ci.yml': WORKFLOW } });

  const runs = Array.from({ length: 4 }, (_, index) => ({
    workflow: '.github/workflows/ci.yml',
    job: 'test',
    runId: String(index + 1),
    at: `2026-11-0${index + 1}T00:00:00Z`,
    endpoints: ['registry.npmjs.org:443'],
  }));
  const baseline = renderBaselineFile(mergeObservations(emptyBaselineFile('acme/api'), runs).file);
  const encoder = new TextEncoder();
  const loaded = parsePolicyRepository(new Map([
    ['egressctl.yml', encoder.encode('organizations: [acme]\nunattached: baseline\n')],
    ['baselines/acme/api.yml', encoder.encode(baseline)],
  ]));
  expect(loaded.errors).toEqual([]);

  const probot = new Probot({ ...standin.probotOptions(), logLevel: 'fatal' });
  await probot.load((app) => {
    schedule = registerRolloutSchedule(app, { loadPolicy: async () => loaded.value, intervalMs: 0, policyRepository: 'acme/egress-policies' });
  });
  const [report] = await schedule!.runNow();
  expect(report).toMatchObject({ organization: 'acme', repositories: [{ repository: 'acme/api', status: 'created' }] });
  expect(standin.pullRequests('unmanaged/api')).toHaveLength(0);
  const file = (await standin.readFile('acme/api', '.github/workflows/ci.yml', ROLLOUT_BRANCH))!;
  expect(file).toContain('egress-policy: block');
  expect(file).toContain('registry.npmjs.org:443');

  standin.resetStats();
  const [again] = await schedule!.runNow();
  expect(again!.repositories[0]).toMatchObject({ status: 'unchanged' });
  expect(standin.stats().writes).toBe(0);
}, 60_000);
