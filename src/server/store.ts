/**
 * The bundle a server serves, and the rules for replacing it (docs/architecture.md#server):
 * - every candidate passes openBundle (envelope, signature by a trusted key when keys are set,
 *   schema, references, digest) or it is refused;
 * - never step back: a git source's new head must descend from the served commit (unless
 *   rewinding is allowed); bundles from files, upstreams and publish must not have an older
 *   `committedAt`; the same revision changes nothing;
 * - a refusal keeps the last good bundle, marks the server degraded with the reason and counts;
 * - the last good envelope is written atomically to the state directory and served at the next
 *   start before the source has answered.
 * Offers are applied one at a time, in arrival order.
 */
import type { KeyObject } from 'node:crypto';
import { readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { openBundle, type OpenedBundle } from '../bundle/dsse.js';
import { stepsBack, type Ordering } from '../bundle/revision-order.js';
import { writeFileAtomic } from '../util/fs.js';
import { VerificationError, messageOf } from '../util/errors.js';
import type { RefusalReason, ServerMetrics } from './metrics.js';

/** File in the state directory holding the last good envelope, exactly as served. */
export const STATE_BUNDLE_FILE = 'bundle.dsse.json';

export interface ServedBundle extends OpenedBundle {
  /** `text` as bytes, ready to write. */
  body: Buffer;
  /** Where it came from: `git`, `worktree`, `file`, `upstream`, `state` or `publish`. */
  origin: string;
  acceptedAt: Date;
}

export interface OfferOptions {
  origin: string;
  /** Check signatures against the trusted keys (default true). False only for what this process compiled itself. */
  verify?: boolean;
  ordering?: Ordering;
  /**
   * A step back is refused (status `refused`, reason `older`) without marking the server
   * degraded or counting it: a publish that lost a race to a newer bundle another replica
   * published (peers.ts), where nothing is wrong with what is served.
   */
  olderIsSuperseded?: boolean;
}

export type OfferResult =
  | { status: 'accepted'; revision: string; etag: string }
  | { status: 'unchanged'; revision: string }
  | { status: 'refused'; reason: RefusalReason; message: string };

export interface Problem {
  reason: RefusalReason;
  message: string;
  origin: string;
  at: Date;
  /** The refused revision, when it could be read. */
  revision?: string;
}

export interface SourceStatus {
  kind: string;
  location: string;
  lastSuccessAt?: Date;
  lastError?: { message: string; at: Date };
}

export interface BundleStoreOptions {
  /** Public keys a bundle must be signed by (empty: schema and digest checks only). */
  trustedKeys?: readonly KeyObject[];
  stateDir?: string;
  metrics: ServerMetrics;
  logger: Logger;
}

type Waiter = () => void;

export class BundleStore {
  private served: ServedBundle | undefined;
  private problem: Problem | undefined;
  private readonly waiters = new Set<Waiter>();
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  readonly source: SourceStatus = { kind: 'none', location: '' };
  /** The last failure to write the state directory; cleared by the next successful write. */
  stateError: { message: string; at: Date } | undefined;

  constructor(private readonly options: BundleStoreOptions) {}

  get current(): ServedBundle | undefined {
    return this.served;
  }

  /** The last refusal since the last bundle was accepted or confirmed; undefined when healthy. */
  get degraded(): Problem | undefined {
    return this.problem;
  }

  get trustedKeyCount(): number {
    return this.options.trustedKeys?.length ?? 0;
  }

  /** Serve the state directory's bundle, if there is a valid one. Returns its revision. */
  async loadState(): Promise<string | undefined> {
    const file = this.statePath();
    if (!file) return undefined;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.options.logger.warn({ file, err: messageOf(error) }, 'cannot read the saved bundle');
      }
      return undefined;
    }
    const result = await this.offer(text, { origin: 'state', ordering: { kind: 'committed-at' } });
    return result.status === 'accepted' ? result.revision : undefined;
  }

  /** Consider a candidate envelope; see the rules at the top of this file. */
  offer(text: string, options: OfferOptions): Promise<OfferResult> {
    const run = this.queue.then(() => this.apply(text, options));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Record a refusal that happened before there was an envelope (e.g. the revision does not compile). */
  refuse(reason: RefusalReason, message: string, origin: string, revision?: string): OfferResult {
    this.problem = { reason, message, origin, at: new Date(), ...(revision === undefined ? {} : { revision }) };
    this.options.metrics.refusals.inc({ reason });
    this.options.logger.warn({ origin, reason, revision, problem: message }, 'bundle refused: still serving the last good one');
    return { status: 'refused', reason, message };
  }

  /** The source answered (even with nothing new): clears its last error. */
  sourceOk(): void {
    this.source.lastSuccessAt = new Date();
    delete this.source.lastError;
  }

  sourceError(message: string): void {
    const previous = this.source.lastError?.message;
    this.source.lastError = { message, at: new Date() };
    this.options.metrics.sourceErrors.inc({ source: this.source.kind });
    // Log each distinct error once, not once per retry.
    if (previous !== message) this.options.logger.warn({ source: this.source.kind, err: message }, 'bundle source failed');
  }

  /**
   * Resolves when the served bundle's ETag is no longer `etag`, after `timeoutMs`, when `signal`
   * aborts, or when the store closes: the caller then looks at `current` again.
   */
  waitForChange(etag: string | undefined, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.closed || this.served?.etag !== etag || timeoutMs <= 0 || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  get waiting(): number {
    return this.waiters.size;
  }

  /** Wake every long poll (they answer with what is served) and refuse new waits. */
  close(): void {
    this.closed = true;
    for (const waiter of [...this.waiters]) waiter();
  }

  private async apply(text: string, options: OfferOptions): Promise<OfferResult> {
    const { logger, metrics } = this.options;
    let opened: OpenedBundle;
    try {
      const keys = options.verify === false ? [] : (this.options.trustedKeys ?? []);
      opened = openBundle(text, { publicKeys: keys });
    } catch (error) {
      const message = error instanceof VerificationError ? error.message : `cannot open the bundle: ${messageOf(error)}`;
      return this.refuse('verification', message, options.origin);
    }
    const candidate = opened.bundle;
    const served = this.served;
    if (served) {
      if (served.bundle.revision === candidate.revision) {
        if (this.problem) logger.info({ origin: options.origin, revision: candidate.revision }, 'source agrees with the served bundle again');
        this.problem = undefined;
        return { status: 'unchanged', revision: candidate.revision };
      }
      const stepBack = await stepsBack(served.bundle, candidate, options.ordering ?? { kind: 'committed-at' });
      if (stepBack && options.olderIsSuperseded) {
        logger.info({ origin: options.origin, revision: candidate.revision, served: served.bundle.revision }, 'superseded: a newer bundle is served already');
        return { status: 'refused', reason: 'older', message: stepBack };
      }
      if (stepBack) return this.refuse('older', stepBack, options.origin, candidate.revision);
    }

    this.served = { ...opened, body: Buffer.from(opened.text, 'utf8'), origin: options.origin, acceptedAt: new Date() };
    this.problem = undefined;
    metrics.bundleInfo.reset();
    metrics.bundleInfo.set({ revision: candidate.revision, committed_at: candidate.committedAt, digest: candidate.digest, source: options.origin }, 1);
    metrics.setCommittedAt(candidate.committedAt);
    if (options.origin !== 'state') metrics.bundleUpdates.inc({ source: options.origin });
    logger.info(
      {
        origin: options.origin,
        revision: candidate.revision,
        committedAt: candidate.committedAt,
        previous: served?.bundle.revision,
        // What this process compiled is not verified against itself (verify: false): its signers are the envelope's keyids.
        keyids: opened.keyids.length > 0 ? opened.keyids : opened.envelope.signatures.map((signature) => signature.keyid).filter(Boolean).sort(),
        verified: opened.keyids.length > 0,
      },
      'serving bundle',
    );
    for (const waiter of [...this.waiters]) waiter();
    if (options.origin !== 'state') await this.persist(opened.text);
    return { status: 'accepted', revision: candidate.revision, etag: opened.etag };
  }

  private statePath(): string | undefined {
    return this.options.stateDir === undefined ? undefined : path.join(this.options.stateDir, STATE_BUNDLE_FILE);
  }

  private async persist(text: string): Promise<void> {
    const file = this.statePath();
    if (!file) return;
    try {
      await writeFileAtomic(file, text, { mode: 0o644 });
      this.stateError = undefined;
    } catch (error) {
      // Serving goes on; the next start just has an older (or no) bundle to begin with. /readyz says so.
      this.stateError = { message: `cannot write the state directory: ${(error as NodeJS.ErrnoException).code ?? 'error'}`, at: new Date() };
      this.options.logger.error({ file, err: messageOf(error) }, 'cannot save the bundle to the state directory');
    }
  }

  /**
   * Whether the state directory can be written now (a probe file, written and removed); records
   * the failure for /readyz. Called at start and by readiness checks, at most every few seconds.
   */
  async probeStateDir(): Promise<void> {
    const dir = this.options.stateDir;
    if (dir === undefined) return;
    const probe = path.join(dir, `.probe.${process.pid}.tmp`);
    try {
      await writeFile(probe, '');
      await unlink(probe);
      if (this.stateError?.message.startsWith('cannot write')) this.stateError = undefined;
    } catch (error) {
      this.stateError = { message: `cannot write the state directory: ${(error as NodeJS.ErrnoException).code ?? 'error'}`, at: new Date() };
    }
  }

  /**
   * Remove temporary files a killed process left in the state directory (writeFileAtomic's
   * `.NAME.RANDOM.tmp`, probes): nothing else writes there, and none is ever read back.
   */
  async cleanStaleTemporaries(): Promise<string[]> {
    const dir = this.options.stateDir;
    if (dir === undefined) return [];
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return [];
    }
    const removed: string[] = [];
    for (const name of names) {
      if (!/^\..+\.tmp$/.test(name)) continue;
      try {
        await unlink(path.join(dir, name));
        removed.push(name);
      } catch {
        // Gone already, or not ours to remove: leave it.
      }
    }
    if (removed.length > 0) this.options.logger.info({ stateDir: dir, removed }, 'removed temporary files left by an interrupted write');
    return removed;
  }
}

