/**
 * Text-level helpers for editing workflow files without re-serializing them: line index,
 * line-ending detection, splices, and YAML scalars rendered so that they read back as written.
 */
import { parse as parseYamlValue } from 'yaml';

/** Offsets of line starts; line and column conversions for located messages. */
export class LineIndex {
  readonly starts: number[] = [0];

  constructor(readonly text: string) {
    for (let index = 0; index < text.length; index++) {
      if (text.charCodeAt(index) === 10) this.starts.push(index + 1);
    }
  }

  get lineCount(): number {
    return this.starts.length;
  }

  /** 0-based line holding `offset`. */
  lineOf(offset: number): number {
    let low = 0;
    let high = this.starts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if ((this.starts[middle] ?? 0) <= offset) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  lineStart(line: number): number {
    return this.starts[line] ?? this.text.length;
  }

  /** Offset just past the line's content, before its `\r\n` or `\n`. */
  lineContentEnd(line: number): number {
    let end = line + 1 < this.starts.length ? (this.starts[line + 1] ?? this.text.length) - 1 : this.text.length;
    if (line + 1 < this.starts.length && end > 0 && this.text.charCodeAt(end - 1) === 13) end--;
    return end;
  }

  /** Offset of the next line's start (or the end of the text for the last line). */
  lineEnd(line: number): number {
    return line + 1 < this.starts.length ? (this.starts[line + 1] ?? this.text.length) : this.text.length;
  }

  lineText(line: number): string {
    return this.text.slice(this.lineStart(line), this.lineContentEnd(line));
  }

  column(offset: number): number {
    return offset - this.lineStart(this.lineOf(offset));
  }

  /** 1-based position, as diagnostics want it. */
  position(offset: number): { line: number; column: number } {
    const line = this.lineOf(offset);
    return { line: line + 1, column: offset - this.lineStart(line) + 1 };
  }

  /** The line of the last non-whitespace character before `end` (for node ranges with trailing newlines). */
  lastContentLine(start: number, end: number): number {
    let index = Math.min(end, this.text.length) - 1;
    while (index > start && /\s/.test(this.text[index] ?? '')) index--;
    return this.lineOf(Math.max(index, start));
  }

  isBlankOrComment(line: number): boolean {
    return /^\s*(#.*)?$/.test(this.lineText(line));
  }
}

/** The file's own line ending: CRLF when its first line break is CRLF. */
export function detectEol(text: string): '\n' | '\r\n' {
  const newline = text.indexOf('\n');
  return newline > 0 && text[newline - 1] === '\r' ? '\r\n' : '\n';
}

export interface TextEdit {
  start: number;
  end: number;
  text: string;
}

/**
 * Apply non-overlapping edits. Inserts at the same offset keep the order they were given in.
 * Throws on overlap: that is a bug in the caller, never a property of the input.
 */
export function applyEdits(text: string, edits: readonly TextEdit[]): string {
  const ordered = edits.map((edit, order) => ({ ...edit, order })).sort((a, b) => a.start - b.start || a.end - b.end || a.order - b.order);
  let output = '';
  let cursor = 0;
  for (const edit of ordered) {
    if (edit.start < cursor) throw new Error(`internal error: overlapping workflow edits at offset ${edit.start}`);
    output += text.slice(cursor, edit.start) + edit.text;
    cursor = edit.end;
  }
  return output + text.slice(cursor);
}

/** First characters that cannot start a plain scalar are excluded; the rest is checked by reading back. */
const PLAIN_CANDIDATE = /^[A-Za-z0-9_./$(~=+^-][^#\p{Cc}]*$/u;

/**
 * A string as a one-line YAML scalar (a block mapping value) that reads back as exactly that
 * string: plain when unambiguous, JSON-style double quotes otherwise (a YAML subset).
 */
export function renderScalar(value: string): string {
  const known = renderedScalars.get(value);
  if (known !== undefined) return known;
  const plainOk =
    PLAIN_CANDIDATE.test(value) && !/: |:$|\s$/.test(value) && readsBackAs(`key: ${value}`, value);
  const rendered = plainOk ? value : JSON.stringify(value);
  // The same few values (step name, audit/block, server URLs) recur in every job: read each back once.
  if (renderedScalars.size >= RENDERED_SCALARS_MAX) renderedScalars.clear();
  renderedScalars.set(value, rendered);
  return rendered;
}

const RENDERED_SCALARS_MAX = 1024;
const renderedScalars = new Map<string, string>();

/** Does `key: ...` parse to the expected string? */
function readsBackAs(source: string, expected: string): boolean {
  try {
    const parsed: unknown = parseYamlValue(source);
    return typeof parsed === 'object' && parsed !== null && (parsed as Record<string, unknown>).key === expected;
  } catch {
    return false;
  }
}

export function spaces(count: number): string {
  return ' '.repeat(Math.max(0, count));
}
