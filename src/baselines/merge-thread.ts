/**
 * mergeBaselineText off the caller's event loop for large inputs: parsing and rendering a baseline
 * file near its size limit takes seconds, which the App's process must spend answering /healthz
 * and webhooks instead. Small inputs (the common case) run in-process: a thread costs more to start.
 * Workers come from a bounded pool (MergeWorkerPool): many merges asked for at once wait their turn.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { mergeBaselineText, type BaselineTextMerge, type BaselineTextOutcome } from './merge-text.js';

/** Inputs larger than this (previous text plus names of the runs, roughly in bytes) go to a worker. */
export const WORKER_THRESHOLD_BYTES = 64 * 1024;

function inputSize(input: BaselineTextMerge): number {
  let size = input.previous?.length ?? 0;
  for (const observation of input.observations) {
    for (const text of observation.endpoints) size += text.length + 40;
    for (const text of observation.blocked ?? []) size += text.length + 40;
  }
  return size;
}

/**
 * The worker: the compiled .js next to this module, or, when this module runs from its .ts source
 * (tests, `npm run bench`), that source through tsx's loader (a worker does not inherit it).
 */
function startWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./merge-worker.js', import.meta.url));
  const source = new URL('./merge-worker.ts', import.meta.url).href;
  const bootstrap = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(source)}); });`;
  return new Worker(bootstrap, { eval: true });
}

/**
 * How many merge workers run at once: EGRESSCTL_MERGE_WORKERS when set (a positive integer), else
 * one fewer than the cores Node may use (the event loop keeps one), at least one. Each worker holds
 * a whole baseline file parsed (tens of MiB near the size limit): unbounded, an import of many
 * files thrashed a small machine.
 */
export function mergeWorkerLimit(env: NodeJS.ProcessEnv = process.env): number {
  const configured = Number(env.EGRESSCTL_MERGE_WORKERS);
  if (Number.isInteger(configured) && configured >= 1) return configured;
  return Math.max(1, os.availableParallelism() - 1);
}

type WorkerReply = { ok: true; outcome: BaselineTextOutcome } | { ok: false; message: string };

/** A merge that failed inside mergeBaselineText: the worker is fine and is reused. */
class MergeFailedError extends Error {}

/** One merge on `worker`; rejects with MergeFailedError for the merge's own error, else the worker broke. */
function ask(worker: Worker, input: BaselineTextMerge): Promise<BaselineTextOutcome> {
  return new Promise<BaselineTextOutcome>((resolve, reject) => {
    const done = (): void => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    const onMessage = (reply: WorkerReply): void => {
      done();
      if (reply.ok) resolve(reply.outcome);
      else reject(new MergeFailedError(`merging ${input.path} failed: ${reply.message}`));
    };
    const onError = (error: Error): void => {
      done();
      reject(error);
    };
    const onExit = (code: number): void => {
      done();
      reject(new Error(`the baseline merge worker exited (${code}) before answering`));
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
    worker.postMessage(input);
  });
}

export interface MergePoolStats {
  limit: number;
  /** Workers alive now (busy or idle). */
  live: number;
  /** Most workers alive at once since the pool was made. */
  peak: number;
  /** Workers started since the pool was made (reused ones count once). */
  started: number;
}

/**
 * At most `limit` merge workers, reused from one merge to the next (starting one costs more than a
 * small merge); merges asked for beyond the limit wait their turn, first come first served. Idle
 * workers do not keep the process alive and end after `idleMs`.
 */
export class MergeWorkerPool {
  private readonly idle: Worker[] = [];
  private readonly waiting: ((worker: Worker | undefined) => void)[] = [];
  private readonly idleTimers = new Map<Worker, NodeJS.Timeout>();
  private live = 0;
  private peak = 0;
  private started = 0;

  constructor(
    readonly limit: number = mergeWorkerLimit(),
    private readonly idleMs = 30_000,
  ) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`the merge worker limit must be a positive integer, not ${limit}`);
  }

  async merge(input: BaselineTextMerge): Promise<BaselineTextOutcome> {
    const worker = await this.acquire();
    try {
      const outcome = await ask(worker, input);
      this.release(worker);
      return outcome;
    } catch (error) {
      if (error instanceof MergeFailedError) {
        this.release(worker);
      } else {
        this.discard(worker);
      }
      throw error;
    }
  }

  stats(): MergePoolStats {
    return { limit: this.limit, live: this.live, peak: this.peak, started: this.started };
  }

  /** End every idle worker now (tests, shutdown); busy ones end when their merge does not come back. */
  async close(): Promise<void> {
    const idle = this.idle.splice(0);
    for (const worker of idle) {
      clearTimeout(this.idleTimers.get(worker));
      this.idleTimers.delete(worker);
      this.live -= 1;
    }
    await Promise.all(idle.map((worker) => worker.terminate()));
  }

  private async acquire(): Promise<Worker> {
    const idle = this.idle.pop();
    if (idle) {
      clearTimeout(this.idleTimers.get(idle));
      this.idleTimers.delete(idle);
      idle.ref();
      return idle;
    }
    if (this.live < this.limit) return this.start();
    // Handed a worker by release(), or undefined when one was discarded: room to start another.
    const handed = await new Promise<Worker | undefined>((resolve) => this.waiting.push(resolve));
    if (handed) return handed;
    return this.start();
  }

  private start(): Worker {
    this.live += 1;
    this.started += 1;
    this.peak = Math.max(this.peak, this.live);
    const worker = startWorker();
    // An idle worker that dies (out of memory) leaves the pool; a busy one is answered by ask().
    worker.on('error', () => undefined);
    worker.on('exit', () => {
      const index = this.idle.indexOf(worker);
      if (index < 0) return;
      this.idle.splice(index, 1);
      clearTimeout(this.idleTimers.get(worker));
      this.idleTimers.delete(worker);
      this.live -= 1;
    });
    return worker;
  }

  private release(worker: Worker): void {
    const next = this.waiting.shift();
    if (next) {
      next(worker);
      return;
    }
    worker.unref();
    this.idle.push(worker);
    const timer = setTimeout(() => {
      const index = this.idle.indexOf(worker);
      if (index < 0) return;
      this.idle.splice(index, 1);
      this.idleTimers.delete(worker);
      this.live -= 1;
      void worker.terminate();
    }, this.idleMs);
    timer.unref();
    this.idleTimers.set(worker, timer);
  }

  private discard(worker: Worker): void {
    this.live -= 1;
    void worker.terminate();
    this.waiting.shift()?.(undefined);
  }
}

let sharedPool: MergeWorkerPool | undefined;

/** The process's pool (mergeWorkerLimit() workers), made on first use. */
export function mergeWorkerPool(): MergeWorkerPool {
  sharedPool ??= new MergeWorkerPool();
  return sharedPool;
}

/**
 * mergeBaselineText, in a worker of the pool when the input is large (`thresholdBytes`, default
 * WORKER_THRESHOLD_BYTES), else in-process. Many at once are fine: the pool bounds the workers.
 */
export async function mergeBaselineTextOffThread(input: BaselineTextMerge, options: { thresholdBytes?: number; pool?: MergeWorkerPool } = {}): Promise<BaselineTextOutcome> {
  if (inputSize(input) <= (options.thresholdBytes ?? WORKER_THRESHOLD_BYTES)) return mergeBaselineText(input);
  return (options.pool ?? mergeWorkerPool()).merge(input);
}
