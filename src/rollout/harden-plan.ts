/**
 * Planners for hardenWorkflow: the same plan for every job, or per job from baselines
 * (docs/reconciliation.md, `unattached: baseline`: block with the stable baseline's endpoints; audit first while a job has no stable
 * baseline, so that it starts collecting one). Pure.
 */
import { findJob, type BaselineIndex } from '../baselines/recommend.js';
import type { EgressMode, HardenRunnerPin } from '../policy/model.js';
import type { HardenRunnerPlan, JobInfo, JobPlan, JobPlanner, SeenEndpoint } from './harden.js';

export type { SeenEndpoint } from './harden.js';

/** What a planner needs from a job's baseline (a subset of baselines' JobRecommendation). */
export interface BaselineEvidence {
  endpoints: readonly string[];
  /** Per endpoint: runs and last seen (evidence for a PR body). */
  seen?: readonly SeenEndpoint[];
  stable: boolean;
  runs: number;
  /** Runs needed without a new endpoint before the baseline counts as stable. */
  stableAfter?: number;
  lastSeen?: string;
}

/** Every job gets the same plan. */
export function uniformPlanner(plan: JobPlan): JobPlanner {
  return () => plan;
}

export interface BaselinePlannerOptions {
  pin: HardenRunnerPin;
  repin?: boolean;
  /** `audit` forces audit mode for every job; default: block where the baseline is stable. */
  mode?: EgressMode;
  /** The baseline of a job of this workflow, when there is one. */
  baselineOf: (job: JobInfo) => BaselineEvidence | undefined;
}

/** Block with the endpoints of a stable baseline; audit (collecting) otherwise. */
export function baselinePlanner(options: BaselinePlannerOptions): JobPlanner {
  return (job) => {
    const base = { kind: 'harden-runner' as const, pin: options.pin, ...(options.repin ? { repin: true } : {}) };
    const evidence = options.baselineOf(job);
    let plan: HardenRunnerPlan;
    if (options.mode === 'audit') {
      plan = { ...base, mode: 'audit', note: 'audit mode requested' };
    } else if (!evidence) {
      plan = { ...base, mode: 'audit', note: 'no baseline yet: audit mode to start collecting one' };
    } else if (!evidence.stable) {
      const needed = evidence.stableAfter === undefined ? '' : ` (${evidence.stableAfter} runs without a new endpoint needed)`;
      plan = { ...base, mode: 'audit', note: `baseline not stable yet after ${evidence.runs} run${evidence.runs === 1 ? '' : 's'}${needed}: audit mode` };
    } else {
      const last = evidence.lastSeen ? `, last seen ${evidence.lastSeen}` : '';
      plan = {
        ...base,
        mode: 'block',
        endpoints: [...evidence.endpoints],
        note: `stable baseline: ${evidence.endpoints.length} endpoint${evidence.endpoints.length === 1 ? '' : 's'} from ${evidence.runs} run${evidence.runs === 1 ? '' : 's'}${last}`,
      };
    }
    return plan;
  };
}

/** A `baselineOf` for `baselinePlanner` reading the jobs of one workflow file from a baselines index. */
export function evidenceFromIndex(index: BaselineIndex, repository: string, workflowPath: string): (job: JobInfo) => BaselineEvidence | undefined {
  return (job) => {
    const found = findJob(index, { repository: repository.toLowerCase(), workflowPath, job: job.id });
    if (!found) return undefined;
    return {
      endpoints: found.endpoints,
      seen: found.evidence.filter((item) => item.kind === 'endpoint').map((item) => ({ endpoint: item.endpoint, runs: item.runs, lastSeen: item.lastSeen })),
      stable: found.stable,
      runs: found.runs,
      stableAfter: found.stableAfter,
      ...(found.lastSeen ? { lastSeen: found.lastSeen } : {}),
    };
  };
}
