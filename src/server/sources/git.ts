/**
 * A git work tree as the bundle source: compile the head of the checked-out branch and again on
 * every new commit. New commits are noticed through file-system events on the refs (loose refs
 * under refs/heads, packed-refs, HEAD; for a linked worktree HEAD lives in its own git dir and
 * the refs in the common dir), with a slow poll as the fallback for file systems without events.
 */
import type { KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { gitText, isAncestor } from '../../util/git.js';
import type { Ordering } from '../../bundle/revision-order.js';
import { messageOf } from '../../util/errors.js';
import type { BundleStore } from '../store.js';
import { sealSource } from './seal.js';
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
  /** Git directory and common directory (they differ in a linked worktree), once known. */
  private dirs: { gitDir: string; commonDir: string } | undefined;
  /**
   * What HEAD and its ref looked like on the files when the last check settled (head read and
   * handled). The fallback poll compares this instead of spawning git: a spawn every poll
   * interval (a fork of the whole server process) stalled the event loop for tens of ms.
   */
  private settledFingerprint: string | undefined;

  constructor(private readonly options: GitSourceOptions) {
    super(options.dir, { debounceMs: 15, pollIntervalMs: options.pollIntervalMs ?? 10_000 });
    const dir = options.dir;
    this.ordering = {
      kind: 'git',
      allowRewind: options.allowRewind ?? false,
      onUnknown: 'refuse',
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
      ({ gitDir, commonDir } = await this.gitDirs());
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

  private async gitDirs(): Promise<{ gitDir: string; commonDir: string }> {
    if (!this.dirs) {
      const { dir } = this.options;
      const gitDir = (await gitText(dir, ['rev-parse', '--absolute-git-dir'])).trim();
      const commonDir = path.resolve(dir, (await gitText(dir, ['rev-parse', '--git-common-dir'])).trim());
      this.dirs = { gitDir, commonDir };
    }
    return this.dirs;
  }

  /** HEAD, the branch it names (loose ref) and packed-refs, as read from the files; undefined when unreadable. */
  private async fingerprint(): Promise<string | undefined> {
    try {
      const { gitDir, commonDir } = await this.gitDirs();
      const head = await readFile(path.join(gitDir, 'HEAD'), 'utf8');
      const symbolic = /^ref: (refs\/\S+)\s*$/.exec(head);
      const loose = symbolic ? await readFile(path.join(commonDir, symbolic[1] ?? ''), 'utf8').catch(() => '') : '';
      const packed = await stat(path.join(commonDir, 'packed-refs')).then(
        (info) => `${info.mtimeMs}:${info.size}:${info.ino}`,
        () => '',
      );
      return `${head}\u0000${loose}\u0000${packed}`;
    } catch {
      return undefined;
    }
  }

  protected override async pollNeeded(): Promise<boolean> {
    if (this.settledFingerprint === undefined) return true;
    const now = await this.fingerprint();
    if (now === undefined || now !== this.settledFingerprint) return true;
    this.options.store.sourceOk();
    return false;
  }

  protected async check(): Promise<void> {
    const { dir, store, signKeys } = this.options;
    // Read before git looks: a change racing this check leaves a fingerprint that differs next poll.
    const fingerprint = await this.fingerprint();
    this.settledFingerprint = undefined;
    let head: string;
    try {
      head = (await gitText(dir, ['rev-parse', '--verify', 'HEAD^{commit}'])).trim();
    } catch (error) {
      store.sourceError(`cannot read HEAD in ${dir}: ${messageOf(error)}`);
      return;
    }
    if (head === this.lastHead) {
      this.settledFingerprint = fingerprint;
      store.sourceOk();
      return;
    }
    let outcome;
    try {
      outcome = await sealSource(dir, head, signKeys ?? []);
    } catch (error) {
      // Reading the commit failed (git busy, object missing): try again on the next event or poll.
      store.sourceError(`cannot compile ${head}: ${messageOf(error)}`);
      return;
    }
    if (this.stopped) return;
    this.lastHead = head;
    this.settledFingerprint = fingerprint;
    store.sourceOk();
    if (!outcome.ok) {
      store.refuse('compile', outcome.message, 'git', head);
      return;
    }
    await store.offer(outcome.text, { origin: 'git', verify: false, ordering: this.ordering });
  }
}
