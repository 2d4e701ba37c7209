/**
 * Merging job runs into a baseline file. Pure: the input file is never modified (copy-on-write
 * per touched job, so merging a batch of many runs into a large file costs the runs, not the file).
 *
 * Counts are order-independent: `runs` per endpoint is how many merged runs saw it, `firstSeen`
 * and `lastSeen` are the minimum and maximum run times. `lastGrowth` is inherently about arrival
 * order: the run (as the job's n-th merged run) that added a recommendable endpoint.
 */
import { parseEndpoint } from '../policy/endpoint.js';
import { scopeKeyProblem } from '../policy/scope-keys.js';
import { InvalidInputError } from '../util/errors.js';
import {
  MAX_NAMES_PER_RUN,
  RECENT_RUNS_LIMIT,
  blockedName,
  classifyObserved,
  emptyJobBaseline,
  normalizeTimestamp,
  workflowPathIn,
  JOB_ID_PATTERN,
  type BaselineFile,
  type JobBaseline,
  type Observation,
  type SeenStats,
} from './model.js';

export interface MergedRun {
  workflowPath: string;
  job: string;
  runId: string;
  /** Recommendable endpoints this run added to the job's set, sorted. */
  added: string[];
  /** Names of the run not stored: dropped from its log (Observation.dropped) or here (not a blocked name, over MAX_NAMES_PER_RUN). */
  dropped: number;
}

export interface SkippedRun {
  workflowPath: string;
  job: string;
  runId: string;
  reason: string;
}

export interface MergeOutcome {
  file: BaselineFile;
  merged: MergedRun[];
  /** Runs already merged (their id is among the job's recent runs): nothing changed for them. */
  skipped: SkippedRun[];
  /** False when every run was skipped: `file` is then the input object itself. */
  changed: boolean;
}

/** Merge one run. Same as `mergeObservations(file, [observation]).file`. */
export function mergeObservation(file: BaselineFile, observation: Observation): BaselineFile {
  return mergeObservations(file, [observation]).file;
}

/**
 * Merge runs in the order given. Throws InvalidInputError for an observation that is not
 * well-formed (another repository's workflow, a bad job id, time or endpoint): callers build
 * observations from parseHardenRunnerLog / parseEndpointList, which only produce valid ones.
 */
export function mergeObservations(file: BaselineFile, observations: Iterable<Observation>): MergeOutcome {
  const workflows = new Map(file.workflows);
  const copiedWorkflows = new Set<string>();
  const copiedJobs = new Set<string>();
  const merged: MergedRun[] = [];
  const skipped: SkippedRun[] = [];

  for (const observation of observations) {
    const { workflowPath, job, runId, at, texts, blocked, dropped, cluster } = checkObservation(file.repository, observation);
    let jobs = workflows.get(workflowPath);
    if (!copiedWorkflows.has(workflowPath)) {
      jobs = new Map(jobs ?? []);
      workflows.set(workflowPath, jobs);
      copiedWorkflows.add(workflowPath);
    }
    if (!jobs) throw new Error('unreachable: workflow map copied above');
    const jobId = `${workflowPath}#${job}`;
    const existing = jobs.get(job);
    if (existing?.recentRuns.includes(runId)) {
      skipped.push({ workflowPath, job, runId, reason: `run ${runId} was already merged` });
      continue;
    }
    let draft: JobBaseline;
    if (!existing) {
      draft = emptyJobBaseline();
    } else if (copiedJobs.has(jobId)) {
      draft = existing;
    } else {
      draft = copyJob(existing);
    }
    copiedJobs.add(jobId);
    jobs.set(job, draft);
    const added = applyRun(draft, runId, at, texts, blocked, cluster);
    merged.push({ workflowPath, job, runId, added, dropped });
  }

  if (merged.length === 0) return { file, merged, skipped, changed: false };
  // Drop the untouched copies of workflows whose observations were all skipped.
  for (const path of copiedWorkflows) {
    const original = file.workflows.get(path);
    if (original && ![...copiedJobs].some((id) => id.startsWith(`${path}#`))) workflows.set(path, original);
    if (!original && workflows.get(path)?.size === 0) workflows.delete(path);
  }
  return { file: { repository: file.repository, workflows }, merged, skipped, changed: true };
}

interface CheckedObservation {
  workflowPath: string;
  job: string;
  runId: string;
  at: string;
  texts: string[];
  blocked: string[];
  dropped: number;
  cluster: string | undefined;
}

function checkObservation(repository: string, observation: Observation): CheckedObservation {
  const workflowPath = workflowPathIn(repository, observation.workflow);
  if (!workflowPath) {
    throw new InvalidInputError(`workflow "${observation.workflow}" is not a workflow file of ${repository} (.github/workflows/F.yml)`);
  }
  if (!JOB_ID_PATTERN.test(observation.job)) throw new InvalidInputError(`"${observation.job}" is not a job id`);
  const runId = String(observation.runId).trim();
  if (runId === '') throw new InvalidInputError('a run id is required to merge a run');
  const at = normalizeTimestamp(observation.at);
  if (!at) throw new InvalidInputError(`"${observation.at}" is not an ISO-8601 date or time`);
  const texts = new Set<string>();
  for (const text of observation.endpoints) {
    const parsed = parseEndpoint(text);
    if (!parsed.endpoint) throw new InvalidInputError(`"${text}" is not an endpoint: ${parsed.issues[0]?.message ?? ''}`);
    texts.add(parsed.endpoint.text);
  }
  // Blocked names are evidence from a log any step can write to: what is not a name is dropped
  // (never an error that would stop a whole batch), and a run stores at most MAX_NAMES_PER_RUN.
  let dropped = observation.dropped ?? 0;
  const blocked = new Set<string>();
  for (const text of observation.blocked ?? []) {
    const name = blockedName(text);
    if (name === undefined) dropped += 1;
    else blocked.add(name);
  }
  let kept = [...texts];
  let keptBlocked = [...blocked];
  if (kept.length + keptBlocked.length > MAX_NAMES_PER_RUN) {
    dropped += kept.length + keptBlocked.length - MAX_NAMES_PER_RUN;
    kept = kept.slice(0, MAX_NAMES_PER_RUN);
    keptBlocked = keptBlocked.slice(0, MAX_NAMES_PER_RUN - kept.length);
  }
  const cluster = observation.cluster === undefined ? undefined : observation.cluster.trim().toLowerCase();
  const clusterProblem = cluster === undefined ? undefined : scopeKeyProblem('cluster', cluster);
  if (clusterProblem) throw new InvalidInputError(clusterProblem);
  return { workflowPath, job: observation.job, runId, at, texts: kept, blocked: keptBlocked, dropped, cluster };
}

function copyJob(job: JobBaseline): JobBaseline {
  const copy: JobBaseline = {
    runs: job.runs,
    endpoints: new Map(job.endpoints),
    implicit: new Map(job.implicit),
    addresses: new Map(job.addresses),
    blocked: new Map(job.blocked),
    recentRuns: [...job.recentRuns],
    clusters: new Map(job.clusters),
  };
  if (job.firstSeen) copy.firstSeen = job.firstSeen;
  if (job.lastSeen) copy.lastSeen = job.lastSeen;
  if (job.lastGrowth) copy.lastGrowth = { ...job.lastGrowth };
  return copy;
}

/** Stats are replaced, never mutated: the previous file may share them. */
function seen(map: Map<string, SeenStats>, key: string, at: string, cluster?: string): boolean {
  const stats = map.get(key);
  if (!stats) {
    map.set(key, { runs: 1, firstSeen: at, lastSeen: at, ...(cluster ? { clusters: [cluster] } : {}) });
    return true;
  }
  const next: SeenStats = {
    runs: stats.runs + 1,
    firstSeen: stats.firstSeen < at ? stats.firstSeen : at,
    lastSeen: stats.lastSeen > at ? stats.lastSeen : at,
  };
  const clusters = withCluster(stats.clusters, cluster);
  if (clusters) next.clusters = clusters;
  map.set(key, next);
  return false;
}

/** The sorted cluster list with `cluster` in it (a new array when it grows). */
function withCluster(clusters: readonly string[] | undefined, cluster: string | undefined): string[] | undefined {
  if (!cluster || clusters?.includes(cluster)) return clusters ? [...clusters] : undefined;
  return [...(clusters ?? []), cluster].sort();
}

function applyRun(job: JobBaseline, runId: string, at: string, texts: string[], blocked: string[], cluster: string | undefined): string[] {
  job.runs += 1;
  if (!job.firstSeen || at < job.firstSeen) job.firstSeen = at;
  if (!job.lastSeen || at > job.lastSeen) job.lastSeen = at;

  const keys = { endpoint: new Set<string>(), implicit: new Set<string>(), address: new Set<string>() };
  for (const text of texts) {
    const { kind, key } = classifyObserved(text);
    keys[kind].add(key);
  }
  const added: string[] = [];
  for (const key of keys.endpoint) if (seen(job.endpoints, key, at, cluster)) added.push(key);
  for (const key of keys.implicit) seen(job.implicit, key, at, cluster);
  for (const key of keys.address) seen(job.addresses, key, at, cluster);
  for (const key of blocked) seen(job.blocked, key, at, cluster);
  if (cluster) seen(job.clusters, cluster, at);
  if (added.length > 0) job.lastGrowth = { run: job.runs, runId, at };

  job.recentRuns.push(runId);
  if (job.recentRuns.length > RECENT_RUNS_LIMIT) job.recentRuns.splice(0, job.recentRuns.length - RECENT_RUNS_LIMIT);
  return added.sort();
}
