/**
 * The GitHub firewall as an enforcement target of sync (docs/github-firewall.md): given one
 * repository's planned workflow files (the Harden-Runner target's output) and the firewall file
 * it has, what changes: the file (created or rewritten when ours; a person's file only reported),
 * and with `runs-on: rewrite` the runner labels of jobs that follow a block policy. Pure, apart
 * from GitHub's workflow parser gating each relabelled file.
 */
import { desiredWorkflowState, type StoreState } from '../desired-state.js';
import type { FilePlan, RepositoryPlan } from '../rollout-plan.js';
import { newWorkflowErrors } from '../workflow-check.js';
import { decideFirewallFile, type FirewallFileAction } from './file.js';
import { FIREWALL_FILE } from './format.js';
import { desiredFirewall, type DesiredFirewall, type FirewallFinding } from './map.js';
import { moveToFirewallRunner, type RunnerMove } from './runs-on.js';

export interface FirewallTargetReport {
  /** What happens to `.github/egress-firewall.yaml`. */
  action: FirewallFileAction;
  desired: DesiredFirewall | null;
  /** What the file cannot express, unions, Harden-Runner's hosts. */
  findings: FirewallFinding[];
  /** Per workflow file, the runs-on decisions (with `runs-on: rewrite`). */
  runners: { path: string; jobs: RunnerMove[] }[];
  /** One line each, for the sync report and the PR body. */
  reasons: string[];
}

export interface FirewallTargetInput {
  store: StoreState;
  repository: string;
  plan: RepositoryPlan;
  /** The file on the default branch, if any. */
  existing?: string;
  /** `host:port` the repository's baselines saw. */
  seen: readonly string[];
  /** Store commit, for the file's header. */
  revision?: string;
}

function runsHardenRunner(file: FilePlan | undefined): boolean {
  return file?.jobs.some((job) => job.action !== 'skipped' && job.mode !== undefined) ?? false;
}

function moveReason(move: RunnerMove, path: string): string | undefined {
  const where = `${path} job ${move.job}`;
  if (move.action === 'moved') return `${where}: runs-on ${move.from} -> ${move.to}${move.reason ? ` (${move.reason})` : ''}`;
  if (move.action === 'left' && move.reason && !move.reason.startsWith('policy ') && !move.reason.startsWith('no policy')) return `${where}: runs-on left as it is: ${move.reason}`;
  return undefined;
}

/** The firewall target's part of one repository's sync: new file plans and the report. */
export async function planFirewallTarget(input: FirewallTargetInput): Promise<{ files: FilePlan[]; report: FirewallTargetReport }> {
  const settings = input.store.settings.githubFirewall;
  const byLowerPath = new Map(input.plan.files.map((file) => [file.path.toLowerCase(), file]));
  const answer = desiredFirewall({
    store: input.store,
    repository: input.repository,
    workflows: input.plan.files.map((file) => file.path),
    // Workflow keys are lower-cased; paths in the repository keep their case.
    runsHardenRunner: (workflow) => workflow !== null && runsHardenRunner(byLowerPath.get(workflow.slice(workflow.indexOf('/.github/') + 1))),
    seen: input.seen,
    noDefaultUrls: settings?.noDefaultUrls === true,
  });
  const desired = answer.firewall;
  const decision = decideFirewallFile(input.existing, desired, input.revision);
  const findings = desired?.findings ?? [];
  // What the file cannot express goes with a write (the PR body, the dry run); a synced file repeats nothing.
  const writes = decision.action === 'create' || decision.action === 'update';
  const reasons = [...decision.reasons, ...(writes ? findings.filter((finding) => finding.severity === 'warning').map((finding) => `${FIREWALL_FILE}: ${finding.message}`) : [])];

  const files: FilePlan[] = [];
  const runners: FirewallTargetReport['runners'] = [];
  for (const file of input.plan.files) {
    if (settings?.runsOn !== 'rewrite' || file.status === 'invalid' || file.status === 'rejected') {
      files.push(file);
      continue;
    }
    const state = desiredWorkflowState(input.store, input.repository, file.path);
    const moved = moveToFirewallRunner(file.after, () =>
      state.mode === 'block' ? true : state.policy === null ? 'no policy attached: stays on its runner' : `policy ${state.policy} is ${state.mode}: only jobs that follow a block policy move`,
    );
    runners.push({ path: file.path, jobs: moved.jobs });
    const leftReasons = moved.jobs.filter((move) => move.action === 'left').map((move) => moveReason(move, file.path));
    if (moved.output === file.after) {
      files.push(file);
      reasons.push(...leftReasons.filter((reason): reason is string => reason !== undefined));
      continue;
    }
    const added = await newWorkflowErrors(file.path, file.before, moved.output);
    if (added.length > 0) {
      reasons.push(`${file.path}: runs-on left as it is: the relabelled file would add GitHub parser errors (${added.join('; ')})`);
      files.push(file);
      continue;
    }
    files.push({ ...file, after: moved.output, status: moved.output === file.before ? 'unchanged' : 'changed' });
    for (const move of moved.jobs) {
      const reason = moveReason(move, file.path);
      if (reason) reasons.push(reason);
    }
  }
  if (decision.after !== undefined) {
    files.push({ path: FIREWALL_FILE, before: input.existing ?? '', after: decision.after, status: 'changed', jobs: [], problems: [] });
  }
  return { files, report: { action: decision.action, desired, findings, runners, reasons } };
}
