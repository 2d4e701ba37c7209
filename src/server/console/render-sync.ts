/**
 * Sync status (`/sync`): per repository synced / out of sync / PR open / PR closed / error, the
 * reasons and the PR link, from the last sync report (docs/reconciliation.md); with
 * `delivery: variables` also the Actions variables as last written or found.
 */
import { describeChange, type StepChange } from '../../rollout/harden.js';
import { failsOpenOf, type OrganizationSync, type SyncEntry, type SyncReportFile, type SyncStatus, type VariableEntry } from '../../rollout/sync-report.js';
import { utcText } from './format.js';
import { html, type Html } from './html.js';
import { notice } from './render-common.js';
import type { PageBody } from './render-layout.js';

const LABELS: Record<SyncStatus, [string, string]> = {
  synced: ['synced', 'badge stable'],
  'out-of-sync': ['out of sync', 'badge warn'],
  'pr-open': ['PR open', 'badge collecting'],
  'pr-closed': ['PR closed', 'badge'],
  error: ['error', 'badge error'],
};

/** States the page knows besides the report's own: a repository whose variable write failed, one with a job that fails open. */
const MORE_LABELS: Record<string, [string, string]> = {
  failed: ['failed', 'badge error'],
  'fails-open': ['fails open', 'badge error'],
};

/**
 * The label and badge of any state the report gives: the sync model grows states (per-repository
 * sync state), and one this page does not know is still shown, as itself, with a badge.
 */
function labelOf(status: string): [string, string] {
  return (LABELS as Record<string, [string, string]>)[status] ?? MORE_LABELS[status] ?? [status.replace(/-/g, ' '), /fail|error/.test(status) ? 'badge error' : 'badge'];
}

/**
 * A reason as a person reads it: a step change a report of an older version stored as JSON
 * (`{"field":"marker","from":...}`) is described the way harden describes it.
 */
export function readableReason(reason: string): string {
  return reason.replace(/\{"field":(?:[^{}"]|"(?:[^"\\]|\\.)*")*\}/g, (json) => {
    try {
      const change = JSON.parse(json) as StepChange;
      return typeof change.field === 'string' ? describeChange(change) : json;
    } catch {
      return json;
    }
  });
}

/**
 * The repository's state on this page: a failed write of its own variable fails it; a job that
 * fails open in its recorded coverage marks it, with the job first among the reasons (the App does
 * not retry one its workflow file causes: the row keeps saying so until a sync finds it ended).
 */
function shownEntry(entry: SyncEntry, variables: readonly VariableEntry[], coverage: OrganizationSync['coverage']): { status: string; reasons: string[] } {
  const failed = variables.filter((variable) => variable.level === 'repository' && variable.target.toLowerCase() === entry.repository.toLowerCase() && variable.status === 'error');
  const recorded = coverage?.[entry.repository];
  const failing = recorded ? failsOpenOf({ coverage: { [entry.repository]: recorded } }) : [];
  if (failed.length === 0 && failing.length === 0) return { status: entry.status, reasons: entry.reasons };
  return {
    status: entry.status === 'error' ? 'error' : failed.length > 0 ? 'failed' : 'fails-open',
    reasons: [
      ...failed.map((variable) => `Actions variable ${variable.name} could not be written${variable.reason ? `: ${variable.reason}` : ''}`),
      ...failing.map((failure) => `${failure.target.slice(entry.repository.length + 1)}: ${failure.reason}`),
      ...entry.reasons,
    ],
  };
}

function prLink(pr: { number: number; url: string } | null): Html {
  if (!pr) return html`<span class="muted">—</span>`;
  // Only links GitHub gave us (http(s)); anything else is shown as text.
  return /^https?:\/\//.test(pr.url) ? html`<a href="${pr.url}">#${pr.number}</a>` : html`#${pr.number}`;
}

function variableRow(entry: VariableEntry): Html {
  const where = entry.level === 'organization' ? html`organization <code>${entry.target}</code>` : html`<code>${entry.target}</code>`;
  return html`<tr class="variable-${entry.status}"><td>${where}</td><td><code>${entry.name}</code></td><td>${entry.status === 'error' ? html`<span class="badge error">error</span>` : entry.status}</td><td>${entry.value === null ? html`<span class="muted">—</span>` : html`<code>${entry.value}</code>`}</td><td>${entry.reason ?? ''}</td></tr>`;
}

export function renderSync(report: SyncReportFile | undefined, filter: string): PageBody {
  const intro = html`<h1>Sync status</h1>
<p class="muted">Workflows follow the store: each repository's Harden-Runner steps against its effective policies, from the last sync (a merge to the policy repository, the scheduled full sync, or <code>egressctl sync --state-dir</code>).</p>`;
  const organizations = Object.values(report?.organizations ?? {}).sort((a, b) => (a.organization < b.organization ? -1 : 1));
  if (organizations.length === 0) {
    return { title: 'Sync status', section: 'sync', content: html`${intro}${notice('No sync has run yet.')}` };
  }
  const only = filter === '' ? undefined : filter;
  const sections = organizations.map((run) => {
    const shown = run.repositories.map((entry) => ({ entry, ...shownEntry(entry, run.variables, run.coverage) }));
    const rows = shown.filter((row) => !only || row.status === only);
    const counts = new Map<string, number>();
    for (const row of shown) counts.set(row.status, (counts.get(row.status) ?? 0) + 1);
    const summary = [...counts].map(([status, count]) => `${count} ${labelOf(status)[0]}`).join(', ');
    return html`<section class="sync-organization" id="org-${run.organization}">
<h2>${run.organization}</h2>
<p class="muted">Last sync <time datetime="${run.at}">${utcText(run.at)}</time>${run.dryRun ? ' (dry run: nothing written)' : ''}: ${summary || 'no repositories'}.</p>
<table class="sync"><thead><tr><th>Repository</th><th>Status</th><th>Pull request</th><th>Reasons</th></tr></thead><tbody>${rows.map(
      ({ entry, status, reasons }) => html`<tr data-repository="${entry.repository}" data-status="${status}"><td><code>${entry.repository}</code></td><td><span class="${labelOf(status)[1]}">${labelOf(status)[0]}</span></td><td>${prLink(entry.pr)}</td><td>${
        reasons.length === 0 ? html`<span class="muted">—</span>` : html`<ul class="reasons">${reasons.slice(0, 20).map((reason) => html`<li>${readableReason(reason)}</li>`)}${reasons.length > 20 ? html`<li>… and ${reasons.length - 20} more</li>` : html``}</ul>`
      }</td></tr>`,
    )}</tbody></table>${
      run.variables.length > 0
        ? html`<h3>Actions variables</h3>
<table class="variables"><thead><tr><th>Where</th><th>Variable</th><th>Last sync</th><th>Value as last written</th><th>Why</th></tr></thead><tbody>${run.variables.map(variableRow)}</tbody></table>`
        : html``
    }
</section>`;
  });
  const filterForm = html`<form class="lookup" method="get" action="/sync"><label>Status <select name="status">${[['', 'all'], ...Object.entries({ ...LABELS, ...MORE_LABELS }).map(([status, [label]]) => [status, label])].map(
    ([value, label]) => html`<option value="${value}"${value === filter ? html` selected` : html``}>${label}</option>`,
  )}</select></label> <button type="submit">Filter</button></form>`;
  return { title: 'Sync status', section: 'sync', content: html`${intro}${filterForm}${sections}` };
}

/** For the lookup: which variable a job of this workflow reads, and its value as last written. */
export function variableLookup(report: SyncReportFile | undefined, repository: string, chain: readonly { level: 'organization' | 'repository'; target: string; name: string }[]): Html {
  const entries = Object.values(report?.organizations ?? {}).flatMap((run) => run.variables);
  const found = (level: string, target: string, name: string) => entries.find((entry) => entry.level === level && entry.target === target && entry.name === name && entry.value !== null && entry.status !== 'out-of-sync' && entry.status !== 'error');
  let reads: { level: string; target: string; name: string; value: string } | undefined;
  const rows = chain.map((variable) => {
    const entry = found(variable.level, variable.target, variable.name);
    if (entry && !reads) reads = { ...variable, value: entry.value! };
    return html`<tr><td><code>vars.${variable.name}</code></td><td>${variable.level} <code>${variable.target}</code></td><td>${entry ? html`<code>${entry.value}</code>` : html`<span class="muted">not set (as last synced)</span>`}</td></tr>`;
  });
  return html`<h2>Actions variables (delivery: variables)</h2>
<p id="variable-answer">${
    reads
      ? html`A job of this workflow in <code>${repository}</code> reads <strong><code>vars.${reads.name}</code></strong> (${reads.level} <code>${reads.target}</code>).`
      : html`No variable was set at the last sync: the step gets the policy written in it (the literal at the end of its chain: this job's policy as of the last sync).`
  }</p>
<table class="chain"><thead><tr><th>Read in this order</th><th>Where</th><th>Value as last written</th></tr></thead><tbody>${rows}</tbody></table>`;
}
