/** Pure planning for sync (src/rollout/sync-plan.ts, driftOf, syncEntry): data in, data out. */
import { describe, expect, it } from 'vitest';
import { AUDIT_DEFAULT_VALUE, POLICY_VARIABLE, REPOSITORY_POLICY_VARIABLE, variableValue, workflowVariableName } from '../../src/policy/delivery.js';
import { parsePolicyRepository } from '../../src/store/repository.js';
import type { PolicyRepository } from '../../src/store/repository.js';
import { prepareReviewInput, reviewChange } from '../../src/review/review.js';
import type { JobInfo } from '../../src/rollout/harden.js';
import { driftOf } from '../../src/rollout/rollout-plan.js';
import { affectedScopes, blockedByPolicy, desiredDigest, desiredVariables, shadowedRepositories, stepsStillReading, storeStateOf, variableChanges } from '../../src/rollout/sync-plan.js';
import { syncReasons } from '../../src/rollout/sync-report.js';

function store(files: Record<string, string>): PolicyRepository {
  const loaded = parsePolicyRepository(new Map(Object.entries(files).map(([name, text]) => [name, Buffer.from(text)])));
  expect(loaded.errors).toEqual([]);
  return loaded.value;
}

const POLICIES = {
  'policies/org.yml': 'egress-policy: block\nallowed-endpoints:\n  - proxy.golang.org\n',
  'policies/api.yml': 'egress-policy: block\nallowed-endpoints:\n  - registry.npmjs.org\n  - "*.github.com"\n',
  'policies/rel.yml': 'egress-policy: audit\ndisable-file-monitoring: true\n',
};

describe('desired-state digest', () => {
  const base = store({ ...POLICIES, 'attachments.yml': 'organizations:\n  acme: org\nrepositories:\n  acme/api: api\n' });

  it('changes for a repository only when something that reaches it changes', () => {
    const before = storeStateOf(base);
    const apiChanged = storeStateOf(store({ ...POLICIES, 'policies/api.yml': 'egress-policy: block\nallowed-endpoints:\n  - pypi.org\n', 'attachments.yml': 'organizations:\n  acme: org\nrepositories:\n  acme/api: api\n' }));
    expect(desiredDigest(apiChanged, 'acme/api')).not.toBe(desiredDigest(before, 'acme/api'));
    expect(desiredDigest(apiChanged, 'acme/web')).toBe(desiredDigest(before, 'acme/web'));
    const workflow = storeStateOf(store({ ...POLICIES, 'attachments.yml': 'organizations:\n  acme: org\nrepositories:\n  acme/api: api\nworkflows:\n  acme/web/.github/workflows/release.yml: rel\n' }));
    expect(desiredDigest(workflow, 'acme/web')).not.toBe(desiredDigest(before, 'acme/web'));
    expect(desiredDigest(workflow, 'acme/api')).toBe(desiredDigest(before, 'acme/api'));
  });

  it('covers only what the jobs get: not a policy that cannot win there, not a description', () => {
    const attachments = { 'attachments.yml': 'organizations:\n  acme: org\nrepositories:\n  acme/api: api\n' };
    const before = storeStateOf(store({ ...POLICIES, ...attachments }));
    const orgEdited = storeStateOf(store({ ...POLICIES, ...attachments, 'policies/org.yml': 'egress-policy: audit\n' }));
    expect(desiredDigest(orgEdited, 'acme/api')).toBe(desiredDigest(before, 'acme/api'));
    expect(desiredDigest(orgEdited, 'acme/web')).not.toBe(desiredDigest(before, 'acme/web'));
    const described = storeStateOf(store({ ...POLICIES, ...attachments, 'policies/api.yml': `description: what the API's jobs reach\n${POLICIES['policies/api.yml']}` }));
    expect(desiredDigest(described, 'acme/api')).toBe(desiredDigest(before, 'acme/api'));
    // The same endpoints in another order are the same step.
    const reordered = storeStateOf(store({ ...POLICIES, ...attachments, 'policies/api.yml': 'egress-policy: block\nallowed-endpoints:\n  - "*.github.com"\n  - registry.npmjs.org\n' }));
    expect(desiredDigest(reordered, 'acme/api')).toBe(desiredDigest(before, 'acme/api'));
    const flag = storeStateOf(store({ ...POLICIES, ...attachments, 'policies/api.yml': `${POLICIES['policies/api.yml']}disable-sudo-and-containers: true\n` }));
    expect(desiredDigest(flag, 'acme/api')).not.toBe(desiredDigest(before, 'acme/api'));
  });

  it('with delivery: variables it covers the fallback literal (the job\'s desired policy), not what cannot win', () => {
    const settings = { 'egressctl.yml': 'delivery: variables\n' };
    const attachments = { 'attachments.yml': 'organizations:\n  acme: org\nrepositories:\n  acme/api: api\n' };
    const a = storeStateOf(store({ ...settings, ...POLICIES, ...attachments }));
    const b = storeStateOf(store({ ...settings, ...POLICIES, ...attachments, 'policies/api.yml': 'egress-policy: audit\n' }));
    expect(desiredDigest(a, 'acme/api')).not.toBe(desiredDigest(b, 'acme/api'));
    const orgEdited = storeStateOf(store({ ...settings, ...POLICIES, ...attachments, 'policies/org.yml': 'egress-policy: audit\n' }));
    expect(desiredDigest(orgEdited, 'acme/api')).toBe(desiredDigest(a, 'acme/api'));
  });
});

describe('affected scopes', () => {
  it('names repositories and organizations from the review engine\'s changed scopes', () => {
    const before = store({ ...POLICIES, 'attachments.yml': 'organizations:\n  acme: org\n' });
    const after = store({ ...POLICIES, 'attachments.yml': 'organizations:\n  acme: org\n  other: api\nworkflows:\n  acme/web/.github/workflows/release.yml: rel\n' });
    const review = reviewChange(prepareReviewInput(before), prepareReviewInput(after));
    expect(affectedScopes(review.scopes)).toEqual({ organizations: ['other'], repositories: ['acme/web'] });
  });

  it('an organization change does not reach a repository attached on its own at both revisions', () => {
    const base = storeStateOf(store({ ...POLICIES, 'attachments.yml': 'organizations:\n  acme: org\nrepositories:\n  acme/api: api\n  acme/web: api\n' }));
    const head = storeStateOf(store({ ...POLICIES, 'attachments.yml': 'organizations:\n  acme: rel\nrepositories:\n  acme/api: api\n' }));
    expect(shadowedRepositories('acme', base.attachments, head.attachments)).toEqual(['acme/api']);
  });
});

describe('variables', () => {
  it('one variable per attachment, named and valued as docs/reconciliation.md says', () => {
    const state = storeStateOf(store({ ...POLICIES, 'attachments.yml': 'organizations:\n  acme: org\n  other: org\nrepositories:\n  acme/api: api\nworkflows:\n  acme/api/.github/workflows/Release-1.yaml: rel\n' }));
    const variables = [...desiredVariables(state, ['acme']).values()].map((variable) => [variable.level, variable.target, variable.name, variable.policy]);
    expect(variables).toEqual([
      ['organization', 'acme', POLICY_VARIABLE, 'org'],
      ['repository', 'acme/api', REPOSITORY_POLICY_VARIABLE, 'api'],
      ['repository', 'acme/api', 'EGRESSCTL_WF_RELEASE_1_YAML', 'rel'],
    ]);
    expect(workflowVariableName('.github/workflows/release.yml')).toBe('EGRESSCTL_WF_RELEASE_YML');
    expect(JSON.parse(variableValue(state.policies['api']!))).toEqual({
      'egress-policy': 'block',
      'allowed-endpoints': '*.github.com:443 registry.npmjs.org:443',
      'disable-sudo-and-containers': false,
      'disable-file-monitoring': false,
      'disable-telemetry': false,
      policy: 'api',
    });
    expect(Object.keys(JSON.parse(AUDIT_DEFAULT_VALUE) as object)).toEqual(['egress-policy', 'allowed-endpoints', 'disable-sudo-and-containers', 'disable-file-monitoring', 'disable-telemetry']);
  });

  it('changes between two revisions: writes for new or changed values, deletions for removed attachments', () => {
    const before = desiredVariables(storeStateOf(store({ ...POLICIES, 'attachments.yml': 'organizations:\n  acme: org\nrepositories:\n  acme/api: api\n  acme/web: api\n' })));
    const after = desiredVariables(storeStateOf(store({ ...POLICIES, 'policies/org.yml': 'egress-policy: audit\n', 'attachments.yml': 'organizations:\n  acme: org\nrepositories:\n  acme/api: api\n' })));
    expect(variableChanges(before, after).map((change) => [change.action, change.variable.level, change.variable.target, change.variable.name])).toEqual([
      ['write', 'organization', 'acme', POLICY_VARIABLE],
      ['delete', 'repository', 'acme/web', REPOSITORY_POLICY_VARIABLE],
    ]);
    expect(variableChanges(after, after)).toEqual([]);
  });

  it('with the store at the new revision, a removed repository variable is retained with what its readers get now', () => {
    const withWorkflow = storeStateOf(store({ ...POLICIES, 'attachments.yml': 'organizations:\n  acme: org\nrepositories:\n  acme/web: api\nworkflows:\n  acme/api/.github/workflows/release.yml: rel\n' }));
    const bare = storeStateOf(store({ ...POLICIES, 'attachments.yml': 'organizations:\n  acme: org\n' }));
    const changes = variableChanges(desiredVariables(withWorkflow), desiredVariables(bare), bare);
    expect(changes.map((change) => [change.action, change.variable.target, change.variable.name, 'value' in change.variable ? change.variable.value : null])).toEqual([
      ['retain', 'acme/api', 'EGRESSCTL_WF_RELEASE_YML', variableValue(bare.policies['org']!)],
      ['retain', 'acme/web', REPOSITORY_POLICY_VARIABLE, variableValue(bare.policies['org']!)],
    ]);
    // Nothing applies any more: removed at once (the steps' literal is more than the store asks).
    const nothing = storeStateOf(store({ ...POLICIES, 'attachments.yml': '{}\n' }));
    expect(variableChanges(desiredVariables(withWorkflow), desiredVariables(nothing), nothing).map((change) => change.action)).toEqual(['delete', 'delete', 'delete']);
  });

  it('stepsStillReading: a step needs a variable only when, without it, it would get something else', () => {
    const E = '{"egress-policy":"block","allowed-endpoints":"github.com:443","disable-sudo-and-containers":false,"disable-file-monitoring":false,"disable-telemetry":false,"policy":"org"}';
    const weaker = '{"egress-policy":"audit","allowed-endpoints":"","disable-sudo-and-containers":false,"disable-file-monitoring":false,"disable-telemetry":false,"policy":"rel"}';
    const step = (vars: string[], literal: string) =>
      `jobs:\n  test:\n    steps:\n      - uses: step-security/harden-runner@v2\n        with:\n          egress-policy: \${{ fromJSON(runner.environment == 'self-hosted' && env.EGRESSCTL_POLICY || ${vars.map((name) => `vars.${name} || `).join('')}'${literal}')['egress-policy'] }}\n`;
    const org = (name: string) => (name === POLICY_VARIABLE ? E : undefined);
    // Short chain of a workflow attachment: without its variable, the former literal.
    expect(stepsStillReading('EGRESSCTL_WF_RELEASE_YML', E, [{ path: 'r.yml', text: step(['EGRESSCTL_WF_RELEASE_YML'], weaker) }], org)).toEqual([{ path: 'r.yml', job: 'test' }]);
    // Rewritten to the long chain: the organization's variable answers the same.
    expect(stepsStillReading('EGRESSCTL_WF_RELEASE_YML', E, [{ path: 'r.yml', text: step(['EGRESSCTL_WF_RELEASE_YML', POLICY_VARIABLE], E) }], org)).toEqual([]);
    // The repository-level EGRESSCTL_POLICY: without it the organization's of that name answers, which differs.
    const audit = (name: string) => (name === POLICY_VARIABLE ? weaker : undefined);
    expect(stepsStillReading(POLICY_VARIABLE, E, [{ path: 'c.yml', text: step(['EGRESSCTL_WF_CI_YML', POLICY_VARIABLE], E) }], audit)).toHaveLength(1);
    // An earlier variable that answers: the step never gets it.
    const wf = (name: string) => (name === 'EGRESSCTL_WF_CI_YML' ? weaker : audit(name));
    expect(stepsStillReading(POLICY_VARIABLE, E, [{ path: 'c.yml', text: step(['EGRESSCTL_WF_CI_YML', POLICY_VARIABLE], E) }], wf)).toEqual([]);
    // A file that does not parse counts as reading it.
    expect(stepsStillReading(POLICY_VARIABLE, E, [{ path: 'x.yml', text: 'jobs: [vars.EGRESSCTL_POLICY\n  : :' }], audit)).toEqual([{ path: 'x.yml', job: '*' }]);
  });
});

describe('drift', () => {
  const job = (existing?: object): JobInfo => ({ id: 'test', line: 3, runner: { os: 'linux', labels: ['ubuntu-latest'] } as unknown as JobInfo['runner'], container: false, ...(existing ? { existing: existing as JobInfo['existing'] } : {}) });
  const step = { kind: 'harden-runner', uses: 'step-security/harden-runner@x', index: 0, with: {} };

  it('tells a missing step, a hand-edited managed step, a stale policy and an unmanaged step apart', () => {
    expect(driftOf('inserted', job(), 'api')).toEqual({ kind: 'missing' });
    expect(driftOf('unchanged', job(step), 'api')).toBeUndefined();
    expect(driftOf('updated', job(step), 'api')).toEqual({ kind: 'unmanaged' });
    expect(driftOf('updated', job({ ...step, managedBy: { policy: 'api' } }), 'api')).toEqual({ kind: 'edited' });
    expect(driftOf('updated', job({ ...step, managedBy: { policy: 'old' } }), 'api')).toEqual({ kind: 'stale', was: 'old' });
    const reasons = syncReasons([
      {
        path: '.github/workflows/ci.yml',
        before: '',
        after: 'x',
        status: 'changed',
        problems: [],
        jobs: [
          { job: 'a', line: 1, action: 'updated', mode: 'block', endpoints: [], policy: 'api', drift: { kind: 'stale', was: 'old' } },
          { job: 'b', line: 2, action: 'updated', mode: 'block', endpoints: [], policy: 'api', drift: { kind: 'edited' } },
          { job: 'c', line: 3, action: 'updated', mode: 'block', endpoints: [], policy: 'api', drift: { kind: 'unmanaged' } },
        ],
      },
    ]);
    expect(reasons).toEqual([
      '.github/workflows/ci.yml job a: stale policy: the managed step was written for policy old, the store now says (policy api)',
      '.github/workflows/ci.yml job b: managed step edited by hand; the store wants block (policy api)',
      '.github/workflows/ci.yml job c: a Harden-Runner step egressctl does not manage disagrees with the store (policy api)',
    ]);
  });

  it('blockedByPolicy: seen endpoints the policy would not allow (wildcards as the agent matches them)', () => {
    expect(blockedByPolicy(['api.github.com:443', 'registry.npmjs.org:443', 'evil.example.com:443', 'registry.npmjs.org:80'], ['*.github.com:443', 'registry.npmjs.org:443'])).toEqual(['evil.example.com:443', 'registry.npmjs.org:80']);
  });
});
