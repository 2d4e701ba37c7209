/**
 * `--read-access github`: people sign in to the console with the GitHub App's OAuth
 * (user-to-server) web flow and are admitted when they belong to a managed organization (or to a
 * named team). docs/security.md, "Read access".
 *
 *   GET /auth/login[?next=/path]  -> 302 to <web>/login/oauth/authorize (state in a signed cookie)
 *   GET /auth/callback?code&state -> code exchanged at <web>/login/oauth/access_token, the user
 *                                    and membership read with the user's token, session cookie set
 *   GET /auth/logout              -> session cookie cleared
 *
 * Sessions are `base64url(JSON{login, exp}).HMAC-SHA256` cookies: HttpOnly, SameSite=Lax (the
 * callback is a top-level navigation from GitHub, which Strict would strip), Secure when the
 * public URL is https. The user's GitHub token is used once, at sign-in, and never stored.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { messageOf } from '../../util/errors.js';
import { boundedFetch } from '../../util/bounded-fetch.js';

export interface GitHubOAuthOptions {
  clientId: string;
  clientSecret: string;
  /** The server's own URL as browsers reach it (redirect_uri is built from it, never from Host). */
  publicUrl: string;
  /** Default https://github.com. */
  webUrl?: string;
  /** Default https://api.github.com. */
  apiUrl?: string;
  /** Lower-case organization logins whose members are admitted. */
  organizations: readonly string[];
  /** `org/team-slug`: only that team's members are admitted. */
  team?: string;
  /** HMAC key for cookies (default: random per process; sessions end at restart). */
  sessionSecret?: Buffer;
  sessionTtlSeconds?: number;
  logger?: Logger;
}

export const SESSION_COOKIE = 'egressctl_session';
const STATE_COOKIE = 'egressctl_oauth_state';

export interface GitHubOAuth {
  /** Answers /auth/* routes; false for any other path. */
  handle(req: IncomingMessage, res: ServerResponse, pathname: string, search: string): Promise<boolean>;
  /** The signed-in login for a request's session cookie, if valid and not expired. */
  sessionLogin(req: IncomingMessage): string | undefined;
}

export function createGitHubOAuth(options: GitHubOAuthOptions): GitHubOAuth {
  const secret = options.sessionSecret ?? randomBytes(32);
  const webUrl = (options.webUrl ?? 'https://github.com').replace(/\/+$/, '');
  const apiUrl = (options.apiUrl ?? 'https://api.github.com').replace(/\/+$/, '');
  const publicUrl = options.publicUrl.replace(/\/+$/, '');
  const secure = publicUrl.startsWith('https://');
  const ttl = options.sessionTtlSeconds ?? 8 * 3600;
  const callbackUrl = `${publicUrl}/auth/callback`;

  const mac = (text: string): string => createHmac('sha256', secret).update(text).digest('base64url');
  const seal = (value: unknown): string => {
    const body = Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
    return `${body}.${mac(body)}`;
  };
  const unseal = (text: string | undefined): unknown => {
    if (!text) return undefined;
    const dot = text.lastIndexOf('.');
    if (dot <= 0) return undefined;
    const body = text.slice(0, dot);
    const given = Buffer.from(text.slice(dot + 1), 'utf8');
    const expected = Buffer.from(mac(body), 'utf8');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    try {
      return JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as unknown;
    } catch {
      return undefined;
    }
  };
  const cookie = (name: string, value: string, maxAge: number, cookiePath = '/'): string =>
    `${name}=${value}; Path=${cookiePath}; Max-Age=${maxAge}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;

  const redirect = (res: ServerResponse, location: string, cookies: string[] = []): void => {
    res.writeHead(302, { location, 'cache-control': 'no-store', ...(cookies.length > 0 ? { 'set-cookie': cookies } : {}) });
    res.end();
  };
  const deny = (res: ServerResponse, status: number, message: string): void => {
    const body = `<!doctype html><meta charset="utf-8"><title>egressctl: not signed in</title><p>${escapeHtml(message)}</p><p><a href="/auth/login">Sign in with GitHub</a></p>`;
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': "default-src 'none'" });
    res.end(body);
  };

  async function github(path: string, token: string): Promise<Response> {
    return githubFetch(`${apiUrl}${path}`, {
      headers: { authorization: `Bearer ${token}`, accept: 'application/vnd.github+json', 'user-agent': 'egressctl-console' },
      redirect: 'manual',
    });
  }

  async function admitted(login: string, token: string): Promise<boolean> {
    if (options.team) {
      const [org, slug] = options.team.split('/');
      const response = await github(`/orgs/${encodeURIComponent(org ?? '')}/teams/${encodeURIComponent(slug ?? '')}/memberships/${encodeURIComponent(login)}`, token);
      if (response.status !== 200) return false;
      return ((await response.json()) as { state?: string }).state === 'active';
    }
    for (const org of options.organizations) {
      const response = await github(`/orgs/${encodeURIComponent(org)}/members/${encodeURIComponent(login)}`, token);
      await response.arrayBuffer().catch(() => undefined);
      if (response.status === 204) return true;
    }
    return false;
  }

  return {
    sessionLogin(req) {
      const value = unseal(readCookie(req, SESSION_COOKIE)) as { login?: unknown; exp?: unknown } | undefined;
      if (!value || typeof value.login !== 'string' || typeof value.exp !== 'number' || value.exp * 1000 < Date.now()) return undefined;
      return value.login;
    },
    async handle(req, res, pathname, search) {
      if (pathname === '/auth/login') {
        const next = safeNext(new URLSearchParams(search).get('next'));
        const state = randomBytes(16).toString('base64url');
        const url = new URL(`${webUrl}/login/oauth/authorize`);
        url.searchParams.set('client_id', options.clientId);
        url.searchParams.set('redirect_uri', callbackUrl);
        url.searchParams.set('state', state);
        redirect(res, url.toString(), [cookie(STATE_COOKIE, seal({ state, next, exp: Math.floor(Date.now() / 1000) + 600 }), 600, '/auth')]);
        return true;
      }
      if (pathname === '/auth/logout') {
        redirect(res, '/auth/signed-out', [cookie(SESSION_COOKIE, '', 0)]);
        return true;
      }
      if (pathname === '/auth/signed-out') {
        deny(res, 200, 'Signed out.');
        return true;
      }
      if (pathname !== '/auth/callback') return false;
      const params = new URLSearchParams(search);
      const saved = unseal(readCookie(req, STATE_COOKIE)) as { state?: unknown; next?: unknown; exp?: unknown } | undefined;
      const code = params.get('code');
      if (!saved || typeof saved.state !== 'string' || saved.state !== params.get('state') || typeof saved.exp !== 'number' || saved.exp * 1000 < Date.now() || !code) {
        deny(res, 400, 'The sign-in could not be checked (it expired, or did not start here). Try again.');
        return true;
      }
      const clearState = cookie(STATE_COOKIE, '', 0, '/auth');
      let login: string | undefined;
      try {
        const exchange = await githubFetch(`${webUrl}/login/oauth/access_token`, {
          method: 'POST',
          headers: { accept: 'application/json', 'content-type': 'application/json', 'user-agent': 'egressctl-console' },
          body: JSON.stringify({ client_id: options.clientId, client_secret: options.clientSecret, code, redirect_uri: callbackUrl }),
        });
        const token = ((await exchange.json()) as { access_token?: unknown }).access_token;
        if (typeof token !== 'string' || token === '') throw new Error(`the code exchange answered ${exchange.status} without a token`);
        const user = await github('/user', token);
        if (user.status !== 200) throw new Error(`GET /user answered ${user.status}`);
        login = ((await user.json()) as { login?: unknown }).login as string | undefined;
        if (typeof login !== 'string') throw new Error('GET /user gave no login');
        if (!(await admitted(login, token))) {
          options.logger?.warn({ login }, 'console sign-in refused: not a member');
          res.setHeader('set-cookie', [clearState]);
          deny(res, 403, `${login} is not a member of ${options.team ? `team ${options.team}` : options.organizations.join(', ')}.`);
          return true;
        }
      } catch (error) {
        options.logger?.warn({ err: messageOf(error) }, 'console sign-in failed');
        res.setHeader('set-cookie', [clearState]);
        deny(res, 502, 'GitHub could not confirm the sign-in. Try again.');
        return true;
      }
      options.logger?.info({ login }, 'console sign-in');
      redirect(res, typeof saved.next === 'string' ? saved.next : '/', [clearState, cookie(SESSION_COOKIE, seal({ login, exp: Math.floor(Date.now() / 1000) + ttl }), ttl)]);
      return true;
    },
  };
}

/** GitHub's answers during sign-in are small: each request gets 1 MiB and 10 s, body included. */
const githubFetch = boundedFetch({ maxBytes: 1024 * 1024, timeoutMs: 10_000 });

const SELF = 'http://self.invalid';
// eslint-disable-next-line no-control-regex -- control characters are what this refuses.
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Only same-origin absolute paths after normalisation (what a browser would follow): an open redirect through `next` is not possible. */
function safeNext(next: string | null): string {
  // Browsers drop tabs and newlines inside URLs ("/\t/host" becomes "//host"), and CR/LF cannot go
  // into a Location header: refuse them outright, then judge the URL as a browser would parse it.
  if (!next || next.length > 500 || !next.startsWith('/') || next.includes('\\') || CONTROL.test(next)) return '/';
  let url: URL;
  try {
    url = new URL(next, SELF);
  } catch {
    return '/';
  }
  if (url.origin !== SELF) return '/';
  const path = `${url.pathname}${url.search}${url.hash}`;
  // The normalised form is what the browser goes to: it must still be a path on this server.
  return path.startsWith('/') && !path.startsWith('//') ? path : '/';
}

function readCookie(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}
