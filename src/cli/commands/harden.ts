/**
 * `egressctl harden FILE`: put Harden-Runner first in each eligible job of one workflow file (or
 * update the step it has), keeping every other byte. Prints the result, or writes it in place.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { readBaselineIndex, readStableAfterRuns, workflowPathIn } from '../../baselines/index.js';
import { isRepositoryName } from '../../baselines/model.js';
import { DiagnosticSink, formatDiagnostic } from '../../policy/diagnostics.js';
import { parseEndpoint, sortUnique, splitEndpointString } from '../../policy/endpoint.js';
import { DEFAULT_SETTINGS, SETTINGS_FILE, type EgressMode, type HardenRunnerPin } from '../../policy/model.js';
import { parseSettingsFile } from '../../policy/settings-file.js';
import { baselinePlanner, evidenceFromIndex, uniformPlanner, type BaselineEvidence } from '../../rollout/harden-plan.js';
import { hardenWorkflow, type JobInfo, type JobOutcome, type JobPlanner } from '../../rollout/harden.js';
import { newWorkflowErrors } from '../../rollout/workflow-check.js';
import { InvalidInputError, IoError, UsageError } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/fs.js';
import { parseCommandArgs, writeJson, type CliIo, type Command } from '../io.js';
import { repositoryDir } from '../repository.js';

const usage =
  'egressctl harden FILE [--mode block|audit] [--endpoints "HOST[:PORT] ..."] ' +
  '[--from-baselines -C DIR --repository OWNER/REPO [--workflow PATH]] [--pin SHA --pin-version vX.Y.Z] [--repin] ' +
  '[--composite OWNER/REPO/actions/harden@REF --server URL --audience AUD [--on-error audit|block|fail]] [--write] [--json]';

const OPTIONS = {
  mode: { type: 'string' },
  endpoints: { type: 'string' },
  'from-baselines': { type: 'boolean' },
  C: { type: 'string', short: 'C' },
  repository: { type: 'string' },
  workflow: { type: 'string' },
  pin: { type: 'string' },
  'pin-version': { type: 'string' },
  repin: { type: 'boolean' },
  composite: { type: 'string' },
  server: { type: 'string' },
  audience: { type: 'string' },
  'on-error': { type: 'string' },
  write: { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

function usageError(message: string): UsageError {
  return new UsageError(`${message}\nusage: ${usage}`);
}

/** `--endpoints`: whitespace- or comma-separated, each validated and normalized. */
export function parseEndpointsFlag(text: string): string[] {
  const problems: string[] = [];
  const endpoints: string[] = [];
  for (const entry of splitEndpointString(text.replace(/,/g, ' '))) {
    const parsed = parseEndpoint(entry);
    if (parsed.endpoint) endpoints.push(parsed.endpoint.text);
    for (const issue of parsed.issues) if (issue.severity === 'error') problems.push(issue.message);
  }
  if (problems.length > 0) throw new InvalidInputError(`--endpoints: ${problems.join('; ')}`);
  return sortUnique(endpoints);
}

/** The Harden-Runner pin: flags, else egressctl.yml of DIR (when given), else the built-in default. */
async function resolvePin(values: { pin?: string; 'pin-version'?: string }, dir: string | undefined): Promise<HardenRunnerPin> {
  if (values.pin !== undefined || values['pin-version'] !== undefined) {
    if (values.pin === undefined || values['pin-version'] === undefined) throw usageError('--pin and --pin-version go together');
    if (!/^[0-9a-f]{40}$/.test(values.pin)) throw usageError(`--pin must be a full 40-character commit SHA, not "${values.pin}"`);
    return { repository: DEFAULT_SETTINGS.hardenRunner.repository, sha: values.pin, version: values['pin-version'] };
  }
  if (dir === undefined) return DEFAULT_SETTINGS.hardenRunner;
  let text: string;
  try {
    text = await readFile(path.join(dir, SETTINGS_FILE), 'utf8');
  } catch {
    return DEFAULT_SETTINGS.hardenRunner;
  }
  const sink = new DiagnosticSink();
  const settings = parseSettingsFile(SETTINGS_FILE, text, sink);
  if (sink.hasErrors) {
    throw new InvalidInputError(`${SETTINGS_FILE} is invalid:\n${sink.items.map(formatDiagnostic).join('\n')}`);
  }
  return settings.hardenRunner;
}

/** `.github/workflows/<file>` for the file given on the command line (or --workflow). */
function workflowPathOf(file: string, repository: string, override: string | undefined): string {
  const wanted = override ?? (file.replace(/\\/g, '/').match(/\.github\/workflows\/[^/]+$/)?.[0] ?? path.basename(file));
  const workflowPath = workflowPathIn(repository, wanted);
  if (!workflowPath) throw usageError(`cannot tell the workflow path of "${wanted}": pass --workflow .github/workflows/FILE.yml`);
  return workflowPath;
}

/**
 * The one integration point with baselines: a job's evidence from the policy repository at `dir`.
 * Invalid baseline files stop the command (exit 1) rather than silently planning audit mode.
 */
async function baselineLookup(dir: string, repository: string, workflowPath: string): Promise<(job: JobInfo) => BaselineEvidence | undefined> {
  const { stableAfterRuns } = await readStableAfterRuns(dir);
  const result = await readBaselineIndex(dir, { stableAfterRuns });
  if (result.errors.length > 0) {
    throw new InvalidInputError(`invalid baseline files in ${dir}:\n${result.errors.map(formatDiagnostic).join('\n')}`);
  }
  return evidenceFromIndex(result.value, repository, workflowPath);
}

type Values = ReturnType<typeof parseCommandArgs<typeof OPTIONS>>['values'];

async function plannerFor(values: Values, io: CliIo, file: string): Promise<JobPlanner> {
  const mode = values.mode;
  if (mode !== undefined && mode !== 'block' && mode !== 'audit') throw usageError(`--mode must be block or audit, not "${mode}"`);
  if (values.composite !== undefined) {
    for (const flag of ['mode', 'endpoints', 'from-baselines', 'pin', 'pin-version'] as const) {
      if (values[flag] !== undefined) throw usageError(`--composite takes its policy from the server: drop --${flag}`);
    }
    if (!/^[^/\s]+\/[^/\s]+\/actions\/harden@\S+$/.test(values.composite)) {
      throw usageError(`--composite must look like OWNER/REPO/actions/harden@REF, not "${values.composite}"`);
    }
    if (values.server === undefined || values.audience === undefined) throw usageError('--composite needs --server and --audience');
    const onError = values['on-error'];
    if (onError !== undefined && onError !== 'audit' && onError !== 'block' && onError !== 'fail') {
      throw usageError(`--on-error must be audit, block or fail, not "${onError}"`);
    }
    return uniformPlanner({
      kind: 'composite',
      uses: values.composite,
      ...(values.repin ? { repin: true } : {}),
      with: { server: values.server, audience: values.audience, ...(onError ? { 'on-error': onError } : {}) },
    });
  }
  const dir = values.C === undefined ? undefined : repositoryDir(io, values.C);
  const pin = await resolvePin(values, dir);
  const repin = values.repin === true;
  if (values['from-baselines']) {
    if (values.endpoints !== undefined) throw usageError('--from-baselines and --endpoints exclude each other');
    if (values.repository === undefined || !isRepositoryName(values.repository)) {
      throw usageError('--from-baselines needs --repository OWNER/REPO (whose baseline file to read)');
    }
    const workflowPath = workflowPathOf(file, values.repository, values.workflow);
    const baselineOf = await baselineLookup(dir ?? io.cwd, values.repository, workflowPath);
    return baselinePlanner({ pin, repin, baselineOf, ...(mode === 'audit' ? { mode: 'audit' as EgressMode } : {}) });
  }
  const endpoints = values.endpoints === undefined ? undefined : parseEndpointsFlag(values.endpoints);
  const effectiveMode: EgressMode = mode ?? (endpoints === undefined ? 'audit' : 'block');
  if (effectiveMode === 'audit' && endpoints !== undefined) throw usageError('--mode audit takes no --endpoints');
  return uniformPlanner({ kind: 'harden-runner', pin, ...(repin ? { repin: true } : {}), mode: effectiveMode, endpoints: endpoints ?? [] });
}


function outcomeLine(outcome: JobOutcome): string {
  return `${outcome.job}: ${outcome.action}${outcome.reason ? ` (${outcome.reason})` : ''}\n`;
}

export const command: Command = {
  name: 'harden',
  summary: 'put Harden-Runner first in each job of a workflow file, keeping the rest of the text',
  usage,
  async run(args: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs(args, OPTIONS, usage);
    if (positionals.length !== 1) throw usageError(positionals.length === 0 ? 'name one workflow file' : `one workflow file at a time, not ${positionals.length}`);
    const file = positionals[0] ?? '';
    const planner = await plannerFor(values, io, file);
    const filePath = path.resolve(io.cwd, file);
    let text: string;
    try {
      text = await readFile(filePath, 'utf8');
    } catch (error) {
      throw new IoError(`cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }

    const result = hardenWorkflow(text, { file, plan: planner });
    if (result.errors.length > 0) {
      for (const diagnostic of result.errors) io.stderr(`${formatDiagnostic(diagnostic)}\n`);
      return 1;
    }
    if (result.changed) {
      // GitHub's own parser must not find anything new in what we wrote.
      const added = await newWorkflowErrors(file, text, result.output);
      if (added.length > 0) {
        io.stderr(`egressctl: the rewritten workflow would add errors; ${file} left unchanged:\n${added.join('\n')}\n`);
        return 1;
      }
    }

    const jobs = result.jobs.map((job) => ({ job: job.job, action: job.action, reason: job.reason ?? null }));
    if (values.write && result.changed) await writeFileAtomic(filePath, result.output, { keepMode: true });
    if (values.json) {
      writeJson(io, { file, changed: result.changed, written: values.write === true && result.changed, output: result.output, jobs });
    } else if (values.write) {
      for (const outcome of result.jobs) io.stdout(outcomeLine(outcome));
      io.stdout(result.changed ? `wrote ${file}\n` : `${file} unchanged\n`);
    } else {
      io.stdout(result.output);
      for (const outcome of result.jobs) io.stderr(outcomeLine(outcome));
    }
    return 0;
  },
};
