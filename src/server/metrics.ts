/**
 * Prometheus metrics of one server, in its own Registry (never prom-client's global one), so
 * several servers in one process (tests, the app mounting the server) do not collide.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type RefusalReason = 'verification' | 'older' | 'compile';

export interface ServerMetrics {
  registry: Registry;
  requests: Counter<'route' | 'method' | 'status'>;
  duration: Histogram<'route'>;
  bundleInfo: Gauge<'revision' | 'committed_at' | 'digest' | 'source'>;
  bundleUpdates: Counter<'source'>;
  refusals: Counter<'reason'>;
  sourceErrors: Counter<'source'>;
  authFailures: Counter<'reason'>;
  /** Bytes held by the /v1/policy answer cache (set by the server; read at scrape time). */
  answerCacheBytes: Gauge;
  /** Set by the store; read by the age gauge at scrape time. */
  setCommittedAt(committedAt: string | undefined): void;
}

export interface MetricsOptions {
  defaultMetrics?: boolean;
  /** Repositories per sync status (exclusive states). */
  syncStates?: () => Promise<Record<string, number>>;
  /** Jobs whose coverage fails open, per organization. */
  failingOpen?: () => Promise<Record<string, number>>;
}

export function createMetrics(options: MetricsOptions = {}): ServerMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'egressctl_' });
  let committedAtMs: number | undefined;
  const requests = new Counter({
    name: 'egressctl_http_requests_total',
    help: 'HTTP requests answered, by route, method and status code.',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'egressctl_http_request_duration_seconds',
    help: 'Time from request to the end of the response, by route (long polls included).',
    labelNames: ['route'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30, 60],
    registers: [registry],
  });
  const bundleInfo = new Gauge({
    name: 'egressctl_bundle_info',
    help: 'The bundle being served (value 1), labelled with its revision, commit date, digest and where it came from.',
    labelNames: ['revision', 'committed_at', 'digest', 'source'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'egressctl_bundle_age_seconds',
    help: 'Seconds since the served revision was committed (absent while no bundle is served).',
    registers: [registry],
    collect() {
      if (committedAtMs === undefined) this.reset();
      else this.set(Math.max(0, (Date.now() - committedAtMs) / 1000));
    },
  });
  // One declaration per metric, alike by design (prom-client's shape): names and help are the documentation.
  const bundleUpdates = new Counter({
    name: 'egressctl_bundle_updates_total',
    help: 'New bundles accepted and served, by source.',
    labelNames: ['source'] as const,
    registers: [registry],
  });
  const refusals = new Counter({
    name: 'egressctl_bundle_refusals_total',
    help: 'Bundles refused: verification (signature, digest, schema), older (would step back) or compile (the revision has errors).',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const sourceErrors = new Counter({
    name: 'egressctl_source_errors_total',
    help: 'Failures to read the bundle source (unreachable upstream, missing file, git failure).',
    labelNames: ['source'] as const,
    registers: [registry],
  });
  const authFailures = new Counter({
    name: 'egressctl_auth_failures_total',
    help: 'Requests to /v1/policy refused by authentication or authorization, by reason.',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const answerCacheBytes = new Gauge({
    name: 'egressctl_answer_cache_bytes',
    help: 'Bytes held by the /v1/policy answer cache (bodies and keys, estimated); bounded by a fixed cap.',
    registers: [registry],
  });
  const syncStates = options.syncStates;
  if (syncStates) {
    new Gauge({
      name: 'egressctl_sync_repositories',
      help: 'Repositories by their last sync outcome (synced, out-of-sync, pr-open, pr-closed, error), from the sync state (the state directory, or the App\'s Redis with several replicas).',
      labelNames: ['state'] as const,
      registers: [registry],
      async collect() {
        const counts = await syncStates().catch(() => undefined);
        this.reset();
        for (const [state, count] of Object.entries(counts ?? {})) this.set({ state }, count);
      },
    });
  }
  const failingOpen = options.failingOpen;
  if (failingOpen) {
    // Its own gauge: a repository whose coverage fails open still has one sync status above.
    new Gauge({
      name: 'egressctl_coverage_jobs_failing_open',
      help: 'Jobs whose managed step gets less than the store says (it fails open, through a retained or left-over Actions variable), per organization, from the last sync\'s coverage; alert on > 0.',
      labelNames: ['organization'] as const,
      registers: [registry],
      async collect() {
        const counts = await failingOpen().catch(() => undefined);
        this.reset();
        for (const [organization, count] of Object.entries(counts ?? {})) this.set({ organization }, count);
      },
    });
  }
  for (const reason of ['verification', 'older', 'compile'] as const) refusals.inc({ reason }, 0);
  return {
    registry,
    requests,
    duration,
    bundleInfo,
    bundleUpdates,
    refusals,
    sourceErrors,
    authFailures,
    answerCacheBytes,
    setCommittedAt(committedAt) {
      committedAtMs = committedAt === undefined ? undefined : Date.parse(committedAt);
    },
  };
}
