/**
 * Harden-Runner as an enforcement target (docs/architecture.md#coverage): per leg of a job (each
 * runner it may get), whether the agent runs there, how the step gets its policy (literal
 * inputs, Actions variables, the job-started hook's env) and what the step evaluates to, with the
 * variables that exist: where its inputs come from one no attachment owns (retained during a
 * migration, or left over) it says so, and getting less than the store through one is a failure.
 * The job's answer is its weakest leg. Pure.
 */
import type { EgressMode } from '../policy/model.js';
import { POLICY_ENV } from '../policy/delivery.js';
import { OS_NAMES, type RunnerCandidate } from '../rollout/workflow-jobs.js';
import { clusterForRunner } from '../baselines/cluster.js';
import type { ClusterMapping } from '../policy/model.js';
import { classifyJob } from '../rollout/harden-runner-support.js';
import type { CoverageContext, EnforcementTarget, JobFacts, StepFacts, TargetAnswer, UnownedVariable } from './model.js';
import { evaluateStep, type EvaluatedStep, type StepContexts } from './step-inputs.js';

export const HARDEN_RUNNER_TARGET = 'harden-runner';

interface LegAnswer {
  mode: EgressMode | null;
  via?: string;
  reason?: string;
  /** The answer comes through variables no attachment owns: which, and the caveat that says so. */
  dependency?: { variables: UnownedVariable[]; caveat: string };
  /** Less than the store says, through such a variable. */
  failure?: string;
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
  const contexts: StepContexts = { env, vars: context.variables, os, environment: selfHosted ? 'self-hosted' : 'github-hosted' };
  const evaluated = evaluateStep(step.with, contexts);
  const via = withHook && reads(step, READS_HOOK_ENV) ? 'hook' : reads(step, READS_VARS) ? 'variables' : 'inline';
  if (evaluated.mode === undefined) {
    return { mode: null, via, reason: 'egress-policy is neither audit nor block as evaluated here (Harden-Runner fails the step), or egressctl cannot evaluate it' };
  }
  // Hosted Windows and macOS audit only: there the store asks for audit at most.
  const auditOnly = candidate.githubHosted && os !== 'linux';
  const dependent = (answer: LegAnswer): LegAnswer => withDependency(answer, step, contexts, evaluated, context, auditOnly);
  if (auditOnly && (evaluated.mode === 'block' || context.desired.mode === 'block')) {
    return dependent({ mode: 'audit', via, reason: `runs on hosted ${OS_NAMES[os]}: hosted Windows and macOS support audit only` });
  }
  if (evaluated.mode === 'audit') {
    return dependent({ mode: 'audit', via, reason: context.desired.mode === 'block' ? `the step says audit where the store says block (policy ${context.desired.policy ?? 'none'})` : 'audit mode: the policy observes, nothing is blocked' });
  }
  return dependent({ mode: 'block', via });
}

/** The same inputs as the agent reads them. */
function sameEvaluation(a: EvaluatedStep, b: EvaluatedStep): boolean {
  return a.mode === b.mode && a.endpoints.join(' ') === b.endpoints.join(' ') && a.disableSudo === b.disableSudo && a.disableFileMonitoring === b.disableFileMonitoring;
}

function describeEvaluation(step: EvaluatedStep): string {
  if (step.mode === undefined) return 'an invalid egress-policy (Harden-Runner fails the step)';
  if (step.mode === 'audit') return 'audit';
  return `block with ${step.endpoints.length} endpoint${step.endpoints.length === 1 ? '' : 's'}`;
}

/** `retained EGRESSCTL_POLICY (repository variable of acme/api, holding policy api-block)`. */
function describeUnowned(variable: UnownedVariable): string {
  const where = `${variable.level} variable of ${variable.target}${variable.policy !== undefined ? `, holding policy ${variable.policy}` : ''}`;
  return variable.status === 'retained' ? `retained ${variable.name} (${where})` : `${variable.name} (${where}, which no attachment owns)`;
}

/**
 * How a step that evaluates to `evaluated` gets less than the store's desired state: a weaker
 * mode, endpoints the store does not allow, sudo or file monitoring the store turns off or on.
 * `auditOnly`: a hosted Windows or macOS leg, where the store's block is audit. Undefined: not
 * less (or the store decides nothing here: `skip`, `baseline`).
 */
function lessThanStore(evaluated: EvaluatedStep, desired: CoverageContext['desired'], auditOnly: boolean): string | undefined {
  if (desired.mode !== 'block' && desired.mode !== 'audit') return undefined;
  // Neither audit nor block: Harden-Runner fails the step, so the job fails; nothing runs unguarded.
  if (evaluated.mode === undefined) return undefined;
  const wanted = auditOnly ? 'audit' : desired.mode;
  if (modeRank(evaluated.mode) < modeRank(wanted)) return evaluated.mode;
  const less: string[] = [];
  if (evaluated.mode === 'block' && wanted === 'block') {
    const allowed = new Set(desired.endpoints);
    const extra = evaluated.endpoints.filter((endpoint) => !allowed.has(endpoint));
    if (extra.length > 0) less.push(`block allowing ${extra.join(' ')}`);
  }
  if (!auditOnly && (desired.flags['disable-sudo-and-containers'] === true || desired.flags['disable-sudo'] === true) && !evaluated.disableSudo) less.push('sudo kept');
  if (!auditOnly && desired.flags['disable-file-monitoring'] !== true && evaluated.disableFileMonitoring) less.push('file monitoring off');
  return less.length > 0 ? less.join(', ') : undefined;
}

/**
 * A policy value unlike `value` in every input the agent reads (the other mode, other endpoints,
 * the flags turned over): a step whose inputs change when a variable holds it instead reads them
 * from that variable. Not a value anyone writes.
 */
function unlike(value: string): string {
  let parsed: Record<string, unknown> = {};
  try {
    const read: unknown = JSON.parse(value);
    if (typeof read === 'object' && read !== null) parsed = read as Record<string, unknown>;
  } catch {
    // Not ours: anything valid differs from it.
  }
  return JSON.stringify({
    'egress-policy': parsed['egress-policy'] === 'block' ? 'audit' : 'block',
    'allowed-endpoints': 'egressctl-probe.invalid:443',
    'disable-sudo-and-containers': parsed['disable-sudo-and-containers'] !== true,
    'disable-file-monitoring': parsed['disable-file-monitoring'] !== true,
    'disable-telemetry': false,
  });
}

/**
 * The leg's answer with what it owes to variables no attachment owns (a retained one during a
 * migration, or one left over): those the step's inputs come from here, found by GitHub's
 * expression engine (the step gets something else when one holds another value), so the hook's
 * env on a self-hosted runner, an earlier variable of the chain or the OS rule that decide first
 * leave it out. Said with what the step would get without them (the organization's variable of
 * the same name, as GitHub resolves `vars`, else the rest of the chain); getting less than the
 * store through one is a failure.
 */
function withDependency(answer: LegAnswer, step: StepFacts, contexts: StepContexts, evaluated: EvaluatedStep, context: CoverageContext, auditOnly: boolean): LegAnswer {
  const answering = Object.keys(context.unowned).filter((name) => {
    const value = contexts.vars[name];
    if (value === undefined || value === '') return false;
    return !sameEvaluation(evaluated, evaluateStep(step.with, { ...contexts, vars: { ...contexts.vars, [name]: unlike(value) } }));
  });
  const variables = answering.map((name) => context.unowned[name]).filter((variable): variable is UnownedVariable => variable !== undefined);
  if (variables.length === 0) return answer;
  const remaining = Object.entries(contexts.vars).flatMap(([name, value]): [string, string][] => {
    if (!answering.includes(name)) return [[name, value]];
    const beneath = context.unowned[name]?.shadows;
    return beneath !== undefined ? [[name, beneath]] : [];
  });
  const without = describeEvaluation(evaluateStep(step.with, { ...contexts, vars: Object.fromEntries(remaining) }));
  const through = variables.map(describeUnowned).join(' and ');
  const retained = variables.every((variable) => variable.status === 'retained');
  const pending = retained ? 'pending removal: sync removes it once no managed step falls back through it' : 'a full sync with delivery: variables removes it';
  const less = lessThanStore(evaluated, context.desired, auditOnly);
  if (less !== undefined) {
    // The failure says what the caveat would, and more.
    return { ...answer, dependency: { variables, caveat: '' }, failure: `${less} through ${through} where the store says ${context.desired.mode} (policy ${context.desired.policy ?? 'none'}); without it the step would get ${without}` };
  }
  return { ...answer, dependency: { variables, caveat: `${answer.mode ?? 'nothing'} via ${through}, ${pending}; without it the step would get ${without}` } };
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
  if (step && reads(step, READS_VARS) && context.variablesUnknown && context.variablesUnknown.length > 0) {
    caveats.push(`Actions variables not known (${context.variablesUnknown.join('; ')}): counted as the store writes them`);
  }
  for (const leg of legs) if (leg.dependency && leg.dependency.caveat !== '') caveats.push(leg.dependency.caveat);
  return [...new Set(caveats)];
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
    const dependsOn = new Map(legs.flatMap((leg) => leg.dependency?.variables ?? []).map((variable) => [`${variable.level}:${variable.name}`, variable]));
    const failures = [...new Set(legs.flatMap((leg) => (leg.failure !== undefined ? [leg.failure] : [])))];
    return answer(weakest.mode, reasons, {
      ...(vias.length > 0 ? { via: vias.join(', ') } : {}),
      caveats: caveatsOf(job, context, legs),
      ...(dependsOn.size > 0 ? { dependsOn: [...dependsOn.values()] } : {}),
      ...(failures.length > 0 ? { failure: failures.join('; ') } : {}),
    });
  },
};
