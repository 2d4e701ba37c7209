/**
 * One baseline file's whole update as text in, text out: parse the file as it is, merge the runs,
 * render keeping its comments, and check the size. Pure; the App runs it in a worker thread for
 * large files (merge-thread.ts) so its event loop keeps answering meanwhile.
 */
import { formatDiagnostic } from '../policy/diagnostics.js';
import { mergeObservations } from './merge.js';
import { emptyBaselineFile, type Observation } from './model.js';
import { parseBaselineFile } from './parse.js';
import { oversizeProblem, renderBaselineFile } from './render.js';

export interface BaselineTextMerge {
  repository: string;
  /** `baselines/<owner>/<repo>.yml`. */
  path: string;
  /** The file as it is; undefined when it does not exist yet. */
  previous: string | undefined;
  observations: readonly Observation[];
}

export interface BaselineTextOutcome {
  /** Runs merged (new run ids). */
  merged: number;
  /** Runs already in the file. */
  skipped: number;
  /** Names of the merged runs not stored (not valid names, or over the per-run cap). */
  dropped: number;
  /** The new text, when it differs from `previous`. */
  content?: string;
  /** Why the file was not updated (invalid, or it would grow past the size limit). */
  error?: string;
}

export function mergeBaselineText(input: BaselineTextMerge): BaselineTextOutcome {
  const { path, previous } = input;
  const parsed = previous === undefined ? undefined : parseBaselineFile(previous, path);
  if (parsed && parsed.errors.length > 0) {
    return { merged: 0, skipped: 0, dropped: 0, error: `${path} is invalid, not updated: ${parsed.errors.map(formatDiagnostic).join('; ')}` };
  }
  const outcome = mergeObservations(parsed?.value ?? emptyBaselineFile(input.repository), input.observations);
  const dropped = outcome.merged.reduce((sum, run) => sum + run.dropped, 0);
  if (!outcome.changed) return { merged: outcome.merged.length, skipped: outcome.skipped.length, dropped: 0 };
  const content = renderBaselineFile(outcome.file, previous);
  const oversize = oversizeProblem(path, content);
  if (oversize) return { merged: 0, skipped: outcome.skipped.length, dropped: 0, error: oversize };
  return { merged: outcome.merged.length, skipped: outcome.skipped.length, dropped, ...(content !== previous ? { content } : {}) };
}
