/**
 * A reusable workflow's jobs follow their callers in the same repository (docs/reconciliation.md,
 * "Desired state per job"; issue 19, defect 3): one caller, its policy; callers that differ, the
 * widest, warned; a workflow that also runs on its own events counts as one of its sources.
 */
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildBaselineIndex } from '../../src/baselines/index.js';
import { resolveThroughCallers, widestPolicy } from '../../src/policy/callers.js';
import { DEFAULT_SETTINGS, emptyAttachmentMap, type CompiledPolicy, type Settings } from '../../src/policy/model.js';
import { desiredWorkflowState, type StoreState } from '../../src/rollout/desired-state.js';
import { planRepository } from '../../src/rollout/rollout-plan.js';
import { workflowCalls } from '../../src/rollout/workflow-calls.js';
import { evaluateInput } from '../support/expressions.js';

const policies: Record<string, CompiledPolicy> = {
  'release-block': { name: 'release-block', 'egress-policy': 'block', 'allowed-endpoints': ['fulcio.sigstore.dev:443', 'github.com:443'], 'disable-telemetry': true },
  'ci-block': { name: 'ci-block', 'egress-policy': 'block', 'allowed-endpoints': ['github.com:443', 'registry.npmjs.org:443'], 'disable-telemetry': true, 'disable-sudo-and-containers': true },
  'org-audit': { name: 'org-audit', 'egress-policy': 'audit', 'allowed-endpoints': [] },
};

function store(workflows: Record<string, string>, delivery: Settings['delivery'] = 'pull-request'): StoreState {
  const attachments = emptyAttachmentMap();
  attachments.organizations['acme'] = 'org-audit';
  for (const [file, policy] of Object.entries(workflows)) attachments.workflows[`acme/api/.github/workflows/${file}`] = policy;
  return { attachments, policies, settings: { hardenRunner: DEFAULT_SETTINGS.hardenRunner, unattached: 'audit', delivery } };
}

const build = ['on:', '  workflow_call:', 'jobs:', '  compile:', '    runs-on: ubuntu-latest', '    steps:', '      - uses: actions/checkout@v4', '      - run: make', ''].join('\n');
const caller = (name: string, on = 'push') => [`name: ${name}`, `on: ${on}`, 'jobs:', '  build:', '    uses: ./.github/workflows/build.yml', '    secrets: inherit', ''].join('\n');

const files = (extra: Record<string, string> = {}) => [
  { path: '.github/workflows/build.yml', text: build },
  { path: '.github/workflows/release.yml', text: caller('release') },
  ...Object.entries(extra).map(([name, text]) => ({ path: `.github/workflows/${name}`, text })),
];

describe('the call graph', () => {
  it('finds same-repository calls, local or by owner/repo, and whether a workflow has events of its own', () => {
    const graph = workflowCalls('acme/api', [
      ...files(),
      { path: '.github/workflows/nightly.yml', text: 'on: schedule\njobs:\n  b:\n    uses: acme/api/.github/workflows/build.yml@main\n  other:\n    uses: octo/tools/.github/workflows/build.yml@v1\n' },
      { path: '.github/workflows/broken.yml', text: 'on: [push\n' },
    ]);
    expect(graph.get('.github/workflows/build.yml')).toEqual({ callers: ['.github/workflows/nightly.yml', '.github/workflows/release.yml'], ownEvents: false });
    expect(workflowCalls('acme/api', [{ path: '.github/workflows/build.yml', text: build.replace('  workflow_call:', '  workflow_call:\n  pull_request:') }, ...files().slice(1)]).get('.github/workflows/build.yml')?.ownEvents).toBe(true);
  });
});

describe('desired state of a called workflow', () => {
  it('one caller: its policy, and says why (resolve agrees)', () => {
    const graph = workflowCalls('acme/api', files());
    const state = desiredWorkflowState(store({ 'release.yml': 'release-block' }), 'acme/api', '.github/workflows/build.yml', graph);
    expect(state).toMatchObject({ policy: 'release-block', mode: 'block', endpoints: ['fulcio.sigstore.dev:443', 'github.com:443'], flags: { 'disable-telemetry': true } });
    expect(state.callers?.reason).toBe('build.yml is a reusable workflow called by release.yml: its jobs follow release.yml (policy release-block)');
    expect(state.callers?.warning).toBeUndefined();
    // Without the call graph: the organization's audit policy, as before.
    expect(desiredWorkflowState(store({ 'release.yml': 'release-block' }), 'acme/api', '.github/workflows/build.yml').policy).toBe('org-audit');
  });

  it('callers that differ: the widest (endpoints united, block only if all block), with a warning naming them', () => {
    const graph = workflowCalls('acme/api', files({ 'ci.yml': caller('ci', 'pull_request') }));
    const both = desiredWorkflowState(store({ 'release.yml': 'release-block', 'ci.yml': 'ci-block' }), 'acme/api', '.github/workflows/build.yml', graph);
    expect(both).toMatchObject({ policy: 'ci-block+release-block', mode: 'block', endpoints: ['fulcio.sigstore.dev:443', 'github.com:443', 'registry.npmjs.org:443'], flags: { 'disable-telemetry': true } });
    expect(both.flags['disable-sudo-and-containers']).toBeUndefined();
    expect(both.callers?.warning).toContain('ci.yml (policy ci-block), release.yml (policy release-block)');
    const withAudit = desiredWorkflowState(store({ 'release.yml': 'release-block' }), 'acme/api', '.github/workflows/build.yml', graph);
    expect(withAudit).toMatchObject({ mode: 'audit', endpoints: [] });
    expect(withAudit.callers?.warning).toContain('ci.yml (policy org-audit)');
  });

  it('follows callers of callers, and counts a workflow\'s own events', () => {
    const chain = files({ 'deploy.yml': 'on: push\njobs:\n  r:\n    uses: ./.github/workflows/release.yml\n' }).map((file) => (file.path.endsWith('release.yml') ? { ...file, text: caller('release', 'workflow_call') } : file));
    const state = desiredWorkflowState(store({ 'deploy.yml': 'ci-block' }), 'acme/api', '.github/workflows/build.yml', workflowCalls('acme/api', chain));
    expect(state.policy).toBe('ci-block');
    expect(state.callers?.reason).toContain('deploy.yml through release.yml (policy ci-block)');
    const own = resolveThroughCallers(store({ 'release.yml': 'release-block' }).attachments, policies, 'acme/api', '.github/workflows/build.yml', workflowCalls('acme/api', [{ path: '.github/workflows/build.yml', text: build.replace('  workflow_call:', '  workflow_call:\n  push:') }, ...files().slice(1)]));
    expect(own?.differ).toBe(true);
    expect(own?.reason).toContain('its own runs (policy org-audit)');
  });

  it('widestPolicy never sets a flag or blocks beyond what every member does', () => {
    expect(widestPolicy([policies['release-block']!, policies['org-audit']!])).toEqual({ name: 'org-audit+release-block', 'egress-policy': 'audit', 'allowed-endpoints': [] });
  });

  it('widestPolicy keeps no-default-urls and lockdown when every caller sets them (the detections all share), and drops them when one does not', () => {
    const strict = (name: string, detections: Array<'Privileged-Container' | 'Reverse-Shell'>): CompiledPolicy => ({
      ...policies['release-block']!,
      name,
      'no-default-urls': true,
      'lockdown-mode': { enabled: true, detections },
    });
    const both = widestPolicy([strict('a', ['Privileged-Container', 'Reverse-Shell']), strict('b', ['Reverse-Shell'])]);
    expect(both['no-default-urls']).toBe(true);
    expect(both['lockdown-mode']).toEqual({ enabled: true, detections: ['Reverse-Shell'] });
    const one = widestPolicy([strict('a', ['Reverse-Shell']), policies['ci-block']!]);
    expect(one['no-default-urls']).toBeUndefined();
    expect(one['lockdown-mode']).toBeUndefined();
  });
});

type Steps = Record<string, { steps: Array<{ with?: Record<string, unknown> }> }>;

describe('sync of a repository whose release.yml calls build.yml', () => {
  const baselines = buildBaselineIndex([]);

  for (const delivery of ['pull-request', 'variables'] as const) {
    it(`writes release-block into build.yml's jobs (delivery: ${delivery}); a fork's pull request gets block`, async () => {
      const plan = await planRepository('acme/api', files(), { mode: 'inline', pin: DEFAULT_SETTINGS.hardenRunner, baselines, store: store({ 'release.yml': 'release-block' }, delivery) });
      const built = plan.files.find((file) => file.path === '.github/workflows/build.yml');
      expect(built?.status).toBe('changed');
      expect(built?.jobs[0]).toMatchObject({ job: 'compile', mode: 'block', policy: 'release-block' });
      expect(built?.jobs[0]?.reason).toContain('called by release.yml');
      const inputs = (parse(built?.after ?? '') as { jobs: Steps }).jobs.compile?.steps[0]?.with ?? {};
      const received = evaluateInput(String(inputs['egress-policy']), { runner: { os: 'Linux', environment: 'github-hosted' } });
      expect(received).toBe('block');
      expect(evaluateInput(String(inputs['allowed-endpoints']), { runner: { os: 'Linux', environment: 'github-hosted' } })).toBe('fulcio.sigstore.dev:443 github.com:443');
      if (delivery === 'variables') {
        // The caller's variable carries the policy: a later change of release-block reaches build.yml's jobs.
        expect(String(inputs['egress-policy'])).toContain('vars.EGRESSCTL_WF_RELEASE_YML');
        // The caller's variable deleted: the caller's policy as of the sync, never the organization's audit variable.
        const orgOnly = { runner: { os: 'Linux', environment: 'github-hosted' }, vars: { EGRESSCTL_POLICY: '{"egress-policy":"audit","allowed-endpoints":"","disable-sudo-and-containers":false,"disable-file-monitoring":false,"disable-telemetry":false,"policy":"org-audit"}' } };
        expect(evaluateInput(String(inputs['egress-policy']), orgOnly)).toBe('block');
        expect(evaluateInput(String(inputs['allowed-endpoints']), orgOnly)).toBe('fulcio.sigstore.dev:443 github.com:443');
      }
      expect(built?.after).toContain('# egressctl: managed, policy release-block');
    });
  }

  it('callers that differ: the widest in literals (no one variable holds it), marked with both names', async () => {
    const plan = await planRepository('acme/api', files({ 'ci.yml': caller('ci', 'pull_request') }), {
      mode: 'inline',
      pin: DEFAULT_SETTINGS.hardenRunner,
      baselines,
      store: store({ 'release.yml': 'release-block', 'ci.yml': 'ci-block' }, 'variables'),
    });
    const built = plan.files.find((file) => file.path === '.github/workflows/build.yml');
    const inputs = (parse(built?.after ?? '') as { jobs: Steps }).jobs.compile?.steps[0]?.with ?? {};
    expect(inputs['egress-policy']).toBe('block');
    expect(inputs['allowed-endpoints']).toBe('fulcio.sigstore.dev:443 github.com:443 registry.npmjs.org:443');
    expect(built?.after).toContain('# egressctl: managed, policy ci-block+release-block');
  });
});
