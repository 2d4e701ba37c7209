/**
 * Harden-Runner as an enforcement target (docs/architecture.md#coverage): per leg of a job (each
 * runner it may get), whether the agent runs there, how the step gets its policy (literal
 * inputs, Actions variables, the job-started hook's env) and what the step evaluates to. The
 * job's answer is its weakest leg. Pure.
 */
import type { EgressMode } from '../policy/model.js';
import { POLICY_ENV } from '../policy/delivery.js';
import { OS_NAMES, type RunnerCandidate } from '../rollout/workflow-jobs.js';
import { clusterForRunner } from '../baselines/cluster.js';
import type { ClusterMapping } from '../policy/model.js';
import { classifyJob } from '../rollout/harden-runner-support.js';
import type { CoverageContext, EnforcementTarget, JobFacts, StepFacts, TargetAnswer } from './model.js';
import { evaluateStep, type StepContexts } from './step-inputs.js';

export const HARDEN_RUNNER_TARGET = 'harden-runner';

interface LegAnswer {
  mode: EgressMode | null;
  via?: string;
  reason?: string;
}

const RANK: Record<'none' | EgressMode, number> = { none: 0, audit: 1, block: 2 };

export function modeRank(mode: EgressMode | null | undefined): number {
  return RANK[mode ?? 'none'];
}

function reads(step: StepFacts, pattern: RegExp): boolean {
  return Object.values(step.with).some((value) => pattern.test(value));
}

const READS_VARS = /\bvars\./;
const READS_HOOK_ENV = new RegExp(`\\benv\\.${POLICY_ENV}\\b`);

/**
 * Does egressctl's job-started hook run on this self-hosted leg? Named in egressctl.yml
 * `hook-runners` (a label or runner group), or one of its ARC `clusters` (whose runners run the
 * hook with their cluster's name) takes the job, as the App maps `workflow_job` events to them.
 */
function hooked(candidate: RunnerCandidate, hookRunners: readonly string[], clusters: readonly ClusterMapping[]): boolean {
  const names = new Set(hookRunners.map((name) => name.toLowerCase()));
  if ((candidate.group !== undefined && names.has(candidate.group.toLowerCase())) || candidate.labels.some((label) => names.has(label.toLowerCase()))) return true;
  return clusterForRunner(clusters, { runnerGroup: candidate.group ?? null, labels: candidate.labels }) !== undefined;
}

/**
 * Why Harden-Runner's agent does not run on this GitHub-hosted leg at all (container,
 * `ubuntu-slim`, ARM), or undefined: the rollout's one classification
 * (src/rollout/harden-runner-support.ts), asked per leg.
 */
function hostedLegGap(candidate: RunnerCandidate, container: boolean): string | undefined {
  const runner = { candidates: [candidate], resolved: candidate.os !== undefined, os: candidate.os ? [candidate.os] : [], githubHosted: candidate.githubHosted };
  const support = classifyJob({ runner, container, containerExpression: false });
  return support.level === 'none' ? (support.gaps[0]?.reason ?? 'Harden-Runner does not run here') : undefined;
}

function legAnswer(job: JobFacts, candidate: RunnerCandidate, known: boolean, context: CoverageContext): LegAnswer {
  const gap = candidate.githubHosted ? hostedLegGap(candidate, job.container) : undefined;
  if (gap !== undefined) return { mode: null, reason: gap };
  const selfHosted = known && !candidate.githubHosted;
  const withHook = selfHosted && hooked(candidate, context.hookRunners, context.clusters);
  if (selfHosted && !withHook) {
    const labels = candidate.group ? `group ${candidate.group}` : candidate.labels.join(', ');
    return { mode: null, reason: `self-hosted runner (${labels}) without egressctl's job-started hook (egressctl.yml hook-runners or clusters)` };
  }
  const step = job.step;
  if (!step) return { mode: null, reason: 'no Harden-Runner step' };
  const env: Record<string, string> = {};
  if (withHook && context.hookValue !== undefined) env[POLICY_ENV] = context.hookValue;
  if (job.policyEnv) env[POLICY_ENV] = job.policyEnv.value;
  const os = candidate.os ?? 'linux';
  const contexts: StepContexts = { env, vars: context.variables, os };
  const evaluated = evaluateStep(step.with, contexts);
  const via = withHook && reads(step, READS_HOOK_ENV) ? 'hook' : reads(step, READS_VARS) ? 'variables' : 'inline';
  if (evaluated.mode === undefined) {
    return { mode: null, via, reason: 'egress-policy is neither audit nor block as evaluated here (Harden-Runner fails the step), or egressctl cannot evaluate it' };
  }
  if (candidate.githubHosted && os !== 'linux' && (evaluated.mode === 'block' || context.desired.mode === 'block')) {
    return { mode: 'audit', via, reason: `runs on hosted ${OS_NAMES[os]}: hosted Windows and macOS support audit only` };
  }
  if (evaluated.mode === 'audit') {
    return { mode: 'audit', via, reason: context.desired.mode === 'block' ? `the step says audit where the store says block (policy ${context.desired.policy ?? 'none'})` : 'audit mode: the policy observes, nothing is blocked' };
  }
  return { mode: 'block', via };
}

function caveatsOf(job: JobFacts, context: CoverageContext, legs: readonly LegAnswer[]): string[] {
  const caveats: string[] = [];
  if (!job.runner.resolved) caveats.push('runs-on is not known statically: counted as a GitHub-hosted Linux runner');
  if (job.containerExpression) caveats.push('container: is an expression: legs that get a container are not monitored');
  const step = job.step;
  if (step && !step.managedBy) caveats.push('a Harden-Runner step egressctl does not manage (no marker): sync keeps it as a floor');
  if (job.policyEnv) caveats.push(`EGRESSCTL_POLICY is set in the ${job.policyEnv.level}'s env: it overrides the Actions variables and the hook`);
  if (step?.setsPolicyEnv) caveats.push("EGRESSCTL_POLICY is set in the step's env");
  if (job.pullRequestTriggers.length > 0 && legs.some((leg) => leg.mode !== null)) {
    caveats.push(`on ${job.pullRequestTriggers.join(', ')} the run uses the pull request's copy of the workflow: its author controls the step for that run`);
    if (step && reads(step, READS_VARS)) {
      // Variables do not reach runs of pull requests from forks: the step's fallback literal applies.
      const fork = evaluateStep(step.with, { env: {}, vars: {}, os: 'linux' });
      const withVars = evaluateStep(step.with, { env: {}, vars: context.variables, os: 'linux' });
      if (modeRank(fork.mode) < modeRank(withVars.mode)) caveats.push(`pull requests from forks get no Actions variables: the step falls back to ${fork.mode ?? 'an invalid value'}`);
    }
  }
  return caveats;
}

export const hardenRunnerTarget: EnforcementTarget = {
  name: HARDEN_RUNNER_TARGET,
  files: [],
  answer(job: JobFacts, context: CoverageContext): TargetAnswer {
    const answer = (mode: EgressMode | null, reasons: string[], extra: Partial<TargetAnswer> = {}): TargetAnswer => ({ target: HARDEN_RUNNER_TARGET, mode, reasons, caveats: [], ...extra });
    if (job.calls !== undefined) {
      const local = job.calls.startsWith('./');
      return answer(null, [`calls a reusable workflow (${job.calls}): ${local ? "the called workflow's jobs are listed under its own file" : 'its jobs run from another repository'}`]);
    }
    if (job.noSteps) return answer(null, [job.noSteps]);
    if (context.desired.mode === 'skip' && !job.step) return answer(null, ['no policy attached and egressctl.yml says unattached: skip']);
    const candidates = job.runner.resolved && job.runner.candidates.length > 0 ? job.runner.candidates : [{ labels: [], githubHosted: true, os: 'linux' as const }];
    const legs = candidates.map((candidate) => legAnswer(job, candidate, job.runner.resolved, context));
    const weakest = legs.reduce((min, leg) => (modeRank(leg.mode) < modeRank(min.mode) ? leg : min));
    const reasons = [...new Set(legs.filter((leg) => modeRank(leg.mode) < RANK.block && leg.reason).map((leg) => leg.reason as string))];
    const vias = [...new Set(legs.flatMap((leg) => (leg.via && leg.mode !== null ? [leg.via] : [])))];
    return answer(weakest.mode, reasons, { ...(vias.length > 0 ? { via: vias.join(', ') } : {}), caveats: caveatsOf(job, context, legs) });
  },
};
