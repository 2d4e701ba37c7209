/** Pieces several console pages use: pagination links, badges, scope labels, notices. */
import type { EgressMode, ScopeType } from '../../policy/model.js';
import { formatCount } from './format.js';
import { href, html, segment, type Html } from './html.js';
import type { Page } from './model.js';

/** "Showing 101–200 of 5,000" with previous/next links that keep the other query parameters. */
export function pagerHtml<T>(page: Page<T>, path: string, params: Record<string, string | undefined>, noun: string): Html {
  if (page.total === 0) return html``;
  const first = (page.page - 1) * page.pageSize + 1;
  const last = first + page.items.length - 1;
  const link = (target: number, label: string, rel: string) =>
    html`<a href="${href(path, { ...params, page: target === 1 ? undefined : target })}" rel="${rel}">${label}</a>`;
  return html`<nav class="pager" aria-label="pages"><span>Showing ${formatCount(first)}–${formatCount(last)} of ${formatCount(page.total)} ${noun}</span>${
    page.pages > 1 ? html` <span class="muted">page ${formatCount(page.page)} of ${formatCount(page.pages)}</span>` : html``
  }${page.page > 1 ? html` ${link(page.page - 1, '← Previous', 'prev')}` : html``}${
    page.page < page.pages ? html` ${link(page.page + 1, 'Next →', 'next')}` : html``
  }</nav>`;
}

export function modeBadge(mode: EgressMode): Html {
  return html`<span class="badge mode-${mode}">${mode}</span>`;
}

export const SCOPE_LABELS: Record<ScopeType, [string, string]> = {
  workflow: ['workflow', 'workflows'],
  repository: ['repository', 'repositories'],
  organization: ['organization', 'organizations'],
  cluster: ['cluster', 'clusters'],
};

export function scopeCount(type: ScopeType, count: number): string {
  const [one, many] = SCOPE_LABELS[type];
  return `${formatCount(count)} ${count === 1 ? one : many}`;
}

export function scopeHtml(scope: { type: ScopeType; key: string }): Html {
  return html`<span class="scope"><span class="scope-type">${scope.type}</span> <code>${scope.key}</code></span>`;
}

export function policyLink(name: string): Html {
  return html`<a href="/policies/${segment(name)}">${name}</a>`;
}

export function notice(text: string | Html): Html {
  return html`<p class="notice">${text}</p>`;
}

/** Parse a `page` query parameter (1-based). */
export function pageParam(value: string | null): number {
  if (value === null || !/^\d{1,7}$/.test(value)) return 1;
  return Math.max(1, Number(value));
}
