/**
 * Importing endpoints into an existing policy (`egressctl policy edit`): which candidates are new,
 * and the text edit that appends them and drops others. Pure: data and text in, data and text out.
 *
 * Planning follows what the agent enforces (docs/architecture.md#endpoints): an endpoint the agent
 * allows by itself, or one an entry of the policy (or of a policy it extends) already matches,
 * wildcards included, is not added. An exception with an end date
 * (docs/architecture.md#expiring-exceptions) does not count as allowing it: what is added is added
 * for good, so an endpoint only an exception covers is added (the policy's own exception for that
 * very endpoint loses its `expires` instead), and the summary says which exception it was.
 *
 * The edit keeps every byte it does not own, and keeps the list's style: a block list gets new
 * `- item` lines, a string (`a b c`, or a `>` block) gets the names appended in it.
 */
import { isMap, isScalar, isSeq, parseDocument, Scalar, type Pair } from 'yaml';
import { endpointFromText, implicitPatternFor, isAllowed, parseEndpoint, type Endpoint } from './endpoint.js';
import { addEndpoints } from './edit.js';

export interface EndpointCandidate {
  /** Canonical `host:port`. */
  endpoint: string;
  /** Where it came from, for the summary and the entry's comment (e.g. `baselines cluster:arc-prod`). */
  source?: string;
}

export interface SkippedEndpoint {
  endpoint: string;
  reason: string;
}

/** An exception, where it is: the policy's own list or a parent's (`extends`). */
export interface ExceptionRef {
  /** The entry (`host:port`, maybe a wildcard). */
  endpoint: string;
  /** Its last day, `YYYY-MM-DD` (UTC). */
  expires: string;
  /** The parent it comes from; absent for the policy's own. */
  parent?: string;
}

export interface PlannedEndpoint extends EndpointCandidate {
  /** Only this exception allowed it before: now it is allowed for good. */
  exception?: ExceptionRef;
}

export interface PermanentEndpoint extends EndpointCandidate {
  /** The own exception's last day, dropped. */
  expires: string;
}

export interface EndpointChangePlan {
  /** New entries, sorted, in the order they are appended. */
  add: PlannedEndpoint[];
  /** The policy's own exceptions for a candidate: their `expires` is dropped, so they count for good. */
  permanent: PermanentEndpoint[];
  /** Entries of the policy's own list to drop (canonical), in the order asked. */
  remove: string[];
  /** Candidates left out, with why. */
  skipped: SkippedEndpoint[];
  /** Removals that name no entry of the policy's own list, with why. */
  notRemoved: SkippedEndpoint[];
}

export interface EndpointChangeInput {
  /** The policy's own entries (canonical), as written. */
  own: readonly string[];
  /** Own entries that are exceptions only (no entry of the same endpoint without a date) -> `expires`. */
  ownExpiry?: Readonly<Record<string, string>>;
  /** Parent policy name -> its flattened endpoints (what `extends` gives this policy). */
  inherited: ReadonlyMap<string, readonly string[]>;
  /** Parent policy name -> its flattened `endpoint-expiry` (its exceptions). */
  inheritedExpiry?: ReadonlyMap<string, Readonly<Record<string, string>>>;
  candidates: readonly EndpointCandidate[];
  /** Canonical endpoints to drop. */
  removals: readonly string[];
}

function matchingPattern(patterns: readonly string[], endpoint: Endpoint): string | undefined {
  return patterns.find((pattern) => isAllowed([endpointFromText(pattern)], endpoint.host, endpoint.port));
}

const dateOf = (expiry: Readonly<Record<string, string>> | undefined, endpoint: string): string | undefined =>
  expiry !== undefined && Object.hasOwn(expiry, endpoint) ? expiry[endpoint] : undefined;

/** What to add and remove. Removals are applied first, so an endpoint can be swapped for a narrower one. */
export function planEndpointChanges(input: EndpointChangeInput): EndpointChangePlan {
  const own = new Set(input.own);
  const remove: string[] = [];
  const notRemoved: SkippedEndpoint[] = [];
  for (const endpoint of new Set(input.removals)) {
    if (own.has(endpoint)) {
      remove.push(endpoint);
      continue;
    }
    const parent = [...input.inherited].find(([, endpoints]) => endpoints.includes(endpoint))?.[0];
    notRemoved.push({
      endpoint,
      reason: parent ? `comes from "extends: ${parent}": edit policy ${parent} to drop it` : 'is not in the policy\'s allowed-endpoints',
    });
  }
  const kept = input.own.filter((endpoint) => !remove.includes(endpoint));
  // Only entries without an end date allow a candidate for good.
  const keptForGood = kept.filter((endpoint) => dateOf(input.ownExpiry, endpoint) === undefined);
  const keptExceptions = kept.filter((endpoint) => dateOf(input.ownExpiry, endpoint) !== undefined);
  const inheritedForGood = [...input.inherited].map(([name, endpoints]) => [name, endpoints.filter((endpoint) => dateOf(input.inheritedExpiry?.get(name), endpoint) === undefined)] as const);
  const inheritedExceptions = [...input.inherited].map(([name, endpoints]) => [name, endpoints.filter((endpoint) => dateOf(input.inheritedExpiry?.get(name), endpoint) !== undefined)] as const);

  const add: PlannedEndpoint[] = [];
  const permanent: PermanentEndpoint[] = [];
  const skipped: SkippedEndpoint[] = [];
  const seen = new Set<string>();
  for (const candidate of [...input.candidates].sort((a, b) => (a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : 0))) {
    if (seen.has(candidate.endpoint)) continue;
    seen.add(candidate.endpoint);
    const endpoint = endpointFromText(candidate.endpoint);
    const implicit = implicitPatternFor(endpoint.host, endpoint.port);
    if (implicit) {
      skipped.push({ endpoint: candidate.endpoint, reason: `Harden-Runner's agent allows it by itself (${implicit.text})` });
      continue;
    }
    if (remove.includes(candidate.endpoint)) {
      skipped.push({ endpoint: candidate.endpoint, reason: 'is also being removed (--remove wins)' });
      continue;
    }
    const mine = matchingPattern(keptForGood, endpoint);
    if (mine) {
      skipped.push({ endpoint: candidate.endpoint, reason: mine === candidate.endpoint ? 'already allowed' : `already allowed by ${mine}` });
      continue;
    }
    const parent = inheritedForGood.map(([name, endpoints]) => [name, matchingPattern(endpoints, endpoint)] as const).find(([, pattern]) => pattern);
    if (parent) {
      skipped.push({ endpoint: candidate.endpoint, reason: `already allowed through extends: ${parent[0]} (${parent[1]})` });
      continue;
    }
    const ownDate = dateOf(input.ownExpiry, candidate.endpoint);
    if (ownDate !== undefined && keptExceptions.includes(candidate.endpoint)) {
      // The policy's own exception for this very endpoint: keep the entry (reason, owner), drop its date.
      permanent.push({ ...candidate, expires: ownDate });
      continue;
    }
    const planned: PlannedEndpoint = { ...candidate };
    const ownException = matchingPattern(keptExceptions, endpoint);
    if (ownException) {
      planned.exception = { endpoint: ownException, expires: dateOf(input.ownExpiry, ownException) as string };
    } else {
      for (const [name, endpoints] of inheritedExceptions) {
        const pattern = matchingPattern(endpoints, endpoint);
        if (pattern) {
          planned.exception = { endpoint: pattern, expires: dateOf(input.inheritedExpiry?.get(name), pattern) as string, parent: name };
          break;
        }
      }
    }
    add.push(planned);
  }
  return { add, permanent, remove, skipped, notRemoved };
}

type Range = [number, number, number];

function lineEnding(text: string): string {
  return text.includes('\r\n') ? '\r\n' : '\n';
}

function lineStart(text: string, offset: number): number {
  return text.lastIndexOf('\n', offset - 1) + 1;
}

function lineEnd(text: string, offset: number): number {
  const end = text.indexOf('\n', offset);
  return end === -1 ? text.length : end + 1;
}

function parsePolicyText(text: string) {
  const doc = parseDocument(text, { uniqueKeys: false });
  if (doc.errors.length > 0) throw new Error(`the policy file does not parse (${doc.errors[0]?.message.split('\n')[0]}): fix it first (egressctl validate)`);
  const root = doc.contents;
  if (!isMap(root) || root.flow) throw new Error('the policy file is not a block mapping: write it in block style to edit it with egressctl');
  const pair = root.items.find((item) => isScalar(item.key) && item.key.value === 'allowed-endpoints') as Pair | undefined;
  return { pair };
}

function canonical(raw: unknown): string | undefined {
  return typeof raw === 'string' ? parseEndpoint(raw).endpoint?.text : undefined;
}

/** Cut [start, end) spans out of `text` (spans do not overlap). */
function cut(text: string, spans: [number, number][]): string {
  let out = text;
  for (const [start, end] of [...spans].sort((a, b) => b[0] - a[0])) out = out.slice(0, start) + out.slice(end);
  return out;
}

/** Replace the value of `allowed-endpoints` with `[]` (the list became empty), keeping the key line's comment. */
function emptyList(text: string, pair: Pair): string {
  const value = pair.value as { range?: Range } | null;
  const keyStart = (pair.key as { range?: Range }).range?.[0] ?? 0;
  const keyLineEnd = lineEnd(text, keyStart);
  const keyLine = text.slice(lineStart(text, keyStart), keyLineEnd).replace(/\r?\n$/, '');
  const comment = /\s(#.*)$/.exec(keyLine.slice(keyLine.indexOf(':') + 1))?.[1];
  const end = value?.range ? lineEnd(text, Math.max(value.range[1] - 1, keyStart)) : keyLineEnd;
  const header = `${keyLine.slice(0, keyLine.indexOf(':') + 1)} []${comment ? `  ${comment}` : ''}${lineEnding(text)}`;
  return text.slice(0, lineStart(text, keyStart)) + header + text.slice(Math.max(end, keyLineEnd));
}

/** Drop entries from a block list (their lines, with a comment on the same line) or from a string. */
function removeEntries(text: string, remove: ReadonlySet<string>): string {
  if (remove.size === 0) return text;
  const { pair } = parsePolicyText(text);
  const value = pair?.value;
  if (!pair || !value) return text;
  if (isSeq(value)) {
    if (value.flow && value.items.length > 0) throw new Error('allowed-endpoints is a flow list: write it in block style to edit it with egressctl');
    const spans: [number, number][] = [];
    let left = 0;
    for (const item of value.items) {
      const raw = isScalar(item) ? item.value : isMap(item) ? item.get('endpoint') : undefined;
      const range = (item as { range?: Range }).range;
      const endpoint = canonical(raw);
      if (!range || endpoint === undefined || !remove.has(endpoint)) {
        left += 1;
        continue;
      }
      spans.push([lineStart(text, range[0]), lineEnd(text, Math.max(range[1] - 1, range[0]))]);
    }
    const edited = cut(text, spans);
    if (left > 0) return edited;
    return emptyList(edited, parsePolicyText(edited).pair ?? pair);
  }
  if (isScalar(value) && typeof value.value === 'string' && value.range) {
    const [start, end] = value.range;
    const source = text.slice(start, end);
    const block = value.type === Scalar.BLOCK_FOLDED || value.type === Scalar.BLOCK_LITERAL;
    const spans: [number, number][] = [];
    let kept = 0;
    // Endpoints hold no quotes or escapes, so the tokens of the source are the tokens of the value.
    for (const match of source.matchAll(/[^\s"']+/g)) {
      const tokenStart = start + (match.index ?? 0);
      if (block && tokenStart < lineEnd(text, start)) continue; // the `>-` header
      const endpoint = canonical(match[0]);
      if (endpoint === undefined || !remove.has(endpoint)) {
        kept += 1;
        continue;
      }
      const tokenEnd = tokenStart + match[0].length;
      const from = lineStart(text, tokenStart);
      const to = lineEnd(text, tokenStart);
      if (text.slice(from, to).trim() === match[0] && block) {
        spans.push([from, to]);
        continue;
      }
      // The token and the blanks before it (or after it, when it starts the value).
      let cutStart = tokenStart;
      while (cutStart > start && (text[cutStart - 1] === ' ' || text[cutStart - 1] === '\t')) cutStart -= 1;
      let cutEnd = tokenEnd;
      if (cutStart === start || text[cutStart - 1] === '\n' || text[cutStart - 1] === '"' || text[cutStart - 1] === "'") {
        cutStart = tokenStart;
        while (text[cutEnd] === ' ' || text[cutEnd] === '\t') cutEnd += 1;
      }
      spans.push([cutStart, cutEnd]);
    }
    const edited = cut(text, spans);
    if (kept > 0) return edited;
    return emptyList(edited, parsePolicyText(edited).pair ?? pair);
  }
  return text;
}

/**
 * Drop the `expires` line of the policy's own exception items for `endpoints`, so they count for
 * good and keep their reason and owner. An item whose `expires` does not sit alone on its line (a
 * flow mapping, or `- expires:` first) cannot lose it by cutting a line: it is returned to be
 * replaced by a plain entry instead.
 */
function dropExpiryLines(text: string, endpoints: ReadonlySet<string>): { text: string; replace: { endpoint: string; reason?: string }[] } {
  if (endpoints.size === 0) return { text, replace: [] };
  const { pair } = parsePolicyText(text);
  const list = pair?.value;
  const spans: [number, number][] = [];
  const replace: { endpoint: string; reason?: string }[] = [];
  const handled = new Set<string>();
  for (const item of isSeq(list) ? list.items : []) {
    if (!isMap(item)) continue;
    const endpoint = canonical(item.get('endpoint'));
    if (endpoint === undefined || !endpoints.has(endpoint)) continue;
    const expires = item.items.find((entry) => isScalar(entry.key) && entry.key.value === 'expires');
    const keyRange = (expires?.key as { range?: Range } | undefined)?.range;
    const valueRange = (expires?.value as { range?: Range } | undefined)?.range;
    if (!expires || !keyRange || !valueRange) continue;
    handled.add(endpoint);
    const start = lineStart(text, keyRange[0]);
    if (!item.flow && !(list as { flow?: boolean }).flow && text.slice(start, keyRange[0]).trim() === '') {
      spans.push([start, lineEnd(text, Math.max(valueRange[1] - 1, valueRange[0]))]);
      continue;
    }
    const reason = item.get('reason');
    replace.push(typeof reason === 'string' ? { endpoint, reason } : { endpoint });
  }
  // An exception this function cannot find (a file edited meanwhile) is replaced, never left with its date.
  for (const endpoint of endpoints) if (!handled.has(endpoint)) replace.push({ endpoint });
  return { text: cut(text, spans), replace };
}

export interface EndpointListEdit {
  text: string;
}

/**
 * Make `permanent` (the policy's own exceptions, canonical) count for good by dropping their
 * `expires`, remove `remove` from the policy text's `allowed-endpoints`, then append `add`. Throws
 * for a file it cannot edit faithfully (does not parse, flow mapping or flow list).
 */
export function editEndpointList(
  text: string,
  change: { add: readonly EndpointCandidate[]; remove: readonly string[]; permanent?: readonly EndpointCandidate[] },
): EndpointListEdit {
  const permanent = change.permanent ?? [];
  const dropped = dropExpiryLines(text, new Set(permanent.map((entry) => entry.endpoint)));
  const removed = removeEntries(dropped.text, new Set([...change.remove, ...dropped.replace.map((entry) => entry.endpoint)]));
  const replacements = dropped.replace.map((entry) => {
    const source = permanent.find((candidate) => candidate.endpoint === entry.endpoint)?.source;
    const was = `was an exception${entry.reason === undefined ? '' : `: ${entry.reason}`}`;
    return { endpoint: entry.endpoint, source: source === undefined ? was : `${source}; ${was}` };
  });
  const add = [...change.add, ...replacements];
  if (add.length === 0) return { text: removed };
  const entries = add.map((entry) => (entry.source ? { endpoint: entry.endpoint, comment: entry.source } : { endpoint: entry.endpoint }));
  return { text: addEndpoints(removed, entries).text };
}
