/**
 * The GitHub App's own settings, read from the environment (pure: env in, config out). Probot
 * reads its own variables (APP_ID, PRIVATE_KEY[_PATH], WEBHOOK_SECRET, GHE_HOST, LOG_LEVEL, ...).
 */
import os from 'node:os';
import path from 'node:path';
import type { ActionSettings, RolloutMode } from '../rollout/rollout-plan.js';
import { envName } from '../util/env-names.js';
import { UsageError } from '../util/errors.js';

export interface AppConfig {
  /**
   * `owner/repo` (lower-cased) of the policy repository. Undefined: each repository whose head
   * has `policies/` or `attachments.yml` (convenient for a first try; set it in production).
   */
  policyRepository: string | undefined;
  /**
   * Where to fetch repositories from, with `{owner}` and `{repo}`. Undefined: the payload's
   * `repository.clone_url` (right for github.com and GitHub Enterprise Server alike).
   */
  gitUrlTemplate: string | undefined;
  /** Bare mirrors of the repositories the app reads, one per repository. */
  cacheDir: string;
  /** How many delivery ids are remembered to drop redeliveries. */
  deliveryCacheSize: number;
  /** Most annotations one check run gets (errors first); the summary counts the rest. */
  maxAnnotations: number;
  /**
   * The scheduled full sync (docs/architecture.md#reconciliation): on by default every 6 hours
   * when the policy repository is set; EGRESSCTL_ROLLOUT_INTERVAL_HOURS=0 turns it off.
   */
  rollout?: RolloutConfig;
  /** Where the App's work is journaled (queue.ts): a directory (one replica), or Redis (several). */
  queue: QueueConfig;
  /** At most one baselines commit per this interval (EGRESSCTL_BASELINE_FLUSH_SECONDS, default 300). */
  baselineFlushMs: number;
  /** First retry of a failed repository sync; doubles to an hour (EGRESSCTL_SYNC_RETRY_SECONDS, default 60). */
  syncRetryMs: number;
}

export type QueueConfig = { kind: 'file'; dir: string } | { kind: 'redis'; url: string };

export interface RolloutConfig {
  intervalMs: number;
  mode: RolloutMode;
  /** Set exactly when `mode` is `action`. */
  action?: ActionSettings;
}

/** The App's settings: EGRESSCTL_<NAME>, derived in one place (util/env-names.ts) as for serve's flags. */
export const POLICY_REPOSITORY_ENV = envName('policy-repository');
export const GIT_URL_TEMPLATE_ENV = envName('git-url-template');
export const CACHE_DIR_ENV = envName('app-cache-dir');
export const SIGN_KEY_ENV = envName('sign-key');
export const BUNDLE_FILE_ENV = envName('bundle-file');
export const ROLLOUT_INTERVAL_ENV = envName('rollout-interval-hours');
export const ROLLOUT_MODE_ENV = envName('rollout-mode');
export const ROLLOUT_ACTION_ENV = envName('rollout-action');
export const ROLLOUT_SERVER_ENV = envName('rollout-server');
export const ROLLOUT_AUDIENCE_ENV = envName('rollout-audience');
export const ROLLOUT_ON_ERROR_ENV = envName('rollout-on-error');
export const WEBHOOK_MAX_BYTES_ENV = envName('webhook-max-bytes');
export const QUEUE_ENV = envName('queue');
export const BASELINE_FLUSH_ENV = envName('baseline-flush-seconds');
export const SYNC_RETRY_ENV = envName('sync-retry-seconds');

export const DEFAULT_BASELINE_FLUSH_SECONDS = 300;
export const DEFAULT_SYNC_RETRY_SECONDS = 60;
export const DEFAULT_ROLLOUT_INTERVAL_HOURS = 6;

export const DEFAULT_DELIVERY_CACHE_SIZE = 10_000;
/** 5 requests of 50: enough to show every problem of a real change, bounded for a broken one. */
export const DEFAULT_MAX_ANNOTATIONS = 250;

const NAME = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;

/** The App's cache and state directory (git mirrors, the sync report): one rule for the App and the console. */
export function appCacheDir(env: NodeJS.ProcessEnv, defaults: { cacheDir?: string } = {}): string {
  const configured = env[CACHE_DIR_ENV]?.trim();
  return path.resolve(configured || defaults.cacheDir || path.join(os.tmpdir(), `egressctl-app-${os.userInfo().uid}`));
}

export function readAppConfig(env: NodeJS.ProcessEnv, defaults: { cacheDir?: string } = {}): AppConfig {
  const text = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const policyRepository = text(POLICY_REPOSITORY_ENV);
  if (policyRepository !== undefined && !NAME.test(policyRepository)) {
    throw new UsageError(`${POLICY_REPOSITORY_ENV}="${policyRepository}": expected owner/repo, e.g. acme/egress-policies`);
  }
  const gitUrlTemplate = text(GIT_URL_TEMPLATE_ENV);
  if (gitUrlTemplate !== undefined) checkGitUrlTemplate(gitUrlTemplate);
  if (text(ROLLOUT_INTERVAL_ENV) !== undefined && text(ROLLOUT_INTERVAL_ENV) !== '0' && policyRepository === undefined) {
    throw new UsageError(`${ROLLOUT_INTERVAL_ENV} needs ${POLICY_REPOSITORY_ENV}: the rollout reads the baselines and settings from the policy repository`);
  }
  // On by default: the scheduled sync is what catches drift and repairs what a webhook missed.
  const rollout = policyRepository === undefined ? undefined : readRolloutConfig(text);
  const cacheDir = appCacheDir(env, defaults);
  return {
    policyRepository: policyRepository?.toLowerCase(),
    gitUrlTemplate,
    cacheDir,
    deliveryCacheSize: DEFAULT_DELIVERY_CACHE_SIZE,
    maxAnnotations: DEFAULT_MAX_ANNOTATIONS,
    ...(rollout ? { rollout } : {}),
    queue: readQueueConfig(text(QUEUE_ENV), cacheDir),
    baselineFlushMs: seconds(text(BASELINE_FLUSH_ENV), BASELINE_FLUSH_ENV, DEFAULT_BASELINE_FLUSH_SECONDS) * 1000,
    syncRetryMs: seconds(text(SYNC_RETRY_ENV), SYNC_RETRY_ENV, DEFAULT_SYNC_RETRY_SECONDS) * 1000,
  };
}

/** Whole seconds, 1 to a day. */
function seconds(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 86_400) throw new UsageError(`${name}="${value}": expected whole seconds from 1 to 86400, e.g. ${fallback}`);
  return Number(value);
}

/** `redis://HOST:PORT` (several replicas share it), else the journal in the state directory. */
export function readQueueConfig(value: string | undefined, cacheDir: string): QueueConfig {
  if (value === undefined) return { kind: 'file', dir: path.join(cacheDir, 'queue') };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${QUEUE_ENV}="${value}": expected redis://HOST:PORT (several replicas share one Redis); leave it unset for the journal in the state directory`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new UsageError(`${QUEUE_ENV}="${value}": expected redis://HOST:PORT or rediss://HOST:PORT`);
  return { kind: 'redis', url: value };
}

/** setTimeout/setInterval take at most 2^31-1 ms (larger values fire after 1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;
const ACTION_USES = /^[^/\s]+\/[^/\s]+\/actions\/harden@\S+$/;

/** The same choices as `egressctl rollout --mode/--action/--server/--audience/--on-error`. */
function readRolloutConfig(text: (name: string) => string | undefined): RolloutConfig | undefined {
  const hours = text(ROLLOUT_INTERVAL_ENV);
  const modeText = text(ROLLOUT_MODE_ENV);
  const actionNames = [ROLLOUT_ACTION_ENV, ROLLOUT_SERVER_ENV, ROLLOUT_AUDIENCE_ENV, ROLLOUT_ON_ERROR_ENV];
  if (hours === '0') {
    const stray = [ROLLOUT_MODE_ENV, ...actionNames].find((name) => text(name) !== undefined);
    if (stray !== undefined) throw new UsageError(`${stray} is set but ${ROLLOUT_INTERVAL_ENV}=0 turns the scheduled sync off`);
    return undefined;
  }
  const intervalMs = Number(hours ?? DEFAULT_ROLLOUT_INTERVAL_HOURS) * 60 * 60 * 1000;
  if (hours === undefined && modeText === undefined) {
    const stray = actionNames.find((name) => text(name) !== undefined);
    if (stray !== undefined) throw new UsageError(`${stray} goes with ${ROLLOUT_MODE_ENV}=action`);
    return { intervalMs, mode: 'inline' };
  }
  if (hours !== undefined && (!/^\d+(\.\d+)?$/.test(hours) || !(intervalMs > 0) || intervalMs > MAX_TIMER_MS)) {
    throw new UsageError(`${ROLLOUT_INTERVAL_ENV}="${hours}": expected a number of hours > 0 and at most ${Math.floor(MAX_TIMER_MS / 3_600_000)}, e.g. 6`);
  }
  const mode = modeText ?? 'inline';
  if (mode !== 'inline' && mode !== 'action') throw new UsageError(`${ROLLOUT_MODE_ENV}="${mode}": expected inline or action`);
  if (mode === 'inline') {
    const stray = actionNames.find((name) => text(name) !== undefined);
    if (stray !== undefined) throw new UsageError(`${stray} goes with ${ROLLOUT_MODE_ENV}=action`);
    return { intervalMs, mode };
  }
  const uses = text(ROLLOUT_ACTION_ENV);
  if (uses === undefined || !ACTION_USES.test(uses)) {
    throw new UsageError(`${ROLLOUT_MODE_ENV}=action needs ${ROLLOUT_ACTION_ENV}=OWNER/REPO/actions/harden@REF (this project's composite action, pinned)${uses === undefined ? '' : `, not "${uses}"`}`);
  }
  const server = text(ROLLOUT_SERVER_ENV);
  if (server === undefined) throw new UsageError(`${ROLLOUT_MODE_ENV}=action needs ${ROLLOUT_SERVER_ENV}=URL (the egressctl server the action asks)`);
  let origin: string;
  try {
    origin = new URL(server).origin;
  } catch {
    throw new UsageError(`${ROLLOUT_SERVER_ENV}="${server}": expected a URL, e.g. https://egressctl.example.com`);
  }
  const onError = text(ROLLOUT_ON_ERROR_ENV);
  if (onError !== undefined && onError !== 'audit' && onError !== 'block' && onError !== 'fail') {
    throw new UsageError(`${ROLLOUT_ON_ERROR_ENV}="${onError}": expected audit, block or fail`);
  }
  return { intervalMs, mode, action: { uses, server, audience: text(ROLLOUT_AUDIENCE_ENV) ?? origin, ...(onError ? { onError } : {}) } };
}

/** Comma-separated key files (EGRESSCTL_SIGN_KEY, as for `egressctl serve --sign-key`). */
export function signKeyPaths(env: NodeJS.ProcessEnv, cwd: string): string[] {
  return (env[SIGN_KEY_ENV] ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)
    .map((file) => path.resolve(cwd, file));
}

function checkGitUrlTemplate(template: string): void {
  const problem = (why: string): never => {
    throw new UsageError(`${GIT_URL_TEMPLATE_ENV}="${template}": ${why} (e.g. https://github.example.com/{owner}/{repo}.git)`);
  };
  if (!template.includes('{owner}') || !template.includes('{repo}')) problem('it needs both {owner} and {repo}');
  if (!/^https?:\/\//i.test(template)) problem('it must be an http(s) URL');
  const sample = gitUrl(template, { owner: 'owner', repo: 'repo' });
  try {
    new URL(sample);
  } catch {
    problem('it does not make a valid URL');
  }
}

/**
 * The URL to fetch `owner/repo` from. A `user:{token}@` part of the template (the usual
 * `https://x-access-token:{token}@github.com/...` form) is dropped: the token travels in an HTTP
 * header set per command (see git-mirror.ts), so it is never in a URL, argv, a log or git config.
 * Any other credentials in the template are refused: they would end up in logs.
 */
export function gitUrl(template: string, repository: { owner: string; repo: string }): string {
  const withoutToken = template.replace(/^(https?:\/\/)[^/@]*\{token\}[^/@]*@/i, '$1');
  if (withoutToken.includes('{token}')) {
    throw new UsageError(`${GIT_URL_TEMPLATE_ENV}: {token} may appear only as user-info (https://x-access-token:{token}@host/...)`);
  }
  const url = withoutToken.replaceAll('{owner}', encodeURIComponent(repository.owner)).replaceAll('{repo}', encodeURIComponent(repository.repo));
  if (/^https?:\/\/[^/]*@/i.test(url)) {
    throw new UsageError(`${GIT_URL_TEMPLATE_ENV}: credentials in the URL are not allowed; the app sends its installation token itself`);
  }
  return url;
}
