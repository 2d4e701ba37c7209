/**
 * The one bounded map: a Map with a limit on entries and, optionally, on bytes (the cost the
 * caller gives each entry). When full, either the least recently used entry goes (`evict:
 * 'oldest'`, the default; Map keeps insertion order, so the first key is the least recent) or
 * everything goes (`evict: 'all'`, for a cache whose hit must stay one Map lookup: use `peek`).
 */
export interface BoundedMapOptions {
  /** Most entries held (at least 1). */
  maxEntries: number;
  /** Most bytes held, as the sum of the costs given to set(); unbounded when absent. */
  maxBytes?: number;
  /** What goes when an entry does not fit (default 'oldest'). */
  evict?: 'oldest' | 'all';
}

export class BoundedMap<K, V> {
  private readonly entries = new Map<K, { value: V; cost: number }>();
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly evictAll: boolean;
  private heldBytes = 0;

  constructor(options: BoundedMapOptions | number) {
    const { maxEntries, maxBytes = Infinity, evict = 'oldest' } = typeof options === 'number' ? { maxEntries: options } : options;
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError(`maxEntries must be a positive integer, not ${maxEntries}`);
    this.maxEntries = maxEntries;
    this.maxBytes = maxBytes;
    this.evictAll = evict === 'all';
  }

  get size(): number {
    return this.entries.size;
  }

  /** Sum of the costs of the entries held. */
  get bytes(): number {
    return this.heldBytes;
  }

  has(key: K): boolean {
    return this.entries.has(key);
  }

  /** The value, now the most recently used. */
  get(key: K): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  /** The value, without marking it used: one Map lookup. */
  peek(key: K): V | undefined {
    return this.entries.get(key)?.value;
  }

  /** Hold `value` under `key` (most recently used), making room first. */
  set(key: K, value: V, cost = 0): void {
    this.delete(key);
    if (this.evictAll) {
      if (this.entries.size >= this.maxEntries || this.heldBytes + cost > this.maxBytes) this.clear();
    } else {
      while (this.entries.size > 0 && (this.entries.size >= this.maxEntries || this.heldBytes + cost > this.maxBytes)) {
        const oldest = this.entries.keys().next();
        if (oldest.done) break;
        this.delete(oldest.value);
      }
    }
    this.entries.set(key, { value, cost });
    this.heldBytes += cost;
  }

  delete(key: K): void {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    this.entries.delete(key);
    this.heldBytes -= entry.cost;
  }

  /** The keys, least recently used first (does not refresh them). */
  keys(): IterableIterator<K> {
    return this.entries.keys();
  }

  clear(): void {
    this.entries.clear();
    this.heldBytes = 0;
  }
}
