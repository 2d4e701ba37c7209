/**
 * What a workflow's jobs are, as far as hardening cares: where they run (operating system,
 * GitHub-hosted or not, resolved through `strategy.matrix` where possible), whether they call a
 * reusable workflow, run in a container, and whether their steps can be edited as text.
 * Pure: takes a parsed `yaml` document, returns data.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, visit, type Document, type Pair, type YAMLMap } from 'yaml';
import { keyName, mapValue, pairOf } from './yaml-nodes.js';

export type RunnerOs = 'linux' | 'windows' | 'macos';

/** One way the job may be placed on a runner: a set of labels (or a runner group). */
export interface RunnerCandidate {
  labels: string[];
  group?: string;
  /** Undefined when a label is an expression we could not resolve. */
  os?: RunnerOs;
  /** Every label is a standard GitHub-hosted image (`ubuntu-*`, `windows-*`, `macos-*`). */
  githubHosted: boolean;
}

export interface RunnerInfo {
  /** Every runner the job may get, after expanding matrix references. */
  candidates: RunnerCandidate[];
  /** False when `runs-on` is missing or uses an expression we cannot resolve statically. */
  resolved: boolean;
  /** Operating systems the job may run on, sorted; resolved candidates only. */
  os: RunnerOs[];
  /** True when every candidate is known to be GitHub-hosted. */
  githubHosted: boolean;
}

const GITHUB_HOSTED_LABEL = /^(ubuntu|windows|macos)-[a-z0-9.-]+$/i;
const EXPRESSION = /\$\{\{([\s\S]*?)\}\}/g;
const MATRIX_PATH = /^matrix((?:\.[A-Za-z_][\w-]*|\[\s*'[^']*'\s*\])+)$/;
/** A matrix that multiplies beyond this is not worth expanding: treat it as unresolved. */
const MAX_CANDIDATES = 256;

export function labelOs(label: string): RunnerOs | 'neutral' | 'unknown' {
  const lower = label.toLowerCase();
  if (lower.includes('${{')) return 'unknown';
  if (lower.includes('windows')) return 'windows';
  if (lower.includes('macos') || /(^|[^a-z])osx([^a-z]|$)/.test(lower)) return 'macos';
  if (lower.includes('linux') || lower.includes('ubuntu')) return 'linux';
  return 'neutral';
}

/** A label set's OS: an explicit Windows/macOS label wins; plain self-hosted labels mean Linux. */
export function candidateFor(labels: string[], group?: string): RunnerCandidate {
  const kinds = labels.map(labelOs);
  let os: RunnerOs | undefined;
  if (kinds.includes('windows')) os = 'windows';
  else if (kinds.includes('macos')) os = 'macos';
  else if (kinds.includes('linux')) os = 'linux';
  else if (!kinds.includes('unknown')) os = 'linux';
  const githubHosted = group === undefined && labels.length > 0 && labels.every((label) => GITHUB_HOSTED_LABEL.test(label));
  return group === undefined ? { labels, os, githubHosted } : { labels, group, os, githubHosted };
}

/** A YAML node's plain value (what `toJS` gives for workflow data). */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A node's plain value, aliases resolved through the document; undefined when absent. */
function toJson(node: unknown, doc: Document): Json | undefined {
  if (node === null || node === undefined) return undefined;
  const target = isAlias(node) ? node.resolve(doc) : node;
  if (!isScalar(target) && !isMap(target) && !isSeq(target)) return undefined;
  try {
    return target.toJS(doc, { maxAliasCount: 100 }) as Json;
  } catch {
    // An alias bomb or a dangling alias: the value is not knowable, which callers treat as unresolved.
    return undefined;
  }
}

/** The values `matrix.<path>` may take, or undefined when they cannot be known. */
export function matrixValues(matrix: Json | undefined, path: string[]): Json[] | undefined {
  if (matrix === undefined || matrix === null || typeof matrix !== 'object' || Array.isArray(matrix)) return undefined;
  const [axis, ...rest] = path;
  if (axis === undefined) return undefined;
  const values: Json[] = [];
  const axisValue = matrix[axis];
  if (Array.isArray(axisValue)) values.push(...axisValue);
  else if (axisValue !== undefined) return undefined; // an expression such as fromJSON(...)
  const include = matrix.include;
  if (typeof include === 'string') return undefined;
  if (Array.isArray(include)) {
    for (const entry of include) {
      if (entry !== null && typeof entry === 'object' && !Array.isArray(entry) && entry[axis] !== undefined) values.push(entry[axis]);
    }
  }
  const resolved: Json[] = [];
  for (const value of values) {
    let current: Json | undefined = value;
    for (const key of rest) {
      current = current !== null && typeof current === 'object' && !Array.isArray(current) ? current[key] : undefined;
    }
    // A combination without the key yields an empty value: `|| 'fallback'` handles it, or the run fails anyway.
    if (current !== undefined && current !== null && current !== '') resolved.push(current);
  }
  return resolved;
}

function matrixPath(expression: string): string[] | undefined {
  const match = MATRIX_PATH.exec(expression.trim());
  if (!match?.[1]) return undefined;
  return [...match[1].matchAll(/\.([A-Za-z_][\w-]*)|\[\s*'([^']*)'\s*\]/g)].map((part) => part[1] ?? part[2] ?? '');
}

/** Split on a top-level operator (outside quotes and parentheses). */
function splitTopLevel(expression: string, operator: '||' | '&&'): string[] | undefined {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let index = 0; index < expression.length; index++) {
    const char = expression[index];
    if (char === "'") quoted = !quoted;
    else if (!quoted && char === '(') depth++;
    else if (!quoted && char === ')') depth--;
    else if (!quoted && depth === 0 && expression.startsWith(operator, index)) {
      parts.push(expression.slice(start, index));
      start = index + operator.length;
      index++;
    }
  }
  if (quoted || depth !== 0) return undefined;
  parts.push(expression.slice(start));
  return parts.map((part) => part.trim());
}

/** The inside of `( ... )` when the parentheses enclose the whole operand. */
function parenthesized(operand: string): string | undefined {
  if (!operand.startsWith('(') || !operand.endsWith(')')) return undefined;
  let depth = 0;
  let quoted = false;
  for (let index = 0; index < operand.length; index++) {
    const char = operand[index];
    if (char === "'") quoted = !quoted;
    else if (!quoted && char === '(') depth++;
    else if (!quoted && char === ')') {
      depth--;
      // The first parenthesis closes before the end: `(a) && (b)` is not one group.
      if (depth === 0 && index !== operand.length - 1) return undefined;
    }
  }
  return depth === 0 ? operand.slice(1, -1).trim() : undefined;
}

/**
 * The values an expression in `runs-on` may produce, for the shapes workflows use:
 * `matrix.a.b`, `'literal'`, and `cond && value || fallback` chains of those (conditions are
 * not evaluated: every branch counts). Undefined for anything else.
 */
export function expressionValues(expression: string, matrix: Json | undefined): Json[] | undefined {
  const alternatives = splitTopLevel(expression.trim(), '||');
  if (!alternatives) return undefined;
  const values: Json[] = [];
  for (const alternative of alternatives) {
    const operands = splitTopLevel(alternative, '&&');
    const operand = operands?.[operands.length - 1];
    if (operand === undefined) return undefined;
    // `(a && 'x' || 'y')`: the values of the parenthesized expression.
    const inner = parenthesized(operand);
    if (inner !== undefined) {
      const nested = expressionValues(inner, matrix);
      if (!nested) return undefined;
      values.push(...nested);
      continue;
    }
    const literal = /^'((?:[^']|'')*)'$/.exec(operand);
    if (literal) {
      values.push((literal[1] ?? '').replace(/''/g, "'"));
      continue;
    }
    const path = matrixPath(operand);
    const found = path ? matrixValues(matrix, path) : undefined;
    if (!found) return undefined;
    values.push(...found);
  }
  return values.length > 0 ? values : undefined;
}

/** Expand a string's `${{ ... }}` references: each result is a string or a label list. */
function expandLabel(text: string, matrix: Json | undefined): Array<string | string[]> | undefined {
  const expressions = [...text.matchAll(EXPRESSION)];
  if (expressions.length === 0) return [text];
  const whole = expressions.length === 1 && expressions[0]?.[0] === text.trim();
  let results: Array<string | string[]> = [text];
  for (const expression of expressions) {
    const values = expressionValues(expression[1] ?? '', matrix);
    if (!values) return undefined;
    const next: Array<string | string[]> = [];
    for (const partial of results) {
      for (const value of values) {
        if (Array.isArray(value) && whole && value.every((item) => typeof item === 'string')) next.push(value as string[]);
        else if (typeof value === 'string' || typeof value === 'number') {
          if (typeof partial === 'string') next.push(partial.replace(expression[0], String(value)));
        } else return undefined;
      }
    }
    results = next;
    if (results.length > MAX_CANDIDATES) return undefined;
  }
  return results;
}

/**
 * Label lists from a list of (possibly templated) labels: the product of their expansions. A
 * label we cannot expand stays as written; another label may still tell the OS.
 */
function expandLabelList(labels: string[], matrix: Json | undefined): string[][] {
  let sets: string[][] = [[]];
  for (const label of labels) {
    const expanded = expandLabel(label, matrix) ?? [label];
    const next: string[][] = [];
    for (const set of sets) for (const value of expanded) next.push([...set, ...(Array.isArray(value) ? value : [value])]);
    if (next.length > MAX_CANDIDATES) return [labels];
    sets = next;
  }
  return sets;
}

/** Where a job runs, from `runs-on` and `strategy.matrix` (plain values). */
export function analyzeRunsOn(runsOn: Json | undefined, matrix: Json | undefined): RunnerInfo {
  let candidates: RunnerCandidate[] = [];
  let groupResolved = true;
  if (typeof runsOn === 'string') {
    candidates = expandLabelList([runsOn], matrix).map((labels) => candidateFor(labels));
  } else if (Array.isArray(runsOn) && runsOn.every((label) => typeof label === 'string')) {
    candidates = expandLabelList(runsOn as string[], matrix).map((labels) => candidateFor(labels));
  } else if (runsOn !== null && typeof runsOn === 'object' && !Array.isArray(runsOn)) {
    const group = typeof runsOn.group === 'string' ? runsOn.group : undefined;
    const labels =
      typeof runsOn.labels === 'string'
        ? [runsOn.labels]
        : Array.isArray(runsOn.labels)
          ? runsOn.labels.filter((label): label is string => typeof label === 'string')
          : [];
    groupResolved = group === undefined || !group.includes('${{');
    candidates = expandLabelList(labels, matrix).map((set) => candidateFor(set, group));
  }
  const resolved = groupResolved && candidates.length > 0 && candidates.every((candidate) => candidate.os !== undefined);
  const os = [...new Set(candidates.flatMap((candidate) => (candidate.os ? [candidate.os] : [])))].sort();
  const githubHosted = resolved && candidates.every((candidate) => candidate.githubHosted);
  return { candidates, resolved, os, githubHosted };
}

export type SkipCode =
  | 'reusable-workflow'
  | 'non-linux'
  | 'container-on-github-hosted'
  | 'no-steps'
  | 'steps-not-block-sequence'
  | 'shared-by-alias'
  | 'merge-key'
  | 'not-a-mapping'
  | 'unsupported-step'
  | 'would-drop-inputs'
  | 'planner';

export interface JobAnalysis {
  id: string;
  /** The job's `name:` when it is a literal string. */
  name?: string;
  /** 1-based line of the job's key. */
  line: number;
  keyPair: Pair;
  /** Undefined when the job is not a mapping. */
  map?: YAMLMap;
  runner: RunnerInfo;
  container: boolean;
  /** `container:` is an expression: some legs may run in a container, others not. */
  containerExpression: boolean;
  /** Set when the job cannot get a step, with the reason. */
  skip?: { code: SkipCode; reason: string };
  /** The job may run on Linux and on something else, or we cannot tell where it runs. */
  needsLinuxGuard: boolean;
}

export const LINUX_GUARD = "runner.os == 'Linux'";

export const OS_NAMES: Record<RunnerOs, string> = { linux: 'Linux', windows: 'Windows', macos: 'macOS' };

/** Anchors that some alias refers to: editing under them would change other places too. */
export function referencedAnchors(doc: Document, text?: string): Set<string> {
  const names = new Set<string>();
  // An alias is written `*name` and needs an anchor `&name`: without both characters, skip the walk.
  if (text !== undefined && (!text.includes('*') || !text.includes('&'))) return names;
  visit(doc, {
    Alias(_key, alias) {
      names.add(alias.source);
    },
  });
  return names;
}

export function analyzeJob(doc: Document, pair: Pair, line: number, sharedAnchors: Set<string>): JobAnalysis {
  const id = keyName(pair) ?? '';
  const base = { id, line, keyPair: pair, container: false, containerExpression: false, needsLinuxGuard: false };
  const unresolvedRunner: RunnerInfo = { candidates: [], resolved: false, os: [], githubHosted: false };
  const job = pair.value;
  if (!isMap(job) || (job as { srcToken?: { type?: string } }).srcToken?.type !== 'block-map') {
    return {
      ...base,
      runner: unresolvedRunner,
      skip: {
        code: isAlias(job) ? 'shared-by-alias' : 'not-a-mapping',
        reason: isAlias(job) ? 'the job is a YAML alias of another node: edit the anchored original' : 'the job is not a block mapping',
      },
    };
  }
  const nameNode = mapValue(job, 'name');
  const name = isScalar(nameNode) && typeof nameNode.value === 'string' ? nameNode.value : undefined;
  const strategy = toJson(mapValue(job, 'strategy'), doc);
  const matrix = strategy !== null && typeof strategy === 'object' && !Array.isArray(strategy) ? strategy.matrix : undefined;
  const runner = analyzeRunsOn(toJson(mapValue(job, 'runs-on'), doc), matrix);
  const containerNode = mapValue(job, 'container');
  const container = containerNode !== undefined && !(isScalar(containerNode) && (containerNode.value === null || containerNode.value === ''));
  const containerExpression = container && isScalar(containerNode) && typeof containerNode.value === 'string' && containerNode.value.includes('${{');
  const analysis: JobAnalysis = { ...base, map: job, runner, container, containerExpression, ...(name === undefined ? {} : { name }) };

  const skip = (code: SkipCode, reason: string): JobAnalysis => ({ ...analysis, skip: { code, reason } });
  if (pairOf(job, 'uses')) return skip('reusable-workflow', 'calls a reusable workflow (job-level uses:): harden the called workflow instead');
  if (job.items.some((item) => isPair(item) && keyName(item) === '<<')) {
    return skip('merge-key', 'the job uses a YAML merge key (<<): its steps cannot be edited safely as text');
  }
  // Windows/macOS jobs and container jobs are not skipped: Harden-Runner audits on hosted
  // Windows and macOS and skips itself inside containers (docs/reconciliation.md); the
  // step's mode and the report say what that means for the job.
  const steps = mapValue(job, 'steps');
  if (steps === undefined || (isScalar(steps) && steps.value === null)) return skip('no-steps', 'the job has no steps');
  if (isAlias(steps)) return skip('steps-not-block-sequence', 'steps is a YAML alias: edit the anchored original');
  if (!isSeq(steps) || (steps as { srcToken?: { type?: string } }).srcToken?.type !== 'block-seq') {
    return skip('steps-not-block-sequence', 'steps is not a block sequence (one "- " item per line): edit it by hand');
  }
  if ((steps.anchor && sharedAnchors.has(steps.anchor)) || (job.anchor && sharedAnchors.has(job.anchor))) {
    return skip('shared-by-alias', 'the job or its steps are anchored and reused by an alias: a new step would change other jobs too');
  }
  const mixed = runner.os.some((os) => os !== 'linux');
  return { ...analysis, needsLinuxGuard: !runner.resolved || mixed };
}
