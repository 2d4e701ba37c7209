/** The desired state from the store (docs/reconciliation.md): per workflow, per job, with baselines as evidence. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, emptyAttachmentMap, type CompiledPolicy } from '../../src/policy/model.js';
import { desiredWorkflowState, storePlanner, wouldBlock, type StoreState } from '../../src/rollout/desired-state.js';
import type { HardenRunnerPlan, JobInfo } from '../../src/rollout/harden.js';

const policies: Record<string, CompiledPolicy> = {
  'api-block': { name: 'api-block', 'egress-policy': 'block', 'allowed-endpoints': ['github.com:443', 'proxy.golang.org:443'], 'disable-sudo-and-containers': true },
  'release-block': { name: 'release-block', 'egress-policy': 'block', 'allowed-endpoints': ['fulcio.sigstore.dev:443'] },
  'org-audit': { name: 'org-audit', 'egress-policy': 'audit', 'allowed-endpoints': [] },
};

function store(overrides: Partial<StoreState['settings']> = {}): StoreState {
  const attachments = emptyAttachmentMap();
  attachments.organizations['acme'] = 'org-audit';
  attachments.repositories['acme/api'] = 'api-block';
  attachments.workflows['acme/api/.github/workflows/release.yml'] = 'release-block';
  return { attachments, policies, settings: { hardenRunner: DEFAULT_SETTINGS.hardenRunner, unattached: 'audit', delivery: 'pull-request', ...overrides } };
}

const job: JobInfo = { id: 'build', line: 3, runner: { candidates: [], resolved: true, os: ['linux'], githubHosted: true }, container: false };

function planOf(options: Parameters<typeof storePlanner>[0]): HardenRunnerPlan {
  const plan = storePlanner(options)(job);
  if (!('kind' in plan) || plan.kind !== 'harden-runner') throw new Error(`no harden-runner plan: ${JSON.stringify(plan)}`);
  return plan;
}

describe('desiredWorkflowState', () => {
  it('follows workflow > repository > organization, and unattached for the rest', () => {
    expect(desiredWorkflowState(store(), 'acme/api', '.github/workflows/release.yml')).toMatchObject({ policy: 'release-block', mode: 'block', scope: { type: 'workflow' } });
    expect(desiredWorkflowState(store(), 'acme/api', '.github/workflows/ci.yml')).toMatchObject({ policy: 'api-block', mode: 'block', flags: { 'disable-sudo-and-containers': true } });
    expect(desiredWorkflowState(store(), 'acme/other', '.github/workflows/ci.yml')).toMatchObject({ policy: 'org-audit', mode: 'audit', endpoints: [] });
    for (const unattached of ['audit', 'baseline', 'skip'] as const) {
      expect(desiredWorkflowState(store({ unattached }), 'other/repo', '.github/workflows/ci.yml')).toMatchObject({ policy: null, mode: unattached });
    }
  });
});

describe('storePlanner', () => {
  it('plans a managed block step that may bring a managed step back to the store', () => {
    expect(planOf({ store: store(), repository: 'acme/api', workflowPath: '.github/workflows/ci.yml' })).toMatchObject({
      mode: 'block',
      endpoints: ['github.com:443', 'proxy.golang.org:443'],
      flags: { 'disable-sudo-and-containers': true },
      managedBy: { policy: 'api-block' },
      mayWeaken: true,
    });
  });

  it('never weakens on behalf of nothing attached; skip leaves the workflow alone', () => {
    const plan = planOf({ store: store(), repository: 'other/repo', workflowPath: '.github/workflows/ci.yml' });
    expect(plan).toMatchObject({ mode: 'audit', managedBy: { policy: null } });
    expect(plan.mayWeaken).toBeUndefined();
    expect(storePlanner({ store: store({ unattached: 'skip' }), repository: 'other/repo', workflowPath: '.github/workflows/ci.yml' })(job)).toEqual({
      skip: 'no policy attached and egressctl.yml says unattached: skip',
    });
  });

  it('unattached: baseline blocks from a stable baseline', () => {
    const plan = planOf({
      store: store({ unattached: 'baseline' }),
      repository: 'other/repo',
      workflowPath: '.github/workflows/ci.yml',
      baselineOf: () => ({ endpoints: ['registry.npmjs.org:443'], stable: true, runs: 5 }),
    });
    expect(plan).toMatchObject({ mode: 'block', endpoints: ['registry.npmjs.org:443'], managedBy: { policy: null } });
  });

  it('lists, as evidence, endpoints the job was seen using that the policy would block', () => {
    const plan = planOf({
      store: store(),
      repository: 'acme/api',
      workflowPath: '.github/workflows/ci.yml',
      baselineOf: () => ({
        endpoints: [],
        stable: true,
        runs: 4,
        seen: [
          { endpoint: 'github.com:443', runs: 4, lastSeen: '2026-11-30T10:00:00Z' },
          { endpoint: 'registry.npmjs.org:443', runs: 3, lastSeen: '2026-11-29T10:00:00Z' },
        ],
      }),
    });
    expect(plan.wouldBlock).toEqual([{ endpoint: 'registry.npmjs.org:443', runs: 3, lastSeen: '2026-11-29T10:00:00Z' }]);
    // The store is the source: evidence never changes the endpoints.
    expect(plan.endpoints).toEqual(['github.com:443', 'proxy.golang.org:443']);
  });

  it('reads the inputs from variables with delivery: variables', () => {
    expect(planOf({ store: store({ delivery: 'variables' }), repository: 'acme/api', workflowPath: '.github/workflows/release.yml' }).variables).toEqual({
      env: 'EGRESSCTL_POLICY',
      // A workflow attachment: its variable missing falls to this literal, not to the repository's variable.
      vars: ['EGRESSCTL_WF_RELEASE_YML'],
      // Fail closed (issue 19, defect 1): the chain ends in the job's desired policy, not audit.
      fallback: '{"egress-policy":"block","allowed-endpoints":"fulcio.sigstore.dev:443","disable-sudo-and-containers":false,"disable-file-monitoring":false,"disable-telemetry":false,"policy":"release-block"}',
    });
  });

  it('a workflow without an attachment of its own reads its variable, then the repository\'s or organization\'s', () => {
    // acme/api has its own attachment: its own name, never the organization's EGRESSCTL_POLICY (GitHub merges same-named ones).
    expect(planOf({ store: store({ delivery: 'variables' }), repository: 'acme/api', workflowPath: '.github/workflows/ci.yml' }).variables?.vars).toEqual(['EGRESSCTL_WF_CI_YML', 'EGRESSCTL_REPO_POLICY']);
    expect(planOf({ store: store({ delivery: 'variables' }), repository: 'acme/web', workflowPath: '.github/workflows/ci.yml' }).variables?.vars).toEqual(['EGRESSCTL_WF_CI_YML', 'EGRESSCTL_REPO_POLICY', 'EGRESSCTL_POLICY']);
    expect(planOf({ store: store({ delivery: 'variables' }), repository: 'acme/api', workflowPath: '.github/workflows/release.yml' }).variables?.vars).toEqual(['EGRESSCTL_WF_RELEASE_YML']);
  });
});

describe('a policy too large for an expression fallback', () => {
  it('is written as literals with the reason, and every expression written stays within GitHub\'s limit', async () => {
    const { MAX_EXPRESSION_LENGTH } = await import('@actions/expressions/errors');
    const { MAX_EXPRESSION_LENGTH: ours } = await import('../../src/policy/delivery.js');
    expect(ours).toBe(MAX_EXPRESSION_LENGTH);
    const huge: CompiledPolicy = { name: 'huge', 'egress-policy': 'block', 'allowed-endpoints': Array.from({ length: 900 }, (_, index) => `host-${index}.registry.example.com:443`) };
    const state = store({ delivery: 'variables' });
    state.policies = { ...state.policies, huge };
    state.attachments.repositories['acme/big'] = 'huge';
    const plan = planOf({ store: state, repository: 'acme/big', workflowPath: '.github/workflows/ci.yml' });
    expect(plan.variables).toBeUndefined();
    expect(plan.note).toContain("does not fit GitHub's expression limit");
    expect(planOf({ store: state, repository: 'acme/api', workflowPath: '.github/workflows/ci.yml' }).variables).toBeDefined();
  });
});

describe('wouldBlock', () => {
  it('honours wildcards and ports', () => {
    const seen = [
      { endpoint: 'a.docker.io:443', runs: 1 },
      { endpoint: 'docker.io:443', runs: 1 },
      { endpoint: 'a.docker.io:80', runs: 1 },
    ];
    expect(wouldBlock(seen, ['*.docker.io:443']).map((item) => item.endpoint)).toEqual(['docker.io:443', 'a.docker.io:80']);
  });
});
