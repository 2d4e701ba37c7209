/**
 * Baselines (docs/architecture.md#baselines): what each job of a repository was seen to reach, per workflow file and
 * job, with enough bookkeeping to say how sure we are. Plain data; parse, merge, render and the
 * index read and write it.
 */
import { createHash } from 'node:crypto';
import { BASELINES_DIR } from '../policy/model.js';
import { endpointFromText, implicitPatternFor, parseEndpoint } from '../policy/endpoint.js';

/**
 * How many merged run ids a job remembers, so importing the same run again changes nothing.
 * Duplicates come from re-delivered webhooks, retried batches and people importing a log twice:
 * all soon after the original. Fifty covers that window for a busy job while keeping the file
 * reviewable; a run older than the last fifty that is imported again is counted twice.
 */
export const RECENT_RUNS_LIMIT = 50;

/**
 * Most names (endpoints, addresses and blocked names together) one run contributes. A job reaches
 * tens of hosts; a log with thousands of agent-looking lines is a job printing them. Past this the
 * rest are dropped and counted, so one run cannot grow a baseline file past what loads.
 */
export const MAX_NAMES_PER_RUN = 2_000;

/**
 * Largest baseline file egressctl writes: below the 1 MiB every repository file may have
 * (MAX_FILE_BYTES in src/policy/yaml.ts), so a file it wrote never stops the policy repository
 * loading. A run that would push a file past it is not merged, and says so.
 */
export const MAX_BASELINE_FILE_BYTES = 768 * 1024;

/**
 * A name the agent reported as blocked that a baseline can hold: an IPv4 address or a DNS name
 * as the endpoint grammar reads it (no port, no wildcard), lower-cased without the trailing dot;
 * undefined for anything else (a job can print lines that look like the agent's).
 */
export function blockedName(text: string): string | undefined {
  const name = text.trim().toLowerCase().replace(/\.$/, '');
  if (name === '' || name.includes(':') || name.includes('*')) return undefined;
  if (IPV4.test(name)) return name;
  return parseEndpoint(name).endpoint ? name : undefined;
}

/** Comment line that lets editors validate baseline files (files live two levels below the root). */
export const BASELINE_SCHEMA_COMMENT = ' yaml-language-server: $schema=../../schemas/baselines.schema.json';

/** Seen in `runs` runs, first and last at these ISO-8601 UTC times (seconds precision). */
export interface SeenStats {
  runs: number;
  firstSeen: string;
  lastSeen: string;
  /** ARC clusters of the runs that saw it, sorted; absent when no such run recorded its cluster. */
  clusters?: string[];
}

/** The run at which a job's recommendable endpoint set last grew. */
export interface Growth {
  /** 1-based ordinal among the job's observed runs (compare with `JobBaseline.runs`). */
  run: number;
  runId: string;
  at: string;
}

export interface JobBaseline {
  /** How many runs were merged. */
  runs: number;
  firstSeen?: string;
  lastSeen?: string;
  /** Absent while no run has added a recommendable endpoint. */
  lastGrowth?: Growth;
  /** Named `host:port` endpoints the job reached, outside Harden-Runner's implicit ones: the recommendation. */
  endpoints: Map<string, SeenStats>;
  /** Endpoints Harden-Runner allows by itself (audit runs have telemetry on), keyed by the implicit pattern they matched. */
  implicit: Map<string, SeenStats>;
  /** `ip:port` reached without a name (DNS servers, hard-coded addresses): evidence, never recommended. */
  addresses: Map<string, SeenStats>;
  /** Names (`domain not allowed`) and IPs (`ip address dropped`) the agent blocked in block mode. */
  blocked: Map<string, SeenStats>;
  /** The last RECENT_RUNS_LIMIT run ids merged, oldest first. */
  recentRuns: string[];
  /** ARC cluster -> the job's runs on it (docs/architecture.md#arc-clusters-in-baselines); empty when no run recorded one. */
  clusters: Map<string, SeenStats>;
}

export interface BaselineFile {
  /** `owner/repo`, lower-cased. */
  repository: string;
  /** Workflow path in the repository (`.github/workflows/ci.yml`, lower-cased) -> job id -> baseline. */
  workflows: Map<string, Map<string, JobBaseline>>;
}

/** One job run's evidence, ready to merge. */
export interface Observation {
  /** `.github/workflows/F` or the full key `owner/repo/.github/workflows/F`. */
  workflow: string;
  job: string;
  /** Workflow run id (or any id unique per job execution, e.g. the job id for matrix legs). */
  runId: string;
  /** ISO-8601 time of the run. */
  at: string;
  /** Canonical `host:port` or `ip:port` texts; implicit and IP-only ones are sorted out on merge. */
  endpoints: readonly string[];
  /** Names or IPs the agent blocked. */
  blocked?: readonly string[];
  /** The egress policy the run had, when its log says (commit messages name it; not stored). */
  mode?: 'audit' | 'block';
  /** Names the log had that were dropped (not valid endpoint names, or over MAX_NAMES_PER_RUN): reported, never stored. */
  dropped?: number;
  /** The ARC cluster the job ran on (a cluster scope key of attachments.yml), when known. */
  cluster?: string;
}

export function emptyBaselineFile(repository: string): BaselineFile {
  return { repository: repository.toLowerCase(), workflows: new Map() };
}

export function emptyJobBaseline(): JobBaseline {
  return {
    runs: 0,
    endpoints: new Map(),
    implicit: new Map(),
    addresses: new Map(),
    blocked: new Map(),
    recentRuns: [],
    clusters: new Map(),
  };
}

/** `baselines/<owner>/<repo>.yml` for `owner/repo`. */
export function baselinePath(repository: string): string {
  const { owner, repo } = splitRepository(repository);
  return `${BASELINES_DIR}/${owner}/${repo}.yml`;
}

/** `owner/repo` for a path `baselines/<owner>/<repo>.yml|yaml`, or undefined. */
export function repositoryFromBaselinePath(path: string): string | undefined {
  const match = /^baselines\/([^/]+)\/([^/]+)\.ya?ml$/.exec(path.replace(/\\/g, '/'));
  return match ? `${match[1]}/${match[2]}`.toLowerCase() : undefined;
}

const NAME = /^[A-Za-z0-9._-]+$/;
/** GitHub's job id rule: starts with a letter or `_`, then letters, digits, `_` and `-`. */
export const JOB_ID_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]*$/;
export const WORKFLOW_PATH_PATTERN = /^\.github\/workflows\/[^/]+\.ya?ml$/;

export function splitRepository(repository: string): { owner: string; repo: string } {
  const [owner, repo, ...rest] = repository.toLowerCase().split('/');
  if (!owner || !repo || rest.length > 0 || !NAME.test(owner) || !NAME.test(repo)) {
    throw new TypeError(`"${repository}" is not owner/repo`);
  }
  return { owner, repo };
}

export function isRepositoryName(text: string): boolean {
  const parts = text.split('/');
  return parts.length === 2 && parts.every((part) => NAME.test(part));
}

/** A job's identity across files: the index, selectors and the CLI all use it. */
export interface JobRef {
  /** `owner/repo`, lower-cased. */
  repository: string;
  /** `.github/workflows/F`, lower-cased. */
  workflowPath: string;
  job: string;
}

/** `owner/repo/.github/workflows/F` (the attachments.yml workflow key). */
export function workflowKeyOf(ref: Pick<JobRef, 'repository' | 'workflowPath'>): string {
  return `${ref.repository}/${ref.workflowPath}`;
}

/** `owner/repo/.github/workflows/F#job`. */
export function jobKeyOf(ref: JobRef): string {
  return `${workflowKeyOf(ref)}#${ref.job}`;
}

/**
 * Parse `owner/repo/.github/workflows/F#job`. Returns a message saying the right form when the
 * text is not one.
 */
export function parseJobKey(text: string): { ref: JobRef } | { error: string } {
  const hash = text.indexOf('#');
  const form = 'write OWNER/REPO/.github/workflows/FILE.yml#JOB';
  if (hash === -1) return { error: `"${text}" names no job: ${form}` };
  const workflow = parseWorkflowKey(text.slice(0, hash));
  if ('error' in workflow) return workflow;
  const job = text.slice(hash + 1);
  if (!JOB_ID_PATTERN.test(job)) {
    return { error: `"${job}" is not a job id (a letter or "_", then letters, digits, "_" or "-"): ${form}` };
  }
  return { ref: { ...workflow.ref, job } };
}

/** Parse `owner/repo/.github/workflows/F`. */
export function parseWorkflowKey(text: string): { ref: Omit<JobRef, 'job'> } | { error: string } {
  const parts = text.trim().split('/');
  const repository = parts.slice(0, 2).join('/');
  const workflowPath = parts.slice(2).join('/').toLowerCase();
  if (parts.length < 3 || !isRepositoryName(repository) || !WORKFLOW_PATH_PATTERN.test(workflowPath)) {
    return { error: `"${text}" is not a workflow: write OWNER/REPO/.github/workflows/FILE.yml` };
  }
  return { ref: { repository: repository.toLowerCase(), workflowPath } };
}

/**
 * The workflow path within `repository` for any of: `ci.yml`, `.github/workflows/ci.yml`,
 * `owner/repo/.github/workflows/ci.yml`. Undefined when it names another repository or no workflow.
 */
export function workflowPathIn(repository: string, workflow: string): string | undefined {
  let path = workflow.trim().replace(/^\.\//, '').toLowerCase();
  const at = path.indexOf('@');
  if (at !== -1) path = path.slice(0, at);
  if (!path.includes('/')) path = `.github/workflows/${path}`;
  if (!path.startsWith('.github/')) {
    const prefix = `${repository.toLowerCase()}/`;
    if (!path.startsWith(prefix)) return undefined;
    path = path.slice(prefix.length);
  }
  return WORKFLOW_PATH_PATTERN.test(path) ? path : undefined;
}

export type EvidenceKind = 'endpoint' | 'implicit' | 'address';

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

export function isIpv4(host: string): boolean {
  return IPV4.test(host);
}

/**
 * Where an observed canonical `host:port` goes: IPv4 hosts are IP-only evidence; names Harden-Runner
 * allows by itself are implicit, keyed by the pattern they matched (so the per-run
 * `productionresultssaNN` names collapse into one entry); the rest is recommendable.
 */
export function classifyObserved(text: string): { kind: EvidenceKind; key: string } {
  const endpoint = endpointFromText(text);
  if (isIpv4(endpoint.host)) return { kind: 'address', key: text };
  // Telemetry hosts count as implicit: they are the agent's own traffic, which stops when telemetry is disabled.
  const pattern = implicitPatternFor(endpoint.host, endpoint.port);
  if (pattern) return { kind: 'implicit', key: pattern.text };
  return { kind: 'endpoint', key: text };
}

/** `2026-11-20T10:11:12.1234567Z` or any Date-parsable text -> `2026-11-20T10:11:12Z`; undefined if unparsable. */
export function normalizeTimestamp(text: string): string | undefined {
  const trimmed = text.trim();
  // Date.parse rejects 7 fractional digits (GitHub's log format) in some engines: cut them first.
  const iso = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:\d{2})$/.exec(trimmed);
  const millis = iso ? Date.parse(`${iso[1]}${iso[2]}`) : /^\d{4}-\d{2}-\d{2}$/.test(trimmed) ? Date.parse(`${trimmed}T00:00:00Z`) : Date.parse(trimmed);
  if (Number.isNaN(millis)) return undefined;
  return new Date(millis).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Run id for input without one: `sha256-` and 16 hex of the content, so importing the same bytes again is a no-op. */
export function contentRunId(content: string | Uint8Array): string {
  return `sha256-${createHash('sha256').update(content).digest('hex').slice(0, 16)}`;
}
