/**
 * Sync evaluates the store once (docs/reconciliation.md, "Sync"): the time it is evaluated at,
 * and the desired state from it, are computed once per sync and handed to every repository, the
 * variables and the coverage, not again per repository or per workflow file. `now` is called
 * once per sync, however many repositories it reads, so every part sees the same store (an
 * exception cannot expire between the workflows and the variables of one sync).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tokenClient, type GitHubClient } from '../../src/github/client.js';
import { storeStateOf } from '../../src/rollout/sync-plan.js';
import { runSync, syncRepository } from '../../src/rollout/sync.js';
import type { PolicyRepository } from '../../src/store/repository.js';
import { startGitHubStandin, type GitHubStandin } from '../support/github/index.js';
import { repositoryFromFiles } from '../support/review.js';
import { SIMPLE_WORKFLOW } from '../support/workflows.js';

const PERMISSIONS = { metadata: 'read', contents: 'write', pull_requests: 'write', workflows: 'write', actions_variables: 'write', organization_actions_variables: 'write' } as const;

function store(delivery: string, endpoints: string[]): PolicyRepository {
  const files: Record<string, string> = {
    'egressctl.yml': `organizations: [acme]\ndelivery: ${delivery}\n`,
    'policies/org.yml': `egress-policy: block\nallowed-endpoints:\n${endpoints.map((endpoint) => `  - ${endpoint}\n`).join('')}`,
    'policies/api.yml': 'egress-policy: block\nallowed-endpoints:\n  - registry.npmjs.org\n',
    'attachments.yml': 'organizations:\n  acme: org\nworkflows:\n  acme/svc-1/.github/workflows/release.yml: api\n',
  };
  return repositoryFromFiles(files);
}

let standin: GitHubStandin;
let client: GitHubClient;

beforeEach(async () => {
  standin = await startGitHubStandin();
  const installation = standin.createInstallation({ account: 'acme', permissions: { ...PERMISSIONS } });
  for (let index = 0; index < 4; index++) {
    await standin.createRepository(`acme/svc-${index}`, { files: { '.github/workflows/ci.yml': SIMPLE_WORKFLOW, '.github/workflows/release.yml': SIMPLE_WORKFLOW.replace('name: CI', 'name: Release') } });
  }
  client = tokenClient(standin.createInstallationToken(installation.id), { baseUrl: standin.url, writeSpacingMs: 0, notificationSpacingMs: 0 });
});

afterEach(async () => {
  await standin.finish();
});

/** A clock that counts how often the sync asks it. */
function countingClock() {
  const clock = { calls: 0, now: () => (clock.calls++, '2026-12-01T12:00:00.000Z') };
  return clock;
}

describe('a sync evaluates the store once', () => {
  for (const delivery of ['pull-request', 'variables']) {
    it(`runSync asks the clock once for 4 repositories (delivery: ${delivery}), dry run and real`, async () => {
      for (const dryRun of [true, false]) {
        const clock = countingClock();
        const result = await runSync({ client, organization: 'acme', policy: store(delivery, ['proxy.golang.org']), listing: 'organization', dryRun, now: clock.now });
        expect(result.report.repositories).toHaveLength(4);
        expect(result.report.at).toBe('2026-12-01T12:00:00.000Z');
        expect(Object.keys(result.report.coverage ?? {})).toHaveLength(4);
        expect(clock.calls, `dryRun ${dryRun}`).toBe(1);
      }
    });

    it(`the App's repository sync (syncRepository) asks the clock once per repository (delivery: ${delivery})`, async () => {
      const policy = store(delivery, ['proxy.golang.org', 'sum.golang.org']);
      // Evaluated by the caller (the App: once per revision and UTC day, for every repository unit) or, absent, by the sync itself.
      // Fresh repositories each time: a first sync reads their workflows (the coverage is of what it read).
      for (const [evaluated, names] of [[undefined, ['svc-0', 'svc-1']], [storeStateOf(policy, Date.parse('2026-12-01T12:00:00.000Z')), ['svc-2', 'svc-3']]] as const) {
        for (const name of names) {
          const clock = countingClock();
          const result = await syncRepository({ client, organization: 'acme', policy, target: { owner: 'acme', name }, now: clock.now, ...(evaluated ? { store: evaluated } : {}) });
          expect(result.report.repositories.map((entry) => entry.repository)).toEqual([`acme/${name}`]);
          expect(result.report.at).toBe('2026-12-01T12:00:00.000Z');
          expect(Object.keys(result.report.coverage ?? {})).toEqual([`acme/${name}`]);
          expect(clock.calls, `acme/${name}, store ${evaluated ? 'given' : 'evaluated here'}`).toBe(1);
        }
      }
    });
  }
});
