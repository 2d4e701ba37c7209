/** Compile a policy repository (a git commit or a plain directory) into an envelope for the store. */
import type { KeyObject } from 'node:crypto';
import { buildBundle, contentRevision, serializeBundle, type RevisionMeta } from '../../bundle/compile.js';
import { sealBundle, serializeEnvelope } from '../../bundle/dsse.js';
import { formatDiagnostic } from '../../policy/diagnostics.js';
import { compilePolicies } from '../../policy/flatten.js';
import { loadPolicyRepository, readRevisionInfo } from '../../policy/load.js';
import { attachmentMap } from '../../policy/model.js';

export type CompileOutcome =
  | { ok: true; text: string; revision: string }
  | { ok: false; revision?: string; message: string };

/**
 * `rev` given: that commit of the git repository in `dir`. Otherwise the files in `dir`, with
 * revision `worktree-<content digest>` and the current time as committedAt.
 */
export async function compileSource(dir: string, rev: string | undefined, signKeys: readonly KeyObject[]): Promise<CompileOutcome> {
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
  const policies = compilePolicies(loaded.value);
  const attachments = attachmentMap(loaded.value.attachments);
  let meta: RevisionMeta;
  if (rev !== undefined) {
    meta =
      loaded.snapshot.revision !== undefined && loaded.snapshot.committedAt !== undefined
        ? { revision: loaded.snapshot.revision, committedAt: loaded.snapshot.committedAt }
        : await readRevisionInfo({ dir, rev });
  } else {
    meta = { revision: contentRevision(policies, attachments), committedAt: new Date(Math.floor(Date.now() / 1000) * 1000).toISOString() };
  }
  try {
    const bundle = buildBundle({ policies, attachments, ...meta });
    return { ok: true, revision: bundle.revision, text: serializeEnvelope(sealBundle(serializeBundle(bundle), signKeys)) };
  } catch (error) {
    return { ok: false, revision: meta.revision, message: `${meta.revision} does not compile: ${error instanceof Error ? error.message : String(error)}` };
  }
}
