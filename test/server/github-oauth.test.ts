/**
 * The console's GitHub sign-in without a browser (the Chromium test covers the page flow):
 * team mode, and `next` that cannot redirect off the server. GitHub: the stand-in's REST API
 * (OpenAPI-checked) and its OAuth web flow.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { SESSION_COOKIE } from '../../src/server/auth/github-oauth.js';
import { freePort, standinOAuth } from '../support/server.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { startGitHubStandin, startOAuthWeb, type GitHubStandin, type OAuthWeb } from '../support/github/index.js';
import { makeTempRepo, SAMPLE_FILES, type TempRepo } from '../support/policy-repo.js';

let standin: GitHubStandin;
let web: OAuthWeb;
let repo: TempRepo;
let server: RunningServer;

beforeAll(async () => {
  standin = await startGitHubStandin();
  standin.addOrgMember('acme', 'octocat', { teams: ['platform'] });
  standin.addOrgMember('acme', 'hubot');
  web = await startOAuthWeb(standin);
  repo = makeTempRepo(SAMPLE_FILES, { git: true });
  repo.commit('first');
  const port = await freePort();
  const oauth = standinOAuth(standin, web, port, { organizations: [], team: 'acme/platform' });
  server = await startServer({ source: repo.dir, port, logger: pino({ level: 'silent' }), defaultMetrics: false, readAccess: { mode: 'github', oauth } });
});

afterAll(async () => {
  await server?.close();
  await web?.close();
  try {
    standin?.assertNoViolations();
  } finally {
    await standin?.close();
    repo?.cleanup();
  }
});

/** Follows the flow as a browser would (cookies by hand); answers the final response. */
async function signIn(login: string, next = '/v1/bundle'): Promise<{ status: number; location: string | null; session: string | undefined }> {
  web.signIn(login);
  const start = await fetch(`${server.url}/auth/login?next=${encodeURIComponent(next)}`, { redirect: 'manual' });
  const stateCookie = (start.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const authorize = new URL(start.headers.get('location') ?? '');
  const consent = await fetch(authorize, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: authorize.searchParams.toString(),
  });
  const callback = await fetch(consent.headers.get('location') ?? '', { redirect: 'manual', headers: { cookie: stateCookie } });
  const session = callback.headers
    .getSetCookie()
    .map((value) => value.split(';')[0] ?? '')
    .find((value) => value.startsWith(`${SESSION_COOKIE}=`) && value.length > SESSION_COOKIE.length + 1);
  return { status: callback.status, location: callback.headers.get('location'), session };
}

describe('--read-access github with --team', () => {
  it('admits a member of the team and returns to where they were going', async () => {
    const result = await signIn('octocat', '/v1/history');
    expect(result.status).toBe(302);
    expect(result.location).toBe('/v1/history');
    expect((await fetch(`${server.url}/v1/bundle`, { headers: { cookie: result.session ?? '' } })).status).toBe(200);
  });

  it('refuses a member of the organization who is not in the team', async () => {
    const result = await signIn('hubot');
    expect(result.status).toBe(403);
    expect(result.session).toBeUndefined();
  });

  it('never redirects off the server after sign-in', async () => {
    for (const next of ['//evil.example.com/', 'https://evil.example.com/', '/\\evil.example.com']) {
      const result = await signIn('octocat', next);
      expect(result.location).toBe('/');
    }
  });

  it('sends a next with control characters home (a tab makes "/\\t/host" protocol-relative in a browser; CR/LF must not reach a header)', async () => {
    for (const next of ['/\t/evil.example.com/path', '/\n/evil.example.com', '/\r\n/evil.example.com', '/v1/history\r\nset-cookie: x=y', '/\u0000/evil.example.com', '/%09/evil.example.com']) {
      const result = await signIn('octocat', next);
      expect(result.status, JSON.stringify(next)).toBe(302);
      const location = result.location ?? '';
      expect(new URL(location, 'http://self.invalid').origin, JSON.stringify(next)).toBe('http://self.invalid');
      // eslint-disable-next-line no-control-regex -- control characters are what must not reach the header.
      expect(location, JSON.stringify(next)).not.toMatch(/[\u0000-\u001f\u007f]/);
    }
  });

  it('keeps a same-origin next with its query, normalised', async () => {
    expect((await signIn('octocat', '/v1/history?since=2026-01-01#top')).location).toBe('/v1/history?since=2026-01-01#top');
    expect((await signIn('octocat', '/a/../v1/history')).location).toBe('/v1/history');
  });
});
