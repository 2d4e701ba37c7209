/** Worker-thread entry of merge-thread.ts: one mergeBaselineText per message. */
import { parentPort } from 'node:worker_threads';
import { mergeBaselineText, type BaselineTextMerge } from './merge-text.js';

parentPort?.on('message', (input: BaselineTextMerge) => {
  try {
    parentPort?.postMessage({ ok: true, outcome: mergeBaselineText(input) });
  } catch (error) {
    parentPort?.postMessage({ ok: false, message: error instanceof Error ? error.message : String(error) });
  }
});
