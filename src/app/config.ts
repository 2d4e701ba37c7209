/**
 * The GitHub App's own settings, read from the environment (pure: env in, config out). Probot
 * reads its own variables (APP_ID, PRIVATE_KEY[_PATH], WEBHOOK_SECRET, GHE_HOST, LOG_LEVEL, ...).
 */
import os from 'node:os';
import path from 'node:path';
import { UsageError } from '../util/errors.js';

export interface AppConfig {
  /**
   * `owner/repo` (lower-cased) of the policy repository. Undefined: any repository whose head
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
}

export const POLICY_REPOSITORY_ENV = 'EGRESSCTL_POLICY_REPOSITORY';
export const GIT_URL_TEMPLATE_ENV = 'EGRESSCTL_GIT_URL_TEMPLATE';
export const CACHE_DIR_ENV = 'EGRESSCTL_APP_CACHE_DIR';
export const SIGN_KEY_ENV = 'EGRESSCTL_SIGN_KEY';
export const BUNDLE_FILE_ENV = 'EGRESSCTL_BUNDLE_FILE';

export const DEFAULT_DELIVERY_CACHE_SIZE = 10_000;
/** 5 requests of 50: enough to show every problem of a real change, bounded for a broken one. */
export const DEFAULT_MAX_ANNOTATIONS = 250;

const NAME = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;

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
  return {
    policyRepository: policyRepository?.toLowerCase(),
    gitUrlTemplate,
    cacheDir: path.resolve(text(CACHE_DIR_ENV) ?? defaults.cacheDir ?? path.join(os.tmpdir(), `egressctl-app-${os.userInfo().uid}`)),
    deliveryCacheSize: DEFAULT_DELIVERY_CACHE_SIZE,
    maxAnnotations: DEFAULT_MAX_ANNOTATIONS,
  };
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
