/** Per-request metrics (requests by route, method and status; duration by route). */
import type { ServerResponse } from 'node:http';
import type { ServerMetrics } from './metrics.js';

/** A response carrying what the shared 'finish' listener needs for the request metrics. */
export type TimedResponse = ServerResponse & { egressRoute: string; egressStarted: number };

/**
 * The 'finish' listener to attach to every response after setting `egressRoute` and
 * `egressStarted`: one shared function (no closure per request). prom-client hashes a label
 * object on every call; label children are looked up once, through nested maps (no key string
 * built per request).
 */
export function requestObserver(metrics: ServerMetrics): (this: TimedResponse) => void {
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
  return function onFinish(this: TimedResponse): void {
    observe(this.egressRoute, this.req.method ?? 'GET', this.statusCode, this.egressStarted);
  };
}
