/**
 * API keys for self-hosted and ARC pre-job hooks (docs/architecture.md#server): `Authorization: ApiKey <key>`.
 * Each key is bound to one cluster name and a set of organizations; the file stores only the
 * key's SHA-256, never the key.
 *
 * Why SHA-256 and not scrypt: these keys are machine-generated random secrets (at least 128
 * bits; `openssl rand -base64 32`), so there is no dictionary to attack and a slow hash adds
 * nothing but latency on every request. A slow KDF protects low-entropy passwords; for keys it
 * only makes a 50 ms CPU cost per request that an attacker can trigger at will. Keys shorter
 * than 24 characters are refused so that a weak human-chosen key cannot be used.
 *
 * File (YAML or JSON):
 *   keys:
 *     - name: arc-prod-hook            # shown in logs
 *       sha256: <64 hex>               # egressctl serve --hash-api-key < key.txt
 *       cluster: arc-prod
 *       organizations: [acme]
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { InvalidInputError, IoError } from '../../util/errors.js';

export const MIN_API_KEY_LENGTH = 24;
const MAX_API_KEY_LENGTH = 512;

export interface ApiKeyEntry {
  name: string;
  /** Lower-case hex SHA-256 of the key. */
  sha256: string;
  /** Lower-cased cluster name the key's runners belong to. */
  cluster: string;
  /** Lower-cased organizations whose jobs may be asked about with this key. */
  organizations: string[];
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Checks a key someone is about to hash; throws InvalidInputError saying what is wrong. */
export function checkNewApiKey(key: string): void {
  if (key.length < MIN_API_KEY_LENGTH) {
    throw new InvalidInputError(`the API key is ${key.length} characters; use at least ${MIN_API_KEY_LENGTH} random ones (openssl rand -base64 32)`);
  }
  if (key.length > MAX_API_KEY_LENGTH) throw new InvalidInputError(`the API key is longer than ${MAX_API_KEY_LENGTH} characters`);
  if (!/^[\x21-\x7e]+$/.test(key)) throw new InvalidInputError('the API key must be printable ASCII without spaces (it travels in an HTTP header)');
}

export class ApiKeyRing {
  private readonly byHash = new Map<string, ApiKeyEntry>();

  constructor(entries: readonly ApiKeyEntry[]) {
    for (const entry of entries) this.byHash.set(entry.sha256, entry);
  }

  get size(): number {
    return this.byHash.size;
  }

  /**
   * The entry for a presented key. A Map lookup by digest leaks nothing useful through timing:
   * learning a prefix of a digest does not help to find a key that has it.
   */
  lookup(key: string): ApiKeyEntry | undefined {
    if (key.length < MIN_API_KEY_LENGTH || key.length > MAX_API_KEY_LENGTH) return undefined;
    return this.byHash.get(hashApiKey(key));
  }
}

export async function loadApiKeyFile(file: string): Promise<ApiKeyEntry[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new IoError(`cannot read the API key file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  return parseApiKeyFile(text, file);
}

/** Parse and check an API key file; errors name the file, line and entry. */
export function parseApiKeyFile(text: string, file: string): ApiKeyEntry[] {
  const document = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  if (document.errors.length > 0) {
    const first = document.errors[0];
    const line = first?.linePos?.[0].line ?? 1;
    throw new InvalidInputError(`${file}:${line}: ${first?.message ?? 'not valid YAML or JSON'}`);
  }
  const lineOf = (node: unknown): number => {
    const range = (node as { range?: [number, number, number] } | undefined)?.range;
    if (!range) return 1;
    return text.slice(0, range[0]).split('\n').length;
  };
  const root: unknown = document.toJS();
  const fail = (where: string, node: unknown, problem: string): never => {
    throw new InvalidInputError(`${file}:${lineOf(node)}: ${where}: ${problem}`);
  };
  if (typeof root !== 'object' || root === null || Array.isArray(root)) fail('top level', document.contents, 'expected a mapping with "keys:" (a list)');
  const record = root as Record<string, unknown>;
  for (const key of Object.keys(record)) if (key !== 'keys') fail(key, document.contents, 'unknown key (only "keys" is allowed)');
  const keysNode = document.get('keys', true);
  if (!Array.isArray(record.keys)) fail('keys', keysNode ?? document.contents, 'expected a list of {name, sha256, cluster, organizations}');
  const entries: ApiKeyEntry[] = [];
  const seenHashes = new Map<string, string>();
  const seenNames = new Set<string>();
  (record.keys as unknown[]).forEach((value, index) => {
    const node = document.getIn(['keys', index], true);
    const where = `keys[${index}]`;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(where, node, 'expected a mapping');
    const item = value as Record<string, unknown>;
    for (const key of Object.keys(item)) {
      if (!['name', 'sha256', 'cluster', 'organizations'].includes(key)) {
        fail(`${where}.${key}`, document.getIn(['keys', index, key], true) ?? node, 'unknown key (name, sha256, cluster, organizations)');
      }
    }
    const at = (key: string): unknown => document.getIn(['keys', index, key], true) ?? node;
    if (typeof item.name !== 'string' || item.name.trim() === '') fail(`${where}.name`, at('name'), 'required: a name for logs');
    const name = (item.name as string).trim();
    if (seenNames.has(name)) fail(`${where}.name`, at('name'), `"${name}" is used by another key`);
    seenNames.add(name);
    const sha256 = typeof item.sha256 === 'string' ? item.sha256.trim().toLowerCase() : '';
    if (!/^[0-9a-f]{64}$/.test(sha256)) {
      fail(`${where}.sha256`, at('sha256'), 'required: 64 hex digits, the SHA-256 of the key (egressctl serve --hash-api-key < key.txt); never the key itself');
    }
    const other = seenHashes.get(sha256);
    if (other !== undefined) fail(`${where}.sha256`, at('sha256'), `same key as "${other}"`);
    seenHashes.set(sha256, name);
    if (typeof item.cluster !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(item.cluster)) {
      fail(`${where}.cluster`, at('cluster'), 'required: the cluster name the key\'s runners belong to (as in attachments.yml clusters:)');
    }
    const organizations = item.organizations;
    if (!Array.isArray(organizations) || organizations.length === 0 || !organizations.every((org) => typeof org === 'string' && /^[A-Za-z0-9][A-Za-z0-9-]*$/.test(org))) {
      fail(`${where}.organizations`, at('organizations'), 'required: a non-empty list of organization names the key may ask about');
    }
    entries.push({
      name,
      sha256,
      cluster: (item.cluster as string).toLowerCase(),
      organizations: [...new Set((organizations as string[]).map((org) => org.toLowerCase()))].sort(),
    });
  });
  return entries;
}
