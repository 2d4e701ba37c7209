/** GitHub's expression engine (`@actions/expressions`) evaluating a step's `with:` value as the runner does: `evaluateInput`. */
import { Evaluator, Lexer, Parser, data } from '@actions/expressions';

/** The contexts a managed step's inputs read. Absent: the context is empty (a fork's pull request gets no `vars`). */
export interface InputContexts {
  env?: Record<string, string>;
  vars?: Record<string, string>;
  /** `runner.os` (`Linux`, `Windows`, `macOS`) and `runner.environment` (`github-hosted`, `self-hosted`). */
  runner?: { os: string; environment: string };
}

function dictionary(values: Record<string, string>): data.Dictionary {
  return new data.Dictionary(...Object.entries(values).map(([key, text]) => ({ key, value: new data.StringData(text) })));
}

/**
 * A `with:` value as the action receives it: a literal stays as written; `${{ expr }}` is
 * evaluated against the contexts and coerced to a string (booleans become `true`/`false`).
 */
export function evaluateInput(value: string, contexts: InputContexts = {}): string {
  const inner = /^\$\{\{([\s\S]*)\}\}$/.exec(value.trim())?.[1];
  if (inner === undefined) return value;
  const lexed = new Lexer(inner).lex();
  const expression = new Parser(lexed.tokens, ['env', 'vars', 'runner'], []).parse();
  const runner = contexts.runner ?? { os: 'Linux', environment: 'github-hosted' };
  const context = new data.Dictionary(
    { key: 'env', value: dictionary(contexts.env ?? {}) },
    { key: 'vars', value: dictionary(contexts.vars ?? {}) },
    { key: 'runner', value: dictionary({ os: runner.os, environment: runner.environment }) },
  );
  return new Evaluator(expression, context).evaluate().coerceString();
}
