/**
 * `egressctl rollout --org ORG`: policy-based pull requests (DESIGN 7) in an organization's
 * repositories, from the policy repository's baselines and settings. Credentials come from the
 * environment (GitHub App or token, see rollout/github.ts).
 */
import { UsageError } from '../../util/errors.js';
import { clientForAccount, credentialsFromEnv } from '../../rollout/github.js';
import type { ActionSettings, RolloutMode } from '../../rollout/rollout-plan.js';
import { runRollout, type RepositoryRollout } from '../../rollout/rollout.js';
import { parseCommandArgs, writeJson, type CliIo, type Command } from '../io.js';
import { loadValidRepository, repositoryDir } from '../repository.js';

const usage =
  'egressctl rollout --org ORG [--repos R1,R2 | --all] [--mode inline|action] [--dry-run] [--force] [-C POLICY_REPO_DIR] ' +
  '[--action OWNER/REPO/actions/harden@REF --server URL [--audience AUD] [--on-error audit|block|fail]] ' +
  '[--concurrency N] [--write-interval MS] [--policy-repository OWNER/REPO] [--json]\n' +
  'credentials: APP_ID + PRIVATE_KEY (or PRIVATE_KEY_PATH) for the GitHub App, or GITHUB_TOKEN; GITHUB_API_URL for GitHub Enterprise Server';

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

export const command: Command = {
  name: 'rollout',
  summary: 'open or update one Harden-Runner pull request per repository, from baselines',
  usage,
  async run(args: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs(args, OPTIONS, usage);
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

    const { repository } = await loadValidRepository(io, repositoryDir(io, values.C));
    const managed = repository.settings.organizations;
    if (managed.length > 0 && !managed.includes(org.toLowerCase())) {
      throw usageError(`${org} is not among the organizations egressctl.yml manages (${managed.join(', ')})`);
    }

    const { credentials, baseUrl } = await credentialsFromEnv(io.env);
    const clientOptions = { ...(baseUrl ? { baseUrl } : {}), writeSpacingMs, notificationSpacingMs: Math.max(writeSpacingMs, writeSpacingMs * 3) };
    const { client } = await clientForAccount(credentials, org, clientOptions);

    const abort = new AbortController();
    const onInterrupt = () => {
      io.stderr('egressctl: interrupted: finishing the repositories in flight (run again to continue)\n');
      abort.abort();
    };
    process.once('SIGINT', onInterrupt);
    let report;
    try {
      report = await runRollout({
        client,
        organization: org,
        ...(repositories ? { repositories } : {}),
        listing: credentials.kind === 'app' ? 'installation' : 'organization',
        config: { mode, pin: repository.settings.hardenRunner, baselines: repository.baselines, ...(action ? { action } : {}) },
        dryRun: values['dry-run'] === true,
        force: values.force === true,
        concurrency,
        ...(values['policy-repository'] ? { policyRepository: values['policy-repository'] } : {}),
        signal: abort.signal,
        onRepository: (result) => {
          if (values.json) return;
          io.stderr(line(result));
          if (result.diffs) for (const diff of result.diffs) io.stdout(`${diff}\n`);
        },
      });
    } finally {
      process.removeListener('SIGINT', onInterrupt);
    }

    const counts = new Map<string, number>();
    for (const result of report.repositories) counts.set(result.status, (counts.get(result.status) ?? 0) + 1);
    if (values.json) {
      writeJson(io, {
        organization: report.organization,
        requests: report.requests,
        repositories: report.repositories.map((result) => ({
          repository: result.repository,
          status: result.status,
          message: result.message,
          pullRequest: result.pullRequest ?? null,
          requests: result.requests,
          files: result.files.map((file) => ({ path: file.path, status: file.status, problems: file.problems, jobs: file.jobs })),
          ...(result.diffs ? { diffs: result.diffs } : {}),
        })),
      });
    } else {
      const summary = [...counts].sort(([a], [b]) => (a < b ? -1 : 1)).map(([status, count]) => `${count} ${status}`).join(', ');
      io.stderr(`${report.repositories.length} repositor${report.repositories.length === 1 ? 'y' : 'ies'}: ${summary || 'none'}; ${report.requests} GitHub API requests${abort.signal.aborted ? ' (interrupted)' : ''}\n`);
    }
    return (counts.get('failed') ?? 0) > 0 || abort.signal.aborted ? 1 : 0;
  },
};
