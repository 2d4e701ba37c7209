/**
 * Where Harden-Runner cannot enforce, and why (docs/reconciliation.md, "Where nothing enforces"):
 * the one place that knows which runners and job kinds Harden-Runner skips, so that `harden`,
 * `sync`, `coverage` and the GitHub firewall work agree. Pure: a job's analysis in, data out.
 *
 * From step-security/harden-runner `src/setup.ts` (main, 2026-08) and `src/install-agent.ts`:
 * on a GitHub-hosted runner setup returns early, "This job will not be monitored", when it runs
 * in a container (`isDocker()`), and on Linux without `USER` (`ubuntu-slim`, UBUNTU_SLIM_MESSAGE);
 * the community tier's Linux agent is amd64 only (ARM64_RUNNER_MESSAGE) and there is no Windows
 * ARM agent (ARM64_WINDOWS_RUNNER_MESSAGE). Hosted Windows and macOS get an audit agent. On a
 * self-hosted runner setup installs nothing (unless `deploy-on-self-hosted-vm` with an enterprise
 * agent): there egressctl's job-started hook, or Harden-Runner's ARC daemon, is what enforces.
 */
import type { EgressMode } from '../policy/model.js';
import type { JobAnalysis, RunnerCandidate } from './workflow-jobs.js';

/** Why Harden-Runner does not enforce (all of) a job. */
export type SupportGapCode =
  | 'reusable-workflow'
  | 'container'
  | 'ubuntu-slim'
  | 'linux-arm64'
  | 'windows-arm64'
  | 'audit-only-os'
  | 'self-hosted'
  | 'unknown-runner';

export interface SupportGap {
  code: SupportGapCode;
  /** One sentence for reports: what is not enforced and why. */
  reason: string;
  /** True when only some legs of the job (matrix, expression) are affected. */
  partial: boolean;
  /** The runner labels concerned, when the gap comes from a label. */
  labels?: string[];
}

/**
 * What Harden-Runner written into the job's workflow can do for it:
 * - `block`: every leg can enforce block mode;
 * - `audit`: every leg is monitored, some in audit only (hosted Windows/macOS);
 * - `none`: Harden-Runner skips itself on every leg (or the job has no steps of its own);
 * - `partial`: some legs are enforced, others not (see `gaps`);
 * - `hook`: a self-hosted runner: only egressctl's job-started hook (or Harden-Runner's ARC or VM
 *   agent) enforces, which the workflow file cannot tell.
 */
export type SupportLevel = 'block' | 'audit' | 'none' | 'partial' | 'hook';

export interface JobSupport {
  level: SupportLevel;
  gaps: SupportGap[];
}

/** The analysis a classification needs (`analyzeJob` in workflow-jobs.ts gives it). */
export type SupportInput = Pick<JobAnalysis, 'runner' | 'container' | 'containerExpression'> & { skip?: Pick<NonNullable<JobAnalysis['skip']>, 'code'> };

/** Labels of GitHub-hosted runners Harden-Runner skips, and why. Exact label names, lower-case. */
const SKIPPED_HOSTED_LABELS: ReadonlyArray<{ test: (label: string) => boolean; code: SupportGapCode; reason: string }> = [
  {
    test: (label) => label === 'ubuntu-slim',
    code: 'ubuntu-slim',
    reason: 'ubuntu-slim: Harden-Runner does not run there ("This job will not be monitored"), so the job is unprotected',
  },
  {
    // GitHub's hosted Linux ARM images: ubuntu-24.04-arm, ubuntu-22.04-arm.
    test: (label) => /^ubuntu-[0-9.]+-arm$/.test(label) || label === 'ubuntu-latest-arm',
    code: 'linux-arm64',
    reason: "Linux ARM runner: Harden-Runner's community-tier agent is amd64 only and skips itself (its enterprise tier runs there)",
  },
  {
    test: (label) => /^windows-[0-9.]+-arm$/.test(label) || label === 'windows-latest-arm',
    code: 'windows-arm64',
    reason: 'Windows ARM runner: Harden-Runner has no agent for it and skips itself, so the job is unprotected',
  },
];

function hostedLabelGap(candidate: RunnerCandidate): (typeof SKIPPED_HOSTED_LABELS)[number] | undefined {
  if (!candidate.githubHosted) return undefined;
  for (const label of candidate.labels) {
    const found = SKIPPED_HOSTED_LABELS.find((entry) => entry.test(label.toLowerCase()));
    if (found) return found;
  }
  return undefined;
}

/** What Harden-Runner can do on one leg of a job. */
type LegLevel = 'block' | 'audit' | 'none' | 'hook' | 'unknown';

/**
 * The per-job classification: what Harden-Runner, as written into the job's workflow, can
 * enforce there, and every reason it cannot. `mode`: the mode the job should get; with `block`,
 * hosted Windows/macOS legs are reported as audit only.
 */
export function classifyJob(job: SupportInput, mode?: EgressMode): JobSupport {
  if (job.skip?.code === 'reusable-workflow') {
    return {
      level: 'none',
      gaps: [{ code: 'reusable-workflow', partial: false, reason: 'calls a reusable workflow: the called workflow\'s own jobs are what Harden-Runner can protect' }],
    };
  }
  const gaps: SupportGap[] = [];
  const legs: LegLevel[] = [];
  const candidates = job.runner.candidates;
  const byCode = new Map<SupportGapCode, { reason: string; labels: Set<string>; count: number }>();
  const note = (code: SupportGapCode, reason: string, labels: readonly string[] = []): void => {
    const entry = byCode.get(code) ?? { reason, labels: new Set<string>(), count: 0 };
    for (const label of labels) entry.labels.add(label);
    entry.count++;
    byCode.set(code, entry);
  };
  for (const candidate of candidates) {
    const skipped = hostedLabelGap(candidate);
    if (skipped) {
      note(skipped.code, skipped.reason, candidate.labels);
      legs.push('none');
    } else if (candidate.os === undefined) {
      note('unknown-runner', 'the runner is an expression egressctl cannot resolve: some legs may be where Harden-Runner does not run', candidate.labels);
      legs.push('unknown');
    } else if (!candidate.githubHosted) {
      note(
        'self-hosted',
        "self-hosted runner: Harden-Runner installs no agent there; only egressctl's job-started hook (or Harden-Runner's ARC or VM agent) enforces",
        candidate.labels,
      );
      legs.push('hook');
    } else if (candidate.os !== 'linux') {
      if (mode === 'block') note('audit-only-os', 'hosted Windows and macOS support audit only: those legs are audited, not blocked', candidate.labels);
      legs.push('audit');
    } else legs.push('block');
  }
  if (candidates.length === 0) {
    note('unknown-runner', 'runs-on is missing or cannot be resolved: egressctl cannot tell whether Harden-Runner runs there');
    legs.push('unknown');
  }
  for (const [code, entry] of byCode) {
    gaps.push({ code, reason: entry.reason, partial: entry.count < Math.max(candidates.length, 1), ...(entry.labels.size > 0 ? { labels: [...entry.labels].sort() } : {}) });
  }
  if (job.container) {
    gaps.unshift({
      code: 'container',
      partial: job.containerExpression,
      reason: job.containerExpression
        ? 'container: is an expression: legs that run in a container are unprotected (Harden-Runner skips itself inside containers)'
        : 'runs in a container: Harden-Runner skips itself inside containers, so this job is unprotected on GitHub-hosted runners',
    });
    // On a GitHub-hosted leg the container makes it unprotected; on a self-hosted one the hook still applies.
    for (const [index, leg] of legs.entries()) if (leg === 'block' || leg === 'audit') legs[index] = job.containerExpression ? 'unknown' : 'none';
  }
  return { level: levelOf(legs), gaps };
}

function levelOf(legs: readonly LegLevel[]): SupportLevel {
  const kinds = new Set(legs);
  if (kinds.size === 1) {
    const only = legs[0] ?? 'unknown';
    return only === 'unknown' ? 'partial' : only;
  }
  // Block and audit legs: every leg is monitored, some in audit only.
  if (!kinds.has('none') && !kinds.has('unknown') && !kinds.has('hook')) return 'audit';
  return 'partial';
}

/** Gaps worth a line in a job's report: everything but the OS note (the mode's own reason says that). */
export function unprotectedReasons(support: JobSupport): string[] {
  return support.gaps.filter((gap) => gap.code !== 'audit-only-os' && gap.code !== 'self-hosted' && gap.code !== 'unknown-runner').map((gap) => gap.reason);
}
