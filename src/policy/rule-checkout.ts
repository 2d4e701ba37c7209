/**
 * A block policy that omits `github.com:443` breaks `actions/checkout` (docs/architecture.md#endpoints):
 * Harden-Runner's agent does not allow it by itself (step-security/agent `addImplicitEndpoints`
 * lists only `*.actions.githubusercontent.com`, `codeload.github.com` and the results hosts).
 * Warned at the policy's `egress-policy` line, unless the baselines of the jobs the policy
 * applies to show none of them reaching github.com (no checkout there).
 */
import type { DiagnosticSink } from './diagnostics.js';
import { endpointFromText, IMPLICIT_ENDPOINT_PATTERNS, isAllowed } from './endpoint.js';
import { flattenPolicies } from './flatten.js';
import { attachmentMap, type PolicySet } from './model.js';
import { resolveScopes } from './resolve.js';

/** The host checkout clones from. */
const CHECKOUT_ENDPOINT = { host: 'github.com', port: 443 };

/** What the rule reads of the baselines (src/baselines' index): observed endpoints per job. */
export interface ObservedJobs {
  jobs: ReadonlyArray<{ repository: string; workflowPath: string; job: string; endpoints: readonly string[] }>;
}

export function ruleBlockWithoutGitHub({ repository, sink }: { repository: PolicySet & { baselines?: ObservedJobs }; sink: DiagnosticSink }): void {
  const compiled = flattenPolicies(repository);
  const blocking = [...repository.policies.values()].filter((policy) => {
    const flat = compiled[policy.name];
    if (!flat || flat['egress-policy'] !== 'block') return false;
    const patterns = [...flat['allowed-endpoints'].map(endpointFromText), ...IMPLICIT_ENDPOINT_PATTERNS];
    return !isAllowed(patterns, CHECKOUT_ENDPOINT.host, CHECKOUT_ENDPOINT.port);
  });
  if (blocking.length === 0) return;
  // Per policy: the baseline jobs it applies to, and those of them that reached github.com.
  const attachments = attachmentMap(repository.attachments);
  const observed = new Map<string, { jobs: number; reaching: string[] }>();
  for (const job of repository.baselines?.jobs ?? []) {
    const { policy } = resolveScopes(attachments, { repository: job.repository, workflow: job.workflowPath });
    if (policy === null) continue;
    const entry = observed.get(policy) ?? { jobs: 0, reaching: [] };
    entry.jobs++;
    if (job.endpoints.some((endpoint) => endpoint === 'github.com:443')) entry.reaching.push(`${job.repository} ${job.workflowPath} ${job.job}`);
    observed.set(policy, entry);
  }
  for (const policy of blocking) {
    const seen = observed.get(policy.name);
    if (seen && seen.jobs > 0 && seen.reaching.length === 0) continue;
    const evidence =
      seen && seen.reaching.length > 0
        ? `; baselines show ${seen.reaching.slice(0, 3).join(', ')}${seen.reaching.length > 3 ? ` and ${seen.reaching.length - 3} more` : ''} reaching it`
        : '';
    sink.warning(
      'policy/block-without-github',
      policy.egressPolicyAt ?? policy.at,
      `policy "${policy.name}" blocks github.com:443, which actions/checkout needs and Harden-Runner's agent does not allow by itself${evidence}: add github.com:443 to allowed-endpoints (or extend a policy that has it)`,
    );
  }
}
