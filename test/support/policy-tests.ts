/** The policy-tests and expiring-exceptions fixture store (`test/policy/fixtures/exceptions-store/`) as files, and dates around its expiries. */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const EXCEPTIONS_STORE_DIR = fileURLToPath(new URL('../policy/fixtures/exceptions-store/', import.meta.url));

/** Repository-relative path -> text of every file of the fixture store. */
export function exceptionsStoreFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (relative: string): void => {
    for (const entry of readdirSync(path.join(EXCEPTIONS_STORE_DIR, relative), { withFileTypes: true })) {
      const child = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) walk(child);
      else files[child] = readFileSync(path.join(EXCEPTIONS_STORE_DIR, child), 'utf8');
    }
  };
  walk('');
  return files;
}

/** `YYYY-MM-DD` of the UTC day `days` away from now (negative: in the past). */
export function utcDay(days: number, from = Date.now()): string {
  return new Date(from + days * 24 * 60 * 60 * 1000).toISOString().slice(0, 10);
}
