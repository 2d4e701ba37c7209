/** Types and the one entry helper of the bench files. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** One section of BENCHMARKS.md. */
export interface BenchSection {
  title: string;
  markdown: string;
}

/**
 * Runs `section` when the bench file `moduleUrl` is the process's entry (`node --import tsx
 * bench/sync.ts`), printing its markdown; `npm run bench` imports the files instead.
 */
export function runWhenInvokedDirectly(moduleUrl: string, section: () => Promise<BenchSection>): void {
  if (process.argv[1] === undefined || path.resolve(process.argv[1]) !== fileURLToPath(moduleUrl)) return;
  section()
    .then((result) => process.stdout.write(`## ${result.title}\n\n${result.markdown}\n`))
    .catch((error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    });
}
