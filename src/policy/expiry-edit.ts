/**
 * Removing expired exceptions from a policy file as text (docs/architecture.md#expiring-exceptions):
 * each expired `{endpoint, reason, expires}` item of `allowed-endpoints` loses its lines and
 * nothing else changes (comments, blank lines, key order, CRLF stay). The GitHub App proposes
 * the result in one pull request; it never merges it. Pure.
 */
import { isMap, isScalar, isSeq, parseDocument, type Pair } from 'yaml';
import { isExpired, isExpiryDate } from './expiry.js';

export interface RemovedEntry {
  endpoint: string;
  expires: string;
  reason?: string;
  owner?: string;
  /** 1-based line of the item's `-` in the original text. */
  line: number;
}

export interface ExpiredRemoval {
  text: string;
  removed: RemovedEntry[];
}

const scalarOf = (map: { items: Pair[] }, key: string): unknown => {
  const value = map.items.find((pair) => isScalar(pair.key) && pair.key.value === key)?.value;
  return isScalar(value) ? value.value : undefined;
};

/**
 * `text` without the entries that expired at `at`. A file that does not parse, or whose
 * `allowed-endpoints` is not a block list, is returned unchanged with nothing removed: the
 * person who fixes it can delete the entry (validate warns about it meanwhile).
 */
export function removeExpiredEntries(text: string, at: Date | number): ExpiredRemoval {
  const unchanged: ExpiredRemoval = { text, removed: [] };
  const doc = parseDocument(text, { uniqueKeys: false });
  if (doc.errors.length > 0 || !isMap(doc.contents)) return unchanged;
  const pair = doc.contents.items.find((item) => isScalar(item.key) && item.key.value === 'allowed-endpoints');
  const list = pair?.value;
  if (!isSeq(list) || list.flow) return unchanged;

  const cuts: [number, number][] = [];
  const removed: RemovedEntry[] = [];
  for (const item of list.items) {
    if (!isMap(item) || !item.range) continue;
    const expires = scalarOf(item, 'expires');
    const endpoint = scalarOf(item, 'endpoint');
    if (typeof expires !== 'string' || !isExpiryDate(expires) || !isExpired(expires, at) || typeof endpoint !== 'string') continue;
    const dash = text.lastIndexOf('-', item.range[0]);
    const start = lineStart(text, dash);
    const end = lineEndAfter(text, Math.max(item.range[1] - 1, item.range[0]));
    cuts.push([start, end]);
    const entry: RemovedEntry = { endpoint, expires, line: lineNumber(text, dash) };
    const reason = scalarOf(item, 'reason');
    const owner = scalarOf(item, 'owner');
    if (typeof reason === 'string') entry.reason = reason;
    if (typeof owner === 'string') entry.owner = owner;
    removed.push(entry);
  }
  if (cuts.length === 0) return unchanged;

  let result = text;
  for (const [start, end] of cuts.reverse()) result = result.slice(0, start) + result.slice(end);
  if (cuts.length === list.items.length) {
    // An empty block list would read as `null`, which the schema refuses: write an empty flow list.
    const keyStart = (pair?.key as { range?: [number, number, number] }).range?.[0] ?? 0;
    const colon = result.indexOf(':', keyStart);
    result = `${result.slice(0, colon + 1)} []${result.slice(colon + 1)}`;
  }
  return { text: result, removed };
}

function lineStart(text: string, offset: number): number {
  return text.lastIndexOf('\n', offset - 1) + 1;
}

function lineEndAfter(text: string, offset: number): number {
  const newline = text.indexOf('\n', offset);
  return newline === -1 ? text.length : newline + 1;
}

function lineNumber(text: string, offset: number): number {
  let line = 1;
  for (let index = text.indexOf('\n'); index !== -1 && index < offset; index = text.indexOf('\n', index + 1)) line++;
  return line;
}

export interface FileRemoval extends ExpiredRemoval {
  /** Repository-relative path of the policy file. */
  file: string;
  policy: string;
}

/**
 * The edit of every policy file that holds an expired entry at `at`, from the texts the loader
 * read. An edit whose result would not be a valid policy file is left out (never propose a
 * change that breaks the repository).
 */
export function planExpiredRemovals(
  policies: Iterable<{ name: string; file: string; allowedEndpoints: readonly { expires?: string }[] }>,
  texts: ReadonlyMap<string, string>,
  at: Date | number,
  isValid: (file: string, text: string) => boolean,
): FileRemoval[] {
  const plans: FileRemoval[] = [];
  for (const policy of policies) {
    if (!policy.allowedEndpoints.some((entry) => entry.expires !== undefined && isExpired(entry.expires, at))) continue;
    const text = texts.get(policy.file);
    if (text === undefined) continue;
    const removal = removeExpiredEntries(text, at);
    if (removal.removed.length === 0 || !isValid(policy.file, removal.text)) continue;
    plans.push({ ...removal, file: policy.file, policy: policy.name });
  }
  return plans.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
}
