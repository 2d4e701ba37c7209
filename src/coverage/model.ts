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

/**
 * An Actions variable with one of egressctl's names that no attachment of the store owns, as it
 * exists on GitHub: sync keeps it (`retained`) while managed steps still fall back through it,
 * holding what they get now (docs/reconciliation.md, "Variables: writes, removal, drift"), or it
 * is left over (`unowned`) and a full sync with `delivery: variables` removes it.
 */
export interface UnownedVariable {
  name: string;
  /** Where it is set: `vars.NAME` resolves to the repository's over the organization's. */
  level: 'organization' | 'repository';
  /** The organization or `owner/repo`, lower-cased. */
  target: string;
  status: 'retained' | 'unowned';
  /** The policy its value names (its JSON's `policy`), when it names one. */
  policy?: string;
  /** A repository variable over an organization variable of the same name: what `vars.NAME` gives without it. */
  shadows?: string;
}

/**
 * The Actions variables a repository's runs get, with where each comes from: read from GitHub
 * (`coverage --org`), or as the sync that read the workflows left them.
 */
export interface RepositoryVariables {
  /** What `vars.NAME` resolves to, by upper-case name: the repository's variable over the organization's of the same name. */
  values: Readonly<Record<string, string>>;
  /** Those of `values` no attachment owns, by name: a job whose answer depends on one says so. */
  unowned: Readonly<Record<string, UnownedVariable>>;
  /** Why some are not known (a listing or a write that failed): those are counted as the store writes them, and rows that read variables say so. */
  unknown?: string[];
}

/** What the policy store says about the job, and how the repository is set up. */
export interface CoverageContext {
  /** `owner/repo` */
  repository: string;
  /** The store's desired state for the job's workflow file. */
  desired: DesiredWorkflowState;
  /**
   * The value each Actions variable holds for the repository's runs, by name: as it exists on
   * GitHub where the caller read it (`coverage --org`, a sync), else as the store writes it
   * (`delivery: variables`; workflow files on disk).
   */
  variables: Readonly<Record<string, string>>;
  /** Those of `variables` no attachment owns (retained during a migration, or left over), by name. */
  unowned: Readonly<Record<string, UnownedVariable>>;
  /** Why some variables are not known (counted as the store writes them). */
  variablesUnknown?: readonly string[];
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
  /** Variables no attachment owns that the answer depends on (without them the step would get something else). */
  dependsOn?: UnownedVariable[];
  /** The job gets less than the store says through such a variable (fail open): what, where and why. */
  failure?: string;
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
  /**
   * The job gets less than the store says through a variable no attachment owns (a retained one,
   * or one left over): a failure of the migration, never a state to leave. Absent: it does not.
   */
  failure?: string;
  /**
   * Where a sync recorded the row, what a sync can do about a failure: `variables`, the job no
   * longer fails open once every variable is as a sync writes it (a dry run found one missing or
   * edited); `workflow-file`, it still does, so its workflow file on the
   * default branch is what reads its policy through that variable (a person's edit of the step,
   * or the sync pull request that rewrites it not merged): no sync or retry changes it.
   */
  failureCause?: 'variables' | 'workflow-file';
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
