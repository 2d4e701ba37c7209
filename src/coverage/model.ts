/**
 * Coverage (docs/architecture.md#coverage): per job, what enforces its egress policy, in which
 * mode, and why not where nothing does. Every enforcement target answers the same question
 * through `EnforcementTarget`; the answers are combined per job. Pure types.
 */
import type { ClusterMapping, EgressMode } from '../policy/model.js';
import type { DesiredWorkflowState } from '../rollout/desired-state.js';
import type { RunnerInfo } from '../rollout/workflow-jobs.js';

/** A Harden-Runner step as the workflow file has it (the first of its job). */
export interface StepFacts {
  uses: string;
  /** String-valued `with:` inputs as written (expressions unevaluated). */
  with: Record<string, string>;
  /** The managed marker (docs/reconciliation.md#the-marker); undefined: a person's step. */
  managedBy?: { policy: string | null };
  /** 1-based line of the step. */
  line: number;
  /** The step sets `EGRESSCTL_POLICY` in its own `env:`. */
  setsPolicyEnv: boolean;
}

/** What the workflow file says about one job, as far as enforcement cares. */
export interface JobFacts {
  /** `.github/workflows/F` */
  file: string;
  job: string;
  line: number;
  runner: RunnerInfo;
  container: boolean;
  /** `container:` is an expression: some legs may run in a container. */
  containerExpression: boolean;
  /** Job-level `uses:`: the reusable workflow it calls. */
  calls?: string;
  /** Why the job has no steps to enforce in (no steps, not a mapping...), when it has none. */
  noSteps?: string;
  step?: StepFacts;
  /** `EGRESSCTL_POLICY` set in the workflow's or the job's `env:` (read before any variable). */
  policyEnv?: { level: 'workflow' | 'job'; value: string };
  /** Triggers that run the workflow file from a pull request's own copy (`pull_request`, ...). */
  pullRequestTriggers: string[];
}

/** What the policy store says about the job, and how the repository is set up. */
export interface CoverageContext {
  /** `owner/repo` */
  repository: string;
  /** The store's desired state for the job's workflow file. */
  desired: DesiredWorkflowState;
  /** The value each Actions variable holds as the store writes it (`delivery: variables`), by name. */
  variables: Readonly<Record<string, string>>;
  /** Self-hosted runner labels or group names whose runners run egressctl's job-started hook. */
  hookRunners: readonly string[];
  /** ARC clusters (egressctl.yml `clusters`): their runners run the hook too. */
  clusters: readonly ClusterMapping[];
  /** Labels of larger runners on GitHub's firewall image (egressctl.yml `github-firewall.larger-runners`), lower-cased. */
  firewallLargerRunners?: readonly string[];
  /** The job-started hook's `EGRESSCTL_POLICY` for this workflow (the store's effective policy as JSON). */
  hookValue: string | undefined;
  /** Repository files a target declared it reads (`EnforcementTarget.files`), by path; absent: the file does not exist. */
  files: Readonly<Record<string, string>>;
}

/** One target's answer for a job. */
export interface TargetAnswer {
  /** The target's name, e.g. `harden-runner`. */
  target: string;
  /** How it gets its policy, e.g. `inline`, `variables`, `hook`. */
  via?: string;
  /** What it enforces on the job's weakest leg; null: nothing. */
  mode: EgressMode | null;
  /** Why not block (or why nothing), for a person. */
  reasons: string[];
  /** The job may run somewhere this answer does not hold (caveats that keep the mode). */
  caveats: string[];
}

/**
 * An enforcement target: Harden-Runner today, GitHub's egress firewall (docs/architecture.md,
 * "GitHub's native egress firewall") as the next one. Coverage asks each: for this job, what do
 * you enforce, and why not.
 */
export interface EnforcementTarget {
  readonly name: string;
  /** Repository files the target reads (e.g. `.github/egress-firewall.yaml`); the edges fetch them into `CoverageContext.files`. */
  readonly files: readonly string[];
  answer(job: JobFacts, context: CoverageContext): TargetAnswer;
}

/** The mode a job gets, `none` when nothing enforces. */
export type CoverageMode = EgressMode | 'none';

/** One row of `egressctl coverage`. */
export interface JobCoverage {
  repository: string;
  file: string;
  job: string;
  line: number;
  /** Targets that enforce something here, e.g. `harden-runner (inline)`; empty: nothing. */
  enforcedBy: string[];
  mode: CoverageMode;
  /** Why not block, or why nothing enforces (null: block, no caveat). */
  reason: string | null;
  /** The policy the store applies to the job's workflow (null: none attached). */
  policy: string | null;
  /** Every target's own answer. */
  targets: TargetAnswer[];
}

export interface CoverageTotals {
  jobs: number;
  block: number;
  audit: number;
  unprotected: number;
}

/** A workflow file that could not be read as a workflow. */
export interface FileProblem {
  repository: string;
  file: string;
  message: string;
}

/** One repository's coverage as last computed (kept in the sync report's state, `sync-report.json`). */
export interface RepositoryCoverage {
  /** ISO time the workflow files were read. */
  at: string;
  jobs: JobCoverage[];
  problems: FileProblem[];
}
