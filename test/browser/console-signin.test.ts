/**
 * `--read-access github` end to end in headless Chromium: the console sends a stranger to
 * GitHub's OAuth page (the stand-in's web flow, next to its OpenAPI-checked REST API), the
 * callback reads the user and their organization membership with the user's token, and a member
 * gets a signed, HttpOnly, SameSite session cookie; a non-member is refused (docs/security.md).
 */
import { existsSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../support/browser.js';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_COOKIE } from '../../src/server/auth/github-oauth.js';
import { freePort, standinOAuth } from '../support/server.js';
import { createConsoleHandler } from '../../src/server/console/index.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { startGitHubStandin, startOAuthWeb, type GitHubStandin, type OAuthWeb } from '../support/github/index.js';
import { makeConsoleRepo, type ConsoleRepo } from '../support/console-repo.js';

const CHROMIUM = '/usr/bin/chromium';
let standin: GitHubStandin;
let web: OAuthWeb;
let fixture: ConsoleRepo;
let server: RunningServer;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's Chromium (apt-get install -y chromium) to run the browser tests`);
  standin = await startGitHubStandin();
  standin.addOrgMember('acme', 'octocat', { teams: ['platform'] });
  standin.addOrgMember('other-org', 'mallory');
  web = await startOAuthWeb(standin);
  fixture = makeConsoleRepo();
  const port = await freePort();
  const oauth = standinOAuth(standin, web, port, { organizations: ['acme'] });
  server = await startServer({
    source: fixture.repo.dir,
    port,
    logger: pino({ level: 'silent' }),
    defaultMetrics: false,
    consoleHandler: createConsoleHandler(),
    readAccess: { mode: 'github', oauth },
  });
  browser = await launchChromium(CHROMIUM);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await web?.close();
  try {
    standin?.assertNoViolations();
  } finally {
    await standin?.close();
    fixture?.repo.cleanup();
  }
});

describe('console sign-in with GitHub', () => {
  it('sends a stranger through GitHub and lets a member of the organization in', async () => {
    web.signIn('octocat');
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.url}/`);
    expect(new URL(page.url()).origin).toBe(web.url);
    await page.click('#authorize');
    await page.waitForURL(`${server.url}/`);
    expect(await page.content()).toContain('egress');
    const [session] = (await context.cookies()).filter((cookie) => cookie.name === SESSION_COOKIE);
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' });
    expect(web.exchanges).toBe(1);

    // The session admits the API readers too; without it, or forged, they answer 401.
    const cookieHeader = `${SESSION_COOKIE}=${session!.value}`;
    expect((await fetch(`${server.url}/v1/bundle`, { headers: { cookie: cookieHeader } })).status).toBe(200);
    expect((await fetch(`${server.url}/v1/bundle`)).status).toBe(401);
    const [body] = session!.value.split('.');
    const forged = Buffer.from(JSON.stringify({ login: 'octocat', exp: Math.floor(Date.now() / 1000) + 3600 })).toString('base64url');
    expect(forged).not.toBe(body);
    expect((await fetch(`${server.url}/v1/bundle`, { headers: { cookie: `${SESSION_COOKIE}=${forged}.${session!.value.split('.')[1]}` } })).status).toBe(401);
    await context.close();
  }, 60_000);

  it('refuses someone who is not a member', async () => {
    web.signIn('mallory');
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.url}/`);
    await page.click('#authorize');
    await page.waitForURL(/\/auth\/callback/);
    expect(await page.textContent('body')).toContain('mallory is not a member of acme');
    expect((await context.cookies()).filter((cookie) => cookie.name === SESSION_COOKIE)).toEqual([]);
    await context.close();
  }, 60_000);

  it('stays on the server when next hides a protocol-relative URL behind a tab (/%09/host)', async () => {
    web.signIn('octocat');
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.url}/auth/login?next=/%09/evil.example/path`);
    await page.click('#authorize');
    await page.waitForURL((url) => url.pathname !== '/login/oauth/authorize' && !url.pathname.startsWith('/auth/'));
    expect(new URL(page.url()).origin).toBe(server.url);
    expect(new URL(page.url()).pathname).toBe('/');
    await context.close();
  }, 60_000);

  it('refuses a callback that did not start here (no state cookie)', async () => {
    const response = await fetch(`${server.url}/auth/callback?code=abc&state=xyz`);
    expect(response.status).toBe(400);
  });
});
