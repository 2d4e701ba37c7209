/** Error pages: not found, and no bundle yet. */
import { html } from './html.js';
import type { PageBody } from './render-layout.js';

export function renderNotFound(what: string, hint?: string): PageBody {
  return {
    title: 'Not found',
    section: 'none',
    content: html`<h1>Not found</h1><p>${what}</p>${hint ? html`<p class="muted">${hint}</p>` : html``}<p><a href="/">Back to the policies</a></p>`,
  };
}

export function renderNoBundle(reason: string | undefined): PageBody {
  return {
    title: 'No bundle yet',
    section: 'none',
    content: html`<h1>No bundle served yet</h1>
<p>The source has not given a valid bundle${reason ? html`: ${reason}` : html``}.</p>
<p class="muted">See <a href="/readyz">/readyz</a> for the source's state. This page shows the policies once a bundle is served.</p>`,
  };
}
