/**
 * `egressctl recommend`: per job of a repository, the `allowed-endpoints` its baseline supports,
 * whether that baseline is stable, and the evidence behind it.
 */
import {
  clustersIn,
  jobsOnCluster,
  readBaselineIndex,
  readStableAfterRuns,
  readStoredBaseline,
  recommendFile,
  workflowPathIn,
  type JobRecommendation,
} from '../../baselines/index.js';
import { isRepositoryName } from '../../baselines/model.js';
import { formatDiagnostic } from '../../policy/diagnostics.js';
import { scopeKeyProblem } from '../../policy/scope-keys.js';
import { InvalidInputError, UsageError } from '../../util/errors.js';
import { parseCommandArgs, writeJson, type CliIo, type Command } from '../io.js';
import { repositoryDir } from '../repository.js';

const usage = [
  'egressctl recommend --repository OWNER/REPO [--cluster NAME] [--workflow FILE] [--job JOB] [-C DIR] [--stable-after N] [--json]',
  '       egressctl recommend --cluster NAME [--repository OWNER/REPO] ...   every job that ran on an ARC cluster, narrowed to those runs',
].join('\n');

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

/** JSON shape of one job (stable contract for scripts). */
export function jobJson(job: JobRecommendation) {
  return {
    key: job.key,
    repository: job.repository,
    workflow: job.workflow,
    workflowPath: job.workflowPath,
    job: job.job,
    stable: job.stable,
    runs: job.runs,
    runsSinceGrowth: job.runsSinceGrowth,
    stableAfter: job.stableAfter,
    firstSeen: job.firstSeen ?? null,
    lastSeen: job.lastSeen ?? null,
    lastGrowth: job.lastGrowth ?? null,
    'allowed-endpoints': job.allowedEndpoints,
    endpoints: job.endpoints,
    evidence: job.evidence,
    // Only when runs recorded ARC clusters, so output for repositories without clusters is unchanged.
    ...(job.clusters.length > 0 ? { clusters: job.clusters } : {}),
    ...(job.cluster ? { cluster: job.cluster, clusterRuns: job.clusterRuns ?? 0 } : {}),
  };
}

const KIND_LABEL = { endpoint: '', implicit: 'implicit (allowed by Harden-Runner)', address: 'IP only, not recommended', blocked: 'blocked' } as const;

function jobText(job: JobRecommendation): string {
  const grew = job.lastGrowth ? `last new endpoint at run ${job.lastGrowth.run} (${job.lastGrowth.runId}, ${job.lastGrowth.at})` : 'no endpoint observed';
  const state = job.stable
    ? `stable: the last ${plural(job.runsSinceGrowth, 'run')} added nothing`
    : `not stable: ${plural(job.runsSinceGrowth, 'run')} without a new endpoint, ${job.stableAfter} needed`;
  const lines = [
    `${job.key}${job.cluster ? ` on cluster ${job.cluster}` : ''}`,
    `  ${state}; ${plural(job.runs, 'run')} observed${job.cluster ? ` (${job.clusterRuns ?? 0} on cluster ${job.cluster})` : ''}, ${grew}`,
    `  allowed-endpoints: ${job.allowedEndpoints === '' ? '(none: only Harden-Runner\'s implicit endpoints)' : job.allowedEndpoints}`,
  ];
  if (job.evidence.length > 0) {
    lines.push('  evidence:');
    const width = Math.max(...job.evidence.map((item) => item.endpoint.length));
    for (const item of job.evidence) {
      const label = KIND_LABEL[item.kind];
      lines.push(`    ${item.endpoint.padEnd(width)}  ${item.runs}/${job.runs} runs, last seen ${item.lastSeen}${label ? `  ${label}` : ''}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

// The command shape (name, summary, usage, run -> parseCommandArgs with its own options) is the same in every
// command on purpose: `duplicates` pairs these by shape; only `-C DIR` is shared and it is one line (issue 13).
export const command: Command = {
  name: 'recommend',
  summary: 'recommend allowed-endpoints per job from baselines',
  usage,
  async run(args: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs(
      args,
      {
        repository: { type: 'string' },
        workflow: { type: 'string' },
        job: { type: 'string' },
        cluster: { type: 'string' },
        C: { type: 'string', short: 'C' },
        'stable-after': { type: 'string' },
        json: { type: 'boolean', default: false },
      },
      usage,
    );
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"\nusage: ${usage}`);
    const repository = values.repository?.trim().toLowerCase();
    const cluster = values.cluster?.trim().toLowerCase();
    if (cluster !== undefined) {
      const problem = scopeKeyProblem('cluster', cluster);
      if (problem) throw new UsageError(`--cluster: ${problem}`);
    }
    if (!repository && cluster === undefined) throw new UsageError(`--repository OWNER/REPO is required (or --cluster NAME)\nusage: ${usage}`);
    if (repository && !isRepositoryName(repository)) throw new UsageError(`--repository "${values.repository}" is not OWNER/REPO`);
    let workflowPath: string | undefined;
    if (values.workflow !== undefined) {
      if (!repository) throw new UsageError('--workflow needs --repository OWNER/REPO');
      workflowPath = workflowPathIn(repository, values.workflow);
      if (!workflowPath) {
        throw new UsageError(`--workflow "${values.workflow}" is not a workflow file of ${repository}: write ci.yml, .github/workflows/ci.yml or ${repository}/.github/workflows/ci.yml`);
      }
    }
    const dir = repositoryDir(io, values.C);
    let stableAfterRuns: number;
    if (values['stable-after'] !== undefined) {
      if (!/^\d+$/.test(values['stable-after']) || Number(values['stable-after']) < 1) {
        throw new UsageError(`--stable-after "${values['stable-after']}" must be a whole number of runs, 1 or more`);
      }
      stableAfterRuns = Number(values['stable-after']);
    } else {
      const settings = await readStableAfterRuns(dir);
      for (const diagnostic of settings.diagnostics) io.stderr(`${formatDiagnostic(diagnostic)}\n`);
      stableAfterRuns = settings.stableAfterRuns;
    }

    if (cluster !== undefined) {
      const index = await readBaselineIndex(dir, { stableAfterRuns });
      for (const diagnostic of [...index.errors, ...index.warnings]) io.stderr(`${formatDiagnostic(diagnostic)}\n`);
      if (index.errors.length > 0) throw new InvalidInputError('baselines/ has invalid files: fix them first (egressctl validate)');
      const jobs = jobsOnCluster(index.value, cluster).filter(
        (job) =>
          (repository === undefined || job.repository === repository) &&
          (workflowPath === undefined || job.workflowPath === workflowPath) &&
          (values.job === undefined || job.job.toLowerCase() === values.job.toLowerCase()),
      );
      if (jobs.length === 0) {
        const known = clustersIn(index.value);
        throw new InvalidInputError(
          `no job${repository ? ` of ${repository}` : ''} has runs recorded on cluster "${cluster}" (clusters in baselines/: ${known.join(', ') || 'none'}); record it with "baseline from-log --cluster", the hook's --cluster or egressctl.yml clusters`,
        );
      }
      const endpoints = [...new Set(jobs.flatMap((job) => job.endpoints))].sort();
      if (values.json) {
        writeJson(io, { cluster, ...(repository ? { repository } : {}), stableAfter: stableAfterRuns, 'allowed-endpoints': endpoints.join(' '), jobs: jobs.map(jobJson) });
      } else {
        io.stdout(jobs.map(jobText).join('\n'));
        io.stdout(`\ncluster ${cluster}: ${plural(jobs.length, 'job')}, ${plural(endpoints.length, 'recommended endpoint')}: ${endpoints.join(' ') || '(none)'}\n`);
      }
      return 0;
    }
    if (!repository) throw new UsageError(`--repository OWNER/REPO is required\nusage: ${usage}`);
    const stored = await readStoredBaseline(dir, repository);
    for (const diagnostic of stored.warnings) io.stderr(`${formatDiagnostic(diagnostic)}\n`);
    if (stored.text === undefined) {
      throw new InvalidInputError(`no baseline for ${repository}: ${stored.path} does not exist; collect runs with "egressctl baseline from-log" or "baseline import"`);
    }
    const all = recommendFile(stored.file, { stableAfterRuns });
    const jobs = all.filter(
      (job) => (workflowPath === undefined || job.workflowPath === workflowPath) && (values.job === undefined || job.job.toLowerCase() === values.job.toLowerCase()),
    );
    if (jobs.length === 0) {
      const known = all.map((job) => job.key).join(', ') || 'none';
      throw new InvalidInputError(`no job in ${stored.path} matches${workflowPath ? ` --workflow ${workflowPath}` : ''}${values.job ? ` --job ${values.job}` : ''} (jobs: ${known})`);
    }

    if (values.json) {
      writeJson(io, { repository, file: stored.path, stableAfter: stableAfterRuns, jobs: jobs.map(jobJson) });
    } else {
      io.stdout(jobs.map(jobText).join('\n'));
      const stable = jobs.filter((job) => job.stable).length;
      io.stdout(`\n${plural(jobs.length, 'job')}, ${stable} stable (stable after ${plural(stableAfterRuns, 'run')} without a new endpoint)\n`);
    }
    return 0;
  },
};
