/**
 * Policy tests (tests/*.yml): located parse errors, and each rule a case can prove (wildcards,
 * implicit endpoints, extends, workflow over repository, audit, expiry) over the realistic
 * fixture store, through the same resolve and matching code as the server.
 */
import { describe, expect, it } from 'vitest';
import { flattenPolicies } from '../../src/policy/flatten.js';
import { attachmentMap } from '../../src/policy/model.js';
import { endpointFromText, endpointMatches, implicitPatternFor } from '../../src/policy/endpoint.js';
import { effectivePolicyAt } from '../../src/policy/expiry.js';
import { failureDiagnostics, parsePolicyTests, runPolicyTests, type Decision, type PolicyStore } from '../../src/policy/policy-tests.js';
import type { ResolveQuery } from '../../src/policy/resolve.js';
import { replayBaselines } from '../../src/review/replay.js';
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

describe('one resolution per scope and time', () => {
  const files = exceptionsStoreFiles();
  const plain = storeOf(files);
  const ENDPOINTS = [
    'registry.npmjs.org:443',
    'registry-1.docker.io:443',
    'docker.io:443',
    'evildocker.io:443',
    'registry-1.docker.io:80',
    'github.com:443',
    'api.github.com:443',
    'objects.githubusercontent.com:443',
    'sandbox.payments.example.com:443',
    'uploads.github.com:443',
    'fulcio.sigstore.dev:443',
    'codeload.github.com:443',
    'results-receiver.actions.githubusercontent.com:443',
    'productionresultssa7.blob.core.windows.net:443',
    'agent.api.stepsecurity.io:443',
    'evil.example.com:443',
  ];
  const SCOPES = [
    'repository: acme/shop',
    'repository: acme/shop\n  workflow: .github/workflows/release.yml',
    'repository: acme/shop\n  workflow: acme/shop/.github/workflows/ci.yml',
    'repository: acme/blog',
    'repository: other/x',
    'organization: acme',
  ];
  const DATES = ['2026-01-15T23:59:59.999Z', '2026-01-16T00:00:00Z', '2026-03-15T12:00:00Z', '2026-03-31T23:59:59.999Z', '2026-04-01T00:00:00Z', '2026-07-01T00:00:00Z'].map((text) => new Date(text));
  const cases = parsePolicyTests(
    new Map([
      ...Object.entries(files),
      ['tests/all.yml', SCOPES.map((scope, index) => `- name: scope ${index}\n  ${scope}\n  allow: [${ENDPOINTS.join(', ')}]\n- name: scope ${index} again\n  ${scope}\n  block: [${ENDPOINTS.join(', ')}]\n`).join('')],
    ]),
  ).value;

  /** The evaluation as it was written before (one effectivePolicyAt per endpoint, a linear scan): the oracle. */
  function referenceEvaluation(query: ResolveQuery, endpoint: string, at: Date): { decision: Decision; allowedBy?: string; implicit?: boolean } {
    const answer = effectivePolicyAt(plain.attachments, plain.policies, query, at);
    const decision: Decision = { policy: answer.policy, scope: answer.scope, mode: answer.config['egress-policy'] ?? 'none' };
    if (decision.mode === 'none') return { decision, allowedBy: 'no policy' };
    if (decision.mode === 'audit') return { decision, allowedBy: 'audit' };
    const { host, port } = endpointFromText(endpoint);
    const entries = (answer.config['allowed-endpoints'] ?? '').split(' ').filter((text) => text !== '');
    const entry = entries.find((text) => endpointMatches(endpointFromText(text), host, port));
    if (entry !== undefined) return { decision, allowedBy: entry };
    const implicit = implicitPatternFor(host, port, { disableTelemetry: answer.config['disable-telemetry'] });
    if (implicit) return { decision, allowedBy: implicit.text, implicit: true };
    return { decision };
  }

  it('gives the same outcome for every case, endpoint and date of the fixture store as one resolution per endpoint did', () => {
    expect(cases.length).toBe(5 + 2 * SCOPES.length);
    for (const at of DATES) {
      const outcomes = runPolicyTests(plain, cases, at);
      outcomes.forEach((outcome, index) => {
        const testCase = cases[index]!;
        for (const [position, endpoint] of outcome.endpoints.entries()) {
          const expected = referenceEvaluation(testCase.query, testCase.endpoints[position]!.endpoint, testCase.asOf === undefined ? at : new Date(`${testCase.asOf}T00:00:00Z`));
          expect({ decision: outcome.decision, allowedBy: endpoint.allowedBy, implicit: endpoint.implicit }, `${outcome.name} ${endpoint.endpoint} at ${at.toISOString()}`).toEqual({
            decision: expected.decision,
            allowedBy: expected.allowedBy,
            implicit: expected.implicit,
          });
        }
      });
      const baselines = parsePolicyRepository(new Map(Object.entries(files).map(([path, text]) => [path, new TextEncoder().encode(text)]))).value.baselines;
      const replay = replayBaselines(baselines, plain, at);
      expect(replay.jobs).toHaveLength(1);
      const job = replay.jobs[0]!;
      const query = { repository: job.repository, workflow: job.workflow };
      const observed = [...baselines.files.get('acme/shop')!.workflows.get('.github/workflows/ci.yml')!.get('test')!.endpoints.keys()];
      expect(job.decision).toEqual(referenceEvaluation(query, 'example.com:443', at).decision);
      expect(job.blocked.map((item) => item.endpoint)).toEqual(observed.filter((endpoint) => referenceEvaluation(query, endpoint, at).allowedBy === undefined).sort());
    }
    // The sandbox exception is visible in the outcomes: allowed on its last day, blocked after it.
    const sandbox = (at: Date) => runPolicyTests(plain, cases, at)[5]!.endpoints.find((endpoint) => endpoint.endpoint === 'sandbox.payments.example.com:443')!.actual;
    expect([sandbox(DATES[3]!), sandbox(DATES[4]!)]).toEqual(['allow', 'block']);
  });

  it('looks the winning policy up once per scope and time, not once per endpoint', () => {
    const lookups = new Map<string, number>();
    const counted: PolicyStore = {
      attachments: plain.attachments,
      policies: new Proxy(plain.policies, {
        get(target, key, receiver) {
          if (typeof key === 'string') lookups.set(key, (lookups.get(key) ?? 0) + 1);
          return Reflect.get(target, key, receiver) as unknown;
        },
      }),
    };
    const ours = cases.filter((testCase) => testCase.name.startsWith('scope 0'));
    expect(ours.map((testCase) => testCase.endpoints.length)).toEqual([ENDPOINTS.length, ENDPOINTS.length]);
    runPolicyTests(counted, ours, MARCH);
    // Two cases of one scope at one time, 32 endpoints: one resolution.
    expect(Object.fromEntries(lookups)).toEqual({ 'node-build': 1 });
    // The replay: one job, three observed endpoints, one resolution.
    lookups.clear();
    const baselines = parsePolicyRepository(new Map(Object.entries(files).map(([path, text]) => [path, new TextEncoder().encode(text)]))).value.baselines;
    expect(replayBaselines(baselines, counted, MARCH).endpointsChecked).toBe(3);
    expect(Object.fromEntries(lookups)).toEqual({ 'node-build': 1 });
  });
});
