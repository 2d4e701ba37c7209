import { describe, expect, it } from 'vitest';
import type { Diagnostic } from '../../src/policy/diagnostics.js';
import { parsePolicyRepository } from '../../src/store/repository.js';
import { schemaValidator } from '../../src/policy/schema.js';
import { flattenPolicies, MAX_EXTENDS_DEPTH } from '../../src/policy/flatten.js';

function check(files: Record<string, string | Buffer>) {
  const map = new Map(Object.entries(files).map(([name, content]) => [name, typeof content === 'string' ? Buffer.from(content) : content]));
  return parsePolicyRepository(map);
}

const at = (d: Diagnostic | undefined) => d && `${d.file}:${d.line}:${d.column}`;
const find = (list: Diagnostic[], code: string) => list.find((d) => d.code === code);
const ATTACHED = (name: string) => ({ 'attachments.yml': `organizations:\n  acme: ${name}\n` });

describe('policy file rules', () => {
  it('accepts a valid policy with no findings', () => {
    const result = check({ 'policies/ok.yml': 'egress-policy: block\nallowed-endpoints:\n  - github.com\n', ...ATTACHED('ok') });
    expect(result.errors).toEqual([]);
    expect(result.warnings).toEqual([]);
    expect(result.value.policies.get('ok')?.allowedEndpoints.map((e) => e.endpoint)).toEqual(['github.com:443']);
  });

  it('policy/unknown-key names the closest known key, at the key', () => {
    const result = check({ 'policies/p.yml': 'egress-policy: block\nallowed-endpoint: github.com\n', ...ATTACHED('p') });
    const error = find(result.errors, 'policy/unknown-key');
    expect(at(error)).toBe('policies/p.yml:2:1');
    expect(error?.message).toContain('did you mean "allowed-endpoints"');
  });

  it('policy/missing-key when egress-policy is absent', () => {
    const result = check({ 'policies/p.yml': 'allowed-endpoints: github.com\n', ...ATTACHED('p') });
    expect(find(result.errors, 'policy/missing-key')?.message).toContain('egress-policy');
  });

  it('policy/invalid-value for a bad mode, pointing at the value', () => {
    const result = check({ 'policies/p.yml': 'egress-policy: blok\n', ...ATTACHED('p') });
    const error = find(result.errors, 'policy/invalid-value');
    expect(at(error)).toBe('policies/p.yml:1:16');
    expect(error?.message).toContain('closest: "block"');
  });

  it('policy/invalid-type for a mapping where a list is expected', () => {
    const result = check({ 'policies/p.yml': 'egress-policy: block\nallowed-endpoints:\n  a: b\n', ...ATTACHED('p') });
    expect(at(find(result.errors, 'policy/invalid-type'))).toBe('policies/p.yml:3:3');
  });

  it('locates each entry of a whitespace-separated string, block scalars included', () => {
    const text = 'egress-policy: block\nallowed-endpoints: >-\n  github.com:443\n    https://evil.com   api.github.com:99999\n';
    const result = check({ 'policies/p.yml': text, ...ATTACHED('p') });
    expect(at(find(result.errors, 'endpoint/scheme'))).toBe('policies/p.yml:4:5');
    expect(at(find(result.errors, 'endpoint/port'))).toBe('policies/p.yml:4:24');
  });

  it('endpoint errors in list items and {endpoint, reason} items are located', () => {
    const text = 'egress-policy: block\nallowed-endpoints:\n  - github.com\n  - endpoint: "10.0.0.0/8"\n    reason: vpn\n  - "*"\n';
    const result = check({ 'policies/p.yml': text, ...ATTACHED('p') });
    expect(at(find(result.errors, 'endpoint/cidr'))).toBe('policies/p.yml:4:15');
    expect(at(find(result.errors, 'endpoint/bare-wildcard'))).toBe('policies/p.yml:6:5');
  });

  it('endpoint/duplicate is a warning naming the first line, and the duplicate is removed', () => {
    const text = 'egress-policy: block\nallowed-endpoints:\n  - github.com\n  - GITHUB.com:443\n';
    const result = check({ 'policies/p.yml': text, ...ATTACHED('p') });
    const warning = find(result.warnings, 'endpoint/duplicate');
    expect(at(warning)).toBe('policies/p.yml:4:5');
    expect(warning?.message).toContain('line 3');
    expect(result.value.policies.get('p')?.allowedEndpoints).toHaveLength(1);
  });

  it('policy/telemetry-needs-block', () => {
    const bad = check({ 'policies/p.yml': 'egress-policy: audit\ndisable-telemetry: true\n', ...ATTACHED('p') });
    expect(at(find(bad.errors, 'policy/telemetry-needs-block'))).toBe('policies/p.yml:2:20');
    const good = check({ 'policies/p.yml': 'egress-policy: block\nallowed-endpoints: a.com\ndisable-telemetry: true\n', ...ATTACHED('p') });
    expect(good.errors).toEqual([]);
  });

  it('policy/deprecated-disable-sudo warns and suggests the replacement', () => {
    const result = check({ 'policies/p.yml': 'egress-policy: audit\ndisable-sudo: true\n', ...ATTACHED('p') });
    expect(find(result.warnings, 'policy/deprecated-disable-sudo')?.message).toContain('disable-sudo-and-containers');
    expect(result.errors).toEqual([]);
  });

  it('lockdown detections must be known', () => {
    const bad = check({ 'policies/p.yml': 'egress-policy: audit\nlockdown-mode:\n  enabled: true\n  detections: [Reverse-Shel]\n', ...ATTACHED('p') });
    expect(find(bad.errors, 'policy/invalid-value')?.message).toContain('closest: "Reverse-Shell"');
    const good = check({ 'policies/p.yml': 'egress-policy: audit\nlockdown-mode:\n  enabled: true\n  detections: [Reverse-Shell]\n', ...ATTACHED('p') });
    expect(good.errors).toEqual([]);
    expect(good.value.policies.get('p')?.lockdownMode).toEqual({ enabled: true, detections: ['Reverse-Shell'] });
  });

  it('policy/name and policy/file-name', () => {
    expect(find(check({ 'policies/Bad Name.yml': 'egress-policy: audit\n' }).errors, 'policy/name')).toBeDefined();
    expect(find(check({ 'policies/p.yaml': 'egress-policy: audit\n' }).errors, 'policy/file-name')?.message).toContain('policies/p.yml');
  });

  it('policy/empty', () => {
    expect(find(check({ 'policies/p.yml': '# nothing\n' }).errors, 'policy/empty')).toBeDefined();
  });
});

describe('cross-file rules', () => {
  it('policy/extends-unknown suggests the closest policy', () => {
    const result = check({ 'policies/base.yml': 'egress-policy: audit\n', 'policies/p.yml': 'egress-policy: audit\nextends: bse\n', ...ATTACHED('p') });
    const error = find(result.errors, 'policy/extends-unknown');
    expect(at(error)).toBe('policies/p.yml:2:10');
    expect(error?.message).toContain('did you mean "base"');
  });

  it('policy/extends-cycle reports the cycle at each member', () => {
    const result = check({
      'policies/a.yml': 'egress-policy: audit\nextends: b\n',
      'policies/b.yml': 'egress-policy: audit\nextends: [c]\n',
      'policies/c.yml': 'egress-policy: audit\nextends: a\n',
      ...ATTACHED('a'),
    });
    const cycles = result.errors.filter((d) => d.code === 'policy/extends-cycle');
    expect(cycles.map(at)).toEqual(['policies/a.yml:2:10', 'policies/b.yml:2:11', 'policies/c.yml:2:10']);
    expect(cycles[0]?.message).toContain('a -> b -> c -> a');
  });

  describe('policy/extends-too-deep', () => {
    const chain = (length: number): Record<string, string> => {
      const files: Record<string, string> = { ...ATTACHED(`p${length - 1}`) };
      for (let index = 0; index < length; index++) {
        files[`policies/p${index}.yml`] = `egress-policy: block\n${index === 0 ? '' : `extends: [p${index - 1}]\n`}allowed-endpoints:\n  - h${index}.example.com\n`;
      }
      return files;
    };

    it(`accepts a chain ${MAX_EXTENDS_DEPTH} levels deep, and compiles it`, () => {
      const result = check(chain(MAX_EXTENDS_DEPTH + 1));
      expect(result.errors).toEqual([]);
      expect(flattenPolicies(result.value)[`p${MAX_EXTENDS_DEPTH}`]?.['allowed-endpoints']).toHaveLength(MAX_EXTENDS_DEPTH + 1);
    });

    it('reports a deeper chain once, at the extends entry that crosses the limit, naming the chain', () => {
      const result = check(chain(MAX_EXTENDS_DEPTH + 2));
      const errors = result.errors.filter((d) => d.code === 'policy/extends-too-deep');
      expect(errors.map(at)).toEqual([`policies/p${MAX_EXTENDS_DEPTH + 1}.yml:2:11`]);
      expect(errors[0]?.message).toContain(`p${MAX_EXTENDS_DEPTH + 1} -> p${MAX_EXTENDS_DEPTH} -> `);
      expect(errors[0]?.message).toContain(`at most ${MAX_EXTENDS_DEPTH}`);
    });

    for (const length of [1000, 3000]) {
      it(`validates and flattens a ${length}-deep chain in well under a second per step, with one error`, () => {
        const files = chain(length);
        let started = performance.now();
        const result = check(files);
        const validateMs = performance.now() - started;
        expect(result.errors.filter((d) => d.code === 'policy/extends-too-deep')).toHaveLength(1);
        started = performance.now();
        flattenPolicies(result.value);
        const flattenMs = performance.now() - started;
        // Validation is dominated by parsing the files (linear, and slow on a loaded machine);
        // flattening was the quadratic part (a 1000-deep chain: 337 ms, 3000: tens of seconds).
        expect(validateMs).toBeLessThan(length * 10);
        expect(flattenMs).toBeLessThan(1_000);
      });
    }
  });

  it('policy/extends-self', () => {
    expect(find(check({ 'policies/a.yml': 'egress-policy: audit\nextends: a\n', ...ATTACHED('a') }).errors, 'policy/extends-self')).toBeDefined();
  });

  it('policy/not-attached is a warning, not for policies others extend', () => {
    const result = check({
      'policies/base.yml': 'egress-policy: audit\n',
      'policies/child.yml': 'egress-policy: audit\nextends: base\n',
      'policies/lonely.yml': 'egress-policy: audit\n',
      ...ATTACHED('child'),
    });
    expect(result.warnings.filter((d) => d.code === 'policy/not-attached').map((d) => d.file)).toEqual(['policies/lonely.yml']);
  });
});

describe('attachments rules', () => {
  const policies = { 'policies/p.yml': 'egress-policy: audit\n', 'policies/q.yml': 'egress-policy: audit\n' };

  it('attachment/duplicate-scope names both lines, case-insensitively', () => {
    const result = check({ ...policies, 'attachments.yml': 'repositories:\n  acme/api: p\n  ACME/Api: q\n' });
    const error = find(result.errors, 'attachment/duplicate-scope');
    expect(at(error)).toBe('attachments.yml:3:3');
    expect(error?.message).toContain('line 2');
    expect(error?.message).toContain('line 3');
  });

  it('an exact duplicate key is the same located error', () => {
    const result = check({ ...policies, 'attachments.yml': 'organizations:\n  acme: p\n  acme: q\n' });
    expect(result.errors.map((d) => d.code)).toEqual(['attachment/duplicate-scope']);
  });

  it('attachment/unknown-policy suggests the closest', () => {
    const result = check({ ...policies, 'attachments.yml': 'organizations:\n  acme: pp\n' });
    const error = find(result.errors, 'attachment/unknown-policy');
    expect(at(error)).toBe('attachments.yml:2:9');
    expect(error?.message).toMatch(/did you mean "[pq]"/);
  });

  it.each([
    ['workflows', 'acme/api/ci.yml'],
    ['workflows', 'acme/api/.github/workflows/ci.txt'],
    ['repositories', 'acme'],
    ['organizations', 'acme/api'],
    ['clusters', 'Bad Cluster!'],
  ])('attachment/invalid-key for %s key %s', (section, key) => {
    const result = check({ ...policies, 'attachments.yml': `${section}:\n  "${key}": p\n` });
    expect(at(find(result.errors, 'attachment/invalid-key'))).toBe('attachments.yml:2:3');
  });

  it('attachment/unknown-key for a misspelled section', () => {
    const error = find(check({ ...policies, 'attachments.yml': 'repository:\n  acme/api: p\n' }).errors, 'attachment/unknown-key');
    expect(error?.message).toContain('did you mean "repositories"');
  });

  it('keys are lower-cased in the model', () => {
    const result = check({ ...policies, 'attachments.yml': 'workflows:\n  Acme/API/.github/workflows/CI.yml: p\n' });
    expect(result.value.attachments[0]?.key).toBe('acme/api/.github/workflows/ci.yml');
  });
});

describe('YAML hazards are located errors, never crashes', () => {
  it('syntax error with position', () => {
    const result = check({ 'policies/p.yml': 'egress-policy: block\nallowed-endpoints: [a.com\n' });
    expect(find(result.errors, 'yaml/syntax')?.line).toBeGreaterThanOrEqual(2);
  });

  it('duplicate keys name the first line', () => {
    const result = check({ 'policies/p.yml': 'egress-policy: block\negress-policy: audit\n' });
    const error = find(result.errors, 'yaml/duplicate-key');
    expect(at(error)).toBe('policies/p.yml:2:1');
    expect(error?.message).toContain('line 1');
  });

  it('alias expansion bombs', () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let level = 1; level < 8; level++) lines.push(`l${level}: &l${level} [${Array(10).fill(`*${level === 1 ? 'a' : `l${level - 1}`}`).join(', ')}]`);
    const result = check({ 'policies/p.yml': `egress-policy: audit\nx: ${'{}'}\n${lines.join('\n')}\n` });
    expect(find(result.errors, 'yaml/alias-bomb')).toBeDefined();
  });

  it('files over 1 MiB', () => {
    const result = check({ 'policies/p.yml': `egress-policy: audit\n#${'x'.repeat(1024 * 1024)}\n` });
    expect(result.errors.map((d) => d.code)).toEqual(['yaml/too-large']);
  });

  it('non-UTF-8 bytes, at their line and column', () => {
    const bytes = Buffer.concat([Buffer.from('egress-policy: audit\ndescription: caf'), Buffer.from([0xe9]), Buffer.from('\n')]);
    expect(at(find(check({ 'policies/p.yml': bytes }).errors, 'yaml/encoding'))).toBe('policies/p.yml:2:17');
  });

  it('tabs in indentation, each line', () => {
    const result = check({ 'policies/p.yml': 'egress-policy: block\nallowed-endpoints:\n\t- a.com\n  \t- b.com\n' });
    expect(result.errors.filter((d) => d.code === 'yaml/tab-indent').map(at)).toEqual(['policies/p.yml:3:1', 'policies/p.yml:4:3']);
  });

  it('one tab is one error: none of the parser knock-ons after it', () => {
    const text = 'egress-policy: block\nallowed-endpoints:\n  - a.com\n\t- b.com\n  - c.com\n  - d.com\n';
    const result = check({ 'policies/p.yml': text, ...ATTACHED('p') });
    expect(result.errors.map((d) => `${d.code} ${at(d)}`)).toEqual(['yaml/tab-indent policies/p.yml:4:1']);
  });

  it('a syntax error before the first tab is still its own error', () => {
    const text = 'egress-policy: block: x\nallowed-endpoints:\n\t- a.com\n';
    const result = check({ 'policies/p.yml': text, ...ATTACHED('p') });
    expect(result.errors.map((d) => `${d.code} ${at(d)}`)).toEqual(['yaml/syntax policies/p.yml:1:16', 'yaml/tab-indent policies/p.yml:3:1']);
  });

  it('a policy that fails to parse has its own error only: no "does not exist" from attachments or extends', () => {
    const result = check({
      'policies/broken.yml': 'egress-policy: block: x\n',
      'policies/child.yml': 'egress-policy: block\nextends: [broken]\n',
      'attachments.yml': 'organizations:\n  acme: broken\nrepositories:\n  acme/api: child\n',
    });
    expect(result.errors.map((d) => `${d.code} ${at(d)}`)).toEqual(['yaml/syntax policies/broken.yml:1:16']);
    // Nor "not attached" for a policy only the broken one may extend: what it extends is unknown.
    const parent = check({
      'policies/base.yml': 'egress-policy: audit\n',
      'policies/broken.yml': 'egress-policy: block: x\nextends: [base]\n',
      'attachments.yml': 'organizations:\n  acme: broken\n',
    });
    expect(parent.errors.map((d) => d.code)).toEqual(['yaml/syntax']);
    expect(parent.warnings).toEqual([]);
    // A policy with no file at all is still an unknown one.
    const missing = check({ 'policies/child.yml': 'egress-policy: block\nextends: [gone]\n', 'attachments.yml': 'organizations:\n  acme: child\n  other: gone2\n' });
    expect(missing.errors.map((d) => d.code).sort()).toEqual(['attachment/unknown-policy', 'policy/extends-unknown']);
  });
});

describe('settings', () => {
  it('rejects a Harden-Runner pin that is not a full SHA', () => {
    const result = check({ 'egressctl.yml': 'harden-runner:\n  uses: step-security/harden-runner@v2\n  version: v2\n' });
    expect(at(find(result.errors, 'settings/harden-runner-pin'))).toBe('egressctl.yml:2:9');
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]?.message).toContain('not pinned by a full commit SHA');
  });

  it('the schema editors use refuses a tag pin too (it used to accept any string)', () => {
    const validate = schemaValidator('egressctl');
    const settings = (uses: string) => ({ 'harden-runner': { uses, version: 'v2.21.0' } });
    expect(validate(settings('step-security/harden-runner@v2'))).toBe(false);
    expect(validate(settings('step-security/harden-runner@main'))).toBe(false);
    expect(validate(settings(`step-security/harden-runner@${'0'.repeat(39)}`))).toBe(false);
    expect(validate(settings(`step-security/harden-runner@${'a1'.repeat(20)}`))).toBe(true);
  });

  it('reads settings with defaults', () => {
    const result = check({ 'egressctl.yml': 'organizations: [Acme]\nbaselines:\n  stable-after-runs: 5\n' });
    expect(result.errors).toEqual([]);
    expect(result.value.settings.organizations).toEqual(['acme']);
    expect(result.value.settings.stableAfterRuns).toBe(5);
    expect(result.value.settings.hardenRunner.sha).toMatch(/^[0-9a-f]{40}$/);
  });

  it('hook-runners: the self-hosted labels or runner groups whose runners run the job-started hook', () => {
    const result = check({ 'egressctl.yml': 'hook-runners: [arc-prod, gpu-pool]\n' });
    expect(result.errors).toEqual([]);
    expect(result.value.settings.hookRunners).toEqual(['arc-prod', 'gpu-pool']);
    expect(check({}).value.settings.hookRunners).toEqual([]);
    const wrong = check({ 'egressctl.yml': 'hook-runners: arc-prod\n' });
    expect(wrong.errors.map(at)).toEqual(['egressctl.yml:1:15']);
  });

  it('unknown settings key', () => {
    expect(find(check({ 'egressctl.yml': 'default_branch: main\n' }).errors, 'settings/unknown-key')?.message).toContain('"default-branch"');
  });
});

describe('the repository\'s own example', () => {
  it('is valid', async () => {
    const { loadPolicyRepository } = await import('../../src/store/repository.js');
    const result = await loadPolicyRepository({ dir: new URL('../..', import.meta.url).pathname });
    expect(result.errors).toEqual([]);
    const types = new Set(result.value.attachments.map((a) => a.type));
    expect([...types].sort()).toEqual(['cluster', 'organization', 'repository', 'workflow']);
    expect([...result.value.policies.values()].some((p) => p.extends.length > 0)).toBe(true);
  });
});

describe('lockdown mode where it cannot apply', () => {
  const LOCKDOWN = 'egress-policy: block\nallowed-endpoints: github.com\nlockdown-mode:\n  enabled: true\n  detections: [Reverse-Shell]\n';

  it('warns at each non-cluster attachment of a lockdown policy, own or inherited', () => {
    const result = check({
      'policies/arc.yml': LOCKDOWN,
      'policies/child.yml': 'egress-policy: block\nextends: arc\n',
      'policies/off.yml': 'egress-policy: block\nextends: arc\nlockdown-mode:\n  enabled: false\n  detections: []\n',
      'attachments.yml': 'clusters:\n  arc-prod: arc\norganizations:\n  acme: arc\nrepositories:\n  acme/api: child\n  acme/web: off\n',
    });
    expect(result.errors).toEqual([]);
    const warnings = result.warnings.filter((d) => d.code === 'attachment/lockdown-not-applied');
    expect(warnings.map(at)).toEqual(['attachments.yml:4:9', 'attachments.yml:6:13']);
    expect(warnings[0]?.message).toContain('acts on ARC clusters only');
    expect(warnings[1]?.message).toContain('(from "arc", which it extends)');
  });

  it('says nothing for a lockdown policy attached to clusters only', () => {
    const result = check({ 'policies/arc.yml': LOCKDOWN, 'attachments.yml': 'clusters:\n  arc-prod: arc\n' });
    expect(result.warnings).toEqual([]);
  });
});

describe('a block policy that would break actions/checkout (issue 19, defect 8)', () => {
  const baseline = (endpoints: string[]) =>
    [
      'repository: acme/api',
      'workflows:',
      '  .github/workflows/ci.yml:',
      '    build:',
      '      runs: 4',
      '      firstSeen: 2026-01-01T00:00:00Z',
      '      lastSeen: 2026-01-04T00:00:00Z',
      '      endpoints:',
      ...endpoints.map((endpoint) => `        ${endpoint}: { runs: 4, firstSeen: 2026-01-01T00:00:00Z, lastSeen: 2026-01-04T00:00:00Z }`),
      '',
    ].join('\n');

  it('warns at the egress-policy line when no baseline says otherwise', () => {
    const result = check({ 'policies/p.yml': '# strict\negress-policy: block\nallowed-endpoints: registry.npmjs.org\n', ...ATTACHED('p') });
    const warning = find(result.warnings, 'policy/block-without-github');
    expect(at(warning)).toBe('policies/p.yml:2:16');
    expect(warning?.message).toContain('github.com:443');
    expect(warning?.message).toContain('actions/checkout');
  });

  it('is quiet when the policy (or what it extends) allows github.com:443, or in audit mode', () => {
    expect(find(check({ 'policies/p.yml': 'egress-policy: block\nallowed-endpoints: github.com\n', ...ATTACHED('p') }).warnings, 'policy/block-without-github')).toBeUndefined();
    const extended = check({ 'policies/base.yml': 'egress-policy: block\nallowed-endpoints: github.com:443\n', 'policies/p.yml': 'egress-policy: block\nextends: base\nallowed-endpoints: a.example.com\n', ...ATTACHED('p') });
    expect(find(extended.warnings, 'policy/block-without-github')).toBeUndefined();
    expect(find(check({ 'policies/p.yml': 'egress-policy: audit\n', ...ATTACHED('p') }).warnings, 'policy/block-without-github')).toBeUndefined();
  });

  it('follows the baselines of the jobs the policy applies to', () => {
    const policy = { 'policies/p.yml': 'egress-policy: block\nallowed-endpoints: registry.npmjs.org\n', 'attachments.yml': 'repositories:\n  acme/api: p\n' };
    const usesCheckout = check({ ...policy, 'baselines/acme/api.yml': baseline(['github.com:443', 'registry.npmjs.org:443']) });
    expect(find(usesCheckout.warnings, 'policy/block-without-github')?.message).toContain('acme/api .github/workflows/ci.yml build');
    const noCheckout = check({ ...policy, 'baselines/acme/api.yml': baseline(['registry.npmjs.org:443']) });
    expect(find(noCheckout.warnings, 'policy/block-without-github')).toBeUndefined();
  });
});
