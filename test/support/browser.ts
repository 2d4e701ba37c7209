/** Debian's Chromium for the browser tests (playwright-core), and checks on a page shared by them. */
import { chromium, type Browser, type Page } from 'playwright-core';

/**
 * Under the 60 s hook timeout, so that a Chromium that does not come up fails with a message that
 * says so (Playwright's own default waits 180 s, past the hook, and leaves the launch running).
 */
const LAUNCH_TIMEOUT_MS = 45_000;

/** Headless Chromium from `executablePath`; an error naming it when it does not start in time. */
export async function launchChromium(executablePath: string): Promise<Browser> {
  try {
    return await chromium.launch({
      executablePath,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
      timeout: LAUNCH_TIMEOUT_MS,
    });
  } catch (error) {
    throw new Error(`Chromium (${executablePath}) did not start within ${LAUNCH_TIMEOUT_MS / 1000} s: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Whether the page is wider than the window (a sideways scrollbar), and which element sticks out. */
export async function sidewaysOverflow(page: Page): Promise<{ overflows: boolean; widest?: string }> {
  return page.evaluate(() => {
    interface Box { right: number }
    interface Element { tagName: string; className: string; getBoundingClientRect(): Box }
    const doc = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number }; querySelectorAll(selector: string): Element[] } }).document;
    const root = doc.documentElement;
    if (root.scrollWidth <= root.clientWidth) return { overflows: false };
    const widest = [...doc.querySelectorAll('body *')].sort((a, b) => b.getBoundingClientRect().right - a.getBoundingClientRect().right)[0];
    return { overflows: true, widest: widest ? `${widest.tagName}.${widest.className} (${root.scrollWidth} > ${root.clientWidth})` : `${root.scrollWidth} > ${root.clientWidth}` };
  });
}
