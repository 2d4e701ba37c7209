/**
 * Another egressctl server's `/v1/bundle` as the source, followed by long poll with ETags, so
 * replicas chain (a CDN or object store may sit in between: a plain GET with ETags works too).
 * Errors back off exponentially (1 s doubling to 30 s); a good answer resets the backoff.
 */
import { type BundleStore } from '../store.js';
import type { BundleSource } from './source.js';
import { messageOf } from '../../util/errors.js';
import { fetchBoundedText, FetchLimitError } from '../../util/bounded-fetch.js';

/**
 * Most bytes of an upstream answer read: far above any real bundle (a policy file is capped at
 * 1 MiB, attachments.yml at 32 MiB) and far below what would hurt the replica.
 */
export const DEFAULT_UPSTREAM_MAX_BYTES = 64 * 1024 * 1024;

export interface UpstreamSourceOptions {
  url: string;
  store: BundleStore;
  /** Most bytes of one answer (default DEFAULT_UPSTREAM_MAX_BYTES); more is a source error. */
  maxBytes?: number;
  /** Seconds the upstream may hold each request (`?wait=`); default 55. */
  waitSeconds?: number;
  /** Extra request headers (e.g. Authorization for a bundle behind a proxy). Never logged. */
  headers?: Record<string, string>;
  userAgent?: string;
}

const MAX_BACKOFF_MS = 30_000;

export class UpstreamSource implements BundleSource {
  readonly kind = 'upstream';
  readonly location: string;
  private readonly abort = new AbortController();
  private etag: string | undefined;
  private loop: Promise<void> | undefined;
  private backoffMs = 0;
  private readonly firstAnswer: Promise<void>;
  private settleFirst!: () => void;
  private wakeSleep: (() => void) | undefined;

  constructor(private readonly options: UpstreamSourceOptions) {
    this.location = options.url;
    this.firstAnswer = new Promise((resolve) => (this.settleFirst = resolve));
  }

  /** Starts following; resolves after the first attempt (success or failure) so startup can go on. */
  async start(): Promise<void> {
    this.loop = this.follow();
    await this.firstAnswer;
  }

  /** One plain GET now (no wait), for callers that want to force a look. */
  async refresh(): Promise<void> {
    await this.fetchOnce(0);
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.wakeSleep?.();
    await this.loop;
  }

  private async follow(): Promise<void> {
    let first = true;
    while (!this.abort.signal.aborted) {
      // The first request does not wait: serve something as soon as the upstream has it.
      const ok = await this.fetchOnce(first ? 0 : (this.options.waitSeconds ?? 55));
      if (first) {
        first = false;
        this.settleFirst();
      }
      if (ok) this.backoffMs = 0;
      else {
        this.backoffMs = Math.min(MAX_BACKOFF_MS, this.backoffMs === 0 ? 1_000 : this.backoffMs * 2);
        await this.sleep(this.backoffMs);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wakeSleep = done;
    });
  }

  /** True when the upstream answered 200 or 304. */
  private async fetchOnce(waitSeconds: number): Promise<boolean> {
    const { store } = this.options;
    const url = new URL(this.options.url);
    if (waitSeconds > 0) url.searchParams.set('wait', String(waitSeconds));
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': this.options.userAgent ?? 'egressctl-replica',
      ...this.options.headers,
    };
    if (this.etag) headers['if-none-match'] = this.etag;
    try {
      // One deadline for this poll, body included, and a byte cap: an upstream that trickles or
      // streams without end is a source error, not a replica that grows until it dies.
      const bounds = { maxBytes: this.options.maxBytes ?? DEFAULT_UPSTREAM_MAX_BYTES, timeoutMs: (waitSeconds + 15) * 1000 };
      const response = await fetchBoundedText(url, { headers, signal: this.abort.signal }, bounds);
      if (response.status === 304) {
        store.sourceOk();
        return true;
      }
      const text = response.text;
      if (response.status !== 200) {
        store.sourceError(`${this.options.url} answered ${response.status}: ${text.slice(0, 200)}`);
        return false;
      }
      store.sourceOk();
      this.etag = response.headers.get('etag') ?? undefined;
      await store.offer(text, { origin: 'upstream', ordering: { kind: 'committed-at' } });
      return true;
    } catch (error) {
      if (this.abort.signal.aborted) return true;
      store.sourceError(`cannot reach ${this.options.url}: ${describeFetchError(error)}`);
      return false;
    }
  }
}

function describeFetchError(error: unknown): string {
  if (error instanceof FetchLimitError) return error.message;
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code) return cause.code;
  if ((error as { name?: string }).name === 'TimeoutError') return 'timed out';
  return cause?.message ?? messageOf(error);
}
