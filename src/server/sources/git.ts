/**
 * A git work tree as the bundle source: compile the head of the checked-out branch and again on
 * every new commit. New commits are noticed through file-system events on the refs (loose refs
 * under refs/heads, packed-refs, HEAD; for a linked worktree HEAD lives in its own git dir and
 * the refs in the common dir), with a slow poll as the fallback for file systems without events.
 */
import type { KeyObject } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { gitText, isAncestor } from '../../util/git.js';
import { messageOf, type BundleStore, type Ordering } from '../store.js';
import { compileSource } from './compile.js';
import { SerialTrigger, debounce, type BundleSource } from './source.js';

export interface GitSourceOptions {
  dir: string;
  store: BundleStore;
  logger: Logger;
  signKeys?: readonly KeyObject[];
  allowRewind?: boolean;
  /** Fallback poll (default 10 s). */
  pollIntervalMs?: number;
}

export class GitSource implements BundleSource {
  readonly kind = 'git';
  readonly location: string;
  private readonly trigger: SerialTrigger;
  private readonly watchers: FSWatcher[] = [];
  private poll: NodeJS.Timeout | undefined;
  private readonly onEvent: ReturnType<typeof debounce>;
  /** The last head looked at, compiled or not: a refused commit is not retried until the head moves. */
  private lastHead: string | undefined;
  private stopped = false;
  private readonly ordering: Ordering;

  constructor(private readonly options: GitSourceOptions) {
    this.location = options.dir;
    this.trigger = new SerialTrigger(() => this.check());
    this.onEvent = debounce(() => void this.trigger.fire(), 15);
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

  async start(): Promise<void> {
    await this.trigger.fire();
    await this.watch();
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
    this.watchers.length = 0;
  }

  private async watch(): Promise<void> {
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
    const add = (target: string, recursive: boolean, filter: (name: string | null) => boolean): void => {
      try {
        const watcher = watch(target, { recursive, persistent: false }, (_event, name) => {
          if (filter(name === null ? null : String(name))) this.onEvent();
        });
        watcher.on('error', (error) => logger.warn({ target, err: messageOf(error) }, 'git watcher failed: polling only'));
        this.watchers.push(watcher);
      } catch (error) {
        logger.warn({ target, err: messageOf(error) }, 'cannot watch: polling only');
      }
    };
    add(gitDir, false, (name) => name === null || interesting.has(name));
    if (commonDir !== gitDir) add(commonDir, false, (name) => name === null || interesting.has(name));
    add(path.join(commonDir, 'refs', 'heads'), true, () => true);
  }

  private async check(): Promise<void> {
    if (this.stopped) return;
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
