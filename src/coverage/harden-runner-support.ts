/**
 * Can Harden-Runner enforce on this runner? Per runner candidate (one leg of a job), from
 * Harden-Runner's own `pre:` step (step-security/harden-runner `src/setup.ts` and
 * `src/install-agent.ts`, checked at b09bb98e, v2.21-era):
 *
 * - GitHub-hosted and inside a container (`isGithubHosted() && isDocker()`): returns early with
 *   CONTAINER_MESSAGE, nothing monitored.
 * - GitHub-hosted Linux without `USER` in the environment: returns early with UBUNTU_SLIM_MESSAGE;
 *   that is the `ubuntu-slim` image (label `ubuntu-slim`).
 * - Windows on ARM64 (`windows-11-arm`): `installWindowsAgent` stops with
 *   ARM64_WINDOWS_RUNNER_MESSAGE.
 * - Linux on ARM64 (`ubuntu-24.04-arm`, `ubuntu-22.04-arm`): the agent installs only when the
 *   owner has StepSecurity's TLS inspection (its enterprise tier); otherwise ARM64_RUNNER_MESSAGE
 *   and nothing is monitored. egressctl cannot see the tier, so it says so and counts the leg as
 *   unprotected (fail closed).
 *
 * Kept to this one module so that the rollout's own classification can share it.
 */
import type { RunnerCandidate } from '../rollout/workflow-jobs.js';

export type UnsupportedCode = 'container' | 'ubuntu-slim' | 'windows-arm' | 'linux-arm';

export type LegSupport = { supported: true } | { supported: false; code: UnsupportedCode; reason: string };

export const UNSUPPORTED_REASONS: Record<UnsupportedCode, string> = {
  container: 'runs in a container on a GitHub-hosted runner: Harden-Runner skips itself there',
  'ubuntu-slim': 'runs on ubuntu-slim: Harden-Runner does not run there ("This job will not be monitored")',
  'windows-arm': 'runs on Windows on ARM64: Harden-Runner does not support it yet',
  'linux-arm': "runs on a Linux ARM64 runner: Harden-Runner's community tier does not monitor ARM runners (only with StepSecurity's enterprise TLS inspection)",
};

function unsupported(code: UnsupportedCode): LegSupport {
  return { supported: false, code, reason: UNSUPPORTED_REASONS[code] };
}

/** Whether Harden-Runner's agent runs on this leg (`container`: the job runs in a container there). */
export function hardenRunnerSupport(candidate: RunnerCandidate, container: boolean): LegSupport {
  if (!candidate.githubHosted) return { supported: true };
  if (container) return unsupported('container');
  const labels = candidate.labels.map((label) => label.toLowerCase());
  if (labels.some((label) => label === 'ubuntu-slim' || label.startsWith('ubuntu-slim'))) return unsupported('ubuntu-slim');
  if (labels.some((label) => /^windows-[\w.-]*arm/.test(label))) return unsupported('windows-arm');
  if (labels.some((label) => /^ubuntu-[\w.-]*-arm$/.test(label))) return unsupported('linux-arm');
  return { supported: true };
}
