/** The console's one stylesheet, served at /static/console.css (no build step, no web fonts). */
import { createHash } from 'node:crypto';

export const CONSOLE_CSS = `:root {
  --fg: #1f2328; --muted: #59636e; --border: #d1d9e0; --bg: #ffffff; --subtle: #f6f8fa;
  --accent: #0969da; --add-bg: #dafbe1; --del-bg: #ffebe9; --warn-bg: #fff8c5; --warn: #9a6700;
  --block: #1a7f37; --audit: #9a6700;
}
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
code, pre { font: 12.5px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
header.top { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 24px; padding: 10px 24px; background: #24292f; color: #f0f3f6; }
header.top a { color: #f0f3f6; }
header.top .brand { font-weight: 700; font-size: 16px; }
header.top nav { display: flex; flex-wrap: wrap; gap: 4px 16px; flex: 1; }
header.top nav a[aria-current="page"] { text-decoration: underline; text-underline-offset: 4px; }
header.top .revision { color: #d1d9e0; font-size: 13px; }
header.top .revision code { color: #fff; }
header.top .age { color: #9198a1; }
.banner { padding: 10px 24px; background: var(--warn-bg); border-bottom: 1px solid #d4a72c; color: #4d2d00; }
main { max-width: 1200px; margin: 0 auto; padding: 16px 24px 40px; }
footer { max-width: 1200px; margin: 0 auto; padding: 12px 24px 24px; color: var(--muted); font-size: 12px; border-top: 1px solid var(--border); }
h1 { font-size: 24px; margin: 8px 0 12px; }
h2 { font-size: 18px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--border); }
h3 { font-size: 15px; margin: 12px 0 6px; }
h4 { font-size: 13px; margin: 8px 0 4px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
.count { display: inline-block; min-width: 24px; padding: 0 8px; border-radius: 12px; background: var(--subtle); border: 1px solid var(--border); font-size: 12px; font-weight: 600; vertical-align: middle; text-align: center; }
.muted, .age { color: var(--muted); }
.crumbs { margin: 0; color: var(--muted); }
.description { color: var(--muted); font-size: 13px; }
p.description { font-size: 14px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; }
th, td { text-align: left; vertical-align: top; padding: 6px 10px; border-bottom: 1px solid var(--border); }
thead th { background: var(--subtle); font-weight: 600; font-size: 13px; }
td.date { white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.settings { width: auto; }
table.settings th { background: none; font-weight: 600; padding-right: 24px; }
.badge { display: inline-block; white-space: nowrap; padding: 0 8px; border-radius: 12px; font-size: 12px; font-weight: 600; line-height: 20px; border: 1px solid var(--border); background: var(--subtle); vertical-align: middle; }
.mode-block { color: var(--block); border-color: #4ac26b; background: #dafbe1; }
.mode-audit { color: var(--audit); border-color: #d4a72c; background: var(--warn-bg); }
.mode-none { color: #cf222e; border-color: #ff8182; background: var(--del-bg); }
.coverage-bar { vertical-align: middle; border: 1px solid var(--border); border-radius: 3px; }
.coverage-bar .bar-block { fill: #4ac26b; }
.coverage-bar .bar-audit { fill: #d4a72c; }
.coverage-bar .bar-none { fill: #ff8182; }
.badge.stable { color: var(--block); background: #dafbe1; border-color: #4ac26b; }
.badge.collecting, .badge.warn { color: var(--warn); background: var(--warn-bg); border-color: #d4a72c; }
.badge.error { color: #cf222e; background: var(--del-bg); border-color: #ff8182; }
.event-created { color: var(--block); background: #dafbe1; }
.event-updated { color: var(--accent); background: #ddf4ff; }
.event-deleted { color: #cf222e; background: var(--del-bg); }
.event-attached, .event-detached { color: #8250df; background: #fbefff; }
.scope-type { color: var(--muted); font-size: 12px; }
form.filters, form.lookup { display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: flex-end; padding: 12px; background: var(--subtle); border: 1px solid var(--border); border-radius: 6px; margin: 8px 0 12px; }
form label { display: flex; flex-direction: column; font-size: 12px; font-weight: 600; color: var(--muted); gap: 2px; }
form.lookup label { flex: 1 1 220px; }
input, select, button { font: inherit; font-weight: 400; padding: 5px 8px; border: 1px solid var(--border); border-radius: 6px; background: #fff; color: var(--fg); }
button, .button { background: #1f883d; color: #fff; border-color: #1a7f37; font-weight: 600; cursor: pointer; }
.button { display: inline-block; padding: 2px 10px; border-radius: 6px; font-size: 12px; vertical-align: middle; }
.button:hover { text-decoration: none; background: #1a7f37; }
.pager { display: flex; gap: 12px; align-items: center; margin: 8px 0; font-size: 13px; }
.notice, .empty { padding: 10px 12px; background: var(--subtle); border: 1px solid var(--border); border-radius: 6px; }
.error { padding: 10px 12px; background: var(--del-bg); border: 1px solid #ff8182; border-radius: 6px; }
pre.yaml { padding: 12px; white-space: pre-wrap; overflow-wrap: anywhere; background: var(--subtle); border: 1px solid var(--border); border-radius: 6px; }
pre.yaml.tokens { overflow-wrap: normal; overflow-x: auto; }
pre.yaml.tokens .token { white-space: nowrap; }
pre.yaml.tokens .ref { overflow-wrap: anywhere; }
table.sync code, ul.reasons li, table.variables code, table.chain code { overflow-wrap: anywhere; }
ul.reasons { margin: 0; padding-left: 18px; }
ul.endpoints { columns: 3 280px; margin: 8px 0; padding-left: 20px; }
ul.compact, ul.scopes, ul.semantic, ul.notes { margin: 4px 0; padding-left: 18px; }
ul.scopes { list-style: none; padding-left: 0; }
li.add { color: var(--block); }
li.del { color: #cf222e; }
li.weakens { color: var(--warn); }
ul.notes { color: var(--warn); font-size: 13px; }
article.commit { border: 1px solid var(--border); border-radius: 6px; padding: 10px 14px; margin: 12px 0; }
article.commit > header { font-size: 13px; }
article.commit > .subject { margin: 4px 0 8px; font-weight: 600; }
section.change + section.change { border-top: 1px solid var(--border); margin-top: 10px; padding-top: 4px; }
p.change-head { margin: 6px 0 4px; }
table.diff { table-layout: fixed; font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; border: 1px solid var(--border); }
table.diff th { font-family: system-ui, sans-serif; }
table.diff td { border: none; padding: 0 6px; white-space: pre-wrap; word-break: break-all; }
table.diff col.ln { width: 48px; }
table.diff td.ln { color: var(--muted); text-align: right; user-select: none; background: var(--subtle); }
table.diff td.del { background: var(--del-bg); }
table.diff td.add { background: var(--add-bg); }
table.diff td.empty { background: var(--subtle); }
table.diff tr.hunk td { background: #ddf4ff; color: var(--muted); padding: 2px 6px; }
table.chain tr.winner td { background: #dafbe1; }
table.chain tr.shadowed td { color: var(--muted); }
.answer { padding: 12px; border: 1px solid #4ac26b; border-radius: 6px; background: #f6fff8; margin: 12px 0; }
section.job { border: 1px solid var(--border); border-radius: 6px; padding: 8px 14px; margin: 14px 0; }
.columns { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 16px; }
@media (max-width: 800px) { .columns { grid-template-columns: 1fr; } }
tr.kind-implicit td, tr.kind-address td, tr.kind-blocked td { color: var(--muted); }
`;

/** Short content hash: the stylesheet's URL version and ETag. */
export const CONSOLE_CSS_VERSION = createHash('sha256').update(CONSOLE_CSS).digest('hex').slice(0, 12);

/** A small shield, so browsers do not ask for /favicon.ico (and log its 404). */
export const FAVICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><path d="M8 1 2 3.5V8c0 3.3 2.6 6.1 6 7 3.4-.9 6-3.7 6-7V3.5z" fill="#1f883d"/><path d="M5 8l2 2 4-4" stroke="#fff" stroke-width="1.6" fill="none"/></svg>';
