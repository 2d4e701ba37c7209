/**
 * Text-preserving workflow hardening (docs/reconciliation.md): put Harden-Runner (or this project's composite
 * action) first in each eligible job, or update the step a job already has, by splicing lines
 * into the original text. The document is parsed only to find positions; it is never
 * re-serialized, so every byte outside the inserted or edited lines stays as it was.
 *
 * Pure: text and a plan in, text and per-job outcomes out. The caller decides per job through
 * `options.plan`; `checkWorkflowText` (workflow-check.ts) is the GitHub-parser gate on top.
 */
import { isMap, isPair, isScalar, isSeq, parseDocument, type Document, type Pair, type YAMLMap, type YAMLSeq } from 'yaml';
import { isBlockMap, keyName, mapValue, pairOf, rangeOf } from './yaml-nodes.js';
import { compareDiagnostics, type Diagnostic } from '../policy/diagnostics.js';
import { AUDIT_DEFAULT_VALUE, DELIVERED_INPUTS, deliveryExpression, deliveryFallbackOf, POLICY_ENV, type VariableChain } from '../policy/delivery.js';
import { classifyJob, unprotectedReasons, type JobSupport } from './harden-runner-support.js';
import { normalizeEndpoint, sortUnique } from '../policy/endpoint.js';
import { PASSTHROUGH_FLAGS, type EgressMode, type HardenRunnerFlags, type HardenRunnerPin } from '../policy/model.js';
import { analyzeJob, OS_NAMES, referencedAnchors, type JobAnalysis, type RunnerInfo, type SkipCode } from './workflow-jobs.js';
import { applyEdits, detectEol, LineIndex, renderScalar, spaces, type TextEdit } from './workflow-text.js';
import { privilegeWarnings } from './harden-privileges.js';

/** One endpoint a job was seen using, with how often and when last. */
export interface SeenEndpoint {
  endpoint: string;
  runs: number;
  lastSeen?: string;
}

export { LINUX_GUARD, type RunnerInfo, type RunnerOs, type SkipCode } from './workflow-jobs.js';

/** Inline Harden-Runner, pinned by full commit SHA. */
export interface HardenRunnerPlan {
  kind: 'harden-runner';
  pin: HardenRunnerPin;
  /** Also re-pin a step the job already has (default: keep its `uses:` as written). */
  repin?: boolean;
  mode: EgressMode;
  /** Canonical `host:port` (see policy/endpoint.ts); used in block mode, ignored in audit mode. */
  endpoints?: readonly string[];
  /** Why this plan (e.g. "no stable baseline yet"): copied into the job's outcome reason. */
  note?: string;
  /** Things a person should look at about the plan itself (callers with different policies): copied into the job's warnings. */
  warnings?: readonly string[];
  /** Harden-Runner's `disable-*` inputs the desired state sets (written in block and audit mode). */
  flags?: HardenRunnerFlags;
  /**
   * The step is managed by egressctl for this policy (`null`: managed, no policy attached):
   * written as a marker comment so a later run recognises it (docs/reconciliation.md).
   * Absent: an unmanaged plan (baseline rollout, hand-run harden).
   */
  managedBy?: { policy: string | null };
  /**
   * Inputs read from Actions variables instead of literals (`delivery: variables`); `mode`,
   * `endpoints` and `flags` then describe the value the variables hold now, for reports only.
   */
  variables?: VariableInputs;
  /**
   * The desired state says so: lower block to audit or narrow endpoints of an existing step.
   * Without it an edit never weakens what is there.
   */
  mayWeaken?: boolean;
  /**
   * Evidence, never the source (docs/reconciliation.md): endpoints the job's baseline shows in
   * use that this plan would block. A PR that carries any lists them and opens as a draft.
   */
  wouldBlock?: readonly SeenEndpoint[];
}

/**
 * Which variables a managed step reads, most specific first, and the desired policy the chain
 * ends in (docs/reconciliation.md): `VariableChain` of policy/delivery.ts.
 */
export type VariableInputs = VariableChain;

/** This project's composite action (docs/architecture.md): it fetches the policy and runs Harden-Runner. */
export interface CompositePlan {
  kind: 'composite';
  /** `<owner>/<repo>/actions/harden@<ref>` */
  uses: string;
  /** Written as a comment after `uses:` when the ref is a SHA, e.g. `v1.2.0`. */
  version?: string;
  /** Also re-pin a composite step the job already has (default: keep its `uses:`). */
  repin?: boolean;
  with: { server: string; audience: string; 'on-error'?: 'audit' | 'block' | 'fail' };
  /** Copied into the job's outcome reason. */
  note?: string;
}

export type JobPlan = HardenRunnerPlan | CompositePlan;

/** The planner's way to leave a job alone, with the reason to report. */
export interface JobSkip {
  skip: string;
}

export interface ExistingStep {
  kind: JobPlan['kind'];
  /** The step's `uses:` value as written. */
  uses: string;
  /** 0-based position among the job's steps. */
  index: number;
  /** String-valued `with:` inputs, as the runner would receive them. */
  with: Record<string, string>;
  /** The step carries egressctl's marker (docs/reconciliation.md): it is managed, for this policy. */
  managedBy?: { policy: string | null };
  /** 0-based positions of further steps of the same kind in the job (only the first is edited). */
  others?: number[];
}

/** What the planner is told about an eligible job. */
export interface JobInfo {
  /** Job id (the key under `jobs:`). */
  id: string;
  name?: string;
  /** 1-based line of the job's key. */
  line: number;
  runner: RunnerInfo;
  container: boolean;
  existing?: ExistingStep;
}

export type JobPlanner = (job: JobInfo) => JobPlan | JobSkip;

export interface HardenOptions {
  /** Per job: a function, or a map by job id (jobs missing from the map are skipped). */
  plan: JobPlanner | Readonly<Record<string, JobPlan | JobSkip>>;
  /** Path used in diagnostics, e.g. `.github/workflows/ci.yml`. */
  file?: string;
  /** `name:` of an inserted step. */
  stepName?: string;
}

export type JobAction = 'inserted' | 'updated' | 'unchanged' | 'skipped';

export interface JobOutcome {
  job: string;
  /** 1-based line of the job's key in the input. */
  line: number;
  action: JobAction;
  /** Why a job was skipped; for other actions, notes worth showing (guard added, step moved...). */
  reason?: string;
  /** Machine-readable skip reason. */
  skipCode?: SkipCode;
  /** The plan applied (absent for skipped jobs). */
  plan?: JobPlan;
  /** The mode the job's step enforces after the run (Harden-Runner's default block when the input is absent). */
  mode?: EgressMode;
  /** The endpoints the step allows after the run (block mode), as written. */
  endpoints?: string[];
  /** The policy the plan follows (managed plans only; null: none attached). */
  policy?: string | null;
  /** Every edit of an existing step, old -> new (empty for inserted and unchanged jobs). */
  changes?: StepChange[];
  /** Things a person should look at (block without endpoints, duplicate steps). */
  warnings?: string[];
  /** The existing step disagrees with the desired state and was not (fully) brought in line: why. */
  drift?: string;
  /** The Harden-Runner step the job had before the run. */
  existing?: ExistingStep;
  /**
   * Where the workflow sets `EGRESSCTL_POLICY` in an `env:` (workflow, job or step), e.g.
   * `the job's env: (line 12)`: only the job-started hook may set it. Also part of `drift`.
   */
  policyEnv?: string[];
  /** Where Harden-Runner cannot enforce (all of) this job, and why (harden-runner-support.ts); absent when it can. */
  support?: JobSupport;
}

/** One edit of an existing step. */
export interface StepChange {
  /** `with.<input>`, `uses`, `position` or `marker`. */
  field: string;
  /** As written before (null: absent). */
  from: string | null;
  /** As written after (null: removed). */
  to: string | null;
  /** For `with.allowed-endpoints`: canonical endpoints added and dropped. */
  added?: string[];
  dropped?: string[];
}

export interface HardenResult {
  /** The rewritten text; the input itself when it does not parse or nothing changed. */
  output: string;
  changed: boolean;
  jobs: JobOutcome[];
  /** Located errors: the input is not a workflow we can edit (output is then the input). */
  errors: Diagnostic[];
}

export const DEFAULT_STEP_NAME = 'Harden-Runner';
const HARDEN_RUNNER_REPOSITORY = 'step-security/harden-runner';
const COMPOSITE_PATH = /^[^/\s]+\/[^/\s]+\/actions\/harden$/i;

/** `step-security/harden-runner@...` (or the pinned repository), or a `<owner>/<repo>/actions/harden@...` composite. */
export function stepKind(uses: string, plan?: JobPlan): JobPlan['kind'] | undefined {
  const at = uses.indexOf('@');
  const path = (at === -1 ? uses : uses.slice(0, at)).trim().toLowerCase();
  if (path === HARDEN_RUNNER_REPOSITORY || (plan?.kind === 'harden-runner' && path === plan.pin.repository.toLowerCase())) {
    return 'harden-runner';
  }
  if (COMPOSITE_PATH.test(path) || (plan?.kind === 'composite' && path === plan.uses.split('@')[0]?.toLowerCase())) return 'composite';
  return undefined;
}

/** Where the steps of a job sit in the text, and how the file indents them. */
interface StepsLayout {
  /** Column of each item's `-`. */
  dash: number;
  /** Column of a step's keys. */
  content: number;
  /** Indentation of a nested mapping (e.g. `with:` inputs) relative to its key. */
  unit: number;
  /** Offset where a new first step goes (start of a line). */
  insertAt: number;
  /** Steps are separated by blank lines. */
  blankSeparated: boolean;
}

/** Desired `with:` inputs: key -> value, plus how to render the value. */
interface WantedInput {
  key: string;
  value: string;
  /** Render as a `>-` folded scalar with one endpoint per line (reads back as one space-separated line). */
  endpoints?: readonly string[];
}

function keyOffset(pair: Pair): number {
  return rangeOf(pair.key)?.[0] ?? pair.srcToken?.key?.offset ?? 0;
}

/** Offset just after the pair's `:`. */
function colonEnd(pair: Pair): number {
  const indicator = pair.srcToken?.sep?.find((token) => token.type === 'map-value-ind');
  return indicator ? indicator.offset + 1 : (rangeOf(pair.key)?.[1] ?? 0) + 1;
}

function firstDashOffset(seq: YAMLSeq, index: number): number | undefined {
  const token = seq.srcToken;
  if (!token || token.type !== 'block-seq') return undefined;
  return token.items[index]?.start.find((item) => item.type === 'seq-item-ind')?.offset;
}

/** `if`-free way to block on Linux legs and audit elsewhere (hosted Windows and macOS support audit only). */
export const BLOCK_ON_LINUX = "${{ runner.os == 'Linux' && 'block' || 'audit' }}";
const TELEMETRY_ON_LINUX = "${{ runner.os == 'Linux' }}";

/** Where a job runs, as far as the step's mode is concerned. */
type OsClass = 'linux' | 'non-linux' | 'mixed';

function osClassOf(runner: RunnerInfo): OsClass {
  if (!runner.resolved || runner.os.length === 0) return 'mixed';
  if (!runner.os.includes('linux')) return 'non-linux';
  return runner.os.length === 1 ? 'linux' : 'mixed';
}

const BLOCK_WITHOUT_ENDPOINTS = 'block mode with no allowed endpoints: every outbound connection of the job will be blocked';

/** What the plan wants the step's `with:` to say on this job. */
interface Desired {
  inputs: WantedInput[];
  /** The mode the step enforces on Linux. */
  mode: EgressMode;
  notes: string[];
  warnings: string[];
}

function isExpression(value: string): boolean {
  return value.includes('${{');
}

function desiredInputs(plan: JobPlan, runner: RunnerInfo): Desired {
  if (plan.kind === 'composite') {
    const inputs: WantedInput[] = [
      { key: 'server', value: plan.with.server },
      { key: 'audience', value: plan.with.audience },
    ];
    if (plan.with['on-error']) inputs.push({ key: 'on-error', value: plan.with['on-error'] });
    return { inputs, mode: 'audit', notes: [], warnings: [] };
  }
  const notes: string[] = [];
  const warnings: string[] = [];
  const os = osClassOf(runner);
  if (plan.variables) {
    const chain = plan.variables;
    // The OS rule holds in every delivery form: off Linux the expression itself says audit.
    const rule = os === 'linux' ? 'linux' : 'by-runner-os';
    const sources = [...(chain.env ? [`env.${chain.env} (self-hosted runners)`] : []), ...chain.vars.map((name) => `vars.${name}`)];
    notes.push(`inputs read from Actions variables (${sources.join(', ')}), else the policy as of this sync`);
    if (plan.mode === 'block' && os === 'non-linux') {
      notes.push(`runs on ${runner.os.map((name) => OS_NAMES[name]).join(' and ')}: hosted Windows and macOS support audit only, so audit there`);
    } else if (plan.mode === 'block' && os === 'mixed') {
      notes.push(runner.resolved ? 'runs on Linux and on Windows/macOS: block on Linux, audit elsewhere (hosted Windows and macOS support audit only)' : 'runner OS not known statically: block on Linux, audit elsewhere');
    }
    return {
      inputs: DELIVERED_INPUTS.map((key) => ({ key, value: deliveryExpression(key, chain, rule) })),
      mode: plan.mode === 'block' && os === 'non-linux' ? 'audit' : plan.mode,
      notes,
      warnings,
    };
  }
  let egress: string = plan.mode;
  if (plan.mode === 'block' && os === 'non-linux') {
    egress = 'audit';
    notes.push(`runs on ${runner.os.map((name) => OS_NAMES[name]).join(' and ')}: hosted Windows and macOS support audit only, so audit there`);
  } else if (plan.mode === 'block' && os === 'mixed') {
    egress = BLOCK_ON_LINUX;
    notes.push(runner.resolved ? 'runs on Linux and on Windows/macOS: block on Linux, audit elsewhere (hosted Windows and macOS support audit only)' : 'runner OS not known statically: block on Linux, audit elsewhere');
  }
  const inputs: WantedInput[] = [{ key: 'egress-policy', value: egress }];
  if (egress !== 'audit') {
    const endpoints = sortUnique(plan.endpoints ?? []);
    if (endpoints.length > 0) inputs.push({ key: 'allowed-endpoints', value: endpoints.join(' '), endpoints });
    else warnings.push(BLOCK_WITHOUT_ENDPOINTS);
  }
  for (const flag of PASSTHROUGH_FLAGS) {
    if (plan.flags?.[flag] !== true) continue;
    if (flag === 'disable-telemetry') {
      // Harden-Runner accepts disable-telemetry only with egress-policy: block.
      if (egress === 'audit') continue;
      inputs.push({ key: flag, value: egress === 'block' ? 'true' : TELEMETRY_ON_LINUX });
    } else inputs.push({ key: flag, value: 'true' });
  }
  return { inputs, mode: plan.mode, notes, warnings };
}

/** `uses:` of the plan's step, without the version comment. */
function usesValue(plan: JobPlan): string {
  return plan.kind === 'harden-runner' ? `${plan.pin.repository}@${plan.pin.sha}` : plan.uses;
}

function usesText(plan: JobPlan): string {
  if (plan.kind === 'harden-runner') return `${usesValue(plan)} # ${plan.pin.version}`;
  return plan.version ? `${plan.uses} # ${plan.version}` : plan.uses;
}

/** The version comment the plan writes after `uses:`, if any. */
function usesComment(plan: JobPlan): string | undefined {
  return plan.kind === 'harden-runner' ? plan.pin.version : plan.version;
}

/** The marker of a managed step (docs/reconciliation.md), a comment on its `with:` line. */
// `a+b`: the widest of several callers' policies (src/policy/callers.ts); `+` is in no policy name.
const MARKER = /#\s*egressctl:\s*managed(?:,\s*(?:policy\s+([a-z0-9][a-z0-9._+-]*)|no policy attached))?/;

export function markerText(managedBy: { policy: string | null }): string {
  return managedBy.policy === null ? '# egressctl: managed, no policy attached' : `# egressctl: managed, policy ${managedBy.policy}`;
}

/** The marker in a step's text, if any. */
export function readMarker(text: string): { policy: string | null } | undefined {
  const match = MARKER.exec(text);
  return match ? { policy: match[1] ?? null } : undefined;
}

/** Lines of `key: value` at `column` (the value may span more lines). */
function renderInput(input: WantedInput, column: number, unit: number): string[] {
  if (input.endpoints && input.endpoints.length > 0) {
    // `>-` folds lines of equal indentation into single spaces and strips the final newline:
    // one line per endpoint for readable diffs, one space-separated string for the agent.
    return [`${spaces(column)}${input.key}: >-`, ...input.endpoints.map((endpoint) => `${spaces(column + unit)}${endpoint}`)];
  }
  // Booleans as people write them: the runner hands an input `true` to the action as "true".
  const value = input.value === 'true' || input.value === 'false' ? input.value : renderScalar(input.value);
  return [`${spaces(column)}${input.key}: ${value}`];
}

function withLine(column: number, plan: JobPlan): string {
  const marker = plan.kind === 'harden-runner' && plan.managedBy ? ` ${markerText(plan.managedBy)}` : '';
  return `${spaces(column)}with:${marker}`;
}

function renderStep(plan: JobPlan, inputs: readonly WantedInput[], layout: StepsLayout, stepName: string): string[] {
  const { dash, content, unit } = layout;
  const lines = [
    `${spaces(dash)}-${spaces(content - dash - 1)}name: ${renderScalar(stepName)}`,
    `${spaces(content)}uses: ${usesText(plan)}`,
  ];
  lines.push(withLine(content, plan));
  for (const input of inputs) lines.push(...renderInput(input, content + unit, unit));
  return lines;
}

function scalarText(node: unknown): string | undefined {
  return isScalar(node) ? (node.value === null || node.value === undefined ? '' : String(node.value)) : undefined;
}

/** Endpoints of a written `allowed-endpoints` value, canonical where they parse. */
function endpointsOf(text: string): string[] {
  return sortUnique(endpointsInOrder(text));
}

/** The same, in the order written (first occurrence of each). */
function endpointsInOrder(text: string): string[] {
  return [...new Set(text.split(/\s+/).filter((entry) => entry !== '').map((entry) => normalizeEndpoint(entry) ?? entry))];
}

/** Does the existing value already say what we want (as the agent reads it)? */
function inputSatisfied(input: WantedInput, current: unknown): boolean {
  const text = scalarText(current);
  if (text === undefined) return false;
  if (!input.endpoints) return text === input.value;
  // A newline inside the list breaks the agent's parser: such a value must be rewritten.
  if (text.trim().includes('\n')) return false;
  // As the agent reads it: the same set, in whatever order a person keeps it.
  return endpointsOf(text).join(' ') === sortUnique(input.endpoints).join(' ');
}

function indentUnitOf(map: YAMLMap, index: LineIndex): number | undefined {
  for (const pair of map.items) {
    if (!isPair(pair) || !isBlockMap(pair.value)) continue;
    const child = pair.value.items[0];
    if (!isPair(child)) continue;
    const unit = index.column(keyOffset(child)) - index.column(keyOffset(pair));
    if (unit > 0) return unit;
  }
  return undefined;
}

function detectLayout(seq: YAMLSeq, stepsPair: Pair, job: YAMLMap, jobPair: Pair, index: LineIndex): StepsLayout {
  const firstDash = firstDashOffset(seq, 0) ?? rangeOf(seq)?.[0] ?? 0;
  const dash = index.column(firstDash);
  let content = dash + 2;
  const firstMap = seq.items.find((item) => isBlockMap(item) && isPair(item.items[0]));
  if (isBlockMap(firstMap)) {
    const firstPair = firstMap.items[0];
    if (isPair(firstPair)) content = Math.max(dash + 2, index.column(keyOffset(firstPair)));
  }
  let unit: number | undefined;
  for (const item of seq.items) {
    if (isBlockMap(item)) unit = indentUnitOf(item, index);
    if (unit !== undefined) break;
  }
  const jobFirst = job.items[0];
  unit ??= isPair(jobFirst) ? index.column(keyOffset(jobFirst)) - index.column(keyOffset(jobPair)) : undefined;
  if (unit === undefined || unit <= 0) unit = 2;

  // New first step: above the comments that lead the current first step, below `steps:`.
  const keyLine = index.lineOf(keyOffset(stepsPair));
  let line = index.lineOf(firstDash);
  while (line - 1 > keyLine && index.isBlankOrComment(line - 1)) line--;
  // Blank lines right under `steps:` stay there: the new step goes after them.
  while (/^\s*$/.test(index.lineText(line)) && index.lineStart(line) < firstDash) line++;
  const secondDash = firstDashOffset(seq, 1);
  const secondLine = secondDash === undefined ? undefined : index.lineOf(secondDash);
  const blankSeparated = secondLine !== undefined && /^\s*$/.test(index.lineText(secondLine - 1));
  return { dash, content, unit, insertAt: index.lineStart(line), blankSeparated };
}

/** Text that puts `lines` after line `line` (0-based), coping with a last line without a newline. */
function linesAfter(index: LineIndex, line: number, lines: string[], eol: string): TextEdit {
  const at = index.lineEnd(line);
  const endsWithBreak = at > 0 && index.text[at - 1] === '\n';
  const text = endsWithBreak ? lines.map((item) => item + eol).join('') : lines.map((item) => eol + item).join('');
  return { start: at, end: at, text };
}

/** What an update of an existing step sets, removes and keeps, decided from its inputs alone. */
interface InputPlan {
  set: WantedInput[];
  remove: string[];
  /** Why the step still differs from the desired state (things never lowered or overwritten). */
  kept: string[];
  changes: StepChange[];
  /** Mode and endpoints of the step after the edit. */
  mode?: EgressMode;
  endpoints: string[];
}

const STRONGER_FLAG_VALUE = 'true';

/**
 * The never-weaken rules (docs/reconciliation.md): block is never lowered, endpoints never
 * dropped (union), expressions never overwritten and flags never cleared, unless `weaken`
 * (the desired state of a step egressctl manages). Harden-Runner's default mode is block, so a
 * step without `egress-policy` counts as block.
 */
function planInputs(desired: readonly WantedInput[], current: ReadonlyMap<string, string | undefined>, weaken: boolean, plan: JobPlan, desiredMode: EgressMode): InputPlan {
  const result: InputPlan = { set: [], remove: [], kept: [], changes: [], endpoints: [] };
  const want = new Map(desired.map((input) => [input.key, input]));
  const set = (input: WantedInput, from: string | undefined, extra: Partial<StepChange> = {}): void => {
    result.set.push(input);
    result.changes.push({ field: `with.${input.key}`, from: from ?? null, to: input.value, ...extra });
  };
  if (plan.kind === 'composite') {
    for (const input of desired) {
      const now = current.get(input.key);
      if (now !== input.value) set(input, now);
    }
    return result;
  }
  if (plan.variables) {
    // Variables carry the whole policy: the step's inputs are all ours or all theirs.
    const mode = desiredMode;
    const endpoints = mode === 'block' ? sortUnique(plan.endpoints ?? []) : [];
    const differs = desired.some((input) => current.get(input.key) !== input.value);
    if (!differs) return { ...result, mode, endpoints };
    const weaker = weakerThanPlan(current, plan);
    if (weaker && !weaken) {
      result.kept.push(`the step's own inputs (${weaker}) were kept: reading them from variables could weaken it`);
      return result;
    }
    for (const input of desired) if (current.get(input.key) !== input.value) set(input, current.get(input.key));
    return { ...result, mode, endpoints };
  }

  // egress-policy
  const wantedMode = want.get('egress-policy') as WantedInput;
  const mode = current.has('egress-policy') ? current.get('egress-policy') : 'block';
  const modeWritten = current.has('egress-policy');
  let finalMode: string | undefined = mode;
  if (mode === wantedMode.value) {
    // as wanted
  } else if (weaken || mode === 'audit' || (mode !== undefined && !isExpression(mode) && mode !== 'block')) {
    set(wantedMode, modeWritten ? mode : undefined);
    finalMode = wantedMode.value;
  } else if (mode === undefined || isExpression(mode)) {
    result.kept.push(`kept the expression egress-policy: ${mode ?? '(not a plain value)'}`);
  } else {
    // block, written or Harden-Runner's default, where the plan says less.
    result.kept.push(`kept egress-policy: block${modeWritten ? '' : " (Harden-Runner's default: the step has no egress-policy)"}; the plan says ${wantedMode.value}`);
  }
  result.mode = finalMode === 'audit' ? 'audit' : finalMode === 'block' || finalMode === BLOCK_ON_LINUX ? 'block' : plan.mode;

  // allowed-endpoints: only where the step may block.
  const wantedEndpoints = want.get('allowed-endpoints');
  const endpointsNow = current.get('allowed-endpoints');
  const endpointsWritten = current.has('allowed-endpoints');
  if (endpointsWritten && endpointsNow === undefined) {
    if (wantedEndpoints) result.kept.push('kept allowed-endpoints: not a plain value');
  } else if (endpointsNow !== undefined && isExpression(endpointsNow) && !weaken) {
    if (wantedEndpoints && endpointsNow !== wantedEndpoints.value) result.kept.push(`kept the expression allowed-endpoints: ${endpointsNow}`);
  } else if (wantedMode.value !== 'audit' && finalMode !== 'audit') {
    const before = endpointsNow === undefined ? [] : endpointsInOrder(endpointsNow);
    // A person's list keeps its order; what the plan adds goes after it (sorted among itself).
    const appended = sortUnique(wantedEndpoints?.endpoints ?? []).filter((entry) => !before.includes(entry));
    const after = weaken ? sortUnique(wantedEndpoints?.endpoints ?? []) : [...before, ...appended];
    const multiLine = endpointsNow !== undefined && endpointsNow.trim().includes('\n');
    const added = after.filter((entry) => !before.includes(entry));
    const dropped = before.filter((entry) => !after.includes(entry));
    const beyond = before.filter((entry) => !(wantedEndpoints?.endpoints ?? []).includes(entry));
    if (!weaken && beyond.length > 0) result.kept.push(`kept allowed-endpoints the plan does not list: ${beyond.join(' ')}`);
    if (after.length === 0) {
      if (endpointsWritten) {
        result.remove.push('allowed-endpoints');
        result.changes.push({ field: 'with.allowed-endpoints', from: endpointsNow ?? null, to: null, added, dropped });
      }
    } else if (added.length > 0 || dropped.length > 0 || multiLine || (isExpression(endpointsNow ?? '') && weaken)) {
      set({ key: 'allowed-endpoints', value: after.join(' '), endpoints: after }, endpointsNow, { added, dropped });
    }
    result.endpoints = after;
  } else {
    if (weaken && endpointsWritten && wantedMode.value === 'audit' && finalMode === 'audit') {
      result.remove.push('allowed-endpoints');
      result.changes.push({ field: 'with.allowed-endpoints', from: endpointsNow ?? null, to: null, added: [], dropped: endpointsNow === undefined ? [] : endpointsOf(endpointsNow) });
    } else if (endpointsNow !== undefined) result.endpoints = endpointsOf(endpointsNow);
  }
  if (result.mode !== 'block') result.endpoints = [];

  // disable-* flags: true is never cleared without `weaken`.
  for (const flag of PASSTHROUGH_FLAGS) {
    const wanted = want.get(flag);
    const now = current.get(flag);
    if (wanted) {
      if (now === wanted.value) continue;
      if (now !== undefined && (isExpression(now) || now === STRONGER_FLAG_VALUE) && !weaken) {
        result.kept.push(`kept ${flag}: ${now}`);
        continue;
      }
      set(wanted, now);
      continue;
    }
    const clear = (flag === 'disable-telemetry' && finalMode === 'audit') || (plan.kind === 'harden-runner' && plan.flags?.[flag] === false);
    if (now !== undefined && now !== 'false' && clear) {
      if (weaken) set({ key: flag, value: 'false' }, now);
      else result.kept.push(`kept ${flag}: ${now}`);
    }
  }
  return result;
}

/** Why the step's literal inputs say more than the plan (variables delivery), or undefined. */
function weakerThanPlan(current: ReadonlyMap<string, string | undefined>, plan: HardenRunnerPlan): string | undefined {
  const reasons: string[] = [];
  const mode = current.has('egress-policy') ? current.get('egress-policy') : 'block';
  if (mode !== undefined && !isExpression(mode) && mode === 'block' && plan.mode !== 'block') reasons.push('egress-policy: block');
  const endpoints = current.get('allowed-endpoints');
  if (endpoints !== undefined && !isExpression(endpoints)) {
    const wanted = new Set(plan.endpoints ?? []);
    const missing = endpointsOf(endpoints).filter((entry) => !wanted.has(entry));
    if (missing.length > 0) reasons.push(`allowed-endpoints ${missing.join(' ')}`);
  }
  for (const flag of PASSTHROUGH_FLAGS) if (current.get(flag) === 'true' && plan.flags?.[flag] !== true) reasons.push(`${flag}: true`);
  return reasons.length > 0 ? reasons.join(', ') : undefined;
}

interface StepEdit {
  edits: TextEdit[];
  notes: string[];
  changes: StepChange[];
  /** The job cannot be updated safely. */
  unsupported?: string;
}

/** The uses: line already names the plan's pin (version comment spacing aside)? */
function pinCurrent(plan: JobPlan, value: string, rest: string): boolean {
  if (value.trim() !== usesValue(plan)) return false;
  const comment = usesComment(plan);
  const written = /^\s*#\s*(.*?)\s*$/.exec(rest)?.[1];
  return comment === undefined ? rest.trim() === '' : written === comment;
}

/** In-place edits of an existing step of the same kind as the plan. */
function updateStep(step: YAMLMap, stepText: string, plan: JobPlan, inputs: InputPlan, marker: string | undefined, index: LineIndex, layout: StepsLayout, eol: string): StepEdit {
  const edits: TextEdit[] = [];
  const notes: string[] = [];
  const changes: StepChange[] = [];
  const usesPair = pairOf(step, 'uses');
  const usesNode = usesPair?.value;
  const usesRange = rangeOf(usesNode);
  if (!usesPair || !isScalar(usesNode) || !usesRange) return { edits, notes, changes, unsupported: 'the existing step has no plain uses: value' };
  const contentColumn = index.column(keyOffset(step.items[0] as Pair));
  const usesLine = index.lastContentLine(keyOffset(usesPair), usesRange[1]);

  if (plan.repin === true) {
    const wanted = usesText(plan);
    const lineEnd = index.lineContentEnd(index.lineOf(usesRange[0]));
    if (index.lineOf(usesRange[0]) !== usesLine) return { edits, notes, changes, unsupported: 'the existing uses: value spans lines' };
    const written = index.text.slice(usesRange[0], lineEnd);
    if (!pinCurrent(plan, String(usesNode.value), index.text.slice(usesRange[1], lineEnd))) {
      edits.push({ start: usesRange[0], end: lineEnd, text: wanted });
      changes.push({ field: 'uses', from: written.trimEnd(), to: wanted });
    }
  }

  const withPair = pairOf(step, 'with');
  const withNode = withPair?.value;
  // The marker: added or updated on the `with:` line (docs/reconciliation.md).
  const currentMarker = MARKER.exec(stepText);
  const markerEdit = (withKeyLine: number): void => {
    if (marker === undefined) return;
    if (currentMarker) {
      if (currentMarker[0] === marker) return;
      const stepStart = rangeOf(step)?.[0] ?? 0;
      const start = stepStart + currentMarker.index;
      edits.push({ start, end: start + currentMarker[0].length, text: marker });
      changes.push({ field: 'marker', from: currentMarker[0], to: marker });
      return;
    }
    const end = index.lineContentEnd(withKeyLine);
    edits.push({ start: end, end, text: ` ${marker}` });
    changes.push({ field: 'marker', from: null, to: marker });
  };
  if (!withPair) {
    if (inputs.set.length === 0 && marker === undefined) return { edits, notes, changes };
    const lines = [`${spaces(contentColumn)}with:${marker === undefined ? '' : ` ${marker}`}`, ...inputs.set.flatMap((input) => renderInput(input, contentColumn + layout.unit, layout.unit))];
    edits.push(linesAfter(index, usesLine, lines, eol));
    if (marker !== undefined) changes.push({ field: 'marker', from: null, to: marker });
    return { edits, notes, changes: [...changes, ...inputs.changes] };
  }
  const withKeyLine = index.lineOf(colonEnd(withPair));
  if (withNode === null || withNode === undefined || (isScalar(withNode) && withNode.value === null)) {
    markerEdit(withKeyLine);
    const lines = inputs.set.flatMap((input) => renderInput(input, contentColumn + layout.unit, layout.unit));
    if (lines.length > 0) edits.push(linesAfter(index, withKeyLine, lines, eol));
    return { edits, notes, changes: [...changes, ...inputs.changes] };
  }
  if (!isBlockMap(withNode)) return { edits, notes, changes, unsupported: 'the existing step has a with: that is not a block mapping' };
  markerEdit(withKeyLine);

  const firstInput = withNode.items[0] as Pair;
  const inputColumn = index.column(keyOffset(firstInput));
  const unit = indentUnitOf(withNode, index) ?? layout.unit;
  const lastLineOf = (pair: Pair): number => {
    const range = rangeOf(pair.value);
    const last = range && range[1] > range[0] ? index.lastContentLine(range[0], range[1]) : index.lineOf(keyOffset(pair));
    return Math.max(last, index.lineOf(keyOffset(pair)));
  };
  for (const key of inputs.remove) {
    const pair = pairOf(withNode, key);
    if (!pair) continue;
    edits.push({ start: index.lineStart(index.lineOf(keyOffset(pair))), end: index.lineEnd(lastLineOf(pair)), text: '' });
  }
  const removed = new Set(inputs.remove);
  // New inputs go after the last input that stays (or before the first when none stays).
  const staying = withNode.items.filter((pair): pair is Pair => isPair(pair) && !removed.has(keyName(pair) ?? ''));
  const anchor = staying[staying.length - 1];
  for (const input of inputs.set) {
    const pair = pairOf(withNode, input.key);
    if (!pair) {
      const lines = renderInput(input, inputColumn, unit);
      if (anchor) edits.push(linesAfter(index, lastLineOf(anchor), lines, eol));
      else {
        const start = index.lineStart(index.lineOf(keyOffset(firstInput)));
        edits.push({ start, end: start, text: lines.map((line) => line + eol).join('') });
      }
      continue;
    }
    const valueRange = rangeOf(pair.value);
    const rendered = renderInput(input, inputColumn, unit);
    const firstLine = rendered[0] ?? '';
    const valueText = firstLine.slice(firstLine.indexOf(': ') + 2);
    const singleLineValue =
      isScalar(pair.value) &&
      valueRange !== undefined &&
      valueRange[1] > valueRange[0] &&
      index.lineOf(valueRange[0]) === index.lineOf(keyOffset(pair)) &&
      index.lastContentLine(valueRange[0], valueRange[1]) === index.lineOf(valueRange[0]) &&
      !['BLOCK_LITERAL', 'BLOCK_FOLDED'].includes(String(pair.value.type));
    if (singleLineValue && rendered.length === 1) {
      // Keep the comment that may follow the value on this line.
      edits.push({ start: valueRange[0], end: valueRange[1], text: valueText });
    } else {
      edits.push({ start: colonEnd(pair), end: index.lineContentEnd(lastLineOf(pair)), text: ` ${[valueText, ...rendered.slice(1)].join(eol)}` });
    }
  }
  return { edits, notes, changes: [...changes, ...inputs.changes] };
}

/** The current `with:` of a step: key -> plain text (undefined: not a plain value). */
function currentInputs(step: YAMLMap): Map<string, string | undefined> {
  const inputs = new Map<string, string | undefined>();
  const withNode = mapValue(step, 'with');
  if (!isMap(withNode)) return inputs;
  for (const pair of withNode.items) {
    const key = isPair(pair) ? keyName(pair) : undefined;
    if (key !== undefined && isPair(pair)) inputs.set(key, scalarText(pair.value));
  }
  return inputs;
}

function existingStepInfo(steps: YAMLSeq, text: string, plan?: JobPlan): { step: YAMLMap; existing: ExistingStep } | undefined {
  let found: { step: YAMLMap; existing: ExistingStep } | undefined;
  for (const [position, item] of steps.items.entries()) {
    if (!isMap(item)) continue;
    const uses = mapValue(item, 'uses');
    if (!isScalar(uses) || typeof uses.value !== 'string') continue;
    const kind = stepKind(uses.value, plan);
    if (!kind) continue;
    if (found) {
      if (found.existing.kind === kind) found.existing.others = [...(found.existing.others ?? []), position];
      continue;
    }
    const inputs: Record<string, string> = {};
    for (const [key, value] of currentInputs(item)) if (value !== undefined) inputs[key] = value;
    const range = rangeOf(item);
    const managedBy = range ? readMarker(text.slice(range[0], range[2])) : undefined;
    found = { step: item, existing: { kind, uses: uses.value, index: position, with: inputs, ...(managedBy ? { managedBy } : {}) } };
  }
  return found;
}

function resolvePlan(options: HardenOptions, info: JobInfo): JobPlan | JobSkip {
  if (typeof options.plan === 'function') return options.plan(info);
  const entry = Object.prototype.hasOwnProperty.call(options.plan, info.id) ? options.plan[info.id] : undefined;
  return entry ?? { skip: 'no plan for this job' };
}

function yamlDiagnostics(doc: Document, file: string, index: LineIndex): Diagnostic[] {
  return doc.errors.map((error) => {
    const message = (error.message.split('\n')[0] ?? error.message).replace(/ at line \d+, column \d+:?$/, '');
    const at = index.position(Math.min(error.pos[0], index.text.length));
    return { file, ...at, code: 'workflow/yaml', severity: 'error' as const, message: `${message} (${error.code})` };
  }).sort(compareDiagnostics);
}

function parseWorkflowDocument(text: string): Document.Parsed {
  return parseDocument(text, { keepSourceTokens: true, uniqueKeys: true, prettyErrors: false, strict: true });
}

interface JobsOfDocument {
  doc: Document.Parsed;
  jobs?: YAMLMap;
  errors: Diagnostic[];
}

function readJobs(text: string, file: string, index: LineIndex): JobsOfDocument {
  const doc = parseWorkflowDocument(text);
  const errors = yamlDiagnostics(doc, file, index);
  if (errors.length > 0) return { doc, errors };
  const root = doc.contents;
  const error = (offset: number, code: string, message: string): JobsOfDocument => ({
    doc,
    errors: [{ file, ...index.position(offset), code, severity: 'error', message }],
  });
  if (!isMap(root)) return error(rangeOf(root)?.[0] ?? 0, 'workflow/not-a-mapping', 'a workflow is a mapping with on: and jobs: at the top');
  const jobsPair = pairOf(root, 'jobs');
  if (!jobsPair) return error(rangeOf(root)?.[0] ?? 0, 'workflow/no-jobs', 'the workflow has no jobs: mapping');
  if (!isBlockMap(jobsPair.value)) {
    return error(rangeOf(jobsPair.value)?.[0] ?? keyOffset(jobsPair), 'workflow/jobs-not-block-mapping', 'jobs: must be a block mapping (one job id per line) to be edited as text');
  }
  return { doc, jobs: jobsPair.value, errors: [] };
}

/**
 * Harden every eligible job of a workflow, preserving the text outside the lines inserted or
 * edited. Idempotent: hardening the output again with the same plan reports `unchanged` for
 * every job and returns identical text.
 */
export function hardenWorkflow(text: string, options: HardenOptions): HardenResult {
  const file = options.file ?? 'workflow.yml';
  const stepName = options.stepName ?? DEFAULT_STEP_NAME;
  const index = new LineIndex(text);
  const eol = detectEol(text);
  const { doc, jobs, errors } = readJobs(text, file, index);
  if (!jobs) return { output: text, changed: false, jobs: [], errors };

  const sharedAnchors = referencedAnchors(doc, text);
  const outcomes: JobOutcome[] = [];
  const edits: TextEdit[] = [];
  const spans: EditedSpan[] = [];
  /** Per job: the kind and inputs its first step must read back as (the self-check). */
  const expected = new Map<string, ExpectedStep>();
  /** Record the steps text the job's edits (pushed since `firstEdit`) rewrote, for the self-check. */
  const editedSpan = (job: string, steps: YAMLSeq, layout: StepsLayout, lastTouched: number, inserted: boolean, firstEdit: number): void => {
    const span = stepsSpan(index, steps, layout, lastTouched);
    const jobEdits = edits.slice(firstEdit);
    const inside = span !== undefined && jobEdits.every((edit) => edit.start >= span[0] && edit.end <= span[1]);
    spans.push({
      job,
      start: span?.[0] ?? 0,
      end: span?.[1] ?? 0,
      delta: jobEdits.reduce((sum, edit) => sum + edit.text.length - (edit.end - edit.start), 0),
      // Inconsistent span (a bug of ours): the full re-parse decides.
      ...(inside ? { items: Math.min(lastTouched, steps.items.length - 1) + 1 + (inserted ? 1 : 0), dash: layout.dash } : {}),
    });
  };
  for (const jobPair of jobs.items) {
    if (!isPair(jobPair)) continue;
    const line = index.lineOf(keyOffset(jobPair)) + 1;
    const analysis: JobAnalysis = analyzeJob(doc, jobPair, line, sharedAnchors);
    const support = (plan?: JobPlan): JobSupport => classifyJob(analysis, plan?.kind === 'harden-runner' ? plan.mode : undefined);
    const outcome = (action: JobAction, extra: Partial<JobOutcome> = {}): void => {
      // Only where Harden-Runner leaves something unenforced: the common case stays quiet.
      const classified = support(extra.plan);
      outcomes.push({ job: analysis.id, line, action, ...(classified.gaps.length > 0 ? { support: classified } : {}), ...extra });
    };
    if (analysis.skip || !analysis.map) {
      outcome('skipped', { reason: analysis.skip?.reason ?? 'the job is not a mapping', skipCode: analysis.skip?.code ?? 'not-a-mapping' });
      continue;
    }
    const job = analysis.map;
    const stepsPair = pairOf(job, 'steps') as Pair;
    const steps = stepsPair.value as YAMLSeq;
    const foundBeforePlan = existingStepInfo(steps, text);
    const info: JobInfo = {
      id: analysis.id,
      line,
      runner: analysis.runner,
      container: analysis.container,
      ...(analysis.name === undefined ? {} : { name: analysis.name }),
      ...(foundBeforePlan ? { existing: foundBeforePlan.existing } : {}),
    };
    const decision = resolvePlan(options, info);
    if ('skip' in decision) {
      outcome('skipped', { reason: decision.skip, skipCode: 'planner', ...(foundBeforePlan ? { existing: foundBeforePlan.existing } : {}) });
      continue;
    }
    // A plan may name a step repository we only recognize once we know it (a fork, our composite).
    const found = foundBeforePlan ?? existingStepInfo(steps, text, decision);
    // A step without the marker is a person's: never switched to variables (which a later store
    // change could lower); the store is applied to it as a floor, in literals (docs/reconciliation.md).
    const unmanagedFloor = decision.kind === 'harden-runner' && decision.variables !== undefined && found !== undefined && found.existing.kind === 'harden-runner' && !found.existing.managedBy;
    const plan: JobPlan = unmanagedFloor ? withoutVariables(decision) : decision;
    const desired = desiredInputs(plan, analysis.runner);
    const layout = detectLayout(steps, stepsPair, job, jobPair, index);
    const context: string[] = unprotectedReasons(support(plan));
    const policy = plan.kind === 'harden-runner' && plan.managedBy ? { policy: plan.managedBy.policy } : {};
    const warnings = [...(plan.kind === 'harden-runner' ? (plan.warnings ?? []) : []), ...desired.warnings];
    const envOverrides = policyEnvOverrides(doc, job, index);
    if (plan.kind === 'harden-runner') warnings.push(...privilegeWarnings(job, plan.flags, text, (offset) => index.lineOf(offset) + 1));
    const reasonOf = (notes: readonly string[]): { reason?: string } => {
      const all = [plan.note, ...desired.notes, ...context, ...notes].filter((note): note is string => note !== undefined && note !== '');
      return all.length > 0 ? { reason: all.join('; ') } : {};
    };

    if (!found) {
      const lines = renderStep(plan, desired.inputs, layout, stepName);
      const inserted = lines.map((item) => item + eol).join('') + (layout.blankSeparated ? eol : '');
      edits.push({ start: layout.insertAt, end: layout.insertAt, text: inserted });
      expected.set(analysis.id, { plan, inputs: desired.inputs });
      editedSpan(analysis.id, steps, layout, 0, true, edits.length - 1);
      const endpoints = plan.kind === 'harden-runner' && plan.variables ? sortUnique(plan.endpoints ?? []) : (desired.inputs.find((input) => input.key === 'allowed-endpoints')?.endpoints ?? []);
      const mode = desired.inputs.find((input) => input.key === 'egress-policy')?.value === 'audit' ? 'audit' : desired.mode;
      outcome('inserted', {
        plan,
        ...reasonOf([]),
        ...(plan.kind === 'harden-runner' ? { mode, endpoints: mode === 'block' ? [...endpoints] : [] } : {}),
        ...policy,
        changes: [],
        ...(warnings.length > 0 ? { warnings } : {}),
        ...(envOverrides.length > 0 ? { drift: envDrift(envOverrides), policyEnv: envOverrides } : {}),
      });
      continue;
    }

    const { step, existing } = found;
    if (existing.others && existing.others.length > 0) {
      const positions = [existing.index, ...existing.others].map((position) => position + 1);
      warnings.push(
        `the job has ${positions.length} ${existing.kind === 'composite' ? 'composite action' : 'Harden-Runner'} steps (positions ${positions.join(', ')}): only the first is kept in line; remove the others by hand`,
      );
    }
    if (step.anchor && sharedAnchors.has(step.anchor)) {
      outcome('skipped', { reason: 'the existing Harden-Runner step is anchored and reused by an alias: edit it by hand', skipCode: 'shared-by-alias', existing });
      continue;
    }
    const dash = firstDashOffset(steps, existing.index);
    const stepRange = rangeOf(step);
    if (dash === undefined || !stepRange) {
      outcome('skipped', { reason: 'the existing Harden-Runner step could not be located', skipCode: 'unsupported-step', existing });
      continue;
    }
    const blockStart = index.lineStart(index.lineOf(dash));
    const blockEnd = index.lineEnd(index.lastContentLine(stepRange[0], stepRange[1]));
    const notes: string[] = [];
    let stepEdits: TextEdit[];
    let changes: StepChange[];
    let inputs: InputPlan | undefined;
    // The desired state's "no endpoints" warning is about the step as it ends up, not the plan.
    const noEndpointsWarning = warnings.indexOf(BLOCK_WITHOUT_ENDPOINTS);
    if (noEndpointsWarning !== -1) warnings.splice(noEndpointsWarning, 1);
    const planWarnsNoEndpoints = noEndpointsWarning !== -1;
    if (existing.kind !== plan.kind) {
      // Another kind of step (composite <-> inline). The composite action takes its policy from
      // the server and has no inputs for one: a step that says more than audit is not replaced.
      const carried = existing.kind === 'harden-runner' ? policyInputsOf(existing) : [];
      if (carried.length > 0) {
        outcome('skipped', {
          reason: `the existing Harden-Runner step sets ${carried.join(', ')}, which the composite action cannot carry (it takes the policy from the server): attach a policy that says so and replace the step by hand, or keep it inline`,
          skipCode: 'would-drop-inputs',
          existing,
        });
        continue;
      }
      const replacement = renderStep(plan, desired.inputs, layout, stepName).map((item) => item + eol).join('');
      const original = text.slice(blockStart, blockEnd);
      stepEdits = [{ start: blockStart, end: blockEnd, text: original.endsWith('\n') ? replacement : replacement.slice(0, -eol.length) }];
      notes.push(`replaced the ${existing.kind === 'composite' ? 'composite action' : 'Harden-Runner'} step (${existing.uses})`);
      const written = new Map(desired.inputs.map((input) => [input.key, input.value]));
      // Every input of the old step is accounted for: carried, changed or dropped, old -> new.
      const inputChanges: StepChange[] = Object.entries(existing.with)
        .filter(([key, value]) => written.get(key) !== value)
        .map(([key, value]) => ({ field: `with.${key}`, from: value, to: written.get(key) ?? null }));
      changes = [{ field: 'uses', from: existing.uses, to: usesText(plan) }, ...inputChanges];
      if (planWarnsNoEndpoints) warnings.push(BLOCK_WITHOUT_ENDPOINTS);
      expected.set(analysis.id, { plan, inputs: desired.inputs });
    } else {
      const weaken = plan.kind === 'harden-runner' && plan.mayWeaken === true && existing.managedBy !== undefined;
      const current = currentInputs(step);
      inputs = planInputs(desired.inputs, current, weaken, plan, desired.mode);
      // The marker is never added by a sync (docs/reconciliation.md, "The marker"): only a step
      // egressctl inserted, or one a person handed over by adding the marker, is managed. Its
      // policy name follows the store when the step now says exactly what the store says.
      const marker = plan.kind === 'harden-runner' && plan.managedBy && existing.managedBy && inputs.kept.length === 0 ? markerText(plan.managedBy) : undefined;
      if (plan.kind === 'harden-runner' && plan.managedBy && !existing.managedBy) {
        notes.push(inputs.kept.length === 0 ? 'unmanaged step (no egressctl marker): matches the store, left unmarked' : 'unmanaged step (no egressctl marker): kept as a floor, left unmarked');
      }
      if (plan.kind === 'harden-runner' && plan.variables) {
        // With variables delivery the store's changes reach jobs through variables, and the
        // literal at the end of the chain waits for the next sync PR: say when it was behind.
        const written = existing.with['egress-policy'];
        const fallback = written === undefined ? undefined : deliveryFallbackOf(written);
        if (fallback !== undefined && fallback !== (plan.variables.fallback ?? AUDIT_DEFAULT_VALUE)) {
          notes.push(`the step's fallback (what runs without variables get, e.g. pull requests from forks) is behind the store (${plan.managedBy?.policy ? `policy ${plan.managedBy.policy}` : 'the audit default'})`);
        }
      }
      const finalMode = inputs.mode;
      const endpointsWritten = inputs.set.some((input) => input.key === 'allowed-endpoints') || (current.has('allowed-endpoints') && !inputs.remove.includes('allowed-endpoints'));
      if (finalMode === 'block' && !endpointsWritten && !(plan.kind === 'harden-runner' && plan.variables && (plan.endpoints ?? []).length > 0)) warnings.push(BLOCK_WITHOUT_ENDPOINTS);
      const update = updateStep(step, text.slice(stepRange[0], stepRange[2]), plan, inputs, marker, index, layout, eol);
      if (update.unsupported) {
        outcome('skipped', { reason: `${update.unsupported}: edit it by hand`, skipCode: 'unsupported-step', existing });
        continue;
      }
      // With variables a managed step's inputs do not name the policy: a change of attachment
      // with the same inputs is the variables' business, never a marker-only PR (issue 21).
      const markerOnly = plan.kind === 'harden-runner' && plan.variables !== undefined && existing.managedBy !== undefined && update.changes.length > 0 && update.changes.every((change) => change.field === 'marker');
      stepEdits = markerOnly ? [] : update.edits;
      changes = markerOnly ? [] : update.changes;
      notes.push(...update.notes, ...inputs.kept);
      expected.set(analysis.id, { plan, inputs: inputs.set });
    }

    const firstEdit = edits.length;
    if (existing.index === 0) {
      edits.push(...stepEdits);
    } else {
      // Harden-Runner sees only what runs after it: move the step to the top, edited.
      const local = stepEdits.map((edit) => ({ ...edit, start: edit.start - blockStart, end: edit.end - blockStart }));
      let moved = applyEdits(text.slice(blockStart, blockEnd), local);
      if (!moved.endsWith('\n')) moved += eol;
      if (layout.blankSeparated) moved += eol;
      // Take one blank separator with the step, so that none is left doubled behind it.
      let removeStart = blockStart;
      let removeEnd = blockEnd;
      const nextLine = index.lineOf(blockEnd);
      if (layout.blankSeparated && blockEnd < text.length && /^\s*$/.test(index.lineText(nextLine))) removeEnd = index.lineEnd(nextLine);
      else if (layout.blankSeparated && /^\s*$/.test(index.lineText(index.lineOf(blockStart) - 1))) removeStart = index.lineStart(index.lineOf(blockStart) - 1);
      edits.push({ start: layout.insertAt, end: layout.insertAt, text: moved }, { start: removeStart, end: removeEnd, text: '' });
      notes.push(`moved from position ${existing.index + 1} to the first step`);
      changes = [...changes, { field: 'position', from: String(existing.index + 1), to: '1' }];
    }
    const changed = stepEdits.length > 0 || existing.index !== 0;
    // The step after the edited one is checked too: it shows the edit ended where it should.
    if (changed) editedSpan(analysis.id, steps, layout, existing.index + 1, false, firstEdit);
    const described = changes.filter((change) => change.field !== 'position').map(describeChange);
    const drift = [driftOf(existing, plan, inputs, changes), ...(envOverrides.length > 0 ? [envDrift(envOverrides)] : [])].filter((item): item is string => item !== undefined).join('; ');
    outcome(changed ? 'updated' : 'unchanged', {
      plan,
      ...reasonOf([...described, ...notes]),
      ...(plan.kind === 'harden-runner' && inputs?.mode ? { mode: inputs.mode, endpoints: inputs.endpoints } : {}),
      ...policy,
      changes,
      ...(warnings.length > 0 ? { warnings } : {}),
      ...(drift ? { drift } : {}),
      ...(envOverrides.length > 0 ? { policyEnv: envOverrides } : {}),
      existing,
    });
  }

  const output = edits.length > 0 ? applyEdits(text, edits) : text;
  const problems = output === text || spansCheckOut(text, output, spans, expected) ? [] : selfCheck(output, expected, file);
  if (problems.length > 0) return { output: text, changed: false, jobs: outcomes, errors: problems };
  return { output, changed: output !== text, jobs: outcomes, errors: [] };
}

/** The plan without variables delivery: the store's policy as literals. */
function withoutVariables(plan: HardenRunnerPlan): HardenRunnerPlan {
  const { variables: _variables, ...literal } = plan;
  return literal;
}

/**
 * Inputs of a Harden-Runner step that say more than audit (a replacement that cannot carry them
 * would weaken the job): block mode (also Harden-Runner's default when `egress-policy` is
 * absent), endpoints, and every other input that is set and not `false`.
 */
function policyInputsOf(existing: ExistingStep): string[] {
  const found: string[] = [];
  const mode = existing.with['egress-policy'];
  if (mode === undefined) found.push("egress-policy: block (Harden-Runner's default: the step has no egress-policy)");
  else if (mode !== 'audit') found.push(`egress-policy: ${mode}`);
  for (const [key, value] of Object.entries(existing.with)) {
    if (key === 'egress-policy' || value === '' || value === 'false') continue;
    found.push(key === 'allowed-endpoints' ? `allowed-endpoints (${endpointsOf(value).length})` : `${key}: ${value}`);
  }
  return found;
}

/** Where a workflow sets `EGRESSCTL_POLICY` in an `env:` (workflow, job or step), as report lines. */
function policyEnvOverrides(doc: Document, job: YAMLMap, index: LineIndex): string[] {
  const found: string[] = [];
  const check = (owner: unknown, where: string): void => {
    const env = isMap(owner) ? mapValue(owner, 'env') : undefined;
    if (!isMap(env)) return;
    for (const pair of env.items) {
      // The env context is looked up without regard to case.
      if (!isPair(pair) || keyName(pair)?.toUpperCase() !== POLICY_ENV) continue;
      found.push(`${where} env: (line ${index.lineOf(keyOffset(pair)) + 1})`);
    }
  };
  check(doc.contents, 'the workflow');
  check(job, "the job's");
  const steps = mapValue(job, 'steps');
  if (isSeq(steps)) for (const [position, step] of steps.items.entries()) check(step, `step ${position + 1}'s`);
  return found;
}

function envDrift(places: readonly string[]): string {
  return `${POLICY_ENV} is set in ${places.join(', ')}: only egressctl's job-started hook may set it (on self-hosted runners the managed step reads it first); remove it`;
}

/** One change as a report line: `egress-policy: audit -> block`, `allowed-endpoints: +a -b`. */
export function describeChange(change: StepChange): string {
  const field = change.field.replace(/^with\./, '');
  if (change.added !== undefined || change.dropped !== undefined) {
    const parts = [...(change.added ?? []).map((entry) => `+${entry}`), ...(change.dropped ?? []).map((entry) => `-${entry}`)];
    return `${field}: ${parts.length > 0 ? parts.join(' ') : 'rewritten on one line'}`;
  }
  return `${field}: ${change.from ?? '(absent)'} -> ${change.to ?? '(removed)'}`;
}

/**
 * Whose step a job has, against the policy the store now gives it (docs/reconciliation.md, drift):
 * `unmanaged`: no egressctl marker; `edited`: the marker names this policy; `stale`: it names
 * another. The one reading of the marker for the harden report and the sync report.
 */
export type StepDrift = { kind: 'unmanaged' } | { kind: 'edited' } | { kind: 'stale'; was: string | null };

export function stepDrift(existing: ExistingStep | undefined, policy: string | null): StepDrift {
  if (!existing?.managedBy) return { kind: 'unmanaged' };
  const was = existing.managedBy.policy;
  return was === policy ? { kind: 'edited' } : { kind: 'stale', was };
}

/** Why an existing step is out of line with a managed plan (docs/reconciliation.md, drift). */
function driftOf(existing: ExistingStep, plan: JobPlan, inputs: InputPlan | undefined, changes: readonly StepChange[]): string | undefined {
  if (plan.kind !== 'harden-runner' || !plan.managedBy) return undefined;
  const inputChanges = changes.filter((change) => change.field.startsWith('with.'));
  const drift = stepDrift(existing, plan.managedBy.policy);
  if (drift.kind === 'unmanaged') {
    if (inputs && inputs.kept.length > 0) return `the Harden-Runner step is not managed by egressctl (no marker) and differs from the store: ${inputs.kept.join('; ')}`;
    return undefined;
  }
  if (inputs && inputs.kept.length > 0) return `the managed step differs from the store: ${inputs.kept.join('; ')}`;
  if (inputChanges.length > 0) {
    const policy = drift.kind === 'edited' ? 'edited by hand or its policy changed' : `its policy is now ${plan.managedBy.policy ?? 'none'} (was ${drift.was ?? 'none'})`;
    return `the managed step differed from the store (${policy})`;
  }
  return undefined;
}

/** What is wrong with the first step of a hardened job, as read back; empty when it is as planned. */
/** What a job's first step must read back as after the run: the plan's kind, and the inputs written. */
interface ExpectedStep {
  plan: JobPlan;
  inputs: readonly WantedInput[];
}

function firstStepProblems(steps: unknown, job: string, expected: ExpectedStep): string[] {
  const { plan } = expected;
  const first = isSeq(steps) ? steps.items[0] : undefined;
  const uses = isMap(first) ? mapValue(first, 'uses') : undefined;
  if (!isMap(first) || !isScalar(uses) || stepKind(String(uses.value), plan) !== plan.kind) return [`job ${job} does not start with the planned step`];
  const withNode = mapValue(first, 'with');
  const problems: string[] = [];
  for (const input of expected.inputs) {
    const value = isMap(withNode) ? mapValue(withNode, input.key) : undefined;
    if (!inputSatisfied(input, value)) problems.push(`job ${job}: with.${input.key} does not read back as "${input.value}"`);
  }
  return problems;
}

/**
 * The steps text a job's edits rewrote (input offsets): from where a new first step goes to
 * the end of the last step touched, plus the blank and comment lines after it, so that the
 * text after the span starts with a step, a key of the job or less indented, or the end.
 */
function stepsSpan(index: LineIndex, steps: YAMLSeq, layout: StepsLayout, lastTouched: number): [number, number] | undefined {
  const range = rangeOf(steps.items[Math.min(lastTouched, steps.items.length - 1)]);
  if (!range) return undefined;
  let line = index.lastContentLine(range[0], range[1]);
  while (line + 1 < index.lineCount && index.isBlankOrComment(line + 1)) line++;
  return [layout.insertAt, index.lineEnd(line)];
}

/** A job's rewritten steps text, located in the input. */
interface EditedSpan {
  job: string;
  /** Input offsets; every edit of the job lies inside. */
  start: number;
  end: number;
  /** Length change from the job's edits. */
  delta: number;
  /** Steps the span holds in the output; absent when the span could not be established. */
  items?: number;
  /** Column of the steps' `-`. */
  dash?: number;
}

/**
 * The cheap self-check: instead of re-parsing the whole output, parse each job's rewritten
 * steps text on its own. Outside the spans the output is the input byte for byte, and a span
 * is whole steps at the job's dash column followed (in the output as in the input) by a step,
 * a less indented key or the end, so a span that parses cleanly as exactly the expected steps
 * at that column, the first one as planned, parses the same way inside the file. Jobs left
 * unchanged are read from the input's parse (their text did not move). False means "not
 * shown": the caller then runs the full check, which alone reports problems.
 */
function spansCheckOut(input: string, output: string, spans: readonly EditedSpan[], expected: ReadonlyMap<string, ExpectedStep>): boolean {
  let shift = 0;
  let inputCursor = 0;
  for (const span of spans) {
    const wanted = expected.get(span.job);
    if (span.items === undefined || span.dash === undefined || !wanted || span.start < inputCursor) return false;
    const start = span.start + shift;
    const end = span.end + shift + span.delta;
    // Outside the spans the output must be the input, byte for byte (a cheap comparison, no parse).
    if (output.slice(inputCursor + shift, start) !== input.slice(inputCursor, span.start)) return false;
    inputCursor = span.end;
    shift += span.delta;
    const spanText = output.slice(start, end);
    const doc = parseDocument(spanText, { keepSourceTokens: true, prettyErrors: false, strict: true });
    const steps = doc.contents;
    if (doc.errors.length > 0 || !isSeq(steps) || steps.items.length !== span.items) return false;
    const token = steps.srcToken;
    if (token?.type !== 'block-seq') return false;
    let dashes = 0;
    for (const item of token.items) {
      const dash = item.start.find((part) => part.type === 'seq-item-ind')?.offset;
      // Comments after the last step make an item of their own, without a `-` or a value.
      if (dash === undefined && item.value === undefined) continue;
      if (dash === undefined || dash - (spanText.lastIndexOf('\n', dash - 1) + 1) !== span.dash) return false;
      dashes++;
    }
    if (dashes !== span.items) return false;
    if (firstStepProblems(steps, span.job, wanted).length > 0) return false;
  }
  // Jobs without a span were left as they were: their text did not move.
  return output.length === input.length + shift && output.slice(inputCursor + shift) === input.slice(inputCursor);
}

/**
 * Guard against our own bugs: the output must parse, and every hardened job must start with
 * the planned step whose inputs read back exactly as planned (endpoints on one line).
 */
function selfCheck(output: string, expected: ReadonlyMap<string, ExpectedStep>, file: string): Diagnostic[] {
  const index = new LineIndex(output);
  const { jobs, errors } = readJobs(output, file, index);
  const problem = (message: string): Diagnostic => ({ file, line: 1, column: 1, code: 'harden/internal', severity: 'error', message: `internal error, file left unchanged: ${message}` });
  if (!jobs) return errors.length > 0 ? errors.map((error) => problem(`the rewritten file does not parse (${error.message})`)) : [problem('jobs: disappeared')];
  const problems: Diagnostic[] = [];
  for (const [id, wanted] of expected) {
    const job = mapValue(jobs, id);
    problems.push(...firstStepProblems(isMap(job) ? mapValue(job, 'steps') : undefined, id, wanted).map(problem));
  }
  return problems;
}
