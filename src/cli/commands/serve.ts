/**
 * `egressctl serve`: serve the effective policy to runners (docs/architecture.md#server). Every flag is also an
 * environment variable (`--oidc-audience` = EGRESSCTL_OIDC_AUDIENCE; lists comma-separated); a
 * flag wins over its variable. With no settings it serves the current directory's policy
 * repository (HEAD of the checked-out branch) on 127.0.0.1:8080.
 *
 * `egressctl serve --hash-api-key < key.txt` prints the SHA-256 to put in the --api-keys file.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { mountGitHubApp, openSharedBundles, openSharedSyncState } from '../../app/server-mount.js';
import { loadPrivateKey, loadPublicKeys } from '../../bundle/keys.js';
import { envName, envSetting } from '../../util/env-names.js';
import { UsageError } from '../../util/errors.js';
import { checkNewApiKey, hashApiKey, loadApiKeyFile } from '../../server/auth/api-keys.js';
import { DEFAULT_OIDC_MAX_AGE_SECONDS, GITHUB_OIDC_ISSUER } from '../../server/auth/oidc.js';
import { gitHistoryProvider } from '../../server/history.js';
import { appCacheDir } from '../../app/config.js';
import { createConsoleHandler } from '../../server/console/index.js';
import { DEFAULT_HOST, DEFAULT_PORT } from '../../server/api.js';
import { startServer, type ReadAccess, type RunningServer, type StartServerOptions } from '../../server/server.js';
import { createGitHubOAuth } from '../../server/auth/github-oauth.js';
import { parseCommandArgs, type CliIo, type Command } from '../io.js';
import { serverGitHub, type GitHubLocation } from '../../github/api-root.js';
import { DiagnosticSink } from '../../policy/diagnostics.js';
import { DEFAULT_SETTINGS, SETTINGS_FILE } from '../../policy/model.js';
import { parseSettingsFile } from '../../policy/settings-file.js';
import type { SyncStateReader } from '../../rollout/sync-state.js';

const USAGE = [
  'egressctl serve [--source DIR|FILE|URL] [--host HOST] [--port N] [--state-dir DIR]',
  '                [--public-key FILE ...] [--sign-key FILE ...] [--allow-rewind]',
  '                [--oidc-audience AUD] [--oidc-issuer URL] [--oidc-jwks-url URL] [--orgs ORG,...]',
  '                [--oidc-max-age SECONDS]   (longest OIDC token lifetime accepted; default 3600)',
  '                [--api-keys FILE] [--log-level LEVEL] [--shutdown-grace SECONDS]',
  '                [--read-access public|api-key|github] [--public-url URL] [--team ORG/SLUG]',
  '                [--answer-ttl SECONDS]   (signed /v1/policy answers; default 86400)',
  '                [--queue redis://HOST:PORT] [--baseline-flush-seconds N] [--sync-retry-seconds N]',
  '',
  'With the GitHub App: its work is journaled in --state-dir before a webhook is answered, or in',
  'Redis (--queue) when several replicas share it; baselines are committed at most every',
  '--baseline-flush-seconds (300); a failed sync is retried after --sync-retry-seconds (60), doubling.',
  '',
  '--read-access github signs people in to the console with the GitHub App\'s OAuth: it needs',
  'GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET (the App\'s), --public-url, and --orgs or --team.',
  'A replica (--source https://.../v1/bundle) of such a server sends EGRESSCTL_UPSTREAM_API_KEY.',
  '       egressctl serve --hash-api-key < key.txt',
  '',
  'Each flag can be set by its EGRESSCTL_* environment variable (EGRESSCTL_PORT, EGRESSCTL_OIDC_AUDIENCE, ...).',
].join('\n');

const OPTIONS = {
  source: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  'state-dir': { type: 'string' },
  'public-key': { type: 'string', multiple: true },
  'sign-key': { type: 'string', multiple: true },
  'oidc-issuer': { type: 'string' },
  'oidc-audience': { type: 'string' },
  'oidc-jwks-url': { type: 'string' },
  'oidc-max-age': { type: 'string' },
  orgs: { type: 'string' },
  'api-keys': { type: 'string' },
  'allow-rewind': { type: 'boolean' },
  'log-level': { type: 'string' },
  'hash-api-key': { type: 'boolean' },
  'shutdown-grace': { type: 'string' },
  'read-access': { type: 'string' },
  'public-url': { type: 'string' },
  team: { type: 'string' },
  'answer-ttl': { type: 'string' },
  queue: { type: 'string' },
  'baseline-flush-seconds': { type: 'string' },
  'sync-retry-seconds': { type: 'string' },
} as const;

/** Flags of the GitHub App's own settings (app/config.ts reads them from EGRESSCTL_<FLAG>). */
const APP_FLAGS = ['queue', 'baseline-flush-seconds', 'sync-retry-seconds'] as const;

type FlagName = keyof typeof OPTIONS;

export const command: Command = {
  name: 'serve',
  summary: 'serve effective policies and signed bundles to runners (HTTP)',
  usage: USAGE,
  async run(args: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs(args, OPTIONS, USAGE);
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"\nusage: ${USAGE}`);
    if (values['hash-api-key']) return hashKeyFromStdin(io);

    const github = await gitHubOfServe(io, setting(values, io, 'source'));
    const graceText = setting(values, io, 'shutdown-grace') ?? '10';
    if (!/^\d{1,3}$/.test(graceText) || Number(graceText) < 1) throw new UsageError(`--shutdown-grace must be 1..999 seconds, not "${graceText}"`);
    const graceMs = Number(graceText) * 1000;
    // Aborts the App's GitHub calls at shutdown: an unreachable GitHub must not hold the exit.
    const shutdown = new AbortController();
    // The App reads its settings from the environment; a flag given here wins over its variable.
    const appEnv: NodeJS.ProcessEnv = { ...io.env };
    for (const flag of APP_FLAGS) if (typeof values[flag] === 'string') appEnv[envName(flag)] = values[flag];
    // Several replicas on Redis: the App writes, and /sync and the metrics read, the state they share.
    const syncState = await openSharedSyncState(appEnv);
    let app: Awaited<ReturnType<typeof mountGitHubApp>>;
    let options: StartServerOptions;
    let running: RunningServer;
    let peers: Awaited<ReturnType<typeof openSharedBundles>> = undefined;
    try {
      options = await serverOptions(values, io, github, syncState);
      // ... and the bundle one of them published (a push reaches one replica); the server closes it.
      peers = await openSharedBundles(appEnv);
      if (peers) options.peers = peers;
      app = await mountGitHubApp(appEnv, options, { cwd: io.cwd, sourceGiven: setting(values, io, 'source') !== undefined, signal: shutdown.signal, apiRoot: github.apiRoot, ...(syncState ? { syncState } : {}) });
      running = await startServer(options);
    } catch (error) {
      // An open Redis connection would keep the process from exiting with the error.
      await syncState?.close();
      await peers?.close();
      throw error;
    }
    app?.attach(running);
    // Listen for signals before the banner says where to look: whoever reads it may signal at once
    // (a SIGTERM right after it otherwise ended the process without its clean shutdown).
    const signalled = untilSignal(io);
    io.stderr(startupText(running, options, app ? (io.env.APP_ID ?? '').trim() : undefined));
    await signalled;
    io.stderr(`egressctl serve: shutting down (work in flight gets ${graceMs / 1000} s; then GitHub calls are aborted and what is left stays journaled)\n`);
    // Half the grace to finish work and commit pending baselines; then GitHub calls still hanging are aborted.
    const abort = setTimeout(() => shutdown.abort(), graceMs / 2);
    abort.unref();
    // The grace period is a bound, not a hope: whatever still runs after it is abandoned (the journal has it).
    const deadline = setTimeout(() => {
      io.stderr('egressctl serve: grace period over; exiting with work in flight (journaled: the next start picks it up)\n');
      process.exit(0);
    }, graceMs);
    deadline.unref();
    await running.close();
    await app?.close(graceMs * 0.8);
    await syncState?.close();
    clearTimeout(abort);
    clearTimeout(deadline);
    io.stderr('egressctl serve: stopped\n');
    return 0;
  },
};

type Values = { [K in FlagName]?: (typeof OPTIONS)[K] extends { multiple: true } ? string[] : (typeof OPTIONS)[K] extends { type: 'boolean' } ? boolean : string };

/** Flag, else EGRESSCTL_<FLAG> from the environment, else undefined. */
function setting(values: Values, io: CliIo, flag: FlagName): string | undefined {
  const value = values[flag];
  if (typeof value === 'string') return value;
  const fromEnv = envSetting(io.env, flag);
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
}

function listSetting(values: Values, io: CliIo, flag: FlagName): string[] {
  const value = values[flag];
  if (Array.isArray(value)) return value;
  const text = setting(values, io, flag);
  return text === undefined ? [] : text.split(',').map((item) => item.trim()).filter(Boolean);
}

function booleanSetting(values: Values, io: CliIo, flag: FlagName): boolean {
  if (values[flag] === true) return true;
  const text = envSetting(io.env, flag)?.trim().toLowerCase();
  if (text === undefined || text === '' || text === '0' || text === 'false' || text === 'no') return false;
  if (text === '1' || text === 'true' || text === 'yes') return true;
  throw new UsageError(`${envName(flag)}="${text}": expected true or false`);
}

/**
 * Which GitHub this server and its App talk to: `github-url` in the served policy repository's
 * egressctl.yml (a local source; the App must reach GitHub before it could read a remote one),
 * else GHE_HOST, else github.com (docs/github-app.md, "GitHub Enterprise Server"). A broken
 * settings file is left to the server's validation, which reports it with its position.
 */
async function gitHubOfServe(io: CliIo, source: string | undefined): Promise<GitHubLocation> {
  let configured: string | undefined;
  if (source === undefined || !/^https?:\/\//i.test(source)) {
    const text = await readFile(path.join(path.resolve(io.cwd, source ?? '.'), SETTINGS_FILE), 'utf8').catch(() => undefined);
    if (text !== undefined) {
      const sink = new DiagnosticSink();
      const settings = parseSettingsFile(SETTINGS_FILE, text, sink);
      if (sink.items.every((item) => item.severity !== 'error') && settings.githubUrl !== DEFAULT_SETTINGS.githubUrl) configured = settings.githubUrl;
    }
  }
  return serverGitHub(io.env, configured);
}

async function serverOptions(values: Values, io: CliIo, github: GitHubLocation, syncState: SyncStateReader | undefined): Promise<StartServerOptions> {
  const resolvePath = (file: string): string => path.resolve(io.cwd, file);
  const portText = setting(values, io, 'port');
  let port = DEFAULT_PORT;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw new UsageError(`--port must be 0..65535, not "${portText}"`);
    port = Number(portText);
  }
  const logLevel = setting(values, io, 'log-level') ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new UsageError(`--log-level must be one of fatal, error, warn, info, debug, trace, silent; not "${logLevel}"`);
  }
  const publicKeyFiles = listSetting(values, io, 'public-key').map(resolvePath);
  const signKeyFiles = listSetting(values, io, 'sign-key').map(resolvePath);
  const apiKeyFile = setting(values, io, 'api-keys');
  const issuer = setting(values, io, 'oidc-issuer') ?? GITHUB_OIDC_ISSUER;
  const audience = setting(values, io, 'oidc-audience');
  const jwksUrl = setting(values, io, 'oidc-jwks-url');
  for (const [flag, url] of [['--oidc-issuer', issuer], ['--oidc-jwks-url', jwksUrl]] as const) {
    if (url !== undefined && !/^https?:\/\/[^\s]+$/.test(url)) throw new UsageError(`${flag} must be an http(s) URL, not "${url}"`);
  }
  const maxAgeText = setting(values, io, 'oidc-max-age');
  let maxLifetimeSeconds: number | undefined;
  if (maxAgeText !== undefined) {
    // A day at most: GitHub's Actions tokens live minutes; a longer bound only widens replay.
    if (!/^\d{1,5}$/.test(maxAgeText.trim()) || Number(maxAgeText) < 60 || Number(maxAgeText) > 86400) {
      throw new UsageError(`--oidc-max-age must be 60..86400 seconds (the longest OIDC token lifetime accepted; default ${DEFAULT_OIDC_MAX_AGE_SECONDS}), not "${maxAgeText}"`);
    }
    maxLifetimeSeconds = Number(maxAgeText);
  }
  const source = setting(values, io, 'source');
  const stateDir = setting(values, io, 'state-dir');

  const logger = pino(
    { name: 'egressctl', level: logLevel, redact: { paths: ['req.headers.authorization', 'headers.authorization'], remove: true } },
    { write: (line: string) => io.stdout(line) },
  );
  // The sync report: where the App mounted in this server keeps it, or `egressctl sync --state-dir` (EGRESSCTL_STATE_DIR).
  const syncReportDir = envSetting(io.env, 'state-dir') ? path.resolve(io.cwd, envSetting(io.env, 'state-dir') ?? '') : appCacheDir(io.env, stateDir ? { cacheDir: path.join(path.resolve(io.cwd, stateDir), 'app-git') } : {});
  const options: StartServerOptions = {
    cwd: io.cwd,
    host: setting(values, io, 'host') ?? DEFAULT_HOST,
    port,
    publicKeys: publicKeyFiles.length > 0 ? await loadPublicKeys(publicKeyFiles) : [],
    signKeys: await Promise.all(signKeyFiles.map((file) => loadPrivateKey(file))),
    oidc: {
      issuer,
      ...(audience === undefined ? {} : { audience }),
      ...(jwksUrl === undefined ? {} : { jwksUrl }),
      ...(maxLifetimeSeconds === undefined ? {} : { maxLifetimeSeconds }),
    },
    organizations: listSetting(values, io, 'orgs').map((org) => org.toLowerCase()),
    apiKeys: apiKeyFile === undefined ? [] : await loadApiKeyFile(resolvePath(apiKeyFile)),
    allowRewind: booleanSetting(values, io, 'allow-rewind'),
    logger,
    syncReportDir,
    ...(syncState ? { syncState } : {}),
    consoleHandler: createConsoleHandler({
      policyRepository: envSetting(io.env, 'policy-repository'),
      // Links follow the GitHub the server talks to; without a setting, the served egressctl.yml's.
      ...(github.from === 'default' ? {} : { githubUrl: github.githubUrl }),
      syncReportDir,
      syncState,
    }),
  };
  if (source !== undefined) options.source = source;
  if (stateDir !== undefined) options.stateDir = resolvePath(stateDir);
  options.readAccess = readAccessSetting(values, io, options, logger, github);
  const ttlText = setting(values, io, 'answer-ttl');
  if (ttlText !== undefined) {
    if (!/^\d{1,7}$/.test(ttlText) || Number(ttlText) < 300 || Number(ttlText) > 7 * 86400) throw new UsageError(`--answer-ttl must be 300..604800 seconds, not "${ttlText}"`);
    options.answerTtlSeconds = Number(ttlText);
  }
  // A replica of a server whose reading is not public presents a key (never on the command line).
  const upstreamKey = envSetting(io.env, 'upstream-api-key')?.trim();
  if (upstreamKey) options.upstreamApiKey = upstreamKey;
  const history = source !== undefined && /^https?:\/\//i.test(source) ? undefined : await gitHistoryProvider(path.resolve(io.cwd, source ?? '.'));
  if (history) options.historyProvider = history;
  if (options.publicKeys?.length === 0 && source !== undefined && /^https?:\/\//i.test(source)) {
    logger.warn('no --public-key: bundles from the upstream are checked for schema and digest only, not for a signature');
  }
  return options;
}

function readAccessSetting(values: Values, io: CliIo, options: StartServerOptions, logger: Logger, github: GitHubLocation): ReadAccess {
  const mode = setting(values, io, 'read-access') ?? 'public';
  if (mode === 'public') return { mode };
  if (mode === 'api-key') {
    if ((options.apiKeys?.length ?? 0) === 0) throw new UsageError('--read-access api-key needs --api-keys FILE (its keys admit readers)');
    return { mode };
  }
  if (mode !== 'github') throw new UsageError(`--read-access must be public, api-key or github, not "${mode}"`);
  const clientId = io.env.GITHUB_CLIENT_ID?.trim();
  const clientSecret = io.env.GITHUB_CLIENT_SECRET?.trim();
  if (!clientId || !clientSecret) throw new UsageError('--read-access github needs GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET (the GitHub App\'s OAuth credentials)');
  const publicUrl = setting(values, io, 'public-url');
  if (!publicUrl || !/^https?:\/\/[^\s/]+(\/[^\s]*)?$/.test(publicUrl)) {
    throw new UsageError('--read-access github needs --public-url URL (the address browsers use; the sign-in callback is built from it)');
  }
  const team = setting(values, io, 'team');
  if (team !== undefined && !/^[A-Za-z0-9][A-Za-z0-9-]*\/[A-Za-z0-9._-]+$/.test(team)) throw new UsageError(`--team must be ORG/TEAM-SLUG, not "${team}"`);
  const organizations = options.organizations ?? [];
  if (!team && organizations.length === 0) throw new UsageError('--read-access github needs --orgs ORG,... (whose members are admitted) or --team ORG/SLUG');
  const sessionSecret = envSetting(io.env, 'session-secret')?.trim();
  if (sessionSecret !== undefined && sessionSecret !== '' && sessionSecret.length < 32) throw new UsageError('EGRESSCTL_SESSION_SECRET must be at least 32 characters');
  const oauth = createGitHubOAuth({
    clientId,
    clientSecret,
    publicUrl,
    organizations,
    ...(team ? { team } : {}),
    webUrl: github.githubUrl,
    apiUrl: github.apiRoot,
    ...(sessionSecret ? { sessionSecret: Buffer.from(sessionSecret, 'utf8') } : {}),
    logger,
  });
  return { mode, oauth };
}

function startupText(running: RunningServer, options: StartServerOptions, appId: string | undefined): string {
  const { url } = running;
  const served = running.state.bundle;
  const source = running.state.source;
  const lines = [
    `egressctl serve: listening on ${url}`,
    `  source:   ${describeSource(source.kind, source.location)}`,
    served
      ? `  serving:  revision ${served.bundle.revision} (committed ${served.bundle.committedAt}), ${Object.keys(served.bundle.policies).length} policies`
      : `  serving:  nothing yet (${running.state.degraded?.message ?? source.lastError?.message ?? 'waiting for the source'})`,
    `  console:  ${url}/   (policies, history with diffs, which policy applies, baselines)`,
    readAccessLine(options),
    appId !== undefined
      ? `  app:      GitHub App enabled (APP_ID ${appId}): webhooks at ${url}/api/github/webhooks`
      : '  app:      GitHub App not enabled (set APP_ID, PRIVATE_KEY or PRIVATE_KEY_PATH, and WEBHOOK_SECRET to enable it)',
    ...(options.peers ? [`  replicas: what any replica publishes is shared through ${options.peers.description} and served by all`] : []),
    `  look at:  ${url}/readyz   ${url}/v1/bundle   ${url}/v1/history   ${url}/metrics`,
    `  try:      curl -s ${url}/readyz`,
  ];
  if ((options.apiKeys?.length ?? 0) > 0) {
    lines.push(`            curl -s -H "Authorization: ApiKey $KEY" '${url}/v1/policy?repository=OWNER/REPO&workflow=.github/workflows/ci.yml'`);
  } else {
    lines.push('            (/v1/policy needs --oidc-audience for runners\' OIDC tokens or --api-keys FILE for hooks;');
    lines.push('             `egressctl resolve --repository OWNER/REPO` shows the same answer locally)');
  }
  if (!options.oidc?.audience) lines.push('  note:     no --oidc-audience: Bearer tokens are refused');
  lines.push('  stop:     Ctrl-C (SIGINT) or SIGTERM', '');
  return lines.join('\n');
}

function readAccessLine(options: StartServerOptions): string {
  const mode = options.readAccess?.mode ?? 'public';
  if (mode === 'api-key') return '  read:     bundle, history and console need Authorization: ApiKey <key> (--read-access api-key)';
  if (mode === 'github') return '  read:     bundle, history and console need a GitHub sign-in (/auth/login) or an API key (--read-access github)';
  const loopback = /^(127\.|::1$|\[::1\]$|localhost$)/.test(options.host ?? DEFAULT_HOST);
  return loopback
    ? '  read:     public (anyone who reaches this loopback address reads bundle, history and console; production must not be public: --read-access api-key|github)'
    : '  read:     PUBLIC on a non-loopback address: anyone who reaches it reads bundle, history (authors\' e-mail) and console; use --read-access api-key|github';
}

function describeSource(kind: string, location: string): string {
  switch (kind) {
    case 'git':
      return `git work tree ${location} (head of the checked-out branch; new commits are picked up)`;
    case 'worktree':
      return `directory ${location} (not a git repository: its files as they are, revision = content digest)`;
    case 'file':
      return `bundle file ${location} (reloaded on change)`;
    case 'upstream':
      return `upstream ${location} (long poll)`;
    default:
      return 'none (bundles arrive by publish)';
  }
}

/** Resolves on the first SIGTERM or SIGINT; a second one exits at once. */
function untilSignal(io: CliIo): Promise<void> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      process.once('SIGTERM', () => process.exit(143));
      process.once('SIGINT', () => process.exit(130));
      io.stderr(`egressctl serve: ${signal}\n`);
      resolve();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

async function hashKeyFromStdin(io: CliIo): Promise<number> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const key = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (key === '') throw new UsageError('--hash-api-key reads the key from stdin: egressctl serve --hash-api-key < key.txt');
  checkNewApiKey(key);
  io.stdout(`${hashApiKey(key)}\n`);
  io.stderr(
    [
      'add it to the --api-keys file (the key itself stays with the runner hook, as EGRESSCTL_API_KEY):',
      'keys:',
      '  - name: my-cluster-hook',
      `    sha256: ${hashApiKey(key)}`,
      '    cluster: my-cluster',
      '    organizations: [my-org]',
      '',
    ].join('\n'),
  );
  return 0;
}
