/**
 * Baselines (`/baselines`, `/baselines/OWNER/REPO`): per repository and job, the endpoints runs
 * reached with their evidence and stability, the policy they recommend, and how that compares
 * with the policy that applies to the workflow today. `?cluster=NAME` narrows both pages (and the
 * exports) to runs recorded on one ARC cluster (docs/architecture.md#arc-clusters-in-baselines).
 */
import { stringify } from 'yaml';
import type { Bundle } from '../../bundle/build.js';
import type { BaselineIndex, JobRecommendation } from '../../baselines/recommend.js';
import { endpointFromText, implicitEndpointPatterns, isAllowed } from '../../policy/endpoint.js';
import { policyAsOf } from '../../policy/expiry.js';
import { effectivePolicy } from '../../policy/resolve.js';
import { formatCount, plural, timeHtml, utcText } from './format.js';
import { href, html, segment, type Html } from './html.js';
import { paginate } from './model.js';
import { modeBadge, notice, pagerHtml, policyLink } from './render-common.js';
import type { PageBody } from './render-layout.js';

export const REPOSITORY_PAGE_SIZE = 100;
/** Jobs per page of a repository (each job has an evidence table). */
export const JOB_PAGE_SIZE = 10;
/** Evidence rows (and recommended endpoints) shown per job; the export has them all. */
export const EVIDENCE_LIMIT = 40;

export interface RepositoryBaselineSummary {
  repository: string;
  jobs: number;
  stable: number;
  runs: number;
  lastSeen: string | undefined;
}

/**
 * One summary per repository with a baseline file, sorted by name. Given `clusterJobs` (the jobs
 * narrowed to one ARC cluster, `jobsOnCluster`), only repositories with runs there, counting those.
 */
export function summarizeBaselines(index: BaselineIndex, clusterJobs?: readonly JobRecommendation[]): RepositoryBaselineSummary[] {
  const byRepository = new Map<string, RepositoryBaselineSummary>();
  const jobs = clusterJobs ?? index.jobs;
  const repositories = clusterJobs ? new Set(clusterJobs.map((job) => job.repository)) : index.files.keys();
  for (const repository of repositories) byRepository.set(repository, { repository, jobs: 0, stable: 0, runs: 0, lastSeen: undefined });
  for (const job of jobs) {
    const summary = byRepository.get(job.repository);
    if (!summary) continue;
    summary.jobs++;
    if (job.stable) summary.stable++;
    summary.runs += job.clusterRuns ?? job.runs;
    if (job.lastSeen && (!summary.lastSeen || job.lastSeen > summary.lastSeen)) summary.lastSeen = job.lastSeen;
  }
  return [...byRepository.values()].sort((a, b) => (a.repository < b.repository ? -1 : a.repository > b.repository ? 1 : 0));
}

/** The ARC cluster filter of the baselines pages: the one chosen ('' for all) and those recorded. */
export interface ClusterFilter {
  cluster: string;
  clusters: readonly string[];
}

function clusterOption(value: string, label: string, selected: string): Html {
  return html`<option value="${value}"${value === selected ? html` selected` : html``}>${label}</option>`;
}

export function renderBaselineList(summaries: readonly RepositoryBaselineSummary[], query: string, page: number, now: Date, filter: ClusterFilter = { cluster: '', clusters: [] }): PageBody {
  const needle = query.trim().toLowerCase();
  const matching = needle === '' ? summaries : summaries.filter((summary) => summary.repository.includes(needle));
  const current = paginate(matching, page, REPOSITORY_PAGE_SIZE);
  const cluster = filter.cluster || undefined;
  const params = { q: query || undefined, cluster };
  // A cluster in the URL that no run recorded still shows as chosen, so the empty answer is explained.
  const choices = filter.cluster && !filter.clusters.includes(filter.cluster) ? [...filter.clusters, filter.cluster] : filter.clusters;
  const clusterSelect =
    choices.length > 0
      ? html` <label>ARC cluster <select name="cluster">${clusterOption('', 'all clusters (every run)', filter.cluster)}${choices.map((name) => clusterOption(name, name, filter.cluster))}</select></label>`
      : html``;
  const rows = current.items.map(
    (summary) => html`<tr>
<td><a href="${href(`/baselines/${summary.repository.split('/').map(segment).join('/')}`, { cluster })}">${summary.repository}</a></td>
<td class="num">${formatCount(summary.jobs)}</td>
<td class="num">${formatCount(summary.stable)}</td>
<td class="num">${formatCount(summary.runs)}</td>
<td>${summary.lastSeen ? timeHtml(summary.lastSeen, now) : html`<span class="muted">never</span>`}</td>
</tr>`,
  );
  return {
    title: 'Baselines',
    section: 'baselines',
    content: html`<h1>Baselines <span class="count">${formatCount(summaries.length)}</span></h1>
<p class="muted">Endpoints that jobs reached in audit mode (from Harden-Runner's agent logs), per repository, workflow and job. A job is stable once its latest runs added nothing.${
      cluster ? html` Showing only runs on ARC cluster <strong class="cluster">${cluster}</strong>.` : html``
    }</p>
<form class="filters" method="get" action="/baselines"><label>Repository <input type="search" name="q" value="${query}" placeholder="owner/repo"></label>${clusterSelect} <button type="submit">Filter</button></form>
${pagerHtml(current, '/baselines', params, 'repositories')}
${
  current.total === 0
    ? html`<p class="empty">${
        cluster && summaries.length === 0
          ? `No run recorded ARC cluster ${cluster}: runs record it with egressctl baseline from-log --cluster, the hook's --cluster, or clusters in egressctl.yml.`
          : summaries.length === 0
            ? 'No baselines yet: import agent logs with egressctl baselines import, or let the app collect them.'
            : 'No repository matches.'
      }</p>`
    : html`<table><thead><tr><th>Repository</th><th class="num">Jobs</th><th class="num">Stable</th><th class="num">Runs</th><th>Last seen</th></tr></thead><tbody>${rows}</tbody></table>`
}
${current.pages > 1 ? pagerHtml(current, '/baselines', params, 'repositories') : html``}`,
  };
}

/** The recommended policy file for a job, as YAML. */
export function recommendedPolicyYaml(job: JobRecommendation): string {
  const header = job.stable
    ? `# Recommended for ${job.key}: stable (${job.runsSinceGrowth} runs without a new endpoint)\n`
    : `# ${job.key} is not stable yet (${job.runsSinceGrowth} of ${job.stableAfter} runs without a new endpoint): keep it in audit mode\n`;
  const body: Record<string, unknown> = { 'egress-policy': job.stable ? 'block' : 'audit' };
  const shown = job.endpoints.slice(0, EVIDENCE_LIMIT);
  if (shown.length > 0) body['allowed-endpoints'] = shown;
  const more = job.endpoints.length > shown.length ? `# ... and ${job.endpoints.length - shown.length} more: see the export\n` : '';
  return `${header}${stringify(body, { lineWidth: 0 })}${more}`;
}

export function exportHref(job: Pick<JobRecommendation, 'repository' | 'workflowPath' | 'job' | 'cluster'>): string {
  return href(`/baselines/${job.repository.split('/').map(segment).join('/')}/export`, { workflow: job.workflowPath, job: job.job, cluster: job.cluster });
}

function jobHtml(job: JobRecommendation, bundle: Bundle, now: Date): Html {
  const applied = effectivePolicy(bundle.attachments, bundle.policies, { repository: job.repository, workflow: job.workflow });
  // As the runner's answer is now: an endpoint whose exception has expired is blocked again.
  const policy = applied.policy === null || !Object.hasOwn(bundle.policies, applied.policy) ? undefined : policyAsOf(bundle.policies[applied.policy]!, now);
  const patterns = policy ? [...policy['allowed-endpoints'].map(endpointFromText), ...implicitEndpointPatterns({ disableTelemetry: policy['disable-telemetry'] })] : [];
  const blockedByPolicy = (endpoint: string): boolean => {
    if (!policy || policy['egress-policy'] !== 'block') return false;
    const parsed = endpointFromText(endpoint);
    return !isAllowed(patterns, parsed.host, parsed.port);
  };
  const wouldBlock = job.endpoints.filter(blockedByPolicy);
  const evidence = job.evidence.slice(0, EVIDENCE_LIMIT).map(
    (item) => html`<tr class="kind-${item.kind}">
<td><code>${item.endpoint}</code>${item.kind === 'endpoint' && blockedByPolicy(item.endpoint) ? html` <span class="badge warn" title="not allowed by ${policy?.name ?? ''}">blocked by current policy</span>` : html``}</td>
<td>${item.kind}${item.recommended ? '' : html` <span class="muted">(not recommended)</span>`}</td>
<td class="num">${formatCount(item.runs)}</td>
<td class="date" title="${utcText(item.firstSeen)}">${item.firstSeen.slice(0, 10)}</td>
<td class="date" title="${utcText(item.lastSeen)}">${item.lastSeen.slice(0, 10)}</td>
</tr>`,
  );
  const stability = job.stable
    ? html`<span class="badge stable">stable</span> ${plural(job.runsSinceGrowth, 'run')} without a new endpoint (needs ${job.stableAfter})`
    : html`<span class="badge collecting">collecting</span> ${formatCount(job.runsSinceGrowth)} of ${job.stableAfter} runs without a new endpoint`;
  const current = policy
    ? html`Policy today: ${policyLink(policy.name)} ${modeBadge(policy['egress-policy'])}${
        wouldBlock.length > 0 ? html` — <strong>${plural(wouldBlock.length, 'observed endpoint')} not allowed by it</strong>` : html``
      }`
    : html`Policy today: <span class="muted">none (Harden-Runner's defaults)</span>`;
  return html`<section class="job" id="${`job-${job.workflowPath}-${job.job}`.replace(/[^A-Za-z0-9_-]/g, '-')}">
<h3><code>${job.workflowPath}</code> › <code>${job.job}</code></h3>
<p>${stability} · ${plural(job.runs, 'run')} observed${job.cluster ? html`, ${formatCount(job.clusterRuns ?? 0)} on cluster <strong class="cluster">${job.cluster}</strong>` : html``}${
    job.lastSeen ? html` · last seen ${timeHtml(job.lastSeen, now)}` : html``
  }${job.clusters.length > 0 && !job.cluster ? html` · ARC clusters: ${job.clusters.map((entry) => `${entry.cluster} (${plural(entry.runs, 'run')})`).join(', ')}` : html``}</p>
<p>${current}</p>
<p><a class="button" href="${exportHref(job)}" download>Export endpoints (.txt)</a> <span class="muted">${plural(job.endpoints.length, 'recommended endpoint')}</span></p>
<div class="columns">
<div>
<h4>Observed</h4>
${
  job.evidence.length === 0
    ? html`<p class="empty">Nothing observed yet.</p>`
    : html`<table class="evidence"><thead><tr><th>Endpoint</th><th>Kind</th><th class="num">Runs</th><th>First seen</th><th>Last seen</th></tr></thead><tbody>${evidence}</tbody></table>${
        job.evidence.length > EVIDENCE_LIMIT ? html`<p class="muted">${formatCount(EVIDENCE_LIMIT)} of ${formatCount(job.evidence.length)} shown.</p>` : html``
      }`
}
</div>
<div>
<h4>Recommended policy</h4>
<pre class="yaml"><code>${recommendedPolicyYaml(job)}</code></pre>
</div>
</div>
</section>`;
}

export function renderBaselineRepository(repository: string, jobs: readonly JobRecommendation[], bundle: Bundle, page: number, now: Date, cluster?: string): PageBody {
  const current = paginate(jobs, page, JOB_PAGE_SIZE);
  const path = `/baselines/${repository.split('/').map(segment).join('/')}`;
  const stable = jobs.filter((job) => job.stable).length;
  const repositoryExport = href(`${path}/export`, { cluster });
  return {
    title: `Baselines of ${repository}`,
    section: 'baselines',
    content: html`<p class="crumbs"><a href="${href('/baselines', { cluster })}">Baselines</a> /</p>
<h1>${repository}</h1>
${cluster ? html`<p class="notice">Only runs on ARC cluster <strong class="cluster">${cluster}</strong>. <a href="${path}">Show every run</a></p>` : html``}
<p>${plural(jobs.length, 'job')}, ${formatCount(stable)} stable. <a href="${repositoryExport}" download>Export every endpoint of the repository (.txt)</a> · <a href="${href('/lookup', { repository })}">Which policy applies?</a></p>
${pagerHtml(current, path, { cluster }, 'jobs')}
${jobs.length === 0 ? notice(cluster ? `No job of ${repository} recorded a run on ARC cluster ${cluster}.` : 'The baseline file has no jobs.') : current.items.map((job) => jobHtml(job, bundle, now))}
${current.pages > 1 ? pagerHtml(current, path, { cluster }, 'jobs') : html``}`,
  };
}
