/** The body of GET /readyz, from the store's view of the served bundle, source and state directory. */
import type { ReadinessReport } from './api.js';
import type { BundleStore } from './store.js';

export function readiness(store: BundleStore): ReadinessReport {
  const served = store.current;
  const problem = store.degraded;
  const source = store.source;
  const failing: ReadinessReport['failing'] = [];
  // The source's last look failed (and nothing succeeded since): a deleted repository, an upstream down.
  if (source.lastError && (!source.lastSuccessAt || source.lastError.at >= source.lastSuccessAt)) {
    failing.push({ component: 'source', message: source.lastError.message, since: source.lastError.at.toISOString() });
  }
  if (store.stateError) failing.push({ component: 'state-dir', message: store.stateError.message, since: store.stateError.at.toISOString() });
  const status = !served ? 'unavailable' : problem || failing.length > 0 ? 'degraded' : 'ok';
  const first = failing[0];
  const reason =
    status === 'ok'
      ? null
      : first
        ? `${first.component}: ${first.message}`
        : problem
          ? `${problem.reason}: ${problem.message}`
          : 'no bundle served yet (waiting for the source)';
  return {
    status,
    reason,
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
