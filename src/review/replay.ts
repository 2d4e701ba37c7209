/**
 * The "what if" replay behind `egressctl test --baselines` (docs/architecture.md#policy-tests):
 * every endpoint each baseline job was seen using, asked of the effective policy of that job's
 * workflow at one revision and time. Unlike the review's breakage forecast it needs no base
 * revision: it lists everything the policy would block now, the breakage a CI run can fail on.
 * Pure.
 */
import type { BaselineIndex } from '../baselines/index.js';
import { scopeEvaluations, type Decision, type PolicyStore } from '../policy/policy-tests.js';

export interface JobReplay {
  repository: string;
  workflow: string;
  job: string;
  /** `owner/repo/.github/workflows/F#job` */
  key: string;
  decision: Decision;
  /** Observed endpoints it checked. */
  observed: number;
  /** Observed endpoints the policy would block, sorted, with how many runs saw each. */
  blocked: { endpoint: string; runs: number }[];
}

export interface BaselineReplay {
  jobs: JobReplay[];
  /** Jobs with at least one blocked endpoint. */
  breaking: JobReplay[];
  endpointsChecked: number;
  endpointsBlocked: number;
}

export function replayBaselines(index: BaselineIndex, store: PolicyStore, at: Date | number): BaselineReplay {
  const jobs: JobReplay[] = [];
  // One resolution per workflow: its jobs and their observed endpoints all ask the same policy.
  const evaluationOf = scopeEvaluations(store);
  for (const [repository, file] of [...index.files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    for (const [workflow, workflowJobs] of [...file.workflows].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      for (const [job, baseline] of [...workflowJobs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        const scope = evaluationOf({ repository, workflow }, at);
        const blocked: JobReplay['blocked'] = [];
        for (const [endpoint, seen] of [...baseline.endpoints].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
          if (scope.evaluate(endpoint).allowedBy === undefined) blocked.push({ endpoint, runs: seen.runs });
        }
        const decision = scope.decision;
        jobs.push({ repository, workflow, job, key: `${repository}/${workflow}#${job}`, decision, observed: baseline.endpoints.size, blocked });
      }
    }
  }
  const breaking = jobs.filter((job) => job.blocked.length > 0);
  return {
    jobs,
    breaking,
    endpointsChecked: jobs.reduce((sum, job) => sum + job.observed, 0),
    endpointsBlocked: breaking.reduce((sum, job) => sum + job.blocked.length, 0),
  };
}
