/**
 * Replicas of one deployment serve the same published revision
 * (docs/architecture.md#replicas-share-what-is-published). A webhook reaches one replica; what that replica
 * publishes is also stored where its peers look (`BundlePeers`: the App's Redis), and every
 * replica adopts a newer stored bundle through its own store, with the rules of every other
 * source: signature, schema and digest checked, never an older revision, the last good bundle
 * kept in the state directory. Checked before the server listens (so /readyz is not ready with
 * an older bundle than the peers have), on each notification, and every `recheckMs` (a
 * subscription misses what is published while it reconnects).
 */
import type { Logger } from 'pino';
import { openBundle } from '../bundle/dsse.js';
import type { Ordering, RevisionPoint } from '../bundle/revision-order.js';
import { messageOf } from '../util/errors.js';
import type { BundleStore, ServedBundle } from './store.js';

/** Origin of a bundle adopted from the peers (`/readyz` `origin`, `egressctl_bundle_updates_total{source}`). */
export const SHARED_ORIGIN = 'shared';

export type ShareResult =
  | { status: 'stored' | 'unchanged'; revision: string }
  /** Not stored: what is stored is newer (`reason` says why, in the words of the refusal to go back). */
  | { status: 'newer'; revision: string; reason: string };

/** Where the replicas of one deployment keep the newest published bundle (src/app/shared-bundle.ts: Redis). */
export interface BundlePeers {
  readonly description: string;
  /** The stored envelope, exactly as published; undefined when none is stored. */
  latest(): Promise<string | undefined>;
  /**
   * Store `bundle` unless that would go back (by `ordering` against what is stored, atomically:
   * two replicas sharing at once never leave the older one stored), and notify the others.
   * `replaceable`: a stored revision this replica refused (a bad signature): replaced whatever its order.
   */
  share(bundle: RevisionPoint & { text: string }, ordering: Ordering, replaceable?: string): Promise<ShareResult>;
  /** Call `onShared` whenever a replica stored a bundle, and when the subscription comes back after a drop. */
  subscribe(onShared: () => void): Promise<void>;
  close(): Promise<void>;
}

export interface SharedBundlesOptions {
  peers: BundlePeers;
  store: BundleStore;
  logger: Logger;
  /** The safety net for missed notifications (default 15 s). */
  recheckMs?: number;
}

export const DEFAULT_PEER_RECHECK_MS = 15_000;

export class SharedBundles {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  /** The last stored envelope the store refused: offered (and logged, and counted) once, not at every check. */
  private refusedText: { text: string; revision?: string } | undefined;
  private lastError: string | undefined;
  /** This replica's publish the peers could not be told of yet (Redis away): shared at the next check. */
  private unshared: { revision: string; ordering: Ordering } | undefined;

  constructor(private readonly options: SharedBundlesOptions) {}

  /** Subscribe, adopt what is stored (waiting at most `timeoutMs`), then re-check periodically. */
  async start(timeoutMs: number): Promise<void> {
    const { peers, logger } = this.options;
    try {
      await peers.subscribe(() => void this.check());
    } catch (error) {
      logger.warn({ peers: peers.description, err: messageOf(error) }, 'cannot subscribe to bundles published by other replicas: re-checking periodically only');
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
      timer.unref();
    });
    await Promise.race([this.check(), timeout]);
    clearTimeout(timer);
    if (this.stopped) return;
    this.timer = setInterval(() => void this.check(), this.options.recheckMs ?? DEFAULT_PEER_RECHECK_MS);
    this.timer.unref();
  }

  /**
   * After this replica accepted (or already served) a publish: store it for the others. When
   * what is stored is newer (this replica lagged), adopt that instead. Never throws: the
   * publish stands, and the periodic check shares it once the peers can be reached again.
   */
  async published(revision: string, ordering: Ordering): Promise<void> {
    const served = this.options.store.current;
    // Something newer replaced it meanwhile: that one is shared (or adopted) on its own path.
    if (!served || served.bundle.revision !== revision) return;
    this.unshared = { revision, ordering };
    if ((await this.share(served, ordering)) === 'newer') await this.check();
  }

  /** Look at what is stored now (coalesced: one check at a time, one more if asked meanwhile). */
  check(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.checkOnce();
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
    await this.options.peers.close();
  }

  private async checkOnce(): Promise<void> {
    const { peers, store, logger } = this.options;
    const served = store.current;
    // Replaced by a newer one meanwhile: nothing of this replica's own is left to share.
    if (this.unshared && served?.bundle.revision !== this.unshared.revision) this.unshared = undefined;
    if (this.unshared && served) {
      const shared = await this.share(served, this.unshared.ordering);
      if (shared === 'failed') return;
    }
    let text: string | undefined;
    try {
      text = await peers.latest();
    } catch (error) {
      this.failed('cannot read the bundle other replicas published', error);
      return;
    }
    this.recovered();
    if (text === undefined) {
      // Nothing stored (a new Redis, or one that lost its data): what this replica serves seeds it.
      if (served) await this.share(served, { kind: 'committed-at' });
      return;
    }
    if (text === served?.text || text === this.refusedText?.text) return;
    let stored: RevisionPoint | undefined;
    try {
      stored = openBundle(text).bundle;
    } catch {
      // Unreadable: the store refuses it below, with its reason, logged and counted.
    }
    if (stored && served) {
      if (stored.revision === served.bundle.revision) return;
      // Older than what this replica serves: a share that lost the race to this replica's own
      // publish, which is being stored (or, if Redis was away, will be at the next check).
      if (Date.parse(stored.committedAt) < Date.parse(served.bundle.committedAt)) {
        logger.debug({ stored: stored.revision, served: served.bundle.revision }, 'the shared bundle is older than the one served: kept');
        return;
      }
    }
    // The rules of every source: a bad signature or an older revision is refused, logged and
    // counted, and the last good bundle stays; refused once, not at every check.
    const result = await store.offer(text, { origin: SHARED_ORIGIN, ordering: { kind: 'committed-at' } });
    if (result.status === 'refused') this.refusedText = { text, ...(stored ? { revision: stored.revision } : {}) };
    else if (result.status === 'accepted') logger.info({ revision: result.revision, peers: peers.description }, 'adopted the bundle another replica published');
  }

  /** Store `served` for the peers; 'newer' when they hold a newer one (the caller adopts it). */
  private async share(served: ServedBundle, ordering: Ordering): Promise<ShareResult['status'] | 'failed'> {
    const { peers, logger } = this.options;
    let result: ShareResult;
    try {
      // What this replica refused (a signature it does not trust) does not hold its own publishes back.
      const replaceable = this.refusedText?.revision;
      result = await peers.share({ revision: served.bundle.revision, committedAt: served.bundle.committedAt, text: served.text }, ordering, replaceable);
    } catch (error) {
      this.failed('cannot share the published bundle with other replicas', error);
      return 'failed';
    }
    this.recovered();
    if (this.unshared?.revision === served.bundle.revision) this.unshared = undefined;
    if (result.status === 'stored') logger.info({ revision: result.revision, peers: peers.description }, 'bundle shared with the other replicas');
    if (result.status === 'newer') logger.info({ revision: served.bundle.revision, stored: result.revision, reason: result.reason }, 'another replica published a newer bundle: adopting it');
    return result.status;
  }

  private failed(what: string, error: unknown): void {
    const message = `${what}: ${messageOf(error)}`;
    // Once per distinct error, not at every check.
    if (message !== this.lastError) this.options.logger.warn({ peers: this.options.peers.description, err: messageOf(error) }, what);
    this.lastError = message;
  }

  private recovered(): void {
    if (this.lastError !== undefined) this.options.logger.info({ peers: this.options.peers.description }, 'other replicas reachable again');
    this.lastError = undefined;
  }
}
