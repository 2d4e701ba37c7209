/**
 * DSSE envelopes for bundles (docs/architecture.md#bundle; https://github.com/secure-systems-lab/dsse):
 * `{payloadType, payload: base64(bytes), signatures: [{keyid, sig}]}`, each signature an ed25519
 * signature over PAE(payloadType, bytes). Several signatures are allowed so keys can rotate: a
 * consumer accepts the envelope when any signature by a key it trusts verifies.
 *
 * keyids are computed as in keys.ts (sha256 of the SPKI DER). A keyid in an envelope is only a
 * hint for picking the key (as DSSE says): what counts is which trusted key verifies.
 */
import { createHash, sign, verify, type KeyObject } from 'node:crypto';
import { VerificationError, messageOf } from '../util/errors.js';
import { canonicalJson } from './canonical.js';
import { BUNDLE_SCHEMA_VERSION, bundleDigest, withLookupRecords, type Bundle } from './build.js';
import { keyIdOf } from './keys.js';
import { bundleProblems } from './validate.js';

export const BUNDLE_PAYLOAD_TYPE = 'application/vnd.egressctl.bundle.v1+json';

export interface DsseSignature {
  keyid: string;
  /** base64 of the 64-byte ed25519 signature. */
  sig: string;
}

export interface DsseEnvelope {
  payloadType: string;
  /** base64 (standard alphabet, padded) of the payload bytes. */
  payload: string;
  signatures: DsseSignature[];
}

export type VerifyResult =
  | { ok: true; payload: Buffer; keyids: string[] }
  | { ok: false; reason: string };

/** DSSE's pre-authentication encoding: `DSSEv1 <len(type)> <type> <len(body)> <body>`, lengths in bytes. */
export function pae(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `, 'utf8'),
    type,
    Buffer.from(` ${payload.length} `, 'utf8'),
    payload,
  ]);
}

/** An envelope around `payload`, signed by each key (ed25519 private keys), in the order given. */
export function signEnvelope(
  payload: Uint8Array,
  privateKeys: readonly KeyObject[],
  payloadType: string = BUNDLE_PAYLOAD_TYPE,
): DsseEnvelope {
  let envelope: DsseEnvelope = { payloadType, payload: Buffer.from(payload).toString('base64'), signatures: [] };
  for (const key of privateKeys) envelope = addSignature(envelope, key);
  return envelope;
}

/** A copy of the envelope with one more signature; a signature by the same key is replaced. */
export function addSignature(envelope: DsseEnvelope, privateKey: KeyObject): DsseEnvelope {
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
    throw new TypeError('addSignature needs an ed25519 private key');
  }
  const keyid = keyIdOf(privateKey);
  const payload = decodeBase64(envelope.payload);
  if (payload === undefined) throw new VerificationError('cannot sign: the envelope payload is not base64');
  const sig = sign(null, pae(envelope.payloadType, payload), privateKey).toString('base64');
  const others = envelope.signatures.filter((signature) => signature.keyid !== keyid);
  return { ...envelope, signatures: [...others, { keyid, sig }] };
}

/**
 * Accept when at least one signature verifies with a trusted public key. `keyids` lists every
 * trusted key that signed, sorted. Never throws for a bad envelope or signature.
 */
export function verifyEnvelope(envelope: DsseEnvelope, trustedPublicKeys: readonly KeyObject[]): VerifyResult {
  const trusted = trustedPublicKeys.map((key) => ({ key, keyid: keyIdOf(key) }));
  const trustedList = trusted.map((entry) => entry.keyid).join(', ') || 'none';
  if (trusted.length === 0) return { ok: false, reason: 'no trusted public key was given to verify the bundle with' };
  if (envelope.signatures.length === 0) {
    return { ok: false, reason: `the bundle is not signed, and a signature by a trusted key is required (trusted: ${trustedList})` };
  }
  const payload = decodeBase64(envelope.payload);
  if (payload === undefined) return { ok: false, reason: 'the envelope payload is not base64' };
  const message = pae(envelope.payloadType, payload);

  const verified = new Set<string>();
  const failedTrusted = new Set<string>();
  for (const signature of envelope.signatures) {
    const sig = decodeBase64(signature.sig);
    const named = trusted.filter((entry) => entry.keyid === signature.keyid);
    const candidates = named.length > 0 ? named : trusted;
    for (const { key, keyid } of candidates) {
      if (sig !== undefined && verifyQuietly(message, key, sig)) verified.add(keyid);
      else if (named.length > 0) failedTrusted.add(keyid);
    }
  }
  if (verified.size > 0) return { ok: true, payload, keyids: [...verified].sort() };
  if (failedTrusted.size > 0) {
    return {
      ok: false,
      reason: `the signature by trusted key ${[...failedTrusted].sort().join(', ')} does not verify: the payload or the signature was modified after signing`,
    };
  }
  const found = envelope.signatures.map((signature) => signature.keyid || '(no keyid)').join(', ');
  return { ok: false, reason: `no signature by a trusted key (trusted: ${trustedList}; found: ${found})` };
}

/** Parse envelope JSON; throws VerificationError saying what is malformed. */
export function parseEnvelope(text: string): DsseEnvelope {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const detail = messageOf(error);
    throw new VerificationError(`the bundle envelope is not valid JSON (${detail})`);
  }
  if (!isRecord(value)) throw new VerificationError('the bundle envelope is not a JSON object ({payloadType, payload, signatures})');
  const { payloadType, payload, signatures } = value;
  if (typeof payloadType !== 'string' || payloadType === '') {
    throw new VerificationError('the bundle envelope has no payloadType string: is this a DSSE envelope from egressctl compile?');
  }
  if (typeof payload !== 'string') throw new VerificationError('the bundle envelope has no payload string');
  if (decodeBase64(payload) === undefined) throw new VerificationError('the bundle envelope payload is not base64');
  if (!Array.isArray(signatures)) throw new VerificationError('the bundle envelope has no signatures array (an unsigned one has "signatures": [])');
  const parsed: DsseSignature[] = signatures.map((signature: unknown, index) => {
    if (!isRecord(signature) || typeof signature.sig !== 'string') {
      throw new VerificationError(`the bundle envelope's signatures[${index}] is not an object with a "sig" string`);
    }
    if (signature.keyid !== undefined && typeof signature.keyid !== 'string') {
      throw new VerificationError(`the bundle envelope's signatures[${index}].keyid is not a string`);
    }
    return { keyid: signature.keyid ?? '', sig: signature.sig };
  });
  return { payloadType, payload, signatures: parsed };
}

/** The envelope as served and written: canonical JSON (key order fixed, no whitespace). */
export function serializeEnvelope(envelope: DsseEnvelope): string {
  return canonicalJson({ payloadType: envelope.payloadType, payload: envelope.payload, signatures: envelope.signatures });
}

/** An envelope for a bundle, signed by each key given (none: an unsigned envelope). */
export function sealBundle(bundleText: string, privateKeys: readonly KeyObject[] = []): DsseEnvelope {
  return signEnvelope(Buffer.from(bundleText, 'utf8'), privateKeys, BUNDLE_PAYLOAD_TYPE);
}

export interface OpenBundleOptions {
  /** When given and not empty, a valid signature by one of these keys is required. */
  publicKeys?: readonly KeyObject[];
}

export interface OpenedBundle {
  bundle: Bundle;
  envelope: DsseEnvelope;
  /** `serializeEnvelope(envelope)`: the bytes to serve. */
  text: string;
  /** Strong HTTP entity tag of `text`, quotes included: changes when the bundle or any signature does. */
  etag: string;
  /** Trusted keys whose signature verified, sorted; empty when no key was configured. */
  keyids: string[];
}

/**
 * Everything a consumer must check before it uses a bundle: envelope shape, payload type,
 * signature (when keys are configured), payload JSON, schema, references and digest.
 * Throws VerificationError with the reason.
 */
export function openBundle(envelopeText: string, options: OpenBundleOptions = {}): OpenedBundle {
  const envelope = parseEnvelope(envelopeText);
  if (envelope.payloadType !== BUNDLE_PAYLOAD_TYPE) {
    throw new VerificationError(`the envelope's payloadType is "${envelope.payloadType}", not an egressctl bundle (${BUNDLE_PAYLOAD_TYPE})`);
  }
  let keyids: string[] = [];
  const publicKeys = options.publicKeys ?? [];
  if (publicKeys.length > 0) {
    const result = verifyEnvelope(envelope, publicKeys);
    if (!result.ok) throw new VerificationError(result.reason);
    keyids = result.keyids;
  }
  const bundle = decodeBundlePayload(decodeBase64(envelope.payload) as Buffer);
  const text = serializeEnvelope(envelope);
  const etag = `"${createHash('sha256').update(text, 'utf8').digest('hex')}"`;
  return { bundle, envelope, text, etag, keyids };
}

/** Payload bytes -> a bundle that passed schema, reference and digest checks. */
export function decodeBundlePayload(payload: Uint8Array): Bundle {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(payload);
  } catch {
    throw new VerificationError('the bundle payload is not UTF-8 text');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new VerificationError(`the bundle payload is not JSON (${messageOf(error)})`);
  }
  if (!isRecord(value)) throw new VerificationError('the bundle payload is not a JSON object');
  if (value.schemaVersion !== BUNDLE_SCHEMA_VERSION) {
    throw new VerificationError(
      `the bundle has schemaVersion ${JSON.stringify(value.schemaVersion)}; this egressctl reads schemaVersion ${BUNDLE_SCHEMA_VERSION} (upgrade egressctl for newer bundles)`,
    );
  }
  // The digest goes first: a bundle edited by hand is better told as "modified" than as invalid.
  if (typeof value.digest === 'string') {
    let computed: string;
    try {
      computed = bundleDigest(value as unknown as Bundle);
    } catch (error) {
      throw new VerificationError(`the bundle payload cannot be canonicalized: ${messageOf(error)}`);
    }
    if (computed !== value.digest) {
      throw new VerificationError(
        `payload digest mismatch: the bundle was modified after compile (recorded ${value.digest}, computed ${computed})`,
      );
    }
  }
  const problems = bundleProblems(value);
  if (problems.length > 0) {
    throw new VerificationError(`the bundle payload does not match schemas/bundle.schema.json:\n  ${problems.join('\n  ')}`);
  }
  return withLookupRecords(value as unknown as Bundle);
}

const BASE64 = /^(?:[A-Za-z0-9+/]*|[A-Za-z0-9_-]*)={0,2}$/;

/** Standard or URL-safe base64 (DSSE allows both), strictly: undefined for anything else. */
function decodeBase64(text: string): Buffer | undefined {
  if (!BASE64.test(text) || text.length % 4 === 1) return undefined;
  const bytes = Buffer.from(text, 'base64');
  // Buffer ignores bits it cannot place; re-encoding catches trailing garbage such as "A===".
  const unpadded = text.replace(/=+$/, '');
  if (bytes.toString('base64').replace(/=+$/, '') !== unpadded && bytes.toString('base64url') !== unpadded) return undefined;
  return bytes;
}

function verifyQuietly(message: Buffer, key: KeyObject, sig: Buffer): boolean {
  try {
    return verify(null, message, key, sig);
  } catch {
    // A signature of the wrong length makes some OpenSSL builds throw instead of returning false.
    return false;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
