/**
 * The /v1/policy answers: the effective policy for a caller's query, plain or signed
 * (docs/architecture.md, "Runner side: signed answers"), cached per (bundle, caller scope) with
 * body and header list ready to write: most callers ask the same few questions.
 */
import type { KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { effectivePolicy, type ResolveQuery } from '../policy/resolve.js';
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
}

export interface AnswersOptions {
  store: BundleStore;
  metrics: ServerMetrics;
  signKeys: readonly KeyObject[];
  /** Bytes the cache may hold before it is emptied (default 32 MiB). */
  cacheBytes?: number;
  /** Lifetime of a signed answer (default 24 h). */
  ttlSeconds?: number;
}

export class PolicyAnswers {
  // Emptied when the bundle changes, or when full (a bound, not an LRU: a hit must stay one Map lookup).
  private readonly cache: BoundedMap<string, CachedAnswer>;
  private cacheEtag: string | undefined;
  private readonly store: BundleStore;
  private readonly metrics: ServerMetrics;
  private readonly signKeys: readonly KeyObject[];
  private readonly ttl: number;

  constructor(options: AnswersOptions) {
    this.store = options.store;
    this.metrics = options.metrics;
    this.signKeys = options.signKeys;
    this.ttl = options.ttlSeconds ?? DEFAULT_ANSWER_TTL_SECONDS;
    this.cache = new BoundedMap({ maxEntries: ANSWER_CACHE_SIZE, maxBytes: options.cacheBytes ?? ANSWER_CACHE_BYTES, evict: 'all' });
  }

  /** The answer for a query, from the served bundle (undefined while none). */
  resolve(query: ResolveQuery): PolicyAnswer | undefined {
    const served = this.store.current;
    if (!served) return undefined;
    const answer = effectivePolicy(served.bundle.attachments, served.bundle.policies, query);
    return {
      revision: served.bundle.revision,
      policy: answer.policy,
      scope: answer.scope,
      shadowed: answer.shadowed,
      config: answer.config as Record<string, string | boolean>,
      'lockdown-mode': answer['lockdown-mode'] ?? null,
    };
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
    let answer = this.cache.peek(key);
    if (!answer) {
      answer = ready(JSON.stringify(this.resolve(query)), JSON_TYPE, 'Authorization', served);
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
    const now = Date.now();
    let answer = this.cache.peek(key);
    if (!answer || (answer.renewAt ?? 0) <= now) {
      const resolved = this.resolve(query);
      if (!resolved) throw noBundle();
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
        expiresAt: new Date(now + this.ttl * 1000).toISOString(),
        answer: resolved,
      };
      answer = { ...ready(signAnswer(statement, this.signKeys), SIGNED_ANSWER_MEDIA_TYPE, 'Authorization, Accept', served), renewAt: now + (this.ttl * 1000) / 2 };
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
