/**
 * Policy tests (docs/architecture.md#policy-tests): `tests/*.yml` in the policy repository, each a
 * list of cases that name a scope and endpoints its effective policy must allow or block. Parsing
 * reports located findings like every other file; running is pure over the compiled policies and
 * the attachment map, through the same precedence (resolve.ts), expiry (expiry.ts) and agent
 * matching rules (endpoint.ts) that the server and sync use: there is no second matcher.
 */
import { isMap, isScalar, isSeq, type YAMLMap } from 'yaml';
import { DiagnosticSink, type Diagnostic, type Result, type SourcePosition } from './diagnostics.js';
import { endpointFromText, endpointMatches, implicitPatternFor, parseEndpoint, type Endpoint } from './endpoint.js';
import { effectivePolicyAt, parseAsOf } from './expiry.js';
import type { AttachmentMap, CompiledPolicy, EgressMode } from './model.js';
import type { ResolveQuery, ScopeRef } from './resolve.js';
import { checkSchema } from './schema.js';
import { nodeAtPath, parseYaml, positionOf, type YamlFile } from './yaml.js';

export const POLICY_TESTS_DIR = 'tests';

export type Expectation = 'allow' | 'block';

export interface TestEndpoint {
  /** Canonical `host:port`. */
  endpoint: string;
  expected: Expectation;
  at: SourcePosition;
}

export interface PolicyTestCase {
  name: string;
  file: string;
  /** Where the case starts (its first key). */
  at: SourcePosition;
  query: ResolveQuery;
  /** `YYYY-MM-DD` written in the case: evaluate as of the start of that UTC day. */
  asOf?: string;
  endpoints: TestEndpoint[];
}

/** Is this repository-relative path a policy test file? */
export function isPolicyTestFile(relativePath: string): boolean {
  return relativePath.startsWith(`${POLICY_TESTS_DIR}/`) && /^[^/]+\.ya?ml$/.test(relativePath.slice(POLICY_TESTS_DIR.length + 1));
}

/**
 * Parse and check every `tests/*.yml` among `texts` (repository-relative path -> text; a loaded
 * repository's `files`, whose loader already reported bytes that are not UTF-8 or too large). Pure.
 */
export function parsePolicyTests(texts: ReadonlyMap<string, string>): Result<PolicyTestCase[]> {
  const sink = new DiagnosticSink();
  const cases: PolicyTestCase[] = [];
  for (const [file, text] of [...texts].filter(([path]) => isPolicyTestFile(path)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    cases.push(...parsePolicyTestFile(file, text, sink));
  }
  return sink.result(cases);
}

export function parsePolicyTestFile(file: string, text: string, sink: DiagnosticSink): PolicyTestCase[] {
  const yamlFile = parseYaml(file, text, sink);
  if (yamlFile.value === undefined) return [];
  if (yamlFile.value === null) {
    sink.warning('test/empty', { file, line: 1, column: 1 }, 'test file is empty: add a list of cases (egressctl init writes an example) or delete it');
    return [];
  }
  if (!checkSchema('policy-test', 'test', yamlFile, sink)) return [];
  const root = yamlFile.doc.contents;
  if (!isSeq(root)) return [];
  const cases: PolicyTestCase[] = [];
  const names = new Map<string, number>();
  root.items.forEach((item, index) => {
    if (!isMap(item)) return;
    const testCase = buildCase(yamlFile, item, index, sink);
    if (!testCase) return;
    const first = names.get(testCase.name);
    if (first !== undefined) {
      sink.warning('test/duplicate-name', positionOf(yamlFile, nodeAtPath(yamlFile.doc, [index, 'name'])), `a case named "${testCase.name}" is already at line ${first}: give each case its own name, so failures point at one`);
    } else {
      names.set(testCase.name, testCase.at.line);
    }
    cases.push(testCase);
  });
  return cases;
}

function buildCase(yamlFile: YamlFile, item: YAMLMap, index: number, sink: DiagnosticSink): PolicyTestCase | undefined {
  const value = (yamlFile.value as Record<string, unknown>[])[index] as Record<string, string | string[] | undefined>;
  const at = positionOf(yamlFile, item);
  const where = (key: string): SourcePosition => positionOf(yamlFile, nodeAtPath(yamlFile.doc, [index, key]));
  const name = value['name'] as string;
  let ok = true;
  if (value['repository'] === undefined && value['organization'] === undefined && value['cluster'] === undefined) {
    sink.error('test/missing-scope', at, `case "${name}" names no scope: add repository: OWNER/REPO (optionally workflow:), organization: or cluster:`);
    ok = false;
  }
  const workflow = value['workflow'] as string | undefined;
  if (workflow !== undefined && value['repository'] === undefined && workflow.startsWith('.github/')) {
    sink.error('test/workflow-needs-repository', where('workflow'), `case "${name}": workflow "${workflow}" needs repository: OWNER/REPO (or write OWNER/REPO/${workflow})`);
    ok = false;
  }
  const asOf = value['at'] as string | undefined;
  if (asOf !== undefined && parseAsOf(asOf) === undefined) {
    sink.error('test/invalid-date', where('at'), `case "${name}": at "${asOf}" is not a calendar date: write YYYY-MM-DD`);
    ok = false;
  }
  const endpoints: TestEndpoint[] = [];
  for (const expected of ['allow', 'block'] as const) {
    const list = nodeAtPath(yamlFile.doc, [index, expected]);
    if (!isSeq(list)) continue;
    for (const entry of list.items) {
      if (!isScalar(entry) || typeof entry.value !== 'string') continue;
      const position = positionOf(yamlFile, entry);
      const parsed = parseEndpoint(entry.value);
      const error = parsed.issues.find((issue) => issue.severity === 'error');
      if (error || !parsed.endpoint) {
        sink.error(`test/${error?.code.replace(/^endpoint\//, 'endpoint-') ?? 'endpoint'}`, position, `case "${name}": ${error?.message ?? `"${entry.value}" is not an endpoint`}`);
        ok = false;
        continue;
      }
      if (parsed.endpoint.host.includes('*')) {
        sink.error('test/wildcard', position, `case "${name}": "${entry.value}" is a pattern; a test names a host a job would call, e.g. "${parsed.endpoint.host.replace('*', 'api')}:${parsed.endpoint.port}"`);
        ok = false;
        continue;
      }
      endpoints.push({ endpoint: parsed.endpoint.text, expected, at: position });
    }
  }
  if (endpoints.length === 0 && ok) {
    sink.warning('test/no-endpoints', at, `case "${name}" checks nothing: list endpoints under allow: or block:`);
  }
  if (!ok) return undefined;
  const query: ResolveQuery = {};
  for (const key of ['repository', 'workflow', 'organization', 'cluster'] as const) {
    const text = value[key];
    if (typeof text === 'string') query[key] = text;
  }
  const testCase: PolicyTestCase = { name, file: yamlFile.file, at, query, endpoints };
  if (asOf !== undefined) testCase.asOf = asOf;
  return testCase;
}

/** What decided an endpoint: the policy (or none), the scope its attachment is on, its mode. */
export interface Decision {
  policy: string | null;
  scope: ScopeRef | null;
  /** `none`: no policy applies, Harden-Runner (if present at all) runs with its defaults and nothing is blocked by a policy. */
  mode: EgressMode | 'none';
}

export interface EndpointOutcome {
  endpoint: string;
  expected: Expectation;
  actual: Expectation;
  /** The entry that allowed it (`host:port`), or `audit` / `no policy`; absent when blocked. */
  allowedBy?: string;
  /** The entry is one Harden-Runner's agent allows by itself. */
  implicit?: boolean;
  at: SourcePosition;
  passed: boolean;
}

export interface CaseOutcome {
  name: string;
  file: string;
  at: SourcePosition;
  query: ResolveQuery;
  /** ISO instant the case was evaluated at. */
  evaluatedAt: string;
  decision: Decision;
  endpoints: EndpointOutcome[];
  passed: boolean;
}

export interface PolicyStore {
  attachments: AttachmentMap;
  /** Flattened (the bundle's shape); expiry is applied per case. */
  policies: Readonly<Record<string, CompiledPolicy>>;
}

/** How one endpoint came out: the entry (or rule) that allowed it, absent when blocked. */
export interface EndpointVerdict {
  /** The entry that allowed it (`host:port`), or `audit` / `no policy`; absent when blocked. */
  allowedBy?: string;
  /** The entry is one Harden-Runner's agent allows by itself. */
  implicit?: boolean;
}

/**
 * The effective policy of one scope at one time, resolved once (precedence, expiry) and ready to
 * answer for any number of endpoints: a test case's endpoints and a baseline job's observed ones
 * all ask the same policy.
 */
export interface ScopeEvaluation {
  decision: Decision;
  evaluate(endpoint: string): EndpointVerdict;
}

export function evaluateScope(store: PolicyStore, query: ResolveQuery, at: Date | number): ScopeEvaluation {
  const answer = effectivePolicyAt(store.attachments, store.policies, query, at);
  const decision: Decision = { policy: answer.policy, scope: answer.scope, mode: answer.config['egress-policy'] ?? 'none' };
  if (decision.mode === 'none') return { decision, evaluate: () => ({ allowedBy: 'no policy' }) };
  if (decision.mode === 'audit') return { decision, evaluate: () => ({ allowedBy: 'audit' }) };
  // The entries as the agent is given them (sorted), parsed once. The first matching entry in
  // that order is the one named, so an exact entry goes in a map by position and only wildcards
  // are scanned, each only while it comes before the exact match.
  const entries = (answer.config['allowed-endpoints'] ?? '').split(' ').filter((text) => text !== '');
  const exact = new Map<string, number>();
  const wildcards: { index: number; pattern: Endpoint }[] = [];
  entries.forEach((text, index) => {
    const pattern = endpointFromText(text);
    if (pattern.host.includes('*')) wildcards.push({ index, pattern });
    else if (!exact.has(`${pattern.host}:${pattern.port}`)) exact.set(`${pattern.host}:${pattern.port}`, index);
  });
  const telemetry = { disableTelemetry: answer.config['disable-telemetry'] };
  return {
    decision,
    evaluate(endpoint: string): EndpointVerdict {
      const { host, port } = endpointFromText(endpoint);
      // hostMatches compares lower-cased names without a trailing dot: so does the map's key.
      const exactIndex = exact.get(`${host.toLowerCase().replace(/\.$/, '')}:${port}`) ?? Number.POSITIVE_INFINITY;
      const wildcard = wildcards.find((item) => item.index < exactIndex && endpointMatches(item.pattern, host, port));
      const index = wildcard?.index ?? exactIndex;
      if (index !== Number.POSITIVE_INFINITY) return { allowedBy: entries[index] as string };
      const implicit = implicitPatternFor(host, port, telemetry);
      return implicit ? { allowedBy: implicit.text, implicit: true } : {};
    },
  };
}

/** `evaluateScope` remembered per (scope, time): cases that share both resolve once. */
export function scopeEvaluations(store: PolicyStore): (query: ResolveQuery, at: Date | number) => ScopeEvaluation {
  const cache = new Map<string, ScopeEvaluation>();
  return (query, at) => {
    const key = JSON.stringify([query.repository, query.workflow, query.organization, query.cluster, typeof at === 'number' ? at : at.getTime()]);
    let found = cache.get(key);
    if (!found) {
      found = evaluateScope(store, query, at);
      cache.set(key, found);
    }
    return found;
  };
}

/** Run every case. `now` is used for cases without their own `at`. Pure. */
export function runPolicyTests(store: PolicyStore, cases: readonly PolicyTestCase[], now: Date): CaseOutcome[] {
  const evaluationOf = scopeEvaluations(store);
  return cases.map((testCase) => {
    const at = testCase.asOf === undefined ? now : (parseAsOf(testCase.asOf) as Date);
    const scope = evaluationOf(testCase.query, at);
    const endpoints = testCase.endpoints.map((item): EndpointOutcome => {
      const result = scope.evaluate(item.endpoint);
      const actual: Expectation = result.allowedBy === undefined ? 'block' : 'allow';
      const outcome: EndpointOutcome = { endpoint: item.endpoint, expected: item.expected, actual, at: item.at, passed: actual === item.expected };
      if (result.allowedBy !== undefined) outcome.allowedBy = result.allowedBy;
      if (result.implicit) outcome.implicit = true;
      return outcome;
    });
    return {
      name: testCase.name,
      file: testCase.file,
      at: testCase.at,
      query: testCase.query,
      evaluatedAt: at.toISOString(),
      decision: scope.decision,
      endpoints,
      passed: endpoints.every((endpoint) => endpoint.passed),
    };
  });
}

/** One line that says why an endpoint came out as it did: the policy that decided and the rule. */
export function explainOutcome(decision: Decision, outcome: EndpointOutcome): string {
  const scope = decision.scope === null ? '' : ` (attached to ${decision.scope.type} ${decision.scope.key})`;
  if (decision.mode === 'none') return 'no policy applies to this scope, so nothing blocks it';
  if (decision.mode === 'audit') return `policy "${decision.policy}"${scope} is in audit mode, which blocks nothing`;
  if (outcome.actual === 'allow') {
    const how = outcome.implicit ? `Harden-Runner's agent allows "${outcome.allowedBy}" by itself` : `its entry "${outcome.allowedBy}" matches`;
    return `policy "${decision.policy}"${scope} is in block mode and ${how}`;
  }
  return `policy "${decision.policy}"${scope} is in block mode and none of its endpoints (nor the agent's implicit ones) match`;
}

/** The located failure message for one endpoint: expected vs actual and the policy that decided. */
export function failureMessage(testCase: Pick<CaseOutcome, 'name' | 'decision'>, outcome: EndpointOutcome): string {
  return `case "${testCase.name}": expected ${outcome.endpoint} to be ${outcome.expected === 'allow' ? 'allowed' : 'blocked'}, but it is ${
    outcome.actual === 'allow' ? 'allowed' : 'blocked'
  }: ${explainOutcome(testCase.decision, outcome)}`;
}

export interface TestSummary {
  cases: number;
  passed: number;
  failed: number;
  endpoints: number;
}

export function summarize(outcomes: readonly CaseOutcome[]): TestSummary {
  const passed = outcomes.filter((outcome) => outcome.passed).length;
  return { cases: outcomes.length, passed, failed: outcomes.length - passed, endpoints: outcomes.reduce((sum, outcome) => sum + outcome.endpoints.length, 0) };
}

/** Failures as located diagnostics (file and line of the endpoint that failed), for annotations. */
export function failureDiagnostics(outcomes: readonly CaseOutcome[]): Diagnostic[] {
  return outcomes.flatMap((outcome) =>
    outcome.endpoints
      .filter((endpoint) => !endpoint.passed)
      .map((endpoint) => ({ ...endpoint.at, code: 'test/failed', severity: 'error' as const, message: failureMessage(outcome, endpoint) })),
  );
}

/** An example test file, as `init` writes it (matches the example policies `init` writes). */
export function exampleTestFile(org: string): string {
  return [
    '# yaml-language-server: $schema=../schemas/policy-test.schema.json',
    '# Policy tests: run `egressctl test`. Each case names a scope, as a job presents it, and',
    '# endpoints its effective policy must allow or block (the agent\'s wildcard rule and implicit',
    '# endpoints apply; an audit policy blocks nothing).',
    `- name: every repository of ${org} is in audit mode until it gets its own policy`,
    `  repository: ${org}/example`,
    '  allow: [github.com:443, registry.npmjs.org:443]',
    '',
  ].join('\n');
}
