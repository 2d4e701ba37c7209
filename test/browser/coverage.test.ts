/**
 * The console's coverage page in real headless Chromium (Debian's `chromium`, driven by
 * playwright-core), from coverage computed by the same code the sync records
 * (src/coverage/coverage.ts) and kept in the sync report the App and `egressctl sync --state-dir` write.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/browser.js';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coverageStoreOf, coverRepository } from '../../src/coverage/coverage.js';
import { recordSync } from '../../src/rollout/sync-report.js';
import { createConsoleHandler } from '../../src/server/console/index.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { loadPolicyRepository } from '../../src/store/repository.js';
import { makeTempRepo, type TempRepo } from '../support/policy-repo.js';

const CHROMIUM = '/usr/bin/chromium';

/** The page's window, as evaluate() sees it (the test is compiled without the DOM library). */
interface BrowserWindow {
  getComputedStyle(element: unknown): { fill: string };
}
const SCREENSHOTS = fileURLToPath(new URL('../../artifacts/screenshots/', import.meta.url));

const BUILD = `on: push
jobs:
  linux:
    runs-on: ubuntu-latest
    steps:
      - uses: step-security/harden-runner@05e31511f85b41b11d1cf0ef85d0992719546e2c # v2.21.0
        with: # egressctl: managed, policy api
          egress-policy: block
          allowed-endpoints: github.com:443
      - run: make
  mac:
    runs-on: macos-14
    steps:
      - uses: step-security/harden-runner@05e31511f85b41b11d1cf0ef85d0992719546e2c # v2.21.0
        with: # egressctl: managed, policy api
          egress-policy: audit
      - run: make
  slim:
    runs-on: ubuntu-slim
    steps:
      - run: echo hi
  "<script>alert(1)</script>":
    runs-on: ubuntu-latest
    steps:
      - run: echo
`;

let repo: TempRepo;
let stateDir: string;
let server: RunningServer;
let browser: Browser;
let page: Page;
const problems: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's Chromium (apt-get install -y chromium) to run the browser tests`);
  mkdirSync(SCREENSHOTS, { recursive: true });
  repo = makeTempRepo(
    {
      'policies/api.yml': 'egress-policy: block\nallowed-endpoints:\n  - github.com:443\n',
      'policies/org.yml': 'egress-policy: audit\n',
      'attachments.yml': 'organizations:\n  acme: org\nrepositories:\n  acme/api: api\n',
    },
    { git: true },
  );
  repo.commit('Policies');
  const loaded = await loadPolicyRepository({ dir: repo.dir });
  const store = coverageStoreOf(loaded.value, Date.parse('2026-12-01T12:00:00.000Z'));
  const at = '2026-12-01T12:00:00.000Z';
  stateDir = mkdtempSync(path.join(os.tmpdir(), 'egressctl-coverage-console-'));
  await recordSync(stateDir, {
    organization: 'acme',
    at,
    dryRun: false,
    repositories: [
      { repository: 'acme/api', status: 'synced', pr: null, files: [], reasons: [] },
      { repository: 'acme/web', status: 'synced', pr: null, files: [], reasons: [] },
    ],
    variables: [],
    coverage: {
      'acme/api': coverRepository('acme/api', [{ path: '.github/workflows/build.yml', text: BUILD }], store, { at }),
      'acme/web': coverRepository('acme/web', [{ path: '.github/workflows/ci.yml', text: BUILD.split('  mac:')[0]! }], store, { at }),
    },
  });
  server = await startServer({ source: repo.dir, port: 0, logger: pino({ level: 'silent' }), defaultMetrics: false, consoleHandler: createConsoleHandler({ syncReportDir: stateDir }) });
  browser = await launchChromium(CHROMIUM);
  page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  page.on('dialog', (dialog) => {
    problems.push(`a script ran: ${dialog.message()}`);
    void dialog.dismiss();
  });
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  repo?.cleanup();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

describe('coverage in Chromium', () => {
  it('shows per job what enforces it, the mode and why not, with totals and a bar per organization', async () => {
    await page.goto(`${server.url}/`);
    await page.getByRole('link', { name: 'Coverage' }).click();
    await page.waitForURL(`${server.url}/coverage`);
    expect(await page.title()).toBe('Coverage · egressctl');
    expect(await page.locator('table.coverage tbody tr').count()).toBe(5);
    const linux = page.locator('tr[data-repository="acme/api"][data-job="linux"] td');
    expect(await linux.nth(3).innerText()).toBe('block');
    expect(await linux.nth(4).innerText()).toBe('harden-runner (inline)');
    const mac = page.locator('tr[data-repository="acme/api"][data-job="mac"] td');
    expect(await mac.nth(3).innerText()).toBe('audit');
    expect(await mac.nth(5).innerText()).toContain('hosted Windows and macOS support audit only');
    const slim = page.locator('tr[data-job="slim"] td');
    expect(await slim.nth(3).innerText()).toBe('unprotected');
    expect(await slim.nth(4).innerText()).toBe('nothing');
    expect(await slim.nth(5).innerText()).toContain('ubuntu-slim');
    // A job id is data: shown as text, never run.
    expect(await page.locator('tr[data-job="<script>alert(1)</script>"] td').nth(2).innerText()).toBe('<script>alert(1)</script>');
    expect(await page.locator('main script').count()).toBe(0);

    // Totals: acme/api 1 block, 1 audit, 2 unprotected; acme/web 1 block; in all 2, 1, 2 of 5.
    const totals = page.locator('#org-acme .coverage-totals');
    expect(await totals.locator('[data-kind="block"]').innerText()).toBe('2 block (40%)');
    expect(await totals.locator('[data-kind="audit"]').innerText()).toBe('1 audit (20%)');
    expect(await totals.locator('[data-kind="unprotected"]').innerText()).toBe('2 unprotected (40%)');
    // The bar is drawn (the stylesheet colours it; no inline style is allowed by the page's CSP).
    const bar = totals.locator('svg.coverage-bar');
    expect(await bar.getAttribute('aria-label')).toBe('2 block, 1 audit, 2 unprotected of 5 jobs');
    const widths = await bar.locator('rect').evaluateAll((rects) => rects.map((rect) => rect.getBoundingClientRect().width));
    // Segments in proportion 2 : 1 : 2, filling the bar.
    expect(widths[0]).toBeGreaterThan(0);
    expect(widths[2]).toBeCloseTo(widths[0]!, 0);
    expect(widths[1]! * 2).toBeCloseTo(widths[0]!, 0);
    const barWidth = await bar.evaluate((svg) => Math.round(svg.getBoundingClientRect().width));
    expect(widths.reduce((sum, width) => sum + width, 0)).toBeGreaterThanOrEqual(barWidth - 2);
    const fill = await bar.locator('rect.bar-block').evaluate((rect) => (globalThis as unknown as BrowserWindow).getComputedStyle(rect).fill);
    expect(fill).toBe('rgb(74, 194, 107)');
    await page.screenshot({ path: `${SCREENSHOTS}coverage.png`, fullPage: true });

    await page.selectOption('select[name="mode"]', 'none');
    await page.fill('input[name="repository"]', 'acme/api');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/[?&]mode=none(&|$)/);
    expect(await page.locator('table.coverage tbody tr').count()).toBe(2);
    expect(await page.locator('#org-acme').innerText()).toContain('2 of 5 jobs match the filter');
    expect(problems).toEqual([]);
  });
});
