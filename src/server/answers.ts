/**
 * The /v1/policy answers: the effective policy for a caller's query, plain or signed
 * (docs/architecture.md, "Runner side: signed answers"), cached per (bundle, caller scope) with
 * body and header list ready to write: most callers ask the same few questions.
 */
import type { KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { effectivePolicyWithExpiry } from '../policy/expiry.js';
import type { ResolveQuery } from '../policy/resolve.js';
import { normalizeWorkflow, signAnswer } from '../runner/signed-answer.js';
import { BoundedMap } from '../util/bounded-map.js';
import { DEFAULT_ANSWER_TTL_SECONDS, SIGNED_ANSWER_MEDIA_TYPE, type AnswerStatement, type PolicyAnswer } from './api.js';
import { HttpError, JSON_TYPE, noBundle } from './http.js';
import type { ServerMetrics } from './metrics.js';
import type { BundleStore, ServedBundle } from './store.js';

const ANSWER_CACHE_SIZE = 50_000;
/** Bytes of cached answers (bodies and keys) before the cache is emptied; see docs/security.md. */
const ANSWER_CACHE_BYTES = 32 * 1024 * 1024;

interface CachedAnswer {
  body: Buffer;
  /** writeHead's flat [name, value, ...] list. */
  headers: string[];
  /** Signed answers: when to sign again (half their lifetime). */
  renewAt?: number;
  /** When an exception in the answer expires: the answer must be made again from then on. */
  validUntil?: number;
}

export interface AnswersOptions {
  store: BundleStore;
  metrics: ServerMetrics;
  signKeys: readonly KeyObject[];
  /** Bytes the cache may hold before it is emptied (default 32 MiB). */
  cacheBytes?: number;
  /** Lifetime of a signed answer (default 24 h). */
  ttlSeconds?: number;
  /** The clock answers are made at (milliseconds); tests set it to cross an expiry's midnight. */
  now?: () => number;
}

export class PolicyAnswers {
  // Emptied when the bundle changes, or when full (a bound, not an LRU: a hit must stay one Map lookup).
  private readonly cache: BoundedMap<string, CachedAnswer>;
  private cacheEtag: string | undefined;
  private readonly store: BundleStore;
  private readonly metrics: ServerMetrics;
  private readonly signKeys: readonly KeyObject[];
  private readonly ttl: number;
  private readonly now: () => number;

  constructor(options: AnswersOptions) {
    this.store = options.store;
    this.metrics = options.metrics;
    this.signKeys = options.signKeys;
    this.ttl = options.ttlSeconds ?? DEFAULT_ANSWER_TTL_SECONDS;
    this.now = options.now ?? Date.now;
    this.cache = new BoundedMap({ maxEntries: ANSWER_CACHE_SIZE, maxBytes: options.cacheBytes ?? ANSWER_CACHE_BYTES, evict: 'all' });
  }

  /**
   * The answer for a query, from the served bundle (undefined while none), as of `now`: expired
   * exceptions are dropped here, at answer time, so a stale bundle cannot keep one alive
   * (docs/architecture.md#expiring-exceptions).
   */
  resolve(query: ResolveQuery, now: number = this.now()): PolicyAnswer | undefined {
    const served = this.store.current;
    return served ? this.answerAt(query, served, now).answer : undefined;
  }

  /**
   * The answer from `served` as of `now` and the instant after which it changes by itself (an
   * exception in it expires), from one resolution of the query.
   */
  private answerAt(query: ResolveQuery, served: ServedBundle, now: number): { answer: PolicyAnswer; validUntil?: number } {
    const { answer, validUntil } = effectivePolicyWithExpiry(served.bundle.attachments, served.bundle.policies, query, now);
    const policyAnswer: PolicyAnswer = {
      revision: served.bundle.revision,
      policy: answer.policy,
      scope: answer.scope,
      shadowed: answer.shadowed,
      config: answer.config as Record<string, string | boolean>,
      'lockdown-mode': answer['lockdown-mode'] ?? null,
    };
    return validUntil === undefined ? { answer: policyAnswer } : { answer: policyAnswer, validUntil };
  }

  /** Write the answer for an authenticated query: signed when the caller accepts it. */
  send(req: IncomingMessage, res: ServerResponse, query: ResolveQuery): void {
    const served = this.store.current;
    if (!served) throw noBundle();
    const accept = req.headers.accept;
    const answer = accept !== undefined && accept.includes(SIGNED_ANSWER_MEDIA_TYPE) ? this.signed(query, served) : this.plain(query, served);
    res.writeHead(200, answer.headers);
    res.end(req.method === 'HEAD' ? undefined : answer.body);
  }

  private plain(query: ResolveQuery, served: ServedBundle): CachedAnswer {
    this.forBundle(served);
    const key = `${query.organization ?? ''}\u0000${query.repository ?? ''}\u0000${query.workflow ?? ''}\u0000${query.cluster ?? ''}`;
    const now = this.now();
    let answer = this.cache.peek(key);
    if (!answer || (answer.validUntil !== undefined && answer.validUntil <= now)) {
      const made = this.answerAt(query, served, now);
      answer = ready(JSON.stringify(made.answer), JSON_TYPE, 'Authorization', served);
      if (made.validUntil !== undefined) answer.validUntil = made.validUntil;
      this.remember(key, answer);
    }
    return answer;
  }

  /**
   * The answer as a DSSE envelope signed with the bundle key, cached per scope and revision like
   * the plain one: signing is paid once per scope and revision (and again at half the lifetime),
   * not per request.
   */
  private signed(query: ResolveQuery, served: ServedBundle): CachedAnswer {
    if (this.signKeys.length === 0) {
      throw new HttpError(406, 'unsigned', 'this server has no --sign-key, so it cannot sign answers; runners that verify answers need one');
    }
    // Sign only what is trusted: compiled here, or verified against a trusted key on arrival.
    if (served.keyids.length === 0 && served.origin !== 'git' && served.origin !== 'worktree') {
      throw new HttpError(406, 'unsigned', 'the served bundle was not verified (start with --public-key), so its answers are not signed');
    }
    this.forBundle(served);
    const key = `s\u0000${query.organization ?? ''}\u0000${query.repository ?? ''}\u0000${query.workflow ?? ''}\u0000${query.cluster ?? ''}`;
    const now = this.now();
    let answer = this.cache.peek(key);
    if (!answer || (answer.renewAt ?? 0) <= now) {
      const { answer: resolved, validUntil } = this.answerAt(query, served, now);
      // A signed answer must not outlive an exception it carries: a runner that cannot reach the
      // server would otherwise keep using it after the exception's last day.
      const expiresAt = Math.min(now + this.ttl * 1000, validUntil ?? Number.POSITIVE_INFINITY);
      const statement: AnswerStatement = {
        _type: 'egressctl.answer/v1',
        subject: {
          organization: (query.organization ?? '').toLowerCase(),
          repository: (query.repository ?? '').toLowerCase(),
          workflow: normalizeWorkflow(query.workflow),
          cluster: query.cluster ?? null,
        },
        bundle: { revision: served.bundle.revision, digest: served.bundle.digest },
        issuedAt: new Date(now).toISOString(),
        expiresAt: new Date(expiresAt).toISOString(),
        answer: resolved,
      };
      answer = {
        ...ready(signAnswer(statement, this.signKeys), SIGNED_ANSWER_MEDIA_TYPE, 'Authorization, Accept', served),
        renewAt: Math.min(now + (this.ttl * 1000) / 2, validUntil ?? Number.POSITIVE_INFINITY),
      };
      this.remember(key, answer);
    }
    return answer;
  }

  /** Answers of an earlier bundle are dropped when the served one changes. */
  private forBundle(served: ServedBundle): void {
    if (this.cacheEtag === served.etag) return;
    this.cache.clear();
    this.cacheEtag = served.etag;
  }

  private remember(key: string, answer: CachedAnswer): void {
    this.cache.set(key, answer, answer.body.length + key.length * 2 + 200);
    this.metrics.answerCacheBytes.set(this.cache.bytes);
  }
}

/** A body and its header list, ready to write. */
function ready(text: string, contentType: string, vary: string, served: ServedBundle): CachedAnswer {
  const body = Buffer.from(text, 'utf8');
  return {
    body,
    headers: [
      'content-type', contentType,
      'content-length', String(body.length),
      'cache-control', 'no-store',
      'vary', vary,
      'x-egressctl-revision', served.bundle.revision,
    ],
  };
}
