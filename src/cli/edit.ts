/**
 * Applying GitOps edits to a work tree: compute new texts, re-validate the whole repository with
 * them in memory, and write only when the edit adds no error (atomically, file by file).
 */
import path from 'node:path';
import { writeFileAtomic } from '../util/fs.js';
import { formatDiagnostic, type Diagnostic } from '../policy/diagnostics.js';
import { parsePolicyRepository, readSnapshot } from '../store/repository.js';
import type { ScopeType } from '../policy/model.js';
import type { PolicyRepository } from '../store/repository.js';
import { InvalidInputError, UsageError } from '../util/errors.js';
import { unlink } from 'node:fs/promises';
import type { CliIo } from './io.js';

export interface WorkTree {
  dir: string;
  files: Map<string, Uint8Array>;
  repository: PolicyRepository;
  errors: Diagnostic[];
  text(relativePath: string): string | undefined;
}

export async function openWorkTree(dir: string): Promise<WorkTree> {
  const snapshot = await readSnapshot({ dir });
  const result = parsePolicyRepository(snapshot.files);
  return {
    dir,
    files: snapshot.files,
    repository: result.value,
    errors: result.errors,
    text: (relativePath) => result.value.files.get(relativePath),
  };
}

/** `null` deletes the file. */
export type FileChanges = Map<string, string | null>;

const key = (d: Diagnostic) => `${d.code}|${d.file}|${d.message}`;

export async function applyChanges(io: CliIo, tree: WorkTree, changes: FileChanges): Promise<void> {
  const files = new Map(tree.files);
  for (const [relativePath, text] of changes) {
    if (text === null) files.delete(relativePath);
    else files.set(relativePath, Buffer.from(text, 'utf8'));
  }
  const after = parsePolicyRepository(files);
  const before = new Set(tree.errors.map(key));
  const introduced = after.errors.filter((diagnostic) => !before.has(key(diagnostic)));
  if (introduced.length > 0) {
    for (const diagnostic of introduced) io.stderr(`${formatDiagnostic(diagnostic)}\n`);
    throw new InvalidInputError('the change would make the policy repository invalid: nothing was written');
  }
  for (const [relativePath, text] of changes) {
    const absolute = path.join(tree.dir, relativePath);
    if (text === null) await unlink(absolute);
    // A new policy repository may have no policies/ yet.
    else await writeFileAtomic(absolute, text, { mkdirs: true });
  }
}

export interface ScopeFlags {
  org?: string | undefined;
  repository?: string | undefined;
  workflow?: string | undefined;
  cluster?: string | undefined;
}

export const SCOPE_FLAG_OPTIONS = {
  org: { type: 'string' },
  repository: { type: 'string' },
  workflow: { type: 'string' },
  cluster: { type: 'string' },
} as const;

/** Exactly one of the scope flags, as a scope type and lower-cased key. */
export function scopeFromFlags(flags: ScopeFlags, usage: string): { type: ScopeType; key: string } {
  const given = (
    [
      ['organization', flags.org],
      ['repository', flags.repository],
      ['workflow', flags.workflow],
      ['cluster', flags.cluster],
    ] as const
  ).filter(([, value]) => value !== undefined);
  if (given.length !== 1) throw new UsageError(`name exactly one scope: --org O | --repository O/R | --workflow O/R/.github/workflows/F | --cluster C\nusage: ${usage}`);
  const [type, value] = given[0] as readonly [ScopeType, string];
  return { type, key: value.trim().toLowerCase() };
}
