/**
 * ed25519 keys for signing bundles (docs/architecture.md#bundle), with node:crypto only.
 *
 * Files are PEM: the private key as unencrypted PKCS#8 (`-----BEGIN PRIVATE KEY-----`, mode
 * 0600), the public key as SPKI (`-----BEGIN PUBLIC KEY-----`). A public key file may hold
 * several PUBLIC KEY blocks, so one file can trust both the old and the new key during rotation.
 *
 * keyid = `sha256:` + hex SHA-256 of the public key's SPKI DER encoding. Anyone can recompute
 * it with `openssl pkey -pubin -in KEY.pub -outform DER | sha256sum`.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { IoError, InvalidInputError, messageOf } from '../util/errors.js';

export interface KeyPairPem {
  /** PKCS#8 PEM. */
  privateKeyPem: string;
  /** SPKI PEM. */
  publicKeyPem: string;
  keyid: string;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

export function generateKeyPair(): KeyPairPem {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    keyid: keyIdOf(publicKey),
  };
}

/** `sha256:<hex of SHA-256 of the SPKI DER>`; a private key gives its public key's id. */
export function keyIdOf(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(der).digest('hex')}`;
}

/** Parse a PKCS#8 (or other PEM private key form node reads) ed25519 private key. */
export function parsePrivateKey(pem: string, source = 'private key'): KeyObject {
  if (/-----BEGIN PUBLIC KEY-----/.test(pem) && !/PRIVATE KEY-----/.test(pem)) {
    throw new InvalidInputError(`${source}: is a public key; signing needs the private key (the .key file from egressctl keygen)`);
  }
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(pem)) {
    throw new InvalidInputError(`${source}: is an encrypted private key; egressctl reads unencrypted PKCS#8 keys`);
  }
  // Same shape as the per-block check in parsePublicKeys (`duplicates` pairs them): private vs public key, kept.
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (error) {
    throw new InvalidInputError(`${source}: not a PEM private key (${messageOf(error)})`, { cause: error });
  }
  requireEd25519(key, source);
  return key;
}

/** Every ed25519 public key in a PEM text (one or more PUBLIC KEY blocks). */
export function parsePublicKeys(pem: string, source = 'public key'): KeyObject[] {
  const blocks = [...pem.matchAll(PEM_BLOCK)];
  if (blocks.length === 0) throw new InvalidInputError(`${source}: no PEM block found (expected -----BEGIN PUBLIC KEY-----)`);
  const keys: KeyObject[] = [];
  for (const [text, label] of blocks) {
    if (label !== 'PUBLIC KEY') {
      const hint = label?.includes('PRIVATE') ? ': give the .pub file, never the private key' : '';
      throw new InvalidInputError(`${source}: holds a "${label}" block, expected PUBLIC KEY${hint}`);
    }
    let key: KeyObject;
    try {
      key = createPublicKey({ key: text, format: 'pem' });
    } catch (error) {
      throw new InvalidInputError(`${source}: not a PEM public key (${messageOf(error)})`, { cause: error });
    }
    requireEd25519(key, source);
    keys.push(key);
  }
  return keys;
}

export async function loadPrivateKey(path: string): Promise<KeyObject> {
  return parsePrivateKey(await readKeyFile(path), path);
}

/** All public keys in one file or several, duplicates (same keyid) dropped. */
export async function loadPublicKeys(paths: string | readonly string[]): Promise<KeyObject[]> {
  const byId = new Map<string, KeyObject>();
  for (const path of typeof paths === 'string' ? [paths] : paths) {
    for (const key of parsePublicKeys(await readKeyFile(path), path)) byId.set(keyIdOf(key), key);
  }
  return [...byId.values()];
}

function requireEd25519(key: KeyObject, source: string): void {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new InvalidInputError(
      `${source}: is a ${key.asymmetricKeyType ?? 'unknown'} key; bundles are signed with ed25519 (create one with egressctl keygen)`,
    );
  }
}

async function readKeyFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new IoError(`cannot read key file ${path}: ${messageOf(error)}`, { cause: error });
  }
}

