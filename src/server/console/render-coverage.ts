/**
 * Coverage (`/coverage`, docs/architecture.md#coverage): per job, what enforces its egress
 * policy, in which mode, and why not where nothing does; per organization the jobs in block,
 * audit and unprotected as numbers and a bar. From the coverage the last sync recorded
 * (sync-report.json), so the page reads no workflow file itself.
 */
import { barSegments, coverageTotals } from '../../coverage/coverage.js';
import type { CoverageMode, CoverageTotals, JobCoverage } from '../../coverage/model.js';
import type { SyncReportFile } from '../../rollout/sync-report.js';
import { formatCount, utcText } from './format.js';
import { html, type Html } from './html.js';
import { notice } from './render-common.js';
import type { PageBody } from './render-layout.js';

/** Rows shown per organization; the filter narrows the rest down. */
export const COVERAGE_ROW_LIMIT = 500;

export const COVERAGE_MODES: readonly CoverageMode[] = ['block', 'audit', 'none'];
const MODE_LABELS: Record<CoverageMode, string> = { block: 'block', audit: 'audit', none: 'unprotected' };

export interface CoverageFilter {
  mode: CoverageMode | '';
  /** Substring of `owner/repo`. */
  repository: string;
}

/**
 * The bar as inline SVG: the console's Content-Security-Policy forbids inline styles, and SVG
 * geometry is attributes, not CSS. Colours come from the stylesheet's classes.
 */
export function coverageBar(totals: CoverageTotals): Html {
  const width = 300;
  const [block, audit, unprotected] = barSegments(totals, width);
  const label = `${totals.block} block, ${totals.audit} audit, ${totals.unprotected} unprotected of ${totals.jobs} jobs`;
  return html`<svg class="coverage-bar" role="img" aria-label="${label}" viewBox="0 0 ${width} 12" width="${width}" height="12" preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg"><title>${label}</title><rect class="bar-block" x="0" y="0" width="${block}" height="12"/><rect class="bar-audit" x="${block}" y="0" width="${audit}" height="12"/><rect class="bar-none" x="${block + audit}" y="0" width="${unprotected}" height="12"/></svg>`;
}

function percent(count: number, total: number): string {
  return total === 0 ? '0%' : `${Math.round((count / total) * 100)}%`;
}

function totalsHtml(totals: CoverageTotals): Html {
  return html`<p class="coverage-totals">${coverageBar(totals)} <span class="num" data-kind="block">${formatCount(totals.block)} block (${percent(totals.block, totals.jobs)})</span>, <span class="num" data-kind="audit">${formatCount(totals.audit)} audit (${percent(totals.audit, totals.jobs)})</span>, <span class="num" data-kind="unprotected">${formatCount(totals.unprotected)} unprotected (${percent(totals.unprotected, totals.jobs)})</span> of ${formatCount(totals.jobs)} jobs</p>`;
}

function modeHtml(mode: CoverageMode): Html {
  return html`<span class="badge mode-${mode}">${MODE_LABELS[mode]}</span>`;
}

/** A job that gets less than the store through a variable no attachment owns: a badge by its mode, the failure first in its reason. */
function row(job: JobCoverage): Html {
  const failing = job.failure !== undefined;
  const why = job.reason ?? (failing ? html`` : html`<span class="muted">—</span>`);
  return html`<tr data-repository="${job.repository}" data-job="${job.job}" data-mode="${job.mode}"${failing ? html` data-failure="fails-open"` : html``}><td><code>${job.repository}</code></td><td><code>${job.file}</code>:${job.line}</td><td><code>${job.job}</code></td><td>${modeHtml(job.mode)}${
    failing ? html` <span class="badge error">fails open</span>` : html``
  }</td><td>${job.enforcedBy.length === 0 ? html`<span class="muted">nothing</span>` : job.enforcedBy.join(' + ')}</td><td>${failing ? html`<strong class="failure">Fails open: ${job.failure ?? ''}</strong>${job.reason ? html`<br>` : html``}` : html``}${why}</td></tr>`;
}

function failuresNotice(jobs: readonly JobCoverage[]): Html {
  const failing = jobs.filter((job) => job.failure !== undefined).length;
  if (failing === 0) return html``;
  return notice(
    html`<strong>${formatCount(failing)} job${failing === 1 ? ' fails' : 's fail'} open:</strong> ${failing === 1 ? 'it gets' : 'they get'} less than the store says through an Actions variable no attachment owns (kept during a migration, or left over): the rows say which variable, and what the step would get without it.`,
  );
}

export function renderCoverage(report: SyncReportFile | undefined, filter: CoverageFilter): PageBody {
  const intro = html`<h1>Coverage</h1>
<p class="muted">Per job: what enforces its egress policy (Harden-Runner inline, through Actions variables, through the job-started hook), in which mode, and why not where nothing does. From the workflow files the last sync read (<code>egressctl sync --state-dir</code>, or the App's syncs); <code>egressctl coverage</code> shows the same in a terminal.</p>`;
  const organizations = Object.values(report?.organizations ?? {})
    .filter((run) => run.coverage !== undefined)
    .sort((a, b) => (a.organization < b.organization ? -1 : 1));
  if (organizations.length === 0) {
    return { title: 'Coverage', section: 'coverage', content: html`${intro}${notice('No sync has recorded coverage yet.')}` };
  }
  const needle = filter.repository.toLowerCase();
  const sections = organizations.map((run) => {
    const jobs = Object.values(run.coverage ?? {}).flatMap((entry) => entry.jobs);
    const problems = Object.values(run.coverage ?? {}).flatMap((entry) => entry.problems);
    const shown = jobs.filter((job) => (filter.mode === '' || job.mode === filter.mode) && (needle === '' || job.repository.toLowerCase().includes(needle)));
    const rows = shown.slice(0, COVERAGE_ROW_LIMIT);
    return html`<section class="coverage-organization" id="org-${run.organization}">
<h2>${run.organization}</h2>
${totalsHtml(coverageTotals(jobs))}
${failuresNotice(jobs)}
<p class="muted">Workflow files as read by the sync of <time datetime="${run.at}">${utcText(run.at)}</time>.${shown.length !== jobs.length ? ` ${formatCount(shown.length)} of ${formatCount(jobs.length)} jobs match the filter.` : ''}</p>
<table class="coverage"><thead><tr><th>Repository</th><th>Workflow</th><th>Job</th><th>Mode</th><th>Enforced by</th><th>Why not block</th></tr></thead><tbody>${rows.map(row)}</tbody></table>${
      shown.length > rows.length ? notice(`Showing the first ${formatCount(rows.length)} of ${formatCount(shown.length)} jobs: narrow the list with the filter.`) : html``
    }${problems.length > 0 ? html`<h3>Files that are not workflows</h3><ul class="problems">${problems.map((problem) => html`<li><code>${problem.repository}</code> ${problem.message}</li>`)}</ul>` : html``}
</section>`;
  });
  const filterForm = html`<form class="lookup" method="get" action="/coverage"><label>Mode <select name="mode">${[['', 'all'] as const, ...COVERAGE_MODES.map((mode) => [mode, MODE_LABELS[mode]] as const)].map(
    ([value, label]) => html`<option value="${value}"${value === filter.mode ? html` selected` : html``}>${label}</option>`,
  )}</select></label> <label>Repository <input name="repository" value="${filter.repository}" placeholder="owner/repo"></label> <button type="submit">Filter</button></form>`;
  return { title: 'Coverage', section: 'coverage', content: html`${intro}${filterForm}${sections}` };
}
