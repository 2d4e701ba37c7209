/** Loopback helpers for server tests: a JWKS issuer, token minting, captured logs, bundles. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { pino, type Logger } from 'pino';
import { generateKeyPair as generateBundleKeys, parsePrivateKey, parsePublicKeys } from '../../src/bundle/keys.js';
import type { KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';
import { makeTempRepo, SAMPLE_FILES, type TempRepo } from './policy-repo.js';
import { createGitHubOAuth, type GitHubOAuth } from '../../src/server/auth/github-oauth.js';
import type { GitHubStandin, OAuthWeb } from './github/index.js';

export interface Issuer {
  issuer: string;
  jwksUrl: string;
  /** How many times the JWKS was fetched. */
  fetches: () => number;
  token(claims: JWTPayload, options?: TokenOptions): Promise<string>;
  /** A key pair that is not in the JWKS. */
  rogueKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: Record<string, unknown>;
  close(): Promise<void>;
}

export interface TokenOptions {
  kid?: string;
  audience?: string;
  issuer?: string;
  expiresInSeconds?: number;
  notBeforeSeconds?: number;
  /** `iat` relative to now, alone (no nbf); default: notBeforeSeconds, else now. */
  issuedAtSeconds?: number;
  /** Leave the `iat` claim out (GitHub's tokens always have one). */
  withoutIssuedAt?: boolean;
  key?: CryptoKey;
}

/** An OIDC issuer on loopback: serves /.well-known/jwks with one RS256 key (kid "k1"). */
export async function startIssuer(audience = 'egressctl-test'): Promise<Issuer> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const rogue = await generateKeyPair('RS256', { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  let fetches = 0;
  const server: Server = createServer((req, res) => {
    if (req.url === '/.well-known/jwks') {
      fetches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [publicJwk] }));
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer: base,
    jwksUrl: `${base}/.well-known/jwks`,
    fetches: () => fetches,
    rogueKey: rogue.privateKey,
    publicKey,
    publicJwk,
    async token(claims, options = {}) {
      const now = Math.floor(Date.now() / 1000);
      const jwt = new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: options.kid ?? 'k1', typ: 'JWT' })
        .setIssuer(options.issuer ?? base)
        .setAudience(options.audience ?? audience)
        .setExpirationTime(now + (options.expiresInSeconds ?? 300));
      if (!options.withoutIssuedAt) jwt.setIssuedAt(now + (options.issuedAtSeconds ?? options.notBeforeSeconds ?? 0));
      if (options.notBeforeSeconds !== undefined) jwt.setNotBefore(now + options.notBeforeSeconds);
      return jwt.sign(options.key ?? privateKey);
    },
    // Kept-alive JWKS connections too: close() waits for none of them.
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** GitHub Actions-style claims for a workflow run. */
export function actionsClaims(repository: string, workflowFile: string, extra: JWTPayload = {}): JWTPayload {
  const [owner] = repository.split('/');
  return {
    repository,
    repository_owner: owner,
    workflow_ref: `${repository}/.github/workflows/${workflowFile}@refs/heads/main`,
    job_workflow_ref: `${repository}/.github/workflows/${workflowFile}@refs/heads/main`,
    ref: 'refs/heads/main',
    sub: `repo:${repository}:ref:refs/heads/main`,
    ...extra,
  };
}

export interface CapturedLogger {
  logger: Logger;
  lines: () => Record<string, unknown>[];
  text: () => string;
}

export function captureLogger(): CapturedLogger {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString('utf8'));
      callback();
    },
  });
  const logger = pino({ level: 'debug' }, stream);
  const text = (): string => chunks.join('');
  return {
    logger,
    text,
    lines: () =>
      text()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

export function bundleKeys(): { privateKey: KeyObject; publicKey: KeyObject } {
  const pair = generateBundleKeys();
  return { privateKey: parsePrivateKey(pair.privateKeyPem), publicKey: parsePublicKeys(pair.publicKeyPem)[0] as KeyObject };
}

export async function waitFor<T>(check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 5_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export async function getJson(url: string, init: RequestInit = {}): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, headers: response.headers };
}

/** Policies at every scope level, for precedence tests. */
export const PRECEDENCE_FILES: Record<string, string> = {
  'policies/cluster-pol.yml': 'egress-policy: audit\n',
  'policies/org-pol.yml': 'egress-policy: block\nallowed-endpoints: org.example.com\n',
  'policies/repo-pol.yml': 'egress-policy: block\nallowed-endpoints: repo.example.com:8443\ndisable-sudo-and-containers: true\n',
  'policies/wf-pol.yml': [
    'egress-policy: block',
    'extends: repo-pol',
    'allowed-endpoints:',
    '  - wf.example.com',
    'lockdown-mode:',
    '  enabled: true',
    '  detections: [Reverse-Shell]',
    '',
  ].join('\n'),
  'attachments.yml': [
    'clusters:',
    '  arc-prod: cluster-pol',
    'organizations:',
    '  acme: org-pol',
    'repositories:',
    '  acme/api: repo-pol',
    'workflows:',
    '  acme/api/.github/workflows/release.yml: wf-pol',
    '',
  ].join('\n'),
};

/** Temporary policy repositories and directories, removed (with anything else pushed on `cleanups`) after each test. */
export function perTestScratch(prefix: string): { cleanups: (() => Promise<void> | void)[]; tempRepo: () => TempRepo; tempDir: () => string } {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return {
    cleanups,
    tempRepo: () => {
      const repo = makeTempRepo(SAMPLE_FILES, { git: true });
      cleanups.push(() => repo.cleanup());
      return repo;
    },
    tempDir: () => {
      const dir = mkdtempSync(path.join(tmpdir(), prefix));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      return dir;
    },
  };
}

/** A free loopback port: the sign-in callback URL is built from it before the server listens. */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** The console's GitHub sign-in against the stand-in's OAuth web flow and API, for a server on `port`. */
export function standinOAuth(standin: GitHubStandin, web: OAuthWeb, port: number, admitted: { organizations: string[]; team?: string }): GitHubOAuth {
  return createGitHubOAuth({
    clientId: web.clientId,
    clientSecret: web.clientSecret,
    publicUrl: `http://127.0.0.1:${port}`,
    webUrl: web.url,
    apiUrl: standin.url,
    ...admitted,
  });
}
