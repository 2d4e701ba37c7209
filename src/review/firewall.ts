/**
 * The firewall file's change per repository for the review (docs/github-firewall.md, "Review"):
 * with `github-firewall.enabled`, each repository a change reaches by repository or workflow
 * attachment gets its file at the base and at the head compared (mode, hosts added and dropped).
 * Organization scopes reach repositories the review cannot list: they are named as such. Pure.
 */
import type { BaselineIndex } from '../baselines/index.js';
import type { AttachmentMap, CompiledPolicy, Settings } from '../policy/model.js';
import { baselineJobsOf } from '../rollout/rollout-plan.js';
import { affectedScopes } from '../rollout/sync-plan.js';
import { contentChanges, desiredFirewall, type FirewallFileContent } from '../rollout/github-firewall/index.js';
import type { FirewallFileChange, ScopeChange } from './model.js';

export interface FirewallSide {
  attachments: AttachmentMap;
  compiled: Readonly<Record<string, CompiledPolicy>>;
  settings: Settings;
  baselines?: BaselineIndex;
}

function contentOf(side: FirewallSide, repository: string): { content?: FirewallFileContent; warnings: string[] } {
  const seen = side.baselines ? baselineJobsOf(side.baselines, repository).flatMap((job) => job.endpoints) : [];
  const store = { attachments: side.attachments, policies: side.compiled, settings: side.settings };
  const answer = desiredFirewall({ store, repository, seen, noDefaultUrls: side.settings.githubFirewall.noDefaultUrls });
  if (answer.firewall === null) return { warnings: [] };
  const { mode, allow, noDefaultUrls } = answer.firewall;
  return { content: { mode, allow, noDefaultUrls }, warnings: answer.firewall.findings.filter((finding) => finding.severity === 'warning').map((finding) => finding.message) };
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
    else changes = contentChanges(before.content, after.content);
    if (changes.length > 0) result.push({ repository, changes, warnings: after.warnings });
  }
  for (const organization of affected.organizations) {
    result.push({ repository: `organization ${organization}`, changes: ['every repository of it without its own attachment: `egressctl resolve --repository O/R --format github-firewall` shows one'], warnings: [] });
  }
  return result;
}
