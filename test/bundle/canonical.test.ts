import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CanonicalJsonError, canonicalBytes, canonicalJson } from '../../src/bundle/canonical.js';

/** The same value with every object's keys inserted in a different order. */
function reverseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reverseKeys);
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).reverse();
    return Object.fromEntries(entries.map(([key, member]) => [key, reverseKeys(member)]));
  }
  return value;
}

describe('canonicalJson', () => {
  it('sorts keys at every depth and writes no whitespace', () => {
    const value = { b: 1, a: { z: [3, { y: true, x: null }], m: 'text' }, c: [] };
    expect(canonicalJson(value)).toBe('{"a":{"m":"text","z":[3,{"x":null,"y":true}]},"b":1,"c":[]}');
  });

  it('orders keys by UTF-16 code units as RFC 8785 does (an astral character before U+FB33)', () => {
    const value = { '\ufb33': 1, '\ud83d\ude00': 2, '\u20ac': 3, '\u00f6': 4, '\u0080': 5, '1': 6, '\r': 7 };
    const keys = Object.keys(JSON.parse(canonicalJson(value)) as object);
    expect(keys).toEqual(['1', '\r', '\u0080', '\u00f6', '\u20ac', '\ud83d\ude00', '\ufb33']);
    // JSON.parse re-orders integer-like keys, so check the text as well.
    expect(canonicalJson(value).startsWith('{"\\r":7,"1":6,"\u0080":5')).toBe(true);
  });

  it('writes numbers in ECMAScript shortest form (RFC 8785 appendix B values)', () => {
    expect(canonicalJson([-0, 0, 1e21, 1e-7, 0.000001, Number('333333333.33333329'), 5e-324, 1.7976931348623157e308, 100, -1.5])).toBe(
      '[0,0,1e+21,1e-7,0.000001,333333333.3333333,5e-324,1.7976931348623157e+308,100,-1.5]',
    );
  });

  it('escapes strings like JSON.stringify and keeps other characters as UTF-8', () => {
    expect(canonicalJson('a"b\\c\n\t\u000f\u001f\u007f\u2028é€😀')).toBe('"a\\"b\\\\c\\n\\t\\u000f\\u001f\u007f\u2028é€😀"');
    expect(canonicalBytes({ k: 'é' })).toEqual(Buffer.from([0x7b, 0x22, 0x6b, 0x22, 0x3a, 0x22, 0xc3, 0xa9, 0x22, 0x7d]));
  });

  it('leaves out members whose value is undefined, and accepts null-prototype objects and shared references', () => {
    const shared = { x: 1 };
    const bare = Object.create(null) as Record<string, unknown>;
    bare.b = shared;
    bare.a = undefined;
    expect(canonicalJson({ bare, again: shared, missing: undefined })).toBe('{"again":{"x":1},"bare":{"b":{"x":1}}}');
  });

  it.each([
    ['NaN', { a: [1, Number.NaN] }, '$.a[1] is NaN'],
    ['Infinity', { a: Number.POSITIVE_INFINITY }, '$.a is Infinity'],
    ['undefined in an array', { list: [1, undefined] }, '$.list[1] is undefined'],
    ['undefined at the top', undefined, '$ is undefined'],
    ['a bigint', { n: 10n }, '$.n is a bigint'],
    ['a function', { f: () => 1 }, '$.f is a function'],
    ['a symbol', [Symbol('s')], '$[0] is a symbol'],
    ['a Map', { 'odd key': new Map() }, '$["odd key"] is a Map'],
    ['a Date', { when: new Date(0) }, '$.when is a Date'],
    ['a lone surrogate in a value', { s: 'a\ud800b' }, '$.s is a string with a lone UTF-16 surrogate'],
    ['a lone surrogate in a key', { ['\udc00']: 1 }, 'lone UTF-16 surrogate'],
  ])('rejects %s with the path to it', (_name, value, message) => {
    expect(() => canonicalJson(value)).toThrow(CanonicalJsonError);
    expect(() => canonicalJson(value)).toThrow(message);
  });

  it('rejects cycles', () => {
    const cyclic: Record<string, unknown> = { a: { b: [] } };
    ((cyclic.a as Record<string, unknown>).b as unknown[]).push(cyclic);
    expect(() => canonicalJson(cyclic)).toThrow('$.a.b[0] refers back to one of its own ancestors (cycle)');
  });

  it('is independent of key insertion order and round-trips through JSON.parse (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonicalJson(value);
        expect(canonicalJson(reverseKeys(value))).toBe(text);
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)));
        expect(canonicalJson(JSON.parse(text))).toBe(text);
        expect(text).not.toMatch(/[\n]/);
      }),
      { numRuns: 300 },
    );
  });
});
