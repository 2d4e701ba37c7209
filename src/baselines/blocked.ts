/**
 * Feedback from block mode (docs/github-app.md, "Blocked endpoints"): names Harden-Runner refused
 * (`domain not allowed`) in jobs whose effective policy blocks, grouped by that policy, with the
 * evidence a reviewer needs (runs, jobs, first and last seen). Names the policy already allows
 * (a wildcard, an implicit endpoint) and addresses are left out: only names can be allowed. Pure.
 */
import { IMPLICIT_ENDPOINT_PATTERNS, endpointFromText, isAllowed, normalizeEndpoint } from '../policy/endpoint.js';
import { resolveScopes } from '../policy/resolve.js';
import type { AttachmentMap, CompiledPolicy } from '../policy/model.js';
import type { BaselineFile } from './model.js';

export interface BlockedEvidence {
  /** Canonical `host:port` to propose. */
  endpoint: string;
  /** Runs that saw it blocked, summed over the jobs. */
  runs: number;
  /** `owner/repo/.github/workflows/F#job`, sorted. */
  jobs: string[];
  firstSeen: string;
  lastSeen: string;
}

export interface BlockedProposal {
  /** The effective policy of the jobs (the attached one: entries go into its own file). */
  policy: string;
  endpoints: BlockedEvidence[];
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

export function blockedProposals(baselines: readonly BaselineFile[], attachments: AttachmentMap, compiled: Readonly<Record<string, CompiledPolicy>>): BlockedProposal[] {
  const byPolicy = new Map<string, Map<string, BlockedEvidence>>();
  for (const file of baselines) {
    for (const [workflowPath, jobs] of file.workflows) {
      const { policy } = resolveScopes(attachments, { repository: file.repository, workflow: `${file.repository}/${workflowPath}` });
      const effective = policy === null ? undefined : compiled[policy];
      // Only block mode refuses names; an unknown policy is a validation error, not ours to fix.
      if (policy === null || !effective || effective['egress-policy'] !== 'block') continue;
      const allowed = effective['allowed-endpoints'].map(endpointFromText);
      for (const [job, baseline] of jobs) {
        for (const [name, seen] of baseline.blocked) {
          if (IPV4.test(name) || name.includes(':')) continue;
          const endpoint = normalizeEndpoint(name);
          if (endpoint === undefined) continue;
          const { host, port } = endpointFromText(endpoint);
          if (isAllowed(allowed, host, port) || isAllowed(IMPLICIT_ENDPOINT_PATTERNS, host, port)) continue;
          let endpoints = byPolicy.get(policy);
          if (!endpoints) byPolicy.set(policy, (endpoints = new Map()));
          const key = `${file.repository}/${workflowPath}#${job}`;
          const entry = endpoints.get(endpoint);
          if (!entry) {
            endpoints.set(endpoint, { endpoint, runs: seen.runs, jobs: [key], firstSeen: seen.firstSeen, lastSeen: seen.lastSeen });
            continue;
          }
          entry.runs += seen.runs;
          if (!entry.jobs.includes(key)) entry.jobs.push(key);
          if (seen.firstSeen < entry.firstSeen) entry.firstSeen = seen.firstSeen;
          if (seen.lastSeen > entry.lastSeen) entry.lastSeen = seen.lastSeen;
        }
      }
    }
  }
  return [...byPolicy]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([policy, endpoints]) => ({
      policy,
      endpoints: [...endpoints.values()].map((entry) => ({ ...entry, jobs: entry.jobs.sort() })).sort((a, b) => (a.endpoint < b.endpoint ? -1 : 1)),
    }));
}
