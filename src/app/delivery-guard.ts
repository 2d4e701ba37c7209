/**
 * The delivery guard (docs/github-app.md, "Delivery handling"): each delivery id runs each
 * handler once; a failed one may run again on redelivery.
 */
import type { Probot } from 'probot';
import { apiRootOfPayload, githubUrlOfApiRoot, sameApiRoot } from '../github/api-root.js';
import { DeliveryFailure } from './failure.js';
import type { DeliveryLog } from './queue.js';

type Handler = (context: never) => Promise<void> | void;

/** What the App's handlers use of Probot: `on` (each delivery handled once; see guardDeliveries), `auth` and `log`. */
export type WebhookApp = Pick<Probot, 'on' | 'auth' | 'log'>;

/** The log the App's handlers write to (Probot's pino logger; tests pass their own). */
export interface AppLogger {
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
  debug(object: object, message?: string): void;
}

/** What a redelivery of an id that is still being handled does (see docs/github-app.md, "Delivery handling"). */
export type InFlightRedelivery = 'after' | 'if-failed';

/** Handlers registered with `after`: a redelivery while they run runs them again once they end. */
const RERUN_AFTER = new Set(['pull_request', 'check_run']);

/**
 * The app as its handlers see it: `on` wraps each handler so that a delivery id it has handled
 * is skipped, and a failed one is forgotten so that a redelivery retries. A redelivery that
 * arrives while the same id is still being handled is not dropped: a review (pull_request,
 * check_run) runs again once the first run ends, since whoever redelivered expects a review
 * from that moment (the first may have answered 202 and then failed, or read a branch that has
 * moved on); other events run again only if the first run failed. Redeliveries arriving during
 * one run share one re-run. Probot and @octokit/webhooks do not deduplicate deliveries themselves.
 *
 * Each guarded handler is registered with Probot's documented `app.on(events, handler)`: the
 * guard is the handler wrapper, not a stand-in for the Probot instance. What handlers get is
 * `WebhookApp`, the three parts of Probot they use: `on` (guarded), `auth` and `log`.
 */
export function guardDeliveries(probot: Probot, deliveries: DeliveryLog): WebhookApp {
  let registrations = 0;
  const running = new Map<string, Promise<void>>();
  const queued = new Map<string, Promise<void>>();
  const on = (events: Parameters<Probot['on']>[0], handler: Handler): void => {
    const registration = registrations++;
    const names = (Array.isArray(events) ? events : [events]).map((event) => String(event).split('.')[0]);
    const whenInFlight: InFlightRedelivery = names.every((name) => name !== undefined && RERUN_AFTER.has(name)) ? 'after' : 'if-failed';
    type GuardedContext = OriginContext & { id: string; name: string; log: { info(obj: object, message: string): void } };
    const run = (key: string, context: GuardedContext): Promise<void> => {
      const work = (async () => {
        try {
          await handler(context as never);
        } catch (error) {
          deliveries.release(key);
          throw error;
        }
      })();
      running.set(key, work);
      void work.then(
        () => running.get(key) === work && running.delete(key),
        () => running.get(key) === work && running.delete(key),
      );
      return work;
    };
    const guarded = async (context: GuardedContext): Promise<void> => {
      checkOrigin(context);
      const key = `${registration}:${context.id}`;
      if (deliveries.claim(key)) return run(key, context);
      const current = running.get(key);
      if (!current) {
        context.log.info({ delivery: context.id, event: context.name }, 'delivery seen before: skipped');
        return;
      }
      let next = queued.get(key);
      if (!next) {
        context.log.info({ delivery: context.id, event: context.name }, whenInFlight === 'after' ? 'delivery in progress: runs again when it ends' : 'delivery in progress: runs again if it fails');
        // Off the queue as soon as the re-run starts: a redelivery during the re-run queues another.
        next = current.then(
          () => {
            queued.delete(key);
            return whenInFlight === 'after' ? run(key, context) : undefined;
          },
          () => {
            queued.delete(key);
            // The failed run released the id: claim it again for this one.
            deliveries.claim(key);
            return run(key, context);
          },
        );
        queued.set(key, next);
      }
      return next;
    };
    probot.on(events, guarded as never);
  };
  return {
    on: on as Probot['on'],
    auth: (installationId?: number) => probot.auth(installationId),
    get log() {
      return probot.log;
    },
  };
}

interface OriginContext {
  payload: unknown;
  octokit: { request: { endpoint: { DEFAULTS: { baseUrl: string } } } };
}

/**
 * A delivery from another GitHub than the one the App's client talks to (a GitHub Enterprise
 * Server App whose `github-url` or GHE_HOST is not set) would fail later at its first request,
 * with "Bad credentials" from the wrong host. Refuse it up front and say which setting to fix
 * (docs/github-app.md, "GitHub Enterprise Server").
 */
export function checkOrigin(context: OriginContext): void {
  const from = apiRootOfPayload(context.payload);
  const clientRoot = context.octokit.request.endpoint.DEFAULTS.baseUrl;
  if (from === undefined || sameApiRoot(from, clientRoot)) return;
  throw new DeliveryFailure(
    `this delivery comes from the GitHub API at ${from}, but the App talks to ${clientRoot}: set github-url: ${githubUrlOfApiRoot(from)} in egressctl.yml of the policy repository served (or GHE_HOST when the App runs without it) and restart`,
    { cause: Object.assign(new Error('delivery from another GitHub'), { status: 421 }) },
  );
}
