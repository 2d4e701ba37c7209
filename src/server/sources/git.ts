/**
 * A git work tree as the bundle source: compile the head of the checked-out branch and again on
 * every new commit. New commits are noticed through file-system events on the refs (loose refs
 * under refs/heads, packed-refs, HEAD; for a linked worktree HEAD lives in its own git dir and
 * the refs in the common dir), with a slow poll as the fallback for file systems without events.
 */
import type { KeyObject } from 'node:crypto';
import path from 'node:path';
import type { Logger } from 'pino';
import { gitText, isAncestor } from '../../util/git.js';
import { messageOf, type BundleStore, type Ordering } from '../store.js';
import { compileSource } from './compile.js';
import { WatchedSource } from './source.js';

export interface GitSourceOptions {
  dir: string;
  store: BundleStore;
  logger: Logger;
  signKeys?: readonly KeyObject[];
  allowRewind?: boolean;
  /** Fallback poll (default 10 s). */
  pollIntervalMs?: number;
}

export class GitSource extends WatchedSource {
  readonly kind = 'git';
  /** The last head looked at, compiled or not: a refused commit is not retried until the head moves. */
  private lastHead: string | undefined;
  private readonly ordering: Ordering;

  constructor(private readonly options: GitSourceOptions) {
    super(options.dir, { debounceMs: 15, pollIntervalMs: options.pollIntervalMs ?? 10_000 });
    const dir = options.dir;
    this.ordering = {
      kind: 'git',
      allowRewind: options.allowRewind ?? false,
      async relation(served, candidate) {
        try {
          await gitText(dir, ['cat-file', '-e', `${served}^{commit}`]);
        } catch {
          return 'unknown';
        }
        return (await isAncestor(dir, served, candidate)) ? 'descendant' : 'not-descendant';
      },
    };
  }

  protected async watchForChanges(): Promise<void> {
    const { dir, logger } = this.options;
    let gitDir: string;
    let commonDir: string;
    try {
      gitDir = (await gitText(dir, ['rev-parse', '--absolute-git-dir'])).trim();
      commonDir = path.resolve(dir, (await gitText(dir, ['rev-parse', '--git-common-dir'])).trim());
    } catch (error) {
      logger.warn({ dir, err: messageOf(error) }, 'cannot find the git directory to watch: polling only');
      return;
    }
    const interesting = new Set(['HEAD', 'HEAD.lock', 'packed-refs', 'packed-refs.lock']);
    const onFailure = (target: string) => (error: unknown) => logger.warn({ target, err: messageOf(error) }, 'cannot watch: polling only');
    const add = (target: string, recursive: boolean, filter: (name: string | null) => boolean): void =>
      this.watchPath(target, recursive, filter, onFailure(target));
    add(gitDir, false, (name) => name === null || interesting.has(name));
    if (commonDir !== gitDir) add(commonDir, false, (name) => name === null || interesting.has(name));
    add(path.join(commonDir, 'refs', 'heads'), true, () => true);
  }

  protected async check(): Promise<void> {
    const { dir, store, signKeys } = this.options;
    let head: string;
    try {
      head = (await gitText(dir, ['rev-parse', '--verify', 'HEAD^{commit}'])).trim();
    } catch (error) {
      store.sourceError(`cannot read HEAD in ${dir}: ${messageOf(error)}`);
      return;
    }
    if (head === this.lastHead) {
      store.sourceOk();
      return;
    }
    let outcome;
    try {
      outcome = await compileSource(dir, head, signKeys ?? []);
    } catch (error) {
      // Reading the commit failed (git busy, object missing): try again on the next event or poll.
      store.sourceError(`cannot compile ${head}: ${messageOf(error)}`);
      return;
    }
    if (this.stopped) return;
    this.lastHead = head;
    store.sourceOk();
    if (!outcome.ok) {
      store.refuse('compile', outcome.message, 'git', head);
      return;
    }
    await store.offer(outcome.text, { origin: 'git', verify: false, ordering: this.ordering });
  }
}
