/**
 * Two small guards around webhook handling:
 * - DeliveryLog: GitHub may deliver an event more than once (and a proxy may retry); a bounded,
 *   least-recently-used set of delivery ids makes each one run once. A delivery that failed is
 *   forgotten, so that a redelivery (same id) can try again.
 * - KeyedQueue: work on one repository runs one task at a time (the mirror's git locks, the
 *   "find our comment, else create it" step and publish ordering all need it); different
 *   repositories run in parallel.
 */
import { BoundedMap } from '../util/bounded-map.js';

export class DeliveryLog {
  private readonly ids: BoundedMap<string, true>;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, not ${capacity}`);
    this.ids = new BoundedMap(capacity);
  }

  /** True when `id` is new (and now recorded); false when it was seen already. */
  claim(id: string): boolean {
    // get() refreshes: a redelivered id stays remembered as long as it keeps coming.
    if (this.ids.get(id)) return false;
    this.ids.set(id, true);
    return true;
  }

  /** Forget `id` (its handling failed: a redelivery should run again). */
  release(id: string): void {
    this.ids.delete(id);
  }

  get size(): number {
    return this.ids.size;
  }
}

export class KeyedQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** Run `task` after every task queued before it under `key`; settle with its outcome. */
  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(task, task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Resolves once every task queued so far has settled. */
  async idle(): Promise<void> {
    while (this.tails.size > 0) await Promise.all([...this.tails.values()]);
  }

  get busy(): number {
    return this.tails.size;
  }
}
