/**
 * Where the shared corpus of real workflows is: `EGRESSCTL_CORPUS` (a directory holding
 * `workflows/`), or nowhere. Tests that need it skip with one visible line when it is unset;
 * the default suite runs on this repository's own fixtures (test/rollout/fixtures/workflows).
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CORPUS_ENV = 'EGRESSCTL_CORPUS';
export const CORPUS_SKIPPED = `${CORPUS_ENV} not set: corpus tests skipped`;
export const FIXTURE_WORKFLOWS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../rollout/fixtures/workflows');

/** `$EGRESSCTL_CORPUS/workflows`, or undefined when the variable is unset or empty. */
export function corpusWorkflowsDir(): string | undefined {
  const root = process.env[CORPUS_ENV];
  return root ? path.resolve(root, 'workflows') : undefined;
}

/**
 * For a corpus suite: `corpusWorkflowsDir()`, and when it is unset one line in the run's output
 * saying why the suite skipped (Vitest's reporter lists skipped suites without their names).
 */
export function corpusForSuite(suite: string): string | undefined {
  const dir = corpusWorkflowsDir();
  if (dir === undefined) console.info(`${suite}: skipped, ${CORPUS_ENV} is not set (set it to the shared corpus of real workflows, as .ci/run does)`);
  return dir;
}

/** The `.yml`/`.yaml` files of a directory, sorted. */
export function workflowFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => /\.ya?ml$/.test(name))
    .sort();
}
