/** The baseline tests' data files (test/baselines/fixtures/) and the repository root. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const fixturesDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../baselines/fixtures');
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function fixture(name: string): string {
  return readFileSync(path.join(fixturesDir, name), 'utf8');
}
