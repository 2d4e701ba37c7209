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

/** The `.yml`/`.yaml` files of a directory, sorted. */
export function workflowFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => /\.ya?ml$/.test(name))
    .sort();
}
