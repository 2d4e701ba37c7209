/**
 * A signed bundle file as the source (e.g. written by `egressctl compile -o`, a sync job or a
 * volume mount): read at start and again when it changes. The directory is watched, not the
 * file, so an atomic replace (write temp, rename) is seen; a slow poll covers file systems
 * without events (network mounts, some container volumes).
 */
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { messageOf, type BundleStore } from '../store.js';
import { SerialTrigger, debounce, type BundleSource } from './source.js';

export interface FileSourceOptions {
  file: string;
  store: BundleStore;
  /** Fallback poll (default 2 s: a stat and, when it changed, a read). */
  pollIntervalMs?: number;
}

export class FileSource implements BundleSource {
  readonly kind = 'file';
  readonly location: string;
  private readonly trigger: SerialTrigger;
  private readonly onEvent: ReturnType<typeof debounce>;
  private watcher: FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  /** sha256 of the last text offered: the same bytes are not offered (or refused) twice. */
  private lastDigest: string | undefined;
  private stopped = false;

  constructor(private readonly options: FileSourceOptions) {
    this.location = options.file;
    this.trigger = new SerialTrigger(() => this.check());
    this.onEvent = debounce(() => void this.trigger.fire(), 30);
  }

  async start(): Promise<void> {
    await this.trigger.fire();
    const name = path.basename(this.options.file);
    try {
      this.watcher = watch(path.dirname(this.options.file), { persistent: false }, (_event, changed) => {
        if (changed === null || String(changed) === name) this.onEvent();
      });
      this.watcher.on('error', () => undefined);
    } catch {
      // The directory is missing: the poll notices when it appears.
    }
    this.poll = setInterval(() => void this.trigger.fire(), this.options.pollIntervalMs ?? 2_000);
    this.poll.unref();
  }

  refresh(): Promise<void> {
    return this.trigger.fire();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.onEvent.cancel();
    if (this.poll) clearInterval(this.poll);
    this.watcher?.close();
  }

  private async check(): Promise<void> {
    if (this.stopped) return;
    const { file, store } = this.options;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      store.sourceError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? messageOf(error)}`);
      return;
    }
    store.sourceOk();
    const digest = createHash('sha256').update(text).digest('hex');
    if (digest === this.lastDigest) return;
    this.lastDigest = digest;
    await store.offer(text, { origin: 'file', ordering: { kind: 'committed-at' } });
  }
}
