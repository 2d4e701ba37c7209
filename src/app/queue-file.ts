/**
 * The embedded work queue (docs/github-app.md, "Durable work"): items live in memory and in an
 * append-only journal in the state directory, one JSON record a line, written and fdatasync'd
 * before `add` resolves. Concurrent adds share one write and one sync (group commit), so a
 * burst of webhooks costs one disk flush, not one each. A crash can tear only the last line,
 * which loading ignores. When most of the journal is history, it is rewritten as a snapshot of
 * what is live (atomically: a temporary file, fsync, rename). No service to run; one replica.
 */
import { mkdir, open, readFile, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { BoundedMap } from '../util/bounded-map.js';
import { messageOf } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import {
  backoffDelay,
  DEFAULT_BACKOFF,
  HELD,
  WorkNotReadyError,
  type BackoffPolicy,
  type BatchOptions,
  type FanInDone,
  type FanInFailure,
  type NewWork,
  type QueueFailure,
  type WorkItem,
  type WorkLease,
  type WorkQueue,
} from './queue.js';

export const JOURNAL_FILE = 'journal.jsonl';

type JournalRecord =
  | { op: 'add'; item: WorkItem }
  | { op: 'done'; ids: string[] }
  | { op: 'fail'; id: string; attempts: number; notBefore: number; error: string; waiting?: boolean }
  | { op: 'fanin'; id: string; payload: unknown; expected: string[]; settled?: string[]; failures?: FanInFailure[] }
  | { op: 'fanin-expect'; id: string; units: string[] }
  | { op: 'fanin-settle'; id: string; unit: string; failures: FanInFailure[] }
  | { op: 'fanin-done'; id: string };

interface FanIn {
  payload: unknown;
  expected: Set<string>;
  settled: Set<string>;
  failures: FanInFailure[];
}

export interface FileWorkQueueOptions {
  /** Where the journal lives; undefined: memory only (tests, and `probot run` without a state directory). */
  dir?: string;
  /** How many done ids are remembered to drop a second `add`. Default 10,000. */
  rememberDone?: number;
  /** Items handled at once, across keys. Default 8. */
  concurrency?: number;
  onError?: (item: WorkItem, error: unknown) => void;
  now?: () => number;
}

interface Handler {
  run: (item: WorkItem, lease: WorkLease) => Promise<void>;
  backoff: BackoffPolicy;
}

interface BatchHandler {
  run: (items: WorkItem[], lease: WorkLease) => Promise<void>;
  options: BatchOptions;
  timer?: NodeJS.Timeout;
  lastRun: number;
  running?: Promise<void>;
}

export class FileWorkQueue implements WorkQueue {
  readonly description: string;
  private readonly items = new Map<string, WorkItem>();
  private readonly done: BoundedMap<string, true>;
  private readonly fanIns = new Map<string, FanIn>();
  private readonly fanInsDone = new BoundedMap<string, true>(10_000);
  private readonly handlers = new Map<string, Handler>();
  private readonly batches = new Map<string, BatchHandler>();
  private readonly runningKeys = new Set<string>();
  private readonly running = new Map<string, Promise<void>>();
  private journal: Journal | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly now: () => number;

  private constructor(private readonly options: FileWorkQueueOptions) {
    this.done = new BoundedMap(options.rememberDone ?? 10_000);
    this.now = options.now ?? Date.now;
    this.description = options.dir ? `journal ${path.join(options.dir, JOURNAL_FILE)}` : 'memory (not durable)';
  }

  /** A queue in memory only: nothing survives the process (tests; an App without a state directory). */
  static memory(options: Omit<FileWorkQueueOptions, 'dir'> = {}): FileWorkQueue {
    return new FileWorkQueue(options);
  }

  /** Open (or create) the journal in `options.dir` and load what it holds. */
  static async open(options: FileWorkQueueOptions = {}): Promise<FileWorkQueue> {
    if (!options.dir) return new FileWorkQueue(options);
    await mkdir(options.dir, { recursive: true });
    const file = path.join(options.dir, JOURNAL_FILE);
    const records = await readJournal(file);
    const queue = new FileWorkQueue(options);
    for (const record of records) queue.apply(record);
    queue.journal = await Journal.open(file, () => queue.snapshot());
    return queue;
  }

  private apply(record: JournalRecord): void {
    if (record.op === 'add') {
      if (!this.done.peek(record.item.id)) this.items.set(record.item.id, record.item);
    } else if (record.op === 'done') {
      for (const id of record.ids) {
        this.items.delete(id);
        this.done.set(id, true);
      }
    } else if (record.op === 'fail') {
      const item = this.items.get(record.id);
      if (item) Object.assign(item, { attempts: record.attempts, notBefore: record.notBefore, lastError: record.error, waiting: record.waiting === true });
    } else this.applyFanIn(record);
  }

  /** A fan-in record, in memory; the settle that leaves nothing expected returns the fan-in. */
  private applyFanIn(record: Extract<JournalRecord, { op: `fanin${string}` }>): FanIn | undefined {
    if (this.fanInsDone.peek(record.id)) return undefined;
    if (record.op === 'fanin') {
      const fanIn = this.fanIns.get(record.id) ?? { payload: record.payload, expected: new Set<string>(), settled: new Set(record.settled ?? []), failures: [...(record.failures ?? [])] };
      for (const unit of record.expected) if (!fanIn.settled.has(unit)) fanIn.expected.add(unit);
      this.fanIns.set(record.id, fanIn);
      return undefined;
    }
    const fanIn = this.fanIns.get(record.id);
    if (!fanIn) return undefined;
    if (record.op === 'fanin-expect') {
      for (const unit of record.units) if (!fanIn.settled.has(unit)) fanIn.expected.add(unit);
      return undefined;
    }
    if (record.op === 'fanin-done') {
      this.fanIns.delete(record.id);
      this.fanInsDone.set(record.id, true);
      return undefined;
    }
    if (fanIn.settled.has(record.unit)) return undefined;
    fanIn.settled.add(record.unit);
    fanIn.expected.delete(record.unit);
    fanIn.failures.push(...record.failures);
    return fanIn.expected.size === 0 ? fanIn : undefined;
  }

  async openFanIn(id: string, payload: unknown, expected: readonly string[]): Promise<void> {
    const record: JournalRecord = { op: 'fanin', id, payload, expected: [...expected] };
    this.applyFanIn(record);
    await this.journal?.append([record]);
  }

  async expectInFanIn(id: string, units: readonly string[], countPrefix = ''): Promise<number> {
    const record: JournalRecord = { op: 'fanin-expect', id, units: [...units] };
    this.applyFanIn(record);
    await this.journal?.append([record]);
    const fanIn = this.fanIns.get(id);
    return fanIn ? [...fanIn.expected, ...fanIn.settled].filter((unit) => unit.startsWith(countPrefix)).length : 0;
  }

  async settleInFanIn<P>(id: string, unit: string, failures: readonly FanInFailure[]): Promise<FanInDone<P> | undefined> {
    const record: JournalRecord = { op: 'fanin-settle', id, unit, failures: [...failures] };
    const complete = this.applyFanIn(record);
    if (!complete) {
      await this.journal?.append([record]);
      return undefined;
    }
    this.applyFanIn({ op: 'fanin-done', id });
    await this.journal?.append([record, { op: 'fanin-done', id }]);
    return { payload: complete.payload as P, failures: complete.failures };
  }

  /** What the journal is rewritten to: the live items, and the done ids still remembered. */
  private snapshot(): JournalRecord[] {
    return [
      { op: 'done', ids: [...this.done.keys()] },
      ...[...this.items.values()].map((item): JournalRecord => ({ op: 'add', item })),
      ...[...this.fanIns].map(([id, fanIn]): JournalRecord => ({ op: 'fanin', id, payload: fanIn.payload, expected: [...fanIn.expected], settled: [...fanIn.settled], failures: fanIn.failures })),
    ];
  }

  async add<T>(work: NewWork<T>): Promise<boolean> {
    if (this.items.has(work.id) || this.done.peek(work.id)) return false;
    const item: WorkItem = { ...work, attempts: 0, notBefore: 0, addedAt: this.now() };
    this.items.set(item.id, item);
    try {
      await this.journal?.append([{ op: 'add', item }]);
    } catch (error) {
      this.items.delete(item.id);
      throw error;
    }
    this.schedule(item.kind);
    return true;
  }

  handle<T>(kind: string, handler: (item: WorkItem<T>, lease: WorkLease) => Promise<void>, backoff: BackoffPolicy = DEFAULT_BACKOFF): void {
    this.handlers.set(kind, { run: handler as (item: WorkItem, lease: WorkLease) => Promise<void>, backoff });
    this.schedule(kind);
  }

  handleBatches<T>(kind: string, options: BatchOptions, handler: (items: WorkItem<T>[], lease: WorkLease) => Promise<void>): void {
    this.batches.set(kind, { run: handler as (items: WorkItem[], lease: WorkLease) => Promise<void>, options, lastRun: 0 });
    this.schedule(kind);
  }

  private schedule(kind: string): void {
    if (this.closed) return;
    if (this.batches.has(kind)) this.scheduleBatch(kind);
    else this.pump();
  }

  /** Start every ready item whose key is free, up to the concurrency. */
  private pump(): void {
    if (this.closed) return;
    const limit = this.options.concurrency ?? 8;
    const now = this.now();
    let nextRetry = Infinity;
    for (const item of this.items.values()) {
      if (this.running.size >= limit) break;
      const handler = this.handlers.get(item.kind);
      if (!handler || this.running.has(item.id) || this.runningKeys.has(`${item.kind}\0${item.key}`)) continue;
      if (item.notBefore > now) {
        nextRetry = Math.min(nextRetry, item.notBefore);
        continue;
      }
      this.start(item, handler);
    }
    if (nextRetry !== Infinity) this.wakeAt(nextRetry);
  }

  private wakeAt(at: number): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.pump();
    }, Math.max(0, at - this.now()));
    this.retryTimer.unref?.();
  }

  private start(item: WorkItem, handler: Handler): void {
    const keyed = `${item.kind}\0${item.key}`;
    this.runningKeys.add(keyed);
    const work = (async () => {
      try {
        // One replica: no other run can take the item.
        await handler.run(item, HELD);
        this.items.delete(item.id);
        this.done.set(item.id, true);
        await this.journal?.append([{ op: 'done', ids: [item.id] }]);
      } catch (error) {
        item.attempts += 1;
        item.lastError = messageOf(error);
        item.waiting = error instanceof WorkNotReadyError;
        item.notBefore = this.now() + backoffDelay(handler.backoff, item.attempts);
        this.options.onError?.(item, error);
        await this.journal?.append([{ op: 'fail', id: item.id, attempts: item.attempts, notBefore: item.notBefore, error: item.lastError, ...(item.waiting ? { waiting: true } : {}) }]).catch(() => undefined);
      }
    })();
    this.running.set(item.id, work);
    void work.finally(() => {
      this.running.delete(item.id);
      this.runningKeys.delete(keyed);
      this.pump();
    });
  }

  private scheduleBatch(kind: string): void {
    const batch = this.batches.get(kind);
    if (!batch || batch.timer || batch.running || this.closed) return;
    if (![...this.items.values()].some((item) => item.kind === kind)) return;
    // A whole interval from the first item (collect the rest of the run), never sooner than an interval after the last batch.
    const delay = Math.max(batch.options.intervalMs, batch.lastRun + batch.options.intervalMs - this.now());
    batch.timer = setTimeout(() => {
      batch.timer = undefined;
      void this.flush(kind);
    }, delay);
    batch.timer.unref?.();
  }

  async flush(kind: string): Promise<void> {
    const batch = this.batches.get(kind);
    if (!batch) return;
    if (batch.running) {
      await batch.running;
      return;
    }
    if (batch.timer) clearTimeout(batch.timer);
    batch.timer = undefined;
    const items = [...this.items.values()].filter((item) => item.kind === kind);
    if (items.length === 0) return;
    batch.running = (async () => {
      try {
        await batch.run(items, HELD);
        for (const item of items) {
          this.items.delete(item.id);
          this.done.set(item.id, true);
        }
        await this.journal?.append([{ op: 'done', ids: items.map((item) => item.id) }]);
      } catch (error) {
        const message = messageOf(error);
        for (const item of items) Object.assign(item, { attempts: item.attempts + 1, lastError: message });
        this.options.onError?.(items[0]!, error);
        await this.journal
          ?.append(items.map((item): JournalRecord => ({ op: 'fail', id: item.id, attempts: item.attempts, notBefore: 0, error: message })))
          .catch(() => undefined);
      } finally {
        batch.lastRun = this.now();
        batch.running = undefined;
        this.scheduleBatch(kind);
      }
    })();
    await batch.running;
  }

  async retryNow(kind: string): Promise<void> {
    const now = this.now();
    for (const item of this.items.values()) if (item.kind === kind && item.lastError !== undefined && item.notBefore > now) item.notBefore = now;
    this.pump();
  }

  async pending(kind?: string): Promise<number> {
    return this.pendingNow(kind);
  }

  /** Synchronous count (this backend keeps everything in memory). */
  pendingNow(kind?: string): number {
    if (kind === undefined) return this.items.size;
    let count = 0;
    for (const item of this.items.values()) if (item.kind === kind) count++;
    return count;
  }

  async claim(): Promise<boolean> {
    return true;
  }

  async release(): Promise<void> {
    // One replica: nothing was held.
  }

  async failures(): Promise<QueueFailure[]> {
    return [...this.items.values()]
      .filter((item) => item.lastError !== undefined && !item.waiting)
      .map((item) => ({ id: item.id, kind: item.kind, key: item.key, attempts: item.attempts, lastError: item.lastError! }));
  }

  async idle(): Promise<void> {
    for (;;) {
      const now = this.now();
      const ready = [...this.items.values()].some((item) => this.handlers.has(item.kind) && item.notBefore <= now && !this.running.has(item.id));
      if (this.running.size === 0 && !ready) return;
      if (this.running.size > 0) await Promise.all([...this.running.values()]);
      else await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async close(graceMs = 10_000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    for (const batch of this.batches.values()) if (batch.timer) clearTimeout(batch.timer);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
      timer.unref?.();
    });
    const finish = (async () => {
      await Promise.all([...this.running.values()]);
      // A last batch of each kind: what it cannot commit stays journaled for the next start.
      for (const kind of this.batches.keys()) await this.flush(kind);
    })();
    await Promise.race([finish, deadline]);
    clearTimeout(timer);
    await this.journal?.close();
  }
}

async function readJournal(file: string): Promise<JournalRecord[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const records: JournalRecord[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      records.push(JSON.parse(line) as JournalRecord);
    } catch {
      // A line torn by a crash mid-write: it was never acknowledged (add resolves after the sync).
    }
  }
  return records;
}

/** The journal file: appends with group commit, and compaction into a snapshot. */
class Journal {
  private buffer: { lines: string; resolve: () => void; reject: (error: unknown) => void }[] = [];
  private writing: Promise<void> | undefined;
  private appendedSinceSnapshot = 0;

  private constructor(
    private readonly file: string,
    private handle: FileHandle,
    private readonly snapshot: () => JournalRecord[],
    private bytes: number,
  ) {}

  static async open(file: string, snapshot: () => JournalRecord[]): Promise<Journal> {
    const journal = new Journal(file, await open(file, 'a'), snapshot, (await stat(file)).size);
    // Start from a compact file: the history of the last run is not needed.
    await journal.compact();
    return journal;
  }

  /** Resolves once the records are on disk (written and fdatasync'd). */
  append(records: JournalRecord[]): Promise<void> {
    const lines = records.map((record) => `${JSON.stringify(record)}\n`).join('');
    return new Promise<void>((resolve, reject) => {
      this.buffer.push({ lines, resolve, reject });
      this.writing ??= this.drain();
    });
  }

  private async drain(): Promise<void> {
    while (this.buffer.length > 0) {
      const group = this.buffer;
      this.buffer = [];
      try {
        const text = group.map((entry) => entry.lines).join('');
        await this.handle.write(text);
        await this.handle.datasync();
        this.bytes += Buffer.byteLength(text);
        this.appendedSinceSnapshot += group.length;
        for (const entry of group) entry.resolve();
      } catch (error) {
        for (const entry of group) entry.reject(error);
      }
      // Mostly history: rewrite it as what is live (between groups, so no append is lost).
      if (this.appendedSinceSnapshot > 5_000 && this.bytes > 4 * 1024 * 1024) await this.compact().catch(() => undefined);
    }
    this.writing = undefined;
  }

  private async compact(): Promise<void> {
    const text = this.snapshot()
      .map((record) => `${JSON.stringify(record)}\n`)
      .join('');
    await writeFileAtomic(this.file, text);
    await this.handle.close();
    this.handle = await open(this.file, 'a');
    this.bytes = Buffer.byteLength(text);
    this.appendedSinceSnapshot = 0;
  }

  async close(): Promise<void> {
    while (this.writing) await this.writing;
    await this.handle.close();
  }
}
