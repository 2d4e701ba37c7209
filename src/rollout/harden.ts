/**
 * Text-preserving workflow hardening (DESIGN 7): put Harden-Runner (or this project's composite
 * action) first in each eligible job, or update the step a job already has, by splicing lines
 * into the original text. The document is parsed only to find positions; it is never
 * re-serialized, so every byte outside the inserted or edited lines stays as it was.
 *
 * Pure: text and a plan in, text and per-job outcomes out. The caller decides per job through
 * `options.plan`; `checkWorkflowText` (workflow-check.ts) is the GitHub-parser gate on top.
 */
import { isMap, isPair, isScalar, isSeq, parseDocument, type Document, type Pair, type YAMLMap, type YAMLSeq } from 'yaml';
import { compareDiagnostics, type Diagnostic } from '../policy/diagnostics.js';
import { normalizeEndpoint, sortUnique } from '../policy/endpoint.js';
import type { EgressMode, HardenRunnerFlags, HardenRunnerPin } from '../policy/model.js';
import { analyzeJob, LINUX_GUARD, mapValue, referencedAnchors, type JobAnalysis, type RunnerInfo, type SkipCode } from './workflow-jobs.js';
import { applyEdits, detectEol, LineIndex, renderScalar, spaces, type TextEdit } from './workflow-text.js';

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
}

/** Which variables a managed step reads, most specific first (docs/reconciliation.md). */
export interface VariableInputs {
  /** e.g. `['EGRESSCTL_WF_RELEASE_YML', 'EGRESSCTL_POLICY']`, read as `vars.<name>`. */
  vars: readonly string[];
  /** Read first as `env.<name>` (written by the job-started hook on self-hosted runners). */
  env?: string;
}

/** This project's composite action (DESIGN 5): it fetches the policy and runs Harden-Runner. */
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
  /** The step will carry `if: runner.os == 'Linux'` (matrix over operating systems, or runner not known). */
  linuxGuard: boolean;
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
  /** The step carries `if: runner.os == 'Linux'`. */
  linuxGuard?: boolean;
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

function keyName(pair: Pair): string | undefined {
  return isScalar(pair.key) ? String(pair.key.value) : undefined;
}

function pairOf(map: YAMLMap, key: string): Pair | undefined {
  return map.items.find((pair): pair is Pair => isPair(pair) && keyName(pair) === key);
}

function isBlockMap(node: unknown): node is YAMLMap {
  return isMap(node) && (node as { srcToken?: { type?: string } }).srcToken?.type === 'block-map';
}

function nodeRange(node: unknown): [number, number, number] | undefined {
  const range = (node as { range?: [number, number, number] | null } | null)?.range;
  return range ?? undefined;
}

function keyOffset(pair: Pair): number {
  return nodeRange(pair.key)?.[0] ?? pair.srcToken?.key?.offset ?? 0;
}

/** Offset just after the pair's `:`. */
function colonEnd(pair: Pair): number {
  const indicator = pair.srcToken?.sep?.find((token) => token.type === 'map-value-ind');
  return indicator ? indicator.offset + 1 : (nodeRange(pair.key)?.[1] ?? 0) + 1;
}

function firstDashOffset(seq: YAMLSeq, index: number): number | undefined {
  const token = seq.srcToken;
  if (!token || token.type !== 'block-seq') return undefined;
  return token.items[index]?.start.find((item) => item.type === 'seq-item-ind')?.offset;
}

function wantedInputs(plan: JobPlan): WantedInput[] {
  if (plan.kind === 'composite') {
    const inputs: WantedInput[] = [
      { key: 'server', value: plan.with.server },
      { key: 'audience', value: plan.with.audience },
    ];
    if (plan.with['on-error']) inputs.push({ key: 'on-error', value: plan.with['on-error'] });
    return inputs;
  }
  if (plan.mode === 'audit') return [{ key: 'egress-policy', value: 'audit' }];
  const endpoints = sortUnique(plan.endpoints ?? []);
  return [
    { key: 'egress-policy', value: 'block' },
    { key: 'allowed-endpoints', value: endpoints.join(' '), endpoints },
  ];
}

function usesText(plan: JobPlan): string {
  if (plan.kind === 'harden-runner') return `${plan.pin.repository}@${plan.pin.sha} # ${plan.pin.version}`;
  return plan.version ? `${plan.uses} # ${plan.version}` : plan.uses;
}

/** Lines of `key: value` at `column` (the value may span more lines). */
function renderInput(input: WantedInput, column: number, unit: number): string[] {
  if (input.endpoints && input.endpoints.length > 0) {
    // `>-` folds lines of equal indentation into single spaces and strips the final newline:
    // one line per endpoint for readable diffs, one space-separated string for the agent.
    return [`${spaces(column)}${input.key}: >-`, ...input.endpoints.map((endpoint) => `${spaces(column + unit)}${endpoint}`)];
  }
  return [`${spaces(column)}${input.key}: ${renderScalar(input.value)}`];
}

function renderStep(plan: JobPlan, layout: StepsLayout, guard: boolean, stepName: string): string[] {
  const { dash, content, unit } = layout;
  const lines = [
    `${spaces(dash)}-${spaces(content - dash - 1)}name: ${renderScalar(stepName)}`,
    `${spaces(content)}uses: ${usesText(plan)}`,
  ];
  if (guard) lines.push(`${spaces(content)}if: ${LINUX_GUARD}`);
  lines.push(`${spaces(content)}with:`);
  for (const input of wantedInputs(plan)) lines.push(...renderInput(input, content + unit, unit));
  return lines;
}

/** Does the existing value already say what we want (as the agent reads it)? */
function inputSatisfied(input: WantedInput, current: unknown): boolean {
  const text = isScalar(current) ? (current.value === null || current.value === undefined ? '' : String(current.value)) : undefined;
  if (text === undefined) return false;
  if (!input.endpoints) return text === input.value;
  // A newline inside the list breaks the agent's parser: such a value must be rewritten.
  if (text.trim().includes('\n')) return false;
  const existing = sortUnique(text.split(/\s+/).filter((entry) => entry !== '').map((entry) => normalizeEndpoint(entry) ?? entry));
  return existing.join(' ') === input.value;
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
  const firstDash = firstDashOffset(seq, 0) ?? nodeRange(seq)?.[0] ?? 0;
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

interface StepEdit {
  edits: TextEdit[];
  notes: string[];
  /** The job cannot be updated safely. */
  unsupported?: string;
}

/** In-place edits of an existing step of the same kind as the plan. */
function updateStep(step: YAMLMap, plan: JobPlan, guard: boolean, layout: StepsLayout, index: LineIndex, eol: string): StepEdit {
  const edits: TextEdit[] = [];
  const notes: string[] = [];
  const usesPair = pairOf(step, 'uses');
  const usesNode = usesPair?.value;
  const usesRange = nodeRange(usesNode);
  if (!usesPair || !isScalar(usesNode) || !usesRange) return { edits, notes, unsupported: 'the existing step has no plain uses: value' };
  const contentColumn = index.column(keyOffset(step.items[0] as Pair));
  const usesLine = index.lastContentLine(keyOffset(usesPair), usesRange[1]);

  const repin = plan.repin === true;
  if (repin) {
    const wanted = usesText(plan);
    const lineEnd = index.lineContentEnd(index.lineOf(usesRange[0]));
    if (index.lineOf(usesRange[0]) !== usesLine) return { edits, notes, unsupported: 'the existing uses: value spans lines' };
    if (index.text.slice(usesRange[0], lineEnd) !== wanted) {
      edits.push({ start: usesRange[0], end: lineEnd, text: wanted });
      notes.push(`re-pinned from ${String(usesNode.value)}`);
    }
  }

  const ifPair = pairOf(step, 'if');
  if (guard && !ifPair) edits.push(linesAfter(index, usesLine, [`${spaces(contentColumn)}if: ${LINUX_GUARD}`], eol));
  else if (guard && ifPair && !(isScalar(ifPair.value) && String(ifPair.value.value).includes('runner.os'))) {
    notes.push(`kept the step's own if: (the job may also run on non-Linux runners)`);
  }

  const inputs = wantedInputs(plan);
  const withPair = pairOf(step, 'with');
  const withNode = withPair?.value;
  if (!withPair) {
    const lines = [`${spaces(contentColumn)}with:`, ...inputs.flatMap((input) => renderInput(input, contentColumn + layout.unit, layout.unit))];
    edits.push(linesAfter(index, usesLine, lines, eol));
    return { edits, notes };
  }
  if (withNode === null || withNode === undefined || (isScalar(withNode) && withNode.value === null)) {
    const keyLine = index.lineOf(colonEnd(withPair));
    const lines = inputs.flatMap((input) => renderInput(input, contentColumn + layout.unit, layout.unit));
    edits.push(linesAfter(index, keyLine, lines, eol));
    return { edits, notes };
  }
  if (!isBlockMap(withNode)) return { edits, notes, unsupported: 'the existing step has a with: that is not a block mapping' };

  const firstInput = withNode.items[0] as Pair;
  const inputColumn = index.column(keyOffset(firstInput));
  const unit = indentUnitOf(withNode, index) ?? layout.unit;
  let previous: Pair | undefined;
  for (const input of inputs) {
    const pair = pairOf(withNode, input.key);
    if (!pair) {
      const lines = renderInput(input, inputColumn, unit);
      if (previous) {
        const range = nodeRange(previous.value) ?? nodeRange(previous.key);
        edits.push(linesAfter(index, index.lastContentLine(keyOffset(previous), range?.[1] ?? keyOffset(previous) + 1), lines, eol));
      } else {
        const start = index.lineStart(index.lineOf(keyOffset(firstInput)));
        edits.push({ start, end: start, text: lines.map((line) => line + eol).join('') });
      }
      continue;
    }
    previous = pair;
    if (inputSatisfied(input, pair.value)) continue;
    const valueRange = nodeRange(pair.value);
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
      const lastLine = valueRange && valueRange[1] > valueRange[0] ? index.lastContentLine(valueRange[0], valueRange[1]) : index.lineOf(keyOffset(pair));
      const end = index.lineContentEnd(Math.max(lastLine, index.lineOf(keyOffset(pair))));
      edits.push({ start: colonEnd(pair), end, text: ` ${[valueText, ...rendered.slice(1)].join(eol)}` });
    }
  }
  return { edits, notes };
}

function existingStepInfo(steps: YAMLSeq, plan?: JobPlan): { step: YAMLMap; existing: ExistingStep } | undefined {
  for (const [position, item] of steps.items.entries()) {
    if (!isMap(item)) continue;
    const uses = mapValue(item, 'uses');
    if (!isScalar(uses) || typeof uses.value !== 'string') continue;
    const kind = stepKind(uses.value, plan);
    if (!kind) continue;
    const inputs: Record<string, string> = {};
    const withNode = mapValue(item, 'with');
    if (isMap(withNode)) {
      for (const pair of withNode.items) {
        if (isPair(pair) && isScalar(pair.value) && keyName(pair) !== undefined) inputs[keyName(pair) ?? ''] = String(pair.value.value ?? '');
      }
    }
    return { step: item, existing: { kind, uses: uses.value, index: position, with: inputs } };
  }
  return undefined;
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
  if (!isMap(root)) return error(nodeRange(root)?.[0] ?? 0, 'workflow/not-a-mapping', 'a workflow is a mapping with on: and jobs: at the top');
  const jobsPair = pairOf(root, 'jobs');
  if (!jobsPair) return error(nodeRange(root)?.[0] ?? 0, 'workflow/no-jobs', 'the workflow has no jobs: mapping');
  if (!isBlockMap(jobsPair.value)) {
    return error(nodeRange(jobsPair.value)?.[0] ?? keyOffset(jobsPair), 'workflow/jobs-not-block-mapping', 'jobs: must be a block mapping (one job id per line) to be edited as text');
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
    const outcome = (action: JobAction, extra: Partial<JobOutcome> = {}): void => {
      outcomes.push({ job: analysis.id, line, action, ...extra });
    };
    if (analysis.skip || !analysis.map) {
      outcome('skipped', { reason: analysis.skip?.reason ?? 'the job is not a mapping', skipCode: analysis.skip?.code ?? 'not-a-mapping' });
      continue;
    }
    const job = analysis.map;
    const stepsPair = pairOf(job, 'steps') as Pair;
    const steps = stepsPair.value as YAMLSeq;
    const foundBeforePlan = existingStepInfo(steps);
    const info: JobInfo = {
      id: analysis.id,
      line,
      runner: analysis.runner,
      container: analysis.container,
      linuxGuard: analysis.needsLinuxGuard,
      ...(analysis.name === undefined ? {} : { name: analysis.name }),
      ...(foundBeforePlan ? { existing: foundBeforePlan.existing } : {}),
    };
    const decision = resolvePlan(options, info);
    if ('skip' in decision) {
      outcome('skipped', { reason: decision.skip, skipCode: 'planner' });
      continue;
    }
    const plan = decision;
    // A plan may name a step repository we only recognize once we know it (a fork, our composite).
    const found = foundBeforePlan ?? existingStepInfo(steps, plan);
    const guard = analysis.needsLinuxGuard;
    const guardNote = guard
      ? analysis.runner.resolved
        ? `runs on Linux and non-Linux runners: the step has if: ${LINUX_GUARD}`
        : `runner OS not known statically: the step has if: ${LINUX_GUARD}`
      : undefined;
    const layout = detectLayout(steps, stepsPair, job, jobPair, index);
    const base = { plan, ...(guard ? { linuxGuard: true } : {}) };

    if (!found) {
      const lines = renderStep(plan, layout, guard, stepName);
      const text = lines.map((item) => item + eol).join('') + (layout.blankSeparated ? eol : '');
      edits.push({ start: layout.insertAt, end: layout.insertAt, text });
      editedSpan(analysis.id, steps, layout, 0, true, edits.length - 1);
      const reason = [plan.note, guardNote].filter((note) => note !== undefined).join('; ');
      outcome('inserted', { ...base, ...(reason ? { reason } : {}) });
      continue;
    }

    const { step, existing } = found;
    if (step.anchor && sharedAnchors.has(step.anchor)) {
      outcome('skipped', { reason: 'the existing Harden-Runner step is anchored and reused by an alias: edit it by hand', skipCode: 'shared-by-alias' });
      continue;
    }
    const dash = firstDashOffset(steps, existing.index);
    const stepRange = nodeRange(step);
    if (dash === undefined || !stepRange) {
      outcome('skipped', { reason: 'the existing Harden-Runner step could not be located', skipCode: 'unsupported-step' });
      continue;
    }
    const blockStart = index.lineStart(index.lineOf(dash));
    const blockEnd = index.lineEnd(index.lastContentLine(stepRange[0], stepRange[1]));
    const notes: string[] = [];
    let stepEdits: TextEdit[];
    if (existing.kind !== plan.kind) {
      const replacement = renderStep(plan, layout, guard, stepName).map((item) => item + eol).join('');
      const original = text.slice(blockStart, blockEnd);
      stepEdits = [{ start: blockStart, end: blockEnd, text: original.endsWith('\n') ? replacement : replacement.slice(0, -eol.length) }];
      notes.push(`replaced the ${existing.kind === 'composite' ? 'composite action' : 'Harden-Runner'} step (${existing.uses})`);
    } else {
      const update = updateStep(step, plan, guard, layout, index, eol);
      if (update.unsupported) {
        outcome('skipped', { reason: `${update.unsupported}: edit it by hand`, skipCode: 'unsupported-step' });
        continue;
      }
      stepEdits = update.edits;
      notes.push(...update.notes);
    }

    const firstEdit = edits.length;
    if (existing.index === 0) {
      edits.push(...stepEdits);
    } else {
      // Harden-Runner sees only what runs after it: move the step to the top, edited.
      const local = stepEdits.map((edit) => ({ ...edit, start: edit.start - blockStart, end: edit.end - blockStart }));
      let moved = applyEdits(text.slice(blockStart, blockEnd), local);
      if (!moved.endsWith('\n')) moved += eol;
      edits.push({ start: layout.insertAt, end: layout.insertAt, text: moved }, { start: blockStart, end: blockEnd, text: '' });
      notes.push(`moved from position ${existing.index + 1} to the first step`);
    }
    if (guardNote && stepEdits.some((edit) => edit.text.includes(LINUX_GUARD))) notes.unshift(guardNote);
    const changed = stepEdits.length > 0 || existing.index !== 0;
    // The step after the edited one is checked too: it shows the edit ended where it should.
    if (changed) editedSpan(analysis.id, steps, layout, existing.index + 1, false, firstEdit);
    if (plan.note) notes.unshift(plan.note);
    const reason = notes.length > 0 ? notes.join('; ') : undefined;
    outcome(changed ? 'updated' : 'unchanged', { ...base, ...(reason ? { reason } : {}) });
  }

  const output = edits.length > 0 ? applyEdits(text, edits) : text;
  const problems = output === text || spansCheckOut(text, output, spans, outcomes, jobs) ? [] : selfCheck(output, outcomes, file);
  if (problems.length > 0) return { output: text, changed: false, jobs: outcomes, errors: problems };
  return { output, changed: output !== text, jobs: outcomes, errors: [] };
}

/** What is wrong with the first step of a hardened job, as read back; empty when it is as planned. */
function firstStepProblems(steps: unknown, job: string, plan: JobPlan): string[] {
  const first = isSeq(steps) ? steps.items[0] : undefined;
  const uses = isMap(first) ? mapValue(first, 'uses') : undefined;
  if (!isMap(first) || !isScalar(uses) || stepKind(String(uses.value), plan) !== plan.kind) return [`job ${job} does not start with the planned step`];
  const withNode = mapValue(first, 'with');
  const problems: string[] = [];
  for (const input of wantedInputs(plan)) {
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
  const range = nodeRange(steps.items[Math.min(lastTouched, steps.items.length - 1)]);
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
function spansCheckOut(input: string, output: string, spans: readonly EditedSpan[], outcomes: readonly JobOutcome[], jobs: YAMLMap): boolean {
  let shift = 0;
  let inputCursor = 0;
  const checked = new Set<string>();
  for (const span of spans) {
    const outcome = outcomes.find((candidate) => candidate.job === span.job && candidate.plan !== undefined);
    if (span.items === undefined || span.dash === undefined || !outcome?.plan || span.start < inputCursor) return false;
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
    if (firstStepProblems(steps, span.job, outcome.plan).length > 0) return false;
    checked.add(span.job);
  }
  if (output.length !== input.length + shift || output.slice(inputCursor + shift) !== input.slice(inputCursor)) return false;
  for (const outcome of outcomes) {
    if (outcome.action === 'skipped' || !outcome.plan || checked.has(outcome.job)) continue;
    const job = mapValue(jobs, outcome.job);
    if (firstStepProblems(isMap(job) ? mapValue(job, 'steps') : undefined, outcome.job, outcome.plan).length > 0) return false;
  }
  return true;
}

/**
 * Guard against our own bugs: the output must parse, and every hardened job must start with
 * the planned step whose inputs read back exactly as planned (endpoints on one line).
 */
function selfCheck(output: string, outcomes: JobOutcome[], file: string): Diagnostic[] {
  const index = new LineIndex(output);
  const { jobs, errors } = readJobs(output, file, index);
  const problem = (message: string): Diagnostic => ({ file, line: 1, column: 1, code: 'harden/internal', severity: 'error', message: `internal error, file left unchanged: ${message}` });
  if (!jobs) return errors.length > 0 ? errors.map((error) => problem(`the rewritten file does not parse (${error.message})`)) : [problem('jobs: disappeared')];
  const problems: Diagnostic[] = [];
  for (const outcome of outcomes) {
    if (outcome.action === 'skipped' || !outcome.plan) continue;
    const job = mapValue(jobs, outcome.job);
    problems.push(...firstStepProblems(isMap(job) ? mapValue(job, 'steps') : undefined, outcome.job, outcome.plan).map(problem));
  }
  return problems;
}
