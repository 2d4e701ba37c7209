/** From a loaded policy repository to the sealed bytes every producer (CLI, server, app) hands out. */
import type { KeyObject } from 'node:crypto';
import { flattenPolicies } from '../policy/flatten.js';
import { attachmentMap } from '../policy/model.js';
import type { PolicyRepository } from '../store/repository.js';
import { buildBundle, contentRevision, serializeBundle, type Bundle } from './build.js';
import { sealBundle, serializeEnvelope } from './dsse.js';

export interface SealedBundle {
  bundle: Bundle;
  /** The envelope's canonical text, as served (files add a trailing newline). */
  text: string;
}

/**
 * Compile a loaded repository and seal it: revision and date from the commit it was read from,
 * or, for a plain directory, a content digest and `builtAt`. The one path from policies to the
 * bytes every producer (CLI, server source, app) hands out.
 */
export function sealRevision(
  repository: PolicyRepository,
  snapshot: { revision?: string; committedAt?: string },
  signKeys: readonly KeyObject[],
  builtAt: () => string,
): SealedBundle {
  const policies = flattenPolicies(repository);
  const attachments = attachmentMap(repository.attachments);
  const meta =
    snapshot.revision !== undefined
      ? { revision: snapshot.revision, committedAt: snapshot.committedAt ?? builtAt() }
      : { revision: contentRevision(policies, attachments), committedAt: builtAt() };
  const bundle = buildBundle({ policies, attachments, ...meta });
  return { bundle, text: serializeEnvelope(sealBundle(serializeBundle(bundle), signKeys)) };
}
