/**
 * `egressctl harden FILE...`: put Harden-Runner first in each eligible job of workflow files (or
 * update the step a job has, never weakening it), keeping every other byte. Plans from flags,
 * from baselines, or from the policy store (`--policy-from`, docs/reconciliation.md). Prints the
 * result, or writes it in place; one report per file.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { readBaselineIndex, readStableAfterRuns, workflowPathIn } from '../../baselines/index.js';
import { isRepositoryName } from '../../baselines/model.js';
import { DiagnosticSink, formatDiagnostic } from '../../policy/diagnostics.js';
import { parseEndpoint, sortUnique, splitEndpointString } from '../../policy/endpoint.js';
import { DEFAULT_SETTINGS, SETTINGS_FILE, type EgressMode, type HardenRunnerPin } from '../../policy/model.js';
import { policiesAsOf } from '../../policy/expiry.js';
import { flattenPolicies } from '../../policy/flatten.js';
import { attachmentMap } from '../../policy/model.js';
import { parseSettingsFile } from '../../policy/settings-file.js';
import { needsDraft, storePlanner } from '../../rollout/desired-state.js';
import { baselinePlanner, evidenceFromIndex, uniformPlanner, type BaselineEvidence } from '../../rollout/harden-plan.js';
import { describeChange, hardenWorkflow, type JobInfo, type JobOutcome, type JobPlanner } from '../../rollout/harden.js';
import { InvalidInputError, IoError, UsageError, messageOf } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/fs.js';
import { parseCommandArgs, writeJson, type CliIo, type Command } from '../io.js';
import { loadValidRepository, repositoryDir } from '../repository.js';
import type { BaselineIndex } from '../../baselines/recommend.js';
import type { StoreState } from '../../rollout/desired-state.js';
import type { CallGraph } from '../../policy/callers.js';
import { callGraphFrom } from '../workflow-files.js';

const usage =
  'egressctl harden FILE... [--mode block|audit] [--endpoints "HOST[:PORT] ..."] ' +
  '[--policy-from DIR --repository OWNER/REPO [--workflow PATH]] ' +
  '[--from-baselines -C DIR --repository OWNER/REPO [--workflow PATH]] [--pin SHA --pin-version vX.Y.Z] [--repin] ' +
  '[--composite OWNER/REPO/actions/harden@REF --server URL --audience AUD [--on-error audit|block|fail]] [--write] [--json]';

// Option tables of harden and sync look alike (`duplicates` pairs them by shape) but hold different flags: kept.
const OPTIONS = {
  mode: { type: 'string' },
  endpoints: { type: 'string' },
  'from-baselines': { type: 'boolean' },
  'policy-from': { type: 'string' },
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

/** A problem of one file of a batch: reported for that file, the others go on (exit 1). */
class FileProblem extends Error {}

/** `sub/action.yml` when the file sits in a subfolder of `.github/workflows/` (GitHub runs no workflow from there). */
function subfolderOfWorkflows(file: string): string | undefined {
  return file.replace(/\\/g, '/').match(/\.github\/workflows\/([^/]+\/.+)$/)?.[1];
}

/**
 * `.github/workflows/<file>` for the file given on the command line (or --workflow). With
 * `strict` (the store decides by workflow path) a file outside `.github/workflows/` needs --workflow.
 */
function workflowPathOf(file: string, repository: string, override: string | undefined, strict = false): string {
  const normalized = file.replace(/\\/g, '/');
  const under = normalized.match(/\.github\/workflows\/[^/]+$/)?.[0];
  const nested = subfolderOfWorkflows(normalized);
  if (override === undefined && nested !== undefined) {
    throw new FileProblem(
      `${file}: not a workflow: it is in a subfolder of .github/workflows/ (${nested}), and GitHub runs only files directly in .github/workflows/ (a composite action or a template?); left unchanged`,
    );
  }
  if (strict && override === undefined && under === undefined) {
    throw usageError(`${file} is not under .github/workflows/: pass --workflow .github/workflows/FILE.yml so the right attachment applies`);
  }
  const wanted = override ?? under ?? path.basename(file);
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

async function plannerFor(values: Values, io: CliIo, file: string, stores: StoreCache): Promise<JobPlanner> {
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
  const repin = values.repin === true;
  if (values['policy-from'] !== undefined) {
    for (const flag of ['mode', 'endpoints', 'from-baselines', 'C'] as const) {
      if (values[flag] !== undefined) throw usageError(`--policy-from plans from the store: drop --${flag === 'C' ? 'C' : flag}`);
    }
    if (values.repository === undefined || !isRepositoryName(values.repository)) {
      throw usageError('--policy-from needs --repository OWNER/REPO (whose attachments apply)');
    }
    const store = await storeFrom(io, repositoryDir(io, values['policy-from']), stores);
    const workflowPath = workflowPathOf(file, values.repository, values.workflow, true);
    // A reusable workflow's jobs follow their callers: the other workflows of the file's folder.
    const folder = path.dirname(path.resolve(io.cwd, file));
    const callers = /[\\/]\.github[\\/]workflows$/.test(folder) ? await callGraphOf(stores, folder, values.repository) : undefined;
    const pin = values.pin === undefined ? store.state.settings.hardenRunner : await resolvePin(values, undefined);
    return storePlanner({
      store: { ...store.state, settings: { ...store.state.settings, hardenRunner: pin } },
      repository: values.repository,
      workflowPath,
      repin,
      baselineOf: evidenceFromIndex(store.baselines, values.repository, workflowPath),
      ...(callers ? { callers } : {}),
    });
  }
  const dir = values.C === undefined ? undefined : repositoryDir(io, values.C);
  const pin = await resolvePin(values, dir);
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


type LoadedStore = { state: StoreState; baselines: BaselineIndex };
/** Stores (and workflow call graphs) loaded by one command, by directory: every file of a batch shares one load. */
type StoreCache = Map<string, Promise<LoadedStore>> & { graphs?: Map<string, Promise<CallGraph>> };

function callGraphOf(stores: StoreCache, folder: string, repository: string): Promise<CallGraph> {
  stores.graphs ??= new Map();
  let graph = stores.graphs.get(folder);
  if (!graph) {
    graph = callGraphFrom(folder, repository);
    stores.graphs.set(folder, graph);
  }
  return graph;
}

function storeFrom(io: CliIo, dir: string, stores: StoreCache): Promise<LoadedStore> {
  let store = stores.get(dir);
  if (!store) {
    store = (async () => {
      const { repository } = await loadValidRepository(io, dir);
      return {
        state: { policies: policiesAsOf(flattenPolicies(repository), Date.now()), attachments: attachmentMap(repository.attachments), settings: repository.settings },
        baselines: repository.baselines,
      };
    })();
    stores.set(dir, store);
  }
  return store;
}

function outcomeLine(outcome: JobOutcome): string {
  const warnings = (outcome.warnings ?? []).map((warning) => `  warning: ${warning}\n`).join('');
  const drift = outcome.drift ? `  drift: ${outcome.drift}\n` : '';
  return `${outcome.job}: ${outcome.action}${outcome.reason ? ` (${outcome.reason})` : ''}\n${warnings}${drift}`;
}

/** One job of the `--json` report. */
function jobJson(outcome: JobOutcome): Record<string, unknown> {
  const plan = outcome.plan?.kind === 'harden-runner' ? outcome.plan : undefined;
  return {
    job: outcome.job,
    action: outcome.action,
    mode: outcome.mode ?? null,
    endpoints: outcome.endpoints ?? null,
    policy: outcome.policy !== undefined ? outcome.policy : null,
    reason: outcome.reason ?? null,
    changes: (outcome.changes ?? []).map((change) => ({ ...change, text: describeChange(change) })),
    ...(outcome.warnings ? { warnings: outcome.warnings } : {}),
    ...(outcome.drift ? { drift: outcome.drift } : {}),
    ...(outcome.policyEnv ? { policyEnv: outcome.policyEnv } : {}),
    ...(outcome.support ? { support: outcome.support } : {}),
    ...(plan?.wouldBlock && plan.wouldBlock.length > 0 ? { wouldBlock: plan.wouldBlock } : {}),
    ...(outcome.existing?.managedBy ? { managedBy: outcome.existing.managedBy } : {}),
  };
}

interface FileReport {
  file: string;
  /** false: not an editable workflow, or the rewrite would add parser errors (exit 1). */
  valid: boolean;
  changed: boolean;
  written: boolean;
  output: string;
  /** A PR of these changes should open as a draft (evidence of endpoints the policy would block). */
  draft: boolean;
  jobs: Record<string, unknown>[];
  errors: string[];
}

async function hardenFile(file: string, values: Values, io: CliIo, stores: StoreCache): Promise<{ report: FileReport; outcomes: JobOutcome[] }> {
  let planner: JobPlanner;
  try {
    planner = await plannerFor(values, io, file, stores);
  } catch (error) {
    if (!(error instanceof FileProblem)) throw error;
    return { report: { file, valid: false, changed: false, written: false, output: '', draft: false, jobs: [], errors: [error.message] }, outcomes: [] };
  }
  const filePath = path.resolve(io.cwd, file);
  let text: string;
  try {
    text = await readFile(filePath, 'utf8');
  } catch (error) {
    throw new IoError(`cannot read ${file}: ${messageOf(error)}`, { cause: error });
  }
  const result = hardenWorkflow(text, { file, plan: planner });
  const base = { file, changed: false, written: false, output: text, draft: false, jobs: result.jobs.map(jobJson) };
  if (result.errors.length > 0) return { report: { ...base, valid: false, errors: result.errors.map(formatDiagnostic) }, outcomes: result.jobs };
  if (result.changed) {
    // GitHub's own parser must not find anything new in what we wrote (loaded only when needed).
    const { newWorkflowErrors } = await import('../../rollout/workflow-check.js');
    const added = await newWorkflowErrors(file, text, result.output);
    if (added.length > 0) {
      return { report: { ...base, valid: false, errors: [`the rewritten workflow would add errors; ${file} left unchanged:`, ...added] }, outcomes: result.jobs };
    }
  }
  const written = values.write === true && result.changed;
  if (written) await writeFileAtomic(filePath, result.output, { keepMode: true });
  return {
    report: { ...base, valid: true, changed: result.changed, written, output: result.output, draft: needsDraft(result.jobs), errors: [] },
    outcomes: result.jobs,
  };
}

// The command shape (name, summary, usage, run -> parseCommandArgs with its own options) is the same in every
// command on purpose: `duplicates` pairs these by shape; only `-C DIR` is shared and it is one line (issue 13).
export const command: Command = {
  name: 'harden',
  summary: 'put Harden-Runner first in each job of workflow files, keeping the rest of the text',
  usage,
  async run(args: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs(args, OPTIONS, usage);
    if (positionals.length === 0) throw usageError('name at least one workflow file');
    if (positionals.length > 1 && values.workflow !== undefined) throw usageError('--workflow names one file: give one FILE with it');
    const reports: FileReport[] = [];
    let failed = false;
    const stores: StoreCache = new Map();
    // A missing flag is the command's problem, not a file's: found before any file is written.
    if (values['policy-from'] !== undefined && values.workflow === undefined) {
      const loose = positionals.find((file) => subfolderOfWorkflows(file) === undefined && !/\.github[\\/]workflows[\\/][^\\/]+$/.test(file));
      if (loose !== undefined) throw usageError(`${loose} is not under .github/workflows/: pass --workflow .github/workflows/FILE.yml so the right attachment applies`);
    }
    for (const file of positionals) {
      const { report, outcomes } = await hardenFile(file, values, io, stores);
      reports.push(report);
      if (!report.valid) {
        failed = true;
        if (!values.json) for (const line of report.errors) io.stderr(`${line}\n`);
        continue;
      }
      if (values.json) continue;
      const heading = positionals.length > 1 ? `${file}:\n` : '';
      if (values.write) {
        io.stdout(heading + outcomes.map(outcomeLine).join(''));
        io.stdout(report.changed ? `wrote ${file}\n` : `${file} unchanged\n`);
      } else {
        io.stdout(report.output);
        io.stderr(heading + outcomes.map(outcomeLine).join(''));
      }
    }
    if (values.json) {
      const compact = reports.map(({ errors, ...report }) => (report.valid ? report : { ...report, errors }));
      // One FILE: its report; several: an array, one report per file.
      writeJson(io, positionals.length === 1 ? compact[0] : compact);
    }
    return failed ? 1 : 0;
  },
};
