/**
 * Where GitHub's REST API is, from the one setting that says which GitHub this is: `github-url`
 * in egressctl.yml (docs/architecture.md#github-client). Pure: URLs in, URLs out.
 */
import { UsageError } from '../util/errors.js';

const DOTCOM = new Set(['github.com', 'www.github.com']);

/**
 * The REST API root of a GitHub web URL:
 * - `https://github.com` -> `https://api.github.com`;
 * - GitHub Enterprise Cloud with data residency, `https://NAME.ghe.com` -> `https://api.NAME.ghe.com`;
 * - GitHub Enterprise Server, `https://HOST[/PATH]` -> `https://HOST[/PATH]/api/v3`.
 * Undefined when `githubUrl` is not an http(s) URL.
 */
export function apiRootOf(githubUrl: string): string | undefined {
  let url: URL;
  try {
    url = new URL(githubUrl);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  const host = url.host.toLowerCase();
  if (DOTCOM.has(host)) return 'https://api.github.com';
  if (host.endsWith('.ghe.com') && !host.startsWith('api.')) return `${url.protocol}//api.${host}`;
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}/api/v3`;
}

/** The web URL of an API root: the inverse of apiRootOf. */
export function githubUrlOfApiRoot(apiRoot: string): string {
  return apiRoot.replace(/\/+$/, '').replace(/\/api\/v3$/, '').replace(/^(https?:\/\/)api\./i, '$1');
}

/** The web URL `GHE_HOST` and `GHE_PROTOCOL` (Probot's variables) describe, if set. */
export function githubUrlOfGheHost(env: NodeJS.ProcessEnv): string | undefined {
  const host = env['GHE_HOST']?.trim();
  if (!host) return undefined;
  return `${env['GHE_PROTOCOL']?.trim() || 'https'}://${host}`;
}

/** API resource paths whose prefix is the API root, in the order payloads are looked at. */
const RESOURCE_URL = /^(https?:\/\/[^\s?#]+?)\/(?:repos|users|orgs|app|installations)\/[^\s]*$/i;

interface PayloadUrls {
  repository?: { url?: unknown } | null;
  organization?: { url?: unknown } | null;
  sender?: { url?: unknown } | null;
  installation?: { account?: { url?: unknown } | null } | null;
}

/**
 * The API root a webhook delivery came from: every payload names resources by their API URL
 * (`repository.url` is `<api root>/repos/OWNER/REPO`). Undefined when the payload names none.
 */
export function apiRootOfPayload(payload: unknown): string | undefined {
  if (payload === null || typeof payload !== 'object') return undefined;
  const urls = payload as PayloadUrls;
  for (const candidate of [urls.repository?.url, urls.organization?.url, urls.installation?.account?.url, urls.sender?.url]) {
    if (typeof candidate !== 'string') continue;
    const match = RESOURCE_URL.exec(candidate);
    if (match?.[1]) return match[1].replace(/\/+$/, '');
  }
  return undefined;
}

/** Two API roots name the same API (case of the host and trailing slashes aside). */
export function sameApiRoot(a: string, b: string): boolean {
  const normal = (root: string): string => {
    try {
      const url = new URL(root);
      return `${url.protocol}//${url.host.toLowerCase()}${url.pathname.replace(/\/+$/, '')}`;
    } catch {
      return root.replace(/\/+$/, '');
    }
  };
  return normal(a) === normal(b);
}

export interface GitHubLocation {
  /** The web URL (`https://github.com`, `https://ghes.example.com`). */
  githubUrl: string;
  /** Its REST API root. */
  apiRoot: string;
  /** Which setting said so. */
  from: 'GHE_HOST' | 'github-url' | 'GITHUB_API_URL' | 'default';
}

const DEFAULT_LOCATION: GitHubLocation = { githubUrl: 'https://github.com', apiRoot: 'https://api.github.com', from: 'default' };

/**
 * Which GitHub the server and its App talk to: `github-url` from egressctl.yml when the policy
 * repository is at hand, else Probot's `GHE_HOST`, else github.com. Both set and naming
 * different hosts is refused: one of them would be silently wrong.
 */
export function serverGitHub(env: NodeJS.ProcessEnv, configuredGithubUrl: string | undefined): GitHubLocation {
  const fromGhe = githubUrlOfGheHost(env);
  const configured = configuredGithubUrl?.replace(/\/+$/, '');
  if (fromGhe && configured && !sameApiRoot(apiRootOf(fromGhe) ?? fromGhe, apiRootOf(configured) ?? configured)) {
    throw new UsageError(`GHE_HOST says ${fromGhe} but egressctl.yml says github-url: ${configured}: keep one (github-url is the setting; GHE_HOST is for an App without a local policy repository)`);
  }
  for (const [githubUrl, from] of [
    [configured, 'github-url'],
    [fromGhe, 'GHE_HOST'],
  ] as const) {
    if (githubUrl === undefined) continue;
    const apiRoot = apiRootOf(githubUrl);
    if (apiRoot === undefined) throw new UsageError(`${from === 'GHE_HOST' ? 'GHE_HOST' : 'github-url'} ${githubUrl} is not an http(s) URL`);
    return { githubUrl, apiRoot, from };
  }
  return DEFAULT_LOCATION;
}

/**
 * Which GitHub the CLI talks to: `GITHUB_API_URL` when set (Actions sets it on every runner, and
 * it overrides for proxies and tests), else the policy repository's `github-url`.
 */
export function cliGitHub(env: NodeJS.ProcessEnv, githubUrl: string): GitHubLocation {
  const apiUrl = env['GITHUB_API_URL']?.trim().replace(/\/+$/, '');
  if (apiUrl) {
    if (apiRootOf(apiUrl) === undefined) throw new UsageError(`GITHUB_API_URL=${apiUrl} is not an http(s) URL`);
    return { githubUrl: githubUrlOfApiRoot(apiUrl), apiRoot: apiUrl, from: 'GITHUB_API_URL' };
  }
  const apiRoot = apiRootOf(githubUrl);
  if (apiRoot === undefined) throw new UsageError(`github-url ${githubUrl} in egressctl.yml is not an http(s) URL`);
  return { githubUrl, apiRoot, from: githubUrl === DEFAULT_LOCATION.githubUrl ? 'default' : 'github-url' };
}
