/**
 * The Octokit class the app gives Probot. Probot 14's ProbotOctokit already chains
 * @octokit/plugin-throttling and @octokit/plugin-retry (see node_modules/probot/lib/octokit/
 * probot-octokit.js), so every request the app makes goes through both: writes are spaced as
 * GitHub asks (content-creating requests are limited per minute and per hour), 403/429 rate
 * limit answers wait for `retry-after`, and 5xx answers are retried with backoff.
 * What this adds is a bound: Probot's own handlers retry rate limits forever; here a secondary
 * limit is retried 3 times and a primary limit once, and only when the wait is short (a webhook
 * must not hold a worker for an hour), then the error reaches the handler, which reports it on
 * the check run.
 */
import { ProbotOctokit } from 'probot';

type Throttle = NonNullable<ConstructorParameters<typeof ProbotOctokit>[0]>['throttle'];

export interface OctokitTuning {
  /** Merged over the app's throttle settings (tests pass `{ enabled: false }` or a small `retryAfterBaseValue`). */
  throttle?: Partial<NonNullable<Throttle>>;
  /** @octokit/plugin-retry options, e.g. `{ retryAfterBaseValue: 10 }` in tests. */
  retry?: { enabled?: boolean; retries?: number; retryAfterBaseValue?: number; doNotRetry?: number[] };
  /**
   * Aborts every request in flight and every one made after it fires (shutdown: the work is
   * derived again from GitHub's state later; docs/security.md).
   */
  signal?: AbortSignal;
}

export const SECONDARY_LIMIT_RETRIES = 3;
/** Longest primary rate limit wait worth holding a webhook for, in seconds. */
export const PRIMARY_LIMIT_MAX_WAIT = 60;

export function appOctokit(tuning: OctokitTuning = {}): typeof ProbotOctokit {
  const throttle = {
    enabled: true,
    onSecondaryRateLimit: (retryAfter: number, options: { method: string; url: string }, octokit: { log: { warn(message: string): void } }, retryCount: number) => {
      const retry = retryCount < SECONDARY_LIMIT_RETRIES;
      octokit.log.warn(`secondary rate limit on ${options.method} ${options.url}: ${retry ? `retrying in ${retryAfter} s` : 'giving up'}`);
      return retry;
    },
    onRateLimit: (retryAfter: number, options: { method: string; url: string }, octokit: { log: { warn(message: string): void } }, retryCount: number) => {
      const retry = retryCount < 1 && retryAfter <= PRIMARY_LIMIT_MAX_WAIT;
      octokit.log.warn(`rate limit on ${options.method} ${options.url}: ${retry ? `retrying in ${retryAfter} s` : `giving up (reset in ${retryAfter} s)`}`);
      return retry;
    },
    ...tuning.throttle,
  };
  // Probot builds its Octokit with throttle handlers of its own (get-octokit-throttle-options.js:
  // secondary limits are logged, never retried) passed as instance options, which would replace
  // defaults given as an object; a function applies ours over them. Probot's other throttle
  // settings (a Redis connection for clustering) are kept.
  type Options = NonNullable<ConstructorParameters<typeof ProbotOctokit>[0]>;
  const withTuning = (options: Options): Options => ({
    ...options,
    throttle: { ...options.throttle, ...throttle } as Options['throttle'],
    ...(tuning.retry ? { retry: { ...(options.retry as object | undefined), ...tuning.retry } } : {}),
    ...(tuning.signal ? { request: { ...options.request, signal: tuning.signal } } : {}),
  });
  return ProbotOctokit.defaults(withTuning as (options: Options) => Options) as typeof ProbotOctokit;
}
