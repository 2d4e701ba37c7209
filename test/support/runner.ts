/**
 * Runner-side helpers: a policy backend (policy server, OIDC issuer), a fake
 * ACTIONS_ID_TOKEN_REQUEST_URL endpoint, GITHUB_OUTPUT parsing, and a run of the composite
 * action's bundle as a runner starts it.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import { startServer, type RunningServer, type StartServerOptions } from '../../src/server/index.js';
import { makeTempRepo, type TempRepo } from './policy-repo.js';
import { PRECEDENCE_FILES, actionsClaims, captureLogger, startIssuer, type Issuer } from './server.js';

export const REQUEST_TOKEN = 'runtime-request-token-for-tests';

export interface TokenEndpoint {
  /** As the runner sets ACTIONS_ID_TOKEN_REQUEST_URL: already carries a query. */
  url: string;
  audiences: string[];
  close(): Promise<void>;
}

/** Answers `{value: jwt}` for the requested audience, like the Actions runtime does. */
export async function startTokenEndpoint(mint: (audience: string) => Promise<string>): Promise<TokenEndpoint> {
  const audiences: string[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.headers.authorization !== `Bearer ${REQUEST_TOKEN}`) {
      res.writeHead(401);
      res.end();
      return;
    }
    const audience = url.searchParams.get('audience') ?? '';
    audiences.push(audience);
    mint(audience).then((value) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ count: 1, value }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/idtoken?api-version=2.0`,
    audiences,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Parse `name<<DELIM\nvalue\nDELIM\n` entries (and plain `name=value` lines) as the runner does. */
export function parseGithubFile(file: string): Record<string, string> {
  const lines = readFileSync(file, 'utf8').split('\n');
  const values: Record<string, string> = {};
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index] ?? '';
    if (line === '') continue;
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const [, name = '', delimiter] = heredoc;
      const body: string[] = [];
      for (index++; index < lines.length && lines[index] !== delimiter; index++) body.push(lines[index] ?? '');
      if (index >= lines.length) throw new Error(`unterminated value for ${name}`);
      values[name] = body.join('\n');
    } else {
      const at = line.indexOf('=');
      values[line.slice(0, at)] = line.slice(at + 1);
    }
  }
  return values;
}

/** What a job talks to: a policy server over the precedence fixtures, an OIDC issuer, and the runtime's token endpoint. */
export interface PolicyBackend {
  repo: TempRepo;
  issuer: Issuer;
  tokens: TokenEndpoint;
  server: RunningServer;
  /** Stops the server, the token endpoint and the issuer, and removes the repository. */
  close(): Promise<void>;
}

/** Tokens are minted for `acme/api`'s release.yml; `options` adds to the server's (keys, API keys...). */
export async function startPolicyBackend(audience: string, options: Partial<StartServerOptions> = {}): Promise<PolicyBackend> {
  const repo = makeTempRepo(PRECEDENCE_FILES, { git: true });
  repo.commit('policies');
  const issuer = await startIssuer(audience);
  const tokens = await startTokenEndpoint((requested) => issuer.token(actionsClaims('acme/api', 'release.yml'), { audience: requested }));
  const server = await startServer({
    source: repo.dir,
    port: 0,
    logger: captureLogger().logger,
    defaultMetrics: false,
    oidc: { issuer: issuer.issuer, audience, jwksUrl: issuer.jwksUrl },
    ...options,
  });
  return {
    repo,
    issuer,
    tokens,
    server,
    async close() {
      await server.close();
      await tokens.close();
      await issuer.close();
      repo.cleanup();
    },
  };
}

/** The committed bundle of actions/harden (what a runner executes). */
export const ACTION_DIST = path.resolve(import.meta.dirname, '../../actions/harden/dist/index.js');

export interface ActionRun {
  code: number;
  stdout: string;
  /** What the action wrote to GITHUB_OUTPUT. */
  outputs: Record<string, string>;
}

let actionRuns = 0;

/**
 * Runs the action's bundle in a child process with the environment a runner gives it: the OIDC
 * request URL and token, GITHUB_OUTPUT (a fresh file under `work`), the repository and workflow
 * ref, a tool cache under `work`, `INPUT_*` from `inputs`, then `env` over all of it.
 */
export async function runHardenAction(options: { work: string; tokenUrl: string; inputs: Record<string, string>; env?: Record<string, string> }): Promise<ActionRun> {
  const outputFile = path.join(options.work, `action-output-${++actionRuns}`);
  writeFileSync(outputFile, '');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    ACTIONS_ID_TOKEN_REQUEST_URL: options.tokenUrl,
    ACTIONS_ID_TOKEN_REQUEST_TOKEN: REQUEST_TOKEN,
    GITHUB_OUTPUT: outputFile,
    GITHUB_REPOSITORY: 'acme/api',
    GITHUB_WORKFLOW_REF: 'acme/api/.github/workflows/release.yml@refs/heads/main',
    RUNNER_TOOL_CACHE: path.join(options.work, 'tool-cache'),
    ...Object.fromEntries(Object.entries(options.inputs).map(([name, value]) => [`INPUT_${name.replace(/-/g, '_').toUpperCase()}`, value])),
    ...options.env,
  };
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [ACTION_DIST], { env, timeout: 30_000 });
    return { code: 0, stdout, outputs: parseGithubFile(outputFile) };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', outputs: parseGithubFile(outputFile) };
  }
}

let hookRuns = 0;

/**
 * The environment a self-hosted runner gives the job-started hook: the server and API key, the
 * job's repository and workflow (`repository`, `.github/workflows/ci.yml`), a fresh GITHUB_ENV
 * file and RUNNER_TEMP under `work`, a tool cache under `work`; `overrides` over all of it.
 */
export function hookJobEnv(options: { work: string; server: string; apiKey: string; repository: string; overrides?: Record<string, string> }): Record<string, string> {
  const id = ++hookRuns;
  const envFile = path.join(options.work, `env-${id}`);
  writeFileSync(envFile, '');
  return {
    EGRESSCTL_SERVER: options.server,
    EGRESSCTL_API_KEY: options.apiKey,
    GITHUB_REPOSITORY: options.repository,
    GITHUB_WORKFLOW_REF: `${options.repository}/.github/workflows/ci.yml@refs/heads/main`,
    GITHUB_ENV: envFile,
    RUNNER_TEMP: path.join(options.work, `temp-${id}`),
    RUNNER_TOOL_CACHE: path.join(options.work, 'tool-cache'),
    ...options.overrides,
  };
}
