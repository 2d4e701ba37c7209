/**
 * The firewall file's change per repository for the review (docs/github-firewall.md, "Review"):
 * with `github-firewall.enabled`, each repository a change reaches by repository or workflow
 * attachment gets its file at the base and at the head compared (mode, hosts added and dropped).
 * Organization scopes reach repositories the review cannot list: they are named as such. Both
 * sides come as of the review's instant, as sync writes the file (an exception that is over is not
 * in it); a host only exceptions allow is marked with its last day. Pure.
 */
import type { BaselineIndex } from '../baselines/index.js';
import type { AttachmentMap, CompiledPolicy, Settings } from '../policy/model.js';
import { baselineJobsOf } from '../rollout/rollout-plan.js';
import { affectedScopes } from '../rollout/sync-plan.js';
import { ALLOW_ADDED_PREFIX, contentChanges, desiredFirewall, type FirewallFileContent } from '../rollout/github-firewall/index.js';
import { endpointFromText } from '../policy/endpoint.js';
import type { FirewallFileChange, ScopeChange } from './model.js';
import { untilText } from './policies.js';

export interface FirewallSide {
  attachments: AttachmentMap;
  compiled: Readonly<Record<string, CompiledPolicy>>;
  settings: Settings;
  baselines?: BaselineIndex;
}

function contentOf(side: FirewallSide, repository: string): { content?: FirewallFileContent; warnings: string[]; until?: Map<string, string> } {
  const seen = side.baselines ? baselineJobsOf(side.baselines, repository).flatMap((job) => job.endpoints) : [];
  const store = { attachments: side.attachments, policies: side.compiled, settings: side.settings };
  const answer = desiredFirewall({ store, repository, seen, noDefaultUrls: side.settings.githubFirewall.noDefaultUrls });
  if (answer.firewall === null) return { warnings: [] };
  const { mode, allow, noDefaultUrls } = answer.firewall;
  return {
    content: { mode, allow, noDefaultUrls },
    warnings: answer.firewall.findings.filter((finding) => finding.severity === 'warning').map((finding) => finding.message),
    until: hostsUntil(side.compiled, answer.firewall.policies),
  };
}

/**
 * Hosts that only exceptions put in the file (docs/architecture.md#expiring-exceptions): host ->
 * the latest last day among the entries naming it; an entry without a date anywhere wins. Only
 * entries naming the host itself (`host:443`, `host:80`): a wildcard's expansion is not dated.
 */
function hostsUntil(policies: FirewallSide['compiled'], names: readonly string[]): Map<string, string> {
  const permanent = new Set<string>();
  const latest = new Map<string, string>();
  for (const name of names) {
    const policy = Object.hasOwn(policies, name) ? policies[name] : undefined;
    const expiry = policy?.['endpoint-expiry'] ?? {};
    for (const text of policy?.['allowed-endpoints'] ?? []) {
      const { host } = endpointFromText(text);
      const date = Object.hasOwn(expiry, text) ? expiry[text] : undefined;
      if (date === undefined) permanent.add(host);
      else if ((latest.get(host) ?? '') < date) latest.set(host, date);
    }
  }
  for (const host of permanent) latest.delete(host);
  return latest;
}

/** `allow added: a, b` with each host only exceptions allow marked with its last day. */
function withLastDays(changes: string[], until: ReadonlyMap<string, string> | undefined): string[] {
  if (!until || until.size === 0) return changes;
  return changes.map((change) => {
    if (!change.startsWith(ALLOW_ADDED_PREFIX)) return change;
    const hosts = change.slice(ALLOW_ADDED_PREFIX.length).split(', ');
    return `${ALLOW_ADDED_PREFIX}${hosts.map((host) => (until.has(host) ? `${host} (${untilText(until.get(host) as string)})` : host)).join(', ')}`;
  });
}

/** Per repository the change reaches, how its firewall file changes (repositories whose file stays the same are left out). */
export function firewallChanges(base: FirewallSide, head: FirewallSide, scopes: readonly Pick<ScopeChange, 'type' | 'key'>[]): FirewallFileChange[] {
  const affected = affectedScopes(scopes);
  const result: FirewallFileChange[] = [];
  for (const repository of affected.repositories) {
    const before = base.settings.githubFirewall.enabled ? contentOf(base, repository) : { warnings: [] };
    const after = contentOf(head, repository);
    let changes: string[];
    if (!after.content) changes = before.content ? ['no policy applies any more: sync leaves the managed file as it is'] : [];
    else changes = withLastDays(contentChanges(before.content, after.content), after.until);
    if (changes.length > 0) result.push({ repository, changes, warnings: after.warnings });
  }
  for (const organization of affected.organizations) {
    result.push({ repository: `organization ${organization}`, changes: ['every repository of it without its own attachment: `egressctl resolve --repository O/R --format github-firewall` shows one'], warnings: [] });
  }
  return result;
}
