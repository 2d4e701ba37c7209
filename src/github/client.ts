/**
 * The one GitHub client of egressctl, for the CLI (`sync`, `rollout`) and the App alike
 * (docs/architecture.md#github-client). It is Probot's Octokit class (which chains
 * @octokit/plugin-throttling and @octokit/plugin-retry, and authenticates with a token or as the
 * App through octokit-auth-probot) with our defaults on top:
 * - writes of one installation go one at a time, spaced (GitHub limits content-creating requests
 *   per minute and per hour), and requests that notify people are spaced further;
 * - a rate-limit answer waits for `retry-after` a bounded number of times: a webhook must not
 *   hold a worker for an hour, a batch sync may wait a while;
 * - 5xx and network errors are retried with backoff; 4xx answers are answers, not retried.
 * Probot's own handlers retry secondary limits never and primary limits forever; ours replace
 * them, since Probot passes its handlers as instance options, a defaults function applies ours
 * over them (its other throttle settings, e.g. a Redis connection, are kept).
 */
import { ProbotOctokit } from 'probot';

export type GitHubClient = InstanceType<typeof ProbotOctokit>;
export type GitHubClientClass = typeof ProbotOctokit;
type ClientOptions = NonNullable<ConstructorParameters<typeof ProbotOctokit>[0]>;

export interface RateLimitEvent {
  kind: 'secondary' | 'primary';
  /** Seconds GitHub asked to wait. */
  retryAfter: number;
  method: string;
  url: string;
  retryCount: number;
  /** Whether the request is tried again after the wait. */
  retrying: boolean;
}

export interface ClientTuning {
  /** Minimum time between two writes of one installation (GitHub: "at least one second"). Default 1000. */
  writeSpacingMs?: number;
  /** Minimum time between two requests that notify people (opening a PR). Default 3000. */
  notificationSpacingMs?: number;
  /** `retry-after` seconds are multiplied by this (ms). Default 1000; tests make it small. */
  retryAfterBaseValue?: number;
  /** How often a secondary rate limit is waited out. Default 3. */
  secondaryLimitRetries?: number;
  /** How often a primary (hourly) rate limit is waited out. Default 1. */
  primaryLimitRetries?: number;
  /** Longest primary rate limit wait worth holding the work for, in seconds. Default 60 (a webhook). */
  primaryLimitMaxWaitSeconds?: number;
  /** Retries of 5xx and network errors (plugin-retry). Default 3. */
  serverErrorRetries?: number;
  /** plugin-retry's backoff base in ms (tests make it small). */
  serverErrorRetryBaseMs?: number;
  /** Tests turn throttling off to run without spacing. */
  throttleEnabled?: boolean;
  /** Aborts every request in flight and every one made after it fires (shutdown). */
  signal?: AbortSignal;
  /** Called on every rate-limit answer (progress output, tests); the client also logs a warning. */
  onLimit?: (event: RateLimitEvent) => void;
}

export const DEFAULT_SECONDARY_LIMIT_RETRIES = 3;
export const DEFAULT_PRIMARY_LIMIT_MAX_WAIT = 60;

/**
 * A minimal stand-in for Bottleneck.Group as plugin-throttling uses it (`key(id).schedule`): one
 * job at a time per key, `minTime` apart. Ours so that spacing is configurable per client (the
 * plugin's own groups are module-global with fixed spacing).
 */
class SpacedGroup {
  private readonly queues = new Map<string, { tail: Promise<void>; last: number }>();

  constructor(private readonly minTime: number) {}

  key(id = 'no-id'): { schedule: <T>(...args: unknown[]) => Promise<T> } {
    return {
      schedule: <T>(...args: unknown[]): Promise<T> => {
        // schedule([options], fn, ...fnArgs): the plugin passes options first.
        const start = typeof args[0] === 'function' ? 0 : 1;
        const fn = args[start] as (...rest: unknown[]) => Promise<T>;
        const rest = args.slice(start + 1);
        let queue = this.queues.get(id);
        if (!queue) {
          queue = { tail: Promise.resolve(), last: 0 };
          this.queues.set(id, queue);
        }
        const state = queue;
        const run = state.tail.then(async () => {
          const wait = state.last + this.minTime - Date.now();
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          state.last = Date.now();
          return fn(...rest);
        });
        state.tail = run.then(
          () => undefined,
          () => undefined,
        );
        return run;
      },
    };
  }
}

type ThrottleOptions = NonNullable<ClientOptions['throttle']>;
type ThrottleGroup = ThrottleOptions['write'];

const sharedGroups = new Map<string, SpacedGroup>();
/** One group per spacing, shared by every client in the process: the key (installation) is what serializes. */
function groupFor(kind: string, minTime: number): ThrottleGroup {
  const name = `${kind}:${minTime}`;
  let group = sharedGroups.get(name);
  if (!group) {
    group = new SpacedGroup(minTime);
    sharedGroups.set(name, group);
  }
  // SpacedGroup implements the part of Bottleneck.Group the plugin calls (key().schedule()).
  return group as unknown as ThrottleGroup;
}

interface LimitLog {
  log: { warn(message: string): void };
}

function throttleOf(tuning: ClientTuning, clustered: boolean): Partial<ThrottleOptions> {
  const secondaryRetries = tuning.secondaryLimitRetries ?? DEFAULT_SECONDARY_LIMIT_RETRIES;
  const primaryRetries = tuning.primaryLimitRetries ?? 1;
  const primaryMaxWait = tuning.primaryLimitMaxWaitSeconds ?? DEFAULT_PRIMARY_LIMIT_MAX_WAIT;
  const report = (kind: RateLimitEvent['kind'], retryAfter: number, request: { method: string; url: string }, octokit: LimitLog, retryCount: number, retrying: boolean): boolean => {
    const label = kind === 'secondary' ? 'secondary rate limit' : 'rate limit';
    octokit.log.warn(`${label} on ${request.method} ${request.url}: ${retrying ? `retrying in ${retryAfter} s` : `giving up (wait would be ${retryAfter} s)`}`);
    tuning.onLimit?.({ kind, retryAfter, method: request.method, url: request.url, retryCount, retrying });
    return retrying;
  };
  return {
    enabled: tuning.throttleEnabled ?? true,
    ...(tuning.retryAfterBaseValue !== undefined ? { retryAfterBaseValue: tuning.retryAfterBaseValue } : {}),
    // With Probot's Redis clustering the plugin's own (shared) groups must do the spacing.
    ...(clustered
      ? {}
      : {
          write: groupFor('write', tuning.writeSpacingMs ?? 1000),
          notifications: groupFor('notifications', tuning.notificationSpacingMs ?? 3000),
        }),
    onSecondaryRateLimit: (retryAfter: number, request: { method: string; url: string }, octokit: LimitLog, retryCount: number) =>
      report('secondary', retryAfter, request, octokit, retryCount, retryCount < secondaryRetries),
    onRateLimit: (retryAfter: number, request: { method: string; url: string }, octokit: LimitLog, retryCount: number) =>
      report('primary', retryAfter, request, octokit, retryCount, retryCount < primaryRetries && retryAfter <= primaryMaxWait),
  };
}

/** Our defaults over whatever options the client is built with (by us or by Probot). */
function withTuning(tuning: ClientTuning): (options: ClientOptions) => ClientOptions {
  return (options) => {
    const throttle = { ...options.throttle, ...throttleOf(tuning, options.throttle?.connection !== undefined) };
    return {
      userAgent: 'egressctl',
      ...options,
      // Probot's factory sets `id` to the installation: writes are spaced per installation.
      throttle: throttle as ThrottleOptions,
      retry: {
        ...(options.retry as object | undefined),
        retries: tuning.serverErrorRetries ?? 3,
        ...(tuning.serverErrorRetryBaseMs !== undefined ? { retryAfterBaseValue: tuning.serverErrorRetryBaseMs } : {}),
        // 409 (empty repository, conflicts) and 422 are answers, not transient failures.
        doNotRetry: [400, 401, 403, 404, 409, 410, 422, 451],
      },
      ...(tuning.signal ? { request: { ...options.request, signal: tuning.signal } } : {}),
    };
  };
}

/** The client class with this tuning: give it to Probot (`Octokit`), or construct it directly. */
export function gitHubClientClass(tuning: ClientTuning = {}): GitHubClientClass {
  return ProbotOctokit.defaults(withTuning(tuning)) as GitHubClientClass;
}

const SILENT = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

export interface ClientTarget {
  /** The REST API root (`https://api.github.com`, `https://HOST/api/v3`; see api-root.ts). */
  baseUrl?: string;
}

/** A client authenticated with a token (a PAT, `GITHUB_TOKEN`, or an installation token). */
export function tokenClient(token: string, options: ClientTuning & ClientTarget = {}): GitHubClient {
  const Client = gitHubClientClass(options);
  return new Client({ ...baseUrlOption(options), log: SILENT, auth: { token }, throttle: { id: `token:${token.slice(-8)}` } as ThrottleOptions });
}

/** A client authenticated as the App itself (JWT): for installation look-ups. */
export function appClient(credentials: { appId: string; privateKey: string }, options: ClientTuning & ClientTarget = {}): GitHubClient {
  const Client = gitHubClientClass(options);
  return new Client({ ...baseUrlOption(options), log: SILENT, auth: { appId: credentials.appId, privateKey: credentials.privateKey }, throttle: { id: `app:${credentials.appId}` } as ThrottleOptions });
}

/** A client for one installation; tokens are created and refreshed on demand. */
export function installationClient(credentials: { appId: string; privateKey: string }, installationId: number, options: ClientTuning & ClientTarget = {}): GitHubClient {
  const Client = gitHubClientClass(options);
  return new Client({
    ...baseUrlOption(options),
    log: SILENT,
    auth: { appId: credentials.appId, privateKey: credentials.privateKey, installationId },
    throttle: { id: String(installationId) } as ThrottleOptions,
  });
}

function baseUrlOption(target: ClientTarget): { baseUrl?: string } {
  return target.baseUrl ? { baseUrl: target.baseUrl.replace(/\/+$/, '') } : {};
}
