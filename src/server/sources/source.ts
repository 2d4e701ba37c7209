import { watch, type FSWatcher } from 'node:fs';

/** What every bundle source does: load once, then keep the store fed until stopped. */
export interface BundleSource {
  readonly kind: 'git' | 'worktree' | 'file' | 'upstream';
  /** A directory, file or URL, for logs and /readyz. */
  readonly location: string;
  /** First load (failures are reported to the store, never thrown), then watch for changes. */
  start(): Promise<void>;
  /** Look for a change now. Resolves when that look (and any it was merged with) is done. */
  refresh(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Runs `task` one at a time; calls made while it runs are merged into one more run after it,
 * so a burst of file-system events costs at most two runs.
 */
export class SerialTrigger {
  private running: Promise<void> | undefined;
  private again = false;
  private next: Promise<void> | undefined;

  constructor(private readonly task: () => Promise<void>) {}

  fire(): Promise<void> {
    if (!this.running) {
      this.running = this.loop();
      return this.running;
    }
    this.again = true;
    this.next ??= this.running.then(() => undefined);
    return this.next;
  }

  private async loop(): Promise<void> {
    try {
      do {
        this.again = false;
        await this.task();
      } while (this.again);
    } finally {
      this.running = undefined;
      this.next = undefined;
    }
  }
}

/** setTimeout-based debounce for watcher events. */
export function debounce(fn: () => void, ms: number): { (): void; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const call = (): void => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      fn();
    }, ms);
  };
  call.cancel = (): void => {
    if (timer) clearTimeout(timer);
    timer = undefined;
  };
  return call;
}

export interface WatchTiming {
  /** Quiet time after a file-system event before looking (events come in bursts). */
  debounceMs: number;
  /** Fallback poll for file systems without events. */
  pollIntervalMs: number;
}

/**
 * The machinery file-backed sources share: one check at a time (bursts merged), file-system
 * watchers that trigger it after a quiet moment, a slow poll as the fallback, clean stop.
 */
export abstract class WatchedSource implements BundleSource {
  abstract readonly kind: BundleSource['kind'];
  protected stopped = false;
  private readonly trigger = new SerialTrigger(() => (this.stopped ? Promise.resolve() : this.check()));
  private readonly onEvent: ReturnType<typeof debounce>;
  private readonly watchers: FSWatcher[] = [];
  private poll: NodeJS.Timeout | undefined;

  constructor(
    readonly location: string,
    private readonly timing: WatchTiming,
  ) {
    this.onEvent = debounce(() => void this.trigger.fire(), timing.debounceMs);
  }

  /** Look at the source once and feed the store; never throws. */
  protected abstract check(): Promise<void>;

  /** Set up watchers with `watchPath` (a failed watch leaves the poll to do the work). */
  protected abstract watchForChanges(): void | Promise<void>;

  async start(): Promise<void> {
    await this.trigger.fire();
    await this.watchForChanges();
    this.poll = setInterval(() => void this.pollOnce(), this.timing.pollIntervalMs);
    this.poll.unref();
  }

  /**
   * Whether a fallback poll must run a full check. Sources whose check is costly (the git source
   * spawns git) answer from something cheap here; the default always checks.
   */
  protected pollNeeded(): Promise<boolean> {
    return Promise.resolve(true);
  }

  private async pollOnce(): Promise<void> {
    let needed = true;
    try {
      needed = await this.pollNeeded();
    } catch {
      // Cannot tell cheaply: look properly.
    }
    if (needed && !this.stopped) await this.trigger.fire();
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

  /** Watch `target`; events whose file name passes `filter` trigger a check. */
  protected watchPath(target: string, recursive: boolean, filter: (name: string | null) => boolean, onFailure?: (error: unknown) => void): void {
    try {
      const watcher = watch(target, { recursive, persistent: false }, (_event, name) => {
        if (filter(name === null ? null : String(name))) this.onEvent();
      });
      watcher.on('error', (error) => onFailure?.(error));
      this.watchers.push(watcher);
    } catch (error) {
      // A directory that does not exist (yet): the poll covers it.
      onFailure?.(error);
    }
  }
}
