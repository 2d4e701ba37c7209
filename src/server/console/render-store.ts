/** The policy store (`/`): every policy with mode, endpoint count and where it is attached. */
import { SCOPE_TYPES } from '../../policy/model.js';
import { formatCount } from './format.js';
import { html, type Html } from './html.js';
import { filterPolicies, paginate, type PolicySummary, type StoreFilter } from './model.js';
import { modeBadge, pagerHtml, policyLink, scopeCount } from './render-common.js';
import type { PageBody } from './render-layout.js';

export const STORE_PAGE_SIZE = 100;
const DESCRIPTION_MAX = 160;

function attachedHtml(summary: PolicySummary): Html {
  if (summary.attachedTotal === 0) return html`<span class="muted">Not attached</span>`;
  const parts = SCOPE_TYPES.filter((type) => summary.attached[type] > 0).map((type) => scopeCount(type, summary.attached[type]));
  return html`${parts.join(', ')}`;
}

function rowHtml(summary: PolicySummary): Html {
  const description = summary.description ?? '';
  const shown = description.length > DESCRIPTION_MAX ? `${description.slice(0, DESCRIPTION_MAX - 1)}…` : description;
  return html`<tr>
<td>${policyLink(summary.name)}${shown ? html`<div class="description">${shown}</div>` : html``}</td>
<td>${modeBadge(summary.mode)}</td>
<td class="num">${formatCount(summary.endpoints)}</td>
<td>${attachedHtml(summary)}</td>
</tr>`;
}

function option(value: string, label: string, selected: string): Html {
  return html`<option value="${value}"${value === selected ? html` selected` : html``}>${label}</option>`;
}

export function renderStore(summaries: readonly PolicySummary[], filter: StoreFilter, page: number): PageBody {
  const matching = filterPolicies(summaries, filter);
  const current = paginate(matching, page, STORE_PAGE_SIZE);
  const params = { q: filter.query || undefined, mode: filter.mode || undefined, scope: filter.scope || undefined };
  const filtered = filter.query !== '' || filter.mode !== '' || filter.scope !== '';
  const form = html`<form class="filters" method="get" action="/">
<label>Name <input type="search" name="q" value="${filter.query}" placeholder="name or description"></label>
<label>Mode <select name="mode">${option('', 'any', filter.mode)}${option('block', 'block', filter.mode)}${option('audit', 'audit', filter.mode)}</select></label>
<label>Attached at <select name="scope">${option('', 'any scope', filter.scope)}${SCOPE_TYPES.map((type) => option(type, type, filter.scope))}${option('none', 'not attached', filter.scope)}</select></label>
<button type="submit">Filter</button>${filtered ? html` <a href="/">Clear</a>` : html``}
</form>`;
  const table =
    current.total === 0
      ? html`<p class="empty">${summaries.length === 0 ? 'The bundle has no policies.' : 'No policy matches these filters.'}</p>`
      : html`<table class="policies">
<thead><tr><th>Policy</th><th>Mode</th><th class="num">Endpoints</th><th>Attached to</th></tr></thead>
<tbody>${current.items.map(rowHtml)}</tbody>
</table>`;
  return {
    title: 'Policies',
    section: 'policies',
    content: html`<h1>Policies <span class="count">${formatCount(summaries.length)}</span></h1>
${form}
${pagerHtml(current, '/', params, 'policies')}
${table}
${current.pages > 1 ? pagerHtml(current, '/', params, 'policies') : html``}`,
  };
}
