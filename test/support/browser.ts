/** Checks on a page in Chromium (playwright-core) shared by the browser tests. */
import type { Page } from 'playwright-core';

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
