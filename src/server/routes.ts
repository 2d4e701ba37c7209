/**
 * The API routes of `egressctl serve` (docs/architecture.md#server), by name: /v1/bundle,
 * /v1/policy, /v1/history and the probes. Dispatch, read access and errors are in server.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { POLICY_NAME_PATTERN } from '../policy/model.js';
import { BoundedMap } from '../util/bounded-map.js';
import type { PolicyAnswers } from './answers.js';
import type { Authenticator } from './authenticate.js';
import { etagMatches, HttpError, JSON_TYPE, noBundle, sendJson } from './http.js';
import type { ServerMetrics } from './metrics.js';
import { readiness } from './readiness.js';
import type { BundleStore } from './store.js';
import { messageOf } from '../util/errors.js';

/** History events for a policy (or all), newest first; shape owned by src/history. */
export type HistoryProvider = (policy?: string) => Promise<unknown[]>;

/** `search` is the raw query string (after `?`): parsed only by the handlers that read it. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse, search: string) => Promise<void> | void;

/** Path -> route name (the `route` label of the request metrics). */
export const API_ROUTES: Record<string, string> = {
  '/v1/bundle': 'bundle',
  '/v1/policy': 'policy',
  '/v1/history': 'history',
  '/healthz': 'healthz',
  '/readyz': 'readyz',
  '/metrics': 'metrics',
};

export interface RoutesContext {
  store: BundleStore;
  metrics: ServerMetrics;
  logger: Logger;
  answers: PolicyAnswers;
  authenticator: Authenticator;
  historyProvider: HistoryProvider | undefined;
  /** Longest `?wait=` honoured (seconds). */
  maxWait: number;
}

export function createRoutes({ store, metrics, logger, answers, authenticator, historyProvider, maxWait }: RoutesContext): Record<string, RouteHandler> {
  let lastStateProbe = 0;
  // History last read per policy (or all): served, marked stale, while the source cannot be read.
  const historyCache = new BoundedMap<string, unknown[]>({ maxEntries: 1_000, evict: 'all' });

  async function serveBundle(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
    const waitText = query.get('wait');
    let wait = 0;
    if (waitText !== null) {
      // One rule: any whole number of seconds, capped at maxWait (a client asking for more gets the
      // longest this server holds a request); anything else is refused.
      if (!/^\d+$/.test(waitText)) {
        throw new HttpError(400, 'bad_request', `wait must be a whole number of seconds (capped at ${maxWait}), not "${waitText.slice(0, 20)}"`);
      }
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
    const known = authenticator.cached(req);
    if (known) {
      answers.send(req, res, known);
      return;
    }
    return authenticator.authenticate(req, search).then((query) => answers.send(req, res, query));
  }

  async function serveHistory(res: ServerResponse, params: URLSearchParams): Promise<void> {
    if (!historyProvider) {
      throw new HttpError(404, 'not_available', 'history is not available: it is read from git log, so it needs a git source (--source DIR)');
    }
    const policy = params.get('policy') ?? undefined;
    if (policy !== undefined && !POLICY_NAME_PATTERN.test(policy)) {
      throw new HttpError(400, 'bad_request', `policy must be a policy name (${POLICY_NAME_PATTERN.source})`);
    }
    const cacheKey = policy ?? '';
    let events: unknown[];
    try {
      events = await historyProvider(policy);
    } catch (error) {
      logger.warn({ route: '/v1/history', err: messageOf(error) }, 'cannot read history from the source');
      const last = historyCache.peek(cacheKey);
      const reason = 'the source repository cannot be read right now (see /readyz)';
      if (!last) throw new HttpError(503, 'history_unavailable', `history is unavailable: ${reason}; retry later`, { 'retry-after': '30' });
      sendJson(res, 200, { ...(policy === undefined ? {} : { policy }), events: last, stale: { reason } }, { 'x-egressctl-stale': 'true' });
      return;
    }
    historyCache.set(cacheKey, events);
    sendJson(res, 200, policy === undefined ? { events } : { policy, events });
  }

  return {
    bundle: (req, res, search) => serveBundle(req, res, new URLSearchParams(search)),
    policy: (req, res, search) => servePolicy(req, res, search),
    history: (_req, res, search) => serveHistory(res, new URLSearchParams(search)),
    healthz: (_req, res) => sendJson(res, 200, { status: 'ok' }),
    readyz: async (_req, res, search) => {
      // A write probe at most once a second: readiness polls must not hammer the disk.
      if (Date.now() - lastStateProbe > 1_000) {
        lastStateProbe = Date.now();
        await store.probeStateDir();
      }
      const report = readiness(store);
      // Degraded is not ready: a probe must take the pod out of rotation (the body says why). A
      // deployment that prefers serving the last good bundle from every replica asks ?degraded=ok.
      const degradedIsReady = new URLSearchParams(search).get('degraded') === 'ok';
      const ready = report.status === 'ok' || (report.status === 'degraded' && degradedIsReady);
      sendJson(res, ready ? 200 : 503, report);
    },
    metrics: async (_req, res) => {
      const text = await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' });
      res.end(text);
    },
  };
}
