/**
 * The audit log (`/history`, `/policies/NAME/history`): who changed which policy or attachment,
 * when, in which commit and PR; content changes as a side-by-side diff, attachment changes as
 * scopes added and removed.
 */
import type { HistoryScope, PolicyDiff } from '../../history/model.js';
import { ENDPOINT_LABELS, keyChangeText } from '../../policy/change.js';
import { commitHtml, formatCount, pullRequestHtml, timeHtml, type LinkSettings } from './format.js';
import { html, segment, type Html } from './html.js';
import { paginate, type HistoryEntry } from './model.js';
import { notice, pagerHtml, policyLink, scopeHtml } from './render-common.js';
import type { PageBody } from './render-layout.js';

/**
 * Entries per page, and rows of a diff and scopes of an attachment change shown per entry in the
 * list: together they keep a page near 200 KB whatever the history holds. A cut entry links to
 * its own page (`/policies/NAME/history/SHA`), which shows more.
 */
export const HISTORY_PAGE_SIZE = 20;
export interface HistoryLimits {
  diffRows: number;
  /** Characters of diff markup per entry: long lines and escaping count, not just rows. */
  diffBytes: number;
  scopes: number;
}
export const LIST_LIMITS: HistoryLimits = { diffRows: 30, diffBytes: 6_000, scopes: 20 };
export const DETAIL_LIMITS: HistoryLimits = { diffRows: 500, diffBytes: 120_000, scopes: 200 };

const SUBJECT_MAX = 300;

export interface DiffSide {
  line: number;
  text: string;
  changed: boolean;
}

export type DiffRow = { kind: 'hunk'; text: string } | { kind: 'line'; left: DiffSide | undefined; right: DiffSide | undefined };

/**
 * Unified diff lines (`---`/`+++` headers, `@@` hunks) into two-column rows: context on both
 * sides, a run of removals paired line by line with the additions that follow it.
 */
export function sideBySideRows(lines: readonly string[]): DiffRow[] {
  const rows: DiffRow[] = [];
  let left = 0;
  let right = 0;
  let removed: DiffSide[] = [];
  let added: DiffSide[] = [];
  const flush = (): void => {
    for (let index = 0; index < Math.max(removed.length, added.length); index++) {
      rows.push({ kind: 'line', left: removed[index], right: added[index] });
    }
    removed = [];
    added = [];
  };
  let inHunk = false;
  for (const line of lines) {
    const hunk = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(line);
    if (hunk) {
      flush();
      inHunk = true;
      left = Number(hunk[1]);
      right = Number(hunk[2]);
      // "-0,0" (nothing before): the first line is 1.
      if (left === 0) left = 1;
      if (right === 0) right = 1;
      rows.push({ kind: 'hunk', text: line });
      continue;
    }
    if (!inHunk) continue; // the ---/+++ headers
    const marker = line[0];
    const text = line.slice(1);
    if (marker === '-') removed.push({ line: left++, text, changed: true });
    else if (marker === '+') added.push({ line: right++, text, changed: true });
    else if (marker === ' ') {
      flush();
      rows.push({ kind: 'line', left: { line: left++, text, changed: false }, right: { line: right++, text, changed: false } });
    }
  }
  flush();
  return rows;
}

function sideHtml(side: DiffSide | undefined, kind: 'del' | 'add'): Html {
  if (!side) return html`<td class="ln"></td><td class="code empty"></td>`;
  return html`<td class="ln">${side.line}</td><td class="code${side.changed ? ` ${kind}` : ''}">${side.changed ? (kind === 'del' ? '-' : '+') : ' '}${side.text}</td>`;
}

export interface DiffTable {
  html: Html;
  /** Rows left out by the limits. */
  cut: number;
}

export function diffTable(lines: readonly string[], beforeLabel: string, afterLabel: string, limits: Pick<HistoryLimits, 'diffRows' | 'diffBytes'>): DiffTable {
  const rows = sideBySideRows(lines);
  if (rows.length === 0) return { html: html``, cut: 0 };
  const shown: Html[] = [];
  let size = 0;
  for (const row of rows) {
    const markup =
      row.kind === 'hunk' ? html`<tr class="hunk"><td colspan="4">${row.text}</td></tr>` : html`<tr>${sideHtml(row.left, 'del')}${sideHtml(row.right, 'add')}</tr>`;
    if (shown.length >= limits.diffRows || (shown.length > 0 && size + markup.value.length > limits.diffBytes)) break;
    size += markup.value.length;
    shown.push(markup);
  }
  const cut = rows.length - shown.length;
  return {
    html: html`<table class="diff">
<colgroup><col class="ln"><col><col class="ln"><col></colgroup>
<thead><tr><th colspan="2">${beforeLabel}</th><th colspan="2">${afterLabel}</th></tr></thead>
<tbody>${shown}</tbody>
</table>${cut > 0 ? notice(`${formatCount(cut)} of ${formatCount(rows.length)} diff rows are not shown here.`) : html``}`,
    cut,
  };
}

function clipped(text: string): string {
  return text.length > SUBJECT_MAX ? `${text.slice(0, SUBJECT_MAX - 1)}…` : text;
}

/** The change in the review's words (docs/architecture.md#policy-changes); weakenings marked as in the comment. */
function semanticHtml(diff: PolicyDiff, limit: number): Html {
  const items: Html[] = [];
  for (const endpoint of diff.endpointsAdded ?? []) items.push(html`<li class="add">${ENDPOINT_LABELS.added} <code>${endpoint}</code></li>`);
  for (const endpoint of diff.endpointsRemoved ?? []) items.push(html`<li class="del">${ENDPOINT_LABELS.removed} <code>${endpoint}</code></li>`);
  for (const change of diff.changed ?? []) {
    items.push(change.weakens ? html`<li class="weakens">⚠️ ${clipped(keyChangeText(change))}</li>` : html`<li>~ ${clipped(keyChangeText(change))}</li>`);
  }
  if (items.length === 0) return html``;
  const more = items.length > limit ? html`<li class="muted">and ${formatCount(items.length - limit)} more</li>` : html``;
  return html`<ul class="semantic">${items.slice(0, limit)}${more}</ul>`;
}

function scopeListHtml(scopes: readonly HistoryScope[], kind: 'add' | 'del', limit: number): Html {
  const listed = scopes.slice(0, limit).map((scope) => html`<li class="${kind}">${kind === 'add' ? '+' : '−'} ${scopeHtml(scope)}</li>`);
  const more = scopes.length > limit ? html`<li class="muted">and ${formatCount(scopes.length - limit)} more</li>` : html``;
  return html`<ul class="scopes">${listed}${more}</ul>`;
}

const KIND_LABELS: Record<HistoryEntry['kind'], string> = {
  created: 'Created',
  updated: 'Updated',
  deleted: 'Deleted',
  attachments: 'Attachments',
};

function entryLabel(entry: HistoryEntry): string {
  if (entry.kind !== 'attachments') return KIND_LABELS[entry.kind];
  if (entry.detached.length === 0) return 'Attached';
  if (entry.attached.length === 0) return 'Detached';
  return 'Attached / Detached';
}

function entryBodyHtml(entry: HistoryEntry, limits: HistoryLimits): { html: Html; cut: boolean } {
  const event = entry.event;
  if (entry.kind === 'attachments') {
    return {
      html: html`${entry.attached.length > 0 ? html`<h3>Attached to ${formatCount(entry.attached.length)}</h3>${scopeListHtml(entry.attached, 'add', limits.scopes)}` : html``}${
        entry.detached.length > 0 ? html`<h3>Detached from ${formatCount(entry.detached.length)}</h3>${scopeListHtml(entry.detached, 'del', limits.scopes)}` : html``
      }`,
      cut: entry.attached.length > limits.scopes || entry.detached.length > limits.scopes,
    };
  }
  const parts: Html[] = [];
  let cut = false;
  if (event?.renamedFrom !== undefined) parts.push(html`<p>Renamed from ${event.renamedFrom}.</p>`);
  if (event?.renamedTo !== undefined) parts.push(html`<p>Renamed to ${policyLink(event.renamedTo)}.</p>`);
  if (event?.diff) {
    parts.push(semanticHtml(event.diff, limits.scopes));
    const table = diffTable(event.diff.text, 'Before', 'After', limits);
    parts.push(table.html);
    cut = table.cut > 0 || (event.diff.endpointsAdded?.length ?? 0) + (event.diff.endpointsRemoved?.length ?? 0) > limits.scopes;
  }
  return { html: html`${parts}`, cut };
}

/** One policy's change within a commit's card: its kind, the policy, and what changed. */
function changeHtml(entry: HistoryEntry, limits: HistoryLimits): Html {
  const label = entryLabel(entry);
  const body = entryBodyHtml(entry, limits);
  const detail =
    body.cut && limits !== DETAIL_LIMITS ? html`<p><a href="/policies/${segment(entry.policy)}/history/${entry.commit}">Show this change in full</a></p>` : html``;
  return html`<section class="change event kind-${entry.kind}" data-policy="${entry.policy}">
<p class="change-head"><span class="badge event-${label.split(' ')[0]?.toLowerCase()}">${label}</span> ${policyLink(entry.policy)}</p>
${body.html}
${detail}
${entry.notes.length > 0 ? html`<ul class="notes">${entry.notes.map((note) => html`<li>${note}</li>`)}</ul>` : html``}
</section>`;
}

/**
 * One card per commit (issue 23: a commit that touched six policies showed six cards with the
 * same author, time and subject): who, when, which commit and PR once, then each change.
 */
function commitCardHtml(group: readonly HistoryEntry[], links: LinkSettings, now: Date, limits: HistoryLimits): Html {
  const first = group[0]!;
  const who = first.authorEmail ? html`<span class="author" title="${first.authorEmail}">${first.author}</span>` : html`<span class="author">${first.author}</span>`;
  const pr = first.pr === null ? html`` : html` · PR ${pullRequestHtml(links, first.pr)}`;
  return html`<article class="commit" data-commit="${first.commit}">
<header><span class="muted">by</span> ${who} · ${timeHtml(first.date, now)} · commit ${commitHtml(links, first.commit)}${pr}${
    group.length > 1 ? html` · <span class="muted">${formatCount(group.length)} changes</span>` : html``
  }</header>
<p class="subject">${clipped(first.subject)}</p>
${group.map((entry) => changeHtml(entry, limits))}
</article>`;
}

/** Consecutive entries of one commit (the log is newest first, a commit's events together). */
function byCommit(entries: readonly HistoryEntry[]): HistoryEntry[][] {
  const groups: HistoryEntry[][] = [];
  for (const entry of entries) {
    const last = groups[groups.length - 1];
    if (last && last[0]!.commit === entry.commit) last.push(entry);
    else groups.push([entry]);
  }
  return groups;
}

export interface HistoryPageInput {
  /** Grouped entries, newest first; or why there is no history. */
  history: { entries: readonly HistoryEntry[]; truncatedAt: number | undefined } | { missing: string };
  /** The policy whose history this is (undefined: all). */
  policy: string | undefined;
  /** The policy exists in the served bundle (a deleted policy still has history). */
  policyExists: boolean;
  /** Only this commit's entries (full sha or a prefix of at least 7), shown in full. */
  commit?: string | undefined;
  page: number;
  links: LinkSettings;
  now: Date;
}

export function renderHistory(input: HistoryPageInput): PageBody {
  const title = input.policy === undefined ? 'History' : `History of ${input.policy}`;
  const path = input.policy === undefined ? '/history' : `/policies/${segment(input.policy)}/history`;
  const crumbs =
    input.policy === undefined
      ? html``
      : html`<p class="crumbs"><a href="/">Policies</a> / ${input.policyExists ? policyLink(input.policy) : html`${input.policy}`} /${
          input.commit === undefined ? html`` : html` <a href="${path}">history</a> /`
        }</p>`;
  if ('missing' in input.history) {
    return { title, section: 'history', content: html`${crumbs}<h1>${title}</h1>${notice(input.history.missing)}` };
  }
  const { truncatedAt } = input.history;
  const commit = input.commit?.toLowerCase();
  const entries = commit === undefined ? input.history.entries : input.history.entries.filter((entry) => entry.commit.startsWith(commit));
  const limits = commit === undefined ? LIST_LIMITS : DETAIL_LIMITS;
  const current = paginate(entries, input.page, HISTORY_PAGE_SIZE);
  const links = input.links.repository
    ? html``
    : html`<p class="muted">Commits are shown without links: the policy repository on GitHub is not known (start the server with EGRESSCTL_POLICY_REPOSITORY=owner/repo, or give the source an origin remote).</p>`;
  const heading = commit === undefined ? html`<h1>${title}</h1>` : html`<h1>${title} <span class="muted">in commit <code>${commit.slice(0, 12)}</code></span></h1>`;
  const pageUrl = commit === undefined ? path : `${path}/${commit}`;
  return {
    title,
    section: 'history',
    content: html`${crumbs}${heading}
<p class="muted">From the git log of the policy repository at the served revision, newest first.</p>
${links}
${truncatedAt !== undefined ? notice(`Only the newest ${formatCount(truncatedAt)} events are read.`) : html``}
${pagerHtml(current, pageUrl, {}, 'changes')}
${
  current.total === 0
    ? html`<p class="empty">No policy or attachment changes${input.policy === undefined ? '' : ' for this policy'}${commit === undefined ? '' : ' in this commit'}.</p>`
    : byCommit(current.items).map((group) => commitCardHtml(group, input.links, input.now, limits))
}
${current.pages > 1 ? pagerHtml(current, pageUrl, {}, 'changes') : html``}`,
  };
}
