/**
 * Sync (docs/reconciliation.md): reconcile an organization's repositories to the store. The
 * workflow side is the rollout (rollout.ts) with the store as its desired state; with
 * `delivery: variables` a full sync also re-asserts the Actions variables the store owns. A
 * sync after a merge is the App's (src/app/sync-work.ts): one `syncRepository` per repository
 * the change reaches.
 */
import { coverageStoreOf, coverRepository } from '../coverage/coverage.js';
import { liveRepositoryVariables, storeRepositoryVariables, variablesAfterSync, type LiveVariables } from '../coverage/variables.js';
import type { RepositoryCoverage } from '../coverage/model.js';
import type { PolicyRepository } from '../store/repository.js';
import type { StoreState } from './desired-state.js';
import type { GitHubClient } from '../github/client.js';
import { VariableWriter, type RetainPolicy, type WorkflowsRead } from './github-variables.js';
import type { ActionSettings, RolloutMode } from './rollout-plan.js';
import { listTargets, rolloutRepository, runRollout, type RepositoryRollout, type RepositoryTarget, type RolloutOptions, type RolloutReport } from './rollout.js';
import { syncEntry, type OrganizationSync, type SyncEntry, type VariableEntry } from './sync-report.js';
import { desiredVariables, retainedValue, storeStateOf, type DesiredVariable } from './sync-plan.js';

export interface SyncOptions {
  client: GitHubClient;
  organization: string;
  /** The store at the revision to sync to. */
  policy: PolicyRepository;
  /** Repository names; undefined: every repository the credentials reach in the organization. */
  repositories?: readonly string[];
  listing?: 'installation' | 'organization';
  dryRun?: boolean;
  force?: boolean;
  concurrency?: number;
  policyRepository?: string;
  /** `action`: this project's composite action instead of inline Harden-Runner (no store needed at run time). */
  mode?: RolloutMode;
  action?: ActionSettings;
  /** Rollout from baselines (the pre-sync behaviour of `egressctl rollout`) instead of the store. */
  fromBaselines?: boolean;
  onRepository?: (result: RepositoryRollout) => void;
  signal?: AbortSignal;
  now?: () => string;
  /** The store's commit, named in the firewall file's header (docs/github-firewall.md). */
  revision?: string;
}

export interface SyncResult {
  rollout: RolloutReport;
  report: OrganizationSync;
  /** REST requests in total (workflows and variables). */
  requests: number;
}

/**
 * The store as one sync sees it, evaluated once (the clock read once, the desired state built
 * once) and handed to every repository, the variables and the coverage: no part of a sync
 * re-evaluates it, and none can see an exception expired that another saw in force.
 */
interface SyncClock {
  /** ISO time of the run (the report's `at`). */
  at: string;
  /** The same instant in milliseconds: the time the store is evaluated at. */
  time: number;
}

/** The time the store is evaluated at: expired exceptions are not part of the desired state. Reads the clock once. */
function syncClock(options: Pick<SyncOptions, 'now'>): SyncClock {
  const at = options.now?.() ?? new Date().toISOString();
  const time = Date.parse(at);
  return Number.isNaN(time) ? { at: new Date().toISOString(), time: Date.now() } : { at, time };
}

function rolloutConfig(options: SyncOptions, store: StoreState) {
  const { policy } = options;
  const mode = options.mode ?? 'inline';
  return {
    mode,
    pin: policy.settings.hardenRunner,
    baselines: policy.baselines,
    ...(options.action ? { action: options.action } : {}),
    ...(options.fromBaselines || mode === 'action' ? {} : { store }),
    ...(options.revision ? { revision: options.revision } : {}),
  };
}

/** A full sync of an organization (the CLI, the scheduled pass). */
export async function runSync(options: SyncOptions): Promise<SyncResult> {
  const clock = syncClock(options);
  const store = storeStateOf(options.policy, clock.time);
  const covered = (results: readonly RepositoryRollout[], read: WorkflowsRead = workflowsRead({ repositories: [...results] })) => ({ policy: options.policy, store, results, read, organizationVariables: true });
  const common = {
    client: options.client,
    organization: options.organization,
    config: rolloutConfig(options, store),
    ...(options.dryRun ? { dryRun: true } : {}),
    ...(options.force ? { force: true } : {}),
    ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    ...(options.policyRepository ? { policyRepository: options.policyRepository } : {}),
    ...(options.onRepository ? { onRepository: options.onRepository } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const selection = { ...(options.repositories ? { repositories: options.repositories } : {}), ...(options.listing ? { listing: options.listing } : {}) };
  if (options.policy.settings.delivery !== 'variables' || options.fromBaselines) {
    const rollout = await runRollout({ ...common, ...selection });
    return { rollout, report: organizationSync(options, clock, rollout.repositories.map(syncEntry), [], covered(rollout.repositories)), requests: rollout.requests };
  }
  const writer = new VariableWriter(options.client);
  const desired = desiredVariables(store, [options.organization]);
  const retain: RetainPolicy = (variable) => retainedValue(store, variable);
  if (options.dryRun) {
    const rollout = await runRollout({ ...common, ...selection });
    const variables = await writer.reassert(options.organization, desired, rollout.repositories.map((result) => result.repository), { dryRun: true, retain });
    const read = await withRetainedRead(writer, variables, workflowsRead(rollout));
    return { rollout, report: organizationSync(options, clock, rollout.repositories.map(syncEntry), variables, covered(rollout.repositories, read)), requests: rollout.requests + writer.requests };
  }
  // Variables first: a step is switched to read them only once they are written and read back.
  const listed = await listTargets(options.client, options.organization, selection);
  const names = listed.targets.map((target) => `${target.owner}/${target.name}`);
  const reasserted = await writer.reassert(options.organization, desired, names, { retain });
  const rollout = await rolloutConfirmed(writer, desired, reasserted, { ...common, targets: listed.targets });
  rollout.requests += listed.requests;
  // Variables kept for steps that may still read them go once the workflows just read show none does.
  const read = await withRetainedRead(writer, reasserted, workflowsRead(rollout));
  const variables = await writer.retire(options.organization, desired, reasserted, read);
  return { rollout, report: organizationSync(options, clock, rollout.repositories.map(syncEntry), variables, covered(rollout.repositories, read)), requests: rollout.requests + writer.requests };
}

/**
 * `read` plus the default branch's workflows of each repository holding a retained variable that
 * the rollout did not read (its sync PR up to date): `retire` decides from them whether a step
 * still reads it, and coverage says what those jobs get through it. One that cannot be read is
 * left out: `retire` reads it again and keeps the variable, and coverage keeps what it recorded.
 */
async function withRetainedRead(writer: VariableWriter, entries: readonly VariableEntry[], read: WorkflowsRead): Promise<WorkflowsRead> {
  const more = new Map(read);
  for (const entry of entries) {
    if (entry.level !== 'repository' || entry.status !== 'retained' || more.has(entry.target)) continue;
    try {
      more.set(entry.target, await writer.defaultBranchWorkflows(entry.target));
    } catch {
      // retire reads it again and says why it keeps the variable.
    }
  }
  return more;
}

/**
 * The rollout of `targets` whose variables are confirmed (VariableWriter.confirm); the others
 * fail with the reason and are not touched: their steps keep the inputs they have (fail closed).
 */
async function rolloutConfirmed(writer: VariableWriter, desired: ReadonlyMap<string, DesiredVariable>, written: readonly VariableEntry[], options: RolloutOptions & { targets: readonly RepositoryTarget[] }): Promise<RolloutReport> {
  const names = options.targets.map((target) => `${target.owner}/${target.name}`.toLowerCase());
  const problems = await writer.confirm(options.organization, desired, names, written);
  const rollout = await runRollout({ ...options, targets: options.targets.filter((target) => !problems.has(`${target.owner}/${target.name}`.toLowerCase())) });
  for (const [repository, reasons] of problems) {
    const failed: RepositoryRollout = { repository, status: 'failed', message: `the variables its steps read are not in place, so its workflows were left as they are: ${reasons.join('; ')}`, files: [], requests: 0 };
    rollout.repositories.push(failed);
    options.onRepository?.(failed);
  }
  rollout.repositories.sort((a, b) => (a.repository.toLowerCase() < b.repository.toLowerCase() ? -1 : 1));
  return rollout;
}

/** The workflow files each repository's rollout read from its default branch (absent: decided without reading them). */
function workflowsRead(rollout: Pick<RolloutReport, 'repositories'>): WorkflowsRead {
  const read = new Map<string, { path: string; text: string }[]>();
  for (const result of rollout.repositories) if (result.workflows) read.set(result.repository.toLowerCase(), result.workflows);
  return read;
}

/** What a run's coverage is computed from. */
interface Covered {
  policy: PolicyRepository;
  store: StoreState;
  results: readonly RepositoryRollout[];
  /** The workflow files read per repository (lower-cased): by the rollout, and for a retained variable. */
  read: WorkflowsRead;
  /** The run's variable entries include the organization's (a full sync); false: the organization unit put them in place (the App's repository unit). */
  organizationVariables: boolean;
}

function organizationSync(options: Pick<SyncOptions, 'organization' | 'dryRun'>, clock: SyncClock, repositories: SyncEntry[], variables: VariableEntry[], covered?: Covered): OrganizationSync {
  const at = clock.at;
  const report: OrganizationSync = { organization: options.organization.toLowerCase(), at, dryRun: options.dryRun === true, repositories, variables };
  if (covered) {
    // Coverage of what this run read (docs/architecture.md#coverage): the store it synced to (the same evaluation), the
    // files as GitHub has them, the variables as this run left them (retained ones included).
    const store = coverageStoreOf(covered.policy, clock.time, covered.store);
    const spelled = new Map(covered.results.map((result) => [result.repository.toLowerCase(), result.repository]));
    const coverage: Record<string, RepositoryCoverage> = {};
    for (const [key, workflows] of covered.read) {
      const repository = spelled.get(key) ?? key;
      const live = variablesAsLeft(variables, report.organization, key, covered.store, covered.organizationVariables);
      let recorded = coverRepository(repository, workflows, store, { at, variables: liveRepositoryVariables(covered.store, repository, live) });
      if (recorded.jobs.some((job) => job.failure !== undefined)) {
        // Would a sync end it? The same files with every variable as a sync leaves it.
        const settled = coverRepository(repository, workflows, store, { at, variables: liveRepositoryVariables(covered.store, repository, variablesAfterSync(covered.store, repository, live)) });
        recorded = withFailureCauses(recorded, settled);
      }
      coverage[repository] = recorded;
    }
    report.coverage = coverage;
  }
  return report;
}

/**
 * `recorded` with each failing job's cause: whether it still fails open in `settled`, the coverage
 * of the same files with every variable as a sync leaves it (variablesAfterSync). Still failing:
 * its workflow file reads its policy through the variable; the App does not retry it.
 */
function withFailureCauses(recorded: RepositoryCoverage, settled: RepositoryCoverage): RepositoryCoverage {
  const stillFailing = new Set(settled.jobs.filter((job) => job.failure !== undefined).map((job) => `${job.file}#${job.job}`));
  return { ...recorded, jobs: recorded.jobs.map((job) => (job.failure === undefined ? job : { ...job, failureCause: stillFailing.has(`${job.file}#${job.job}`) ? 'workflow-file' : 'variables' })) };
}

/**
 * A repository's variables as the run's entries leave them: the values written, found equal,
 * retained or (a dry run) found on GitHub; deleted ones gone. A level the entries do not reach is
 * the store's (the App's organization unit confirmed the organization's before any repository
 * unit). A failed listing or write is unknown: counted as the store writes it, and said.
 */
export function variablesAsLeft(entries: readonly VariableEntry[], organization: string, repository: string, store: StoreState, organizationLevel: boolean): LiveVariables {
  const asked = storeRepositoryVariables(store, repository);
  const unknown: string[] = [];
  const level = (name: 'organization' | 'repository', target: string, wanted: Readonly<Record<string, string>>): Map<string, string> | undefined => {
    const here = entries.filter((entry) => entry.level === name && entry.target === target);
    if (here.length === 0) return undefined;
    const values = new Map<string, string>();
    let unread = false;
    for (const entry of here) {
      if (entry.status === 'error') {
        if (entry.name === '*') unread = true;
        unknown.push(entry.name === '*' ? `the ${name} variables of ${target} could not be read: ${entry.reason ?? 'failed'}` : `${entry.name} on ${target}: ${entry.reason ?? 'failed'}`);
        const value = wanted[entry.name];
        if (value !== undefined) values.set(entry.name, value);
      } else if (entry.value !== null) values.set(entry.name, entry.value);
    }
    if (unread) for (const [name, value] of Object.entries(wanted)) if (!values.has(name)) values.set(name, value);
    return values;
  };
  const organizationValues = organizationLevel ? level('organization', organization, asked.organization) : undefined;
  const repositoryValues = level('repository', repository, asked.repository);
  return { ...(organizationValues ? { organization: organizationValues } : {}), ...(repositoryValues ? { repository: repositoryValues } : {}), unknown };
}

export interface RepositorySyncOptions extends Pick<SyncOptions, 'client' | 'organization' | 'policy' | 'policyRepository' | 'mode' | 'action' | 'now' | 'revision'> {
  target: RepositoryTarget;
  /** The store evaluated already (storeStateOf(policy, now)): the App's repository syncs share one per revision and UTC day. */
  store?: StoreState;
}

/**
 * Sync one repository to the store (the App's unit of work, docs/github-app.md "Durable work"):
 * its workflows; with `delivery: variables`, first its own variables, written and read back
 * (the organization's are the caller's: put in place before any repository is synced). A
 * repository whose variables are not in place keeps its workflows as they are (fail closed).
 */
export async function syncRepository(options: RepositorySyncOptions): Promise<SyncResult> {
  const { client, organization, policy, target } = options;
  const clock = syncClock(options);
  const store = options.store ?? storeStateOf(policy, clock.time);
  const config = rolloutConfig(options, store);
  const context = { config, dryRun: false, force: false, ...(options.policyRepository ? { policyRepository: options.policyRepository } : {}) };
  const covered = (results: readonly RepositoryRollout[], read: WorkflowsRead = workflowsRead({ repositories: [...results] })) => ({ policy, store, results, read, organizationVariables: false });
  if (policy.settings.delivery !== 'variables') {
    const result = await rolloutRepository(client, target, context);
    return { rollout: { organization, repositories: [result], requests: result.requests }, report: organizationSync(options, clock, [syncEntry(result)], [], covered([result])), requests: result.requests };
  }
  const writer = new VariableWriter(client);
  const desired = desiredVariables(store, [organization]);
  const name = `${target.owner}/${target.name}`.toLowerCase();
  const retain: RetainPolicy = (variable) => retainedValue(store, variable);
  const reasserted = await writer.reassert(organization, desired, [name], { organizationLevel: false, retain });
  const rollout = await rolloutConfirmed(writer, desired, reasserted, { client, organization, config, targets: [target], ...(options.policyRepository ? { policyRepository: options.policyRepository } : {}) });
  // As runSync: a variable kept for steps that may still read it goes once its workflows show none does.
  const read = await withRetainedRead(writer, reasserted, workflowsRead(rollout));
  const variables = await writer.retire(organization, desired, reasserted, read);
  return { rollout, report: organizationSync(options, clock, rollout.repositories.map(syncEntry), variables, covered(rollout.repositories, read)), requests: rollout.requests + writer.requests };
}
