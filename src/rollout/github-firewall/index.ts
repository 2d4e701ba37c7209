/**
 * GitHub's native egress firewall as an enforcement target (docs/github-firewall.md): the format
 * (format.ts, the one place that names it), the mapping from the store (map.ts), the file
 * (file.ts), the runner label (runs-on.ts), the decisions artifact (decisions.ts) and the
 * target's part of a sync (plan.ts).
 */
export * from './format.js';
export { desiredFirewall, repositoryFirewall, type DesiredFirewall, type FirewallAnswer, type FirewallFinding, type FirewallFindingCode, type FirewallInput, type FirewallSource } from './map.js';
export {
  ALLOW_ADDED_PREFIX,
  contentChanges,
  decideFirewallFile,
  readFirewallFile,
  renderFirewallFile,
  sameContent,
  weakerThan,
  type ExistingFirewallFile,
  type FirewallFileAction,
  type FirewallFileContent,
  type FirewallFileDecision,
} from './file.js';
export { labelRefusal, moveToFirewallRunner, type RunnerMove, type RunsOnResult } from './runs-on.js';
export { endpointOfUrl, parseFirewallDecisions, type FirewallDecisions } from './decisions.js';
export { planFirewallTarget, type FirewallTargetInput, type FirewallTargetReport } from './plan.js';
export { firewallJobAnswer, firewallTamperFindings, type FirewallJobAnswer, type FirewallTamperFinding } from './enforcement.js';
