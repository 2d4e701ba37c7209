/**
 * `egressctl coverage` (docs/architecture.md#coverage): per job, what enforces its egress policy
 * (Harden-Runner inline, through Actions variables, through the job-started hook), in which mode,
 * and why not where nothing does; totals per organization with a bar. Three sources:
 * workflow files on disk (`--policy-from DIR --repository O/R FILE...`, with the variables a sync
 * state or `gh variable list` files give, else those the store writes), an organization read from GitHub (`--org ORG`, with the variables that exist,
 * retained ones included), or the last sync's state (`--org ORG --state-dir DIR`). A job that gets
 * less than the store through a variable no attachment owns fails open: exit 1.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { coverageFailures, coverageStoreOf, coverageTotals, coverRepository, renderCoverage, targetFiles, totalsByOrganization } from '../../coverage/coverage.js';
import { readOrganizationCoverage, type RepositoryCoverageResult } from '../../coverage/github-coverage.js';
import type { FileProblem, JobCoverage, RepositoryVariables } from '../../coverage/model.js';
import { liveRepositoryVariables, parseVariableList, type LiveVariables } from '../../coverage/variables.js';
import type { StoreState } from '../../rollout/desired-state.js';
import { variablesAsLeft } from '../../rollout/sync.js';
import { cliGitHub } from '../../github/api-root.js';
import { clientForAccount, credentialsFromEnv } from '../../github/credentials.js';
import { readSyncReport, SYNC_REPORT_FILE } from '../../rollout/sync-report.js';
import { InvalidInputError, UsageError, messageOf } from '../../util/errors.js';
import { parseCommandArgs, progressBar, writeJson, type CliIo, type Command } from '../io.js';
import { loadValidRepository, repositoryDir } from '../repository.js';
import { callGraphFrom } from '../workflow-files.js';

const usage =
  'egressctl coverage --policy-from DIR --repository OWNER/REPO [--state-dir DIR] [--repo-variables FILE] [--org-variables FILE] FILE... [--json]\n' +
  '       (variables: as the sync in --state-dir left them, or as `gh variable list [--org ORG] --json name,value` printed them; else as the store writes them)\n' +
  '       egressctl coverage --org ORG [--repos R1,R2] [-C POLICY_REPO_DIR] [--concurrency N] [--json]   (read from GitHub: APP_ID + PRIVATE_KEY, or GITHUB_TOKEN)\n' +
  '       egressctl coverage --org ORG --state-dir DIR [--json]   (the last sync\'s state, as sync --state-dir kept it)';

const OPTIONS = {
  'policy-from': { type: 'string' },
  repository: { type: 'string' },
  org: { type: 'string' },
  repos: { type: 'string' },
  C: { type: 'string', short: 'C' },
  'state-dir': { type: 'string' },
  'repo-variables': { type: 'string' },
  'org-variables': { type: 'string' },
  concurrency: { type: 'string' },
  json: { type: 'boolean' },
} as const;

function usageError(message: string): UsageError {
  return new UsageError(`${message}\nusage: ${usage}`);
}

const REPOSITORY = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;

/** `.github/workflows/F` of a file given on the command line, and the repository root it sits in. */
function workflowPathOf(file: string): { workflowPath: string; root: string | undefined } {
  const normalized = file.replace(/\\/g, '/');
  const match = /(?:^|\/)(\.github\/workflows\/[^/]+)$/.exec(normalized);
  if (match?.[1]) return { workflowPath: match[1], root: normalized.slice(0, normalized.length - match[1].length) || '.' };
  return { workflowPath: `.github/workflows/${path.basename(normalized)}`, root: undefined };
}

interface Report {
  jobs: JobCoverage[];
  problems: FileProblem[];
  errors: { repository: string; message: string }[];
}

/** Exit 1 for a file that is not a workflow, a repository or variables that could not be read, or a job that fails open. */
function output(io: CliIo, report: Report, json: boolean, extra: Record<string, unknown> = {}, notes: readonly string[] = []): number {
  const failures = coverageFailures(report.jobs);
  if (json) {
    writeJson(io, {
      ...extra,
      jobs: report.jobs.map(({ repository, file, job, line, enforcedBy, mode, reason, policy, failure, targets }) => ({ repository, file, job, line, enforcedBy, mode, reason, policy, ...(failure !== undefined ? { failure } : {}), targets })),
      totals: coverageTotals(report.jobs),
      organizations: totalsByOrganization(report.jobs),
      failures,
      problems: report.problems,
      errors: report.errors,
    });
  } else {
    for (const note of notes) io.stdout(`${note}\n`);
    io.stdout(renderCoverage(report.jobs, report.problems));
    for (const error of report.errors) io.stderr(`egressctl: ${error.repository}: ${error.message}\n`);
  }
  return report.problems.length > 0 || report.errors.length > 0 || failures.length > 0 ? 1 : 0;
}

async function fromFiles(io: CliIo, values: Values, files: string[]): Promise<number> {
  if (values.org !== undefined || values.repos !== undefined) throw usageError('--policy-from reads workflow files: drop --org and --repos');
  if (values.repository === undefined || !REPOSITORY.test(values.repository)) throw usageError('--policy-from needs --repository OWNER/REPO (whose attachments apply)');
  if (files.length === 0) throw usageError('name the workflow files');
  const { repository: policy } = await loadValidRepository(io, repositoryDir(io, values['policy-from']));
  const store = coverageStoreOf(policy, Date.now());
  const report: Report = { jobs: [], problems: [], errors: [] };
  const given = await localVariables(io, values, values.repository, store.state);
  for (const message of given.variables?.unknown ?? []) report.errors.push({ repository: values.repository.toLowerCase(), message: `${message} (counted as the store writes them)` });
  for (const file of files) {
    const { workflowPath, root } = workflowPathOf(file);
    let text: string;
    try {
      text = await readFile(path.resolve(io.cwd, file), 'utf8');
    } catch (error) {
      report.problems.push({ repository: values.repository, file: workflowPath, message: `${file}: cannot read: ${messageOf(error)}` });
      continue;
    }
    // Files a target reads (none for Harden-Runner), from the repository the workflow sits in.
    const extra: Record<string, string> = {};
    if (root !== undefined) {
      for (const declared of targetFiles()) {
        const found = await readFile(path.resolve(io.cwd, root, declared), 'utf8').catch(() => undefined);
        if (found !== undefined) extra[declared] = found;
      }
    }
    // The workflow folder's call graph: a reusable workflow follows its callers, as sync plans it.
    const callers = root !== undefined ? await callGraphFrom(path.resolve(io.cwd, root), values.repository).catch(() => undefined) : undefined;
    const covered = coverRepository(values.repository, [{ path: workflowPath, text }], store, { at: new Date().toISOString(), files: extra, ...(callers ? { callers } : {}), ...(given.variables ? { variables: given.variables } : {}) });
    report.jobs.push(...covered.jobs);
    report.problems.push(...covered.problems.map((problem) => ({ ...problem, message: problem.message.replace(workflowPath, file) })));
  }
  return output(io, report, values.json === true, { variables: given.sources }, given.notes);
}

/** Where a level's variables came from, as `--json` says it: `file F`, `sync state F (sync at T)`, or `store` (assumed). */
interface VariableSources {
  organization: string;
  repository: string;
}

/** A `gh variable list --json name,value` file, by upper-case name; a located error (the file, what is wrong) when it is not one. */
async function readVariableList(io: CliIo, file: string): Promise<Map<string, string>> {
  const resolved = path.resolve(io.cwd, file);
  let text: string;
  try {
    text = await readFile(resolved, 'utf8');
  } catch (error) {
    throw new InvalidInputError(`${file}: cannot read: ${messageOf(error)}`);
  }
  const { value, errors } = parseVariableList(text);
  if (errors.length > 0) throw new InvalidInputError(errors.map((error) => `${file}: ${error}`).join('\n'));
  return value;
}

/**
 * The variables `--policy-from` evaluates with (docs/architecture.md#coverage): as the sync in
 * `--state-dir` left them, each level a `--repo-variables`/`--org-variables` file gives over
 * that; undefined (and said once) where no source is given: as the store writes them.
 */
async function localVariables(io: CliIo, values: Values, repository: string, state: StoreState): Promise<{ variables?: RepositoryVariables; sources: VariableSources; notes: string[] }> {
  const target = repository.toLowerCase();
  const organization = target.slice(0, target.indexOf('/'));
  const stateDir = values['state-dir'];
  const repoFile = values['repo-variables'];
  const orgFile = values['org-variables'];
  if (stateDir === undefined && repoFile === undefined && orgFile === undefined) {
    return {
      sources: { organization: 'store', repository: 'store' },
      notes: ['variables: assumed as the store writes them (no --state-dir, --repo-variables or --org-variables): retained or left-over variables are not seen'],
    };
  }
  let live: LiveVariables = {};
  const sources: VariableSources = { organization: 'store', repository: 'store' };
  const described = { organization: `organization variables of ${organization}: assumed as the store writes them`, repository: `variables of ${target}: assumed as the store writes them` };
  if (stateDir !== undefined) {
    const dir = path.resolve(io.cwd, stateDir);
    const file = path.join(dir, SYNC_REPORT_FILE);
    const run = (await readSyncReport(dir)).organizations[organization];
    if (!run) throw new InvalidInputError(`${file} has no sync of ${organization}: run egressctl sync --org ${organization} --state-dir ${stateDir} (or give --repo-variables/--org-variables)`);
    live = variablesAsLeft(run.variables, organization, target, state, true);
    const from = `sync state ${file} (sync at ${run.at}${run.dryRun ? ', dry run: as found' : ''})`;
    if (live.organization) {
      sources.organization = from;
      described.organization = `organization variables of ${organization}: as the sync recorded in ${file} left them (${run.at})`;
    } else described.organization += ` (${file} records none)`;
    if (live.repository) {
      sources.repository = from;
      described.repository = `variables of ${target}: as the sync recorded in ${file} left them (${run.at})`;
    } else described.repository += ` (${file} records none)`;
  }
  if (orgFile !== undefined) {
    live = { ...live, organization: await readVariableList(io, orgFile) };
    sources.organization = `file ${path.resolve(io.cwd, orgFile)}`;
    described.organization = `organization variables of ${organization}: from ${path.resolve(io.cwd, orgFile)}`;
  }
  if (repoFile !== undefined) {
    live = { ...live, repository: await readVariableList(io, repoFile) };
    sources.repository = `file ${path.resolve(io.cwd, repoFile)}`;
    described.repository = `variables of ${target}: from ${path.resolve(io.cwd, repoFile)}`;
  }
  return { variables: liveRepositoryVariables(state, target, live), sources, notes: [described.repository, described.organization] };
}

async function fromState(io: CliIo, org: string, dir: string, json: boolean): Promise<number> {
  const state = await readSyncReport(dir);
  const run = state.organizations[org.toLowerCase()];
  if (!run?.coverage) {
    throw new InvalidInputError(`${path.join(dir, SYNC_REPORT_FILE)} has no coverage for ${org}: run egressctl sync --org ${org} --state-dir ${dir} (or coverage --org ${org} without --state-dir to read GitHub)`);
  }
  const report: Report = { jobs: [], problems: [], errors: [] };
  for (const entry of Object.values(run.coverage)) {
    report.jobs.push(...entry.jobs);
    report.problems.push(...entry.problems);
  }
  return output(io, report, json, { organization: run.organization, at: run.at });
}

async function fromGitHub(io: CliIo, values: Values, org: string): Promise<number> {
  const repositories = values.repos?.split(',').map((name) => name.trim()).filter((name) => name !== '');
  if (repositories?.length === 0) throw usageError('--repos names no repository');
  const concurrency = values.concurrency === undefined ? 4 : Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw usageError(`--concurrency must be an integer >= 1, not "${values.concurrency}"`);
  const { repository: policy } = await loadValidRepository(io, repositoryDir(io, values.C));
  const credentials = await credentialsFromEnv(io.env);
  const github = cliGitHub(io.env, policy.settings.githubUrl);
  const { client } = await clientForAccount(credentials, org, {
    baseUrl: github.apiRoot,
    // Reads only: waiting out a limit that resets soon beats a partial report.
    primaryLimitRetries: 4,
    primaryLimitMaxWaitSeconds: 15 * 60,
    onLimit: (event) => io.stderr(`egressctl: GitHub rate limit on ${event.method} ${event.url}: ${event.retrying ? `waiting ${event.retryAfter} s` : 'giving up'}\n`),
  });
  const tty = io.stderrIsTty === true && !io.env['CI'];
  let done = 0;
  const line = (result: RepositoryCoverageResult): string => {
    if (result.error) return `${result.repository}: error: ${result.error}\n`;
    if (result.skipped) return `${result.repository}: skipped (${result.skipped})\n`;
    const totals = coverageTotals(result.coverage?.jobs ?? []);
    return `${result.repository}: ${plural(totals.jobs, 'job')}: ${totals.block} block, ${totals.audit} audit, ${totals.unprotected} unprotected (${plural(result.requests, 'request')})\n`;
  };
  const abort = new AbortController();
  const onInterrupt = () => abort.abort();
  process.once('SIGINT', onInterrupt);
  let read;
  try {
    read = await readOrganizationCoverage({
      client,
      organization: org,
      store: coverageStoreOf(policy, Date.now()),
      ...(repositories ? { repositories } : {}),
      listing: credentials.kind === 'app' ? 'installation' : 'organization',
      concurrency,
      signal: abort.signal,
      onRepository: (result) => {
        done++;
        if (tty) io.stderr(progressBar(done, repositories?.length, result.repository));
        else io.stderr(line(result));
      },
    });
  } finally {
    process.removeListener('SIGINT', onInterrupt);
  }
  if (tty) io.stderr('\n');
  const report: Report = { jobs: [], problems: [], errors: [] };
  // Rows are still shown, with the variables counted as the store writes them; the run fails (fail closed).
  if (read.variablesUnknown) report.errors.push({ repository: org.toLowerCase(), message: `${read.variablesUnknown} (counted as the store writes them)` });
  for (const result of read.repositories) {
    if (result.error) report.errors.push({ repository: result.repository, message: result.error });
    if (result.coverage) {
      report.jobs.push(...result.coverage.jobs);
      report.problems.push(...result.coverage.problems);
    }
    for (const message of result.variablesUnknown ?? []) report.errors.push({ repository: result.repository, message: `${message} (counted as the store writes them)` });
  }
  if (!values.json) io.stderr(`${read.repositories.length} repositor${read.repositories.length === 1 ? 'y' : 'ies'} read; ${read.requests} GitHub API requests${abort.signal.aborted ? ' (interrupted)' : ''}\n`);
  return Math.max(output(io, report, values.json === true, { organization: org.toLowerCase(), requests: read.requests }), abort.signal.aborted ? 1 : 0);
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

type Values = ReturnType<typeof parseCommandArgs<typeof OPTIONS>>['values'];

export const command: Command = {
  name: 'coverage',
  summary: 'per job: what enforces its egress policy, in which mode, and why not; totals per organization',
  usage,
  async run(args: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs(args, OPTIONS, usage);
    if (values['policy-from'] !== undefined) return fromFiles(io, values, positionals);
    if (positionals.length > 0) throw usageError(`workflow files go with --policy-from DIR --repository OWNER/REPO (got "${positionals[0]}")`);
    const org = values.org?.trim();
    if (!org || !/^[A-Za-z0-9._-]+$/.test(org)) throw usageError('--org ORG or --policy-from DIR is required');
    if (values.repository !== undefined) throw usageError('--repository goes with --policy-from; with --org use --repos R1,R2');
    if (values['repo-variables'] !== undefined || values['org-variables'] !== undefined) throw usageError('--repo-variables and --org-variables go with --policy-from; --org reads the variables from GitHub');
    const stateDir = values['state-dir'];
    if (stateDir !== undefined) {
      if (values.repos !== undefined || values.C !== undefined) throw usageError('--state-dir reads the last sync: drop --repos and -C');
      return fromState(io, org, path.resolve(io.cwd, stateDir), values.json === true);
    }
    return fromGitHub(io, values, org);
  },
};
