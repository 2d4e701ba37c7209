/**
 * End-to-end harness for the GitHub App: the GitHub stand-in (OpenAPI-checked REST, real git
 * over HTTP), a real `startServer` with the app mounted at /api/github/webhooks through
 * createWebhookHandler (as `egressctl serve` does), and an installation whose permissions are
 * exactly those of app.yml (least privilege is tested on every request).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Probot } from 'probot';
import { pino } from 'pino';
import { afterEach, beforeEach } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { openBundle } from '../../src/bundle/dsse.js';
import { generateKeyPair, parsePrivateKey } from '../../src/bundle/keys.js';
import { createEgressctlApp, type EgressctlApp } from '../../src/app/app.js';
import { readAppConfig } from '../../src/app/config.js';
import { createWebhookHandler, type WebhookMount } from '../../src/app/server-mount.js';
import type { ClientTuning } from '../../src/github/client.js';
import { hashApiKey } from '../../src/server/auth/api-keys.js';
import { WEBHOOK_PATH } from '../../src/server/api.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { startGitHubStandin, type GitHubStandin } from './github/index.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const POLICY_REPO = 'acme/egress-policies';
export const API_KEY = 'test-api-key-0123456789-abcdefghijklmnop';

/** A valid policy repository; line numbers in tests refer to these texts. */
export const POLICY_FILES: Record<string, string> = {
  'policies/base.yml': 'egress-policy: block\nallowed-endpoints:\n  - github.com:443\n  - objects.githubusercontent.com\n',
  'policies/api.yml': 'egress-policy: block\nextends: base\nallowed-endpoints:\n  - registry.npmjs.org\n  - proxy.golang.org:443\n',
  'policies/audit.yml': 'egress-policy: audit\n',
  'attachments.yml': 'organizations:\n  acme: audit\nrepositories:\n  acme/api: api\nworkflows:\n  acme/api/.github/workflows/release.yml: base\n',
};

export interface Harness {
  standin: GitHubStandin;
  server: RunningServer;
  mount: WebhookMount;
  hookUrl: string;
  installationId: number;
  cacheDir: string;
  /** The served bundle's revision, read over HTTP (/v1/bundle). */
  servedRevision(): Promise<string | undefined>;
  close(): Promise<void>;
  /** The end of a test: throws the stand-in's violations, and closes everything either way. */
  finish(): Promise<void>;
}

export interface HarnessOptions {
  /** EGRESSCTL_POLICY_REPOSITORY; null leaves it unset (detection by content). */
  policyRepository?: string | null;
  octokit?: ClientTuning;
  files?: Record<string, string>;
  /** More App settings (EGRESSCTL_SYNC_RETRY_SECONDS, ...). */
  env?: NodeJS.ProcessEnv;
}

/**
 * The environment an operator gives the App to talk to the stand-in: its credentials, GHE_HOST
 * (the stand-in is shaped like GitHub Enterprise Server) and where to fetch repositories from.
 */
export function appEnvironment(standin: GitHubStandin): NodeJS.ProcessEnv {
  return {
    APP_ID: String(standin.app.id),
    PRIVATE_KEY: standin.app.privateKey,
    WEBHOOK_SECRET: standin.webhookSecret,
    GHE_HOST: new URL(standin.url).host,
    GHE_PROTOCOL: 'http',
    EGRESSCTL_GIT_URL_TEMPLATE: `${standin.url}/git/{owner}/{repo}.git`,
  };
}

/** The permissions app.yml asks for. */
export async function manifestPermissions(): Promise<Record<string, 'read' | 'write'>> {
  const manifest = parseYaml(await readFile(path.join(repoRoot, 'app.yml'), 'utf8')) as { default_permissions: Record<string, 'read' | 'write'> };
  return manifest.default_permissions;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const standin = await startGitHubStandin();
  const installation = standin.createInstallation({ account: 'acme', permissions: await manifestPermissions() });
  await standin.createRepository(POLICY_REPO, { files: options.files ?? POLICY_FILES });
  const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'egressctl-app-test-'));
  const signKey = parsePrivateKey(generateKeyPair().privateKeyPem);
  const logger = pino({ level: process.env.EGRESSCTL_TEST_LOG ?? 'silent' });
  const env: NodeJS.ProcessEnv = { ...appEnvironment(standin), EGRESSCTL_APP_CACHE_DIR: cacheDir };
  if (options.policyRepository !== null) env.EGRESSCTL_POLICY_REPOSITORY = options.policyRepository ?? POLICY_REPO;
  Object.assign(env, options.env);
  const mount = await createWebhookHandler(env, {
    logger,
    signKeys: [signKey],
    // Throttling is on in production and in the throttling test; here it would space writes 1 s apart.
    octokit: options.octokit ?? { throttleEnabled: false, serverErrorRetryBaseMs: 5 },
  });
  if (!mount) throw new Error('createWebhookHandler returned nothing although the credentials are set');
  const server = await startServer({
    source: null,
    host: '127.0.0.1',
    port: 0,
    signKeys: [signKey],
    webhookHandler: mount.handler,
    apiKeys: [{ name: 'test', sha256: hashApiKey(API_KEY), cluster: 'arc-test', organizations: ['acme'] }],
    logger,
    defaultMetrics: false,
    syncReportDir: cacheDir,
  });
  mount.attach(server);
  const close = async (): Promise<void> => {
    await server.close();
    await mount.close();
    await standin.close();
    await rm(cacheDir, { recursive: true, force: true });
  };
  return {
    standin,
    server,
    mount,
    hookUrl: `${server.url}${WEBHOOK_PATH}`,
    installationId: installation.id,
    cacheDir,
    async servedRevision() {
      const response = await fetch(`${server.url}/v1/bundle`);
      if (response.status === 503) return undefined;
      return openBundle(await response.text()).bundle.revision;
    },
    close,
    async finish() {
      try {
        standin.assertNoViolations();
      } finally {
        await close();
      }
    },
  };
}

/** A stand-in with the app installed on acme (app.yml's permissions) and the policy repository created. */
export async function startPolicyStandin(): Promise<GitHubStandin> {
  const standin = await startGitHubStandin();
  standin.createInstallation({ account: 'acme', permissions: await manifestPermissions() });
  await standin.createRepository(POLICY_REPO, { files: POLICY_FILES });
  return standin;
}

/** For afterEach: no request GitHub would reject, then close the stand-in and remove `work`. */
export async function closeStandin(standin: GitHubStandin | undefined, work?: string): Promise<void> {
  try {
    standin?.assertNoViolations();
  } finally {
    await standin?.close();
    if (work) await rm(work, { recursive: true, force: true });
  }
}

/** What perTestApp gives each test. */
export interface AppScratch {
  readonly standin: GitHubStandin;
  /** The App's cache directory (git mirrors, the sync report). */
  readonly cacheDir: string;
  /**
   * The App loaded into Probot, as `probot run` loads it, configured from `env` over the policy
   * repository, the cache directory and the stand-in's git URLs; closed after the test.
   */
  load(env?: NodeJS.ProcessEnv): Promise<EgressctlApp>;
}

/** Per test: a fresh stand-in and cache directory, for tests that drive the App without a server (the schedule). */
export function perTestApp(prefix: string): AppScratch {
  let standin: GitHubStandin | undefined;
  let cacheDir: string | undefined;
  const loaded: EgressctlApp[] = [];
  beforeEach(async () => {
    standin = await startGitHubStandin();
    cacheDir = await mkdtemp(path.join(os.tmpdir(), prefix));
  });
  afterEach(async () => {
    for (const app of loaded.splice(0)) await app.close();
    try {
      standin?.assertNoViolations();
    } finally {
      await standin?.close();
      if (cacheDir) await rm(cacheDir, { recursive: true, force: true });
    }
  });
  const started = (): { standin: GitHubStandin; cacheDir: string } => {
    if (!standin || !cacheDir) throw new Error('perTestApp: use it inside a test');
    return { standin, cacheDir };
  };
  return {
    get standin() {
      return started().standin;
    },
    get cacheDir() {
      return started().cacheDir;
    },
    async load(env = {}) {
      const { standin: github, cacheDir: dir } = started();
      const config = readAppConfig({
        EGRESSCTL_POLICY_REPOSITORY: POLICY_REPO,
        EGRESSCTL_APP_CACHE_DIR: dir,
        EGRESSCTL_GIT_URL_TEMPLATE: `${github.url}/git/{owner}/{repo}.git`,
        ...env,
      });
      const app = createEgressctlApp({ config });
      loaded.push(app);
      await new Probot({ ...github.probotOptions(), logLevel: 'fatal' }).load(app.appFn);
      return app;
    },
  };
}

/** A spawned `egressctl serve` running the App (its own process: kill -9 and restarts are real). */
export interface AppProcess {
  url: string;
  hookUrl: string;
  child: import('node:child_process').ChildProcess;
  exited: Promise<number | null>;
  stderr(): string;
  /** Its log (JSON lines on stdout) so far. */
  stdout(): string;
  /** SIGKILL: nothing runs after it. */
  kill9(): Promise<void>;
  /** SIGTERM, then its exit code. */
  stop(): Promise<number | null>;
}

/**
 * `egressctl serve --state-dir DIR` with the App on the stand-in (policy repository POLICY_REPO),
 * from the TypeScript sources; `env` adds settings (EGRESSCTL_QUEUE, EGRESSCTL_BASELINE_FLUSH_SECONDS...).
 */
export async function startAppProcess(standin: GitHubStandin, stateDir: string, env: NodeJS.ProcessEnv = {}): Promise<AppProcess> {
  const { spawn } = await import('node:child_process');
  const { followServe } = await import('./serve-process.js');
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', "import('./src/cli/main.ts').then((m) => m.main(['serve', '--state-dir', process.env.TEST_STATE_DIR])).then((code) => { process.exitCode = code; })"], {
    cwd: repoRoot,
    env: {
      ...process.env,
      ...appEnvironment(standin),
      EGRESSCTL_POLICY_REPOSITORY: POLICY_REPO,
      EGRESSCTL_PORT: '0',
      EGRESSCTL_HOST: '127.0.0.1',
      EGRESSCTL_LOG_LEVEL: process.env.EGRESSCTL_TEST_LOG ?? 'warn',
      TEST_STATE_DIR: stateDir,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const followed = followServe(child, 60_000);
  const running = () => child.exitCode === null && child.signalCode === null;
  /** Its exit, at most `ms`; past that SIGKILL and an error naming what did not exit. */
  const exitWithin = async (ms: number, after: string): Promise<number | null> => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ms)));
    const outcome = await Promise.race([followed.exited, late]);
    clearTimeout(timer);
    if (outcome !== 'late') return outcome;
    child.kill('SIGKILL');
    throw new Error(`egressctl serve (pid ${child.pid}) did not exit within ${ms / 1000} s of ${after}; killed. Its stderr:\n${followed.stderr()}`);
  };
  let url: string;
  try {
    url = await followed.url;
  } catch (error) {
    // Never left running behind a start that failed or took too long.
    if (running()) child.kill('SIGKILL');
    throw error;
  }
  return {
    url,
    hookUrl: `${url}${WEBHOOK_PATH}`,
    child,
    exited: followed.exited,
    stderr: followed.stderr,
    stdout: followed.stdout,
    async kill9() {
      if (running()) child.kill('SIGKILL');
      await exitWithin(10_000, 'SIGKILL');
    },
    async stop() {
      if (running()) child.kill('SIGTERM');
      // The longest shutdown grace the tests set is seconds; a hung shutdown is reported, not waited for.
      return exitWithin(30_000, 'SIGTERM');
    },
  };
}
