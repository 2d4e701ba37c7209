/**
 * GitHub's OAuth web flow for GitHub Apps (user-to-server), which is not part of the REST
 * description: a small separate loopback server next to the stand-in.
 *
 *   GET  /login/oauth/authorize?client_id&redirect_uri&state  the consent page (one button)
 *   POST /login/oauth/authorize                               -> 302 redirect_uri?code&state
 *   POST /login/oauth/access_token {client_id, client_secret, code, redirect_uri}
 *        -> {access_token, token_type, scope}, or {error: 'bad_verification_code' | ...} as GitHub does
 *
 * The access token is a stand-in user token: the REST API (OpenAPI-checked) accepts it.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GitHubStandin } from './standin.js';

export interface OAuthWeb {
  /** Base URL, as `https://github.com` is for the real flow. */
  url: string;
  clientId: string;
  clientSecret: string;
  /** Who is signed in on "github.com" in the browser (undefined: nobody, the page says so). */
  signIn(login: string | undefined): void;
  /** Codes exchanged for tokens so far. */
  readonly exchanges: number;
  close(): Promise<void>;
}

export async function startOAuthWeb(standin: GitHubStandin): Promise<OAuthWeb> {
  const clientSecret = randomBytes(20).toString('hex');
  const clientId = standin.app.clientId;
  const codes = new Map<string, { login: string; redirectUri: string; expires: number }>();
  let signedIn: string | undefined;
  let exchanges = 0;

  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const html = (status: number, body: string): void => {
        res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
        res.end(`<!doctype html><meta charset="utf-8"><title>GitHub stand-in</title>${body}`);
      };
      if (url.pathname === '/login/oauth/authorize') {
        const params = req.method === 'POST' ? new URLSearchParams(await bodyText(req)) : url.searchParams;
        const redirectUri = params.get('redirect_uri') ?? '';
        if (params.get('client_id') !== clientId || !/^https?:\/\//.test(redirectUri)) return html(404, '<p>Unknown application or redirect URI</p>');
        if (!signedIn) return html(200, '<p id="signed-out">Sign in to GitHub to continue.</p>');
        if (req.method === 'GET') {
          const hidden = ['client_id', 'redirect_uri', 'state'].map((name) => `<input type="hidden" name="${name}" value="${escapeAttr(params.get(name) ?? '')}">`).join('');
          return html(200, `<form method="post" action="/login/oauth/authorize">${hidden}<p>Authorize ${escapeAttr(standin.app.name)} for ${escapeAttr(signedIn)}?</p><button id="authorize" type="submit">Authorize</button></form>`);
        }
        const code = randomBytes(10).toString('hex');
        codes.set(code, { login: signedIn, redirectUri, expires: Date.now() + 600_000 });
        const target = new URL(redirectUri);
        target.searchParams.set('code', code);
        target.searchParams.set('state', params.get('state') ?? '');
        res.writeHead(302, { location: target.toString() });
        res.end();
        return;
      }
      if (url.pathname === '/login/oauth/access_token' && req.method === 'POST') {
        const text = await bodyText(req);
        const fields = (req.headers['content-type'] ?? '').includes('json')
          ? new URLSearchParams(Object.entries(JSON.parse(text) as Record<string, string>))
          : new URLSearchParams(text);
        const reply = (body: Record<string, string>): void => {
          res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
          res.end(JSON.stringify(body));
        };
        if (fields.get('client_id') !== clientId || fields.get('client_secret') !== clientSecret) return reply({ error: 'incorrect_client_credentials' });
        const code = codes.get(fields.get('code') ?? '');
        codes.delete(fields.get('code') ?? '');
        if (!code || code.expires < Date.now()) return reply({ error: 'bad_verification_code' });
        if (fields.get('redirect_uri') && fields.get('redirect_uri') !== code.redirectUri) return reply({ error: 'redirect_uri_mismatch' });
        exchanges++;
        return reply({ access_token: standin.createUserToken(code.login), token_type: 'bearer', scope: '' });
      }
      html(404, '<p>Not Found</p>');
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    clientId,
    clientSecret,
    signIn(login) {
      signedIn = login;
    },
    get exchanges() {
      return exchanges;
    },
    // Closes the browser's and the server's kept-alive connections too: close() waits for none of them.
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function bodyText(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function escapeAttr(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}
