/**
 * Policy tests (tests/*.yml): located parse errors, and each rule a case can prove (wildcards,
 * implicit endpoints, extends, workflow over repository, audit, expiry) over the realistic
 * fixture store, through the same resolve and matching code as the server.
 */
import { describe, expect, it } from 'vitest';
import { flattenPolicies } from '../../src/policy/flatten.js';
import { attachmentMap } from '../../src/policy/model.js';
import { failureDiagnostics, parsePolicyTests, runPolicyTests, type PolicyStore } from '../../src/policy/policy-tests.js';
import { parsePolicyRepository } from '../../src/store/repository.js';
import { exceptionsStoreFiles } from '../support/policy-tests.js';

function storeOf(files: Record<string, string>): PolicyStore {
  const { value, errors } = parsePolicyRepository(new Map(Object.entries(files).map(([path, text]) => [path, new TextEncoder().encode(text)])));
  expect(errors).toEqual([]);
  return { attachments: attachmentMap(value.attachments), policies: flattenPolicies(value) };
}

const parse = (text: string, file = 'tests/t.yml') => parsePolicyTests(new Map([[file, text]]));
const MARCH = new Date('2026-03-15T12:00:00Z');

describe('parsing tests/*.yml', () => {
  it('reads the fixture store\'s cases with their positions', () => {
    const files = exceptionsStoreFiles();
    const { value, errors, warnings } = parsePolicyTests(new Map(Object.entries(files)));
    expect(errors).toEqual([]);
    expect(warnings).toEqual([]);
    expect(value.map((testCase) => [testCase.name, testCase.at.line])).toEqual([
      ['shop CI installs from npm and pulls images', 2],
      ["the release workflow's own policy wins over the repository's", 16],
      ['the payments sandbox is allowed on its last day', 22],
      ['the payments sandbox is blocked from April', 27],
      ['other repositories audit', 33],
    ]);
    expect(value[0]!.endpoints[0]).toMatchObject({ endpoint: 'registry.npmjs.org:443', expected: 'allow', at: { file: 'tests/shop.yml', line: 6, column: 7 } });
  });

  it('locates every problem: unknown key with a suggestion, no scope, a pattern, a scheme, a bad date, workflow without repository', () => {
    const { errors, warnings } = parse(
      [
        '- name: typo',
        '  repositry: acme/api',
        '  allow: [github.com]',
        '- name: no scope',
        '  allow: [github.com]',
        '- name: pattern and scheme',
        '  repository: acme/api',
        '  allow: ["*.github.com", "https://github.com"]',
        '- name: bad date',
        '  repository: acme/api',
        '  at: 2026-02-30',
        '  block: [evil.example.com]',
        '- name: workflow alone',
        '  workflow: .github/workflows/ci.yml',
        '  cluster: arc',
        '  allow: [github.com]',
        '- name: nothing checked',
        '  repository: acme/api',
        '',
      ].join('\n'),
    );
    expect(errors.map((d) => [d.line, d.column, d.code])).toEqual([
      [2, 3, 'test/unknown-key'],
    ]);
    expect(errors[0]!.message).toContain('did you mean "repository"?');
    expect(warnings).toEqual([]);

    // The schema pass stops a file; fix the typo and the rules speak.
    const second = parse(
      [
        '- name: no scope',
        '  allow: [github.com]',
        '- name: pattern and scheme',
        '  repository: acme/api',
        '  allow: ["*.github.com", "https://github.com"]',
        '- name: bad date',
        '  repository: acme/api',
        '  at: 2026-02-30',
        '  block: [evil.example.com]',
        '- name: workflow alone',
        '  workflow: .github/workflows/ci.yml',
        '  cluster: arc',
        '  allow: [github.com]',
        '- name: nothing checked',
        '  repository: acme/api',
        '- name: nothing checked',
        '  repository: acme/web',
        '  allow: [github.com]',
        '',
      ].join('\n'),
    );
    expect(second.errors.map((d) => [d.line, d.column, d.code])).toEqual([
      [1, 3, 'test/missing-scope'],
      [5, 11, 'test/wildcard'],
      [5, 27, 'test/endpoint-scheme'],
      [8, 7, 'test/invalid-date'],
      [11, 13, 'test/workflow-needs-repository'],
    ]);
    expect(second.errors[1]!.message).toContain('e.g. "api.github.com:443"');
    expect(second.warnings.map((d) => [d.line, d.code])).toEqual([
      [14, 'test/no-endpoints'],
      [16, 'test/duplicate-name'],
    ]);
  });

  it('rejects a file that is not a list, at its first line', () => {
    const { errors } = parse('name: not a list\n');
    expect(errors.map((d) => [d.file, d.line, d.code])).toEqual([['tests/t.yml', 1, 'test/invalid-type']]);
  });
});

describe('running cases over the fixture store', () => {
  const store = storeOf(exceptionsStoreFiles());
  const run = (text: string, now = MARCH) => {
    const parsed = parse(text);
    expect(parsed.errors).toEqual([]);
    return runPolicyTests(store, parsed.value, now);
  };

  it('passes every case of the fixture\'s tests/ (as of mid-March 2026)', () => {
    const parsed = parsePolicyTests(new Map(Object.entries(exceptionsStoreFiles())));
    const outcomes = runPolicyTests(store, parsed.value, MARCH);
    expect(outcomes.filter((outcome) => !outcome.passed)).toEqual([]);
    expect(outcomes).toHaveLength(5);
  });

  it('applies the agent\'s wildcard rule: *.docker.io matches subdomains, not the bare domain or a lookalike', () => {
    const [outcome] = run('- name: w\n  repository: acme/shop\n  allow: [registry-1.docker.io, a.b.docker.io]\n  block: [docker.io, evildocker.io, registry-1.docker.io:80]\n');
    expect(outcome!.passed).toBe(true);
    expect(outcome!.endpoints[0]).toMatchObject({ actual: 'allow', allowedBy: '*.docker.io:443' });
  });

  it('counts implicit endpoints, and the telemetry hosts only while telemetry is on', () => {
    const [ci, release] = run(
      [
        '- name: ci',
        '  repository: acme/shop',
        '  allow: [codeload.github.com, results-receiver.actions.githubusercontent.com, productionresultssa7.blob.core.windows.net, agent.api.stepsecurity.io]',
        '- name: release',
        '  repository: acme/shop',
        '  workflow: .github/workflows/release.yml',
        '  allow: [agent.api.stepsecurity.io]',
        '',
      ].join('\n'),
    );
    expect(ci!.passed).toBe(true);
    expect(ci!.endpoints.every((endpoint) => endpoint.implicit)).toBe(true);
    expect(release!.passed).toBe(false);
    const [failure] = failureDiagnostics([release!]);
    expect(failure).toMatchObject({ file: 'tests/t.yml', line: 7, code: 'test/failed', severity: 'error' });
    expect(failure!.message).toBe(
      'case "release": expected agent.api.stepsecurity.io:443 to be allowed, but it is blocked: policy "release" (attached to workflow acme/shop/.github/workflows/release.yml) is in block mode and none of its endpoints (nor the agent\'s implicit ones) match',
    );
  });

  it('follows extends and lets the workflow attachment win over the repository\'s', () => {
    const [ci, release] = run(
      [
        '- name: ci',
        '  repository: acme/shop',
        '  workflow: acme/shop/.github/workflows/ci.yml',
        '  allow: [api.github.com]',
        '  block: [fulcio.sigstore.dev]',
        '- name: release',
        '  repository: acme/shop',
        '  workflow: .github/workflows/release.yml',
        '  allow: [fulcio.sigstore.dev, github.com, registry.npmjs.org]',
        '',
      ].join('\n'),
    );
    expect(ci).toMatchObject({ passed: true, decision: { policy: 'node-build', scope: { type: 'repository', key: 'acme/shop' }, mode: 'block' } });
    expect(release).toMatchObject({ passed: true, decision: { policy: 'release', scope: { type: 'workflow', key: 'acme/shop/.github/workflows/release.yml' } } });
  });

  it('says when audit or no policy decided a blocked expectation', () => {
    const outcomes = run('- name: audit\n  repository: acme/blog\n  block: [evil.example.com]\n- name: none\n  repository: other/x\n  block: [evil.example.com]\n');
    const messages = failureDiagnostics(outcomes).map((d) => d.message);
    expect(messages).toEqual([
      'case "audit": expected evil.example.com:443 to be blocked, but it is allowed: policy "org-audit" (attached to organization acme) is in audit mode, which blocks nothing',
      'case "none": expected evil.example.com:443 to be blocked, but it is allowed: no policy applies to this scope, so nothing blocks it',
    ]);
  });

  it('evaluates the expiry edge: a case\'s own date, else the run\'s time', () => {
    const text = '- name: sandbox\n  repository: acme/shop\n  allow: [sandbox.payments.example.com]\n';
    expect(run(text, new Date('2026-03-31T23:59:59.999Z'))[0]!.passed).toBe(true);
    expect(run(text, new Date('2026-04-01T00:00:00Z'))[0]!.passed).toBe(false);
    expect(run(`${text}  at: 2026-03-31\n`, new Date('2027-01-01T00:00:00Z'))[0]).toMatchObject({ passed: true, evaluatedAt: '2026-03-31T00:00:00.000Z' });
  });
});
