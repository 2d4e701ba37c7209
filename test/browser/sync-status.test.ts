/**
 * The console's sync-status page and the lookup's variables section in real headless Chromium
 * (Debian's `chromium`, driven by playwright-core), from a sync report written by the same code
 * the App and `egressctl sync --state-dir` use.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POLICY_VARIABLE } from '../../src/policy/delivery.js';
import { recordSync } from '../../src/rollout/sync-report.js';
import { createConsoleHandler } from '../../src/server/console/index.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { launchChromium, sidewaysOverflow } from '../support/browser.js';
import { makeTempRepo, type TempRepo } from '../support/policy-repo.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = fileURLToPath(new URL('../../artifacts/screenshots/', import.meta.url));
const ORG_VALUE = '{"egress-policy":"block","allowed-endpoints":"proxy.golang.org:443","disable-sudo-and-containers":false,"disable-file-monitoring":false,"disable-telemetry":false,"policy":"org"}';

const LONG_WORKFLOW = '.github/workflows/build-and-publish-the-container-images-for-every-supported-platform-and-architecture.yml';
const RAW_CHANGES = '{"field":"with.egress-policy","from":"audit","to":"block"}; {"field":"marker","from":null,"to":"# egressctl: managed, policy org"}';

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
      'egressctl.yml': 'delivery: variables\n',
      'policies/org.yml': 'egress-policy: block\nallowed-endpoints:\n  - proxy.golang.org\n',
      'attachments.yml': 'organizations:\n  acme: org\n',
    },
    { git: true },
  );
  repo.commit('Policies');
  stateDir = mkdtempSync(path.join(os.tmpdir(), 'egressctl-sync-console-'));
  await recordSync(stateDir, {
    organization: 'acme',
    at: '2026-12-01T12:00:00.000Z',
    dryRun: false,
    repositories: [
      { repository: 'acme/api', status: 'pr-open', pr: { number: 7, url: 'https://github.com/acme/api/pull/7' }, files: ['.github/workflows/ci.yml'], reasons: ['.github/workflows/ci.yml job test: no Harden-Runner step; the store wants block (policy org)'] },
      { repository: 'acme/docs', status: 'synced', pr: null, files: [], reasons: [] },
      { repository: 'acme/web', status: 'out-of-sync', pr: null, files: ['.github/workflows/ci.yml'], reasons: ['<script>alert("x")</script> step edited by hand'] },
      // As an older version stored step changes: JSON in the reason (issue 23).
      { repository: 'acme/legacy', status: 'out-of-sync', pr: null, files: [LONG_WORKFLOW], reasons: [`${LONG_WORKFLOW} job test: managed step edited by hand; the store wants block (policy org): ${RAW_CHANGES}`] },
      { repository: 'acme/svc', status: 'synced', pr: null, files: [], reasons: [] },
      { repository: 'acme/down', status: 'error', pr: null, files: [], reasons: ['could not reach api.github.com: the name does not resolve (no network, or DNS cannot find it)'] },
    ],
    variables: [
      { level: 'organization', target: 'acme', name: POLICY_VARIABLE, value: ORG_VALUE, policy: 'org', status: 'drift-restored', reason: 'edited on GitHub (value differed from policy org): put back' },
      { level: 'repository', target: 'acme/svc', name: POLICY_VARIABLE, value: ORG_VALUE, policy: 'org', status: 'error', reason: 'GitHub answered 403: Resource not accessible by integration' },
    ],
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

describe('sync status in Chromium', () => {
  it('shows per repository synced / out of sync / PR open with reasons and PR links, filtered by status', async () => {
    await page.goto(`${server.url}/`);
    await page.getByRole('link', { name: 'Sync status' }).click();
    await page.waitForURL(`${server.url}/sync`);
    expect(await page.title()).toBe('Sync status · egressctl');
    const rows = page.locator('table.sync tbody tr');
    expect(await rows.count()).toBe(6);
    expect(await page.locator('tr[data-repository="acme/api"] td').nth(1).innerText()).toBe('PR open');
    expect(await page.locator('tr[data-repository="acme/api"]').getByRole('link', { name: '#7' }).getAttribute('href')).toBe('https://github.com/acme/api/pull/7');
    expect(await page.locator('tr[data-repository="acme/docs"] td').nth(1).innerText()).toBe('synced');
    const web = page.locator('tr[data-repository="acme/web"]');
    expect(await web.locator('td').nth(1).innerText()).toBe('out of sync');
    expect(await web.innerText()).toContain('<script>alert("x")</script> step edited by hand');
    expect(await page.locator('main script').count()).toBe(0);
    expect(await page.locator('table.variables').innerText()).toContain('drift-restored');
    await page.screenshot({ path: `${SCREENSHOTS}sync-status.png`, fullPage: true });

    // Reasons read as text, never as JSON.
    const legacy = page.locator('tr[data-repository="acme/legacy"]');
    expect(await page.locator('main').innerText()).not.toContain('{"field"');
    expect(await legacy.innerText()).toContain('egress-policy: audit -> block; marker: (absent) -> # egressctl: managed, policy org');
    // A repository whose variable write failed shows failed; error and failed have a badge.
    const svc = page.locator('tr[data-repository="acme/svc"]');
    expect(await svc.locator('td').nth(1).innerText()).toBe('failed');
    expect(await svc.locator('.badge.error').count()).toBe(1);
    expect(await svc.innerText()).toContain('Actions variable EGRESSCTL_POLICY could not be written: GitHub answered 403');
    expect(await page.locator('tr[data-repository="acme/down"] .badge.error').innerText()).toBe('error');
    expect(await page.locator('table.variables tr.variable-error .badge.error').count()).toBe(1);
    // Long values wrap: nothing makes the page scroll sideways, wide or narrow.
    expect(await sidewaysOverflow(page)).toEqual({ overflows: false });
    await page.setViewportSize({ width: 720, height: 900 });
    try {
      expect(await sidewaysOverflow(page)).toEqual({ overflows: false });
      await page.screenshot({ path: `${SCREENSHOTS}sync-status-narrow.png`, fullPage: true });
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }

    await page.selectOption('select[name="status"]', 'out-of-sync');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/[?&]status=out-of-sync(&|$)/);
    expect(await page.locator('table.sync tbody tr').count()).toBe(2);
    await page.selectOption('select[name="status"]', 'failed');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/[?&]status=failed(&|$)/);
    expect(await page.locator('table.sync tbody tr').allInnerTexts()).toEqual([expect.stringContaining('acme/svc')]);
    expect(problems).toEqual([]);
  });

  it('the lookup shows which variable a job reads and its value as last written', async () => {
    await page.goto(`${server.url}/lookup?repository=acme/api&workflow=.github/workflows/release.yml`);
    expect(await page.locator('#variable-answer').innerText()).toBe('A job of this workflow in acme/api reads vars.EGRESSCTL_POLICY (organization acme).');
    const chain = await page.locator('table.chain').last().locator('tbody tr').allInnerTexts();
    expect(chain[0]).toContain('vars.EGRESSCTL_WF_RELEASE_YML');
    expect(chain[0]).toContain('not set');
    expect(chain[2]).toContain('"allowed-endpoints":"proxy.golang.org:443"');
    await page.screenshot({ path: `${SCREENSHOTS}lookup-variables.png`, fullPage: true });
    expect(problems).toEqual([]);
  });
});
