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
  /** Scheduled policy-based pull requests (docs/architecture.md#reconciliation); undefined (the default): no schedule. */
  rollout?: RolloutConfig;
}

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
  const rollout = readRolloutConfig(text);
  if (rollout !== undefined && policyRepository === undefined) {
    throw new UsageError(`${ROLLOUT_INTERVAL_ENV} needs ${POLICY_REPOSITORY_ENV}: the rollout reads the baselines and settings from the policy repository`);
  }
  return {
    policyRepository: policyRepository?.toLowerCase(),
    gitUrlTemplate,
    cacheDir: appCacheDir(env, defaults),
    deliveryCacheSize: DEFAULT_DELIVERY_CACHE_SIZE,
    maxAnnotations: DEFAULT_MAX_ANNOTATIONS,
    ...(rollout ? { rollout } : {}),
  };
}

/** setTimeout/setInterval take at most 2^31-1 ms (larger values fire after 1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;
const ACTION_USES = /^[^/\s]+\/[^/\s]+\/actions\/harden@\S+$/;

/** The same choices as `egressctl rollout --mode/--action/--server/--audience/--on-error`. */
function readRolloutConfig(text: (name: string) => string | undefined): RolloutConfig | undefined {
  const hours = text(ROLLOUT_INTERVAL_ENV);
  const modeText = text(ROLLOUT_MODE_ENV);
  const actionNames = [ROLLOUT_ACTION_ENV, ROLLOUT_SERVER_ENV, ROLLOUT_AUDIENCE_ENV, ROLLOUT_ON_ERROR_ENV];
  if (hours === undefined) {
    const stray = [ROLLOUT_MODE_ENV, ...actionNames].find((name) => text(name) !== undefined);
    if (stray !== undefined) throw new UsageError(`${stray} is set but ${ROLLOUT_INTERVAL_ENV} is not: set the interval to schedule the rollout`);
    return undefined;
  }
  const intervalMs = Number(hours) * 60 * 60 * 1000;
  if (!/^\d+(\.\d+)?$/.test(hours) || !(intervalMs > 0) || intervalMs > MAX_TIMER_MS) {
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
