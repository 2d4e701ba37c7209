/**
 * GitHub's own workflow parser as a gate (docs/reconciliation.md): a rewritten workflow must not have an
 * error that the original did not have.
 *
 * Loading `@actions/workflow-parser` needs care. Its dist does
 * `import WorkflowSchema from "../workflow-v1.0.min.json"` without `with { type: "json" }`:
 * bundlers, Vitest and tsx accept that, plain Node (our compiled CLI, `node dist/...`) refuses
 * it (ERR_IMPORT_ATTRIBUTE_MISSING). Rather than vendoring a bundled copy that would drift from
 * the installed version, we register a tiny module-loader hook (node:module `register`, stable
 * in Node >= 20.6) that serves that package's own JSON files as ES modules exporting the parsed
 * object, and only then import the parser dynamically. The hook matches nothing else, so it is
 * inert for every other module and harmless under runtimes that already handle the import.
 */
import { register } from 'node:module';

type WorkflowParser = typeof import('@actions/workflow-parser');

const JSON_AS_MODULE_HOOK = `
import { readFile } from 'node:fs/promises';
export async function load(url, context, nextLoad) {
  if (url.startsWith('file:') && url.endsWith('.json') && url.includes('/@actions/workflow-parser/dist/')
      && context.importAttributes?.type !== 'json') {
    const source = await readFile(new URL(url), 'utf8');
    return { format: 'module', source: 'export default ' + source + ';', shortCircuit: true };
  }
  return nextLoad(url, context);
}
`;

let parserPromise: Promise<WorkflowParser> | undefined;

function loadParser(): Promise<WorkflowParser> {
  parserPromise ??= (async () => {
    register(`data:text/javascript,${encodeURIComponent(JSON_AS_MODULE_HOOK)}`);
    return import('@actions/workflow-parser');
  })();
  return parserPromise;
}

export interface WorkflowProblem {
  /** The parser's message without its `file (Line: n, Col: m): ` prefix. */
  message: string;
  /** 1-based, when the parser located it. */
  line?: number;
  column?: number;
}

/** Every error GitHub's parser (parse, then convert) reports for a workflow text. */
export async function workflowProblems(name: string, text: string): Promise<WorkflowProblem[]> {
  const { parseWorkflow, convertWorkflowTemplate, NoOperationTraceWriter } = await loadParser();
  const parsed = parseWorkflow({ name, content: text }, new NoOperationTraceWriter());
  if (parsed.value !== undefined) {
    // Conversion checks jobs, needs, matrices, ...; it records what it finds in the same context.
    await convertWorkflowTemplate(parsed.context, parsed.value);
  }
  const seen = new Set<string>();
  const problems: WorkflowProblem[] = [];
  for (const error of parsed.context.errors.getErrors()) {
    const start = error.range?.start;
    const key = `${start?.line ?? ''}:${start?.column ?? ''}:${error.rawMessage}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push(start ? { message: error.rawMessage, line: start.line, column: start.column } : { message: error.rawMessage });
  }
  return problems;
}

/** Error messages (`name:line:column: message`) of GitHub's workflow parser for a text. */
export async function checkWorkflowText(name: string, text: string): Promise<string[]> {
  return (await workflowProblems(name, text)).map((problem) =>
    problem.line === undefined ? `${name}: ${problem.message}` : `${name}:${problem.line}:${problem.column}: ${problem.message}`,
  );
}

/**
 * Errors of `after` that `before` did not have. Lines move when steps are inserted, so errors
 * are compared by message, as multisets: a message that appears more often counts as new.
 */
export async function newWorkflowErrors(name: string, before: string, after: string): Promise<string[]> {
  const problemsAfter = await workflowProblems(name, after);
  // The common case: the output is clean, so nothing can be new and the input need not be parsed.
  if (problemsAfter.length === 0) return [];
  const remaining = new Map<string, number>();
  for (const problem of await workflowProblems(name, before)) remaining.set(problem.message, (remaining.get(problem.message) ?? 0) + 1);
  const added: string[] = [];
  for (const problem of problemsAfter) {
    const count = remaining.get(problem.message) ?? 0;
    if (count > 0) remaining.set(problem.message, count - 1);
    else added.push(problem.line === undefined ? `${name}: ${problem.message}` : `${name}:${problem.line}:${problem.column}: ${problem.message}`);
  }
  return added;
}
