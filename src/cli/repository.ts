/** Loading the policy repository for commands that need a valid one. */
import path from 'node:path';
import { formatDiagnostic, type Diagnostic } from '../policy/diagnostics.js';
import { loadPolicyRepository, type Snapshot } from '../store/repository.js';
import type { PolicyRepository } from '../store/repository.js';
import { InvalidInputError } from '../util/errors.js';
import type { CliIo } from './io.js';

export function repositoryDir(io: CliIo, dirFlag: string | undefined): string {
  return path.resolve(io.cwd, dirFlag ?? '.');
}

/** Loads and fails (exit 1, every error located) unless the repository is valid. Warnings go to stderr. */
export async function loadValidRepository(
  io: CliIo,
  dir: string,
  rev?: string,
): Promise<{ repository: PolicyRepository; warnings: Diagnostic[]; snapshot: Snapshot }> {
  const result = await loadPolicyRepository(rev === undefined ? { dir } : { dir, rev });
  if (result.errors.length > 0) {
    for (const diagnostic of [...result.errors, ...result.warnings]) io.stderr(`${formatDiagnostic(diagnostic)}\n`);
    throw new InvalidInputError(
      `${result.errors.length} error${result.errors.length === 1 ? '' : 's'} in the policy repository: fix them (egressctl validate shows them all)`,
    );
  }
  return { repository: result.value, warnings: result.warnings, snapshot: result.snapshot };
}
