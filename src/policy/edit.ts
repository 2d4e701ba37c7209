/**
 * GitOps edits as text splices: only the lines an edit owns change; every other byte (comments,
 * blank lines, quoting, line endings) stays. Pure: text in, text out.
 */
import { isMap, isPair, isScalar, LineCounter, parseDocument, type Pair, type YAMLMap } from 'yaml';
import { joinEndpoints } from './endpoint.js';
import { appendToEndpointString } from './endpoint-string-edit.js';
import { SCOPE_SECTIONS, type EgressMode, type ScopeType } from './model.js';

export interface AttachmentEdit {
  text: string;
  /** Policy the scope had before the edit, if any. */
  previous?: string;
}

function lineEnding(text: string): string {
  return text.includes('\r\n') ? '\r\n' : '\n';
}

function parse(text: string) {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: false });
  if (doc.errors.length > 0) {
    throw new Error(`attachments.yml does not parse (${doc.errors[0]?.message.split('\n')[0]}): fix it first (egressctl validate)`);
  }
  return { doc, lineCounter };
}

function findSection(root: unknown, type: ScopeType): Pair | undefined {
  if (!isMap(root)) return undefined;
  return root.items.find((pair) => isScalar(pair.key) && pair.key.value === SCOPE_SECTIONS[type]) as Pair | undefined;
}

function findScope(section: YAMLMap, key: string): Pair | undefined {
  return section.items.find((pair) => isScalar(pair.key) && String(pair.key.value).toLowerCase() === key.toLowerCase()) as Pair | undefined;
}

function lineStart(text: string, offset: number): number {
  return text.lastIndexOf('\n', offset - 1) + 1;
}

function lineEnd(text: string, offset: number): number {
  const end = text.indexOf('\n', offset);
  return end === -1 ? text.length : end + 1;
}

/** Attach `policy` to a scope: replace the value if the scope is attached, else add a line. */
export function setAttachment(text: string, type: ScopeType, key: string, policy: string): AttachmentEdit {
  const eol = lineEnding(text);
  const { doc } = parse(text);
  const sectionPair = findSection(doc.contents, type);
  const sectionName = SCOPE_SECTIONS[type];
  const line = `${key}: ${policy}`;

  if (!sectionPair) {
    const prefix = text === '' || text.endsWith('\n') ? text : `${text}${eol}`;
    const separator = prefix.trim() === '' ? '' : eol;
    const root = doc.contents;
    if (isMap(root) && root.flow) throw new Error('attachments.yml is a flow mapping: write it in block style to edit it with egressctl');
    return { text: `${prefix}${separator}${sectionName}:${eol}  ${line}${eol}` };
  }
  const section = sectionPair.value;
  if (isMap(section) && section.flow) throw new Error(`the ${sectionName} section is a flow mapping: write it in block style to edit it with egressctl`);
  if (isMap(section)) {
    const existing = findScope(section, key);
    if (existing && isScalar(existing.value) && existing.value.range) {
      const [start, end] = existing.value.range;
      const previous = String(existing.value.value);
      return { text: `${text.slice(0, start)}${policy}${text.slice(end)}`, previous };
    }
    // Append after the section's last entry, at its indentation.
    const last = section.items[section.items.length - 1];
    const keyRange = (last?.key as { range?: [number, number, number] } | undefined)?.range;
    const valueRange = (last?.value as { range?: [number, number, number] } | undefined)?.range;
    if (keyRange) {
      const indent = keyRange[0] - lineStart(text, keyRange[0]);
      const insertAt = lineEnd(text, valueRange ? Math.max(valueRange[1] - 1, keyRange[0]) : keyRange[0]);
      const before = text.slice(0, insertAt);
      const glue = before.endsWith('\n') ? '' : eol;
      return { text: `${before}${glue}${' '.repeat(indent)}${line}${eol}${text.slice(insertAt)}` };
    }
  }
  // An empty section (`repositories:` or `repositories: {}`): put the entry under it.
  const keyNode = sectionPair.key as { range?: [number, number, number] };
  const keyStart = keyNode.range?.[0] ?? 0;
  const indent = keyStart - lineStart(text, keyStart);
  const sectionLineEnd = lineEnd(text, keyStart);
  const header = `${' '.repeat(indent)}${sectionName}:`;
  const rest = text.slice(sectionLineEnd);
  const before = text.slice(0, lineStart(text, keyStart));
  const trailingComment = /#.*$/.exec(text.slice(keyStart, sectionLineEnd).replace(/\r?\n$/, ''))?.[0];
  return {
    text: `${before}${header}${trailingComment ? ` ${trailingComment}` : ''}${eol}${' '.repeat(indent + 2)}${line}${eol}${rest}`,
  };
}

/** Remove a scope's line (and a comment on the same line). */
export function removeAttachment(text: string, type: ScopeType, key: string): AttachmentEdit {
  const { doc } = parse(text);
  const sectionPair = findSection(doc.contents, type);
  const section = sectionPair?.value;
  if (!isMap(section)) return { text };
  const existing = findScope(section, key);
  if (!existing || !isPair(existing)) return { text };
  return { text: removePair(text, section, existing), previous: isScalar(existing.value) ? String(existing.value.value) : undefined };
}

/** A block entry goes with its lines; a flow entry (`{ a: x, b: y }`) alone, so the others on its line stay. */
function removePair(text: string, section: YAMLMap, pair: Pair): string {
  return section.flow ? removeFlowPair(text, section, pair) : removePairLines(text, pair);
}

function removeFlowPair(text: string, section: YAMLMap, pair: Pair): string {
  const keyRange = (pair.key as { range?: [number, number, number] }).range;
  const valueRange = (pair.value as { range?: [number, number, number] } | null)?.range;
  const mapRange = section.range;
  if (!keyRange || !mapRange) return text;
  if (section.items.length === 1) return `${text.slice(0, mapRange[0])}{}${text.slice(mapRange[1]).replace(/^[ \t]*\}/, '')}`;
  let start = keyRange[0];
  let end = valueRange ? valueRange[1] : keyRange[1];
  const after = /^[ \t]*,[ \t]*/.exec(text.slice(end));
  if (after) {
    end += after[0].length;
  } else {
    // The last entry: take the comma before it instead.
    const before = /,[ \t]*$/.exec(text.slice(0, start));
    if (before) start -= before[0].length;
  }
  return text.slice(0, start) + text.slice(end);
}

function removePairLines(text: string, pair: Pair): string {
  const keyRange = (pair.key as { range?: [number, number, number] }).range;
  const valueRange = (pair.value as { range?: [number, number, number] } | null)?.range;
  if (!keyRange) return text;
  const start = lineStart(text, keyRange[0]);
  const end = lineEnd(text, valueRange ? Math.max(valueRange[1] - 1, keyRange[0]) : keyRange[0]);
  return text.slice(0, start) + text.slice(end);
}

/** Every scope attached to `policy`, removed. Returns the removed scopes. */
export function removeAttachmentsOf(text: string, policy: string): { text: string; removed: { type: ScopeType; key: string }[] } {
  const removed: { type: ScopeType; key: string }[] = [];
  let current = text;
  for (const type of Object.keys(SCOPE_SECTIONS) as ScopeType[]) {
    for (;;) {
      const { doc } = parse(current);
      const section = findSection(doc.contents, type)?.value;
      if (!isMap(section)) break;
      const pair = section.items.find((item) => isScalar(item.value) && item.value.value === policy) as Pair | undefined;
      if (!pair || !isScalar(pair.key)) break;
      removed.push({ type, key: String(pair.key.value).toLowerCase() });
      current = removePair(current, section, pair);
    }
  }
  return { text: current, removed };
}

export interface NewPolicy {
  mode: EgressMode;
  endpoints: string[];
  description?: string;
  extends?: string[];
  /** Free text for a comment under the header (e.g. where endpoints came from). */
  comment?: string;
}

/** A new policy file in the house style: schema header, one endpoint per list item. */
export function renderPolicyFile(policy: NewPolicy): string {
  const lines = ['# yaml-language-server: $schema=../schemas/policy.schema.json'];
  if (policy.comment) for (const line of policy.comment.split('\n')) lines.push(`# ${line}`);
  if (policy.description) lines.push(`description: ${JSON.stringify(policy.description)}`);
  lines.push(`egress-policy: ${policy.mode}`);
  if (policy.extends && policy.extends.length > 0) {
    lines.push(policy.extends.length === 1 ? `extends: ${policy.extends[0]}` : `extends: [${policy.extends.join(', ')}]`);
  }
  const endpoints = joinEndpoints(policy.endpoints);
  if (endpoints !== '') {
    lines.push('allowed-endpoints:');
    // A plain scalar starting with `*` would be read as an alias: quote those.
    for (const endpoint of endpoints.split(' ')) lines.push(`  - ${endpoint.startsWith('*') ? JSON.stringify(endpoint) : endpoint}`);
  }
  return `${lines.join('\n')}\n`;
}

export interface EndpointsEdit {
  text: string;
  /** 1-based line of the first added entry (in the new text); undefined when nothing was added. */
  line: number | undefined;
}

/**
 * Add entries to a policy file's `allowed-endpoints` as text: after the list's last item at its
 * indentation (block style), or a new `allowed-endpoints:` block at the end of the file. Each
 * entry may carry a comment (why it is proposed). A flow list (`[a, b]`) is refused rather than
 * rewritten.
 */
export function addEndpoints(text: string, entries: readonly { endpoint: string; comment?: string }[]): EndpointsEdit {
  if (entries.length === 0) return { text, line: undefined };
  const eol = lineEnding(text);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: false });
  if (doc.errors.length > 0) throw new Error(`the policy file does not parse (${doc.errors[0]?.message.split('\n')[0]}): fix it first (egressctl validate)`);
  const root = doc.contents;
  if (!isMap(root) || root.flow) throw new Error('the policy file is not a block mapping: write it in block style to edit it with egressctl');
  const pair = root.items.find((item) => isScalar(item.key) && item.key.value === 'allowed-endpoints') as Pair | undefined;
  // A plain scalar starting with `*` would be read as an alias: quote those.
  const item = (indent: number, entry: { endpoint: string; comment?: string }) =>
    `${' '.repeat(indent)}- ${entry.endpoint.startsWith('*') ? JSON.stringify(entry.endpoint) : entry.endpoint}${entry.comment ? `  # ${entry.comment.replace(/[\r\n]+/g, ' ')}` : ''}${eol}`;
  const lineOf = (offset: number) => lineCounter.linePos(offset).line;

  // A string list keeps its form (entry comments have no place in it).
  if (pair && isScalar(pair.value) && typeof pair.value.value === 'string' && pair.value.range) {
    return appendToEndpointString(text, pair.value, entries.map((entry) => entry.endpoint));
  }
  const sequence = pair?.value as { items?: unknown[]; flow?: boolean; range?: [number, number, number] } | null | undefined;
  // An empty flow list (`[]`) is replaced below; a non-empty one would have to be rewritten.
  if (sequence && sequence.flow && (sequence.items?.length ?? 0) > 0) throw new Error('allowed-endpoints is a flow list: write it in block style to edit it with egressctl');
  const items = (sequence?.items ?? []) as { range?: [number, number, number] }[];
  const last = items[items.length - 1];
  if (pair && last?.range) {
    const itemStart = lineStart(text, last.range[0]);
    // The `- ` marker sits before the item's value on its line.
    const dash = text.lastIndexOf('-', last.range[0]);
    const indent = dash >= itemStart ? dash - itemStart : 2;
    const insertAt = lineEnd(text, Math.max(last.range[1] - 1, last.range[0]));
    const before = text.slice(0, insertAt);
    const glue = before.endsWith('\n') ? '' : eol;
    const added = entries.map((entry) => item(indent, entry)).join('');
    return { text: `${before}${glue}${added}${text.slice(insertAt)}`, line: lineOf(insertAt) + (glue ? 1 : 0) };
  }
  if (pair) {
    // `allowed-endpoints:` with nothing under it: the entries go right below the key.
    const keyStart = (pair.key as { range?: [number, number, number] }).range?.[0] ?? 0;
    const insertAt = lineEnd(text, keyStart);
    const keyLine = text.slice(lineStart(text, keyStart), insertAt).replace(/\r?\n$/, '');
    const comment = /\s(#.*)$/.exec(keyLine)?.[1];
    const header = `${keyLine.slice(0, keyLine.indexOf(':') + 1)}${comment ? `  ${comment}` : ''}`;
    const before = text.slice(0, lineStart(text, keyStart));
    const added = entries.map((entry) => item(2, entry)).join('');
    return { text: `${before}${header}${eol}${added}${text.slice(insertAt)}`, line: lineOf(lineStart(text, keyStart)) + 1 };
  }
  const prefix = text === '' || text.endsWith('\n') ? text : `${text}${eol}`;
  const added = entries.map((entry) => item(2, entry)).join('');
  const firstLine = prefix.split('\n').length + 1;
  return { text: `${prefix}allowed-endpoints:${eol}${added}`, line: firstLine };
}
