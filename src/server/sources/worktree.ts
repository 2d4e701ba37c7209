/**
 * A directory that is not a git repository: its files are compiled as they are, with revision
 * `worktree-<content digest>` (there is no commit), and again when they change. Without history
 * there is no "older": different content replaces the served bundle.
 */
import type { KeyObject } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { ATTACHMENTS_FILE, BASELINES_DIR, POLICIES_DIR, SETTINGS_FILE } from '../../policy/model.js';
import { messageOf, type BundleStore } from '../store.js';
import { compileSource } from './compile.js';
import { SerialTrigger, debounce, type BundleSource } from './source.js';

export interface WorktreeSourceOptions {
  dir: string;
  store: BundleStore;
  logger: Logger;
  signKeys?: readonly KeyObject[];
  pollIntervalMs?: number;
}

export class WorktreeSource implements BundleSource {
  readonly kind = 'worktree';
  readonly location: string;
  private readonly trigger: SerialTrigger;
  private readonly watchers: FSWatcher[] = [];
  private readonly onEvent: ReturnType<typeof debounce>;
  private poll: NodeJS.Timeout | undefined;
  private lastRevision: string | undefined;
  private lastProblem: string | undefined;
  private stopped = false;

  constructor(private readonly options: WorktreeSourceOptions) {
    this.location = options.dir;
    this.trigger = new SerialTrigger(() => this.check());
    this.onEvent = debounce(() => void this.trigger.fire(), 50);
  }

  async start(): Promise<void> {
    await this.trigger.fire();
    const { dir } = this.options;
    const topLevel = new Set([ATTACHMENTS_FILE, SETTINGS_FILE, POLICIES_DIR, BASELINES_DIR]);
    this.add(dir, false, (name) => name === null || topLevel.has(name));
    this.add(path.join(dir, POLICIES_DIR), false, () => true);
    this.add(path.join(dir, BASELINES_DIR), true, () => true);
    this.poll = setInterval(() => void this.trigger.fire(), this.options.pollIntervalMs ?? 10_000);
    this.poll.unref();
  }

  refresh(): Promise<void> {
    return this.trigger.fire();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.onEvent.cancel();
    if (this.poll) clearInterval(this.poll);
    for (const watcher of this.watchers) watcher.close();
  }

  private add(target: string, recursive: boolean, filter: (name: string | null) => boolean): void {
    try {
      const watcher = watch(target, { recursive, persistent: false }, (_event, name) => {
        if (filter(name === null ? null : String(name))) this.onEvent();
      });
      watcher.on('error', () => undefined);
      this.watchers.push(watcher);
    } catch {
      // A directory that does not exist yet (no baselines/): the poll covers it.
    }
  }

  private async check(): Promise<void> {
    if (this.stopped) return;
    const { dir, store, signKeys } = this.options;
    let outcome;
    try {
      outcome = await compileSource(dir, undefined, signKeys ?? []);
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
