/**
 * Canonical JSON for bundles (docs/architecture.md#bundle): the same value always gives the same bytes, so a commit
 * compiles to a byte-identical bundle and a digest over it means something.
 *
 * RFC 8785 (JCS) for the JSON value domain we use:
 * - object members sorted by key, compared as UTF-16 code units (JavaScript's default sort, as
 *   RFC 8785 3.2.3 asks), at every depth; no whitespace anywhere;
 * - strings escaped as ECMAScript's JSON.stringify does (RFC 8785 3.2.2.2); lone surrogates are
 *   rejected because they have no UTF-8 encoding;
 * - numbers as ECMAScript prints them (shortest round-trip form; -0 prints as 0); NaN and
 *   Infinity are rejected;
 * - object members whose value is `undefined` are left out (optional fields), as JSON.stringify
 *   does; `undefined` anywhere else (array element, top level) is rejected rather than turned
 *   into `null`;
 * - only plain objects, arrays, strings, finite numbers, booleans and null: a Map, Date, class
 *   instance, bigint, function or symbol is rejected, as is a cycle. Output is UTF-8.
 */

export class CanonicalJsonError extends TypeError {
  /** Where the offending value is, e.g. `$.policies["base"]["allowed-endpoints"][2]`. */
  readonly path: string;
  constructor(path: string, problem: string) {
    super(`cannot write canonical JSON: ${path} ${problem}`);
    this.name = 'CanonicalJsonError';
    this.path = path;
  }
}

const ANY_SURROGATE = /[\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** The canonical JSON text of `value`. Throws CanonicalJsonError for values outside the domain. */
export function canonicalJson(value: unknown): string {
  const parts: string[] = [];
  // Path segments are kept as a stack and only formatted when something is wrong.
  const path: (string | number)[] = [];
  const ancestors = new Set<object>();

  const problem = (text: string): CanonicalJsonError => new CanonicalJsonError(formatPath(path), text);

  const writeString = (text: string): void => {
    // The cheap test first: almost no string has a surrogate at all.
    if (ANY_SURROGATE.test(text) && LONE_SURROGATE.test(text)) throw problem('is a string with a lone UTF-16 surrogate (not encodable as UTF-8)');
    parts.push(JSON.stringify(text));
  };

  const write = (current: unknown): void => {
    switch (typeof current) {
      case 'string':
        writeString(current);
        return;
      case 'number':
        if (!Number.isFinite(current)) throw problem(`is ${String(current)}: JSON has only finite numbers`);
        parts.push(JSON.stringify(current));
        return;
      case 'boolean':
        parts.push(current ? 'true' : 'false');
        return;
      case 'undefined':
        throw problem('is undefined: only object members may be left out; use null or drop the element');
      case 'bigint':
      case 'symbol':
      case 'function':
        throw problem(`is a ${typeof current}: not a JSON value`);
    }
    if (current === null) {
      parts.push('null');
      return;
    }
    const object = current as object;
    if (ancestors.has(object)) throw problem('refers back to one of its own ancestors (cycle)');
    ancestors.add(object);
    if (Array.isArray(object)) {
      parts.push('[');
      for (let index = 0; index < object.length; index++) {
        if (index > 0) parts.push(',');
        path.push(index);
        write(object[index]);
        path.pop();
      }
      parts.push(']');
    } else {
      const prototype = Object.getPrototypeOf(object) as unknown;
      if (prototype !== Object.prototype && prototype !== null) {
        const kind = (object as { constructor?: { name?: string } }).constructor?.name ?? 'object';
        throw problem(`is a ${kind}: only plain objects, arrays and primitives are JSON values`);
      }
      const record = object as Record<string, unknown>;
      const keys = Object.keys(record).sort();
      parts.push('{');
      let first = true;
      for (const key of keys) {
        const member = record[key];
        if (member === undefined) continue;
        if (!first) parts.push(',');
        first = false;
        path.push(key);
        writeString(key);
        parts.push(':');
        write(member);
        path.pop();
      }
      parts.push('}');
    }
    ancestors.delete(object);
  };

  write(value);
  return parts.join('');
}

/** `canonicalJson` as UTF-8 bytes: what digests and signatures are computed over. */
export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), 'utf8');
}

function formatPath(path: readonly (string | number)[]): string {
  let text = '$';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else if (IDENTIFIER.test(segment)) text += `.${segment}`;
    else text += `[${JSON.stringify(segment)}]`;
  }
  return text;
}
