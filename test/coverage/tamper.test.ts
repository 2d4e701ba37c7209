/**
 * The tamper check's comparison (src/coverage/tamper.ts): managed steps written by the real
 * hardening code from a store, then edited as a pull request would. Weakening fails with old ->
 * new per input; matching or strengthening the store passes.
 */
import { describe, expect, it } from 'vitest';
import type { CoverageStore } from '../../src/coverage/coverage.js';
import { tamperFindings, tamperReport, unlistableReport, watchedPaths, type ChangedFile } from '../../src/coverage/tamper.js';
import { DEFAULT_SETTINGS, emptyAttachmentMap, type CompiledPolicy, type DeliveryMode } from '../../src/policy/model.js';
import { storePlanner, type StoreState } from '../../src/rollout/desired-state.js';
import { hardenWorkflow } from '../../src/rollout/harden.js';

const FILE = '.github/workflows/ci.yml';
const CI = `name: CI
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: make test
`;

function store(policy: CompiledPolicy, delivery: DeliveryMode = 'pull-request'): CoverageStore {
  const attachments = emptyAttachmentMap();
  attachments.repositories['acme/api'] = policy.name;
  const state: StoreState = { attachments, policies: { [policy.name]: policy }, settings: { ...DEFAULT_SETTINGS, delivery } };
  return { state, hookRunners: [] };
}

const block: CompiledPolicy = { name: 'api-block', 'egress-policy': 'block', 'allowed-endpoints': ['github.com:443', 'registry.npmjs.org:443'], 'disable-sudo-and-containers': true };

function synced(text: string, coverage: CoverageStore): string {
  const result = hardenWorkflow(text, { file: FILE, plan: storePlanner({ store: coverage.state, repository: 'acme/api', workflowPath: FILE }) });
  expect(result.errors).toEqual([]);
  return result.output;
}

function check(before: string, after: string, coverage: CoverageStore) {
  const file: ChangedFile = { path: FILE, before, after };
  return tamperFindings([file], 'acme/api', coverage);
}

describe('what weakens a managed step', () => {
  const s = store(block);
  const base = synced(CI, s);

  it('the synced file is as the store says (sanity)', () => {
    expect(base).toContain('# egressctl: managed, policy api-block');
    expect(base).toContain('disable-sudo-and-containers: true');
    expect(check(base, base, s)).toEqual([]);
  });

  it('lowering the mode: old -> new, why, and the policy that applies', () => {
    const findings = check(base, base.replace('egress-policy: block', 'egress-policy: audit'), s);
    expect(findings).toEqual([
      { file: FILE, job: 'test', line: 7, input: 'egress-policy', from: 'block', to: 'audit', why: 'lowers the mode from block to audit (the store says block)', policy: 'api-block' },
    ]);
  });

  it('allowing endpoints the store does not', () => {
    const findings = check(base, base.replace('registry.npmjs.org:443', 'registry.npmjs.org:443\n            evil.example.com:443'), s);
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ input: 'allowed-endpoints', from: 'github.com:443 registry.npmjs.org:443', to: 'evil.example.com:443 github.com:443 registry.npmjs.org:443' });
    expect(findings[0]!.why).toBe('allows endpoints the store does not: evil.example.com:443');
  });

  it('removing the step, or its marker', () => {
    const lines = base.split('\n');
    const start = lines.findIndex((line) => line.includes('harden-runner@'));
    const end = lines.findIndex((line, index) => index > start && line.startsWith('      - '));
    const withoutStep = [...lines.slice(0, start), ...lines.slice(end)].join('\n');
    expect(check(base, withoutStep, s)).toMatchObject([{ input: 'step', to: null, why: 'the managed Harden-Runner step was removed' }]);
    expect(check(base, base.replace(' # egressctl: managed, policy api-block', ''), s)).toMatchObject([{ input: 'marker', from: '# egressctl: managed, policy api-block', to: null }]);
  });

  it('giving sudo back, and EGRESSCTL_POLICY in an env:', () => {
    expect(check(base, base.replace('disable-sudo-and-containers: true', 'disable-sudo-and-containers: false'), s)).toMatchObject([{ input: 'disable-sudo-and-containers', from: 'true', to: 'false' }]);
    const withEnv = base.replace('    runs-on: ubuntu-latest', "    runs-on: ubuntu-latest\n    env:\n      EGRESSCTL_POLICY: '{\"egress-policy\":\"audit\"}'");
    expect(check(base, withEnv, s)).toMatchObject([{ input: 'env.EGRESSCTL_POLICY', from: null, to: '{"egress-policy":"audit"}' }]);
  });

  it('renaming the job and dropping the step on the way', () => {
    const renamed = CI.replace('  test:', '  tests:');
    expect(check(base, renamed, s)).toMatchObject([{ input: 'job', from: 'test', to: 'tests' }]);
  });

  it('with variables delivery: lowering the fallback that fork pull requests get', () => {
    const v = store(block, 'variables');
    // The managed step's fallback literal is the job's policy (block), as docs/reconciliation.md says it must be.
    const vbase = synced(CI, v).replaceAll('"egress-policy":"audit"', '"egress-policy":"block"');
    const weaker = vbase.replaceAll('"egress-policy":"block"', '"egress-policy":"audit"');
    expect(vbase).not.toBe(weaker);
    const findings = check(vbase, weaker, v);
    expect(findings.map((item) => item.input)).toContain('egress-policy');
    expect(findings.find((item) => item.input === 'egress-policy')!.why).toContain('pull requests from forks');
  });
});

describe('what passes', () => {
  const s = store(block);
  const base = synced(CI, s);

  it('other edits, fewer endpoints (stricter), and a stronger mode', () => {
    expect(check(base, base.replace('run: make test', 'run: make test lint'), s)).toEqual([]);
    expect(check(base, base.replace('\n            registry.npmjs.org:443', ''), s)).toEqual([]);
    const auditStore = store({ name: 'api-block', 'egress-policy': 'audit', 'allowed-endpoints': [] });
    const auditBase = synced(CI, auditStore);
    expect(check(auditBase, auditBase.replace('egress-policy: audit', 'egress-policy: block'), auditStore)).toEqual([]);
  });

  it("egressctl's own sync pull request when the store moved to audit", () => {
    const moved = store({ name: 'api-block', 'egress-policy': 'audit', 'allowed-endpoints': [] });
    const syncPr = synced(base, moved);
    expect(syncPr).toContain('egress-policy: audit');
    expect(check(base, syncPr, moved)).toEqual([]);
  });

  it('a step egressctl does not manage is a person\'s: not this check\'s business', () => {
    const personal = base.replace(' # egressctl: managed, policy api-block', '');
    expect(check(personal, personal.replace('egress-policy: block', 'egress-policy: audit'), s)).toEqual([]);
  });

  it('deleting a workflow file, and files outside .github/workflows/', () => {
    expect(tamperFindings([{ path: FILE, before: base, after: undefined }], 'acme/api', s)).toEqual([]);
    expect(watchedPaths(['README.md', 'src/index.ts', '.github/dependabot.yml', '.github/workflows/ci.yml', '.github/workflows/sub/x.yml'])).toEqual(['.github/workflows/ci.yml', '.github/workflows/sub/x.yml']);
  });
});

describe('the check run', () => {
  it('fails with old -> new per input and a link to the policy; passes with a plain title', () => {
    const s = store(block);
    const base = synced(CI, s);
    const findings = check(base, base.replace('egress-policy: block', 'egress-policy: audit'), s);
    const report = tamperReport(findings, [FILE], (name) => `https://github.com/acme/egress-policies/blob/main/policies/${name}.yml`);
    expect(report.conclusion).toBe('failure');
    expect(report.title).toBe('egress policy weakened outside the store');
    expect(report.summary).toContain('| `.github/workflows/ci.yml` | `test` | `egress-policy` | `block` -> `audit` | lowers the mode from block to audit (the store says block) | [api-block](https://github.com/acme/egress-policies/blob/main/policies/api-block.yml) |');
    expect(report.annotations).toEqual([{ path: FILE, line: 7, message: 'egress-policy: block -> audit: lowers the mode from block to audit (the store says block)' }]);
    expect(tamperReport([], [FILE], () => undefined)).toMatchObject({ conclusion: 'success', title: 'Egress policy kept' });
    // A pull request GitHub cannot list completely does not pass: a workflow change could hide past the limit.
    expect(unlistableReport(3000)).toMatchObject({ conclusion: 'failure', title: 'egress policy not checked: too many files' });
  });
});

describe('a reusable workflow is judged by its callers, as sync plans it (src/policy/callers.ts)', () => {
  const BUILD = '.github/workflows/build.yml';
  const RELEASE = '.github/workflows/release.yml';
  const build = ['on:', '  workflow_call:', 'jobs:', '  compile:', '    runs-on: ubuntu-latest', '    steps:', '      - uses: actions/checkout@v4', '      - run: make', ''].join('\n');
  const release = (uses = './.github/workflows/build.yml') => ['name: release', 'on: push', 'jobs:', '  build:', `    uses: ${uses}`, ''].join('\n');
  const audit: CompiledPolicy = { name: 'repo-audit', 'egress-policy': 'audit', 'allowed-endpoints': [] };
  const releaseBlock: CompiledPolicy = { name: 'release-block', 'egress-policy': 'block', 'allowed-endpoints': ['fulcio.sigstore.dev:443', 'github.com:443'] };

  for (const delivery of ['pull-request', 'variables'] as const) {
    it(`fails a pull request that lowers build.yml's step to build.yml's own (audit) attachment (delivery: ${delivery})`, async () => {
      const attachments = emptyAttachmentMap();
      attachments.repositories['acme/api'] = 'repo-audit';
      attachments.workflows[`acme/api/${RELEASE}`] = 'release-block';
      const s: CoverageStore = { state: { attachments, policies: { 'repo-audit': audit, 'release-block': releaseBlock }, settings: { ...DEFAULT_SETTINGS, delivery } }, hookRunners: [] };
      const { planRepository } = await import('../../src/rollout/rollout-plan.js');
      const { buildBaselineIndex } = await import('../../src/baselines/index.js');
      const plan = await planRepository('acme/api', [{ path: BUILD, text: build }, { path: RELEASE, text: release() }], { mode: 'inline', pin: DEFAULT_SETTINGS.hardenRunner, baselines: buildBaselineIndex([]), store: s.state });
      const synced = plan.files.find((file) => file.path === BUILD)?.after ?? '';
      expect(synced).toContain('# egressctl: managed, policy release-block');
      // What build.yml's own attachment says: the repository's audit policy, as if it were not called.
      const own = hardenWorkflow(build, { file: BUILD, plan: storePlanner({ store: s.state, repository: 'acme/api', workflowPath: BUILD }) }).output;
      expect(own).toContain('# egressctl: managed, policy repo-audit');
      const lowered = own.replace('policy repo-audit', 'policy release-block');
      const workflows = [{ path: BUILD, text: synced }, { path: RELEASE, text: release() }];
      const findings = tamperFindings([{ path: BUILD, before: synced, after: lowered }], 'acme/api', s, undefined, { workflows });
      expect(findings.map((finding) => finding.input)).toContain('egress-policy');
      expect(findings[0]).toMatchObject({ file: BUILD, job: 'compile', policy: 'release-block' });
      // Kept as sync wrote it: passes.
      expect(tamperFindings([{ path: BUILD, before: synced, after: synced.replace('run: make', 'run: make all') }], 'acme/api', s, undefined, { workflows })).toEqual([]);
      // The same pull request also dropping the call (release.yml no longer calls build.yml) still fails: judged at both ends.
      const both: ChangedFile[] = [
        { path: BUILD, before: synced, after: lowered },
        { path: RELEASE, before: release(), after: release('octo/tools/.github/workflows/build.yml@v1') },
      ];
      expect(tamperFindings(both, 'acme/api', s, undefined, { workflows }).map((finding) => finding.input)).toContain('egress-policy');
    });
  }
});
