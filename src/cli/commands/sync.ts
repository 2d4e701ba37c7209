/**
 * `egressctl sync --org ORG` (alias `rollout`): reconcile an organization's repositories to the
 * policy store (docs/reconciliation.md): one pull request per repository, and with
 * `delivery: variables` the Actions variables. `--dry-run` reports drift without writing.
 * `--source baselines` plans from observed baselines instead of the store (the pre-sync rollout,
 * only when asked for: baselines are evidence, not the desired state). Credentials come from the environment (GitHub App
 * or token, see github/credentials.ts).
 */
import { UsageError } from '../../util/errors.js';
import { cliGitHub } from '../../github/api-root.js';
import { clientForAccount, credentialsFromEnv } from '../../github/credentials.js';
import type { ActionSettings, RolloutMode } from '../../rollout/rollout-plan.js';
import type { RepositoryRollout } from '../../rollout/rollout.js';
import { failingJobsOf, recordSync, syncEntry } from '../../rollout/sync-report.js';
import { runSync } from '../../rollout/sync.js';
import { parseCommandArgs, progressBar, writeJson, type CliIo, type Command } from '../io.js';
import { loadValidRepository, repositoryDir, storeRevision } from '../repository.js';

const usageOf = (name: string) =>
  `egressctl ${name} --org ORG [--repos R1,R2 | --all] [--dry-run] [--json] [--source store|baselines] [--state-dir DIR] [--mode inline|action] [--force] [-C POLICY_REPO_DIR] ` +
  '[--action OWNER/REPO/actions/harden@REF --server URL [--audience AUD] [--on-error audit|block|fail]] ' +
  '[--concurrency N] [--write-interval MS] [--policy-repository OWNER/REPO]\n' +
  'credentials: APP_ID + PRIVATE_KEY (or PRIVATE_KEY_PATH) for the GitHub App, or GITHUB_TOKEN; the API follows github-url in egressctl.yml (GITHUB_API_URL overrides it); ' +
  'EGRESSCTL_STATE_DIR (or --state-dir) keeps the last sync report for the console';
const usage = `${usageOf('sync')}\n(egressctl rollout is an alias)`;

// Option tables of harden and sync look alike (`duplicates` pairs them by shape) but hold different flags: kept.
const OPTIONS = {
  org: { type: 'string' },
  repos: { type: 'string' },
  all: { type: 'boolean' },
  mode: { type: 'string' },
  'dry-run': { type: 'boolean' },
  force: { type: 'boolean' },
  C: { type: 'string', short: 'C' },
  action: { type: 'string' },
  server: { type: 'string' },
  audience: { type: 'string' },
  'on-error': { type: 'string' },
  concurrency: { type: 'string' },
  'write-interval': { type: 'string' },
  'policy-repository': { type: 'string' },
  json: { type: 'boolean' },
  source: { type: 'string' },
  'state-dir': { type: 'string' },
} as const;

function usageError(message: string): UsageError {
  return new UsageError(`${message}\nusage: ${usage}`);
}

function positiveInteger(flag: string, text: string | undefined, fallback: number, min = 1): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw usageError(`--${flag} must be an integer >= ${min}, not "${text}"`);
  return value;
}

type Values = ReturnType<typeof parseCommandArgs<typeof OPTIONS>>['values'];

function actionSettings(values: Values, mode: RolloutMode): ActionSettings | undefined {
  if (mode !== 'action') {
    for (const flag of ['action', 'server', 'audience', 'on-error'] as const) {
      if (values[flag] !== undefined) throw usageError(`--${flag} goes with --mode action`);
    }
    return undefined;
  }
  if (values.action === undefined || !/^[^/\s]+\/[^/\s]+\/actions\/harden@\S+$/.test(values.action)) {
    throw usageError('--mode action needs --action OWNER/REPO/actions/harden@REF (this project\'s composite action, pinned)');
  }
  if (values.server === undefined) throw usageError('--mode action needs --server URL (the egressctl server the action asks)');
  let origin: string;
  try {
    origin = new URL(values.server).origin;
  } catch {
    throw usageError(`--server must be a URL, not "${values.server}"`);
  }
  const onError = values['on-error'];
  if (onError !== undefined && onError !== 'audit' && onError !== 'block' && onError !== 'fail') throw usageError(`--on-error must be audit, block or fail, not "${onError}"`);
  return { uses: values.action, server: values.server, audience: values.audience ?? origin, ...(onError ? { onError } : {}) };
}

function line(result: RepositoryRollout): string {
  const pull = result.pullRequest ? ` #${result.pullRequest.number}` : '';
  return `${result.repository}: ${result.status}${pull}: ${result.message} (${result.requests} request${result.requests === 1 ? '' : 's'})\n`;
}

export function syncCommand(name: 'sync' | 'rollout'): Command {
  return {
    name,
    summary:
      name === 'sync'
        ? 'reconcile repositories to the policy store: one pull request each, Actions variables with delivery: variables; --dry-run reports drift'
        : 'alias of sync (the store decides; --source baselines plans from observed baselines instead)',
    usage: usageOf(name),
    async run(args: string[], io: CliIo): Promise<number> {
      const { values, positionals } = parseCommandArgs(args, OPTIONS, usage);
      // The store is the desired state for both names; baselines are evidence unless asked for explicitly.
      const source = values.source ?? 'store';
      if (source !== 'store' && source !== 'baselines') throw usageError(`--source must be store or baselines, not "${values.source}"`);
      if (positionals.length > 0) throw usageError(`unexpected argument "${positionals[0]}"`);
      const org = values.org?.trim();
      if (!org || !/^[A-Za-z0-9._-]+$/.test(org)) throw usageError('--org ORG is required');
      if (values.all && values.repos !== undefined) throw usageError('--repos and --all exclude each other');
      if (!values.all && values.repos === undefined) throw usageError('name the repositories (--repos R1,R2) or pass --all');
      const repositories = values.repos?.split(',').map((name) => name.trim()).filter((name) => name !== '');
      if (repositories?.length === 0) throw usageError('--repos names no repository');
      for (const name of repositories ?? []) {
        const [owner, repo, ...rest] = name.includes('/') ? name.split('/') : [org, name];
        if (!owner || !repo || rest.length > 0 || owner.toLowerCase() !== org.toLowerCase()) throw usageError(`--repos: "${name}" is not a repository of ${org}`);
      }
      const mode = (values.mode ?? 'inline') as RolloutMode;
      if (mode !== 'inline' && mode !== 'action') throw usageError(`--mode must be inline or action, not "${values.mode}"`);
      const action = actionSettings(values, mode);
      const concurrency = positiveInteger('concurrency', values.concurrency, 4);
      const writeSpacingMs = positiveInteger('write-interval', values['write-interval'], 1000, 0);

      const { repository, snapshot } = await loadValidRepository(io, repositoryDir(io, values.C));
      // The store commit the firewall file's header names (docs/github-firewall.md), saying when the
      // work tree differs from it; none outside git.
      const revision = (await storeRevision(io, repositoryDir(io, values.C), snapshot, 'sync')).label;
      const managed = repository.settings.organizations;
      if (managed.length > 0 && !managed.includes(org.toLowerCase())) {
        throw usageError(`${org} is not among the organizations egressctl.yml manages (${managed.join(', ')})`);
      }

      const credentials = await credentialsFromEnv(io.env);
      const github = cliGitHub(io.env, repository.settings.githubUrl);
      const { client } = await clientForAccount(credentials, org, {
        baseUrl: github.apiRoot,
        writeSpacingMs,
        notificationSpacingMs: Math.max(writeSpacingMs, writeSpacingMs * 3),
        // A batch job may wait out an hourly limit that resets soon; a webhook may not.
        secondaryLimitRetries: 4,
        primaryLimitRetries: 4,
        primaryLimitMaxWaitSeconds: 15 * 60,
        onLimit: (event) => {
          if (!values.json) io.stderr(`egressctl: GitHub ${event.kind === 'secondary' ? 'secondary ' : ''}rate limit on ${event.method} ${event.url}: ${event.retrying ? `waiting ${event.retryAfter} s` : 'giving up'}\n`);
        },
      });

      const abort = new AbortController();
      const onInterrupt = () => {
        io.stderr('egressctl: interrupted: finishing the repositories in flight (run again to continue)\n');
        abort.abort();
      };
      process.once('SIGINT', onInterrupt);
      const tty = io.stderrIsTty === true && !io.env['CI'];
      let done = 0;
      let synced;
      try {
        synced = await runSync({
          client,
          organization: org,
          policy: repository,
          ...(repositories ? { repositories } : {}),
          listing: credentials.kind === 'app' ? 'installation' : 'organization',
          mode,
          ...(action ? { action } : {}),
          ...(source === 'baselines' ? { fromBaselines: true } : {}),
          dryRun: values['dry-run'] === true,
          force: values.force === true,
          concurrency,
          ...(values['policy-repository'] ? { policyRepository: values['policy-repository'] } : {}),
          ...(revision ? { revision } : {}),
          signal: abort.signal,
          onRepository: (result) => {
            done++;
            if (values.json) return;
            if (tty) io.stderr(progressBar(done, repositories?.length, result.repository));
            else io.stderr(line(result));
            if (result.diffs) for (const diff of result.diffs) io.stdout(`${diff}\n`);
          },
        });
      } finally {
        process.removeListener('SIGINT', onInterrupt);
      }
      if (tty && !values.json) io.stderr('\n');
      const report = synced.rollout;
      const stateDir = values['state-dir'] ?? io.env['EGRESSCTL_STATE_DIR'];
      if (stateDir) await recordSync(stateDir, synced.report);

      const counts = new Map<string, number>();
      for (const result of report.repositories) counts.set(result.status, (counts.get(result.status) ?? 0) + 1);
      // Fail closed (docs/architecture.md#coverage): a job the run finds getting less than the store fails the command, in a dry run too.
      const failsOpen = failingJobsOf(synced.report);
      if (values.json) {
        writeJson(io, {
          organization: report.organization,
          requests: synced.requests,
          repositories: report.repositories.map((result) => {
            const entry = syncEntry(result);
            // The sync contract (status, pr, files, reasons), plus the rollout's own detail.
            return {
              repository: entry.repository,
              status: source === 'store' ? entry.status : result.status,
              pr: entry.pr,
              files: source === 'store' ? entry.files : result.files.map((file) => ({ path: file.path, status: file.status, problems: file.problems, jobs: file.jobs })),
              reasons: entry.reasons,
              rollout: result.status,
              message: result.message,
              pullRequest: result.pullRequest ?? null,
              requests: result.requests,
              ...(source === 'store' ? { jobs: result.files.map((file) => ({ path: file.path, status: file.status, problems: file.problems, jobs: file.jobs })) } : {}),
              ...(result.diffs ? { diffs: result.diffs } : {}),
            };
          }),
          ...(synced.report.variables.length > 0 ? { variables: synced.report.variables } : {}),
          // The publish check's words (`reason`) with the row they come from.
          failsOpen: failsOpen.map(({ job, failure }) => ({ repository: job.repository, file: job.file, job: job.job, line: job.line, failure: job.failure, ...(job.failureCause ? { cause: job.failureCause } : {}), reason: failure.reason })),
        });
      } else {
        const summary = [...counts].sort(([a], [b]) => (a < b ? -1 : 1)).map(([status, count]) => `${count} ${status}`).join(', ');
        for (const variable of synced.report.variables) {
          if (variable.status !== 'unchanged') io.stderr(`variable ${variable.level === 'organization' ? `org ${variable.target}` : variable.target} ${variable.name}: ${variable.status}${variable.reason ? `: ${variable.reason}` : ''}\n`);
        }
        for (const { failure } of failsOpen) io.stderr(`${failure.target}: ${failure.reason}\n`);
        const failing = failsOpen.length > 0 ? `; ${failsOpen.length} job${failsOpen.length === 1 ? ' fails' : 's fail'} open` : '';
        io.stderr(`${report.repositories.length} repositor${report.repositories.length === 1 ? 'y' : 'ies'}: ${summary || 'none'}; ${synced.requests} GitHub API requests${failing}${abort.signal.aborted ? ' (interrupted)' : ''}\n`);
      }
      return (counts.get('failed') ?? 0) > 0 || failsOpen.length > 0 || abort.signal.aborted ? 1 : 0;
    },
  };
}

export const command: Command = syncCommand('sync');
