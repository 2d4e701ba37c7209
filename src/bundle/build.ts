/**
 * The compiled enforcement bundle (docs/architecture.md#bundle): every policy with `extends` flattened, the
 * attachments by scope type, the revision they came from, and a digest of the canonical payload.
 * Pure: the same input gives the same bytes, whatever order maps and sets were filled in.
 */
import { createHash } from 'node:crypto';
import { sortUnique } from '../policy/endpoint.js';
import { flattenPolicies } from '../policy/flatten.js';
import { canonicalContent } from '../policy/normalize.js';
import { SCOPE_SECTIONS, SCOPE_TYPES, attachmentMap, emptyAttachmentMap, lookupRecord, type AttachmentMap, type CompiledPolicy } from '../policy/model.js';
import type { PolicyRepository } from '../store/repository.js';
import { InvalidInputError } from '../util/errors.js';
import { canonicalBytes, canonicalJson } from './canonical.js';

export const BUNDLE_SCHEMA_VERSION = 1;

export interface Bundle {
  schemaVersion: typeof BUNDLE_SCHEMA_VERSION;
  /** The commit the bundle was compiled from (full sha), or `worktree-<hex>` for a plain directory. */
  revision: string;
  /** The commit's committer date, UTC, `YYYY-MM-DDTHH:MM:SSZ`. */
  committedAt: string;
  /** Policy name -> policy with `extends` applied. */
  policies: Record<string, CompiledPolicy>;
  /** Section (`workflows`, `repositories`, `organizations`, `clusters`) -> lower-cased scope key -> policy. */
  attachments: AttachmentMap;
  /** `sha256:<hex>` of the canonical JSON of every other member. */
  digest: string;
}

/** The bundle without its digest: what the digest is computed over. */
export type BundlePayload = Omit<Bundle, 'digest'>;

export interface RevisionMeta {
  revision: string;
  /** Any ISO 8601 date-time; written in UTC. */
  committedAt: string;
}

export interface BuildBundleInput extends RevisionMeta {
  policies: Readonly<Record<string, CompiledPolicy>>;
  attachments: AttachmentMap;
}

/**
 * Assemble a bundle. Set-like arrays (endpoints, `extends`, lockdown detections) are sorted and
 * made unique, empty `extends` dropped, and `committedAt` written in UTC, so equal input in any
 * order gives equal bytes. Throws InvalidInputError when the input does not hang together (an
 * attachment or `extends` naming a policy that is not there): that is a caller's bug, and a
 * bundle like that must never be published.
 */
export function buildBundle(input: BuildBundleInput): Bundle {
  const revision = input.revision.trim();
  if (revision === '') throw new InvalidInputError('cannot build a bundle: the revision is empty');

  const policies = lookupRecord<CompiledPolicy>();
  for (const name of Object.keys(input.policies).sort()) {
    const policy = input.policies[name] as CompiledPolicy;
    if (policy.name !== name) {
      throw new InvalidInputError(`cannot build a bundle: policy stored under "${name}" is named "${policy.name}"`);
    }
    policies[name] = normalizePolicy(policy);
  }
  for (const policy of Object.values(policies)) {
    for (const parent of policy.extends ?? []) {
      if (!Object.hasOwn(policies, parent)) {
        throw new InvalidInputError(`cannot build a bundle: policy "${policy.name}" extends "${parent}", which is not in the bundle`);
      }
    }
  }

  const attachments = emptyAttachmentMap();
  for (const type of SCOPE_TYPES) {
    const section = SCOPE_SECTIONS[type];
    const source = input.attachments[section] ?? {};
    for (const key of Object.keys(source).sort()) {
      const policy = source[key] as string;
      if (!Object.hasOwn(policies, policy)) {
        throw new InvalidInputError(`cannot build a bundle: ${type} "${key}" is attached to "${policy}", which is not in the bundle`);
      }
      attachments[section][key] = policy;
    }
  }

  const payload: BundlePayload = {
    schemaVersion: BUNDLE_SCHEMA_VERSION,
    revision,
    committedAt: utcTimestamp(input.committedAt),
    policies,
    attachments,
  };
  return { ...payload, digest: bundleDigest(payload) };
}

/**
 * The bundle with its name-keyed maps (policies, each attachment section) as null-prototype
 * objects, as buildBundle makes them: for a bundle read from JSON (an upstream's, a file), so a
 * caller's `constructor` or `__proto__` finds nothing (issue 24.6).
 */
export function withLookupRecords(bundle: Bundle): Bundle {
  const attachments = emptyAttachmentMap();
  for (const type of SCOPE_TYPES) {
    const section = SCOPE_SECTIONS[type];
    for (const [key, policy] of Object.entries(bundle.attachments[section] ?? {})) attachments[section][key] = policy;
  }
  return { ...bundle, policies: lookupRecord(Object.entries(bundle.policies)), attachments };
}

/** `sha256:<hex>` of the canonical JSON of the payload (a `digest` member, if any, left out). */
export function bundleDigest(payload: BundlePayload | Bundle): string {
  const { digest: _ignored, ...rest } = payload as Bundle;
  return `sha256:${createHash('sha256').update(canonicalBytes(rest)).digest('hex')}`;
}

/** The bundle's canonical JSON text: the bytes that are signed and served. */
export function serializeBundle(bundle: Bundle): string {
  return canonicalJson(bundle);
}

/** Build the bundle of a loaded policy repository (docs/architecture.md#bundle). The repository must have no errors. */
export function buildRepositoryBundle(repo: PolicyRepository, meta: RevisionMeta): Bundle {
  return buildBundle({
    policies: flattenPolicies(repo),
    attachments: attachmentMap(repo.attachments),
    revision: meta.revision,
    committedAt: meta.committedAt,
  });
}

/**
 * A revision for content that is not a commit (a plain directory): `worktree-` and 16 hex of
 * the content's hash, so equal content gets an equal name.
 */
export function contentRevision(policies: Readonly<Record<string, CompiledPolicy>>, attachments: AttachmentMap): string {
  const hash = createHash('sha256').update(canonicalBytes({ policies, attachments })).digest('hex');
  return `worktree-${hash.slice(0, 16)}`;
}

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

/**
 * `YYYY-MM-DDTHH:MM:SSZ` (milliseconds only when not zero) for an ISO 8601 date-time. The time
 * zone is required: a local time would make the bundle depend on the machine's TZ.
 */
export function utcTimestamp(text: string): string {
  const time = Date.parse(text);
  if (!ISO_DATE_TIME.test(text) || Number.isNaN(time)) {
    throw new InvalidInputError(
      `cannot build a bundle: committedAt "${text}" is not an ISO 8601 date-time with a time zone (e.g. 2024-05-01T12:00:00Z)`,
    );
  }
  return new Date(time).toISOString().replace('.000Z', 'Z');
}

/** The shared canonical shape (docs/architecture.md#policy-changes), with the ancestry sorted: it is a set here. */
function normalizePolicy(policy: CompiledPolicy): CompiledPolicy {
  const { name, ...content } = policy;
  return { name, ...canonicalContent({ ...content, ...(content.extends && { extends: sortUnique(content.extends) }) }) };
}
