/**
 * The firewall's decisions of a run's jobs, through the Actions artifacts API (docs/github-firewall.md,
 * "Baselines from the firewall"): the run's `firewall-decisions-*` artifacts listed once, the one
 * that belongs to each job (the only one, or the one whose name carries the job's id or key),
 * downloaded once as zip and read with the decisions parser. I/O at the edge; the parsing is pure.
 */
import type { GitHubClient } from '../github/client.js';
import { DECISIONS_ARTIFACT, DECISIONS_ARTIFACT_NAME, parseFirewallDecisions } from '../rollout/github-firewall/index.js';
import { formatDiagnostic } from '../policy/diagnostics.js';
import { readZipEntries, ZipError } from '../util/zip.js';
import { gitHubStatus } from '../util/errors.js';
import { boundedFetch, FetchLimitError } from '../util/bounded-fetch.js';
import type { AppLogger } from './delivery-guard.js';

export interface FirewallJobRef {
  owner: string;
  repo: string;
  runId: number;
  /** GitHub's numeric job id. */
  jobId: number;
  /** The job's key in the workflow (`jobs.<key>`) and its display name. */
  jobKey: string;
  jobName: string;
}

interface ArtifactSummary {
  id: number;
  name: string;
  expired: boolean;
}

/** Which of a run's decisions artifacts is this job's, or undefined when that cannot be told. */
export function artifactOfJob(artifacts: readonly ArtifactSummary[], job: Pick<FirewallJobRef, 'jobId' | 'jobKey' | 'jobName'>): ArtifactSummary | undefined {
  const decisions = artifacts.filter((artifact) => DECISIONS_ARTIFACT_NAME.test(artifact.name) && !artifact.expired);
  if (decisions.length <= 1) return decisions[0];
  const slug = (text: string) => text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
  for (const mark of [String(job.jobId), slug(job.jobKey), slug(job.jobName)]) {
    const named = decisions.filter((artifact) => slug(artifact.name).includes(mark));
    if (named.length === 1) return named[0];
  }
  return undefined;
}

/** Bounds of one artifact download: decisions of a job are kilobytes; a zip past this is not read. */
export const DEFAULT_ARTIFACT_BOUNDS = { maxBytes: 16 * 1024 * 1024, timeoutMs: 60_000 };

/** One leg of a run on the firewall runner: GitHub's job id, the job's key and display name. */
export interface FirewallLeg {
  jobId: number;
  jobKey: string;
  jobName: string;
}

export interface FirewallRunRef {
  owner: string;
  repo: string;
  runId: number;
  /**
   * When the attempt started: artifacts created before it are an earlier attempt's (the artifacts
   * API lists every attempt's, without saying which). Absent: all of them.
   */
  since?: string;
}

/**
 * The firewall's endpoints (`host:port`) of a run's legs, by GitHub job id, reading the run's
 * artifact list once and each decisions artifact once (docs/github-firewall.md, "Baselines from
 * the firewall"). An artifact that belongs to several legs (one for the whole run, as the preview
 * says its logs come "at the conclusion of a workflow run") goes to the first of them (lowest job
 * id) only, so a run of N matrix legs counts its decisions once, not N times. A leg with no
 * readable decisions is absent.
 */
export async function firewallEndpointsOfRun(
  client: GitHubClient,
  run: FirewallRunRef,
  legs: readonly FirewallLeg[],
  log: AppLogger,
  artifactFetch: typeof fetch = boundedFetch(DEFAULT_ARTIFACT_BOUNDS),
): Promise<Map<number, string[]>> {
  const { owner, repo } = run;
  const found = new Map<number, string[]>();
  if (legs.length === 0) return found;
  const artifacts: ArtifactSummary[] = [];
  for await (const page of client.paginate.iterator(client.rest.actions.listWorkflowRunArtifacts, { owner, repo, run_id: run.runId, per_page: 100 })) {
    for (const artifact of page.data) {
      if (run.since && artifact.created_at && artifact.created_at < run.since) continue;
      artifacts.push({ id: artifact.id, name: artifact.name, expired: artifact.expired });
    }
  }
  // Each artifact to the first leg it belongs to.
  const owners = new Map<number, { artifact: ArtifactSummary; leg: FirewallLeg }>();
  for (const leg of [...legs].sort((a, b) => a.jobId - b.jobId)) {
    const artifact = artifactOfJob(artifacts, leg);
    if (!artifact) {
      const count = artifacts.filter((item) => DECISIONS_ARTIFACT_NAME.test(item.name)).length;
      if (count > 1) log.debug({ repository: `${owner}/${repo}`, job: leg.jobId, count }, 'several firewall decisions artifacts in the run and none names this job: ignored');
      continue;
    }
    if (!owners.has(artifact.id)) owners.set(artifact.id, { artifact, leg });
  }
  for (const { artifact, leg } of owners.values()) {
    const endpoints = await readDecisionsArtifact(client, { owner, repo, jobId: leg.jobId }, artifact, log, artifactFetch);
    if (endpoints) found.set(leg.jobId, [...new Set([...(found.get(leg.jobId) ?? []), ...endpoints])].sort());
  }
  return found;
}

/** One job's endpoints as the firewall saw them (firewallEndpointsOfRun for a run of one leg). */
export async function firewallEndpointsOf(
  client: GitHubClient,
  job: FirewallJobRef,
  log: AppLogger,
  artifactFetch: typeof fetch = boundedFetch(DEFAULT_ARTIFACT_BOUNDS),
): Promise<string[] | undefined> {
  const found = await firewallEndpointsOfRun(client, { owner: job.owner, repo: job.repo, runId: job.runId }, [{ jobId: job.jobId, jobKey: job.jobKey, jobName: job.jobName }], log, artifactFetch);
  return found.get(job.jobId);
}

/**
 * One decisions artifact's endpoints, or undefined when it has none readable. The download is
 * bounded in bytes and by one deadline for the whole body (docs/security.md, "Hostile servers"):
 * the artifact's storage is not GitHub's API.
 */
async function readDecisionsArtifact(
  client: GitHubClient,
  job: { owner: string; repo: string; jobId: number },
  artifact: ArtifactSummary,
  log: AppLogger,
  artifactFetch: typeof fetch,
): Promise<string[] | undefined> {
  const { owner, repo } = job;
  let zip: Buffer;
  try {
    // Read here, not by Octokit: it would swallow the body's bound error.
    const response = await client.rest.actions.downloadArtifact({ owner, repo, artifact_id: artifact.id, archive_format: 'zip', request: { fetch: artifactFetch, parseSuccessResponseBody: false } });
    zip = Buffer.from(await new Response(response.data as unknown as ReadableStream<Uint8Array> | null).arrayBuffer());
  } catch (error) {
    // Expired or deleted: nothing to learn.
    if (gitHubStatus(error) === 404 || gitHubStatus(error) === 410) return undefined;
    const limit = error instanceof FetchLimitError ? error : (error as { cause?: unknown } | null)?.cause;
    if (limit instanceof FetchLimitError) {
      log.warn({ repository: `${owner}/${repo}`, job: job.jobId }, `firewall decisions artifact of ${owner}/${repo} job ${job.jobId} not read: ${limit.message}`);
      return undefined;
    }
    throw error;
  }
  let entries: [string, Buffer][];
  try {
    entries = [...readZipEntries(zip)];
  } catch (error) {
    // A damaged or oversized archive is a job's output, not a failure to retry: said and skipped.
    if (!(error instanceof ZipError)) throw error;
    log.warn({ repository: `${owner}/${repo}`, job: job.jobId }, `firewall decisions artifact of ${owner}/${repo} job ${job.jobId} not read: ${error.message}`);
    return undefined;
  }
  const named = entries.filter(([name]) => DECISIONS_ARTIFACT.test(name.split('/').pop() ?? ''));
  const files = named.length > 0 ? named : entries.filter(([name]) => name.endsWith('.json'));
  const endpoints = new Set<string>();
  let read = 0;
  for (const [name, bytes] of files) {
    const parsed = parseFirewallDecisions(bytes.toString('utf8'), `${artifact.name}/${name}`);
    if (parsed.errors.length > 0) {
      log.warn({ repository: `${owner}/${repo}`, job: job.jobId, errors: parsed.errors.map(formatDiagnostic) }, 'firewall decisions artifact not in the expected shape: ignored');
      continue;
    }
    read++;
    for (const endpoint of parsed.value.endpoints) endpoints.add(endpoint);
  }
  return read > 0 ? [...endpoints].sort() : undefined;
}
