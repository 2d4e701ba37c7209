/**
 * Where the app puts the bundles it compiles on a push to the default branch:
 * - inside `egressctl serve`: the server's bundle store (same refusal rules as every source:
 *   signature, schema, digest, never an older revision);
 * - standalone (`probot run`): a bundle file that servers read with `--source FILE` (they
 *   reload it on change), with the same "never step back" rule applied before the write.
 */
import { readFile } from 'node:fs/promises';
import { openBundle, type OpenedBundle } from '../bundle/dsse.js';
import { publishOrdering, stepsBack } from '../bundle/revision-order.js';
import type { PublishOptions } from '../server/api.js';
import type { RunningServer } from '../server/server.js';
import type { OfferResult } from '../server/store.js';
import { VerificationError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';

export interface BundlePublisher {
  /** Says where bundles go, for check summaries and logs. */
  readonly description: string;
  /** The revision published now, if any. */
  current(): Promise<string | undefined>;
  /** Offer a signed envelope; `isDescendant(published)` says whether it descends from what is published. */
  publish(envelopeText: string, options: PublishOptions): Promise<OfferResult>;
}

/** The bundle store of a running `egressctl serve` (same process). */
export function serverPublisher(server: Pick<RunningServer, 'publish' | 'state'>): BundlePublisher {
  return {
    description: "this server's bundle store",
    current: async () => server.state.bundle?.bundle.revision,
    publish: (text, options) => server.publish(text, options),
  };
}

/** A bundle file, replaced atomically; one write at a time. */
export function filePublisher(file: string): BundlePublisher {
  let queue: Promise<unknown> = Promise.resolve();
  const read = async (): Promise<OpenedBundle | undefined> => {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    try {
      return openBundle(text);
    } catch {
      // A damaged file is replaced by the next good bundle rather than blocking every publish.
      return undefined;
    }
  };
  const publish = async (text: string, options: PublishOptions): Promise<OfferResult> => {
    let candidate: OpenedBundle;
    try {
      candidate = openBundle(text);
    } catch (error) {
      return { status: 'refused', reason: 'verification', message: error instanceof VerificationError ? error.message : String(error) };
    }
    const published = await read();
    const revision = candidate.bundle.revision;
    if (published) {
      if (published.bundle.revision === revision) return { status: 'unchanged', revision };
      // The same rule, in the same words, as the server's bundle store applies to a publish.
      const stepBack = await stepsBack(published.bundle, candidate.bundle, publishOrdering(options.isDescendant), 'published');
      if (stepBack) return { status: 'refused', reason: 'older', message: stepBack };
    }
    await writeFileAtomic(file, candidate.text.endsWith('\n') ? candidate.text : `${candidate.text}\n`, { mkdirs: true });
    return { status: 'accepted', revision, etag: candidate.etag };
  };
  return {
    description: `bundle file ${file}`,
    current: async () => (await read())?.bundle.revision,
    publish: (text, options) => {
      const run = queue.then(() => publish(text, options));
      queue = run.catch(() => undefined);
      return run;
    },
  };
}
