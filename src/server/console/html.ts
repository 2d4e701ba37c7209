/**
 * HTML building with escaping by default: every value interpolated into `html\`...\`` is escaped
 * unless it is already Html. Text from YAML, git (commit messages, author names) and the request
 * therefore cannot become markup by forgetting a call.
 */

/** A fragment of markup that is known to be safe (built by `html` or `raw`). */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

export type HtmlValue = Html | string | number | boolean | null | undefined | readonly HtmlValue[];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text for element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ESCAPES[char] as string);
}

function render(value: HtmlValue): string {
  if (value instanceof Html) return value.value;
  if (value === null || value === undefined || value === false || value === true) return '';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return escapeHtml(value);
  let out = '';
  for (const item of value) out += render(item);
  return out;
}

export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): Html {
  let out = strings[0] ?? '';
  for (let index = 0; index < values.length; index++) out += render(values[index]) + (strings[index + 1] ?? '');
  return new Html(out);
}

/** Markup written by this module's code (never data). */
export function raw(markup: string): Html {
  return new Html(markup);
}

/** Path plus a query string of the non-empty parameters, e.g. href('/', {q: 'a b'}) -> `/?q=a+b`. */
export function href(path: string, params: Record<string, string | number | undefined | null> = {}): string {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '') continue;
    query.set(key, String(value));
  }
  const text = query.toString();
  return text === '' ? path : `${path}?${text}`;
}

/** One path segment (a policy name, an owner) for a URL. */
export function segment(text: string): string {
  return encodeURIComponent(text);
}
