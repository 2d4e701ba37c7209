import { describe, expect, it } from 'vitest';
import { BoundedMap } from '../../src/util/bounded-map.js';

describe('BoundedMap', () => {
  it('drops the least recently used entry when full; get() marks use, peek() does not', () => {
    const map = new BoundedMap<string, number>(2);
    map.set('a', 1);
    map.set('b', 2);
    expect(map.get('a')).toBe(1);
    map.set('c', 3);
    expect(map.has('b')).toBe(false);
    expect(map.peek('a')).toBe(1);
    map.set('d', 4);
    expect(map.has('a')).toBe(false);
    expect([map.peek('c'), map.peek('d')]).toEqual([3, 4]);
  });

  it('is bounded by bytes when asked, and counts what it holds', () => {
    const map = new BoundedMap<string, string>({ maxEntries: 10, maxBytes: 10 });
    map.set('a', 'x', 4);
    map.set('b', 'y', 4);
    expect(map.bytes).toBe(8);
    map.set('c', 'z', 4);
    expect(map.has('a')).toBe(false);
    expect(map.bytes).toBe(8);
    map.set('b', 'y2', 2);
    expect(map.bytes).toBe(6);
  });

  it("empties itself when full with evict: 'all'", () => {
    const map = new BoundedMap<string, number>({ maxEntries: 2, maxBytes: 100, evict: 'all' });
    map.set('a', 1, 10);
    map.set('b', 2, 10);
    map.set('b', 3, 10);
    expect(map.size).toBe(2);
    map.set('c', 4, 10);
    expect(map.size).toBe(1);
    expect(map.bytes).toBe(10);
    map.set('d', 5, 95);
    expect([map.size, map.bytes]).toEqual([1, 95]);
  });

  it('refuses a capacity below one', () => {
    expect(() => new BoundedMap(0)).toThrow(RangeError);
  });
});
