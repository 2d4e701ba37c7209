/**
 * Reading YAML safely and keeping positions: size, encoding, tabs, syntax, duplicate keys and
 * alias bombs each become a located diagnostic, never an exception.
 */
import {
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Document,
  type Node as YamlNode,
} from 'yaml';
import type { DiagnosticSink, SourcePosition } from './diagnostics.js';
import { messageOf } from '../util/errors.js';

export const MAX_FILE_BYTES = 1024 * 1024;
/**
 * attachments.yml of an enterprise (20,000 workflow attachments) is a few MiB by nature; it gets
 * a larger cap, still far below anything that could exhaust memory.
 */
export const MAX_ATTACHMENTS_BYTES = 32 * 1024 * 1024;
/** Aliases are fine for sharing lists; thousands of expansions are an attack. */
const MAX_ALIAS_COUNT = 100;

export interface YamlFile {
  file: string;
  text: string;
  doc: Document.Parsed;
  lineCounter: LineCounter;
  /** Plain JS value, or undefined when the file could not be read safely. */
  value: unknown;
}

export interface ParseYamlOptions {
  /**
   * Report duplicate keys only in mappings above this depth (0 = top level). attachments.yml
   * checks its scope keys itself, case-insensitively and naming both lines.
   */
  duplicateKeysMaxDepth?: number;
}

/** Decode bytes as UTF-8, reporting the position of the first invalid sequence. */
export function decodeUtf8(file: string, bytes: Uint8Array, sink: DiagnosticSink, maxBytes = MAX_FILE_BYTES): string | undefined {
  if (bytes.byteLength > maxBytes) {
    sink.error(
      'yaml/too-large',
      { file, line: 1, column: 1 },
      `file is ${bytes.byteLength} bytes, over the ${maxBytes / 1024 / 1024} MiB limit: split it (one policy per file) or remove unused entries`,
    );
    return undefined;
  }
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return text.startsWith('\uFEFF') ? text.slice(1) : text;
  } catch {
    const at = firstInvalidUtf8(bytes);
    sink.error('yaml/encoding', { file, ...at }, 'file is not valid UTF-8: save it as UTF-8');
    return undefined;
  }
}

/** Line and column (in characters) of the first byte that breaks UTF-8. */
function firstInvalidUtf8(bytes: Uint8Array): { line: number; column: number } {
  let line = 1;
  let column = 1;
  let index = 0;
  while (index < bytes.length) {
    const byte = bytes[index] ?? 0;
    const length = byte < 0x80 ? 1 : byte >= 0xc2 && byte <= 0xdf ? 2 : byte >= 0xe0 && byte <= 0xef ? 3 : byte >= 0xf0 && byte <= 0xf4 ? 4 : 0;
    if (length === 0) return { line, column };
    for (let next = 1; next < length; next++) {
      const continuation = bytes[index + next];
      if (continuation === undefined || (continuation & 0xc0) !== 0x80) return { line, column };
    }
    if (length > 1) {
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(index, index + length));
      } catch {
        return { line, column }; // overlong forms and surrogates
      }
    }
    if (byte === 0x0a) {
      line++;
      column = 1;
    } else {
      column += length === 4 ? 2 : 1;
    }
    index += length;
  }
  return { line, column };
}

export function parseYaml(file: string, text: string, sink: DiagnosticSink, options: ParseYamlOptions = {}): YamlFile {
  const lineCounter = new LineCounter();
  // Tabs as indentation: report each line ourselves, the parser stops at the first.
  const lines = text.split('\n');
  let firstTabLine = Number.POSITIVE_INFINITY;
  lines.forEach((lineText, index) => {
    const match = /^( *)\t/.exec(lineText);
    if (match) {
      firstTabLine = Math.min(firstTabLine, index + 1);
      sink.error(
        'yaml/tab-indent',
        { file, line: index + 1, column: (match[1]?.length ?? 0) + 1 },
        'tab used for indentation: YAML allows only spaces; replace the tab with spaces',
      );
    }
  });

  const doc = parseDocument(text, { lineCounter, uniqueKeys: false, prettyErrors: false, strict: true });
  for (const error of doc.errors) {
    if (error.code === 'TAB_AS_INDENT') continue;
    const position = lineCounter.linePos(error.pos[0]);
    // From a tab on, the parser's errors are that tab's knock-ons (keys that "need values",
    // sequence items "not at the same column"): the tab's own error is the one cause.
    if (position.line >= firstTabLine) continue;
    const message = (error.message.split('\n')[0] ?? error.message).replace(/ at line \d+, column \d+:?$/, '');
    sink.error('yaml/syntax', { file, line: position.line, column: position.col }, `${message}: fix the YAML syntax here`);
  }
  for (const warning of doc.warnings) {
    const position = lineCounter.linePos(warning.pos[0]);
    sink.warning('yaml/syntax', { file, line: position.line, column: position.col }, warning.message.split('\n')[0] ?? warning.message);
  }
  const yamlFile: YamlFile = { file, text, doc, lineCounter, value: undefined };
  if (doc.errors.length > 0 || sink.items.some((item) => item.file === file && item.code === 'yaml/tab-indent')) {
    return yamlFile;
  }

  reportDuplicateKeys(yamlFile, doc.contents, 0, options.duplicateKeysMaxDepth ?? Number.POSITIVE_INFINITY, sink);
  try {
    yamlFile.value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    const aliasBomb = error instanceof ReferenceError;
    sink.error(
      aliasBomb ? 'yaml/alias-bomb' : 'yaml/syntax',
      { file, line: 1, column: 1 },
      aliasBomb
        ? `aliases expand to too many nodes (limit ${MAX_ALIAS_COUNT}): write the values out instead of nesting anchors`
        : `cannot read this YAML: ${messageOf(error)}`,
    );
  }
  return yamlFile;
}

function reportDuplicateKeys(
  yamlFile: YamlFile,
  node: unknown,
  depth: number,
  maxDepth: number,
  sink: DiagnosticSink,
): void {
  if (depth > maxDepth) return;
  if (isMap(node)) {
    const seen = new Map<string, SourcePosition>();
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      const keyNode = pair.key;
      if (isScalar(keyNode)) {
        const key = String(keyNode.value);
        const at = positionOf(yamlFile, keyNode);
        const first = seen.get(key);
        if (first) {
          sink.error(
            'yaml/duplicate-key',
            at,
            `"${key}" is already set at line ${first.line}: keep one of the two`,
          );
        } else {
          seen.set(key, at);
        }
      }
      reportDuplicateKeys(yamlFile, pair.value, depth + 1, maxDepth, sink);
    }
  } else if (isSeq(node)) {
    for (const item of node.items) reportDuplicateKeys(yamlFile, item, depth + 1, maxDepth, sink);
  }
}

/** 1-based line and column of a node's first character. */
export function positionOf(yamlFile: Pick<YamlFile, 'file' | 'lineCounter'>, node: { range?: unknown } | null | undefined): SourcePosition {
  const range = node?.range as [number, number, number] | undefined;
  if (!range) return { file: yamlFile.file, line: 1, column: 1 };
  const { line, col } = yamlFile.lineCounter.linePos(range[0]);
  return { file: yamlFile.file, line, column: col };
}

/** Position of an offset in the file. */
export function positionAtOffset(yamlFile: Pick<YamlFile, 'file' | 'lineCounter'>, offset: number): SourcePosition {
  const { line, col } = yamlFile.lineCounter.linePos(offset);
  return { file: yamlFile.file, line, column: col };
}

/**
 * The node at a JSON-pointer-like path (as ajv reports it). For a missing key, the closest
 * existing ancestor, so a "missing key" error points at the mapping that lacks it.
 */
export function nodeAtPath(doc: Document.Parsed, path: readonly (string | number)[]): YamlNode | undefined {
  let node: unknown = doc.contents;
  for (const segment of path) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
      if (!pair) break;
      node = pair.value ?? pair.key;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment];
      if (item === undefined) break;
      node = item;
    } else {
      break;
    }
  }
  return (node ?? undefined) as YamlNode | undefined;
}

/** The key node of `path`'s last segment, for findings about a key itself (unknown key). */
export function keyNodeAtPath(doc: Document.Parsed, path: readonly (string | number)[], key: string): YamlNode | undefined {
  const parent = nodeAtPath(doc, path);
  if (!isMap(parent)) return parent;
  const pair = parent.items.find((item) => isScalar(item.key) && String(item.key.value) === key);
  return (pair?.key as YamlNode | undefined) ?? parent;
}
