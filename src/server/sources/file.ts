/**
 * A signed bundle file as the source (e.g. written by `egressctl compile -o`, a sync job or a
 * volume mount): read at start and again when it changes. The directory is watched, not the
 * file, so an atomic replace (write temp, rename) is seen; a slow poll covers file systems
 * without events (network mounts, some container volumes).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { type BundleStore } from '../store.js';
import { WatchedSource } from './source.js';
import { messageOf } from '../../util/errors.js';

export interface FileSourceOptions {
  file: string;
  store: BundleStore;
  /** Fallback poll (default 2 s: a stat and, when it changed, a read). */
  pollIntervalMs?: number;
}

export class FileSource extends WatchedSource {
  readonly kind = 'file';
  /** sha256 of the last text offered: the same bytes are not offered (or refused) twice. */
  private lastDigest: string | undefined;

  constructor(private readonly options: FileSourceOptions) {
    super(options.file, { debounceMs: 30, pollIntervalMs: options.pollIntervalMs ?? 2_000 });
  }

  protected watchForChanges(): void {
    // The directory, not the file: an atomic replace (write temp, rename) is seen too.
    const name = path.basename(this.options.file);
    this.watchPath(path.dirname(this.options.file), false, (changed) => changed === null || changed === name);
  }

  protected async check(): Promise<void> {
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
