/**
 * Baselines (docs/architecture.md#baselines): observed endpoints per job, from Harden-Runner logs or endpoint lists,
 * merged into `baselines/<owner>/<repo>.yml`, turned into recommendations. The public API.
 */
export {
  BASELINE_SCHEMA_COMMENT,
  JOB_ID_PATTERN,
  MAX_BASELINE_FILE_BYTES,
  MAX_NAMES_PER_RUN,
  RECENT_RUNS_LIMIT,
  blockedName,
  WORKFLOW_PATH_PATTERN,
  baselinePath,
  classifyObserved,
  contentRunId,
  emptyBaselineFile,
  emptyJobBaseline,
  jobKeyOf,
  normalizeTimestamp,
  parseJobKey,
  parseWorkflowKey,
  repositoryFromBaselinePath,
  workflowKeyOf,
  workflowPathIn,
  type BaselineFile,
  type EvidenceKind,
  type Growth,
  type JobBaseline,
  type JobRef,
  type Observation,
  type SeenStats,
} from './model.js';
export { SINKHOLE_ADDRESS, parseHardenRunnerLog, type AgentLogEvidence } from './log.js';
export { parseEndpointList } from './list.js';
export { mergeObservation, mergeObservations, type MergeOutcome, type MergedRun, type SkippedRun } from './merge.js';
export { BASELINE_SCHEMA_URL, parseBaselineFile } from './parse.js';
export { mergeBaselineText, type BaselineTextMerge, type BaselineTextOutcome } from './merge-text.js';
export { mergeBaselineTextOffThread, mergeWorkerLimit, mergeWorkerPool, MergeWorkerPool, WORKER_THRESHOLD_BYTES, type MergePoolStats } from './merge-thread.js';
export { baselineToPlain, oversizeProblem, renderBaselineFile } from './render.js';
export {
  buildBaselineIndex,
  clustersIn,
  endpointsFromSelector,
  forCluster,
  jobsOnCluster,
  findJob,
  indexBaselineTexts,
  parseBaselineSelector,
  recommendFile,
  recommendJob,
  selectJobs,
  type BaselineIndex,
  type BaselineSelector,
  type ClusterRuns,
  type EndpointEvidence,
  type EvidenceKindName,
  type JobRecommendation,
  type RecommendOptions,
  type SelectorOptions,
} from './recommend.js';
export {
  mergeIntoBaselineDir,
  readBaselineIndex,
  readBaselineTexts,
  readStableAfterRuns,
  readStoredBaseline,
  type StoredBaseline,
  type StoredMerge,
} from './store.js';
