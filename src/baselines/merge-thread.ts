/**
 * mergeBaselineText off the caller's event loop for large inputs: parsing and rendering a baseline
 * file near its size limit takes seconds, which the App's process must spend answering /healthz
 * and webhooks instead. Small inputs (the common case) run in-process: a thread costs more to start.
 */
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

export async function mergeBaselineTextOffThread(input: BaselineTextMerge, options: { thresholdBytes?: number } = {}): Promise<BaselineTextOutcome> {
  if (inputSize(input) <= (options.thresholdBytes ?? WORKER_THRESHOLD_BYTES)) return mergeBaselineText(input);
  const worker = startWorker();
  try {
    return await new Promise<BaselineTextOutcome>((resolve, reject) => {
      worker.once('message', (reply: { ok: true; outcome: BaselineTextOutcome } | { ok: false; message: string }) => {
        if (reply.ok) resolve(reply.outcome);
        else reject(new Error(`merging ${input.path} failed: ${reply.message}`));
      });
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the baseline merge worker exited (${code}) before answering`)));
      worker.postMessage(input);
    });
  } finally {
    await worker.terminate();
  }
}
