/**
 * `egressctl baseline from-log|import|from-firewall`: one job run's evidence, from a saved
 * Harden-Runner job log, an exported endpoint list or GitHub's firewall decisions artifact,
 * merged into `baselines/<owner>/<repo>.yml`.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  contentRunId,
  findJob,
  MAX_NAMES_PER_RUN,
  buildBaselineIndex,
  classifyObserved,
  mergeIntoBaselineDir,
  normalizeTimestamp,
  parseEndpointList,
  parseHardenRunnerLog,
  parseJobKey,
  readStableAfterRuns,
  type BaselineFile,
  type JobRef,
  type Observation,
} from '../../baselines/index.js';
import { clusterFromJobLog } from '../../baselines/cluster.js';
import { formatDiagnostic, type Diagnostic } from '../../policy/diagnostics.js';
import { scopeKeyProblem } from '../../policy/scope-keys.js';
import { IoError, UsageError } from '../../util/errors.js';
import { parseCommandArgs, type CliIo, type Command } from '../io.js';
import { parseFirewallDecisions } from '../../rollout/github-firewall/index.js';
import { repositoryDir } from '../repository.js';

const JOB_FORM = 'OWNER/REPO/.github/workflows/FILE.yml#JOB';
const usage = [
  `egressctl baseline from-log LOG --job ${JOB_FORM} [--cluster NAME] [--run ID] [--at ISO-DATE] [-C DIR]`,
  `       egressctl baseline import FILE --job ${JOB_FORM} [--cluster NAME] [--run ID] [--at ISO-DATE] [-C DIR]`,
  `       egressctl baseline from-firewall FILE --job ${JOB_FORM} [--run ID] [--at ISO-DATE] [-C DIR]`,
  '',
  'from-log: a job log with Harden-Runner\'s agent output (its post step prints /home/agent/agent.log)',
  'import:   an endpoint list (host:port per line or space separated, # comments), as the insights page exports it',
  "from-firewall: GitHub's egress firewall decisions artifact (firewall-decisions-*.json; decision[].url: https -> 443, http -> 80)",
  '--run:    the workflow run id (use the job id for matrix legs); default: a hash of the file, so importing it again changes nothing',
  '--at:     when the run happened; default: the log\'s last agent timestamp, else now',
  '--cluster: the ARC cluster the run ran on; default (from-log): the cluster the job-started hook printed in the log, if any',
].join('\n');

function plural(count: number, word: string, words = `${word}s`): string {
  return `${count} ${count === 1 ? word : words}`;
}

function printDiagnostics(io: CliIo, diagnostics: readonly Diagnostic[]): void {
  for (const diagnostic of diagnostics) io.stderr(`${formatDiagnostic(diagnostic)}\n`);
}

async function readInput(io: CliIo, file: string): Promise<{ text: string; display: string }> {
  const absolute = path.resolve(io.cwd, file);
  try {
    return { text: await readFile(absolute, 'utf8'), display: file };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new IoError(code === 'ENOENT' ? `${file} does not exist` : `cannot read ${file}: ${code ?? String(error)}`, { cause: error });
  }
}

// The command shape (name, summary, usage, run -> parseCommandArgs with its own options) is the same in every
// command on purpose: `duplicates` pairs these by shape; only `-C DIR` is shared and it is one line (issue 13).
export const command: Command = {
  name: 'baseline',
  summary: 'merge a Harden-Runner job log, an endpoint list or a firewall decisions artifact into baselines/',
  usage,
  async run(args: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs(
      args,
      { job: { type: 'string' }, run: { type: 'string' }, at: { type: 'string' }, cluster: { type: 'string' }, C: { type: 'string', short: 'C' } },
      usage,
    );
    const [action, input, extra] = positionals;
    if (action !== 'from-log' && action !== 'import' && action !== 'from-firewall') {
      throw new UsageError(`${action === undefined ? 'say what to do' : `unknown action "${action}"`}: from-log, import or from-firewall\nusage: ${usage}`);
    }
    if (input === undefined) throw new UsageError(`baseline ${action} needs the ${action === 'from-log' ? 'log' : action === 'import' ? 'list' : 'decisions artifact'} file\nusage: ${usage}`);
    if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"\nusage: ${usage}`);
    if (values.job === undefined) throw new UsageError(`--job ${JOB_FORM} is required: which job the run belongs to`);
    const parsedJob = parseJobKey(values.job);
    if ('error' in parsedJob) throw new UsageError(`--job: ${parsedJob.error}`);
    const ref = parsedJob.ref;
    let at: string | undefined;
    if (values.at !== undefined) {
      at = normalizeTimestamp(values.at);
      if (!at) throw new UsageError(`--at "${values.at}" is not an ISO-8601 date or time (e.g. 2026-11-20T10:11:12Z)`);
    }
    if (values.run !== undefined && values.run.trim() === '') throw new UsageError('--run needs a run id');
    const givenCluster = values.cluster?.trim().toLowerCase();
    if (givenCluster !== undefined) {
      const problem = scopeKeyProblem('cluster', givenCluster);
      if (problem) throw new UsageError(`--cluster: ${problem}`);
    }

    const dir = repositoryDir(io, values.C);
    const { text, display } = await readInput(io, input);
    const observation: Observation = { workflow: ref.workflowPath, job: ref.job, runId: values.run?.trim() ?? contentRunId(text), at: at ?? '', endpoints: [] };

    if (action === 'from-log') {
      const result = parseHardenRunnerLog(text, display);
      printDiagnostics(io, [...result.errors, ...result.warnings]);
      if (result.errors.length > 0) return 1;
      observation.endpoints = [...result.value.endpoints, ...result.value.addresses];
      observation.blocked = result.value.blocked;
      if (result.value.dropped > 0) observation.dropped = result.value.dropped;
      observation.at = at ?? result.value.endedAt ?? nowIso();
      const cluster = givenCluster ?? clusterFromJobLog(text);
      if (cluster) observation.cluster = cluster;
    } else if (action === 'from-firewall') {
      // The firewall runs on GitHub-hosted runners only: no ARC cluster to record.
      if (givenCluster) throw new UsageError('--cluster does not apply to from-firewall: GitHub\'s firewall runs on GitHub-hosted runners, not on ARC clusters');
      const result = parseFirewallDecisions(text, display);
      printDiagnostics(io, [...result.errors, ...result.warnings]);
      if (result.errors.length > 0) return 1;
      observation.endpoints = result.value.endpoints;
      observation.at = at ?? nowIso();
    } else {
      const result = parseEndpointList(text, display);
      printDiagnostics(io, [...result.errors, ...result.warnings]);
      if (result.errors.length > 0) return 1;
      observation.endpoints = result.value;
      observation.at = at ?? nowIso();
      if (givenCluster) observation.cluster = givenCluster;
    }

    const outcome = await mergeIntoBaselineDir(dir, ref.repository, [observation]);
    printDiagnostics(io, outcome.warnings);
    const { stableAfterRuns, diagnostics } = await readStableAfterRuns(dir);
    printDiagnostics(io, diagnostics);
    io.stdout(summary(ref, observation, outcome.path, outcome.merged[0]?.added, outcome.file, stableAfterRuns));
    const dropped = outcome.merged[0]?.dropped ?? 0;
    if (dropped > 0) io.stderr(`warning: ${plural(dropped, 'name')} of the log not stored: not valid endpoint names, or over ${MAX_NAMES_PER_RUN} per run\n`);
    return 0;
  },
};

function nowIso(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function summary(
  ref: JobRef,
  observation: Observation,
  file: string,
  added: string[] | undefined,
  baseline: BaselineFile,
  stableAfterRuns: number,
): string {
  const name = `${ref.repository}/${ref.workflowPath}#${ref.job}`;
  if (added === undefined) return `${file}: run ${observation.runId} of ${name} was already merged: nothing changed\n`;
  const counts = { endpoint: 0, implicit: 0, address: 0 };
  for (const text of observation.endpoints) counts[classifyObserved(text).kind] += 1;
  const blocked = observation.blocked?.length ?? 0;
  const lines = [
    `${file}: merged run ${observation.runId} (${observation.at})${observation.cluster ? ` on cluster ${observation.cluster}` : ''} into ${name}`,
    `  this run: ${plural(counts.endpoint, 'endpoint')} (${added.length === 0 ? 'none new' : `new: ${added.join(' ')}`}), ${counts.implicit} implicit, ${plural(
      counts.address,
      'IP-only address',
      'IP-only addresses',
    )}${blocked > 0 ? `, ${blocked} blocked` : ''}`,
  ];
  const job = findJob(buildBaselineIndex([baseline], { stableAfterRuns }), ref);
  if (job) {
    const state = job.stable
      ? `stable (no new endpoint in the last ${plural(job.runsSinceGrowth, 'run')})`
      : `not stable yet (${plural(job.runsSinceGrowth, 'run')} without a new endpoint; stable after ${stableAfterRuns})`;
    lines.push(`  job: ${plural(job.runs, 'run')} observed, ${plural(job.endpoints.length, 'recommended endpoint')}, ${state}`);
  }
  return `${lines.join('\n')}\n`;
}
