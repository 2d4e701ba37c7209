import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  generateKeyPair,
  keyIdOf,
  loadPrivateKey,
  loadPublicKeys,
  parsePrivateKey,
  parsePublicKeys,
} from '../../src/bundle/keys.js';
import { InvalidInputError, IoError } from '../../src/util/errors.js';

const dir = mkdtempSync(path.join(tmpdir(), 'egressctl-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ed25519 keys', () => {
  it('generates PKCS#8 and SPKI PEM with a keyid over the SPKI DER', () => {
    const pair = generateKeyPair();
    expect(pair.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n[\s\S]+-----END PRIVATE KEY-----\n$/);
    expect(pair.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----\n[\s\S]+-----END PUBLIC KEY-----\n$/);
    // SPKI DER of an ed25519 key = fixed 12-byte header + the raw 32-byte key (RFC 8410).
    const raw = Buffer.from(createPublicKey(pair.publicKeyPem).export({ format: 'jwk' }).x ?? '', 'base64url');
    expect(raw).toHaveLength(32);
    const der = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]);
    expect(pair.keyid).toBe(`sha256:${createHash('sha256').update(der).digest('hex')}`);
    expect(keyIdOf(parsePrivateKey(pair.privateKeyPem))).toBe(pair.keyid);
    expect(keyIdOf(parsePublicKeys(pair.publicKeyPem)[0] ?? createPublicKey(pair.publicKeyPem))).toBe(pair.keyid);
    expect(generateKeyPair().keyid).not.toBe(pair.keyid);
  });

  it('loads every public key of one or several files, each key once', async () => {
    const first = generateKeyPair();
    const second = generateKeyPair();
    const both = path.join(dir, 'trusted.pub');
    const single = path.join(dir, 'single.pub');
    writeFileSync(both, `# rotation: old and new\n${first.publicKeyPem}${second.publicKeyPem}`);
    writeFileSync(single, second.publicKeyPem);
    const keys = await loadPublicKeys([both, single]);
    expect(keys.map(keyIdOf)).toEqual([first.keyid, second.keyid]);
    expect((await loadPublicKeys(single)).map(keyIdOf)).toEqual([second.keyid]);
  });

  it('says what is wrong with a key file', async () => {
    const pair = generateKeyPair();
    const privatePath = path.join(dir, 'signing.key');
    writeFileSync(privatePath, pair.privateKeyPem);
    await expect(loadPublicKeys(privatePath)).rejects.toThrow('holds a "PRIVATE KEY" block, expected PUBLIC KEY: give the .pub file');
    await expect(loadPrivateKey(privatePath)).resolves.toBeDefined();

    const publicPath = path.join(dir, 'signing.pub');
    writeFileSync(publicPath, pair.publicKeyPem);
    await expect(loadPrivateKey(publicPath)).rejects.toThrow('is a public key; signing needs the private key');

    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const rsaPath = path.join(dir, 'rsa.pub');
    writeFileSync(rsaPath, rsa.publicKey.export({ type: 'spki', format: 'pem' }));
    await expect(loadPublicKeys(rsaPath)).rejects.toThrow('is a rsa key; bundles are signed with ed25519');
    expect(() => parsePrivateKey(rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString())).toThrow(InvalidInputError);

    const garbage = path.join(dir, 'garbage.pub');
    writeFileSync(garbage, 'hello');
    await expect(loadPublicKeys(garbage)).rejects.toThrow(`${garbage}: no PEM block found`);
    expect(() => parsePublicKeys('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n')).toThrow('not a PEM public key');
    expect(() => parsePrivateKey('nothing')).toThrow('not a PEM private key');

    await expect(loadPublicKeys(path.join(dir, 'missing.pub'))).rejects.toThrow(IoError);
  });
});
