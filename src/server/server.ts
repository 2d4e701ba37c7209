/**
 * `egressctl serve` as a library: startServer(options) -> {url, close(), state, publish()}.
 * node:http directly (no framework): the hot path (/v1/policy with a token seen before) is a
 * hash, two Map lookups and a write of a cached body.
 *
 * HTTP API (docs/architecture.md#server), JSON errors `{"error": {"code", "message"}}`:
 *   GET /v1/bundle[?wait=N]   the envelope; ETag; If-None-Match -> 304; wait holds up to N s (<= 60)
 *   GET /v1/policy            effective policy for the caller (Bearer OIDC token or ApiKey)
 *   GET /v1/history[?policy=NAME]   from the history provider (git log of the source)
 *   GET /healthz, /readyz, /metrics
 *   /api/github/webhooks      the GitHub App's webhook handler, when one is given
 *   anything else (GET/HEAD)  the console handler, when one is given; else 404
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { mkdir, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { effectivePolicy, type ResolveQuery, workflowKey } from '../policy/resolve.js';
import { POLICY_NAME_PATTERN } from '../policy/model.js';
import { UsageError, messageOf } from '../util/errors.js';
import { DEFAULT_ANSWER_TTL_SECONDS, normalizeWorkflow, SIGNED_ANSWER_MEDIA_TYPE, signAnswer, type AnswerStatement } from '../runner/signed-answer.js';
import { isGitWorkTree } from '../util/git.js';
import { ApiKeyRing, type ApiKeyEntry } from './auth/api-keys.js';
import { OidcVerifier, type OidcOptions } from './auth/oidc.js';
import type { GitHubOAuth } from './auth/github-oauth.js';
import { createMetrics, type ServerMetrics } from './metrics.js';
import { FileSource } from './sources/file.js';
import { GitSource } from './sources/git.js';
import type { BundleSource } from './sources/source.js';
import { UpstreamSource } from './sources/upstream.js';
import { WorktreeSource } from './sources/worktree.js';
import { BundleStore, type OfferResult, type Problem, type ServedBundle, type SourceStatus } from './store.js';

export const WEBHOOK_PATH = '/api/github/webhooks';
export const DEFAULT_PORT = 8080;
export const DEFAULT_HOST = '127.0.0.1';
export const MAX_WAIT_SECONDS = 60;

/** Handles GET/HEAD requests no API route claimed (the web console). True when it answered. */
export type ConsoleHandler = (req: IncomingMessage, res: ServerResponse, state: ServerState) => boolean | Promise<boolean>;
/** History events for a policy (or all), newest first; shape owned by src/history. */
export type HistoryProvider = (policy?: string) => Promise<unknown[]>;

export interface StartServerOptions {
  /**
   * A git work tree or plain directory, a bundle file, or an `http(s)://.../v1/bundle` URL.
   * Undefined: `cwd`. Null: no source; bundles arrive only through publish() (the GitHub App).
   */
  source?: string | null;
  /** Base for a relative source (default process.cwd()). */
  cwd?: string;
  host?: string;
  /** Default 8080; 0 picks a free port (see `url`). */
  port?: number;
  /** Keeps the last good bundle; served at start before the source answers. */
  stateDir?: string;
  /** Bundles from files, upstreams, publish and the state directory must be signed by one of these. */
  publicKeys?: readonly KeyObject[];
  /** Sign what is compiled from a git source or directory. */
  signKeys?: readonly KeyObject[];
  oidc?: OidcOptions;
  /** When set, only callers in these organizations get answers (others 403). */
  organizations?: readonly string[];
  apiKeys?: readonly ApiKeyEntry[];
  /** Sent to an http(s) source as `Authorization: ApiKey <key>` (an upstream with --read-access api-key|github). */
  upstreamApiKey?: string;
  /** Accept a git head that does not descend from the served commit. */
  allowRewind?: boolean;
  logger?: Logger;
  consoleHandler?: ConsoleHandler;
  /** Mounted at /api/github/webhooks (any method), e.g. Probot's createNodeMiddleware. */
  webhookHandler?: (req: IncomingMessage, res: ServerResponse) => void;
  historyProvider?: HistoryProvider;
  /** Fallback poll of git and directory sources (default 10 s) and file sources (2 s). */
  pollIntervalMs?: number;
  /** Longest `?wait=` honoured (default 60). */
  maxWaitSeconds?: number;
  /** Longest wait for the source's first answer before startServer resolves (default 10 s). */
  initialSourceTimeoutMs?: number;
  /** Node's default process metrics (default true). */
  defaultMetrics?: boolean;
  /** Bytes the /v1/policy answer cache may hold before it is emptied (default 32 MiB). */
  answerCacheBytes?: number;
  /** Lifetime of a signed /v1/policy answer, runner caches included (default 24 h). */
  answerTtlSeconds?: number;
  /**
   * Who may read /v1/bundle, /v1/history and the console (docs/security.md, "Read access").
   * Default public. `api-key`: `Authorization: ApiKey <key>` with a key of `apiKeys`. `github`:
   * that, or a console session from GitHub sign-in.
   */
  readAccess?: ReadAccess;
}

export type ReadAccess = { mode: 'public' } | { mode: 'api-key' } | { mode: 'github'; oauth: GitHubOAuth };

export interface ReadinessReport {
  status: 'ok' | 'degraded' | 'unavailable';
  revision: string | null;
  committedAt: string | null;
  digest: string | null;
  origin: string | null;
  servedSince: string | null;
  source: { kind: string; location: string; lastSuccessAt: string | null; lastError: { message: string; at: string } | null };
  problem: { reason: string; message: string; origin: string; at: string; revision: string | null } | null;
  /** What is failing now (the source cannot be read, the state directory cannot be written); empty when nothing. */
  failing: { component: 'source' | 'state-dir'; message: string; since: string }[];
}

/** The running server, as the console and the app see it. Read-only views. */
export interface ServerState {
  readonly startedAt: Date;
  readonly bundle: ServedBundle | undefined;
  readonly degraded: Problem | undefined;
  readonly source: SourceStatus;
  readiness(): ReadinessReport;
  /** The /v1/policy answer for a query, from the served bundle (undefined while none). */
  resolve(query: ResolveQuery): PolicyAnswer | undefined;
  readonly historyProvider: HistoryProvider | undefined;
}

export interface PolicyAnswer {
  revision: string;
  policy: string | null;
  scope: { type: string; key: string } | null;
  shadowed: { type: string; key: string; policy: string }[];
  config: Record<string, string | boolean>;
  'lockdown-mode': { enabled: boolean; detections: string[] } | null;
}

export interface PublishOptions {
  /**
   * Ordering against the served bundle. Default: committedAt must not be older. The app passes
   * its own ancestry test (it knows the git history) as `isDescendant(servedRevision)`.
   */
  isDescendant?: (servedRevision: string) => Promise<boolean | undefined>;
}

export interface RunningServer {
  /** `http://host:port` (no trailing slash). */
  url: string;
  port: number;
  state: ServerState;
  metrics: ServerMetrics;
  server: Server;
  /** Offer a signed envelope (the same checks and refusal rules as every source). */
  publish(envelopeText: string, options?: PublishOptions): Promise<OfferResult>;
  /** Ask the source to look for a change now. */
  refresh(): Promise<void>;
  /** Stop accepting, end long polls (304), stop the source, finish in-flight requests. */
  close(): Promise<void>;
}

const JSON_TYPE = 'application/json; charset=utf-8';
const ANSWER_CACHE_SIZE = 50_000;
/** Bytes of cached answers (bodies and keys) before the cache is emptied; see docs/security.md. */
const ANSWER_CACHE_BYTES = 32 * 1024 * 1024;
/** Longest `?workflow=` (and repository) accepted: each distinct one is a cache key. */
export const MAX_QUERY_VALUE_LENGTH = 512;

interface CachedAnswer {
  body: Buffer;
  /** writeHead's flat [name, value, ...] list. */
  headers: string[];
  /** Signed answers: when to sign again (half their lifetime). */
  renewAt?: number;
}

/** A response carrying what the shared 'finish' listener needs for the request metrics. */
type TimedResponse = ServerResponse & { egressRoute: string; egressStarted: number };
const API_ROUTES: Record<string, string> = {
  '/v1/bundle': 'bundle',
  '/v1/policy': 'policy',
  '/v1/history': 'history',
  '/healthz': 'healthz',
  '/readyz': 'readyz',
  '/metrics': 'metrics',
};

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export async function startServer(options: StartServerOptions = {}): Promise<RunningServer> {
  const logger = options.logger ?? pino({ name: 'egressctl', level: process.env.EGRESSCTL_LOG_LEVEL ?? 'info' });
  const metrics = createMetrics({ defaultMetrics: options.defaultMetrics ?? true });
  const publicKeys = options.publicKeys ?? [];
  const signKeys = options.signKeys ?? [];
  const trustedKeys = [...publicKeys, ...signKeys.map((key) => createPublicKey(key))];
  if (options.stateDir) await mkdir(options.stateDir, { recursive: true });
  const store = new BundleStore({ trustedKeys, metrics, logger, ...(options.stateDir ? { stateDir: options.stateDir } : {}) });
  const oidc = new OidcVerifier(options.oidc ?? {});
  const apiKeys = new ApiKeyRing(options.apiKeys ?? []);
  const organizations = options.organizations && options.organizations.length > 0 ? new Set(options.organizations.map((org) => org.toLowerCase())) : undefined;
  const maxWait = options.maxWaitSeconds ?? MAX_WAIT_SECONDS;
  const startedAt = new Date();

  // Answers per (bundle, caller scope), body and header list ready to write: most callers ask
  // the same few questions. Emptied when the bundle changes, or when full (a bound, not an LRU:
  // a hit must stay one Map lookup).
  const answerCache = new Map<string, CachedAnswer>();
  let answerCacheEtag: string | undefined;
  let answerCacheBytes = 0;
  const answerCacheLimit = options.answerCacheBytes ?? ANSWER_CACHE_BYTES;
  const answerTtl = options.answerTtlSeconds ?? DEFAULT_ANSWER_TTL_SECONDS;

  const source = await createSource(options, store, logger, signKeys);
  if (source) {
    store.source.kind = source.kind;
    store.source.location = source.location;
  }

  const resolveAnswer = (query: ResolveQuery): PolicyAnswer | undefined => {
    const served = store.current;
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
  };

  const state: ServerState = {
    startedAt,
    get bundle() {
      return store.current;
    },
    get degraded() {
      return store.degraded;
    },
    get source() {
      return store.source;
    },
    readiness: () => readiness(store),
    resolve: resolveAnswer,
    historyProvider: options.historyProvider,
  };

  let lastStateProbe = 0;
  // History last read per policy (or all): served, marked stale, while the source cannot be read.
  const historyCache = new Map<string, unknown[]>();

  // `search` is the raw query string (after `?`): parsed only by the handlers that read it.
  const handlers: Record<string, (req: IncomingMessage, res: ServerResponse, search: string) => Promise<void> | void> = {
    bundle: (req, res, search) => serveBundle(req, res, new URLSearchParams(search)),
    policy: (req, res, search) => servePolicy(req, res, search),
    history: (_req, res, search) => serveHistory(res, new URLSearchParams(search)),
    healthz: (_req, res) => sendJson(res, 200, { status: 'ok' }),
    readyz: async (_req, res) => {
      // A write probe at most once a second: readiness polls must not hammer the disk.
      if (Date.now() - lastStateProbe > 1_000) {
        lastStateProbe = Date.now();
        await store.probeStateDir();
      }
      const report = readiness(store);
      sendJson(res, report.status === 'unavailable' ? 503 : 200, report);
    },
    metrics: async (_req, res) => {
      const text = await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' });
      res.end(text);
    },
  };

  async function serveBundle(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
    const waitText = query.get('wait');
    let wait = 0;
    if (waitText !== null) {
      if (!/^\d{1,6}$/.test(waitText)) throw new HttpError(400, 'bad_request', `wait must be a whole number of seconds (0..${maxWait}), not "${waitText.slice(0, 20)}"`);
      wait = Math.min(Number(waitText), maxWait);
    }
    let served = store.current;
    const ifNoneMatch = req.headers['if-none-match'];
    if (served && wait > 0 && etagMatches(ifNoneMatch, served.etag)) {
      const abort = new AbortController();
      const onClose = (): void => abort.abort();
      res.once('close', onClose);
      await store.waitForChange(served.etag, wait * 1000, abort.signal);
      res.off('close', onClose);
      if (abort.signal.aborted) return;
      served = store.current;
    } else if (!served && wait > 0) {
      // No bundle yet: hold the request until one arrives, as a replica starting first expects.
      const abort = new AbortController();
      res.once('close', () => abort.abort());
      await store.waitForChange(undefined, wait * 1000, abort.signal);
      if (abort.signal.aborted) return;
      served = store.current;
    }
    if (!served) throw noBundle();
    const headers = {
      etag: served.etag,
      'cache-control': 'no-cache',
      'x-egressctl-revision': served.bundle.revision,
    };
    if (etagMatches(req.headers['if-none-match'], served.etag)) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    res.writeHead(200, { ...headers, 'content-type': JSON_TYPE, 'content-length': String(served.body.length) });
    res.end(req.method === 'HEAD' ? undefined : served.body);
  }

  function servePolicy(req: IncomingMessage, res: ServerResponse, search: string): Promise<void> | void {
    // Fast path, no await: a Bearer token verified before (the cache holds it until its exp).
    const header = req.headers.authorization;
    if (header !== undefined && header.length > 7 && header.slice(0, 7).toLowerCase() === 'bearer ') {
      const identity = oidc.cached(header.slice(7).trim());
      if (identity) {
        const query = { organization: identity.organization, repository: identity.repository, workflow: identity.workflowRef };
        if (!organizations || organizations.has(identity.organization.toLowerCase())) {
          answerPolicy(req, res, query);
          return;
        }
      }
    }
    return authenticate(req, search).then((query) => answerPolicy(req, res, query));
  }

  function answerPolicy(req: IncomingMessage, res: ServerResponse, query: ResolveQuery): void {
    const served = store.current;
    if (!served) throw noBundle();
    const accept = req.headers.accept;
    if (accept !== undefined && accept.includes(SIGNED_ANSWER_MEDIA_TYPE)) {
      answerSigned(req, res, query, served);
      return;
    }
    if (answerCacheEtag !== served.etag) {
      answerCache.clear();
      answerCacheBytes = 0;
      answerCacheEtag = served.etag;
    }
    const key = `${query.organization ?? ''}\u0000${query.repository ?? ''}\u0000${query.workflow ?? ''}\u0000${query.cluster ?? ''}`;
    let answer = answerCache.get(key);
    if (!answer) {
      const body = Buffer.from(JSON.stringify(resolveAnswer(query)), 'utf8');
      answer = {
        body,
        headers: [
          'content-type', JSON_TYPE,
          'content-length', String(body.length),
          'cache-control', 'no-store',
          'vary', 'Authorization',
          'x-egressctl-revision', served.bundle.revision,
        ],
      };
      const cost = body.length + key.length * 2 + 200;
      if (answerCache.size >= ANSWER_CACHE_SIZE || answerCacheBytes + cost > answerCacheLimit) {
        answerCache.clear();
        answerCacheBytes = 0;
      }
      answerCache.set(key, answer);
      answerCacheBytes += cost;
      metrics.answerCacheBytes.set(answerCacheBytes);
    }
    res.writeHead(200, answer.headers);
    res.end(req.method === 'HEAD' ? undefined : answer.body);
  }

  /**
   * The answer as a DSSE envelope signed with the bundle key (docs/architecture.md, "Runner side:
   * signed answers"), cached per scope and revision like the plain one: signing is paid once per
   * scope and revision (and again at half the lifetime), not per request.
   */
  function answerSigned(req: IncomingMessage, res: ServerResponse, query: ResolveQuery, served: ServedBundle): void {
    if (signKeys.length === 0) {
      throw new HttpError(406, 'unsigned', 'this server has no --sign-key, so it cannot sign answers; runners that verify answers need one');
    }
    // Sign only what is trusted: compiled here, or verified against a trusted key on arrival.
    if (served.keyids.length === 0 && served.origin !== 'git' && served.origin !== 'worktree') {
      throw new HttpError(406, 'unsigned', 'the served bundle was not verified (start with --public-key), so its answers are not signed');
    }
    if (answerCacheEtag !== served.etag) {
      answerCache.clear();
      answerCacheBytes = 0;
      answerCacheEtag = served.etag;
    }
    const key = `s\u0000${query.organization ?? ''}\u0000${query.repository ?? ''}\u0000${query.workflow ?? ''}\u0000${query.cluster ?? ''}`;
    const now = Date.now();
    let answer = answerCache.get(key);
    if (!answer || (answer.renewAt ?? 0) <= now) {
      const resolved = resolveAnswer(query);
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
        expiresAt: new Date(now + answerTtl * 1000).toISOString(),
        answer: resolved,
      };
      const body = Buffer.from(signAnswer(statement, signKeys), 'utf8');
      answer = {
        body,
        headers: [
          'content-type', SIGNED_ANSWER_MEDIA_TYPE,
          'content-length', String(body.length),
          'cache-control', 'no-store',
          'vary', 'Authorization, Accept',
          'x-egressctl-revision', served.bundle.revision,
        ],
        renewAt: now + (answerTtl * 1000) / 2,
      };
      const cost = body.length + key.length * 2 + 200;
      if (answerCache.size >= ANSWER_CACHE_SIZE || answerCacheBytes + cost > answerCacheLimit) {
        answerCache.clear();
        answerCacheBytes = 0;
      }
      answerCache.set(key, answer);
      answerCacheBytes += cost;
      metrics.answerCacheBytes.set(answerCacheBytes);
    }
    res.writeHead(200, answer.headers);
    res.end(req.method === 'HEAD' ? undefined : answer.body);
  }

  /** The caller's organization, repository, workflow and cluster, from verified credentials only. */
  function refusal(req: IncomingMessage, status: number, reason: string, code: string, message: string): HttpError {
    metrics.authFailures.inc({ reason });
    logger.warn({ route: '/v1/policy', status, reason, remote: req.socket.remoteAddress }, `refused: ${message}`);
    return new HttpError(status, code, message, status === 401 ? { 'www-authenticate': 'Bearer realm="egressctl", ApiKey realm="egressctl"' } : {});
  }

  async function authenticate(req: IncomingMessage, search: string): Promise<ResolveQuery> {
    const header = req.headers.authorization;
    const refuse = (status: number, reason: string, code: string, message: string): never => {
      throw refusal(req, status, reason, code, message);
    };
    if (!header) return refuse(401, 'missing', 'unauthenticated', 'send Authorization: Bearer <GitHub Actions OIDC token> or ApiKey <key>');
    const space = header.indexOf(' ');
    const scheme = (space === -1 ? header : header.slice(0, space)).toLowerCase();
    const credentials = space === -1 ? '' : header.slice(space + 1).trim();
    if (credentials === '') return refuse(401, 'missing', 'unauthenticated', `the ${scheme} credentials are empty`);

    let query: ResolveQuery;
    if (scheme === 'bearer') {
      const outcome = await oidc.verify(credentials);
      if (!outcome.ok) {
        return refuse(outcome.status, outcome.reason, outcome.status === 503 ? 'unavailable' : 'invalid_token', outcome.message);
      }
      // Query parameters are ignored: who is asking is what the token says.
      query = {
        organization: outcome.identity.organization,
        repository: outcome.identity.repository,
        workflow: outcome.identity.workflowRef,
      };
    } else if (scheme === 'apikey') {
      const params = new URLSearchParams(search);
      const entry = apiKeys.lookup(credentials);
      if (!entry) return refuse(401, 'api_key', 'invalid_api_key', 'the API key is not known to this server');
      const repository = params.get('repository')?.trim() ?? '';
      const workflowParam = params.get('workflow') ?? '';
      if (repository.length > MAX_QUERY_VALUE_LENGTH || workflowParam.length > MAX_QUERY_VALUE_LENGTH) {
        throw new HttpError(400, 'bad_request', `repository and workflow must be at most ${MAX_QUERY_VALUE_LENGTH} characters`);
      }
      if (!/^[A-Za-z0-9][A-Za-z0-9-]*\/[A-Za-z0-9._-]+$/.test(repository)) {
        throw new HttpError(400, 'bad_request', 'with an API key, give ?repository=OWNER/REPO (and &workflow=.github/workflows/F.yml)');
      }
      const organization = repository.split('/')[0]?.toLowerCase() ?? '';
      if (!entry.organizations.includes(organization)) {
        return refuse(403, 'api_key_scope', 'forbidden', `API key "${entry.name}" is not allowed to ask about organization "${organization}"`);
      }
      // The key decides the cluster; a hook that names one must name the key's (catches a mix-up).
      const cluster = params.get('cluster')?.trim().toLowerCase();
      if (cluster && cluster !== entry.cluster) {
        return refuse(403, 'api_key_scope', 'forbidden', `API key "${entry.name}" belongs to cluster "${entry.cluster}", not "${cluster.slice(0, 64)}"`);
      }
      query = { organization, repository, cluster: entry.cluster };
      const workflow = params.get('workflow')?.trim();
      if (workflow) {
        const key = workflowKey(workflow, repository);
        if (!key || !key.startsWith(`${repository.toLowerCase()}/.github/workflows/`) || !/\.ya?ml$/.test(key)) {
          throw new HttpError(400, 'bad_request', `workflow must be .github/workflows/F.yml of ${repository} (or its workflow_ref), not "${workflow.slice(0, 200)}"`);
        }
        query.workflow = key;
      }
    } else {
      return refuse(401, 'scheme', 'unauthenticated', `unsupported authorization scheme "${scheme.slice(0, 20)}": use Bearer or ApiKey`);
    }
    const organization = query.organization?.toLowerCase() ?? '';
    if (organizations && !organizations.has(organization)) {
      return refuse(403, 'organization', 'forbidden', `organization "${organization}" is not served by this server`);
    }
    return query;
  }

  async function serveHistory(res: ServerResponse, params: URLSearchParams): Promise<void> {
    if (!options.historyProvider) {
      throw new HttpError(404, 'not_available', 'history is not available: it is read from git log, so it needs a git source (--source DIR)');
    }
    const policy = params.get('policy') ?? undefined;
    if (policy !== undefined && !POLICY_NAME_PATTERN.test(policy)) {
      throw new HttpError(400, 'bad_request', `policy must be a policy name (${POLICY_NAME_PATTERN.source})`);
    }
    const cacheKey = policy ?? '';
    let events: unknown[];
    try {
      events = await options.historyProvider(policy);
    } catch (error) {
      logger.warn({ route: '/v1/history', err: messageOf(error) }, 'cannot read history from the source');
      const last = historyCache.get(cacheKey);
      const reason = 'the source repository cannot be read right now (see /readyz)';
      if (!last) throw new HttpError(503, 'history_unavailable', `history is unavailable: ${reason}; retry later`, { 'retry-after': '30' });
      sendJson(res, 200, { ...(policy === undefined ? {} : { policy }), events: last, stale: { reason } }, { 'x-egressctl-stale': 'true' });
      return;
    }
    if (historyCache.size >= 1_000 && !historyCache.has(cacheKey)) historyCache.clear();
    historyCache.set(cacheKey, events);
    sendJson(res, 200, policy === undefined ? { events } : { policy, events });
  }

  const server = createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 15_000, headersTimeout: 10_000, keepAliveTimeout: 5_000 }, (req, res) => {
    void handle(req, res);
  });
  // Long polls keep a socket quiet for up to maxWait seconds.
  server.timeout = (maxWait + 15) * 1000;

  // prom-client hashes a label object on every call; label children are looked up once, through
  // nested maps (no key string built per request).
  const requestCounters = new Map<string, Map<string, Map<number, { inc(): void }>>>();
  const durationHistograms = new Map<string, { observe(value: number): void }>();
  function observe(route: string, method: string, status: number, started: number): void {
    let byMethod = requestCounters.get(route);
    if (!byMethod) requestCounters.set(route, (byMethod = new Map()));
    let byStatus = byMethod.get(method);
    if (!byStatus) byMethod.set(method, (byStatus = new Map()));
    let counter = byStatus.get(status);
    if (!counter) {
      counter = metrics.requests.labels(route, method, String(status));
      byStatus.set(status, counter);
    }
    counter.inc();
    let histogram = durationHistograms.get(route);
    if (!histogram) {
      histogram = metrics.duration.labels(route);
      durationHistograms.set(route, histogram);
    }
    histogram.observe((performance.now() - started) / 1000);
  }

  // One shared 'finish' listener (no closure per request): the route and start time ride on the
  // response object.
  function onFinish(this: TimedResponse): void {
    observe(this.egressRoute, this.req.method ?? 'GET', this.statusCode, this.egressStarted);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const timed = res as TimedResponse;
    timed.egressStarted = performance.now();
    const url = req.url ?? '/';
    const mark = url.indexOf('?');
    const pathname = mark === -1 ? url : url.slice(0, mark);
    let route = API_ROUTES[pathname];
    timed.egressRoute = route ?? 'other';
    res.on('finish', onFinish);
    try {
      if (pathname === WEBHOOK_PATH && options.webhookHandler) {
        route = 'webhook';
        timed.egressRoute = route;
        options.webhookHandler(req, res);
        return;
      }
      const method = req.method ?? 'GET';
      if (method !== 'GET' && method !== 'HEAD') {
        throw new HttpError(405, 'method_not_allowed', `${method} is not allowed here; use GET`, { allow: 'GET, HEAD' });
      }
      const length = req.headers['content-length'];
      if ((length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined) {
        throw new HttpError(413, 'body_not_allowed', 'GET requests take no body', { connection: 'close' });
      }
      const readAccess = options.readAccess ?? { mode: 'public' };
      if (readAccess.mode === 'github' && pathname.startsWith('/auth/') && (await readAccess.oauth.handle(req, res, pathname, mark === -1 ? '' : url.slice(mark + 1)))) {
        route = 'auth';
        timed.egressRoute = route;
        return;
      }
      // Bundle, history and the console need a reader; /v1/policy has its own auth, probes and metrics none.
      if (readAccess.mode !== 'public' && (route === undefined || route === 'bundle' || route === 'history') && !isReader(req, readAccess)) {
        const accept = req.headers.accept ?? '';
        if (readAccess.mode === 'github' && route === undefined && accept.includes('text/html')) {
          res.writeHead(302, { location: `/auth/login?next=${encodeURIComponent(url.slice(0, 500))}`, 'cache-control': 'no-store' });
          res.end();
          return;
        }
        throw new HttpError(
          401,
          'unauthenticated',
          readAccess.mode === 'github' ? 'sign in at /auth/login, or send Authorization: ApiKey <key>' : 'send Authorization: ApiKey <key> (a key of the --api-keys file)',
          { 'www-authenticate': 'ApiKey realm="egressctl"' },
        );
      }
      const handler = route === undefined ? undefined : handlers[route];
      if (handler) {
        await handler(req, res, mark === -1 ? '' : url.slice(mark + 1));
        return;
      }
      if (options.consoleHandler && (await options.consoleHandler(req, res, state))) {
        route = 'console';
        timed.egressRoute = route;
        return;
      }
      throw new HttpError(404, 'not_found', `no such route: ${pathname.slice(0, 200)}`);
    } catch (error) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (error instanceof HttpError) {
        sendJson(res, error.status, { error: { code: error.code, message: error.message } }, error.headers);
        return;
      }
      logger.error({ route, err: messageOf(error) }, 'request failed');
      sendJson(res, 500, { error: { code: 'internal', message: 'internal error (see the server log)' } });
    }
  }

  // A kill -9 during a state write leaves a temporary file behind: nothing else would remove it.
  await store.cleanStaleTemporaries();
  await store.probeStateDir();
  function isReader(req: IncomingMessage, readAccess: ReadAccess): boolean {
    const header = req.headers.authorization;
    if (header !== undefined && /^apikey\s/i.test(header) && apiKeys.lookup(header.slice(7).trim())) return true;
    return readAccess.mode === 'github' && readAccess.oauth.sessionLogin(req) !== undefined;
  }

  // The saved bundle first: it is served even when the source never answers.
  const restored = await store.loadState();
  if (restored) logger.info({ revision: restored, stateDir: options.stateDir }, 'serving the saved bundle until the source answers');

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? DEFAULT_PORT, options.host ?? DEFAULT_HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;

  if (source) {
    const first = source.start().catch((error: unknown) => store.sourceError(messageOf(error)));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, options.initialSourceTimeoutMs ?? 10_000);
      timer.unref();
    });
    await Promise.race([first, timeout]);
    clearTimeout(timer);
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      store.close();
      await source?.stop();
      server.closeIdleConnections();
      // In-flight requests get a grace period, then their sockets are closed.
      const force = setTimeout(() => server.closeAllConnections(), 5_000);
      force.unref();
      await closed;
      clearTimeout(force);
    })();
    return closing;
  };

  return {
    url,
    port: address.port,
    state,
    metrics,
    server,
    publish: (text, publishOptions = {}) => {
      const { isDescendant } = publishOptions;
      return store.offer(text, {
        origin: 'publish',
        ordering: isDescendant
          ? {
              kind: 'git',
              allowRewind: false,
              relation: async (served) => {
                const answer = await isDescendant(served);
                return answer === undefined ? 'unknown' : answer ? 'descendant' : 'not-descendant';
              },
            }
          : { kind: 'committed-at' },
      });
    },
    refresh: async () => {
      await source?.refresh();
    },
    close,
  };
}

async function createSource(options: StartServerOptions, store: BundleStore, logger: Logger, signKeys: readonly KeyObject[]): Promise<BundleSource | undefined> {
  if (options.source === null) return undefined;
  const cwd = options.cwd ?? process.cwd();
  const spec = options.source ?? cwd;
  if (/^https?:\/\//i.test(spec)) {
    let parsed: URL;
    try {
      parsed = new URL(spec);
    } catch {
      throw new UsageError(`--source ${spec} is not a valid URL`);
    }
    if (parsed.username || parsed.password) throw new UsageError('--source URL must not carry credentials');
    return new UpstreamSource({ url: parsed.toString(), store, ...(options.upstreamApiKey ? { headers: { authorization: `ApiKey ${options.upstreamApiKey}` } } : {}) });
  }
  const location = path.resolve(cwd, spec);
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(location)).isDirectory();
  } catch (error) {
    throw new UsageError(`--source ${spec}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : messageOf(error)}`);
  }
  const pollIntervalMs = options.pollIntervalMs;
  if (!isDirectory) return new FileSource({ file: location, store, ...(pollIntervalMs ? { pollIntervalMs } : {}) });
  if (await isGitWorkTree(location)) {
    return new GitSource({ dir: location, store, logger, signKeys, allowRewind: options.allowRewind ?? false, ...(pollIntervalMs ? { pollIntervalMs } : {}) });
  }
  logger.warn({ dir: location }, 'not a git repository: serving its files as they are, with revision worktree-<content digest>');
  return new WorktreeSource({ dir: location, store, logger, signKeys, ...(pollIntervalMs ? { pollIntervalMs } : {}) });
}

function readiness(store: BundleStore): ReadinessReport {
  const served = store.current;
  const problem = store.degraded;
  const source = store.source;
  const failing: ReadinessReport['failing'] = [];
  // The source's last look failed (and nothing succeeded since): a deleted repository, an upstream down.
  if (source.lastError && (!source.lastSuccessAt || source.lastError.at >= source.lastSuccessAt)) {
    failing.push({ component: 'source', message: source.lastError.message, since: source.lastError.at.toISOString() });
  }
  if (store.stateError) failing.push({ component: 'state-dir', message: store.stateError.message, since: store.stateError.at.toISOString() });
  return {
    status: !served ? 'unavailable' : problem || failing.length > 0 ? 'degraded' : 'ok',
    revision: served?.bundle.revision ?? null,
    committedAt: served?.bundle.committedAt ?? null,
    digest: served?.bundle.digest ?? null,
    origin: served?.origin ?? null,
    servedSince: served?.acceptedAt.toISOString() ?? null,
    source: {
      kind: source.kind,
      location: source.location,
      lastSuccessAt: source.lastSuccessAt?.toISOString() ?? null,
      lastError: source.lastError ? { message: source.lastError.message, at: source.lastError.at.toISOString() } : null,
    },
    problem: problem
      ? { reason: problem.reason, message: problem.message, origin: problem.origin, at: problem.at.toISOString(), revision: problem.revision ?? null }
      : null,
    failing,
  };
}

function noBundle(): HttpError {
  return new HttpError(503, 'no_bundle', 'no bundle yet: the source has not given a valid one (see /readyz)', { 'retry-after': '5' });
}

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': String(body.length), 'cache-control': 'no-store', ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** RFC 9110 If-None-Match: a list of entity tags (weak comparison) or `*`. */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  const bare = etag.replace(/^W\//, '');
  return header.split(',').some((candidate) => candidate.trim().replace(/^W\//, '') === bare);
}
