/**
 * Exceptions that expire: parsing and validation (located), the merge through `extends`, the
 * midnight-UTC edge, the bundle carrying the dates, and `resolve --at`. Over the realistic
 * fixture store in fixtures/exceptions-store/ through the real parser.
 */
import { describe, expect, it } from 'vitest';
import { buildRepositoryBundle } from '../../src/bundle/build.js';
import { bundleProblems } from '../../src/bundle/validate.js';
import {
  daysLeft,
  effectivePolicyAt,
  effectivePolicyWithExpiry,
  expiryFindings,
  isExpired,
  parseAsOf,
  policiesAsOf,
  policyAsOf,
} from '../../src/policy/expiry.js';
import { flattenPolicies } from '../../src/policy/flatten.js';
import { attachmentMap } from '../../src/policy/model.js';
import { parsePolicyRepository } from '../../src/store/repository.js';
import { storeStateOf } from '../../src/rollout/sync-plan.js';
import { desiredWorkflowState } from '../../src/rollout/desired-state.js';
import { runCli } from '../support/cli.js';
import { exceptionsStoreFiles } from '../support/policy-tests.js';
import { makeTempRepo } from '../support/policy-repo.js';

function load(files: Record<string, string>) {
  return parsePolicyRepository(new Map(Object.entries(files).map(([path, text]) => [path, new TextEncoder().encode(text)])));
}

const store = () => load(exceptionsStoreFiles());
const endpointsOf = (answer: ReturnType<typeof effectivePolicyAt>) => (answer.config['allowed-endpoints'] ?? '').split(' ');

describe('parsing and validating expires, reason and owner', () => {
  it('keeps expires and owner on the entry, and compiles the dates into the policy', () => {
    const { value, errors } = store();
    expect(errors).toEqual([]);
    const sandbox = value.policies.get('node-build')!.allowedEndpoints.find((entry) => entry.endpoint === 'sandbox.payments.example.com:443');
    expect(sandbox).toMatchObject({ expires: '2026-03-31', owner: 'team-payments', reason: expect.stringContaining('sandbox'), at: { file: 'policies/node-build.yml', line: 9 } });
    const compiled = flattenPolicies(value);
    // api.github.com is permanent through github-core: its date in node-build changes nothing.
    expect(compiled['node-build']!['endpoint-expiry']).toEqual({ 'sandbox.payments.example.com:443': '2026-03-31' });
    // release extends node-build: inherited dates travel with the endpoints.
    expect(compiled['release']!['endpoint-expiry']).toEqual({ 'sandbox.payments.example.com:443': '2026-03-31', 'uploads.github.com:443': '2026-06-30' });
    expect(compiled['github-core']!['endpoint-expiry']).toBeUndefined();
  });

  it('requires a reason with expires, and a real calendar date, each located', () => {
    const { errors } = load({
      'policies/p.yml': [
        'egress-policy: block',
        'allowed-endpoints:',
        '  - endpoint: a.example.com',
        '    expires: 2026-05-01',
        '  - endpoint: b.example.com',
        '    reason: vendor',
        '    expires: 2026-02-30',
        '  - endpoint: c.example.com',
        '    reason: vendor',
        '    expires: next week',
        '',
      ].join('\n'),
    });
    expect(errors.map((d) => [d.line, d.code])).toEqual([
      [3, 'policy/schema'],
      [7, 'endpoint/expires-invalid'],
      [10, 'policy/invalid-value'],
    ]);
    expect(errors[0]!.message).toMatch(/reason/);
    expect(errors[1]!.message).toMatch(/2026-02-30.*YYYY-MM-DD/);
  });

  it('lets the latest date win when an endpoint expires in the child and in a parent, and no date win over any date', () => {
    const { value } = load({
      'policies/parent.yml': 'egress-policy: block\nallowed-endpoints:\n  - endpoint: x.example.com\n    reason: r\n    expires: 2026-05-01\n  - endpoint: y.example.com\n    reason: r\n    expires: 2026-05-01\n',
      'policies/child.yml': 'egress-policy: block\nextends: parent\nallowed-endpoints:\n  - endpoint: x.example.com\n    reason: r\n    expires: 2026-07-01\n  - y.example.com\n',
    });
    expect(flattenPolicies(value)['child']!['endpoint-expiry']).toEqual({ 'x.example.com:443': '2026-07-01' });
  });

  it('warns about an expired entry and gives a notice within 14 days, located at the entry', () => {
    const { value } = store();
    const findings = expiryFindings(value.policies.values(), new Date('2026-03-20T12:00:00Z'));
    expect(findings.warnings.map((d) => [d.file, d.line, d.code])).toEqual([['policies/node-build.yml', 13, 'endpoint/expired']]);
    expect(findings.notices.map((d) => [d.file, d.line, d.code, d.severity])).toEqual([['policies/node-build.yml', 9, 'endpoint/expiring', 'notice']]);
    expect(findings.notices[0]!.message).toContain('2026-03-31 (11 days left) (owner: team-payments)');
    // 14 days before is outside the notice window, 13 days before is inside.
    expect(expiryFindings(value.policies.values(), new Date('2026-03-17T00:00:00Z')).notices).toHaveLength(0);
    expect(expiryFindings(value.policies.values(), new Date('2026-03-18T00:00:00Z')).notices).toHaveLength(1);
  });

  it('reports expiry through `validate` as warnings and notices, never errors (exit 0)', async () => {
    const repo = makeTempRepo(exceptionsStoreFiles());
    try {
      const result = await runCli(['validate', '-C', repo.dir, '--format', 'json']);
      expect(result.code).toBe(0);
      const report = JSON.parse(result.stdout) as { ok: boolean; warnings: { code: string; line: number; file: string }[] };
      expect(report.ok).toBe(true);
      // The fixture's dates are all in the past by the time this runs: each one is a located warning.
      expect(report.warnings.filter((d) => d.code === 'endpoint/expired').map((d) => `${d.file}:${d.line}`)).toEqual([
        'policies/node-build.yml:9',
        'policies/node-build.yml:13',
        'policies/release.yml:9',
      ]);
      const github = await runCli(['validate', '-C', repo.dir, '--format', 'github'], { env: { GITHUB_WORKSPACE: repo.dir } });
      expect(github.stdout).toMatch(/^::warning file=policies\/node-build.yml,line=9,col=15,title=endpoint\/expired::/m);
    } finally {
      repo.cleanup();
    }
  });
});

describe('the midnight UTC edge', () => {
  it('counts an entry through the last millisecond of its day and drops it at midnight UTC', () => {
    expect(isExpired('2026-03-31', new Date('2026-03-31T23:59:59.999Z'))).toBe(false);
    expect(isExpired('2026-03-31', new Date('2026-04-01T00:00:00.000Z'))).toBe(true);
    // A time zone east of UTC is already on April 1st locally: UTC decides.
    expect(isExpired('2026-03-31', new Date('2026-04-01T01:30:00+02:00'))).toBe(false);
    expect(daysLeft('2026-03-31', new Date('2026-03-31T08:00:00Z'))).toBe(0);
    expect(daysLeft('2026-03-31', new Date('2026-04-01T00:00:00Z'))).toBe(-1);
  });

  it('drops the endpoint from the effective policy, through extends, and keeps everything else', () => {
    const { value } = store();
    const compiled = flattenPolicies(value);
    const attachments = attachmentMap(value.attachments);
    const query = { repository: 'acme/shop', workflow: '.github/workflows/release.yml' };
    const before = effectivePolicyAt(attachments, compiled, query, new Date('2026-03-31T23:59:59.999Z'));
    const after = effectivePolicyAt(attachments, compiled, query, new Date('2026-04-01T00:00:00Z'));
    expect(before.policy).toBe('release');
    expect(endpointsOf(before)).toContain('sandbox.payments.example.com:443');
    expect(endpointsOf(after)).not.toContain('sandbox.payments.example.com:443');
    expect(endpointsOf(before).filter((endpoint) => !endpointsOf(after).includes(endpoint))).toEqual(['sandbox.payments.example.com:443']);
    // The inherited permanent api.github.com survives its own expired duplicate.
    expect(endpointsOf(after)).toContain('api.github.com:443');
    expect(policyAsOf(compiled['release']!, new Date('2026-07-01T00:00:00Z'))['endpoint-expiry']).toBeUndefined();
  });

  it('keeps the policies a lookup record as of any date: a typed name such as "constructor" finds nothing', () => {
    const compiled = flattenPolicies(store().value);
    const asOf = policiesAsOf(compiled, new Date('2026-07-01T00:00:00Z'));
    expect(Object.keys(asOf)).toEqual(Object.keys(compiled));
    expect(asOf['constructor']).toBeUndefined();
    expect(asOf['toString']).toBeUndefined();
  });

  it('gives the answer and the instant it next changes by itself from one resolution', () => {
    const { value } = store();
    const compiled = flattenPolicies(value);
    const attachments = attachmentMap(value.attachments);
    const query = { repository: 'acme/shop', workflow: '.github/workflows/release.yml' };
    const at = new Date('2026-03-31T10:00:00Z');
    const made = effectivePolicyWithExpiry(attachments, compiled, query, at);
    expect(made.answer).toEqual(effectivePolicyAt(attachments, compiled, query, at));
    expect(made.validUntil).toBe(Date.parse('2026-04-01T00:00:00Z'));
    const later = effectivePolicyWithExpiry(attachments, compiled, query, new Date('2026-07-01T00:00:00Z'));
    expect(later.validUntil).toBeUndefined();
    expect(effectivePolicyWithExpiry(attachments, compiled, { repository: 'other/repo' }, at)).toEqual({ answer: effectivePolicyAt(attachments, compiled, { repository: 'other/repo' }, at) });
  });

  it('leaves expired entries out of the desired state sync reconciles to', () => {
    const { value } = store();
    const state = desiredWorkflowState(storeStateOf(value, new Date('2026-04-01T00:00:00Z')), 'acme/shop', '.github/workflows/ci.yml');
    expect(state.policy).toBe('node-build');
    expect(state.endpoints).not.toContain('sandbox.payments.example.com:443');
    expect(desiredWorkflowState(storeStateOf(value, new Date('2026-03-31T12:00:00Z')), 'acme/shop', '.github/workflows/ci.yml').endpoints).toContain('sandbox.payments.example.com:443');
  });
});

describe('the bundle carries the dates', () => {
  it('writes endpoint-expiry into the compiled policies, valid against the bundle schema, deterministic', () => {
    const { value } = store();
    const meta = { revision: 'a'.repeat(40), committedAt: '2026-03-01T00:00:00Z' };
    const bundle = buildRepositoryBundle(value, meta);
    expect(bundle.policies['node-build']!['allowed-endpoints']).toContain('sandbox.payments.example.com:443');
    expect(bundle.policies['node-build']!['endpoint-expiry']).toEqual({ 'sandbox.payments.example.com:443': '2026-03-31' });
    expect(bundleProblems(bundle)).toEqual([]);
    expect(buildRepositoryBundle(value, meta).digest).toBe(bundle.digest);
    const broken = structuredClone(bundle);
    broken.policies['node-build']!['endpoint-expiry'] = { 'elsewhere.example.com:443': '2026-03-31' };
    expect(bundleProblems(broken)).toEqual([expect.stringContaining('/policies/node-build/endpoint-expiry: "elsewhere.example.com:443" expires on 2026-03-31 but is not in allowed-endpoints')]);
  });
});

describe('resolve --at', () => {
  it('evaluates as of the start of a UTC day, from a work tree and from a compiled bundle', async () => {
    const repo = makeTempRepo(exceptionsStoreFiles(), { git: true });
    try {
      repo.commit('store');
      const on = await runCli(['resolve', '-C', repo.dir, '--repository', 'acme/shop', '--at', '2026-03-31', '--json']);
      expect(on.code).toBe(0);
      expect((JSON.parse(on.stdout) as { config: Record<string, string> }).config['allowed-endpoints']).toContain('sandbox.payments.example.com:443');
      const after = await runCli(['resolve', '-C', repo.dir, '--repository', 'acme/shop', '--at', '2026-04-01']);
      expect(after.code).toBe(0);
      expect(after.stdout).toContain('policy: node-build');
      expect(after.stdout).not.toContain('sandbox.payments.example.com');
      const onText = await runCli(['resolve', '-C', repo.dir, '--repository', 'acme/shop', '--at', '2026-03-31']);
      expect(onText.stdout).toContain('exception: sandbox.payments.example.com:443 until 2026-03-31 (UTC)\n');

      const compiled = await runCli(['compile', '-C', repo.dir, '--unsigned', '-o', `${repo.dir}/bundle.json`]);
      expect(compiled.code).toBe(0);
      const fromBundle = await runCli(['resolve', '--bundle', `${repo.dir}/bundle.json`, '--repository', 'acme/shop', '--at', '2026-04-01T00:00:00Z', '--json']);
      expect(fromBundle.code).toBe(0);
      expect((JSON.parse(fromBundle.stdout) as { config: Record<string, string> }).config['allowed-endpoints']).not.toContain('sandbox.payments.example.com');

      const bad = await runCli(['resolve', '-C', repo.dir, '--repository', 'acme/shop', '--at', 'tomorrow']);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('--at must be a date (YYYY-MM-DD)');
    } finally {
      repo.cleanup();
    }
  });

  it('parses dates and date-times with a zone only', () => {
    expect(parseAsOf('2026-04-01')?.toISOString()).toBe('2026-04-01T00:00:00.000Z');
    expect(parseAsOf('2026-04-01T02:00:00+02:00')?.toISOString()).toBe('2026-04-01T00:00:00.000Z');
    expect(parseAsOf('2026-04-01T02:00:00')).toBeUndefined();
    expect(parseAsOf('2026-02-30')).toBeUndefined();
  });
});
