/** Load a policy repository (a git commit or a plain directory) and seal it into an envelope for the store. */
import type { KeyObject } from 'node:crypto';
import { sealRevision } from '../../bundle/seal.js';
import { formatDiagnostic } from '../../policy/diagnostics.js';
import { loadPolicyRepository } from '../../store/repository.js';
import { messageOf } from '../../util/errors.js';

export type SealOutcome =
  | { ok: true; text: string; revision: string }
  | { ok: false; revision?: string; message: string };

/**
 * `rev` given: that commit of the git repository in `dir`. Otherwise the files in `dir`, with
 * revision `worktree-<content digest>` and the current time as committedAt.
 */
export async function sealSource(dir: string, rev: string | undefined, signKeys: readonly KeyObject[]): Promise<SealOutcome> {
  const loaded = await loadPolicyRepository(rev === undefined ? { dir } : { dir, rev });
  if (loaded.errors.length > 0) {
    const shown = loaded.errors.slice(0, 3).map(formatDiagnostic).join('; ');
    const more = loaded.errors.length > 3 ? ` (and ${loaded.errors.length - 3} more)` : '';
    const at = rev === undefined ? 'the work tree' : (loaded.snapshot.revision ?? rev);
    return {
      ok: false,
      ...(loaded.snapshot.revision === undefined ? {} : { revision: loaded.snapshot.revision }),
      message: `${at} has ${loaded.errors.length} error(s): ${shown}${more}`,
    };
  }
  try {
    // Second-resolution time so equal content compiled twice in a second gives equal bytes.
    const { bundle, text } = sealRevision(loaded.value, loaded.snapshot, signKeys, () => new Date(Math.floor(Date.now() / 1000) * 1000).toISOString());
    return { ok: true, revision: bundle.revision, text };
  } catch (error) {
    const revision = loaded.snapshot.revision;
    return { ok: false, ...(revision === undefined ? {} : { revision }), message: `${revision ?? 'the work tree'} does not compile: ${messageOf(error)}` };
  }
}
