/**
 * A directory that is not a git repository: its files are compiled as they are, with revision
 * `worktree-<content digest>` (there is no commit), and again when they change. Without history
 * there is no "older": different content replaces the served bundle.
 */
import type { KeyObject } from 'node:crypto';
import path from 'node:path';
import type { Logger } from 'pino';
import { ATTACHMENTS_FILE, BASELINES_DIR, POLICIES_DIR, SETTINGS_FILE } from '../../policy/model.js';
import { type BundleStore } from '../store.js';
import { sealSource } from './seal.js';
import { WatchedSource } from './source.js';
import { messageOf } from '../../util/errors.js';

export interface WorktreeSourceOptions {
  dir: string;
  store: BundleStore;
  logger: Logger;
  signKeys?: readonly KeyObject[];
  pollIntervalMs?: number;
}

export class WorktreeSource extends WatchedSource {
  readonly kind = 'worktree';
  private lastRevision: string | undefined;
  private lastProblem: string | undefined;

  constructor(private readonly options: WorktreeSourceOptions) {
    super(options.dir, { debounceMs: 50, pollIntervalMs: options.pollIntervalMs ?? 10_000 });
  }

  protected watchForChanges(): void {
    const { dir } = this.options;
    const topLevel = new Set([ATTACHMENTS_FILE, SETTINGS_FILE, POLICIES_DIR, BASELINES_DIR]);
    this.watchPath(dir, false, (name) => name === null || topLevel.has(name));
    this.watchPath(path.join(dir, POLICIES_DIR), false, () => true);
    this.watchPath(path.join(dir, BASELINES_DIR), true, () => true);
  }

  protected async check(): Promise<void> {
    const { dir, store, signKeys } = this.options;
    // As GitSource.check does for a commit (a failed read is a source error, retried at the next look).
    let outcome;
    try {
      outcome = await sealSource(dir, undefined, signKeys ?? []);
    } catch (error) {
      store.sourceError(`cannot read ${dir}: ${messageOf(error)}`);
      return;
    }
    store.sourceOk();
    if (!outcome.ok) {
      if (outcome.message !== this.lastProblem) store.refuse('compile', outcome.message, 'worktree');
      this.lastProblem = outcome.message;
      return;
    }
    this.lastProblem = undefined;
    // committedAt is the compile time, so equal content gives a different envelope text; the
    // revision (a content digest) is what says whether anything changed.
    if (outcome.revision === this.lastRevision) return;
    this.lastRevision = outcome.revision;
    await store.offer(outcome.text, { origin: 'worktree', verify: false, ordering: { kind: 'content' } });
  }
}
