/**
 * The GitHub client for the rollout and the baseline committer: Octokit with throttling and
 * retries, as GitHub asks (docs/architecture.md#reconciliation). Content-creating requests are limited per minute and per
 * hour (secondary rate limits): writes go one at a time per installation, spaced, and a 403/429
 * "secondary rate limit" answer waits for `retry-after` and tries again. Auth is a token
 * (`GITHUB_TOKEN`) or the GitHub App (`APP_ID` + `PRIVATE_KEY`/`PRIVATE_KEY_PATH`): JWT ->
 * installation of the organization -> installation token, refreshed by @octokit/auth-app.
 */
import { readFile } from 'node:fs/promises';
import { createAppAuth } from '@octokit/auth-app';
import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
import { Octokit } from '@octokit/rest';
import { IoError, UsageError, gitHubStatus } from '../util/errors.js';

export const GitHubClient = Octokit.plugin(throttling, retry);
export type GitHubClient = InstanceType<typeof GitHubClient>;

export type GitHubCredentials =
  | { kind: 'token'; token: string }
  | { kind: 'app'; appId: string; privateKey: string };

export interface ClientLimits {
  /** Minimum time between two writes of one installation (GitHub: "at least one second"). Default 1000. */
  writeSpacingMs?: number;
  /** Minimum time between two requests that notify people (opening a PR). Default 3000. */
  notificationSpacingMs?: number;
  /** `retry-after` seconds are multiplied by this (ms). Default 1000; tests make it small. */
  retryAfterBaseValue?: number;
  /** How many times a rate-limited request is retried. Default 4. */
  rateLimitRetries?: number;
  /** Retries of 5xx and network errors (plugin-retry). Default 3. */
  serverErrorRetries?: number;
}

export interface ClientOptions extends ClientLimits {
  /** `https://api.github.com` (default), `https://HOST/api/v3` for GHES, the stand-in's URL in tests. */
  baseUrl?: string;
  /** Called when GitHub says to slow down (for logs and tests). */
  onLimit?: (event: { kind: 'secondary' | 'primary'; retryAfter: number; method: string; url: string; retryCount: number }) => void;
  userAgent?: string;
}

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

type ThrottleGroup = NonNullable<NonNullable<ConstructorParameters<typeof GitHubClient>[0]>['throttle']>['write'];

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

function clientOptions(options: ClientOptions, throttleId: string) {
  const retries = options.rateLimitRetries ?? 4;
  return {
    ...(options.baseUrl ? { baseUrl: options.baseUrl.replace(/\/+$/, '') } : {}),
    userAgent: options.userAgent ?? 'egressctl',
    log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
    throttle: {
      id: throttleId,
      retryAfterBaseValue: options.retryAfterBaseValue ?? 1000,
      write: groupFor('write', options.writeSpacingMs ?? 1000),
      notifications: groupFor('notifications', options.notificationSpacingMs ?? 3000),
      onSecondaryRateLimit: (retryAfter: number, request: { method: string; url: string }, _octokit: unknown, retryCount: number) => {
        options.onLimit?.({ kind: 'secondary', retryAfter, method: request.method, url: request.url, retryCount });
        return retryCount < retries;
      },
      onRateLimit: (retryAfter: number, request: { method: string; url: string }, _octokit: unknown, retryCount: number) => {
        options.onLimit?.({ kind: 'primary', retryAfter, method: request.method, url: request.url, retryCount });
        // Waiting out the hourly limit is only worth it when it resets soon.
        return retryCount < retries && retryAfter <= 15 * 60;
      },
    },
    retry: {
      retries: options.serverErrorRetries ?? 3,
      // 409 (empty repository, conflicts) and 422 are answers, not transient failures.
      doNotRetry: [400, 401, 403, 404, 409, 410, 422, 451],
    },
  };
}

/** A client authenticated with a token (a PAT, `GITHUB_TOKEN`, or an installation token). */
export function tokenClient(token: string, options: ClientOptions = {}): GitHubClient {
  return new GitHubClient({ ...clientOptions(options, `token:${token.slice(-8)}`), auth: token });
}

/** A client authenticated as the App itself (JWT): for installation look-ups. */
export function appClient(credentials: { appId: string; privateKey: string }, options: ClientOptions = {}): GitHubClient {
  return new GitHubClient({
    ...clientOptions(options, `app:${credentials.appId}`),
    authStrategy: createAppAuth,
    auth: { appId: credentials.appId, privateKey: credentials.privateKey },
  });
}

/** A client for one installation; tokens are created and refreshed on demand. */
export function installationClient(credentials: { appId: string; privateKey: string }, installationId: number, options: ClientOptions = {}): GitHubClient {
  return new GitHubClient({
    ...clientOptions(options, `installation:${installationId}`),
    authStrategy: createAppAuth,
    auth: { appId: credentials.appId, privateKey: credentials.privateKey, installationId },
  });
}


/** The installation of the App on an organization (or user) account. */
export async function findInstallationId(app: GitHubClient, account: string): Promise<number> {
  try {
    return (await app.rest.apps.getOrgInstallation({ org: account })).data.id;
  } catch (error) {
    if (gitHubStatus(error) !== 404) throw error;
  }
  try {
    return (await app.rest.apps.getUserInstallation({ username: account })).data.id;
  } catch (error) {
    if (gitHubStatus(error) === 404) throw new UsageError(`the GitHub App is not installed on "${account}": install it there first`);
    throw error;
  }
}

/** The installation that covers `owner/repo`. */
export async function findRepositoryInstallationId(app: GitHubClient, repository: string): Promise<number> {
  const [owner = '', repo = ''] = repository.split('/');
  try {
    return (await app.rest.apps.getRepoInstallation({ owner, repo })).data.id;
  } catch (error) {
    if (gitHubStatus(error) === 404) throw new UsageError(`the GitHub App is not installed on ${repository}`);
    throw error;
  }
}

/**
 * Credentials from the environment: `GITHUB_TOKEN`, or `APP_ID` with `PRIVATE_KEY` (PEM text,
 * `\n` escapes allowed) or `PRIVATE_KEY_PATH`. `GITHUB_API_URL` sets the API base URL.
 */
export async function credentialsFromEnv(env: NodeJS.ProcessEnv): Promise<{ credentials: GitHubCredentials; baseUrl?: string }> {
  const baseUrl = env['GITHUB_API_URL']?.trim() || undefined;
  const appId = env['APP_ID']?.trim();
  if (appId) {
    let privateKey = env['PRIVATE_KEY'];
    const keyPath = env['PRIVATE_KEY_PATH']?.trim();
    if (!privateKey && keyPath) {
      try {
        privateKey = await readFile(keyPath, 'utf8');
      } catch (error) {
        throw new IoError(`cannot read PRIVATE_KEY_PATH ${keyPath}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
      }
    }
    if (!privateKey) throw new UsageError('APP_ID is set: also set PRIVATE_KEY (the PEM text) or PRIVATE_KEY_PATH');
    privateKey = privateKey.replace(/\\n/g, '\n');
    return { credentials: { kind: 'app', appId, privateKey }, ...(baseUrl ? { baseUrl } : {}) };
  }
  const token = env['GITHUB_TOKEN']?.trim() || env['GH_TOKEN']?.trim();
  if (token) return { credentials: { kind: 'token', token }, ...(baseUrl ? { baseUrl } : {}) };
  throw new UsageError('no GitHub credentials: set APP_ID and PRIVATE_KEY (or PRIVATE_KEY_PATH) for the GitHub App, or GITHUB_TOKEN');
}

/** A client that can act on `account`'s repositories with these credentials. */
export async function clientForAccount(credentials: GitHubCredentials, account: string, options: ClientOptions = {}): Promise<{ client: GitHubClient; installationId?: number }> {
  if (credentials.kind === 'token') return { client: tokenClient(credentials.token, options) };
  const installationId = await findInstallationId(appClient(credentials, options), account);
  return { client: installationClient(credentials, installationId, options), installationId };
}
