/** Loading the policy repository for commands that need a valid one. */
import path from 'node:path';
import { formatDiagnostic, type Diagnostic } from '../policy/diagnostics.js';
import { loadPolicyRepository, readRevisionInfo, uncommittedPolicyFiles, type Snapshot } from '../store/repository.js';
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

/**
 * The store revision a command that read `dir` names (the firewall file's header): the commit it
 * read, or for a work tree HEAD, and when the policy files differ from HEAD `<sha> with uncommitted
 * changes` (never HEAD alone for content HEAD does not have), with a warning on stderr as
 * `compile` gives. `revision` stays the commit; `label` is what a header says. None outside git.
 */
export async function storeRevision(io: CliIo, dir: string, snapshot: Snapshot, command: string): Promise<{ revision?: string; label?: string; uncommitted: string[] }> {
  if (snapshot.revision) return { revision: snapshot.revision, label: snapshot.revision, uncommitted: [] };
  const head = (await readRevisionInfo({ dir }).catch(() => undefined))?.revision;
  if (!head) return { uncommitted: [] };
  const uncommitted = await uncommittedPolicyFiles(dir);
  if (uncommitted.length === 0) return { revision: head, label: head, uncommitted };
  const shown = uncommitted.slice(0, 5).join(', ') + (uncommitted.length > 5 ? ` and ${uncommitted.length - 5} more` : '');
  io.stderr(`warning: ${command} reads the work tree, which differs from HEAD: ${shown} (files it writes name ${head.slice(0, 12)} with uncommitted changes; commit them to name the content)\n`);
  return { revision: head, label: `${head}${UNCOMMITTED}`, uncommitted };
}

/** What a revision label adds when the work tree differs from its commit. */
export const UNCOMMITTED = ' with uncommitted changes';
