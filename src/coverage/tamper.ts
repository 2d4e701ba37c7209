/**
 * The tamper check (docs/github-app.md, "Egress policy weakened outside the store"): a pull
 * request in any repository that weakens or removes a managed Harden-Runner step, or whose
 * `.github/egress-firewall.yaml` allows more than the store, fails; one that matches or
 * strengthens the store passes. Each enforcement target contributes a rule for the files it owns
 * (Harden-Runner: `.github/workflows/**`; GitHub's egress firewall: `.github/egress-firewall.yaml`).
 * Pure: file texts at base and head in, findings out; the App's handler (src/app/tamper-check.ts)
 * does the I/O.
 */
import { markerText } from '../rollout/harden.js';
import { baselineJobsOf } from '../rollout/rollout-plan.js';
import { FIREWALL_FILE, firewallTamperFindings, repositoryFirewall } from '../rollout/github-firewall/index.js';
import { POLICY_ENV } from '../policy/delivery.js';
import type { CallGraph } from '../policy/callers.js';
import { workflowCalls, type WorkflowFile } from '../rollout/workflow-calls.js';
import { coverageContext, type CoverageStore } from './coverage.js';
import { modeRank } from './harden-runner-target.js';
import type { CoverageContext, JobFacts } from './model.js';
import { evaluateStep, type EvaluatedStep } from './step-inputs.js';
import { workflowFacts } from './workflow-facts.js';

/** One file a pull request changes: its text at the base (undefined: added) and at the head (undefined: deleted). */
export interface ChangedFile {
  path: string;
  /** The path at the base when the pull request renames the file. */
  previousPath?: string;
  before: string | undefined;
  after: string | undefined;
}

/** One weakened input: old -> new as written, and why it counts. */
export interface TamperFinding {
  file: string;
  job: string;
  /** 1-based line in the head version (the job's key, or the step), when there is one. */
  line?: number;
  /** `egress-policy`, `allowed-endpoints`, `step`, `marker`, `env.EGRESSCTL_POLICY`, ... */
  input: string;
  from: string | null;
  to: string | null;
  why: string;
  /** The policy the store applies to the file (null: none attached). */
  policy: string | null;
}

export interface TamperRule {
  readonly name: string;
  /** Does this rule look at the file? Only pull requests touching a watched path cost any request beyond the event. */
  watches(path: string): boolean;
  /**
   * `graphs`: the repository's call graphs (at the base and at the head), so that a reusable
   * workflow is judged by its callers' policy, as sync plans it; none: each file by its own attachment.
   */
  compare(file: ChangedFile, repository: string, store: CoverageStore, graphs?: readonly CallGraph[]): TamperFinding[];
}

/** The repository around the changed files. */
export interface TamperRepository {
  /**
   * Every workflow file of the repository at the base (`.github/workflows/*`): the call graph
   * comes from them (src/rollout/workflow-calls.ts), and, with the pull request's changes
   * applied, the head's. A file the pull request does not change is the same at both ends.
   */
  workflows?: readonly WorkflowFile[];
}

/**
 * The call graphs to judge by: the base's and the head's (when they differ). A pull request that
 * adds, drops or moves a call is judged under both, so neither end can hide a weakening.
 */
export function tamperCallGraphs(repository: string, workflows: readonly WorkflowFile[], files: readonly ChangedFile[]): CallGraph[] {
  const key = (path: string) => path.toLowerCase();
  const head = new Map(workflows.map((file) => [key(file.path), file]));
  for (const file of files) {
    if (file.previousPath !== undefined) head.delete(key(file.previousPath));
    if (file.after === undefined) head.delete(key(file.path));
    else if (WORKFLOW_FILE.test(file.path)) head.set(key(file.path), { path: file.path, text: file.after });
  }
  const base = workflowCalls(repository, workflows);
  const after = workflowCalls(repository, [...head.values()]);
  const same = JSON.stringify([...base].sort()) === JSON.stringify([...after].sort());
  return same ? [base] : [base, after];
}

const WORKFLOW_PATH = /^\.github\/workflows\//;
const WORKFLOW_FILE = /^\.github\/workflows\/[^/]+\.ya?ml$/;

/** The Linux leg of a GitHub-hosted runner with the store's variables: where a step's inputs decide block. */
function evaluated(job: JobFacts, context: CoverageContext, variables = true): EvaluatedStep | undefined {
  if (!job.step) return undefined;
  const env: Record<string, string> = {};
  if (job.policyEnv) env[POLICY_ENV] = job.policyEnv.value;
  return evaluateStep(job.step.with, { env, vars: variables ? context.variables : {}, os: 'linux' });
}

/** How strong the store wants the mode: baseline keeps whatever the managed step had. */
function wantedRank(context: CoverageContext, before: EvaluatedStep | undefined): number {
  const mode = context.desired.mode;
  if (mode === 'skip') return 0;
  if (mode === 'baseline') return modeRank(before?.mode);
  return modeRank(mode);
}

function sortedList(values: readonly string[]): string {
  return values.length === 0 ? '(none)' : values.join(' ');
}

function compareJob(file: string, before: JobFacts, after: JobFacts | undefined, context: CoverageContext, addedJobs: readonly JobFacts[]): TamperFinding[] {
  const managed = before.step?.managedBy;
  if (!managed || !before.step) return [];
  const policy = context.desired.policy;
  const finding = (input: string, from: string | null, to: string | null, why: string, line?: number): TamperFinding => ({
    file,
    job: before.job,
    ...(line !== undefined ? { line } : {}),
    input,
    from,
    to,
    why,
    policy,
  });
  const stepText = `${before.step.uses} (${markerText(managed).slice(2)})`;
  if (!after) {
    // A job that is gone takes its egress with it, unless a new job without a managed step took its place (a rename).
    const unmanaged = addedJobs.filter((job) => !job.step?.managedBy && job.calls === undefined);
    if (unmanaged.length === 0 || context.desired.mode === 'skip') return [];
    return [finding('job', before.job, unmanaged.map((job) => job.job).join(', '), `the job with a managed step is gone and ${unmanaged.map((job) => job.job).join(', ')} has none: a renamed job keeps its step`, unmanaged[0]?.line)];
  }
  if (context.desired.mode === 'skip') return [];
  if (!after.step) return [finding('step', stepText, null, 'the managed Harden-Runner step was removed', after.line)];
  const line = after.step.line;
  const findings: TamperFinding[] = [];
  if (!after.step.managedBy) {
    findings.push(finding('marker', markerText(managed), null, "the egressctl marker was removed: sync would keep the step only as a person's floor", line));
  }
  const old = evaluated(before, context);
  const now = evaluated(after, context);
  const wanted = wantedRank(context, old);
  if (old && now && modeRank(now.mode) < modeRank(old.mode) && modeRank(now.mode) < wanted) {
    const why = now.mode === undefined ? 'egress-policy no longer evaluates to audit or block (Harden-Runner fails the step, nothing is enforced)' : `lowers the mode from ${old.mode ?? 'none'} to ${now.mode} (the store says ${context.desired.mode})`;
    findings.push(finding('egress-policy', before.step.with['egress-policy'] ?? null, after.step.with['egress-policy'] ?? null, why, line));
  }
  // Runs without Actions variables (pull requests from forks, a deleted variable) get the step's fallback.
  const oldBare = evaluated(before, context, false);
  const nowBare = evaluated(after, context, false);
  const alreadyFound = findings.some((item) => item.input === 'egress-policy');
  if (!alreadyFound && oldBare && nowBare && modeRank(nowBare.mode) < modeRank(oldBare.mode) && modeRank(nowBare.mode) < wanted) {
    findings.push(
      finding('egress-policy', before.step.with['egress-policy'] ?? null, after.step.with['egress-policy'] ?? null, `lowers what runs without Actions variables get (pull requests from forks) from ${oldBare.mode ?? 'none'} to ${nowBare.mode ?? 'an invalid value'}`, line),
    );
  }
  if (old?.mode === 'block' && now?.mode === 'block') {
    const had = new Set(old.endpoints);
    const allowedByStore = new Set(context.desired.endpoints);
    const added = now.endpoints.filter((endpoint) => !had.has(endpoint) && !allowedByStore.has(endpoint));
    if (added.length > 0) {
      findings.push(finding('allowed-endpoints', sortedList(old.endpoints), sortedList(now.endpoints), `allows endpoints the store does not: ${added.join(', ')}`, line));
    }
  }
  const flags = context.desired.flags;
  if (old?.disableSudo && now && !now.disableSudo && (flags['disable-sudo-and-containers'] === true || flags['disable-sudo'] === true)) {
    const input = before.step.with['disable-sudo-and-containers'] !== undefined ? 'disable-sudo-and-containers' : 'disable-sudo';
    findings.push(finding(input, before.step.with[input] ?? null, after.step.with[input] ?? null, 'gives the job sudo back where the store disables it', line));
  }
  if (old && now && !old.disableFileMonitoring && now.disableFileMonitoring && flags['disable-file-monitoring'] !== true) {
    findings.push(finding('disable-file-monitoring', before.step.with['disable-file-monitoring'] ?? null, after.step.with['disable-file-monitoring'] ?? null, 'turns file monitoring off where the store keeps it on', line));
  }
  const envBefore = before.policyEnv?.value ?? null;
  const envAfter = after.policyEnv?.value ?? null;
  if (envAfter !== null && envAfter !== envBefore) {
    findings.push(finding(`env.${POLICY_ENV}`, envBefore, envAfter, `set in the ${after.policyEnv?.level}'s env: it overrides the Actions variables and the job-started hook`, after.line));
  }
  if (after.step.setsPolicyEnv && !before.step.setsPolicyEnv) {
    findings.push(finding(`env.${POLICY_ENV}`, null, '(set in the step)', "set in the step's env: it overrides the Actions variables and the job-started hook", line));
  }
  return findings;
}

/** Harden-Runner's rule: managed steps in workflow files. */
export const hardenRunnerTamperRule: TamperRule = {
  name: 'harden-runner',
  watches: (path) => WORKFLOW_PATH.test(path),
  compare(file, repository, store, graphs) {
    if (!WORKFLOW_FILE.test(file.path) || file.before === undefined || file.after === undefined) return [];
    const before = workflowFacts(file.before, file.previousPath ?? file.path);
    if (before.jobs.length === 0) return [];
    const after = workflowFacts(file.after, file.path);
    // A reusable workflow follows its callers (src/policy/callers.ts, through desiredWorkflowState),
    // judged under each graph: what is a weakening under either fails.
    const contexts = (graphs && graphs.length > 0 ? graphs : [undefined]).map((graph) => coverageContext(store, repository, file.path, {}, graph));
    const findings = new Map<string, TamperFinding>();
    for (const context of contexts) {
      for (const finding of judgeFile(file.path, before, after, context)) {
        const key = JSON.stringify([finding.job, finding.input, finding.from, finding.to]);
        if (!findings.has(key)) findings.set(key, finding);
      }
    }
    return [...findings.values()];
  },
};

function judgeFile(path: string, before: ReturnType<typeof workflowFacts>, after: ReturnType<typeof workflowFacts>, context: CoverageContext): TamperFinding[] {
  if (after.error !== undefined) {
    const managed = before.jobs.filter((job) => job.step?.managedBy);
    if (managed.length === 0) return [];
    return [{ file: path, job: '*', input: 'workflow', from: null, to: null, why: `the workflow ${after.error}: its managed steps (${managed.map((job) => job.job).join(', ')}) no longer run`, policy: context.desired.policy }];
  }
  const afterById = new Map(after.jobs.map((job) => [job.job, job]));
  const beforeIds = new Set(before.jobs.map((job) => job.job));
  const added = after.jobs.filter((job) => !beforeIds.has(job.job));
  return before.jobs.flatMap((job) => compareJob(path, job, afterById.get(job.job), context, added));
}

/**
 * GitHub's egress firewall's rule (docs/github-firewall.md, "The tamper check"): with
 * `github-firewall.enabled`, the head's `.github/egress-firewall.yaml` is judged against the file
 * the store wants for the repository (`repositoryFirewall`, what `resolve --format github-firewall`
 * prints), not against the base, so egressctl's own sync of a store that widened passes.
 */
export const githubFirewallTamperRule: TamperRule = {
  name: 'github-firewall',
  watches: (path) => path === FIREWALL_FILE,
  compare(file, repository, store) {
    if (store.state.settings.githubFirewall?.enabled !== true) return [];
    // A rename counts as a deletion at one end or an addition at the other.
    const before = file.previousPath === undefined || file.previousPath === FIREWALL_FILE ? file.before : undefined;
    const after = file.path === FIREWALL_FILE ? file.after : undefined;
    const seen = store.baselines ? baselineJobsOf(store.baselines, repository).flatMap((job) => job.endpoints) : [];
    const desired = repositoryFirewall(store.state, repository, seen).firewall;
    const policy = desired === null ? null : desired.policies.join(', ');
    return firewallTamperFindings(before, after, desired).map((finding) => ({
      file: FIREWALL_FILE,
      // One file serves every job of the repository that runs on the firewall runner.
      job: '*',
      ...(finding.line !== undefined && after !== undefined ? { line: finding.line } : {}),
      input: finding.input,
      from: finding.from,
      to: finding.to,
      why: finding.why,
      policy,
    }));
  },
};

/** The rules the tamper check applies, one per enforcement target that owns files in a repository. */
export const TAMPER_RULES: readonly TamperRule[] = [hardenRunnerTamperRule, githubFirewallTamperRule];

/** The changed paths any rule watches (none: the pull request costs nothing beyond its event). */
export function watchedPaths(paths: readonly string[], rules: readonly TamperRule[] = TAMPER_RULES): string[] {
  return paths.filter((path) => rules.some((rule) => rule.watches(path)));
}

/**
 * What the pull request weakens. `around.workflows`: every workflow file of the repository at the
 * base, so that a reusable workflow is judged by its callers (the App always passes them; without
 * them each file is judged by its own attachment).
 */
export function tamperFindings(files: readonly ChangedFile[], repository: string, store: CoverageStore, rules: readonly TamperRule[] = TAMPER_RULES, around: TamperRepository = {}): TamperFinding[] {
  const graphs = around.workflows ? tamperCallGraphs(repository, around.workflows, files) : undefined;
  // A file renamed away from a watched path is the watching rule's business too (it is gone from there).
  return files.flatMap((file) => rules.filter((rule) => rule.watches(file.path) || (file.previousPath !== undefined && rule.watches(file.previousPath))).flatMap((rule) => rule.compare(file, repository, store, graphs)));
}

/** Whether the rules need the repository's other workflow files (a workflow file changed: it may be a called one, or a caller). */
export function needsWorkflows(files: readonly Pick<ChangedFile, 'path' | 'previousPath'>[]): boolean {
  return files.some((file) => WORKFLOW_FILE.test(file.path) || (file.previousPath !== undefined && WORKFLOW_FILE.test(file.previousPath)));
}

export const TAMPER_CHECK_NAME = 'egressctl / egress policy';
export const TAMPER_FAILURE_TITLE = 'egress policy weakened outside the store';

/** What the check run says, without GitHub's types (the handler maps it). */
export interface TamperReport {
  conclusion: 'success' | 'failure';
  title: string;
  summary: string;
  annotations: { path: string; line: number; message: string }[];
}

/** GitHub lists at most this many files of a pull request (`pulls/list-files`). */
export const PULL_REQUEST_FILES_LIMIT = 3000;

/** A pull request too large to list completely: a workflow change could hide past the limit, so it does not pass (fail closed). */
export function unlistableReport(listed: number): TamperReport {
  return {
    conclusion: 'failure',
    title: 'egress policy not checked: too many files',
    summary: `GitHub lists at most ${PULL_REQUEST_FILES_LIMIT.toLocaleString('en-US')} files of a pull request and this one has ${listed.toLocaleString('en-US')} or more, so a change to a workflow file could go unseen. Split the pull request, or keep workflow changes in a pull request of their own.`,
    annotations: [],
  };
}

function code(text: string | null): string {
  return text === null ? '(none)' : `\`${text.replace(/`/g, "'").replace(/\n/g, ' ')}\``;
}

/** The check's output; `policyLink(name)` gives the URL of the policy that applies. */
export function tamperReport(findings: readonly TamperFinding[], checked: readonly string[], policyLink: (policy: string) => string | undefined): TamperReport {
  if (findings.length === 0) {
    return {
      conclusion: 'success',
      title: checked.length === 0 ? 'No workflow file changed' : 'Egress policy kept',
      summary:
        checked.length === 0
          ? 'This pull request changes no file an egress policy lives in.'
          : `No managed Harden-Runner step is weakened or removed, and no firewall file allows more than the store, in ${checked.map((path) => `\`${path}\``).join(', ')}.`,
      annotations: [],
    };
  }
  const rows = findings.map((item) => {
    // The firewall file unites the policies of a repository's workflows: `a, b` links each.
    const linked = (name: string) => (policyLink(name) ? `[${name}](${policyLink(name)})` : name);
    const link = item.policy === null ? 'no policy attached' : item.policy.split(', ').map(linked).join(', ');
    return `| \`${item.file}\` | \`${item.job}\` | \`${item.input}\` | ${code(item.from)} -> ${code(item.to)} | ${item.why.replace(/\|/g, '\\|')} | ${link} |`;
  });
  const summary = [
    'This pull request weakens or removes egress policy that the policy store manages. Change the policy in the policy store instead (a reviewed pull request there), or put the step (or the firewall file) back as the store has it.',
    '',
    '| File | Job | Input | Old -> new | Why | Policy that applies |',
    '|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
  return {
    conclusion: 'failure',
    title: TAMPER_FAILURE_TITLE,
    // GitHub takes 65,535 characters; a real change has a handful of rows.
    summary: summary.length > 60_000 ? `${summary.slice(0, summary.lastIndexOf('\n', 60_000))}\n\n(${findings.length} findings in total; the annotations list them)` : summary,
    annotations: findings.filter((item) => item.line !== undefined).map((item) => ({ path: item.file, line: item.line as number, message: `${item.input}: ${item.from ?? '(none)'} -> ${item.to ?? '(none)'}: ${item.why}` })),
  };
}
