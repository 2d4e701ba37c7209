/**
 * Recommendations and the index over all baseline files of a policy repository. Pure.
 * A job's recommendation is its observed named endpoints (never IP-only evidence, never
 * Harden-Runner's implicit endpoints); it is stable once the last N runs added nothing.
 */
import { DiagnosticSink, type Result } from '../policy/diagnostics.js';
import { DEFAULT_SETTINGS } from '../policy/model.js';
import { joinEndpoints } from '../policy/endpoint.js';
import { SCOPE_KEY_PATTERNS } from '../policy/scope-keys.js';
import { UsageError } from '../util/errors.js';
import { parseBaselineFile } from './parse.js';
import {
  baselinePath,
  isRepositoryName,
  jobKeyOf,
  parseJobKey,
  parseWorkflowKey,
  repositoryFromBaselinePath,
  workflowKeyOf,
  type BaselineFile,
  type Growth,
  type JobBaseline,
  type JobRef,
  type SeenStats,
} from './model.js';

export type EvidenceKindName = 'endpoint' | 'implicit' | 'address' | 'blocked';

export interface EndpointEvidence {
  /** `host:port`, an implicit pattern, `ip:port`, or a blocked name / IP. */
  endpoint: string;
  kind: EvidenceKindName;
  /** True for `kind: 'endpoint'` only. */
  recommended: boolean;
  runs: number;
  firstSeen: string;
  lastSeen: string;
  /** ARC clusters of the runs that saw it; absent when none recorded one (as in the file). */
  clusters?: string[];
}

/** How often a job ran on one ARC cluster. */
export interface ClusterRuns {
  cluster: string;
  runs: number;
  firstSeen: string;
  lastSeen: string;
}

export interface JobRecommendation extends JobRef {
  /** `owner/repo/.github/workflows/F#job` (repository and workflow lower-cased). */
  key: string;
  /** `owner/repo/.github/workflows/F` (the attachments.yml workflow key). */
  workflow: string;
  /** `baselines/<owner>/<repo>.yml`. */
  file: string;
  runs: number;
  /** Runs merged since the endpoint set last grew (all runs when it never grew). */
  runsSinceGrowth: number;
  stableAfter: number;
  stable: boolean;
  firstSeen?: string;
  lastSeen?: string;
  lastGrowth?: Growth;
  /** Recommended `allowed-endpoints`, sorted, unique. */
  endpoints: string[];
  /** The same as one space-separated line, the form Harden-Runner's `allowed-endpoints` takes. */
  allowedEndpoints: string;
  /** Recommended endpoints first, then implicit, IP-only and blocked; each sorted by name. */
  evidence: EndpointEvidence[];
  /** ARC clusters the job's runs recorded, sorted by name (empty when none did). */
  clusters: ClusterRuns[];
  /** Set when the recommendation is narrowed to one cluster's runs (`forCluster`). */
  cluster?: string;
  /** With `cluster`: how many of the job's `runs` ran on it. */
  clusterRuns?: number;
}

export interface RecommendOptions {
  /** Default: DEFAULT_SETTINGS.stableAfterRuns (egressctl.yml may change it). */
  stableAfterRuns?: number;
}

function evidenceOf(kind: EvidenceKindName, map: Map<string, SeenStats>): EndpointEvidence[] {
  return [...map]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([endpoint, stats]) => ({
      endpoint,
      kind,
      recommended: kind === 'endpoint',
      runs: stats.runs,
      firstSeen: stats.firstSeen,
      lastSeen: stats.lastSeen,
      ...(stats.clusters ? { clusters: [...stats.clusters] } : {}),
    }));
}

/** The recommendation for one job's baseline. */
export function recommendJob(ref: JobRef, job: JobBaseline, options: RecommendOptions = {}): JobRecommendation {
  const stableAfter = options.stableAfterRuns ?? DEFAULT_SETTINGS.stableAfterRuns;
  const grewAt = job.lastGrowth?.run ?? 0;
  const runsSinceGrowth = Math.max(0, job.runs - grewAt);
  const consistent = grewAt <= job.runs;
  const endpoints = [...job.endpoints.keys()].sort();
  const recommendation: JobRecommendation = {
    repository: ref.repository,
    workflowPath: ref.workflowPath,
    job: ref.job,
    key: jobKeyOf(ref),
    workflow: workflowKeyOf(ref),
    file: baselinePath(ref.repository),
    runs: job.runs,
    runsSinceGrowth,
    stableAfter,
    stable: consistent && job.runs > 0 && runsSinceGrowth >= stableAfter,
    endpoints,
    allowedEndpoints: joinEndpoints(endpoints),
    evidence: [
      ...evidenceOf('endpoint', job.endpoints),
      ...evidenceOf('implicit', job.implicit),
      ...evidenceOf('address', job.addresses),
      ...evidenceOf('blocked', job.blocked),
    ],
    clusters: [...job.clusters]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([cluster, stats]) => ({ cluster, runs: stats.runs, firstSeen: stats.firstSeen, lastSeen: stats.lastSeen })),
  };
  if (job.firstSeen) recommendation.firstSeen = job.firstSeen;
  if (job.lastSeen) recommendation.lastSeen = job.lastSeen;
  if (job.lastGrowth) recommendation.lastGrowth = job.lastGrowth;
  return recommendation;
}

/** Every job of one file, sorted by key. */
export function recommendFile(file: BaselineFile, options: RecommendOptions = {}): JobRecommendation[] {
  const out: JobRecommendation[] = [];
  for (const [workflowPath, jobs] of file.workflows) {
    for (const [job, baseline] of jobs) out.push(recommendJob({ repository: file.repository, workflowPath, job }, baseline, options));
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

export interface BaselineIndex {
  stableAfterRuns: number;
  /** `owner/repo` -> its baseline file. */
  files: Map<string, BaselineFile>;
  /** Every (repository, workflow, job), sorted by key. */
  jobs: JobRecommendation[];
  /** Lower-cased job key -> recommendation. */
  byKey: Map<string, JobRecommendation>;
}

/** Index parsed files. A repository given twice keeps its first file. */
export function buildBaselineIndex(files: Iterable<BaselineFile>, options: RecommendOptions = {}): BaselineIndex {
  const stableAfterRuns = options.stableAfterRuns ?? DEFAULT_SETTINGS.stableAfterRuns;
  const byRepository = new Map<string, BaselineFile>();
  for (const file of files) if (!byRepository.has(file.repository)) byRepository.set(file.repository, file);
  const jobs = [...byRepository.values()]
    .flatMap((file) => recommendFile(file, { stableAfterRuns }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { stableAfterRuns, files: byRepository, jobs, byKey: new Map(jobs.map((job) => [job.key.toLowerCase(), job])) };
}

/**
 * Parse and index every `baselines/<owner>/<repo>.yml` among `files` (repository-relative path ->
 * text, e.g. PolicyRepository.files); other paths are ignored. Diagnostics of all files together.
 */
export function indexBaselineTexts(files: Iterable<[string, string]>, options: RecommendOptions = {}): Result<BaselineIndex> {
  const sink = new DiagnosticSink();
  const parsed: BaselineFile[] = [];
  const seen = new Map<string, string>();
  // `<repo>.yml` (the name the CLI writes) before a stray `<repo>.yaml`, so it wins a duplicate.
  const order = (path: string) => path.replace(/\.yaml$/, '.yml~');
  for (const [path, text] of [...files].sort(([a], [b]) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0))) {
    const repository = repositoryFromBaselinePath(path);
    if (!repository) continue;
    const result = parseBaselineFile(text, path);
    for (const item of [...result.errors, ...result.warnings]) sink.add(item);
    const first = seen.get(result.value.repository);
    if (first) {
      sink.error('baseline/duplicate-repository', { file: path, line: 1, column: 1 }, `${path} is a second baseline file for ${result.value.repository} (first: ${first}): merge them into one`);
      continue;
    }
    seen.set(result.value.repository, path);
    parsed.push(result.value);
  }
  return sink.result(buildBaselineIndex(parsed, options));
}

export function findJob(index: BaselineIndex, ref: JobRef | string): JobRecommendation | undefined {
  const key = typeof ref === 'string' ? ref : jobKeyOf(ref);
  return index.byKey.get(key.toLowerCase());
}

/**
 * The job's recommendation narrowed to what its runs on `cluster` saw (docs/architecture.md#arc-clusters-in-baselines):
 * evidence and endpoints seen there, and how many runs ran there (`clusterRuns`). Counts per
 * entry, `runs` and stability stay the job's own: the file records which clusters saw an entry,
 * not how often each did. Undefined when no run of the job recorded that cluster.
 */
export function forCluster(job: JobRecommendation, cluster: string): JobRecommendation | undefined {
  const name = cluster.toLowerCase();
  const runs = job.clusters.find((entry) => entry.cluster === name);
  if (!runs) return undefined;
  const evidence = job.evidence.filter((item) => item.clusters?.includes(name));
  const endpoints = evidence.filter((item) => item.recommended).map((item) => item.endpoint);
  return {
    ...job,
    cluster: name,
    clusterRuns: runs.runs,
    endpoints,
    allowedEndpoints: joinEndpoints(endpoints),
    evidence,
  };
}

/** Every job that ran on `cluster`, narrowed to those runs, sorted by key. */
export function jobsOnCluster(index: BaselineIndex, cluster: string): JobRecommendation[] {
  return index.jobs.flatMap((job) => forCluster(job, cluster) ?? []);
}

/** Cluster names recorded anywhere in the index, sorted. */
export function clustersIn(index: BaselineIndex): string[] {
  return [...new Set(index.jobs.flatMap((job) => job.clusters.map((entry) => entry.cluster)))].sort();
}

export type BaselineSelector =
  | { type: 'cluster'; cluster: string }
  | { type: 'org'; organization: string }
  | { type: 'repo'; repository: string }
  | { type: 'workflow'; repository: string; workflowPath: string }
  | { type: 'job'; repository: string; workflowPath: string; job: string };

const SELECTOR_FORMS = 'cluster:NAME, org:OWNER, repo:OWNER/REPO, workflow:OWNER/REPO/.github/workflows/F.yml or job:OWNER/REPO/.github/workflows/F.yml#JOB';

/** Parse `cluster:NAME`, `org:O`, `repo:O/R`, `workflow:O/R/.github/workflows/F`, `job:O/R/.github/workflows/F#J`. */
export function parseBaselineSelector(text: string): { selector: BaselineSelector } | { error: string } {
  const colon = text.indexOf(':');
  const type = colon === -1 ? '' : text.slice(0, colon);
  const rest = text.slice(colon + 1).trim();
  switch (type) {
    case 'cluster':
      if (SCOPE_KEY_PATTERNS.cluster.test(rest.toLowerCase())) return { selector: { type: 'cluster', cluster: rest.toLowerCase() } };
      return { error: `"${text}": "${rest}" is not a cluster name (lower-case letters, digits, ".", "_" and "-")` };
    case 'org':
      if (/^[A-Za-z0-9._-]+$/.test(rest)) return { selector: { type: 'org', organization: rest.toLowerCase() } };
      return { error: `"${text}": "${rest}" is not an organization name` };
    case 'repo':
      if (isRepositoryName(rest)) return { selector: { type: 'repo', repository: rest.toLowerCase() } };
      return { error: `"${text}": "${rest}" is not OWNER/REPO` };
    case 'workflow': {
      const parsed = parseWorkflowKey(rest);
      return 'error' in parsed ? { error: `"${text}": ${parsed.error}` } : { selector: { type: 'workflow', ...parsed.ref } };
    }
    case 'job': {
      const parsed = parseJobKey(rest);
      return 'error' in parsed ? { error: `"${text}": ${parsed.error}` } : { selector: { type: 'job', ...parsed.ref } };
    }
    default:
      return { error: `"${text}" is not a baseline selector: use ${SELECTOR_FORMS}` };
  }
}

function toSelector(selector: BaselineSelector | string): BaselineSelector {
  if (typeof selector !== 'string') return selector;
  const parsed = parseBaselineSelector(selector);
  if ('error' in parsed) throw new UsageError(parsed.error);
  return parsed.selector;
}

/** The jobs a selector names, sorted by key. Throws UsageError for a selector text that does not parse. */
export function selectJobs(index: BaselineIndex, selector: BaselineSelector | string): JobRecommendation[] {
  const wanted = toSelector(selector);
  switch (wanted.type) {
    case 'cluster':
      return jobsOnCluster(index, wanted.cluster);
    case 'org':
      return index.jobs.filter((job) => job.repository.split('/')[0] === wanted.organization);
    case 'repo':
      return index.jobs.filter((job) => job.repository === wanted.repository);
    case 'workflow':
      return index.jobs.filter((job) => job.repository === wanted.repository && job.workflowPath === wanted.workflowPath);
    case 'job': {
      const job = findJob(index, wanted);
      return job ? [job] : [];
    }
  }
}

export interface SelectorOptions {
  /** Only jobs whose baseline is stable contribute. Default false: every observed job. */
  stableOnly?: boolean;
}

/**
 * Sorted, unique recommended endpoints of every job the selector names (for
 * `policy create --from-baseline`). Empty when it names no job; throws UsageError for a bad selector.
 */
export function endpointsFromSelector(index: BaselineIndex, selector: BaselineSelector | string, options: SelectorOptions = {}): string[] {
  const jobs = selectJobs(index, selector).filter((job) => !options.stableOnly || job.stable);
  return [...new Set(jobs.flatMap((job) => job.endpoints))].sort();
}
