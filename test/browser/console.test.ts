/**
 * The web console in real headless Chromium (Debian's `chromium`, driven by playwright-core):
 * navigation from the store to a policy and its history, the lookup form, the exports as
 * downloads, escaping under a strict CSP. Screenshots of each page go to artifacts/screenshots/.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createConsoleHandler } from '../../src/server/console/index.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { launchChromium, sidewaysOverflow } from '../support/browser.js';
import { makeConsoleRepo, POLICY_REPOSITORY, type ConsoleRepo } from '../support/console-repo.js';

const CHROMIUM = '/usr/bin/chromium';
/** The one DOM function used in the page (the project's TypeScript has no DOM library). */
interface BrowserWindow {
  getComputedStyle(element: unknown): { backgroundColor: string };
}
const SCREENSHOTS = fileURLToPath(new URL('../../artifacts/screenshots/', import.meta.url));

let fixture: ConsoleRepo;
let server: RunningServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
/** Things the page must never do: run a script (a dialog), break the CSP, fail a request. */
const problems: string[] = [];

async function screenshot(name: string): Promise<void> {
  await page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true });
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's Chromium (apt-get install -y chromium) to run the browser tests`);
  mkdirSync(SCREENSHOTS, { recursive: true });
  fixture = makeConsoleRepo();
  server = await startServer({ source: fixture.repo.dir, port: 0, logger: pino({ level: 'silent' }), defaultMetrics: false, consoleHandler: createConsoleHandler() });
  browser = await launchChromium(CHROMIUM);
  context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.on('dialog', (dialog) => {
    problems.push(`a script ran: ${dialog.type()} "${dialog.message()}"`);
    void dialog.dismiss();
  });
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  page.on('requestfailed', (request) => {
    // A navigation cancels what the previous page was still loading: not a failure of the console.
    if (request.failure()?.errorText !== 'net::ERR_ABORTED') problems.push(`request failed: ${request.url()} (${request.failure()?.errorText})`);
  });
}, 60_000);

afterEach(() => {
  expect(problems.splice(0)).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  fixture?.repo.cleanup();
});

describe('web console in Chromium', () => {
  it('navigates from the policy store to a policy; <script> from YAML and git stays text', async () => {
    await page.goto(`${server.url}/`);
    await expect.poll(() => page.title(), { timeout: 10_000 }).toBe('Policies · egressctl');
    // The stylesheet loaded under the CSP (the header is dark).
    expect(await page.locator('header.top').evaluate((element) => (globalThis as unknown as BrowserWindow).getComputedStyle(element).backgroundColor)).toBe('rgb(36, 41, 47)');
    const rows = page.locator('table.policies tbody tr');
    expect(await rows.count()).toBe(4);
    expect(await page.locator('tr', { hasText: 'lonely' }).innerText()).toContain('Not attached');
    expect(await page.locator('header .revision').innerText()).toMatch(/revision [0-9a-f]{7} committed 2024-04-25 10:00:00 UTC \(\d+ (months?|years?) ago\)/);
    await screenshot('01-policy-store');

    await page.getByRole('link', { name: 'base', exact: true }).click();
    await page.waitForURL(`${server.url}/policies/base`);
    expect(await page.locator('h1').innerText()).toContain('base');
    expect(await page.locator('p.description').innerText()).toBe('Shared base <script>alert("xss")</script>');
    expect(await page.locator('pre.yaml').innerText()).toContain('description: "Shared base <script>alert(\\"xss\\")</script>"');
    expect(await page.locator('script').count()).toBe(0);
    expect(await page.locator('ul.endpoints li').allInnerTexts()).toEqual(['github.com:443', 'objects.githubusercontent.com:443']);
    expect(await page.locator('table.attachments').innerText()).toContain('Wins for this workflow');
    await screenshot('02-policy');
  });

  it('filters the store with the GET form', async () => {
    await page.goto(`${server.url}/`);
    await page.selectOption('select[name="mode"]', 'audit');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/[?&]mode=audit(&|$)/);
    expect(await page.locator('table.policies tbody tr').allInnerTexts()).toHaveLength(1);
    expect(await page.locator('table.policies').innerText()).toContain('audit');
  });

  it('opens a policy\'s history and shows the diff side by side with links to GitHub', async () => {
    await page.goto(`${server.url}/policies/api`);
    await page.getByRole('link', { name: 'History of api' }).click();
    await page.waitForURL(`${server.url}/policies/api/history`);
    const updated = page.locator('section.kind-updated');
    expect(await updated.count()).toBe(1);
    expect(await page.locator('article.commit', { has: updated }).locator('header').innerText()).toContain('Bob Builder');
    expect(await updated.locator('td.code.add').allInnerTexts()).toEqual(['+allowed-endpoints:', '+  - registry.npmjs.org', '+  - proxy.golang.org # go modules']);
    expect(await updated.locator('td.code.del').allInnerTexts()).toEqual(['-allowed-endpoints: registry.npmjs.org']);
    expect(await page.locator('article.commit', { has: updated }).getByRole('link', { name: '#2' }).getAttribute('href')).toBe(`https://github.com/${POLICY_REPOSITORY}/pull/2`);
    expect(await page.locator('article.commit', { has: updated }).locator(`a[href="https://github.com/${POLICY_REPOSITORY}/commit/${fixture.commits[1]}"]`).count()).toBe(1);
    await screenshot('03-policy-history');

    await page.getByRole('link', { name: 'History', exact: true }).click();
    await page.waitForURL(`${server.url}/history`);
    expect(await page.locator('article .subject').allInnerTexts()).toContain('Describe base <script>alert("xss")</script>');
    expect(await page.locator('section.kind-attachments', { hasText: 'Detached' }).innerText()).toContain('acme/web');
    // One card per commit (issue 23): the first commit created three policies and attached them.
    const cards = page.locator('article.commit');
    expect(await cards.count()).toBe(fixture.commits.length);
    const commitsShown = await cards.evaluateAll((elements) => elements.map((element) => (element as unknown as { dataset: Record<string, string> }).dataset['commit']));
    expect(new Set(commitsShown).size).toBe(commitsShown.length);
    const first = page.locator(`article.commit[data-commit="${fixture.commits[0]}"]`);
    expect(await first.locator('section.change').count()).toBeGreaterThan(1);
    expect(await first.locator('.subject').count()).toBe(1);
    await screenshot('04-history');
  });

  it('answers "which policy applies?" from the form, with a shareable URL', async () => {
    await page.goto(`${server.url}/lookup`);
    await page.fill('input[name="repository"]', 'acme/api');
    await page.fill('input[name="workflow"]', '.github/workflows/release.yml');
    await page.fill('input[name="cluster"]', 'arc-prod');
    await page.getByRole('button', { name: 'Look up' }).click();
    await page.waitForURL(/\/lookup\?org=&repository=acme%2Fapi&workflow=.github%2Fworkflows%2Frelease.yml&cluster=arc-prod/);
    expect(await page.locator('.answer').innerText()).toMatch(/^base block wins, attached to workflow acme\/api\/.github\/workflows\/release.yml; it shadows api \(repository acme\/api\), audit \(organization acme\), audit \(cluster arc-prod\)\.$/);
    expect(await page.locator('table.chain tbody tr').allInnerTexts()).toEqual([
      'workflow acme/api/.github/workflows/release.yml\tbase\twins',
      'repository acme/api\tapi\tshadowed',
      'organization acme\taudit\tshadowed',
      'cluster arc-prod\taudit\tshadowed',
    ]);
    expect(await page.locator('#with-block').innerText()).toContain('  with:\n    egress-policy: block\n    allowed-endpoints: github.com:443 objects.githubusercontent.com:443\n');
    await screenshot('05-lookup');

    // On a narrow screen the box wraps between endpoints, never inside one, and the page does not scroll sideways.
    await page.setViewportSize({ width: 420, height: 900 });
    try {
      const endpoints = page.locator('#with-block .token', { hasText: 'objects.githubusercontent.com:443' });
      expect(await endpoints.count()).toBe(1);
      const lineBoxes = await page.locator('#with-block .token').evaluateAll((elements) =>
        elements.map((element) => ({ text: (element as unknown as { textContent: string }).textContent, boxes: (element as unknown as { getClientRects(): { length: number } }).getClientRects().length })),
      );
      expect(lineBoxes.filter((token) => token.boxes !== 1)).toEqual([]);
      expect(await page.locator('#with-block').innerText()).toContain('objects.githubusercontent.com:443');
      expect(await sidewaysOverflow(page)).toEqual({ overflows: false });
      await screenshot('05-lookup-narrow');
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }

    // The same URL, opened afresh, gives the same answer.
    const shared = page.url();
    await page.goto(`${server.url}/`);
    await page.goto(shared);
    expect(await page.locator('.answer').innerText()).toContain('base block wins');
  });

  it('downloads exported endpoints of a policy and of a baseline job', async () => {
    await page.goto(`${server.url}/policies/api`);
    const [policyDownload] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Export endpoints (.txt)' }).click()]);
    expect(policyDownload.suggestedFilename()).toBe('api-endpoints.txt');
    expect(readFileSync(await policyDownload.path(), 'utf8')).toBe('github.com:443\nobjects.githubusercontent.com:443\nproxy.golang.org:443\nregistry.npmjs.org:443\n');

    await page.goto(`${server.url}/baselines`);
    await screenshot('06-baselines');
    await page.getByRole('link', { name: 'acme/api' }).click();
    await page.waitForURL(`${server.url}/baselines/acme/api`);
    const build = page.locator('section.job', { hasText: 'build' }).first();
    expect(await build.locator('.badge.stable').count()).toBe(1);
    expect(await page.locator('section.job', { hasText: 'sandbox.payments.example.com' }).locator('.badge.warn').innerText()).toBe('blocked by current policy');
    await screenshot('07-baselines-repository');
    const [jobDownload] = await Promise.all([page.waitForEvent('download'), build.getByRole('link', { name: 'Export endpoints (.txt)' }).click()]);
    expect(jobDownload.suggestedFilename()).toBe('acme-api-ci-build-endpoints.txt');
    expect(readFileSync(await jobDownload.path(), 'utf8')).toBe('nodejs.org:443\nregistry.npmjs.org:443\n');
  });

  it('filters baselines by ARC cluster with the GET form, and keeps the filter on the way to a repository', async () => {
    await page.goto(`${server.url}/baselines`);
    expect(await page.locator('table tbody tr').count()).toBe(2);
    await page.selectOption('select[name="cluster"]', 'arc-prod');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/[?&]cluster=arc-prod(&|$)/);
    expect(await page.locator('table tbody tr').allInnerTexts()).toHaveLength(1);
    expect(await page.locator('main p.muted').first().innerText()).toContain('Showing only runs on ARC cluster arc-prod.');
    await screenshot('06b-baselines-cluster');
    await page.getByRole('link', { name: 'acme/api' }).click();
    await page.waitForURL(`${server.url}/baselines/acme/api?cluster=arc-prod`);
    expect(await page.locator('section.job').count()).toBe(1);
    expect(await page.locator('section.job').innerText()).toContain('5 runs observed, 3 on cluster arc-prod');
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('section.job').getByRole('link', { name: 'Export endpoints (.txt)' }).click()]);
    expect(download.suggestedFilename()).toBe('acme-api-ci-build-arc-prod-endpoints.txt');
    expect(readFileSync(await download.path(), 'utf8')).toBe('registry.npmjs.org:443\n');
    await page.getByRole('link', { name: 'Show every run' }).click();
    await page.waitForURL(`${server.url}/baselines/acme/api`);
    expect(await page.locator('section.job').count()).toBe(2);
    await screenshot('07b-baselines-repository-cluster');
  });

  it('shows a 404 page for an unknown policy', async () => {
    const response = await page.goto(`${server.url}/policies/no-such-policy`);
    expect(response?.status()).toBe(404);
    expect(await page.locator('main').innerText()).toContain('There is no policy "no-such-policy"');
    await screenshot('08-not-found');
    // Chromium logs the 404 as a console error; that one is expected.
    problems.splice(0, problems.length, ...problems.filter((problem) => !problem.includes('404')));
  });
});
