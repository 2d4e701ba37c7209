/**
 * Fail closed (docs/reconciliation.md, "Fail closed"): what the store says is what every job
 * gets, in every delivery form. Each written input is evaluated by GitHub's expression engine
 * for the runs that matter: a pull request from a fork (no `vars`, no `env`), a run where a
 * repository variable overrides, a Windows leg, and a job whose own `env:` tries to override.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DELIVERED_INPUTS, variableValue } from '../../src/policy/delivery.js';
import { DEFAULT_SETTINGS, emptyAttachmentMap, type CompiledPolicy, type Settings } from '../../src/policy/model.js';
import { buildBaselineIndex } from '../../src/baselines/index.js';
import { storePlanner, type StoreState } from '../../src/rollout/desired-state.js';
import { planRepository } from '../../src/rollout/rollout-plan.js';
import { syncReasons } from '../../src/rollout/sync-report.js';
import { hardenWorkflow } from '../../src/rollout/harden.js';
import { newWorkflowErrors } from '../../src/rollout/workflow-check.js';
import { evaluateInput, type InputContexts } from '../support/expressions.js';

const fixture = readFileSync(path.join(import.meta.dirname, 'fixtures/fail-closed/release.yml'), 'utf8');

const releaseBlock: CompiledPolicy = {
  name: 'release-block',
  'egress-policy': 'block',
  'allowed-endpoints': ['github.com:443', 'fulcio.sigstore.dev:443'],
  'disable-telemetry': true,
};
const orgAudit: CompiledPolicy = { name: 'org-audit', 'egress-policy': 'audit', 'allowed-endpoints': [] };
const wider: CompiledPolicy = { name: 'wider', 'egress-policy': 'block', 'allowed-endpoints': ['github.com:443', 'registry.npmjs.org:443'] };

function store(delivery: Settings['delivery']): StoreState {
  const attachments = emptyAttachmentMap();
  attachments.organizations['acme'] = 'org-audit';
  attachments.workflows['acme/api/.github/workflows/release.yml'] = 'release-block';
  return { attachments, policies: { 'release-block': releaseBlock, 'org-audit': orgAudit, wider }, settings: { hardenRunner: DEFAULT_SETTINGS.hardenRunner, unattached: 'audit', delivery } };
}

type Steps = Record<string, { steps: Array<{ with?: Record<string, string | boolean> }> }>;

function harden(delivery: Settings['delivery']) {
  const planner = storePlanner({ store: store(delivery), repository: 'acme/api', workflowPath: '.github/workflows/release.yml' });
  const result = hardenWorkflow(fixture, { file: '.github/workflows/release.yml', plan: planner });
  expect(result.errors).toEqual([]);
  const again = hardenWorkflow(result.output, { file: '.github/workflows/release.yml', plan: planner });
  expect(again.output).toBe(result.output);
  const jobs = (parse(result.output) as { jobs: Steps }).jobs;
  /** What Harden-Runner receives for a job's inputs in a given run. */
  const received = (job: string, contexts: InputContexts): Record<string, string> => {
    const inputs = jobs[job]?.steps[0]?.with ?? {};
    return Object.fromEntries(Object.entries(inputs).map(([key, value]) => [key, evaluateInput(String(value), contexts)]));
  };
  return { result, received };
}

const forkPullRequest: InputContexts = { runner: { os: 'Linux', environment: 'github-hosted' } };
const onWindows: InputContexts = { runner: { os: 'Windows', environment: 'github-hosted' } };

for (const delivery of ['pull-request', 'variables'] as const) {
  describe(`delivery: ${delivery}`, () => {
    const { result, received } = harden(delivery);

    it("writes files GitHub's parser accepts", async () => {
      expect(await newWorkflowErrors('.github/workflows/release.yml', fixture, result.output)).toEqual([]);
    });

    it('a pull request from a fork (no vars, no env) gets block with the policy\'s endpoints', () => {
      for (const job of ['build', 'test', 'sneaky']) {
        const inputs = received(job, forkPullRequest);
        expect(inputs['egress-policy'], job).toBe('block');
        expect(inputs['allowed-endpoints'], job).toBe('fulcio.sigstore.dev:443 github.com:443');
        expect(inputs['disable-telemetry'], job).toBe('true');
      }
    });

    it('a Windows-only job and the Windows leg of a matrix get audit, whatever a variable says', () => {
      const variables = { vars: { EGRESSCTL_WF_RELEASE_YML: variableValue(wider), EGRESSCTL_POLICY: variableValue(releaseBlock) } };
      for (const contexts of [onWindows, { ...onWindows, ...variables }]) {
        for (const job of ['package-windows', 'test']) {
          const inputs = received(job, contexts);
          expect(inputs['egress-policy'], job).toBe('audit');
          // Harden-Runner accepts disable-telemetry only with block.
          expect(inputs['disable-telemetry'] ?? 'false', job).toBe('false');
        }
      }
    });

    it("a job's own env: EGRESSCTL_POLICY does not lower it on a GitHub-hosted runner, and is reported as drift", () => {
      const env = { EGRESSCTL_POLICY: JSON.stringify({ 'egress-policy': 'audit', 'allowed-endpoints': '', 'disable-sudo-and-containers': false, 'disable-file-monitoring': false, 'disable-telemetry': false }) };
      expect(received('sneaky', { ...forkPullRequest, env })['egress-policy']).toBe('block');
      const sneaky = result.jobs.find((job) => job.job === 'sneaky');
      expect(sneaky?.drift).toContain("EGRESSCTL_POLICY is set in the job's env: (line 42)");
      expect(result.jobs.find((job) => job.job === 'build')?.drift).toBeUndefined();
    });

    it('reports ubuntu-slim per job: Harden-Runner does not run there', () => {
      const changelog = result.jobs.find((job) => job.job === 'changelog');
      expect(changelog?.support).toMatchObject({ level: 'none', gaps: [{ code: 'ubuntu-slim' }] });
      expect(changelog?.reason).toContain('ubuntu-slim: Harden-Runner does not run there');
    });
  });
}

describe('delivery: variables', () => {
  const { received } = harden('variables');

  it('a repository variable still overrides the literal (the store moved on since the sync)', () => {
    const inputs = received('build', { ...forkPullRequest, vars: { EGRESSCTL_WF_RELEASE_YML: variableValue(wider) } });
    expect(inputs['egress-policy']).toBe('block');
    expect(inputs['allowed-endpoints']).toBe('github.com:443 registry.npmjs.org:443');
    expect(received('build', { ...forkPullRequest, vars: { EGRESSCTL_WF_RELEASE_YML: variableValue(orgAudit) } })['egress-policy']).toBe('audit');
  });

  it('on a self-hosted runner the hook\'s env comes first', () => {
    const env = { EGRESSCTL_POLICY: variableValue(wider) };
    expect(received('build', { runner: { os: 'Linux', environment: 'self-hosted' }, env })['allowed-endpoints']).toBe('github.com:443 registry.npmjs.org:443');
  });

  it('every input is an expression over one chain, and all five are written', () => {
    const inputs = received('build', forkPullRequest);
    expect(Object.keys(inputs)).toEqual([...DELIVERED_INPUTS]);
  });
});

describe('an older managed step that falls back to audit', () => {
  it('is brought to the desired fallback by the next sync, which says the fallback was behind', () => {
    const old = [
      'on: pull_request',
      'jobs:',
      '  build:',
      '    runs-on: ubuntu-latest',
      '    steps:',
      `      - uses: step-security/harden-runner@${DEFAULT_SETTINGS.hardenRunner.sha} # ${DEFAULT_SETTINGS.hardenRunner.version}`,
      '        with: # egressctl: managed, policy release-block',
      ...DELIVERED_INPUTS.map(
        (input) =>
          `          ${input}: \${{ fromJSON(env.EGRESSCTL_POLICY || vars.EGRESSCTL_WF_RELEASE_YML || vars.EGRESSCTL_POLICY || '{"egress-policy":"audit","allowed-endpoints":"","disable-sudo-and-containers":false,"disable-file-monitoring":false,"disable-telemetry":false}')['${input}'] }}`,
      ),
      '      - run: make',
      '',
    ].join('\n');
    // What a fork's pull request got before: audit.
    expect(evaluateInput(String((parse(old) as { jobs: Steps }).jobs.build?.steps[0]?.with?.['egress-policy']), forkPullRequest)).toBe('audit');
    const planner = storePlanner({ store: store('variables'), repository: 'acme/api', workflowPath: '.github/workflows/release.yml' });
    const result = hardenWorkflow(old, { file: '.github/workflows/release.yml', plan: planner });
    const build = result.jobs[0];
    expect(build?.action).toBe('updated');
    expect(build?.reason).toContain('fallback (what runs without variables get, e.g. pull requests from forks) is behind the store (policy release-block)');
    const now = (parse(result.output) as { jobs: Steps }).jobs.build?.steps[0]?.with?.['egress-policy'];
    expect(evaluateInput(String(now), forkPullRequest)).toBe('block');
  });
});

describe('with delivery: variables a fallback behind the store waits for the next sync PR', () => {
  it('opens no PR for fallbacks alone, says so per job, and brings them along with the next real change', async () => {
    const baselines = buildBaselineIndex([]);
    const config = (policy: CompiledPolicy) => {
      const state = store('variables');
      return { mode: 'inline' as const, pin: DEFAULT_SETTINGS.hardenRunner, baselines, store: { ...state, policies: { ...state.policies, 'release-block': policy } } };
    };
    const first = await planRepository('acme/api', [{ path: '.github/workflows/release.yml', text: fixture }], config(releaseBlock));
    const written = first.files[0]?.after ?? '';
    // The policy gains an endpoint: the variable carries it; the file's fallback is now behind.
    const grown: CompiledPolicy = { ...releaseBlock, 'allowed-endpoints': [...releaseBlock['allowed-endpoints'], 'rekor.sigstore.dev:443'] };
    const later = await planRepository('acme/api', [{ path: '.github/workflows/release.yml', text: written }], config(grown));
    expect(later.files[0]?.status).toBe('unchanged');
    const build = later.files[0]?.jobs.find((job) => job.job === 'build');
    expect(build).toMatchObject({ action: 'unchanged', fallbackBehind: true });
    expect(syncReasons(later.files)).toContain(
      '.github/workflows/release.yml job build: fallback behind the store (policy release-block): runs without variables (pull requests from forks) get the older, stricter policy until the next sync PR (the store\'s is only looser)',
    );
    // Another file needs a step: that PR brings the fallbacks along.
    const withNew = await planRepository('acme/api', [{ path: '.github/workflows/release.yml', text: written }, { path: '.github/workflows/ci.yml', text: 'on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n      - run: make\n' }], config(grown));
    expect(withNew.files.map((file) => file.status)).toEqual(['changed', 'changed']);
    const inputs = (parse(withNew.files[0]?.after ?? '') as { jobs: Steps }).jobs.build?.steps[0]?.with ?? {};
    expect(evaluateInput(String(inputs['allowed-endpoints']), forkPullRequest)).toBe('fulcio.sigstore.dev:443 github.com:443 rekor.sigstore.dev:443');
  });
});

describe('EGRESSCTL_POLICY in a workflow env: is drift in the sync report (issue 24, item 10)', () => {
  it('names the job and the line, whether or not the file changes', async () => {
    const plan = await planRepository('acme/api', [{ path: '.github/workflows/release.yml', text: fixture }], { mode: 'inline', pin: DEFAULT_SETTINGS.hardenRunner, baselines: buildBaselineIndex([]), store: store('variables') });
    const reasons = syncReasons(plan.files);
    expect(reasons).toContain(".github/workflows/release.yml job sneaky: EGRESSCTL_POLICY is set in the job's env: (line 42): only the job-started hook may set it; remove it");
    expect(plan.files[0]?.jobs.find((job) => job.job === 'sneaky')?.policyEnv).toEqual(["the job's env: (line 42)"]);
    const workflowLevel = fixture.replace('permissions:\n', 'env:\n  egressctl_policy: x\npermissions:\n');
    const again = await planRepository('acme/api', [{ path: '.github/workflows/release.yml', text: workflowLevel }], { mode: 'inline', pin: DEFAULT_SETTINGS.hardenRunner, baselines: buildBaselineIndex([]), store: store('pull-request') });
    expect(again.files[0]?.jobs.find((job) => job.job === 'build')?.policyEnv).toEqual(['the workflow env: (line 10)']);
  });
});

describe('a workflow attachment whose variable is missing (deleted on GitHub, or its write failed)', () => {
  const { received } = harden('variables');
  // The organization's audit policy, still there as an organization variable.
  const orgOnly = { vars: { EGRESSCTL_POLICY: variableValue(orgAudit) } };

  it("falls to the workflow's own fallback literal, not to the repository's or organization's variable", () => {
    for (const job of ['build', 'sneaky']) {
      const inputs = received(job, { ...forkPullRequest, ...orgOnly });
      expect(inputs['egress-policy'], job).toBe('block');
      expect(inputs['allowed-endpoints'], job).toBe('fulcio.sigstore.dev:443 github.com:443');
      expect(inputs['disable-telemetry'], job).toBe('true');
    }
  });

  it('a fork run (no vars) gets the same; the workflow variable still overrides when present', () => {
    expect(received('build', forkPullRequest)['egress-policy']).toBe('block');
    const both = { vars: { EGRESSCTL_POLICY: variableValue(orgAudit), EGRESSCTL_WF_RELEASE_YML: variableValue(wider) } };
    expect(received('build', { ...forkPullRequest, ...both })['allowed-endpoints']).toBe('github.com:443 registry.npmjs.org:443');
  });

  it('a workflow without an attachment of its own still reads the repository or organization variable', () => {
    const planner = storePlanner({ store: store('variables'), repository: 'acme/api', workflowPath: '.github/workflows/ci.yml' });
    const ci = fixture.replace(/^name: .*$/m, 'name: CI');
    const result = hardenWorkflow(ci, { file: '.github/workflows/ci.yml', plan: planner });
    const inputs = (parse(result.output) as { jobs: Steps }).jobs.build?.steps[0]?.with ?? {};
    expect(evaluateInput(String(inputs['egress-policy']), { ...forkPullRequest, vars: { EGRESSCTL_POLICY: variableValue(releaseBlock) } })).toBe('block');
    expect(evaluateInput(String(inputs['egress-policy']), forkPullRequest)).toBe('audit');
  });
});

describe('with delivery: variables a STRICTER fallback is written at once (runs without variables must not keep a weaker one)', () => {
  const baselines = buildBaselineIndex([]);
  const config = (policy: CompiledPolicy, attach = 'release-block') => {
    const state = store('variables');
    const attachments = { ...state.attachments, workflows: { ...state.attachments.workflows, 'acme/api/.github/workflows/release.yml': attach } };
    return { mode: 'inline' as const, pin: DEFAULT_SETTINGS.hardenRunner, baselines, store: { ...state, attachments, policies: { ...state.policies, [policy.name]: policy } } };
  };
  const written = async (policy: CompiledPolicy, attach?: string) => (await planRepository('acme/api', [{ path: '.github/workflows/release.yml', text: fixture }], config(policy, attach))).files[0]?.after ?? '';
  const forkGets = (text: string, input: string) => evaluateInput(String((parse(text) as { jobs: Steps }).jobs.build?.steps[0]?.with?.[input]), forkPullRequest);

  const cases: Array<{ name: string; from: CompiledPolicy; to: CompiledPolicy; why: string; input: string; fork: string }> = [
    {
      name: 'an endpoint dropped',
      from: releaseBlock,
      to: { ...releaseBlock, 'allowed-endpoints': ['github.com:443'] },
      why: 'allowed-endpoints drops fulcio.sigstore.dev:443',
      input: 'allowed-endpoints',
      fork: 'github.com:443',
    },
    { name: 'audit -> block', from: { ...releaseBlock, 'egress-policy': 'audit', 'allowed-endpoints': [] }, to: releaseBlock, why: 'egress-policy audit -> block', input: 'egress-policy', fork: 'block' },
    {
      name: 'sudo disabled',
      from: releaseBlock,
      to: { ...releaseBlock, 'disable-sudo-and-containers': true },
      why: 'disable-sudo-and-containers false -> true',
      input: 'disable-sudo-and-containers',
      fork: 'true',
    },
  ];
  for (const item of cases) {
    it(`${item.name}: the file is written, and the report says why`, async () => {
      const before = await written(item.from);
      expect(forkGets(before, item.input)).not.toBe(item.fork);
      const later = await planRepository('acme/api', [{ path: '.github/workflows/release.yml', text: before }], config(item.to));
      const file = later.files[0];
      expect(file?.status).toBe('changed');
      expect(forkGets(file?.after ?? '', item.input)).toBe(item.fork);
      const build = file?.jobs.find((job) => job.job === 'build');
      expect(build?.fallbackBehind).toBeUndefined();
      expect(build?.fallbackStricter).toContain(item.why);
      expect(build?.reason).toContain('stricter');
      expect(syncReasons(later.files).join('\n')).toContain(`.github/workflows/release.yml job build: fallback stricter in the store (policy release-block): ${item.why}`);
    });
  }

  it('an attachment moved to a stricter policy (marker and fallback change) is written too', async () => {
    const narrow: CompiledPolicy = { name: 'narrow', 'egress-policy': 'block', 'allowed-endpoints': ['github.com:443'] };
    const before = await written(releaseBlock);
    const later = await planRepository('acme/api', [{ path: '.github/workflows/release.yml', text: before }], config(narrow, 'narrow'));
    expect(later.files[0]?.status).toBe('changed');
    expect(later.files[0]?.after).toContain('# egressctl: managed, policy narrow');
    expect(forkGets(later.files[0]?.after ?? '', 'allowed-endpoints')).toBe('github.com:443');
  });

  it('a looser-only change stays deferred, and the report says it is looser (runs without variables get more than the store asks)', async () => {
    const before = await written(releaseBlock);
    const looser: CompiledPolicy = { ...releaseBlock, 'allowed-endpoints': [...releaseBlock['allowed-endpoints'], 'rekor.sigstore.dev:443'] };
    const later = await planRepository('acme/api', [{ path: '.github/workflows/release.yml', text: before }], config(looser));
    expect(later.files[0]?.status).toBe('unchanged');
    const build = later.files[0]?.jobs.find((job) => job.job === 'build');
    expect(build).toMatchObject({ action: 'unchanged', fallbackBehind: true });
    expect(build?.reason).toContain('only looser');
  });
});

describe('a repository attachment whose repository variable is missing (deleted on GitHub, or its write failed)', () => {
  // acme/api has its own attachment (wider); the organization's is audit. GitHub resolves a
  // repository and an organization variable of one name into one `vars.X`, repository first.
  const attached = (): StoreState => {
    const state = store('variables');
    return { ...state, attachments: { ...state.attachments, repositories: { ...state.attachments.repositories, 'acme/api': 'wider' } } };
  };
  const ci = fixture.replace(/^name: .*$/m, 'name: CI');
  const written = (repository: string) => {
    const result = hardenWorkflow(ci, { file: '.github/workflows/ci.yml', plan: storePlanner({ store: attached(), repository, workflowPath: '.github/workflows/ci.yml' }) });
    const inputs = (parse(result.output) as { jobs: Steps }).jobs.build?.steps[0]?.with ?? {};
    return (input: string, contexts: InputContexts) => evaluateInput(String(inputs[input]), contexts);
  };
  const api = written('acme/api');
  // With the repository's variable deleted, `vars.EGRESSCTL_POLICY` is the organization's.
  const orgOnly = { vars: { EGRESSCTL_POLICY: variableValue(orgAudit) } };

  it("falls to the repository's own fallback literal, never to the organization's variable of the same name", () => {
    expect(api('egress-policy', { ...forkPullRequest, ...orgOnly })).toBe('block');
    expect(api('allowed-endpoints', { ...forkPullRequest, ...orgOnly })).toBe('github.com:443 registry.npmjs.org:443');
  });

  it('a fork run (no vars) gets the same; the repository variable (EGRESSCTL_REPO_POLICY) still overrides when present', () => {
    expect(api('egress-policy', forkPullRequest)).toBe('block');
    expect(api('allowed-endpoints', forkPullRequest)).toBe('github.com:443 registry.npmjs.org:443');
    const both = { vars: { EGRESSCTL_POLICY: variableValue(orgAudit), EGRESSCTL_REPO_POLICY: variableValue(releaseBlock) } };
    expect(api('allowed-endpoints', { ...forkPullRequest, ...both })).toBe('fulcio.sigstore.dev:443 github.com:443');
    // A workflow variable added later still comes first.
    expect(api('allowed-endpoints', { ...forkPullRequest, vars: { ...both.vars, EGRESSCTL_WF_CI_YML: variableValue(wider) } })).toBe('github.com:443 registry.npmjs.org:443');
  });

  it("a repository without its own attachment keeps reading the organization's variable", () => {
    const web = written('acme/web');
    expect(web('egress-policy', { ...forkPullRequest, ...orgOnly })).toBe('audit');
    expect(web('egress-policy', { ...forkPullRequest, vars: { EGRESSCTL_POLICY: variableValue(wider) } })).toBe('block');
    // A repository attachment added later reaches it through its variable at once (the sync PR then shortens the chain).
    expect(web('egress-policy', { ...forkPullRequest, vars: { ...orgOnly.vars, EGRESSCTL_REPO_POLICY: variableValue(wider) } })).toBe('block');
  });
});

describe('a step written before EGRESSCTL_REPO_POLICY existed, in a repository without an attachment of its own', () => {
  const baselines = buildBaselineIndex([]);
  const config = { mode: 'inline' as const, pin: DEFAULT_SETTINGS.hardenRunner, baselines, store: store('variables') };
  const ci = fixture.replace(/^name: .*$/m, 'name: CI');

  it('opens no PR for the link alone (it reads what the store says), and the next sync PR brings it along', async () => {
    const current = (await planRepository('acme/api', [{ path: '.github/workflows/ci.yml', text: ci }], config)).files[0]?.after ?? '';
    expect(current).toContain('vars.EGRESSCTL_REPO_POLICY || vars.EGRESSCTL_POLICY');
    const older = current.replaceAll('vars.EGRESSCTL_REPO_POLICY || ', '');
    const inputs = (parse(older) as { jobs: Steps }).jobs.build?.steps[0]?.with ?? {};
    expect(evaluateInput(String(inputs['egress-policy']), { ...forkPullRequest, vars: { EGRESSCTL_POLICY: variableValue(releaseBlock) } })).toBe('block');
    const later = await planRepository('acme/api', [{ path: '.github/workflows/ci.yml', text: older }], config);
    expect(later.files[0]?.status).toBe('unchanged');
    const build = later.files[0]?.jobs.find((job) => job.job === 'build');
    expect(build?.action).toBe('unchanged');
    expect(build?.fallbackBehind).toBeUndefined();
    expect(build?.reason).toContain('does not read EGRESSCTL_REPO_POLICY yet');
    const withNew = await planRepository('acme/api', [{ path: '.github/workflows/ci.yml', text: older }, { path: '.github/workflows/lint.yml', text: 'on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n      - run: make\n' }], config);
    expect(withNew.files.map((file) => file.status)).toEqual(['changed', 'changed']);
    expect(withNew.files[0]?.after).toBe(current);
  });

  it('in a repository that has its own attachment, the step is rewritten at once (it must not read EGRESSCTL_POLICY)', async () => {
    const attached = { ...config, store: { ...config.store, attachments: { ...config.store.attachments, repositories: { 'acme/api': 'wider' } } } };
    const older = ((await planRepository('acme/api', [{ path: '.github/workflows/ci.yml', text: ci }], config)).files[0]?.after ?? '').replaceAll('vars.EGRESSCTL_REPO_POLICY || ', '');
    const later = await planRepository('acme/api', [{ path: '.github/workflows/ci.yml', text: older }], attached);
    expect(later.files[0]?.status).toBe('changed');
    expect(later.files[0]?.after).not.toContain('vars.EGRESSCTL_POLICY');
  });
});
