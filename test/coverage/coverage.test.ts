/**
 * Coverage (src/coverage/): per job, what enforces it, in which mode, and why not, on workflows
 * written by the real hardening code from a store (both delivery forms) and on hand-written ones.
 */
import { describe, expect, it } from 'vitest';
import { barSegments, coverageFailures, coverageTotals, coverRepository, coverWorkflow, renderCoverage, textBar, type CoverageStore } from '../../src/coverage/coverage.js';
import { liveRepositoryVariables } from '../../src/coverage/variables.js';
import { variableValue } from '../../src/policy/delivery.js';
import { DEFAULT_SETTINGS, emptyAttachmentMap, type CompiledPolicy, type DeliveryMode } from '../../src/policy/model.js';
import { storePlanner, type StoreState } from '../../src/rollout/desired-state.js';
import { hardenWorkflow } from '../../src/rollout/harden.js';

const apiBlock: CompiledPolicy = { name: 'api-block', 'egress-policy': 'block', 'allowed-endpoints': ['api.github.com:443', 'github.com:443'] };
const orgAudit: CompiledPolicy = { name: 'org-audit', 'egress-policy': 'audit', 'allowed-endpoints': [] };

function store(delivery: DeliveryMode = 'pull-request', hookRunners: string[] = []): CoverageStore {
  const attachments = emptyAttachmentMap();
  attachments.organizations['acme'] = 'org-audit';
  attachments.repositories['acme/api'] = 'api-block';
  const state: StoreState = { attachments, policies: { 'api-block': apiBlock, 'org-audit': orgAudit }, settings: { ...DEFAULT_SETTINGS, delivery } };
  return { state, hookRunners };
}

/** The workflow as a sync PR leaves it. */
function synced(text: string, coverage: CoverageStore, file = '.github/workflows/ci.yml', repository = 'acme/api'): string {
  const result = hardenWorkflow(text, { file, plan: storePlanner({ store: coverage.state, repository, workflowPath: file }) });
  expect(result.errors).toEqual([]);
  return result.output;
}

const CI = `on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - run: make test
`;

function only(text: string, coverage: CoverageStore, repository = 'acme/api') {
  const result = coverWorkflow(text, '.github/workflows/ci.yml', repository, coverage);
  expect(result.problems).toEqual([]);
  return result.jobs;
}

describe('coverage per job', () => {
  it('a synced block step on a hosted Linux runner: block, Harden-Runner inline', () => {
    const s = store();
    const [job] = only(synced(CI, s), s);
    expect(job).toMatchObject({ file: '.github/workflows/ci.yml', job: 'test', enforcedBy: ['harden-runner (inline)'], mode: 'block', reason: null, policy: 'api-block' });
  });

  it('with delivery: variables the step reads Actions variables: block through variables', () => {
    const s = store('variables');
    const [job] = only(synced(CI, s), s);
    expect(job).toMatchObject({ enforcedBy: ['harden-runner (variables)'], mode: 'block' });
  });

  it('a job without a step is unprotected, and says so', () => {
    const [job] = only(CI, store());
    expect(job).toMatchObject({ enforcedBy: [], mode: 'none', reason: 'no Harden-Runner step' });
  });

  it('the organization audit policy: audit, with the reason', () => {
    const s = store();
    const [job] = only(synced(CI, s, '.github/workflows/ci.yml', 'acme/web'), s, 'acme/web');
    expect(job).toMatchObject({ mode: 'audit', policy: 'org-audit', reason: 'audit mode: the policy observes, nothing is blocked' });
  });

  it('container jobs, ubuntu-slim and Windows on ARM are unprotected even with the step', () => {
    const s = store();
    const text = `on: push
jobs:
  in-container:
    runs-on: ubuntu-latest
    container: node:20
    steps:
      - run: npm test
  slim:
    runs-on: ubuntu-slim
    steps:
      - run: echo hi
  arm:
    runs-on: windows-11-arm
    steps:
      - run: echo hi
`;
    const jobs = only(synced(text, s), s);
    expect(jobs.map((job) => [job.job, job.mode])).toEqual([
      ['in-container', 'none'],
      ['slim', 'none'],
      ['arm', 'none'],
    ]);
    expect(jobs[0]?.reason).toContain('container');
    expect(jobs[1]?.reason).toContain('ubuntu-slim');
    expect(jobs[2]?.reason).toContain('Windows ARM runner');
  });

  it('hosted Windows in a block policy: audit, because hosted Windows and macOS support audit only', () => {
    const s = store();
    const text = CI.replace('ubuntu-latest', 'windows-2022');
    const [job] = only(synced(text, s), s);
    expect(job).toMatchObject({ mode: 'audit', enforcedBy: ['harden-runner (inline)'] });
    expect(job?.reason).toContain('hosted Windows and macOS support audit only');
  });

  it('a matrix over Linux and macOS counts as its weakest leg', () => {
    const s = store();
    const text = `on: push
jobs:
  test:
    strategy:
      matrix:
        os: [ubuntu-latest, macos-latest]
    runs-on: \${{ matrix.os }}
    steps:
      - run: make
`;
    const [job] = only(synced(text, s), s);
    expect(job).toMatchObject({ mode: 'audit' });
    expect(job?.reason).toContain('hosted macOS');
  });

  it('self-hosted runners: unprotected without the hook, enforced through it when egressctl.yml names them', () => {
    const text = CI.replace('ubuntu-latest', '[self-hosted, linux, arc-prod]');
    const without = store('variables');
    const [bare] = only(synced(text, without), without);
    expect(bare).toMatchObject({ mode: 'none' });
    expect(bare?.reason).toContain("self-hosted runner (self-hosted, linux, arc-prod) without egressctl's job-started hook");
    const withHook = store('variables', ['arc-prod']);
    const [hooked] = only(synced(text, withHook), withHook);
    expect(hooked).toMatchObject({ mode: 'block', enforcedBy: ['harden-runner (hook)'] });
  });

  it('the runners of an ARC cluster in egressctl.yml run the hook: enforced through it', () => {
    const text = CI.replace('ubuntu-latest', '{ group: arc-prod-runners }');
    const s: CoverageStore = { ...store('variables'), clusters: [{ name: 'arc-prod', runnerGroups: ['arc-prod-runners'], labels: [] }] };
    const [job] = only(synced(text, s), s);
    expect(job).toMatchObject({ mode: 'block', enforcedBy: ['harden-runner (hook)'] });
    const byLabels: CoverageStore = { ...store('variables'), clusters: [{ name: 'arc-prod', runnerGroups: [], labels: ['self-hosted', 'linux', 'arc-prod'] }] };
    const [labelled] = only(synced(CI.replace('ubuntu-latest', '[self-hosted, linux, arc-prod]'), byLabels), byLabels);
    expect(labelled).toMatchObject({ mode: 'block', enforcedBy: ['harden-runner (hook)'] });
    // A label the cluster's runners lack: GitHub would not give the job one of them.
    const [elsewhere] = only(synced(CI.replace('ubuntu-latest', '[self-hosted, linux, gpu]'), byLabels), byLabels);
    expect(elsewhere).toMatchObject({ mode: 'none' });
  });

  it('a job that calls a reusable workflow is unprotected here: its jobs are listed under the called file', () => {
    const text = `on: push
jobs:
  build:
    uses: ./.github/workflows/build.yml
`;
    const [job] = only(text, store());
    expect(job).toMatchObject({ mode: 'none', enforcedBy: [] });
    expect(job?.reason).toContain('calls a reusable workflow (./.github/workflows/build.yml)');
  });

  it("a reusable workflow's jobs follow their caller's policy, as sync plans them", () => {
    const s = store();
    s.state.attachments.workflows['acme/web/.github/workflows/release.yml'] = 'api-block';
    const release = 'on: push\njobs:\n  build:\n    uses: ./.github/workflows/build.yml\n';
    const build = 'on: workflow_call\njobs:\n  compile:\n    runs-on: ubuntu-latest\n    steps:\n      - run: make\n';
    const covered = coverRepository('acme/web', [{ path: '.github/workflows/release.yml', text: release }, { path: '.github/workflows/build.yml', text: build }], s, { at: 't' });
    expect(covered.jobs.map((job) => [job.file, job.job, job.policy])).toEqual([
      ['.github/workflows/release.yml', 'build', 'api-block'],
      ['.github/workflows/build.yml', 'compile', 'api-block'],
    ]);
    // Alone, build.yml would get the organization's audit policy.
    expect(coverWorkflow(build, '.github/workflows/build.yml', 'acme/web', s).jobs[0]?.policy).toBe('org-audit');
  });

  it('pull_request runs use the pull request\'s copy, and forks get no variables: said as caveats', () => {
    const s = store('variables');
    const text = `on: [push, pull_request]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: step-security/harden-runner@05e31511f85b41b11d1cf0ef85d0992719546e2c # v2.21.0
        with: # egressctl: managed, policy api-block
          egress-policy: \${{ fromJSON(env.EGRESSCTL_POLICY || vars.EGRESSCTL_REPO_POLICY || '{"egress-policy":"audit"}')['egress-policy'] }}
      - run: make
`;
    const [job] = only(text, s);
    expect(job).toMatchObject({ mode: 'block', enforcedBy: ['harden-runner (variables)'] });
    // acme/api has its own attachment: its variable is EGRESSCTL_REPO_POLICY; a step still reading EGRESSCTL_POLICY gets the organization's.
    expect(only(text.replace('vars.EGRESSCTL_REPO_POLICY', 'vars.EGRESSCTL_POLICY'), s)[0]).toMatchObject({ mode: 'audit' });
    expect(job?.reason).toContain("on pull_request the run uses the pull request's copy of the workflow");
    expect(job?.reason).toContain('pull requests from forks get no Actions variables: the step falls back to audit');
  });

  it('a person\'s step and EGRESSCTL_POLICY in env: are caveats', () => {
    const text = `on: push
env:
  EGRESSCTL_POLICY: '{"egress-policy":"audit"}'
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: step-security/harden-runner@v2
        with:
          egress-policy: block
          allowed-endpoints: github.com:443
`;
    const [job] = only(text, store());
    expect(job).toMatchObject({ mode: 'block' });
    expect(job?.reason).toContain('no marker');
    expect(job?.reason).toContain("EGRESSCTL_POLICY is set in the workflow's env");
  });

  it("GitHub's egress firewall answers too: a job on its runner with the repository's file in enforce mode is in block", () => {
    const text = CI.replace('ubuntu-latest', 'ubuntu-24.04-firewall');
    const files = { '.github/egress-firewall.yaml': 'mode: enforce\nallow:\n  - registry.npmjs.org\n' };
    const [job] = coverWorkflow(text, '.github/workflows/ci.yml', 'acme/api', store(), { files }).jobs;
    expect(job).toMatchObject({ mode: 'block', enforcedBy: ['github-firewall'] });
    expect(job?.targets.map((answer) => [answer.target, answer.mode])).toEqual([
      ['harden-runner', null],
      ['github-firewall', 'block'],
    ]);
    // Without the file GitHub enforces nothing there, and says why.
    const [bare] = coverWorkflow(text, '.github/workflows/ci.yml', 'acme/api', store()).jobs;
    expect(bare).toMatchObject({ mode: 'none' });
    expect(bare?.reason).toContain('.github/egress-firewall.yaml');
  });

  it("a larger runner on GitHub's firewall image counts as behind the firewall once egressctl.yml lists its label", () => {
    const text = CI.replace('ubuntu-latest', 'Acme-Linux-Firewall-8core');
    const files = { '.github/egress-firewall.yaml': 'mode: enforce\nallow:\n  - registry.npmjs.org\n' };
    // Its label is the name the organization gave it: without the setting nothing says it is on the firewall image.
    const [unknown] = coverWorkflow(text, '.github/workflows/ci.yml', 'acme/api', store(), { files }).jobs;
    expect(unknown?.targets.find((answer) => answer.target === 'github-firewall')?.mode).toBeNull();
    const listed: CoverageStore = { ...store(), firewallLargerRunners: ['acme-linux-firewall-8core'] };
    const [job] = coverWorkflow(text, '.github/workflows/ci.yml', 'acme/api', listed, { files }).jobs;
    expect(job).toMatchObject({ mode: 'block', enforcedBy: ['github-firewall'] });
  });

  it('a file that is not a workflow is a problem, not a crash', () => {
    const result = coverWorkflow('name: [unclosed\n', '.github/workflows/x.yml', 'acme/api', store());
    expect(result.jobs).toEqual([]);
    expect(result.problems[0]?.message).toContain('does not parse');
  });
});

describe('totals and the bar', () => {
  it('counts block, audit and unprotected, and draws every non-empty share', () => {
    const totals = coverageTotals([{ mode: 'block' }, { mode: 'block' }, { mode: 'audit' }, { mode: 'none' }, ...Array.from({ length: 96 }, () => ({ mode: 'block' as const }))]);
    expect(totals).toEqual({ jobs: 100, block: 98, audit: 1, unprotected: 1 });
    const [block, audit, unprotected] = barSegments(totals, 40);
    expect(block + audit + unprotected).toBe(40);
    expect(audit).toBe(1);
    expect(unprotected).toBe(1);
    expect(textBar({ jobs: 4, block: 2, audit: 1, unprotected: 1 }, 8)).toBe('[####~~..]');
  });

  it('renders one line per job and the organization totals', () => {
    const s = store();
    const jobs = coverWorkflow(synced(CI, s), '.github/workflows/ci.yml', 'acme/api', s).jobs;
    expect(renderCoverage(jobs, [])).toBe(
      'acme/api .github/workflows/ci.yml:3 test: block (harden-runner (inline))\n' +
        'acme: [########################################] 1 job: 1 block (100%), 0 audit (0%), 0 unprotected (0%)\n',
    );
  });
});

describe('variables as they exist, retained ones included', () => {
  const value = (name: string, mode: 'audit' | 'block', endpoints: string[] = []) => variableValue({ name, 'egress-policy': mode, 'allowed-endpoints': endpoints });
  /** The step as an egressctl before EGRESSCTL_REPO_POLICY wrote it: it reads the repository-level EGRESSCTL_POLICY. */
  const older = (text: string) => text.replaceAll('vars.EGRESSCTL_REPO_POLICY', 'vars.EGRESSCTL_POLICY');

  it('a retained variable weaker than the store fails open on a hosted runner; where the hook answers first it does not count', () => {
    const s = store('variables', ['arc-prod']);
    const stale = value('api-stale', 'audit');
    const variables = liveRepositoryVariables(s.state, 'acme/api', { organization: new Map([['EGRESSCTL_POLICY', value('org-audit', 'audit')]]), repository: new Map([['EGRESSCTL_POLICY', stale]]) });
    expect(variables.unowned['EGRESSCTL_POLICY']).toMatchObject({ level: 'repository', status: 'retained', policy: 'api-stale' });
    const hosted = coverWorkflow(older(synced(CI, s)), '.github/workflows/ci.yml', 'acme/api', s, { variables }).jobs[0];
    expect(hosted).toMatchObject({ mode: 'audit', policy: 'api-block' });
    expect(hosted?.failure).toBe('audit through retained EGRESSCTL_POLICY (repository variable of acme/api, holding policy api-stale) where the store says block (policy api-block); without it the step would get audit');
    // Hosted Windows audits whatever the variable says: the variable is named, but audit there is what the store can ask.
    const windows = coverWorkflow(older(synced(CI.replace('ubuntu-latest', 'windows-2022'), s)), '.github/workflows/ci.yml', 'acme/api', s, { variables }).jobs[0];
    expect(windows).toMatchObject({ mode: 'audit' });
    expect(windows?.failure).toBeUndefined();
    expect(windows?.reason).toContain('audit via retained EGRESSCTL_POLICY');
    const selfHosted = CI.replace('ubuntu-latest', '[self-hosted, linux, arc-prod]');
    const hooked = coverWorkflow(older(synced(selfHosted, s)), '.github/workflows/ci.yml', 'acme/api', s, { variables }).jobs[0];
    expect(hooked).toMatchObject({ mode: 'block', enforcedBy: ['harden-runner (hook)'] });
    expect(hooked?.failure).toBeUndefined();
    expect(hooked?.targets[0]?.dependsOn).toBeUndefined();
  });

  it('endpoints the store does not allow, through a retained variable, fail open too', () => {
    const s = store('variables');
    const wider = value('api-block', 'block', ['api.github.com:443', 'evil.example:443', 'github.com:443']);
    const variables = liveRepositoryVariables(s.state, 'acme/api', { organization: new Map(), repository: new Map([['EGRESSCTL_POLICY', wider]]) });
    const [job] = coverWorkflow(older(synced(CI, s)), '.github/workflows/ci.yml', 'acme/api', s, { variables }).jobs;
    expect(job).toMatchObject({ mode: 'block' });
    expect(job?.failure).toContain('block allowing evil.example:443 through retained EGRESSCTL_POLICY');
    expect(renderCoverage([job!], [])).toContain('ci.yml:3 test: FAILS OPEN: block allowing evil.example:443');
    expect(coverageFailures([job!])).toEqual([{ repository: 'acme/api', file: '.github/workflows/ci.yml', job: 'test', line: 3, failure: job!.failure }]);
  });

  it('an organization variable no attachment owns is named, and a stronger one is no failure; unknown variables are said', () => {
    const s = store('variables');
    delete s.state.attachments.organizations['acme'];
    // acme/web: nothing attached; an organization EGRESSCTL_POLICY left from before answers its step.
    const left = value('org-block', 'block', ['github.com:443']);
    const variables = liveRepositoryVariables(s.state, 'acme/web', { organization: new Map([['EGRESSCTL_POLICY', left]]), repository: new Map() });
    expect(variables.unowned['EGRESSCTL_POLICY']).toMatchObject({ level: 'organization', target: 'acme', status: 'unowned' });
    const [job] = coverWorkflow(synced(CI, s, '.github/workflows/ci.yml', 'acme/web'), '.github/workflows/ci.yml', 'acme/web', s, { variables }).jobs;
    expect(job).toMatchObject({ mode: 'block', policy: null });
    expect(job?.failure).toBeUndefined();
    expect(job?.reason).toBe('block via EGRESSCTL_POLICY (organization variable of acme, holding policy org-block, which no attachment owns), a full sync with delivery: variables removes it; without it the step would get audit');

    const unknown = liveRepositoryVariables(s.state, 'acme/api', { unknown: ['the repository variables of acme/api could not be read: 403'] });
    const [read] = coverWorkflow(synced(CI, s), '.github/workflows/ci.yml', 'acme/api', s, { variables: unknown }).jobs;
    expect(read).toMatchObject({ mode: 'block' });
    expect(read?.reason).toContain('Actions variables not known (the repository variables of acme/api could not be read: 403): counted as the store writes them');
  });
});
