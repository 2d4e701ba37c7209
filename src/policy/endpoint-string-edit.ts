/**
 * Appending names to an `allowed-endpoints` written as a string (`a b c`, `"a b"`, or a `>` / `|`
 * block), keeping that form: the names go into the string rather than a list replacing it. Pure.
 */
import { Scalar } from 'yaml';

type Range = [number, number, number];

function lineEnd(text: string, offset: number): number {
  const end = text.indexOf('\n', offset);
  return end === -1 ? text.length : end + 1;
}

/** `text` with `names` appended to the string `scalar` (a node of `text`); `line` is where they went (1-based). */
export function appendToEndpointString(text: string, scalar: Scalar, names: readonly string[]): { text: string; line: number } {
  const range = scalar.range as Range;
  const joined = names.join(' ');
  const lineAt = (offset: number) => text.slice(0, offset).split('\n').length;
  if (scalar.type === Scalar.BLOCK_FOLDED || scalar.type === Scalar.BLOCK_LITERAL) {
    const eol = text.includes('\r\n') ? '\r\n' : '\n';
    // After the last non-blank content line, at its indentation (blank lines kept after it).
    const contentStart = lineEnd(text, range[0]);
    let offset = contentStart;
    let insertAt = contentStart;
    let indent = '  ';
    for (const line of text.slice(contentStart, range[1]).split('\n')) {
      if (line.trim() !== '') {
        insertAt = Math.min(offset + line.length + 1, text.length);
        indent = /^[ \t]*/.exec(line)?.[0] ?? indent;
      }
      offset += line.length + 1;
    }
    const before = text.slice(0, insertAt);
    const glue = before.endsWith('\n') ? '' : eol;
    return { text: `${before}${glue}${indent}${joined}${eol}${text.slice(insertAt)}`, line: lineAt(insertAt) + (glue ? 1 : 0) };
  }
  const quoted = scalar.type === Scalar.QUOTE_DOUBLE || scalar.type === Scalar.QUOTE_SINGLE;
  const insertAt = quoted ? range[1] - 1 : range[1];
  const separator = scalar.value === '' ? '' : ' ';
  return { text: `${text.slice(0, insertAt)}${separator}${joined}${text.slice(insertAt)}`, line: lineAt(insertAt) };
}
