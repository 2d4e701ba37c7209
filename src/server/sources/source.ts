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
