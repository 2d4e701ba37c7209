/**
 * The repository sync against a second writer (docs/architecture.md#races-the-controller-closes): two runs of
 * the same repository at once (two replicas, one whose job was taken over while it ran), both
 * past their reads before either writes, end with one branch and one pull request, both runs
 * naming it; a run after them writes nothing. On the OpenAPI-checked stand-in.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { buildBaselineIndex } from '../../src/baselines/index.js';
import { tokenClient, type GitHubClient } from '../../src/github/client.js';
import { DEFAULT_SETTINGS } from '../../src/policy/model.js';
import { ROLLOUT_BRANCH } from '../../src/rollout/rollout-body.js';
import type { RolloutConfig } from '../../src/rollout/rollout-plan.js';
import { rolloutRepository } from '../../src/rollout/rollout.js';
import { startGitHubStandin, type GitHubStandin } from '../support/github/index.js';
import { SIMPLE_WORKFLOW } from '../support/workflows.js';

const REPO = 'acme/web';
const CONFIG: RolloutConfig = { mode: 'inline', pin: DEFAULT_SETTINGS.hardenRunner, baselines: buildBaselineIndex([]) };

let standin: GitHubStandin;
let client: GitHubClient;

beforeEach(async () => {
  standin = await startGitHubStandin();
  const installation = standin.createInstallation({ account: 'acme' });
  await standin.createRepository(REPO, { files: { '.github/workflows/ci.yml': SIMPLE_WORKFLOW } });
  client = tokenClient(standin.createInstallationToken(installation.id), { baseUrl: standin.url, writeSpacingMs: 0, notificationSpacingMs: 0 });
});

afterEach(async () => {
  await standin.finish();
});

const run = () => rolloutRepository(client, { owner: 'acme', name: 'web', defaultBranch: 'main' }, { config: CONFIG, dryRun: false, force: false });

it('two runs at once, both past their reads before either writes: one branch, one pull request, both runs name it', async () => {
  // The first branch creation waits a second: the other run creates the branch, commits and opens the PR meanwhile.
  standin.delayRequests({ count: 1, ms: 1_000, match: (request) => request.operationId === 'git/create-ref' });
  const [first, second] = await Promise.all([run(), run()]);
  // Both looked for an open PR before writing (none yet): neither knew of the other.
  const lookups = standin.requests.filter((request) => request.operationId === 'pulls/list').map((request) => standin.requests.indexOf(request));
  const firstWrite = standin.requests.findIndex((request) => request.write);
  expect(lookups.slice(0, 2).every((index) => index < firstWrite)).toBe(true);
  expect([first.status, second.status].sort()).toEqual(['created', 'updated']);
  expect(first.pullRequest).toEqual(second.pullRequest);
  const pulls = standin.pullRequests(REPO);
  expect(pulls).toHaveLength(1);
  expect(pulls[0]).toMatchObject({ state: 'open', head: { ref: ROLLOUT_BRANCH } });
  // The late writer found the branch (422) and moved it, and took the open PR over instead of failing.
  const writes = standin.requests.filter((request) => request.write).map((request) => `${request.operationId} ${request.status}`);
  expect(writes).toContain('git/create-ref 422');
  expect(writes.filter((write) => write.startsWith('pulls/create'))).toEqual(['pulls/create 201', 'pulls/create 422']);
  expect(writes).not.toContainEqual(expect.stringMatching(/ 5\d\d$/));
  const hardened = await standin.readFile(REPO, '.github/workflows/ci.yml', ROLLOUT_BRANCH);
  expect(hardened).toContain('step-security/harden-runner');

  // A run after both: the PR already proposes this, nothing is written.
  standin.resetStats();
  const third = await run();
  expect(third).toMatchObject({ status: 'unchanged', pullRequest: first.pullRequest });
  expect(standin.stats().writes).toBe(0);
  expect(await standin.readFile(REPO, '.github/workflows/ci.yml', ROLLOUT_BRANCH)).toBe(hardened);
}, 60_000);
