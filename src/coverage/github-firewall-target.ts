/**
 * GitHub's egress firewall as an enforcement target of coverage (docs/architecture.md#coverage):
 * the firewall's own answer (src/rollout/github-firewall/enforcement.ts, docs/github-firewall.md)
 * through the one interface every target answers. It reads the repository's
 * `.github/egress-firewall.yaml`, which the I/O edges fetch because the target declares it.
 */
import { firewallJobAnswer } from '../rollout/github-firewall/enforcement.js';
import { FIREWALL_FILE, runsBehindFirewall } from '../rollout/github-firewall/format.js';
import type { EnforcementTarget } from './model.js';

export const GITHUB_FIREWALL_TARGET = 'github-firewall';

export const githubFirewallTarget: EnforcementTarget = {
  name: GITHUB_FIREWALL_TARGET,
  files: [FIREWALL_FILE],
  answer(job, context) {
    const file = context.files[FIREWALL_FILE];
    const answer = firewallJobAnswer(job, file, context.firewallLargerRunners);
    // A repository that has not adopted the firewall (no file, no job on its runner): no reason to list on every job.
    const adopted = file !== undefined || job.runner.candidates.some((candidate) => runsBehindFirewall(candidate.labels, context.firewallLargerRunners));
    return { target: GITHUB_FIREWALL_TARGET, mode: answer.mode, reasons: adopted ? answer.reasons : [], caveats: adopted ? answer.caveats : [] };
  },
};
