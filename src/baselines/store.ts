/**
 * The edge: baseline files in a policy repository's work tree. Reads, merges through the pure
 * functions, writes atomically (temp file, fsync, rename) keeping the file's comments.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DiagnosticSink, formatDiagnostic, type Diagnostic, type Result } from '../policy/diagnostics.js';
import { BASELINES_DIR, DEFAULT_SETTINGS, SETTINGS_FILE } from '../policy/model.js';
import { parseSettingsFile } from '../policy/settings-file.js';
import { InvalidInputError, IoError, messageOf } from '../util/errors.js';
import { mergeObservations, type MergeOutcome } from './merge.js';
import { baselinePath, emptyBaselineFile, type BaselineFile, type Observation } from './model.js';
import { parseBaselineFile } from './parse.js';
import { indexBaselineTexts, type BaselineIndex, type RecommendOptions } from './recommend.js';
import { oversizeProblem, renderBaselineFile } from './render.js';
import { writeFileAtomic } from '../util/fs.js';

function isMissing(error: unknown): boolean {
  return error instanceof Error && 'code' in error && (error as NodeJS.ErrnoException).code === 'ENOENT';
}


export interface StoredBaseline {
  /** Repository-relative path, `baselines/<owner>/<repo>.yml`. */
  path: string;
  file: BaselineFile;
  /** The text on disk; undefined when the file does not exist yet. */
  text?: string;
  warnings: Diagnostic[];
}

function invalid(path: string, errors: readonly Diagnostic[]): InvalidInputError {
  return new InvalidInputError(`${path} is not a valid baseline file; fix it first:\n${errors.map(formatDiagnostic).join('\n')}`);
}

/** Read `baselines/<owner>/<repo>.yml` under `dir`; an empty baseline when it does not exist. Throws InvalidInputError when it is invalid. */
export async function readStoredBaseline(dir: string, repository: string): Promise<StoredBaseline> {
  const path = baselinePath(repository);
  let text: string;
  try {
    text = await readFile(join(dir, path), 'utf8');
  } catch (error) {
    if (isMissing(error)) return { path, file: emptyBaselineFile(repository), warnings: [] };
    throw new IoError(`cannot read ${path}: ${messageOf(error)}`, { cause: error });
  }
  const result = parseBaselineFile(text, path);
  if (result.errors.length > 0) throw invalid(path, result.errors);
  return { path, file: result.value, text, warnings: result.warnings };
}

export interface StoredMerge extends MergeOutcome {
  path: string;
  /** False when nothing changed: the file was left untouched (same bytes, same mtime). */
  written: boolean;
  warnings: Diagnostic[];
}

/**
 * Merge runs of one repository into its baseline file under `dir` and write it back (only when
 * something changed). Many observations in one call cost one read and one write.
 */
export async function mergeIntoBaselineDir(dir: string, repository: string, observations: Iterable<Observation>): Promise<StoredMerge> {
  const stored = await readStoredBaseline(dir, repository);
  const outcome = mergeObservations(stored.file, observations);
  if (!outcome.changed) return { ...outcome, path: stored.path, written: false, warnings: stored.warnings };
  const text = renderBaselineFile(outcome.file, stored.text);
  if (text === stored.text) return { ...outcome, path: stored.path, written: false, warnings: stored.warnings };
  const oversize = oversizeProblem(stored.path, text);
  if (oversize) throw new InvalidInputError(oversize);
  await writeFileAtomic(join(dir, stored.path), text, { mkdirs: true });
  return { ...outcome, path: stored.path, written: true, warnings: stored.warnings };
}

/** Every `baselines/<owner>/<repo>.yml|yaml` under `dir`: repository-relative path -> text. */
export async function readBaselineTexts(dir: string): Promise<Map<string, string>> {
  const texts = new Map<string, string>();
  let owners: string[];
  try {
    owners = (await readdir(join(dir, BASELINES_DIR), { withFileTypes: true })).filter((entry) => entry.isDirectory()).map((entry) => entry.name);
  } catch (error) {
    if (isMissing(error)) return texts;
    throw new IoError(`cannot read ${BASELINES_DIR}/: ${messageOf(error)}`, { cause: error });
  }
  for (const owner of owners.sort()) {
    const entries = await readdir(join(dir, BASELINES_DIR, owner), { withFileTypes: true });
    for (const entry of entries) {
      if (!entry.isFile() || !/\.ya?ml$/.test(entry.name)) continue;
      const path = `${BASELINES_DIR}/${owner}/${entry.name}`;
      texts.set(path, await readFile(join(dir, path), 'utf8'));
    }
  }
  return texts;
}

/** Parse and index every baseline file of the policy repository at `dir`. */
export async function readBaselineIndex(dir: string, options: RecommendOptions = {}): Promise<Result<BaselineIndex>> {
  return indexBaselineTexts(await readBaselineTexts(dir), options);
}

/**
 * `baselines.stable-after-runs` from the work tree's egressctl.yml (DEFAULT_SETTINGS when absent).
 * Read on its own so a broken policy elsewhere does not stop recommendations; when egressctl.yml
 * itself is invalid the default is used and its diagnostics are returned.
 */
export async function readStableAfterRuns(dir: string): Promise<{ stableAfterRuns: number; diagnostics: Diagnostic[] }> {
  let text: string;
  try {
    text = await readFile(join(dir, SETTINGS_FILE), 'utf8');
  } catch (error) {
    if (isMissing(error)) return { stableAfterRuns: DEFAULT_SETTINGS.stableAfterRuns, diagnostics: [] };
    throw new IoError(`cannot read ${SETTINGS_FILE}: ${messageOf(error)}`, { cause: error });
  }
  const sink = new DiagnosticSink();
  const settings = parseSettingsFile(SETTINGS_FILE, text, sink);
  const stableAfterRuns = sink.hasErrors ? DEFAULT_SETTINGS.stableAfterRuns : settings.stableAfterRuns;
  return { stableAfterRuns, diagnostics: sink.items };
}
