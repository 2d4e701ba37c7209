/**
 * "Which policy applies?" (`/lookup?org=&repository=&workflow=&cluster=`): the winning policy,
 * the chain of scopes it shadowed and the exact `with:` block Harden-Runner gets. A plain GET
 * form, so an answer is shareable by its URL.
 */
import { stringify } from 'yaml';
import type { Bundle } from '../../bundle/build.js';
import { SCOPE_SECTIONS, type HardenRunnerPin } from '../../policy/model.js';
import { effectivePolicyAt } from '../../policy/expiry.js';
import { scopeKeys, type ResolveQuery } from '../../policy/resolve.js';
import { html, type Html } from './html.js';
import { modeBadge, notice, policyLink, scopeHtml } from './render-common.js';
import type { PageBody } from './render-layout.js';

export interface LookupQuery {
  org: string;
  repository: string;
  workflow: string;
  cluster: string;
}

const REPOSITORY = /^[A-Za-z0-9][A-Za-z0-9-]*\/[A-Za-z0-9._-]+$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** A query's problems, as messages; empty when it can be answered. */
export function lookupProblems(query: LookupQuery): string[] {
  const problems: string[] = [];
  if (query.org && !NAME.test(query.org)) problems.push(`Organization "${query.org}" is not a GitHub organization name.`);
  if (query.repository && !REPOSITORY.test(query.repository)) problems.push(`Repository must be OWNER/REPO, not "${query.repository}".`);
  if (query.cluster && !NAME.test(query.cluster)) problems.push(`Cluster "${query.cluster}" is not a cluster name.`);
  if (query.workflow) {
    const path = query.workflow.replace(/@.*$/, '').replace(/^\.\//, '');
    const relative = path.startsWith('.github/workflows/');
    if (relative && !query.repository) problems.push('A workflow path relative to a repository (.github/workflows/F.yml) needs the repository too.');
    if (!relative && !/^[^/]+\/[^/]+\/\.github\/workflows\/[^/]+$/.test(path)) {
      problems.push(`Workflow must be .github/workflows/F.yml, OWNER/REPO/.github/workflows/F.yml or a workflow_ref, not "${query.workflow}".`);
    }
    if (!/\.ya?ml$/i.test(path)) problems.push('A workflow file ends in .yml or .yaml.');
  }
  if (query.repository && query.org && query.repository.split('/')[0]?.toLowerCase() !== query.org.toLowerCase()) {
    problems.push(`Repository ${query.repository} is not in organization ${query.org}: leave the organization empty (it defaults to the repository's owner).`);
  }
  return problems;
}

function field(name: keyof LookupQuery, label: string, value: string, placeholder: string): Html {
  return html`<label>${label} <input type="text" name="${name}" value="${value}" placeholder="${placeholder}" spellcheck="false" autocomplete="off"></label>`;
}

/** The `with:` block as YAML: endpoints on one line (a `|` block breaks the agent's parser). */
export function withBlockYaml(config: Record<string, unknown>, pin: HardenRunnerPin): string {
  const step = stringify([{ uses: `${pin.repository}@${pin.sha}`, with: config }], { lineWidth: 0, minContentWidth: 0 });
  // The version as a comment after the pin, as policy-based PRs write it.
  return step.replace(/^(- uses: \S+)$/m, `$1 # ${pin.version}`);
}

/**
 * Text whose lines wrap only at spaces: each run of non-spaces is one unbreakable token, so a
 * long `allowed-endpoints:` line wraps between endpoints, never inside a hostname at a hyphen
 * (issue 23). The text (and what a copy gives) is unchanged.
 */
export function tokensHtml(text: string): Html[] {
  // Endpoints never break inside; an action reference pinned by a 40-hex SHA is longer than a
  // phone's width, so it alone may break anywhere rather than push the page sideways.
  return text.split(/(\s+)/).map((part, index) =>
    index % 2 === 1 || part === '' ? html`${part}` : /@[0-9a-f]{40}$/.test(part) ? html`<span class="ref">${part}</span>` : html`<span class="token">${part}</span>`,
  );
}

/** Extra content under the answer (the variables section, when delivery is by variables). */
export type LookupExtra = (query: LookupQuery) => Html | undefined;

export function renderLookup(bundle: Bundle, query: LookupQuery, pin: HardenRunnerPin, extra?: LookupExtra): PageBody {
  const form = html`<form class="lookup" method="get" action="/lookup">
${field('org', 'Organization', query.org, 'owner of the repository')}
${field('repository', 'Repository', query.repository, 'acme/api')}
${field('workflow', 'Workflow', query.workflow, '.github/workflows/release.yml')}
${field('cluster', 'ARC cluster', query.cluster, 'arc-prod (self-hosted only)')}
<button type="submit">Look up</button>
</form>`;
  const asked = query.org !== '' || query.repository !== '' || query.workflow !== '' || query.cluster !== '';
  const intro = html`<h1>Which policy applies?</h1>
<p class="muted">The most specific attachment wins whole: workflow &gt; repository &gt; organization &gt; cluster. For a reusable workflow, give the calling repository and workflow.</p>`;
  if (!asked) return { title: 'Which policy applies?', section: 'lookup', content: html`${intro}${form}` };
  const problems = lookupProblems(query);
  if (problems.length > 0) {
    return {
      title: 'Which policy applies?',
      section: 'lookup',
      content: html`${intro}${form}<div class="error" role="alert"><ul>${problems.map((problem) => html`<li>${problem}</li>`)}</ul></div>`,
    };
  }
  const resolveQuery: ResolveQuery = {};
  if (query.org) resolveQuery.organization = query.org;
  if (query.repository) resolveQuery.repository = query.repository;
  if (query.workflow) resolveQuery.workflow = query.workflow;
  if (query.cluster) resolveQuery.cluster = query.cluster;
  // As the server answers now: expired exceptions left out.
  const answer = effectivePolicyAt(bundle.attachments, bundle.policies, resolveQuery, Date.now());
  const chain = scopeKeys(resolveQuery).map((scope) => {
    const policy = bundle.attachments[SCOPE_SECTIONS[scope.type]][scope.key];
    const won = answer.scope !== null && answer.scope.type === scope.type && answer.scope.key === scope.key;
    const status = policy === undefined ? html`<span class="muted">no attachment</span>` : won ? html`<strong>wins</strong>` : html`shadowed`;
    return html`<tr class="${won ? 'winner' : policy === undefined ? 'none' : 'shadowed'}"><td>${scopeHtml(scope)}</td><td>${policy === undefined ? html`<span class="muted">—</span>` : policyLink(policy)}</td><td>${status}</td></tr>`;
  });
  const winner = answer.policy === null ? undefined : bundle.policies[answer.policy];
  const result =
    answer.policy === null || answer.scope === null
      ? html`<div class="answer"><p><strong>No policy:</strong> no attachment matches, so Harden-Runner's own defaults apply (it blocks nothing it is not told to; a job without Harden-Runner is not monitored at all).</p></div>`
      : html`<div class="answer"><p><strong>${policyLink(answer.policy)}</strong> ${winner ? modeBadge(winner['egress-policy']) : html``} wins, attached to ${scopeHtml(answer.scope)}${
          answer.shadowed.length > 0 ? html`; it shadows ${answer.shadowed.map((item, index) => html`${index > 0 ? ', ' : ''}${policyLink(item.policy)} (${item.type} <code>${item.key}</code>)`)}` : html``
        }.</p></div>
<h2>Harden-Runner gets</h2>
<pre class="yaml tokens" id="with-block"><code>${tokensHtml(withBlockYaml(answer.config as Record<string, unknown>, pin))}</code></pre>${
          answer['lockdown-mode']
            ? html`<p class="muted">lockdown-mode (ARC clusters): ${answer['lockdown-mode'].enabled ? 'enabled' : 'disabled'}${answer['lockdown-mode'].detections.length > 0 ? `, detections ${answer['lockdown-mode'].detections.join(', ')}` : ''}.</p>`
            : html``
        }`;
  return {
    title: 'Which policy applies?',
    section: 'lookup',
    content: html`${intro}${form}
${result}
<h2>Precedence chain</h2>
<table class="chain"><thead><tr><th>Scope</th><th>Attached policy</th><th></th></tr></thead><tbody>${chain}</tbody></table>
${chain.length === 0 ? notice('No scope given.') : html``}${extra?.(query) ?? html``}`,
  };
}
