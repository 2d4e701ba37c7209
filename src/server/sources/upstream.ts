/**
 * Another egressctl server's `/v1/bundle` as the source, followed by long poll with ETags, so
 * replicas chain (a CDN or object store may sit in between: a plain GET with ETags works too).
 * Errors back off exponentially (1 s doubling to 30 s); a good answer resets the backoff.
 */
import { type BundleStore } from '../store.js';
import type { BundleSource } from './source.js';
import { messageOf } from '../../util/errors.js';

export interface UpstreamSourceOptions {
  url: string;
  store: BundleStore;
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
    const timeout = AbortSignal.timeout((waitSeconds + 15) * 1000);
    try {
      // Whichever comes first aborts the request: shutdown or this poll's timeout.
      const signal = AbortSignal.any([this.abort.signal, timeout]); // AbortSignal.any: the signal combinator, not the `any` type
      const response = await fetch(url, { headers, signal });
      if (response.status === 304) {
        await response.arrayBuffer();
        store.sourceOk();
        return true;
      }
      const text = await response.text();
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
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code) return cause.code;
  if ((error as { name?: string }).name === 'TimeoutError') return 'timed out';
  return cause?.message ?? messageOf(error);
}
