/**
 * Baseline file text -> BaselineFile with located diagnostics: a structural pass with ajv over
 * schemas/baselines.schema.json, then small rules for what a schema cannot say (endpoint syntax,
 * the file's repository, consistency of the counts). Pure apart from loading the schema once.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import formatsModule from 'ajv-formats';
import { closest } from 'fastest-levenshtein';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import { DiagnosticSink, type Result, type SourcePosition } from '../policy/diagnostics.js';
import { parseEndpoint } from '../policy/endpoint.js';
import { SCOPE_KEY_PATTERNS } from '../policy/scope-keys.js';
import {
  blockedName,
  classifyObserved,
  emptyBaselineFile,
  emptyJobBaseline,
  isIpv4,
  normalizeTimestamp,
  repositoryFromBaselinePath,
  type BaselineFile,
  type JobBaseline,
  type SeenStats,
} from './model.js';

// ajv-formats is CommonJS: under NodeNext its default import is module.exports, typed as the namespace.
const addFormats = formatsModule as unknown as typeof formatsModule.default;

/** The schema file, resolved from this module (src/baselines or dist/baselines: both two levels down). */
export const BASELINE_SCHEMA_URL = new URL('../../schemas/baselines.schema.json', import.meta.url);

let validator: ValidateFunction | undefined;
let schemaKeys: { file: string[]; job: string[]; seen: string[] } | undefined;

function schemaValidator(): ValidateFunction {
  if (!validator) {
    const schema = JSON.parse(readFileSync(BASELINE_SCHEMA_URL, 'utf8')) as {
      properties: Record<string, unknown>;
      definitions: { job: { properties: Record<string, unknown> }; seen: { properties: Record<string, unknown> } };
    };
    schemaKeys = {
      file: Object.keys(schema.properties),
      job: Object.keys(schema.definitions.job.properties),
      seen: Object.keys(schema.definitions.seen.properties),
    };
    const ajv = new Ajv({ allErrors: true, strict: false });
    addFormats(ajv);
    validator = ajv.compile(schema);
  }
  return validator;
}

type PathSegment = string | number;

class Locator {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
    private readonly file: string,
  ) {}

  at(offset: number | undefined): SourcePosition {
    const { line, col } = this.lines.linePos(offset ?? 0);
    return { file: this.file, line, column: col };
  }

  /** Position of the value at `path`, or of the closest ancestor that exists. */
  value(path: readonly PathSegment[]): SourcePosition {
    for (let length = path.length; length >= 0; length -= 1) {
      const node = this.doc.getIn(path.slice(0, length), true) as Node | undefined;
      if (node && typeof node === 'object' && 'range' in node && node.range) return this.at(node.range[0]);
    }
    return this.at(0);
  }

  /** Position of the key `key` in the map at `path` (where a reader looks for it). */
  key(path: readonly PathSegment[], key: string): SourcePosition {
    const map = path.length === 0 ? this.doc.contents : this.doc.getIn(path, true);
    if (isMap(map)) {
      const pair = map.items.find((item) => isScalar(item.key) && String(item.key.value) === key);
      if (pair && isScalar(pair.key) && pair.key.range) return this.at(pair.key.range[0]);
    }
    return this.value(path);
  }
}

/** JSON pointer (`/workflows/.github~1workflows~1ci.yml/build`) -> path segments. */
function pointerPath(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function knownKeysFor(path: readonly string[]): string[] {
  const keys = schemaKeys ?? { file: [], job: [], seen: [] };
  if (path.length === 0) return keys.file;
  if (path[0] === 'workflows' && path.length === 3) return keys.job;
  if (path[0] === 'workflows' && path.length === 4 && path[3] === 'lastGrowth') return ['run', 'runId', 'at'];
  if (path[0] === 'workflows' && path.length === 5) return keys.seen;
  return [];
}

function schemaMessage(error: ErrorObject, path: readonly string[]): { message: string; key?: string } {
  const where = path.length === 0 ? 'the file' : `"${path.join(' > ')}"`;
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String((error.params as { additionalProperty: string }).additionalProperty);
      const known = knownKeysFor(path);
      const hint = known.length > 0 ? `; did you mean "${closest(key, known)}"? (known: ${known.join(', ')})` : '';
      return { key, message: `unknown key "${key}" in ${where}${hint}` };
    }
    case 'propertyNames': {
      const key = String((error.params as { propertyName: string }).propertyName);
      const what =
        path.length === 1 && path[0] === 'workflows'
          ? 'a workflow file path such as ".github/workflows/ci.yml"'
          : path.length === 4 && path[3] === 'clusters'
            ? 'a cluster name (lower-case letters, digits, ".", "_" and "-")'
            : 'a job id (a letter or "_", then letters, digits, "_" or "-")';
      return { key, message: `"${key}" in ${where} is not ${what}` };
    }
    case 'required': {
      const missing = String((error.params as { missingProperty: string }).missingProperty);
      return { message: `${where} needs "${missing}"` };
    }
    case 'format':
      return { message: `${where} must be an ISO-8601 UTC time such as "2026-11-20T10:11:12Z"` };
    default:
      return { message: `${where} ${error.message ?? 'is not valid'}` };
  }
}

/** What ajv reports for one place: keep the most telling error, not the `$ref`/`type` echo of each branch. */
function schemaPass(data: unknown, locator: Locator, sink: DiagnosticSink): void {
  const validate = schemaValidator();
  if (validate(data)) return;
  const seen = new Set<string>();
  for (const error of validate.errors ?? []) {
    if (error.keyword === 'if' || error.keyword === 'anyOf' || error.keyword === 'oneOf') continue;
    // propertyNames reports each bad name twice (the pattern error and its own): keep its own.
    if (error.keyword === 'pattern' && error.propertyName !== undefined) continue;
    const path = pointerPath(error.instancePath);
    const { message, key } = schemaMessage(error, path);
    const at = key === undefined ? locator.value(path) : locator.key(path, key);
    const id = `${at.line}:${at.column}:${message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    sink.error('baseline/schema', at, message);
  }
}

/** Every key set twice in one mapping, at the second, in one pass (a Set per mapping). */
function reportDuplicateKeys(node: unknown, locator: Locator, sink: DiagnosticSink): void {
  if (isMap(node)) {
    const seen = new Set<string>();
    for (const pair of node.items) {
      if (isScalar(pair.key)) {
        const key = String(pair.key.value);
        if (seen.has(key)) sink.error('baseline/yaml', locator.at(pair.key.range?.[0]), `Map keys must be unique: "${key}" is set twice; keep one`);
        seen.add(key);
      }
      reportDuplicateKeys(pair.value, locator, sink);
    }
  } else if (isSeq(node)) {
    for (const item of node.items) reportDuplicateKeys(item, locator, sink);
  }
}

function asRecord(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function readSeen(value: unknown): SeenStats | undefined {
  const record = asRecord(value);
  const firstSeen = typeof record.firstSeen === 'string' ? normalizeTimestamp(record.firstSeen) : undefined;
  const lastSeen = typeof record.lastSeen === 'string' ? normalizeTimestamp(record.lastSeen) : undefined;
  if (typeof record.runs !== 'number' || !Number.isInteger(record.runs) || record.runs < 1 || !firstSeen || !lastSeen) return undefined;
  const stats: SeenStats = { runs: record.runs, firstSeen, lastSeen };
  // The schema pass reports a bad name; the rest are kept, lower-cased, sorted and unique as merge writes them.
  if (Array.isArray(record.clusters)) {
    const clusters = [...new Set(record.clusters.filter((name): name is string => typeof name === 'string').map((name) => name.toLowerCase()))]
      .filter((name) => SCOPE_KEY_PATTERNS.cluster.test(name))
      .sort();
    if (clusters.length > 0) stats.clusters = clusters;
  }
  return stats;
}

/** Two records of one endpoint (e.g. two names that now fall under one implicit pattern). */
function combineSeen(a: SeenStats, b: SeenStats): SeenStats {
  const combined: SeenStats = {
    runs: Math.max(a.runs, b.runs),
    firstSeen: a.firstSeen < b.firstSeen ? a.firstSeen : b.firstSeen,
    lastSeen: a.lastSeen > b.lastSeen ? a.lastSeen : b.lastSeen,
  };
  const clusters = [...new Set([...(a.clusters ?? []), ...(b.clusters ?? [])])].sort();
  if (clusters.length > 0) combined.clusters = clusters;
  return combined;
}

type Section = 'endpoints' | 'implicit' | 'addresses' | 'blocked';
const SECTIONS: readonly Section[] = ['endpoints', 'implicit', 'addresses', 'blocked'];
const SECTION_OF_KIND = { endpoint: 'endpoints', implicit: 'implicit', address: 'addresses' } as const;

/** Canonical key for a section entry, or a message saying what is wrong with it. */
function sectionKey(section: Section, raw: string): { key: string; warning?: string } | { error: string } {
  const parsed = parseEndpoint(raw);
  const problem = parsed.issues.find((issue) => issue.severity === 'error');
  if (section === 'blocked') {
    const name = blockedName(raw);
    if (name !== undefined) return { key: name };
    return { error: `"${raw}" under blocked is neither a DNS name nor an IPv4 address` };
  }
  if (!parsed.endpoint || problem) return { error: problem?.message ?? `"${raw}" is not an endpoint` };
  const key = parsed.endpoint.text;
  if (section === 'addresses') {
    return isIpv4(parsed.endpoint.host) ? { key } : { error: `"${raw}" under addresses is not ip:port; named endpoints belong under endpoints` };
  }
  const { kind } = classifyObserved(key);
  // Files written while github.com and api.github.com were wrongly taken as implicit hold them here.
  if (section === 'implicit' && kind !== 'implicit') {
    return {
      key,
      warning: `"${raw}" is not allowed by Harden-Runner itself (its agent allows only GitHub Actions' service hosts): it is recommended; it belongs under endpoints`,
    };
  }
  if (section === 'implicit') return { key };
  const warning =
    kind === 'address'
      ? `"${raw}" is an IP address: it is never recommended; it belongs under addresses`
      : kind === 'implicit'
        ? `"${raw}" is allowed by Harden-Runner itself: it is left out of recommendations; it belongs under implicit`
        : key !== raw
          ? `"${raw}" is written "${key}" in canonical form`
          : undefined;
  return warning === undefined ? { key } : { key, warning };
}

/**
 * Parse one baseline file. `file` is its repository-relative path (`baselines/acme/api.yml`);
 * it locates diagnostics and, when it has that form, must agree with `repository:`.
 */
export function parseBaselineFile(text: string, file: string): Result<BaselineFile> {
  const sink = new DiagnosticSink();
  const lines = new LineCounter();
  // Duplicate keys are found below in one pass: yaml's own check compares every key with every
  // other (10,000 names took seconds, 100,000 minutes).
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false });
  const locator = new Locator(doc, lines, file);
  const fromPath = repositoryFromBaselinePath(file);
  const fallback = emptyBaselineFile(fromPath ?? 'unknown/unknown');

  if (doc.errors.length > 0) {
    for (const error of doc.errors) sink.error('baseline/yaml', locator.at(error.pos[0]), error.message.split('\n')[0] ?? error.message);
    return sink.result(fallback);
  }
  reportDuplicateKeys(doc.contents, locator, sink);
  if (sink.hasErrors) return sink.result(fallback);
  const data: unknown = doc.toJS({ maxAliasCount: 100 });
  if (data === null || data === undefined) {
    sink.error('baseline/empty', locator.at(0), 'the baseline file is empty: it needs "repository" and "workflows"');
    return sink.result(fallback);
  }
  schemaPass(data, locator, sink);

  const root = asRecord(data);
  let repository = typeof root.repository === 'string' ? root.repository.toLowerCase() : (fromPath ?? 'unknown/unknown');
  if (fromPath && typeof root.repository === 'string' && repository !== fromPath) {
    sink.error(
      'baseline/repository-mismatch',
      locator.value(['repository']),
      `"repository: ${String(root.repository)}" does not match the file's path ${file} (${fromPath}): move the file or fix the name`,
    );
    repository = fromPath;
  }

  const value = emptyBaselineFile(repository);
  for (const [workflowPath, jobsValue] of Object.entries(asRecord(root.workflows))) {
    if (!/^\.github\/workflows\/[^/]+\.ya?ml$/.test(workflowPath)) continue;
    const normalizedPath = workflowPath.toLowerCase();
    const jobs = value.workflows.get(normalizedPath) ?? new Map<string, JobBaseline>();
    for (const [jobId, jobValue] of Object.entries(asRecord(jobsValue))) {
      const job = readJob(['workflows', workflowPath, jobId], asRecord(jobValue), locator, sink);
      if (job) jobs.set(jobId, job);
    }
    if (jobs.size > 0 || !value.workflows.has(normalizedPath)) value.workflows.set(normalizedPath, jobs);
  }
  return sink.result(value);
}

function readJob(path: readonly string[], record: Record<string, unknown>, locator: Locator, sink: DiagnosticSink): JobBaseline | undefined {
  if (typeof record.runs !== 'number' || !Number.isInteger(record.runs) || record.runs < 0) return undefined;
  const job = emptyJobBaseline();
  job.runs = record.runs;
  const firstSeen = typeof record.firstSeen === 'string' ? normalizeTimestamp(record.firstSeen) : undefined;
  const lastSeen = typeof record.lastSeen === 'string' ? normalizeTimestamp(record.lastSeen) : undefined;
  if (firstSeen) job.firstSeen = firstSeen;
  if (lastSeen) job.lastSeen = lastSeen;

  const growth = asRecord(record.lastGrowth);
  const growthAt = typeof growth.at === 'string' ? normalizeTimestamp(growth.at) : undefined;
  if (typeof growth.run === 'number' && (typeof growth.runId === 'string' || typeof growth.runId === 'number') && growthAt) {
    job.lastGrowth = { run: growth.run, runId: String(growth.runId), at: growthAt };
    if (growth.run > job.runs) {
      sink.warning(
        'baseline/inconsistent-runs',
        locator.value([...path, 'lastGrowth', 'run']),
        `lastGrowth.run is ${growth.run} but the job has only ${job.runs} runs: the job is treated as not stable`,
      );
    }
  }
  if (Array.isArray(record.recentRuns)) {
    job.recentRuns = record.recentRuns.filter((id) => typeof id === 'string' || typeof id === 'number').map(String);
  }

  for (const [name, statsValue] of Object.entries(asRecord(record.clusters))) {
    const cluster = name.toLowerCase();
    const stats = readSeen(statsValue);
    if (!SCOPE_KEY_PATTERNS.cluster.test(cluster) || !stats) continue;
    delete stats.clusters;
    if (stats.runs > job.runs) {
      sink.warning('baseline/inconsistent-runs', locator.value([...path, 'clusters', name, 'runs']), `the job ran ${stats.runs} times on cluster "${name}" but has only ${job.runs} runs`);
    }
    job.clusters.set(cluster, stats);
  }

  for (const section of SECTIONS) {
    const target = job[section];
    const listed = new Set<string>();
    for (const [raw, statsValue] of Object.entries(asRecord(record[section]))) {
      // Located only when something is reported: finding a key's node is a scan of its mapping.
      const at = (): SourcePosition => locator.key([...path, section], raw);
      const checked = sectionKey(section, raw);
      if ('error' in checked) {
        // Blocked names are evidence, never trusted by a later step: a bad one (written before
        // names from logs were checked) is dropped with a warning instead of stopping the repository.
        if (section === 'blocked') sink.warning('baseline/invalid-endpoint', at(), `${checked.error}: ignored (delete the entry)`);
        else sink.error('baseline/invalid-endpoint', at(), checked.error);
        continue;
      }
      if (checked.warning) sink.warning('baseline/misplaced-endpoint', at(), checked.warning);
      const stats = readSeen(statsValue);
      if (!stats) continue;
      if (listed.has(checked.key)) {
        sink.warning('baseline/duplicate-endpoint', at(), `"${raw}" is listed twice under ${section} (as "${checked.key}"): the first entry is kept`);
        continue;
      }
      listed.add(checked.key);
      if (stats.runs > job.runs) {
        sink.warning('baseline/inconsistent-runs', locator.value([...path, section, raw, 'runs']), `"${raw}" was seen in ${stats.runs} runs but the job has only ${job.runs}`);
      }
      if (stats.firstSeen > stats.lastSeen) {
        sink.warning('baseline/inconsistent-runs', locator.value([...path, section, raw, 'firstSeen']), `"${raw}" has firstSeen after lastSeen`);
      }
      // Entries in the wrong section (hand edits, or an older implicit list) are moved where merge would put them.
      if (section === 'endpoints' || section === 'implicit') {
        const { kind, key } = classifyObserved(checked.key);
        const home = job[SECTION_OF_KIND[kind]];
        const known = home.get(key);
        home.set(key, known ? combineSeen(known, stats) : stats);
        continue;
      }
      target.set(checked.key, stats);
    }
  }
  return job;
}
