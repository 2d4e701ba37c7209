/**
 * Escaping for user-provided text (policy descriptions, scope keys, labels) in GitHub Markdown:
 * a `|` must not split a table cell, `<script>` must stay text, `@team` must not ping anyone.
 */

/** `1234567` -> `1,234,567` (Intl is slow to create and the renderers format thousands of numbers). */
export function formatNumber(count: number): string {
  return String(count).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Longest cell text before it is cut (with an ellipsis): keeps every table row bounded. */
export const MAX_CELL_TEXT = 200;

export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, Math.max(0, max - 1))}…`;
}

/** Text for Markdown (paragraphs and table cells): one line, Markdown and HTML inert. */
export function escapeMarkdown(text: string): string {
  return text
    .replace(/[\r\n\t\f\v\u2028\u2029]+/g, ' ')
    .replace(/[\\`*_{}[\]()#+!|~]/g, (char) => `\\${char}`)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    // A zero-width space after "@" stops GitHub from turning "@org/team" into a mention.
    .replace(/@/g, '@&#8203;');
}

/** Text inside an HTML element such as `<summary>`, where Markdown escapes do not apply. */
export function escapeHtml(text: string): string {
  return text
    .replace(/[\r\n\t\f\v\u2028\u2029]+/g, ' ')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;')
    .replace(/@/g, '@&#8203;');
}

/** Names, keys and endpoints that are safe verbatim inside a code span (and a table cell). */
const CODE_SAFE = /^[A-Za-z0-9._\-/:*#]+$/;

/** A name as a code span when it is plain, otherwise as escaped text. Cut at MAX_CELL_TEXT. */
export function code(text: string, max = MAX_CELL_TEXT): string {
  const cut = truncate(text, max);
  return CODE_SAFE.test(cut) ? `\`${cut}\`` : escapeMarkdown(cut);
}

/** The same inside HTML (`<summary>`). */
export function htmlCode(text: string, max = MAX_CELL_TEXT): string {
  return `<code>${escapeHtml(truncate(text, max))}</code>`;
}

/** Plain text for a table cell: one line, escaped, bounded. */
export function cell(text: string, max = MAX_CELL_TEXT): string {
  return escapeMarkdown(truncate(text, max));
}

/** A complete GFM table: header, separator, rows. Never emitted partially. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${headers.map((_, index) => cells[index] ?? '').join(' | ')} |`;
  return [line(headers), `|${headers.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n');
}
