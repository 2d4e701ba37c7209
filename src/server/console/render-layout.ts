/** The page shell every console page shares: header with the served revision, banner, navigation. */
import { commitHtml, relativeTime, shortSha, utcText, type LinkSettings } from './format.js';
import { html, type Html } from './html.js';

export type Section = 'policies' | 'history' | 'lookup' | 'baselines' | 'sync' | 'coverage' | 'none';

/** What every page shows around its content. */
export interface PageContext {
  now: Date;
  /** Undefined while no bundle is served. */
  revision: string | undefined;
  committedAt: string | undefined;
  /** The server's readiness: a refused bundle or a failing source, shown as a banner. */
  degraded: { reason: string; message: string; at: string } | undefined;
  /** `git`, `worktree`, `file`, `upstream`, `none`. */
  sourceKind: string;
  links: LinkSettings;
  /** Stylesheet URL (versioned, so it can be cached for long). */
  stylesheet: string;
}

export interface PageBody {
  title: string;
  section: Section;
  content: Html;
}

const NAV: [Section, string, string][] = [
  ['policies', '/', 'Policies'],
  ['history', '/history', 'History'],
  ['lookup', '/lookup', 'Which policy applies?'],
  ['baselines', '/baselines', 'Baselines'],
  ['sync', '/sync', 'Sync status'],
  ['coverage', '/coverage', 'Coverage'],
];

function revisionHtml(context: PageContext): Html {
  if (!context.revision) return html`<span class="revision">no bundle served yet</span>`;
  const at = context.committedAt;
  const when = at
    ? html` committed <time datetime="${at}" title="${at}">${utcText(at)}</time> <span class="age">(${relativeTime(at, context.now)})</span>`
    : html``;
  const revision = /^[0-9a-f]{40,64}$/.test(context.revision) ? commitHtml(context.links, context.revision) : html`<code>${shortSha(context.revision)}</code>`;
  return html`<span class="revision">revision ${revision}${when}</span>`;
}

function bannerHtml(context: PageContext): Html {
  const problem = context.degraded;
  if (!problem) return html``;
  return html`<div class="banner" role="alert"><strong>Degraded:</strong> ${problem.message} <span class="muted">(${problem.reason}, since ${utcText(problem.at)}; still serving the last good bundle)</span></div>`;
}

export function renderPage(context: PageContext, body: PageBody): string {
  const nav = NAV.map(
    ([section, path, label]) => html`<a href="${path}"${section === body.section ? html` aria-current="page"` : html``}>${label}</a>`,
  );
  return `<!doctype html>\n${html`<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${body.title} · egressctl</title>
<link rel="icon" type="image/svg+xml" href="/static/favicon.svg">
<link rel="stylesheet" href="${context.stylesheet}">
</head>
<body>
<header class="top">
<a class="brand" href="/">egressctl</a>
<nav>${nav}</nav>
${revisionHtml(context)}
</header>
${bannerHtml(context)}
<main>
${body.content}
</main>
<footer>Read-only view of the served bundle. Source: ${context.sourceKind}.</footer>
</body>
</html>
`.value}`;
}
