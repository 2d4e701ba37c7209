/**
 * Rewrites never weaken what is there and say what they changed (docs/reconciliation.md,
 * "Never weaken silently"), and the operating-system and container rules of
 * docs/architecture.md: one minimal repro per rule.
 */
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { HardenRunnerPin } from '../../src/policy/model.js';
import { hardenWorkflow, type HardenRunnerPlan, type JobPlan } from '../../src/rollout/harden.js';

const PIN: HardenRunnerPin = { repository: 'step-security/harden-runner', sha: '05e31511f85b41b11d1cf0ef85d0992719546e2c', version: 'v2.21.0' };
const USES = `step-security/harden-runner@${PIN.sha} # v2.21.0`;
const audit: HardenRunnerPlan = { kind: 'harden-runner', pin: PIN, mode: 'audit' };
const block = (endpoints: string[], extra: Partial<HardenRunnerPlan> = {}): HardenRunnerPlan => ({ kind: 'harden-runner', pin: PIN, mode: 'block', endpoints, ...extra });

function harden(text: string, plan: JobPlan) {
  const result = hardenWorkflow(text, { file: 'ci.yml', plan: () => plan });
  expect(result.errors).toEqual([]);
  // Idempotent: a second run changes nothing and reports nothing as updated.
  const again = hardenWorkflow(result.output, { file: 'ci.yml', plan: () => plan });
  expect(again.output).toBe(result.output);
  for (const job of again.jobs) expect(['unchanged', 'skipped']).toContain(job.action);
  return result;
}

function only(result: ReturnType<typeof harden>) {
  expect(result.jobs).toHaveLength(1);
  return result.jobs[0] as NonNullable<(typeof result.jobs)[0]>;
}

/** A Linux job whose first step is Harden-Runner with these `with:` lines. */
function withStep(...inputs: string[]): string {
  return ['on: push', 'jobs:', '  build:', '    runs-on: ubuntu-latest', '    steps:', `      - uses: ${USES}`, '        with:', ...inputs.map((line) => `          ${line}`), '      - run: make', ''].join('\n');
}

/** The same step handed over to egressctl by a person: the bare marker on its `with:` line (docs/reconciliation.md). */
function handedOver(...inputs: string[]): string {
  return withStep(...inputs).replace('        with:\n', '        with: # egressctl: managed\n');
}

function firstStepWith(output: string): Record<string, unknown> {
  const doc = parse(output) as { jobs: Record<string, { steps: Array<{ with?: Record<string, unknown> }> }> };
  return Object.values(doc.jobs)[0]?.steps[0]?.with ?? {};
}

describe('an existing step is never lowered or narrowed', () => {
  it('keeps egress-policy: block on an audit run, and says so', () => {
    const text = withStep('egress-policy: block', 'allowed-endpoints: github.com:443');
    const result = harden(text, audit);
    expect(result.output).toBe(text);
    expect(only(result)).toMatchObject({ action: 'unchanged', mode: 'block' });
    expect(only(result).reason).toContain('kept egress-policy: block');
  });

  it('treats a step with only allowed-endpoints as block (Harden-Runner default)', () => {
    const text = withStep('allowed-endpoints: github.com:443');
    const result = harden(text, audit);
    expect(result.output).toBe(text);
    expect(only(result)).toMatchObject({ action: 'unchanged', mode: 'block' });
  });

  it('never overwrites an expression', () => {
    const text = withStep('egress-policy: ${{ vars.EGRESS_POLICY }}', 'allowed-endpoints: ${{ vars.ENDPOINTS }}');
    const result = harden(text, block(['github.com:443']));
    expect(result.output).toBe(text);
    expect(only(result).reason).toContain('expression');
  });

  it('block mode keeps existing endpoints (union) and reports what it added', () => {
    const text = withStep('egress-policy: block', 'allowed-endpoints: a.example.com:443 b.example.com:443');
    const result = harden(text, block(['b.example.com:443', 'c.example.com:443']));
    expect(firstStepWith(result.output)['allowed-endpoints']).toBe('a.example.com:443 b.example.com:443 c.example.com:443');
    expect(only(result)).toMatchObject({
      action: 'updated',
      changes: [{ field: 'with.allowed-endpoints', added: ['c.example.com:443'], dropped: [] }],
    });
  });

  it('narrows only with mayWeaken on a step it manages, and reports what it dropped', () => {
    const managed = block(['b.example.com:443'], { managedBy: { policy: 'api-block' }, mayWeaken: true });
    const first = harden(handedOver('egress-policy: audit'), managed);
    expect(first.output).toContain('# egressctl: managed, policy api-block');
    const edited = first.output.replace(/b\.example\.com:443/, 'a.example.com:443 b.example.com:443');
    const second = harden(edited, managed);
    expect(firstStepWith(second.output)['allowed-endpoints']).toBe('b.example.com:443');
    expect(only(second).changes).toEqual([{ field: 'with.allowed-endpoints', from: 'a.example.com:443 b.example.com:443', to: 'b.example.com:443', added: [], dropped: ['a.example.com:443'] }]);
    // The same plan on a step nobody marked: kept, and reported as drift.
    const unmanaged = harden(withStep('egress-policy: block', 'allowed-endpoints: a.example.com:443 b.example.com:443'), managed);
    expect(firstStepWith(unmanaged.output)['allowed-endpoints']).toBe('a.example.com:443 b.example.com:443');
    expect(only(unmanaged).drift).toContain('not managed');
  });

  it('lowers a managed step to audit when the store says so, dropping what audit cannot carry', () => {
    const managed = block(['a.example.com:443'], { managedBy: { policy: 'strict' }, mayWeaken: true, flags: { 'disable-telemetry': true } });
    const first = harden(handedOver('egress-policy: audit'), managed);
    expect(firstStepWith(first.output)).toEqual({ 'egress-policy': 'block', 'allowed-endpoints': 'a.example.com:443', 'disable-telemetry': true });
    const lowered = harden(first.output, { ...audit, managedBy: { policy: 'relaxed' }, mayWeaken: true });
    expect(firstStepWith(lowered.output)).toEqual({ 'egress-policy': 'audit', 'disable-telemetry': false });
    expect(lowered.output).toContain('# egressctl: managed, policy relaxed');
    expect(only(lowered)).toMatchObject({ action: 'updated', mode: 'audit', policy: 'relaxed' });
    expect(only(lowered).drift).toContain('its policy is now relaxed (was strict)');
  });

  it('tells the planner whether the step is managed, and by which policy', () => {
    const managed = harden(handedOver('egress-policy: audit'), { ...audit, managedBy: { policy: 'org-audit' } });
    const seen: Array<unknown> = [];
    hardenWorkflow(managed.output, { plan: (job) => (seen.push(job.existing?.managedBy), audit) });
    hardenWorkflow(withStep('egress-policy: audit'), { plan: (job) => (seen.push(job.existing?.managedBy), audit) });
    expect(seen).toEqual([{ policy: 'org-audit' }, undefined]);
  });

  it('reports every edit old -> new, never updated without a reason', () => {
    const result = harden(withStep('egress-policy: audit'), block(['github.com:443']));
    const outcome = only(result);
    expect(outcome.action).toBe('updated');
    expect(outcome.changes).toContainEqual({ field: 'with.egress-policy', from: 'audit', to: 'block' });
    expect(outcome.changes).toContainEqual({ field: 'with.allowed-endpoints', from: null, to: 'github.com:443', added: ['github.com:443'], dropped: [] });
    expect(outcome.reason).toContain('egress-policy: audit -> block');
  });
});

describe('a step egressctl did not write is never taken over (issue 19, defect 9)', () => {
  const store = (extra: Partial<HardenRunnerPlan> = {}) => block(['github.com:443'], { managedBy: { policy: 'api-block' }, mayWeaken: true, ...extra });

  it('never marks a step whose inputs happen to equal the store, and says it matches', () => {
    const text = withStep('egress-policy: block', 'allowed-endpoints: github.com:443');
    const result = harden(text, store());
    expect(result.output).toBe(text);
    expect(result.output).not.toContain('egressctl: managed');
    expect(only(result)).toMatchObject({ action: 'unchanged' });
    expect(only(result).reason).toContain('unmanaged step (no egressctl marker): matches the store');
  });

  it('never marks a step that keeps disable-sudo: true, and never lowers it when the store later says audit', () => {
    const text = withStep('egress-policy: block', 'allowed-endpoints: github.com:443', 'disable-sudo: true');
    const first = harden(text, store());
    expect(first.output).not.toContain('egressctl: managed');
    const later = harden(first.output, { ...audit, managedBy: { policy: 'org-audit' }, mayWeaken: true });
    expect(firstStepWith(later.output)).toEqual({ 'egress-policy': 'block', 'allowed-endpoints': 'github.com:443', 'disable-sudo': true });
    expect(only(later).drift).toContain('not managed by egressctl');
  });

  it('raises a weaker unmanaged step to the store as a floor, still unmarked', () => {
    const result = harden(withStep('egress-policy: audit'), store());
    expect(firstStepWith(result.output)).toEqual({ 'egress-policy': 'block', 'allowed-endpoints': 'github.com:443' });
    expect(result.output).not.toContain('egressctl: managed');
    expect(only(result).reason).toContain('left unmarked');
  });

  it('with delivery: variables keeps an unmanaged step in literals (a variable could lower it later)', () => {
    const variables = { vars: ['EGRESSCTL_WF_CI_YML', 'EGRESSCTL_POLICY'], env: 'EGRESSCTL_POLICY' };
    const result = harden(withStep('egress-policy: audit'), store({ variables }));
    expect(result.output).not.toContain('${{');
    expect(firstStepWith(result.output)['egress-policy']).toBe('block');
  });

  it('manages a step a person hands over with the marker comment', () => {
    const result = harden(handedOver('egress-policy: block', 'allowed-endpoints: github.com:443 extra.example.com:443'), store());
    expect(result.output).toContain('with: # egressctl: managed, policy api-block');
    expect(firstStepWith(result.output)['allowed-endpoints']).toBe('github.com:443');
  });
});

describe('operating systems and containers', () => {
  const mixed = ['on: push', 'jobs:', '  t:', '    strategy:', '      matrix:', '        os: [ubuntu-latest, windows-latest]', '    runs-on: ${{ matrix.os }}', '    steps:'];

  it('never adds a guard to a step someone else wrote', () => {
    const text = [...mixed, `      - uses: ${USES}`, '        with:', '          egress-policy: audit', ''].join('\n');
    const result = harden(text, audit);
    expect(result.output).toBe(text);
    expect(result.output).not.toContain('if:');
  });

  it('resolves literals inside parentheses of && / || runs-on expressions (all Windows: audit, no guard)', () => {
    const text = ['on: push', 'jobs:', '  w:', "    runs-on: ${{ inputs.arm && (inputs.new && 'windows-11-arm' || 'windows-2025') || 'windows-2022' }}", '    steps:', '      - run: x', ''].join('\n');
    const result = harden(text, block(['github.com:443']));
    expect(result.output).not.toContain('if:');
    expect(firstStepWith(result.output)['egress-policy']).toBe('audit');
    expect(only(result)).toMatchObject({ action: 'inserted', mode: 'audit' });
    expect(only(result).reason).toContain('Windows');
  });

  it('inserts into a job whose container is a matrix expression and says container legs are unprotected', () => {
    const text = ['on: push', 'jobs:', '  c:', '    runs-on: ubuntu-latest', '    container: ${{ matrix.build.container }}', '    strategy:', '      matrix:', '        build: [{container: "node:22"}, {name: plain}]', '    steps:', '      - run: x', ''].join('\n');
    const result = harden(text, audit);
    expect(only(result).action).toBe('inserted');
    expect(only(result).reason).toContain('container');
  });

  it('inserts audit on Windows and macOS; a block plan writes audit there with the reason', () => {
    const windows = 'on: push\njobs:\n  w:\n    runs-on: windows-latest\n    steps:\n      - run: x\n';
    expect(only(harden(windows, audit))).toMatchObject({ action: 'inserted', mode: 'audit' });
    const blocked = harden(windows.replace('windows-latest', 'macos-14'), block(['github.com:443']));
    expect(only(blocked)).toMatchObject({ action: 'inserted', mode: 'audit' });
    expect(only(blocked).reason).toContain('audit only');
    expect(firstStepWith(blocked.output)).toEqual({ 'egress-policy': 'audit' });
  });

  it('a matrix of only Windows/macOS expressions gets no Linux-guarded step', () => {
    const text = ['on: push', 'jobs:', '  t:', '    strategy:', '      matrix:', '        os: [windows-latest, macos-latest]', '    runs-on: ${{ matrix.os }}', '    steps:', '      - run: x', ''].join('\n');
    const result = harden(text, block(['github.com:443']));
    expect(result.output).not.toContain('if:');
    expect(only(result)).toMatchObject({ action: 'inserted', mode: 'audit' });
  });

  it('a mixed matrix in block mode blocks on Linux and audits elsewhere, without a guard', () => {
    const text = [...mixed, '      - run: x', ''].join('\n');
    const result = harden(text, block(['github.com:443']));
    expect(result.output).not.toContain('if:');
    expect(firstStepWith(result.output)['egress-policy']).toBe("${{ runner.os == 'Linux' && 'block' || 'audit' }}");
  });
});

describe('text and report details', () => {
  it('moving a step leaves no double blank line and keeps the file separated by blank lines', () => {
    const text = ['on: push', 'jobs:', '  a:', '    runs-on: ubuntu-latest', '    steps:', '      - uses: actions/checkout@v4', '', `      - uses: ${USES}`, '        with:', '          egress-policy: audit', '', '      - run: x', ''].join('\n');
    const result = harden(text, audit);
    expect(result.output).toBe(['on: push', 'jobs:', '  a:', '    runs-on: ubuntu-latest', '    steps:', `      - uses: ${USES}`, '        with:', '          egress-policy: audit', '', '      - uses: actions/checkout@v4', '', '      - run: x', ''].join('\n'));
  });

  it.each(['#v2.21.0', '#   v2.21.0', '# v2.21.0  '])('--repin leaves a current pin alone (%s)', (comment) => {
    const text = withStep('egress-policy: audit').replace(' # v2.21.0', ` ${comment}`);
    const result = harden(text, { ...audit, repin: true });
    expect(result.output).toBe(text);
    expect(only(result).action).toBe('unchanged');
  });

  it('reports a second Harden-Runner step in the same job', () => {
    const text = withStep('egress-policy: audit').replace('      - run: make\n', `      - run: make\n      - uses: ${USES}\n`);
    const result = harden(text, audit);
    expect(only(result).warnings?.join(' ')).toContain('2 Harden-Runner steps');
  });

  it('warns when block mode has no endpoints instead of writing allowed-endpoints: ""', () => {
    const result = harden('on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: x\n', block([]));
    expect(result.output).not.toContain('allowed-endpoints');
    expect(only(result).warnings?.join(' ')).toContain('no allowed endpoints');
  });
});
