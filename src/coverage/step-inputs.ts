/**
 * What a Harden-Runner step's inputs evaluate to on one runner, with GitHub's own expression
 * engine (@actions/expressions): literals as written, `${{ ... }}` evaluated against the
 * contexts the runner would give the step's `pre:` (env, vars, runner.os and runner.environment). Harden-Runner's
 * defaults apply to absent inputs (`egress-policy` defaults to block). Pure.
 */
import { Evaluator, Lexer, Parser, data } from '@actions/expressions';
import type { EgressMode } from '../policy/model.js';
import type { RunnerOs } from '../rollout/workflow-jobs.js';

/** The contexts of one evaluation; a missing key is a missing variable (as for a fork's pull request). */
export interface StepContexts {
  env: Readonly<Record<string, string>>;
  vars: Readonly<Record<string, string>>;
  os: RunnerOs;
  /** `runner.environment`; absent: not set (a managed step's chain then skips the hook's env, as on a GitHub-hosted runner). */
  environment?: 'github-hosted' | 'self-hosted';
}

const WHOLE_EXPRESSION = /^\s*\$\{\{([\s\S]*)\}\}\s*$/;
const OS_VALUES: Record<RunnerOs, string> = { linux: 'Linux', windows: 'Windows', macos: 'macOS' };
/** Contexts a `with:` value may name; only env, vars and runner get values here. */
const NAMED_CONTEXTS = ['env', 'vars', 'runner', 'github', 'matrix', 'inputs', 'secrets', 'steps', 'job', 'needs', 'strategy'];

function dictionary(values: Readonly<Record<string, string>>): data.Dictionary {
  return new data.Dictionary(...Object.entries(values).map(([key, value]) => ({ key, value: new data.StringData(value) })));
}

/** The value the runner hands the action; undefined when egressctl cannot tell (a partial template, an unknown function). */
export function evaluateInput(value: string, contexts: StepContexts): string | undefined {
  if (!value.includes('${{')) return value;
  const inner = WHOLE_EXPRESSION.exec(value)?.[1];
  if (inner === undefined || inner.includes('${{')) return undefined;
  try {
    const lexed = new Lexer(inner).lex();
    const expression = new Parser(lexed.tokens, NAMED_CONTEXTS, []).parse();
    const context = new data.Dictionary(
      { key: 'env', value: dictionary(contexts.env) },
      { key: 'vars', value: dictionary(contexts.vars) },
      { key: 'runner', value: dictionary({ os: OS_VALUES[contexts.os], ...(contexts.environment ? { environment: contexts.environment } : {}) }) },
    );
    return new Evaluator(expression, context).evaluate().coerceString();
  } catch {
    // Not an expression GitHub would evaluate either (it fails the step): unknown here.
    return undefined;
  }
}

/** The inputs that weaken or strengthen what the agent enforces, as Harden-Runner reads them. */
export interface EvaluatedStep {
  /** undefined: the value cannot be told statically, or is neither audit nor block (Harden-Runner then fails the step). */
  mode: EgressMode | undefined;
  /** Canonical-ish endpoints (whitespace separated), block mode only. */
  endpoints: string[];
  disableSudo: boolean;
  disableFileMonitoring: boolean;
}

function booleanInput(value: string | undefined): boolean {
  return value !== undefined && /^true$/i.test(value.trim());
}

/** Evaluate a step's `with:` on one runner. */
export function evaluateStep(inputs: Readonly<Record<string, string>>, contexts: StepContexts): EvaluatedStep {
  const get = (key: string): string | undefined => (inputs[key] === undefined ? undefined : evaluateInput(inputs[key], contexts));
  const rawMode = inputs['egress-policy'] === undefined ? 'block' : get('egress-policy');
  const mode = rawMode === 'block' || rawMode === 'audit' ? rawMode : undefined;
  const endpoints = (get('allowed-endpoints') ?? '').split(/\s+/).filter(Boolean);
  return {
    mode,
    endpoints: mode === 'block' ? [...new Set(endpoints)].sort() : [],
    disableSudo: booleanInput(get('disable-sudo-and-containers')) || booleanInput(get('disable-sudo')),
    disableFileMonitoring: booleanInput(get('disable-file-monitoring')),
  };
}
