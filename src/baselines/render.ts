/**
 * BaselineFile -> YAML text. Given the previous text, it edits that document in place (yaml's
 * Document API) so people's comments and key order survive; otherwise it writes a canonical file.
 * Canonical: workflows, jobs and endpoints sorted, one flow map per endpoint (one line each, so a
 * run changes few lines in a diff), the schema comment first. Pure.
 */
import {
  Document,
  Pair,
  YAMLMap,
  YAMLSeq,
  isMap,
  isScalar,
  isSeq,
  parseDocument,
  type Node,
} from 'yaml';
import { BASELINE_SCHEMA_COMMENT, MAX_BASELINE_FILE_BYTES, type BaselineFile, type JobBaseline, type SeenStats } from './model.js';

const HEADER = [
  BASELINE_SCHEMA_COMMENT,
  ' Observed egress per workflow file and job, written by `egressctl baseline` and the',
  ' GitHub App. endpoints: what `egressctl recommend` allows; implicit: allowed by Harden-Runner',
  ' itself; addresses: reached by IP only (never recommended); blocked: refused in block mode.',
].join('\n');

/** Order of an entry's stats (an endpoint's, a cluster's runs). */
const SEEN_KEY_ORDER = ['runs', 'firstSeen', 'lastSeen', 'clusters'];
/** Order of a job's keys in the file; other maps are sorted by key. */
const JOB_KEY_ORDER = ['runs', 'firstSeen', 'lastSeen', 'lastGrowth', 'clusters', 'endpoints', 'implicit', 'addresses', 'blocked', 'recentRuns'];

type Plain = string | number | boolean | null | Plain[] | { [key: string]: Plain };

function byKey<T>(entries: Iterable<[string, T]>): [string, T][] {
  return [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function seenPlain(map: Map<string, SeenStats>): { [key: string]: Plain } {
  const out: { [key: string]: Plain } = {};
  for (const [key, stats] of byKey(map)) {
    const plain: { [key: string]: Plain } = { runs: stats.runs, firstSeen: stats.firstSeen, lastSeen: stats.lastSeen };
    // Only runs that recorded an ARC cluster add the key, so files without clusters keep their bytes.
    if (stats.clusters && stats.clusters.length > 0) plain.clusters = [...stats.clusters];
    out[key] = plain;
  }
  return out;
}

function jobPlain(job: JobBaseline): { [key: string]: Plain } {
  const out: { [key: string]: Plain } = { runs: job.runs };
  if (job.firstSeen) out.firstSeen = job.firstSeen;
  if (job.lastSeen) out.lastSeen = job.lastSeen;
  if (job.lastGrowth) out.lastGrowth = { run: job.lastGrowth.run, runId: job.lastGrowth.runId, at: job.lastGrowth.at };
  if (job.clusters.size > 0) out.clusters = seenPlain(job.clusters);
  out.endpoints = seenPlain(job.endpoints);
  if (job.implicit.size > 0) out.implicit = seenPlain(job.implicit);
  if (job.addresses.size > 0) out.addresses = seenPlain(job.addresses);
  if (job.blocked.size > 0) out.blocked = seenPlain(job.blocked);
  if (job.recentRuns.length > 0) out.recentRuns = [...job.recentRuns];
  return out;
}

/** The file as plain data in canonical order (also what `--json` style consumers may want). */
export function baselineToPlain(file: BaselineFile): { repository: string; workflows: { [path: string]: { [job: string]: Plain } } } {
  const workflows: { [path: string]: { [job: string]: Plain } } = {};
  for (const [path, jobs] of byKey(file.workflows)) {
    const out: { [job: string]: Plain } = {};
    for (const [id, job] of byKey(jobs)) out[id] = jobPlain(job);
    workflows[path] = out;
  }
  return { repository: file.repository, workflows };
}

/** Path from the root: ['workflows', W, J, section, key]. Flow style for one-line entries. */
function styleFor(path: readonly string[]): boolean {
  if (path[0] !== 'workflows') return false;
  if (path.length >= 5) return true; // an endpoint's stats (and the cluster list in them)
  if (path.length === 4 && (path[3] === 'lastGrowth' || path[3] === 'recentRuns')) return true;
  return false;
}

function createNode(doc: Document, value: Plain, path: readonly string[]): Node {
  const node = doc.createNode(value) as Node;
  applyStyle(node, path);
  return node;
}

function applyStyle(node: Node, path: readonly string[]): void {
  if (isMap(node) || isSeq(node)) {
    if (styleFor(path)) node.flow = true;
    else if (isMap(node) && node.items.length === 0) node.flow = true; // `endpoints: {}`
  }
  if (isMap(node)) {
    for (const pair of node.items) {
      if (isScalar(pair.key) && pair.value && typeof pair.value === 'object') applyStyle(pair.value as Node, [...path, String(pair.key.value)]);
    }
  }
}

function rank(path: readonly string[], key: string): [number, string] {
  if (path[0] === 'workflows' && path.length === 3) {
    const index = JOB_KEY_ORDER.indexOf(key);
    return [index === -1 ? JOB_KEY_ORDER.length : index, key];
  }
  if (path[0] === 'workflows' && path.length === 5) {
    const index = SEEN_KEY_ORDER.indexOf(key);
    return [index === -1 ? SEEN_KEY_ORDER.length : index, key];
  }
  if (path.length === 0) return [key === 'repository' ? 0 : key === 'workflows' ? 1 : 2, key];
  return [0, key];
}

function before(a: [number, string], b: [number, string]): boolean {
  return a[0] !== b[0] ? a[0] < b[0] : a[1] < b[1];
}

function isPlainObject(value: Plain): value is { [key: string]: Plain } {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Make `map` hold `target`, touching only what differs; comments on kept nodes stay. Linear in
 * the entries: the existing pairs are indexed once, and new keys are merged in by rank in one
 * pass (a lookup or an insertion per key was quadratic: 10,000 blocked names took most of a minute).
 */
function syncMap(doc: Document, map: YAMLMap, target: { [key: string]: Plain }, path: readonly string[]): void {
  const existing = new Map<string, Pair>();
  const kept: Pair[] = [];
  for (const item of map.items as Pair[]) {
    if (!isScalar(item.key)) continue;
    const key = String(item.key.value);
    if (!Object.hasOwn(target, key) || existing.has(key)) continue;
    existing.set(key, item);
    kept.push(item);
  }
  const added: { pair: Pair; rank: [number, string] }[] = [];
  for (const [key, value] of Object.entries(target)) {
    const pair = existing.get(key);
    const childPath = [...path, key];
    if (!pair) {
      added.push({ pair: new Pair(doc.createNode(key), createNode(doc, value, childPath)), rank: rank(path, key) });
      continue;
    }
    const current = pair.value as Node | null;
    if (isPlainObject(value) && isMap(current)) {
      syncMap(doc, current, value, childPath);
      if (current.items.length === 0) current.flow = true;
    } else if (Array.isArray(value) && isSeq(current)) {
      syncSeq(doc, current, value, childPath);
    } else if (!isPlainObject(value) && !Array.isArray(value) && isScalar(current)) {
      if (current.value !== value) {
        // Keep the node (and its comments); let the stringifier choose quoting for the new value,
        // so an edited file and a fresh one render a value the same way.
        current.value = value;
        delete current.type;
      }
    } else {
      const replacement = createNode(doc, value, childPath);
      if (current && typeof current === 'object') {
        replacement.comment = current.comment ?? null;
        replacement.commentBefore = current.commentBefore ?? null;
      }
      pair.value = replacement;
    }
  }
  if (added.length === 0) {
    map.items = kept;
    return;
  }
  // Each new key goes before the first kept key that ranks after it (kept keys stay in their order).
  added.sort((a, b) => (before(a.rank, b.rank) ? -1 : before(b.rank, a.rank) ? 1 : 0));
  const items: Pair[] = [];
  let next = 0;
  for (const item of kept) {
    const mine = rank(path, String((item.key as { value: unknown }).value));
    while (next < added.length && before(added[next]!.rank, mine)) items.push(added[next++]!.pair);
    items.push(item);
  }
  while (next < added.length) items.push(added[next++]!.pair);
  map.items = items;
}

function syncSeq(doc: Document, seq: YAMLSeq, target: Plain[], path: readonly string[]): void {
  const same = seq.items.length === target.length && seq.items.every((item, index) => isScalar(item) && item.value === target[index]);
  if (same) return;
  const fresh = createNode(doc, target, path) as YAMLSeq;
  seq.items = fresh.items;
}

/**
 * Render `file`. With `previousText` (the file as it is on disk), edits that document so its
 * comments survive; an unparsable previous text is replaced by a canonical file.
 */
export function renderBaselineFile(file: BaselineFile, previousText?: string): string {
  const target = baselineToPlain(file);
  const options = { lineWidth: 0 } as const;
  if (previousText !== undefined) {
    // Duplicate keys were refused when the previous text was parsed as a baseline (parse.ts, in
    // one pass); yaml's own check here would compare every key with every other.
    const doc = parseDocument(previousText, { uniqueKeys: false });
    if (doc.errors.length === 0 && isMap(doc.contents)) {
      syncMap(doc, doc.contents, target, []);
      const comment = doc.commentBefore ?? '';
      // Right above the first key (no blank line), yaml gives the schema comment to that key, not the document.
      if (!comment.includes('yaml-language-server:') && !/^#\s*yaml-language-server:/m.test(previousText)) {
        doc.commentBefore = comment === '' ? BASELINE_SCHEMA_COMMENT : `${BASELINE_SCHEMA_COMMENT}\n${comment}`;
      }
      return doc.toString(options);
    }
  }
  const doc = new Document();
  doc.contents = createNode(doc, target, []) as YAMLMap;
  doc.commentBefore = HEADER;
  return doc.toString(options);
}

/**
 * Why `text` must not be written as the baseline file `path`, or undefined: over
 * MAX_BASELINE_FILE_BYTES the policy repository would come close to refusing it (yaml/too-large).
 */
export function oversizeProblem(path: string, text: string): string | undefined {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes <= MAX_BASELINE_FILE_BYTES) return undefined;
  return `${path} would be ${Math.ceil(bytes / 1024)} KiB with these runs, over the ${MAX_BASELINE_FILE_BYTES / 1024} KiB limit for baseline files (the repository accepts at most 1 MiB per file): the runs were not merged; remove jobs or workflows no longer run from the file, then import again`;
}
