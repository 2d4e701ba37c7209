/**
 * The scheduled sync pass also proposes the removal of expired exceptions, so a policy
 * repository that publishes nothing still gets the pull request (createEgressctlApp with
 * EGRESSCTL_ROLLOUT_INTERVAL_HOURS, the OpenAPI-checked stand-in with app.yml's permissions).
 */
import { expect, it } from 'vitest';
import { EXPIRED_BRANCH } from '../../src/app/expired-exceptions.js';
import { manifestPermissions, perTestApp, POLICY_REPO } from '../support/app.js';
import { utcDay } from '../support/policy-tests.js';

const scratch = perTestApp('egressctl-expired-schedule-');

it('opens the expired-exceptions pull request from the head of the default branch on a scheduled pass', async () => {
  const { standin } = scratch;
  standin.createInstallation({ account: 'acme', permissions: await manifestPermissions() });
  await standin.createRepository(POLICY_REPO, {
    files: {
      'egressctl.yml': 'organizations: [acme]\n',
      'policies/api.yml': `egress-policy: block\nallowed-endpoints:\n  - github.com\n  - endpoint: old.example.com\n    reason: migration\n    expires: ${utcDay(-3)}\n`,
      'attachments.yml': 'repositories:\n  acme/api: api\n',
    },
  });

  const egressctl = await scratch.load({ EGRESSCTL_ROLLOUT_INTERVAL_HOURS: '6' });
  await egressctl.rollout!.runNow();
  await egressctl.idle();
  const [pr] = standin.pullRequests(POLICY_REPO);
  expect(pr).toMatchObject({ state: 'open', title: 'Remove 1 expired exception from policy api', head: { ref: EXPIRED_BRANCH } });
  expect(await standin.readFile(POLICY_REPO, 'policies/api.yml', EXPIRED_BRANCH)).toBe('egress-policy: block\nallowed-endpoints:\n  - github.com\n');

  // A second pass changes nothing: the same pull request, no second one.
  await egressctl.rollout!.runNow();
  await egressctl.idle();
  expect(standin.pullRequests(POLICY_REPO)).toHaveLength(1);
}, 60_000);
