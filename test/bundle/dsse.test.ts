import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/bundle/canonical.js';
import { buildBundle, bundleDigest, serializeBundle, type Bundle } from '../../src/bundle/build.js';
import {
  BUNDLE_PAYLOAD_TYPE,
  addSignature,
  openBundle,
  pae,
  parseEnvelope,
  sealBundle,
  serializeEnvelope,
  signEnvelope,
  verifyEnvelope,
  type DsseEnvelope,
} from '../../src/bundle/dsse.js';
import { generateKeyPair, keyIdOf } from '../../src/bundle/keys.js';
import { VerificationError } from '../../src/util/errors.js';

interface TestKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  keyid: string;
}

function newKey(): TestKey {
  const pair = generateKeyPair();
  return { privateKey: createPrivateKey(pair.privateKeyPem), publicKey: createPublicKey(pair.publicKeyPem), keyid: pair.keyid };
}

const oldKey = newKey();
const newerKey = newKey();
const strangerKey = newKey();

function sampleBundle(): Bundle {
  return buildBundle({
    revision: 'b'.repeat(40),
    committedAt: '2026-03-01T01:00:00Z',
    policies: {
      base: { name: 'base', 'egress-policy': 'block', 'allowed-endpoints': ['github.com:443'] },
      audit: { name: 'audit', 'egress-policy': 'audit', 'allowed-endpoints': [] },
    },
    attachments: { workflows: {}, repositories: { 'acme/api': 'base' }, organizations: { acme: 'audit' }, clusters: {} },
  });
}

/** An envelope text around any payload value (canonical JSON), signed by the keys given. */
function envelopeFor(payload: unknown, keys: TestKey[] = []): string {
  return serializeEnvelope(signEnvelope(Buffer.from(canonicalJson(payload)), keys.map((key) => key.privateKey)));
}

/** A payload edited and given a correct digest again: the shape, not the digest, is what is wrong. */
function redigested(edit: (bundle: Record<string, unknown>) => void): Record<string, unknown> {
  const bundle = JSON.parse(serializeBundle(sampleBundle())) as Record<string, unknown>;
  edit(bundle);
  bundle.digest = bundleDigest(bundle as unknown as Bundle);
  return bundle;
}

describe('PAE and signing', () => {
  it('encodes as the DSSE specification says (lengths in bytes)', () => {
    expect(pae('http://example.com/HelloWorld', Buffer.from('hello world')).toString()).toBe(
      'DSSEv1 29 http://example.com/HelloWorld 11 hello world',
    );
    expect(pae('t/é', Buffer.from('€')).toString()).toBe('DSSEv1 4 t/é 3 €');
  });

  it('signs with each key and verifies with any trusted one', () => {
    const envelope = signEnvelope(Buffer.from('{"a":1}'), [oldKey.privateKey, newerKey.privateKey]);
    expect(envelope.payloadType).toBe(BUNDLE_PAYLOAD_TYPE);
    expect(Buffer.from(envelope.payload, 'base64').toString()).toBe('{"a":1}');
    expect(envelope.signatures.map((signature) => signature.keyid)).toEqual([oldKey.keyid, newerKey.keyid]);
    expect(Buffer.from(envelope.signatures[0]?.sig ?? '', 'base64')).toHaveLength(64);

    const result = verifyEnvelope(envelope, [newerKey.publicKey]);
    expect(result).toEqual({ ok: true, payload: Buffer.from('{"a":1}'), keyids: [newerKey.keyid] });
    const both = verifyEnvelope(envelope, [newerKey.publicKey, oldKey.publicKey]);
    expect(both.ok && both.keyids).toEqual([oldKey.keyid, newerKey.keyid].sort());
  });

  it('is deterministic (ed25519) and addSignature replaces a signature by the same key', () => {
    const once = signEnvelope(Buffer.from('x'), [oldKey.privateKey]);
    expect(serializeEnvelope(signEnvelope(Buffer.from('x'), [oldKey.privateKey]))).toBe(serializeEnvelope(once));
    const twice = addSignature(addSignature(once, newerKey.privateKey), oldKey.privateKey);
    expect(twice.signatures.map((signature) => signature.keyid)).toEqual([newerKey.keyid, oldKey.keyid]);
    expect(once.signatures).toHaveLength(1);
    expect(() => addSignature(once, oldKey.publicKey)).toThrow('ed25519 private key');
  });

  it('rejects a tampered payload, a tampered signature, a wrong key and a missing signature', () => {
    const envelope = signEnvelope(Buffer.from('{"a":1}'), [oldKey.privateKey]);
    const payloadTampered: DsseEnvelope = { ...envelope, payload: Buffer.from('{"a":2}').toString('base64') };
    expect(verifyEnvelope(payloadTampered, [oldKey.publicKey])).toEqual({
      ok: false,
      reason: `the signature by trusted key ${oldKey.keyid} does not verify: the payload or the signature was modified after signing`,
    });

    const sig = Buffer.from(envelope.signatures[0]?.sig ?? '', 'base64');
    sig[10] = (sig[10] ?? 0) ^ 0x01;
    const sigTampered: DsseEnvelope = { ...envelope, signatures: [{ keyid: oldKey.keyid, sig: sig.toString('base64') }] };
    expect(verifyEnvelope(sigTampered, [oldKey.publicKey]).ok).toBe(false);
    const truncated: DsseEnvelope = { ...envelope, signatures: [{ keyid: oldKey.keyid, sig: sig.subarray(0, 20).toString('base64') }] };
    expect(verifyEnvelope(truncated, [oldKey.publicKey]).ok).toBe(false);

    expect(verifyEnvelope(envelope, [strangerKey.publicKey])).toEqual({
      ok: false,
      reason: `no signature by a trusted key (trusted: ${strangerKey.keyid}; found: ${oldKey.keyid})`,
    });
    const unsigned: DsseEnvelope = { ...envelope, signatures: [] };
    const result = verifyEnvelope(unsigned, [oldKey.publicKey]);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toContain('the bundle is not signed');
    expect(verifyEnvelope(envelope, []).ok).toBe(false);
  });

  it('accepts rotation: two signatures, only one by a trusted key that verifies', () => {
    // The old key's signature is broken and the old key is no longer trusted; the new one carries it.
    const envelope = signEnvelope(Buffer.from('{"rotated":true}'), [oldKey.privateKey, newerKey.privateKey]);
    const broken: DsseEnvelope = {
      ...envelope,
      signatures: [{ keyid: oldKey.keyid, sig: Buffer.alloc(64).toString('base64') }, envelope.signatures[1] as DsseEnvelope['signatures'][0]],
    };
    const result = verifyEnvelope(broken, [newerKey.publicKey]);
    expect(result.ok && result.keyids).toEqual([newerKey.keyid]);
  });

  it('treats keyid as a hint only: a valid signature under a wrong or empty keyid still counts', () => {
    const envelope = signEnvelope(Buffer.from('p'), [oldKey.privateKey]);
    const relabeled: DsseEnvelope = { ...envelope, signatures: [{ keyid: '', sig: envelope.signatures[0]?.sig ?? '' }] };
    const result = verifyEnvelope(relabeled, [oldKey.publicKey]);
    expect(result.ok && result.keyids).toEqual([oldKey.keyid]);
  });
});

describe('parseEnvelope', () => {
  it.each([
    ['not JSON', '{"payloadType": ', 'the bundle envelope is not valid JSON'],
    ['an array', '[]', 'is not a JSON object'],
    ['no payloadType', '{"payload":"","signatures":[]}', 'has no payloadType string'],
    ['no payload', `{"payloadType":"${BUNDLE_PAYLOAD_TYPE}","signatures":[]}`, 'has no payload string'],
    ['a non-base64 payload', `{"payloadType":"t","payload":"not base64!","signatures":[]}`, 'payload is not base64'],
    ['truncated base64', `{"payloadType":"t","payload":"QUJD=","signatures":[]}`, 'payload is not base64'],
    ['no signatures array', `{"payloadType":"t","payload":"e30="}`, 'has no signatures array'],
    ['a signature without sig', `{"payloadType":"t","payload":"e30=","signatures":[{"keyid":"k"}]}`, "signatures[0] is not an object"],
    ['a numeric keyid', `{"payloadType":"t","payload":"e30=","signatures":[{"keyid":1,"sig":"AA=="}]}`, 'signatures[0].keyid is not a string'],
  ])('rejects %s clearly', (_name, text, message) => {
    expect(() => parseEnvelope(text)).toThrow(VerificationError);
    expect(() => parseEnvelope(text)).toThrow(message);
  });

  it('accepts URL-safe base64 and a missing keyid', () => {
    const payload = Buffer.from([0xfb, 0xff, 0xfe]);
    const envelope = parseEnvelope(JSON.stringify({ payloadType: 't', payload: payload.toString('base64url'), signatures: [{ sig: 'AA==' }] }));
    expect(envelope.signatures).toEqual([{ keyid: '', sig: 'AA==' }]);
  });
});

describe('openBundle', () => {
  const bundle = sampleBundle();

  it('opens an unsigned bundle when no key is configured', () => {
    const text = `${serializeEnvelope(sealBundle(serializeBundle(bundle)))}\n`;
    const opened = openBundle(text);
    expect(opened.bundle).toEqual(bundle);
    expect(opened.keyids).toEqual([]);
    expect(opened.text).toBe(text.trim());
    expect(opened.etag).toMatch(/^"[0-9a-f]{64}"$/);
  });

  it('requires a signature by a configured key', () => {
    const unsigned = serializeEnvelope(sealBundle(serializeBundle(bundle)));
    expect(() => openBundle(unsigned, { publicKeys: [oldKey.publicKey] })).toThrow('the bundle is not signed');
    const byStranger = serializeEnvelope(sealBundle(serializeBundle(bundle), [strangerKey.privateKey]));
    expect(() => openBundle(byStranger, { publicKeys: [oldKey.publicKey] })).toThrow(
      `no signature by a trusted key (trusted: ${oldKey.keyid}; found: ${strangerKey.keyid})`,
    );
    const signed = serializeEnvelope(sealBundle(serializeBundle(bundle), [oldKey.privateKey, newerKey.privateKey]));
    const opened = openBundle(signed, { publicKeys: [newerKey.publicKey, strangerKey.publicKey] });
    expect(opened.keyids).toEqual([newerKey.keyid]);
    expect(opened.bundle.digest).toBe(bundle.digest);
  });

  it('detects a payload modified after compile (digest mismatch) even without keys', () => {
    const edited = JSON.parse(serializeBundle(bundle)) as Bundle;
    edited.policies.base?.['allowed-endpoints'].push('evil.example.com:443');
    const text = envelopeFor(edited);
    expect(() => openBundle(text)).toThrow(/^payload digest mismatch: the bundle was modified after compile \(recorded sha256:/);
    // A signed bundle whose payload is swapped fails at the signature before anything else.
    const signed = sealBundle(serializeBundle(bundle), [oldKey.privateKey]);
    const swapped = serializeEnvelope({ ...signed, payload: Buffer.from(canonicalJson(edited)).toString('base64') });
    expect(() => openBundle(swapped, { publicKeys: [oldKey.publicKey] })).toThrow('does not verify');
  });

  it.each([
    ['an unknown egress-policy', (b: Record<string, unknown>) => {
      ((b.policies as Record<string, Record<string, unknown>>).base as Record<string, unknown>)['egress-policy'] = 'allow';
    }, '/policies/base/egress-policy: must be equal to one of the allowed values (audit, block)'],
    ['an unknown member', (b: Record<string, unknown>) => {
      b.extra = true;
    }, '/: unknown member "extra"'],
    ['a missing section', (b: Record<string, unknown>) => {
      delete (b.attachments as Record<string, unknown>).clusters;
    }, "/attachments: must have required property 'clusters'"],
    ['an upper-case scope key', (b: Record<string, unknown>) => {
      (b.attachments as Record<string, Record<string, string>>).repositories = { 'Acme/API': 'base' };
    }, '/attachments/repositories: key "Acme/API" must match pattern'],
    ['an attachment to a missing policy', (b: Record<string, unknown>) => {
      (b.attachments as Record<string, Record<string, string>>).organizations = { acme: 'ghost' };
    }, '/attachments/organizations/acme: attached policy "ghost" is not in the bundle'],
    ['a non-canonical endpoint', (b: Record<string, unknown>) => {
      ((b.policies as Record<string, Record<string, unknown>>).base as Record<string, unknown>)['allowed-endpoints'] = ['*:443'];
    }, '/policies/base/allowed-endpoints/0: "*:443" is not a canonical host:port endpoint'],
    ['unsorted endpoints', (b: Record<string, unknown>) => {
      ((b.policies as Record<string, Record<string, unknown>>).base as Record<string, unknown>)['allowed-endpoints'] = ['b.com:443', 'a.com:443'];
    }, 'is out of order'],
    ['a name that is not its key', (b: Record<string, unknown>) => {
      ((b.policies as Record<string, Record<string, unknown>>).base as Record<string, unknown>).name = 'audit';
    }, '/policies/base/name: is "audit"'],
    ['a local committedAt', (b: Record<string, unknown>) => {
      b.committedAt = '2026-03-01T10:00:00+09:00';
    }, '/committedAt: must match pattern'],
  ])('refuses a schema-invalid payload: %s', (_name, edit, message) => {
    const text = envelopeFor(redigested(edit));
    expect(() => openBundle(text)).toThrow(VerificationError);
    expect(() => openBundle(text)).toThrow(message);
  });

  it('refuses other payload types, versions and encodings with a reason', () => {
    const otherType = serializeEnvelope(signEnvelope(Buffer.from(serializeBundle(bundle)), [], 'application/vnd.in-toto+json'));
    expect(() => openBundle(otherType)).toThrow('is "application/vnd.in-toto+json", not an egressctl bundle');
    expect(() => openBundle(envelopeFor(redigested((b) => (b.schemaVersion = 2))))).toThrow(
      'the bundle has schemaVersion 2; this egressctl reads schemaVersion 1',
    );
    const notUtf8 = serializeEnvelope(signEnvelope(Buffer.from([0xff, 0xfe, 0x7b]), []));
    expect(() => openBundle(notUtf8)).toThrow('the bundle payload is not UTF-8 text');
    const notJson = serializeEnvelope(signEnvelope(Buffer.from('{"schemaVersion":'), []));
    expect(() => openBundle(notJson)).toThrow('the bundle payload is not JSON');
    expect(() => openBundle(envelopeFor([1, 2]))).toThrow('the bundle payload is not a JSON object');
    expect(() => openBundle('')).toThrow('the bundle envelope is not valid JSON');
  });

  it('changes the etag when a signature is added, not when the same envelope is re-read', () => {
    const signed = sealBundle(serializeBundle(bundle), [oldKey.privateKey]);
    const first = openBundle(serializeEnvelope(signed));
    const reformatted = openBundle(JSON.stringify(signed, null, 2));
    expect(reformatted.etag).toBe(first.etag);
    const rotated = openBundle(serializeEnvelope(addSignature(signed, newerKey.privateKey)));
    expect(rotated.etag).not.toBe(first.etag);
    expect(keyIdOf(newerKey.publicKey)).toBe(newerKey.keyid);
  });
});
