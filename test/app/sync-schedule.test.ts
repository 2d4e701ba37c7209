/**
 * The scheduled full sync with `delivery: variables` (docs/reconciliation.md): GitHub sends no
 * webhook when a person edits a variable, so the scheduled pass reads them back, puts back what
 * differs from the store and reports it as drift (log and sync report).
 */
import { expect, it } from 'vitest';
import { POLICY_VARIABLE, REPOSITORY_POLICY_VARIABLE } from '../../src/policy/delivery.js';
import { readSyncReport } from '../../src/rollout/sync-report.js';
import { SIMPLE_WORKFLOW } from '../support/workflows.js';
import { manifestPermissions, perTestApp, POLICY_REPO } from '../support/app.js';

const scratch = perTestApp('egressctl-sync-schedule-');

it('a variable edited by hand is put back by the scheduled pass and reported as drift', async () => {
  const { standin, cacheDir } = scratch;
  standin.createInstallation({ account: 'acme', permissions: await manifestPermissions() });
  await standin.createRepository(POLICY_REPO, {
    files: {
      'egressctl.yml': 'organizations: [acme]\nunattached: skip\ndelivery: variables\n',
      'policies/org.yml': 'egress-policy: block\nallowed-endpoints:\n  - proxy.golang.org\n',
      'policies/api.yml': 'egress-policy: block\nallowed-endpoints:\n  - registry.npmjs.org\n',
      'attachments.yml': 'organizations:\n  acme: org\nrepositories:\n  acme/api: api\n',
    },
  });
  await standin.createRepository('acme/api', { files: { '.github/workflows/ci.yml': SIMPLE_WORKFLOW } });
  const egressctl = await scratch.load({ EGRESSCTL_ROLLOUT_INTERVAL_HOURS: '6' });

  // First pass: both variables are created.
  await egressctl.rollout!.runNow();
  await egressctl.idle();
  const org = standin.variables('organization', 'acme').get(POLICY_VARIABLE)!;
  const repo = standin.variables('repository', 'acme/api').get(REPOSITORY_POLICY_VARIABLE)!;
  expect(JSON.parse(org.value)).toMatchObject({ policy: 'org' });
  expect(JSON.parse(repo.value)).toMatchObject({ policy: 'api' });
  const wanted = repo.value;

  // A person loosens the repository variable in the settings UI (no webhook), and adds one of ours by hand.
  standin.setVariable('repository', 'acme/api', REPOSITORY_POLICY_VARIABLE, '{"egress-policy":"audit","allowed-endpoints":""}');
  standin.setVariable('repository', 'acme/api', 'EGRESSCTL_WF_OLD_YML', '{"egress-policy":"audit"}');
  standin.resetStats();
  await egressctl.rollout!.runNow();
  await egressctl.idle();
  expect(standin.variables('repository', 'acme/api').get(REPOSITORY_POLICY_VARIABLE)!.value).toBe(wanted);
  expect(standin.variables('repository', 'acme/api').has('EGRESSCTL_WF_OLD_YML')).toBe(false);
  const written = standin.requests.filter((request) => request.operationId?.startsWith('actions/') && request.write).map((request) => request.operationId);
  // The hand-made one is first set to what a step reading it would get now, then removed once the workflows show none does.
  expect(written).toEqual(['actions/update-repo-variable', 'actions/update-repo-variable', 'actions/delete-repo-variable']);

  const report = await readSyncReport(cacheDir);
  const variables = report.organizations['acme']!.variables;
  expect(variables).toContainEqual(expect.objectContaining({ level: 'repository', target: 'acme/api', name: REPOSITORY_POLICY_VARIABLE, status: 'drift-restored', reason: expect.stringMatching(/edited on GitHub/) }));
  expect(variables).toContainEqual(expect.objectContaining({ level: 'organization', target: 'acme', name: POLICY_VARIABLE, status: 'unchanged' }));
  expect(variables).toContainEqual(expect.objectContaining({ name: 'EGRESSCTL_WF_OLD_YML', status: 'deleted' }));
}, 90_000);

it('the scheduled pass drops the row of a repository no longer in the installation; a failed listing drops nothing', async () => {
  const { standin, installation, egressctl, rows } = await twoRepositoriesSynced();

  // acme/web leaves the installation. A listing that fails (a 502 on its only page) keeps every row.
  installation.repositories.delete('acme/web');
  standin.failNextRequests({ count: 1000, status: 502, message: 'Bad Gateway', match: (request) => request.operationId === 'apps/list-repos-accessible-to-installation' });
  await egressctl.rollout!.runNow();
  await egressctl.idle();
  expect(await rows()).toEqual(['acme/api', 'acme/web']);

  // The listing works again: the next pass drops acme/web's row.
  standin.clearFaults();
  await egressctl.rollout!.runNow();
  await egressctl.idle();
  expect(await rows()).toEqual(['acme/api']);
}, 90_000);

it('a repository sync still running when the next pass drops its repository does not write its row back (race 1)', async () => {
  const { standin, installation, egressctl, rows } = await twoRepositoriesSynced();

  // The next pass: acme/web's unit is held in the middle of its sync (GitHub does not answer its
  // pull request look-up until the listing below has dropped its row, on any machine).
  let held = false;
  let release!: () => void;
  standin.delayRequests({ count: 1, until: new Promise<void>((resolve) => (release = resolve)), match: (request) => (held ||= request.operationId === 'pulls/list' && request.repository === 'acme/web') });
  try {
    await egressctl.rollout!.runNow();
    await expect.poll(() => held, { timeout: 20_000 }).toBe(true);
    // Meanwhile acme/web leaves the installation, and a pass lists acme: its row is dropped.
    installation.repositories.delete('acme/web');
    await egressctl.rollout!.runNow();
    await expect.poll(rows, { timeout: 20_000, interval: 50 }).toEqual(['acme/api']);
  } finally {
    release();
  }
  // The held unit finishes after the listing: its outcome for a repository the listing dropped is not written back.
  await egressctl.idle();
  expect(await rows()).toEqual(['acme/api']);
  // Nor is it retried: nothing is left in error for acme/web.
  expect((await egressctl.queue!.failures()).filter((failure) => failure.key === 'acme/web')).toEqual([]);

  // Added back to the installation: the next pass gives it its row again.
  installation.repositories.add('acme/web');
  await egressctl.rollout!.runNow();
  await egressctl.idle();
  expect(await rows()).toEqual(['acme/api', 'acme/web']);
}, 90_000);

/** acme/api and acme/web under an organization policy, synced once by a scheduled pass; `rows` lists the repositories the sync state has. */
async function twoRepositoriesSynced() {
  const { standin, cacheDir } = scratch;
  const installation = standin.createInstallation({ account: 'acme', permissions: await manifestPermissions(), repositories: [POLICY_REPO, 'acme/api', 'acme/web'] });
  await standin.createRepository(POLICY_REPO, {
    files: {
      'egressctl.yml': 'organizations: [acme]\nunattached: skip\n',
      'policies/org.yml': 'egress-policy: block\nallowed-endpoints:\n  - proxy.golang.org\n',
      'attachments.yml': 'organizations:\n  acme: org\n',
    },
  });
  for (const name of ['acme/api', 'acme/web']) await standin.createRepository(name, { files: { '.github/workflows/ci.yml': SIMPLE_WORKFLOW } });
  const egressctl = await scratch.load({ EGRESSCTL_ROLLOUT_INTERVAL_HOURS: '6' });
  await egressctl.rollout!.runNow();
  await egressctl.idle();
  const rows = async (): Promise<string[]> => ((await readSyncReport(cacheDir)).organizations['acme']?.repositories ?? []).map((entry) => entry.repository).filter((name) => name !== POLICY_REPO).sort();
  expect(await rows()).toEqual(['acme/api', 'acme/web']);
  return { standin, installation, egressctl, rows };
}
