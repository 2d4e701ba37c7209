/** One policy (`/policies/NAME`): YAML as written, flattened endpoints, attachments, precedence. */
import type { CompiledPolicy } from '../../policy/model.js';
import { PASSTHROUGH_FLAGS } from '../../policy/model.js';
import { daysLeft } from '../../policy/expiry.js';
import { formatCount, plural } from './format.js';
import { html, segment, type Html } from './html.js';
import { paginate, shadowingOf, type AttachmentIndex, type ScopeAttachment, type Shadowing } from './model.js';
import { modeBadge, notice, pagerHtml, policyLink, scopeCount, scopeHtml } from './render-common.js';
import type { PageBody } from './render-layout.js';

export const ATTACHMENT_PAGE_SIZE = 50;
/** Shadowing attachments listed per attachment; the rest are counted. */
export const SHADOW_LIST_LIMIT = 10;
/** Endpoints listed on the page; the export has them all. */
export const ENDPOINT_LIST_LIMIT = 500;
/** YAML text shown; longer files are cut with a note. */
export const YAML_TEXT_LIMIT = 48 * 1024;

export interface PolicyPageInput {
  policy: CompiledPolicy;
  /** Every compiled policy (to say which endpoints come from `extends`). */
  policies: Readonly<Record<string, CompiledPolicy>>;
  index: AttachmentIndex;
  /** The file as written, or why it cannot be shown. */
  yaml: { text: string; file: string } | { missing: string };
  /** Whether the history link leads anywhere. */
  historyAvailable: boolean;
  page: number;
  /** The time expiries are judged at (default: now). */
  now?: number;
}

function shadowHtml(shadowing: Shadowing, index: AttachmentIndex, policyName: string): Html {
  const { attachment } = shadowing;
  if (shadowing.clusterWide) {
    const parts = (['organization', 'repository', 'workflow'] as const)
      .filter((type) => index.counts[type] > 0)
      .map((type) => scopeCount(type, index.counts[type]));
    return html`<td>Wins on cluster <code>${attachment.key}</code> only for jobs whose workflow, repository and organization have no attachment.</td>
<td>${parts.length === 0 ? html`<span class="muted">nothing (no other attachments)</span>` : html`every attachment that matches the job: ${parts.join(', ')} attached`}</td>`;
  }
  if (attachment.type === 'workflow') {
    return html`<td>Wins for this workflow (most specific scope).</td><td><span class="muted">nothing</span></td>`;
  }
  const by = shadowing.shadowedBy;
  if (by.length === 0) {
    return html`<td>Wins for every ${attachment.type === 'repository' ? 'workflow of this repository' : 'repository and workflow of this organization'}.</td><td><span class="muted">nothing</span></td>`;
  }
  const other = by.filter((item) => item.policy !== policyName).length;
  const listed = by.slice(0, SHADOW_LIST_LIMIT).map(
    (item) => html`<li>${scopeHtml(item)} → ${item.policy === policyName ? html`${policyLink(item.policy)} <span class="muted">(same policy)</span>` : policyLink(item.policy)}</li>`,
  );
  const more = by.length > SHADOW_LIST_LIMIT ? html`<li class="muted">and ${formatCount(by.length - SHADOW_LIST_LIMIT)} more</li>` : html``;
  return html`<td>Wins for ${attachment.type === 'repository' ? 'its workflows' : 'its repositories and workflows'} except ${plural(by.length, 'more specific attachment')}${
    other < by.length ? html` (${formatCount(other)} to another policy)` : html``
  }.</td><td><ul class="compact">${listed}${more}</ul></td>`;
}

function attachmentsHtml(input: PolicyPageInput): Html {
  const attachments: ScopeAttachment[] = input.index.byPolicy.get(input.policy.name) ?? [];
  if (attachments.length === 0) {
    return html`<h2>Attachments</h2>${notice('Not attached: no scope gets this policy (attach it in attachments.yml, or let another policy extend it).')}`;
  }
  const current = paginate(attachments, input.page, ATTACHMENT_PAGE_SIZE);
  const path = `/policies/${segment(input.policy.name)}`;
  const rows = current.items.map((attachment) => html`<tr><td>${scopeHtml(attachment)}</td>${shadowHtml(shadowingOf(attachment, input.index), input.index, input.policy.name)}</tr>`);
  return html`<h2>Attachments <span class="count">${formatCount(attachments.length)}</span></h2>
<p class="muted">Precedence: workflow &gt; repository &gt; organization &gt; cluster; the most specific attachment wins whole.</p>
${pagerHtml(current, path, {}, 'attachments')}
<table class="attachments">
<thead><tr><th>Attached to</th><th>Where it wins</th><th>Shadowed by</th></tr></thead>
<tbody>${rows}</tbody>
</table>`;
}

function settingsHtml(policy: CompiledPolicy): Html {
  const rows: Html[] = [html`<tr><th>egress-policy</th><td>${modeBadge(policy['egress-policy'])}</td></tr>`];
  if (policy.extends && policy.extends.length > 0) {
    rows.push(html`<tr><th>extends</th><td>${policy.extends.map((name, index) => html`${index > 0 ? ', ' : ''}${policyLink(name)}`)}</td></tr>`);
  }
  for (const flag of PASSTHROUGH_FLAGS) {
    const value = policy[flag];
    if (value !== undefined) rows.push(html`<tr><th>${flag}</th><td><code>${String(value)}</code></td></tr>`);
  }
  const lockdown = policy['lockdown-mode'];
  if (lockdown) {
    rows.push(html`<tr><th>lockdown-mode</th><td><code>${lockdown.enabled ? 'enabled' : 'disabled'}</code>${lockdown.detections.length > 0 ? ` (${lockdown.detections.join(', ')})` : ''}</td></tr>`);
  }
  return html`<table class="settings">${rows}</table>`;
}

function endpointsHtml(input: PolicyPageInput): Html {
  const endpoints = input.policy['allowed-endpoints'];
  const exportLink = html`<a class="button" href="/policies/${segment(input.policy.name)}/export.txt" download>Export endpoints (.txt)</a>`;
  if (endpoints.length === 0) {
    return html`<h2>Allowed endpoints</h2>${notice(
      input.policy['egress-policy'] === 'audit' ? 'None listed: in audit mode Harden-Runner only records what jobs reach.' : 'None listed: in block mode only Harden-Runner\'s own implicit endpoints are reachable.',
    )}`;
  }
  const parents = (input.policy.extends ?? []).map((name) => [name, new Set(input.policies[name]?.['allowed-endpoints'] ?? [])] as const);
  const items = endpoints.slice(0, ENDPOINT_LIST_LIMIT).map((endpoint) => {
    const from = parents.filter(([, set]) => set.has(endpoint)).map(([name]) => name);
    return html`<li><code>${endpoint}</code>${from.length > 0 ? html` <span class="muted">from ${from.join(', ')}</span>` : html``}</li>`;
  });
  const more = endpoints.length > ENDPOINT_LIST_LIMIT ? html`<p class="muted">The first ${formatCount(ENDPOINT_LIST_LIMIT)} are listed; the export has all ${formatCount(endpoints.length)}.</p>` : html``;
  return html`<h2>Allowed endpoints <span class="count">${formatCount(endpoints.length)}</span> ${exportLink}</h2>
<p class="muted">After <code>extends</code>, sorted and unique: what Harden-Runner gets.</p>
<ul class="endpoints">${items}</ul>${more}`;
}

/** The policy's exceptions with an end date (docs/architecture.md#expiring-exceptions), soonest first. */
function expiriesHtml(input: PolicyPageInput): Html {
  const entries = Object.entries(input.policy['endpoint-expiry'] ?? {}).sort(([a, x], [b, y]) => (x !== y ? (x < y ? -1 : 1) : a < b ? -1 : 1));
  if (entries.length === 0) return html``;
  const now = input.now ?? Date.now();
  const rows = entries.map(([endpoint, date]) => {
    const left = daysLeft(date, now);
    const status =
      left < 0
        ? html`<strong>expired</strong>: no longer in answers, workflows or variables`
        : left === 0
          ? html`last day today`
          : html`${plural(left, 'day')} left`;
    return html`<tr class="${left < 0 ? 'expired' : ''}"><td><code>${endpoint}</code></td><td>${date}</td><td>${status}</td></tr>`;
  });
  return html`<h2>Exceptions that expire <span class="count">${formatCount(entries.length)}</span></h2>
<p class="muted">Each counts until the end of its last day (UTC); after it the server leaves it out of every answer, whatever bundle it serves, and the App proposes a pull request that deletes it.</p>
<table class="expiries">
<thead><tr><th>Endpoint</th><th>Last day</th><th>Status</th></tr></thead>
<tbody>${rows}</tbody>
</table>`;
}

function yamlHtml(input: PolicyPageInput): Html {
  if ('missing' in input.yaml) return html`<h2>As written</h2>${notice(input.yaml.missing)}`;
  const text = input.yaml.text;
  const cut = text.length > YAML_TEXT_LIMIT;
  return html`<h2>As written <span class="muted"><code>${input.yaml.file}</code></span></h2>
<pre class="yaml"><code>${cut ? text.slice(0, YAML_TEXT_LIMIT) : text}</code></pre>${cut ? notice(`Cut at ${formatCount(YAML_TEXT_LIMIT)} characters of ${formatCount(text.length)}.`) : html``}`;
}

export function renderPolicy(input: PolicyPageInput): PageBody {
  const { policy } = input;
  const name = policy.name;
  return {
    title: name,
    section: 'policies',
    content: html`<p class="crumbs"><a href="/">Policies</a> /</p>
<h1>${name} ${modeBadge(policy['egress-policy'])}</h1>
${policy.description ? html`<p class="description">${policy.description}</p>` : html``}
<p class="actions">${input.historyAvailable ? html`<a href="/policies/${segment(name)}/history">History of ${name}</a> · ` : html``}<a href="/lookup">Which policy applies?</a></p>
${settingsHtml(policy)}
${attachmentsHtml(input)}
${endpointsHtml(input)}
${expiriesHtml(input)}
${yamlHtml(input)}`,
  };
}
