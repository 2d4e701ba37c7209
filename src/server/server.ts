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
import { mkdir } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import type { ResolveQuery } from '../policy/resolve.js';
import { publishOrdering } from '../bundle/revision-order.js';
import { PolicyAnswers } from './answers.js';
import { DEFAULT_HOST, DEFAULT_PORT, MAX_WAIT_SECONDS, WEBHOOK_PATH, type PolicyAnswer, type PublishOptions, type ReadinessReport } from './api.js';
import { messageOf } from '../util/errors.js';
import { ApiKeyRing, type ApiKeyEntry } from './auth/api-keys.js';
import { OidcVerifier, type OidcOptions } from './auth/oidc.js';
import type { GitHubOAuth } from './auth/github-oauth.js';
import { createAuthenticator } from './authenticate.js';
import { createSource } from './create-source.js';
import { HttpError, sendJson } from './http.js';
import { createMetrics, type ServerMetrics } from './metrics.js';
import { failingOpenCounts, syncStateCounts } from '../rollout/sync-report.js';
import { FileSyncStateStore, type SyncStateReader } from '../rollout/sync-state.js';
import { readiness } from './readiness.js';
import { requestObserver, type TimedResponse } from './request-metrics.js';
import { API_ROUTES, createRoutes, type HistoryProvider } from './routes.js';
import { SharedBundles, type BundlePeers } from './peers.js';
import { BundleStore, type OfferResult, type Problem, type ServedBundle, type SourceStatus } from './store.js';

/** Handles GET/HEAD requests no API route claimed (the web console). True when it answered. */
export type ConsoleHandler = (req: IncomingMessage, res: ServerResponse, state: ServerState) => boolean | Promise<boolean>;

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
  /** Level of the logger made when none is given (default info). */
  logLevel?: string;
  consoleHandler?: ConsoleHandler;
  /**
   * Where the replicas of this deployment share what they publish (the App's Redis): a publish is
   * stored there for them, and what another replica stored is adopted (peers.ts). The server
   * closes it when it closes.
   */
  peers?: BundlePeers;
  /** Re-check of `peers` behind its notifications (default 15 s). */
  peerRecheckMs?: number;
  /** Where the App's sync report is (its repositories' states become egressctl_sync_repositories). */
  syncReportDir?: string;
  /** Where the sync state is when it is not a directory (the App's Redis with several replicas); wins over `syncReportDir`. */
  syncState?: SyncStateReader;
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
  /** The clock /v1/policy answers are made at (expiring exceptions); tests move it across midnight. */
  answerClock?: () => number;
  /**
   * Who may read /v1/bundle, /v1/history and the console (docs/security.md, "Read access").
   * Default public. `api-key`: `Authorization: ApiKey <key>` with a key of `apiKeys`. `github`:
   * that, or a console session from GitHub sign-in.
   */
  readAccess?: ReadAccess;
}

export type ReadAccess = { mode: 'public' } | { mode: 'api-key' } | { mode: 'github'; oauth: GitHubOAuth };

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

export async function startServer(options: StartServerOptions = {}): Promise<RunningServer> {
  const logger = options.logger ?? pino({ name: 'egressctl', level: options.logLevel ?? 'info' });
  const syncState = options.syncState ?? (options.syncReportDir ? new FileSyncStateStore(options.syncReportDir) : undefined);
  // One read of the sync state per scrape: both of its gauges are collected at once, and share the read in flight.
  const reportOfScrape = syncState ? sharedInFlight(() => syncState.read()) : undefined;
  const metrics = createMetrics({
    defaultMetrics: options.defaultMetrics ?? true,
    ...(syncState ? { syncStates: async () => syncStateCounts(await reportOfScrape!()), failingOpen: async () => failingOpenCounts(await reportOfScrape!()) } : {}),
  });
  const publicKeys = options.publicKeys ?? [];
  const signKeys = options.signKeys ?? [];
  const trustedKeys = [...publicKeys, ...signKeys.map((key) => createPublicKey(key))];
  if (options.stateDir) await mkdir(options.stateDir, { recursive: true });
  const store = new BundleStore({ trustedKeys, metrics, logger, ...(options.stateDir ? { stateDir: options.stateDir } : {}) });
  const apiKeys = new ApiKeyRing(options.apiKeys ?? []);
  const organizations = options.organizations && options.organizations.length > 0 ? new Set(options.organizations.map((org) => org.toLowerCase())) : undefined;
  const authenticator = createAuthenticator({ oidc: new OidcVerifier(options.oidc ?? {}), apiKeys, organizations, metrics, logger });
  const maxWait = options.maxWaitSeconds ?? MAX_WAIT_SECONDS;
  const startedAt = new Date();
  const answers = new PolicyAnswers({
    store,
    metrics,
    signKeys,
    ...(options.answerCacheBytes === undefined ? {} : { cacheBytes: options.answerCacheBytes }),
    ...(options.answerTtlSeconds === undefined ? {} : { ttlSeconds: options.answerTtlSeconds }),
    ...(options.answerClock === undefined ? {} : { now: options.answerClock }),
  });

  const source = await createSource(options, store, logger, signKeys);
  if (source) {
    store.source.kind = source.kind;
    store.source.location = source.location;
  }

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
    resolve: (query) => answers.resolve(query),
    historyProvider: options.historyProvider,
  };

  const handlers = createRoutes({ store, metrics, logger, answers, authenticator, historyProvider: options.historyProvider, maxWait });

  const server = createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 15_000, headersTimeout: 10_000, keepAliveTimeout: 5_000 }, (req, res) => {
    void handle(req, res);
  });
  // Long polls keep a socket quiet for up to maxWait seconds.
  server.timeout = (maxWait + 15) * 1000;
  const onFinish = requestObserver(metrics);

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
  // Before listening: /readyz must not say ready with an older bundle than another replica published.
  const shared = options.peers ? new SharedBundles({ peers: options.peers, store, logger, ...(options.peerRecheckMs ? { recheckMs: options.peerRecheckMs } : {}) }) : undefined;
  await shared?.start(options.initialSourceTimeoutMs ?? 10_000);

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? DEFAULT_PORT, options.host ?? DEFAULT_HOST, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    // A port in use: the peers' connections would otherwise keep the process alive.
    await shared?.stop();
    throw error;
  }
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
      await shared?.stop();
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
    publish: async (text, publishOptions = {}) => {
      const ordering = publishOrdering(publishOptions.isDescendant);
      // With peers, a newer bundle adopted from another replica can win the race with this publish: not a fault.
      const result = await store.offer(text, { origin: 'publish', ordering, ...(shared ? { olderIsSuperseded: true } : {}) });
      // The other replicas serve it too (the webhook came to this one only).
      if (shared && result.status !== 'refused') await shared.published(result.revision, ordering);
      return result;
    },
    refresh: async () => {
      await source?.refresh();
    },
    close,
  };
}

/** `read`, with callers that overlap a read in flight sharing it (never a cached answer once it settled). */
function sharedInFlight<T>(read: () => Promise<T>): () => Promise<T> {
  let inFlight: Promise<T> | undefined;
  return () => {
    inFlight ??= read().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
}
