/**
 * The GitHub App inside `egressctl serve`: same process, same port. When APP_ID, PRIVATE_KEY
 * (or PRIVATE_KEY_PATH) and WEBHOOK_SECRET are set, Probot's node middleware answers
 * `/api/github/webhooks` (signature checked by @octokit/webhooks before any handler runs) and
 * pushes to the policy repository's default branch are published to the server's own store.
 */
import type { KeyObject } from 'node:crypto';
import { access } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import type { Logger } from 'pino';
import { createNodeMiddleware, createProbot, type Probot } from 'probot';
import { gitHubClientClass, type ClientTuning } from '../github/client.js';
import { WEBHOOK_PATH } from '../server/api.js';
import type { BundlePeers } from '../server/peers.js';
import type { RunningServer, StartServerOptions } from '../server/server.js';
import { UsageError, messageOf } from '../util/errors.js';
import { createEgressctlApp, type EgressctlApp, type EgressctlAppOptions } from './app.js';
import { QUEUE_ENV, readAppConfig, readQueueConfig, WEBHOOK_MAX_BYTES_ENV } from './config.js';
import type { SyncStateStore } from '../rollout/sync-state.js';
import { serverPublisher, type BundlePublisher } from './publish.js';
import { createWebhookIntake, GITHUB_WEBHOOK_CAP_BYTES } from './webhook-intake.js';

export interface WebhookMountOptions {
  logger?: Logger;
  /** The server's signing keys: published bundles are signed with them. */
  signKeys?: readonly KeyObject[];
  /** Base for PRIVATE_KEY_PATH (default process.cwd()). */
  cwd?: string;
  /** The server's state directory: the git cache goes under it unless EGRESSCTL_APP_CACHE_DIR says otherwise. */
  stateDir?: string;
  octokit?: ClientTuning;
  /** The REST API root the App talks to (from `github-url`; see github/api-root.ts). Default: Probot's (GHE_HOST or github.com). */
  apiRoot?: string;
  workflowJob?: EgressctlAppOptions['workflowJob'];
  extensions?: EgressctlAppOptions['extensions'];
  /** The work queue; default: the one the settings name (EGRESSCTL_QUEUE, else the journal). */
  queue?: EgressctlAppOptions['queue'];
  /** The sync state; default: the one the settings name (sync-report.json in the cache directory, or the queue's Redis). */
  syncState?: SyncStateStore;
}

export interface WebhookMount {
  /** For StartServerOptions.webhookHandler. */
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** Bind the running server: publishing waits until this is called. */
  attach(server: Pick<RunningServer, 'publish' | 'state'>): void;
  probot: Probot;
  app: EgressctlApp;
  /** Finish or journal what the app holds within `graceMs` (work in flight, pending baselines); call after the server stopped. */
  close(graceMs?: number): Promise<void>;
}

const CREDENTIALS = ['APP_ID', 'PRIVATE_KEY or PRIVATE_KEY_PATH', 'WEBHOOK_SECRET'] as const;

/** Which of the app's credentials the environment has (all three are needed, or none). */
export function appCredentials(env: NodeJS.ProcessEnv): { present: string[]; missing: string[] } {
  const has = (name: string): boolean => (env[name] ?? '').trim() !== '';
  const found: Record<(typeof CREDENTIALS)[number], boolean> = {
    APP_ID: has('APP_ID'),
    'PRIVATE_KEY or PRIVATE_KEY_PATH': has('PRIVATE_KEY') || has('PRIVATE_KEY_PATH'),
    WEBHOOK_SECRET: has('WEBHOOK_SECRET'),
  };
  return { present: CREDENTIALS.filter((name) => found[name]), missing: CREDENTIALS.filter((name) => !found[name]) };
}

/**
 * The webhook handler when the app's credentials are set; undefined when none of them is.
 * A partial set is a usage error (a typo must not silently turn the app off).
 */
export async function createWebhookHandler(env: NodeJS.ProcessEnv, options: WebhookMountOptions = {}): Promise<WebhookMount | undefined> {
  const { present, missing } = appCredentials(env);
  if (present.length === 0) return undefined;
  if (missing.length > 0) {
    throw new UsageError(`the GitHub App needs ${CREDENTIALS.join(', ')}; missing: ${missing.join(', ')} (set all of them, or none to run without the app)`);
  }
  if (!/^\d+$/.test((env.APP_ID ?? '').trim())) throw new UsageError(`APP_ID must be the App's numeric id, not "${env.APP_ID}"`);
  const cwd = options.cwd ?? process.cwd();
  let probotEnv = env;
  if (!env.PRIVATE_KEY && env.PRIVATE_KEY_PATH) {
    const keyPath = path.resolve(cwd, env.PRIVATE_KEY_PATH);
    await access(keyPath).catch(() => {
      throw new UsageError(`PRIVATE_KEY_PATH=${env.PRIVATE_KEY_PATH}: cannot read the file`);
    });
    probotEnv = { ...env, PRIVATE_KEY_PATH: keyPath };
  }

  const config = readAppConfig(env, options.stateDir ? { cacheDir: path.join(options.stateDir, 'app-git') } : {});
  let bound: BundlePublisher | undefined;
  let bind: (publisher: BundlePublisher) => void = () => undefined;
  const attached = new Promise<BundlePublisher>((resolve) => {
    bind = resolve;
  });
  const app = createEgressctlApp({
    config,
    // A webhook can arrive before startServer() has returned: it waits for the store.
    publisher: () => bound ?? attached,
    signKeys: options.signKeys ?? [],
    ...(options.extensions ? { extensions: options.extensions } : {}),
    ...(options.workflowJob ? { workflowJob: options.workflowJob } : {}),
    ...(options.queue ? { queue: options.queue } : {}),
    ...(options.syncState ? { syncState: options.syncState } : {}),
  });

  let probot: Probot;
  try {
    probot = createProbot({
      env: probotEnv,
      overrides: {
        Octokit: gitHubClientClass(options.octokit),
        webhookPath: WEBHOOK_PATH,
        ...(options.apiRoot ? { baseUrl: options.apiRoot } : {}),
        ...(options.logger ? { log: options.logger.child({ name: 'github-app' }) } : {}),
      },
    });
  } catch (error) {
    throw new UsageError(`cannot start the GitHub App: ${messageOf(error)} (check APP_ID and PRIVATE_KEY/PRIVATE_KEY_PATH)`);
  }
  const middleware = await createNodeMiddleware(app.appFn, { probot, webhooksPath: WEBHOOK_PATH });
  const maxBytesText = env[WEBHOOK_MAX_BYTES_ENV]?.trim();
  if (maxBytesText && (!/^\d+$/.test(maxBytesText) || Number(maxBytesText) < 1024 || Number(maxBytesText) > GITHUB_WEBHOOK_CAP_BYTES)) {
    throw new UsageError(`${WEBHOOK_MAX_BYTES_ENV} must be 1024..${GITHUB_WEBHOOK_CAP_BYTES} (GitHub's own cap), not "${maxBytesText}"`);
  }
  // Size limit, signature and shape checked before Probot sees the event; see webhook-intake.ts.
  const handler = createWebhookIntake({
    secret: env.WEBHOOK_SECRET ?? '',
    receiver: probot.webhooks,
    ...(options.logger ? { logger: options.logger.child({ name: 'github-app' }) } : {}),
    ...(maxBytesText ? { maxBytes: Number(maxBytesText) } : {}),
    fallback: (req, res) => {
      void middleware(req, res, () => {
        if (res.headersSent) return;
        res.writeHead(404, { 'content-type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify({ error: { code: 'not_found', message: `POST GitHub webhooks to ${WEBHOOK_PATH}` } }));
      });
    },
  });
  return {
    handler,
    attach(server) {
      bound = serverPublisher(server);
      bind(bound);
    },
    probot,
    app,
    close: (graceMs?: number) => app.close(graceMs),
  };
}

/**
 * For `egressctl serve`: when the App's credentials are set, mount it on `options` (webhook
 * route, signing keys, logger, state directory). Without `--source`, the server then serves what
 * the app publishes and nothing else (a git source would compete with it), and has no history
 * of its own (`/v1/history` reads a work tree's git log). Call `attach` with the running server.
 */
export async function mountGitHubApp(
  env: NodeJS.ProcessEnv,
  options: StartServerOptions,
  context: { cwd: string; sourceGiven: boolean; signal?: AbortSignal; apiRoot?: string; syncState?: SyncStateStore },
): Promise<WebhookMount | undefined> {
  const mount = await createWebhookHandler(env, {
    cwd: context.cwd,
    ...(context.apiRoot ? { apiRoot: context.apiRoot } : {}),
    ...(context.signal ? { octokit: { signal: context.signal } } : {}),
    signKeys: options.signKeys ?? [],
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.stateDir ? { stateDir: options.stateDir } : {}),
    ...(context.syncState ? { syncState: context.syncState } : {}),
  });
  if (!mount) return undefined;
  options.webhookHandler = mount.handler;
  if (!context.sourceGiven) {
    options.source = null;
    delete options.historyProvider;
  }
  return mount;
}

/**
 * For `egressctl serve`: the sync state the mounted App shares with its other replicas (the
 * queue's Redis), so that this server's `/sync` page and `egressctl_sync_repositories` show every
 * replica's outcomes; undefined when the App is not mounted or keeps its queue on disk (then the
 * App writes, and the server reads, `sync-report.json` in the state directory, as before).
 */
export async function openSharedSyncState(env: NodeJS.ProcessEnv): Promise<SyncStateStore | undefined> {
  // A partial set of credentials is the mount's usage error to report, not a reason to reach Redis first.
  const { present, missing } = appCredentials(env);
  if (present.length === 0 || missing.length > 0) return undefined;
  // The directory is only a journal's; a Redis queue names no directory.
  const queue = readQueueConfig(env[QUEUE_ENV]?.trim() || undefined, '');
  if (queue.kind !== 'redis') return undefined;
  const { RedisSyncStateStore } = await import('./sync-state-redis.js');
  return RedisSyncStateStore.open({ url: queue.url });
}

/**
 * For `egressctl serve`: where the mounted App's replicas share the bundle they publish (the
 * queue's Redis), so that a push delivered to one replica is served by every one
 * (docs/github-app.md, "Durable work"); undefined with one replica (the queue on disk).
 */
export async function openSharedBundles(env: NodeJS.ProcessEnv): Promise<BundlePeers | undefined> {
  const { present, missing } = appCredentials(env);
  if (present.length === 0 || missing.length > 0) return undefined;
  const queue = readQueueConfig(env[QUEUE_ENV]?.trim() || undefined, '');
  if (queue.kind !== 'redis') return undefined;
  const { RedisBundlePeers } = await import('./shared-bundle.js');
  return RedisBundlePeers.open({ url: queue.url });
}
