/**
 * Expired exceptions (docs/architecture.md#expiring-exceptions): after a publish, one pull request
 * in the policy repository deletes the entries whose `expires` day is over. They stopped counting
 * at midnight UTC already (answers, sync); the pull request keeps the files honest. It is opened
 * once and then updated (branch rewritten from the default branch, body refreshed), like the
 * blocked-endpoints proposal; the App never merges it.
 */
import type { AppLogger, WebhookApp } from './delivery-guard.js';
import type { PublishedEvent } from './sync-on-merge.js';
import { DiagnosticSink } from '../policy/diagnostics.js';
import { planExpiredRemovals, type FileRemoval } from '../policy/expiry-edit.js';
import { parsePolicyFile } from '../policy/policy-file.js';
import { loadPolicyRepository, type PolicyRepository } from '../store/repository.js';
import type { GitHubClient } from '../github/client.js';
import { gitHubStatus, messageOf } from '../util/errors.js';

export const EXPIRED_BRANCH = 'egressctl/expired-exceptions';
export const EXPIRED_MARKER = '<!-- egressctl:expired-exceptions -->';

/** The Octokit calls this makes (Probot's installation Octokit fits). */
export interface ExpiredClient {
  rest: {
    repos: Pick<GitHubClient['rest']['repos'], 'getBranch'>;
    git: Pick<GitHubClient['rest']['git'], 'createTree' | 'createCommit' | 'createRef' | 'updateRef' | 'getRef' | 'getCommit'>;
    pulls: Pick<GitHubClient['rest']['pulls'], 'list' | 'create' | 'update'>;
  };
}

export interface ExpiredTarget {
  owner: string;
  repo: string;
  branch: string;
}

export interface ExpiredResult {
  action: 'none' | 'opened' | 'updated' | 'unchanged' | 'moved-on';
  pullRequest?: number;
  removals: FileRemoval[];
}

function validPolicyText(file: string, text: string): boolean {
  const sink = new DiagnosticSink();
  parsePolicyFile(file, text, sink);
  return !sink.hasErrors;
}

/**
 * Open or update the pull request that removes the entries of `repository` (loaded at
 * `revision`) that expired at `now`. When the branch has moved past `revision`, nothing is
 * proposed from stale texts: the next publish does it.
 */
export async function proposeExpiredRemovals(client: ExpiredClient, target: ExpiredTarget, repository: PolicyRepository, revision: string, now: Date): Promise<ExpiredResult> {
  const removals = planExpiredRemovals(repository.policies.values(), repository.files, now, validPolicyText);
  if (removals.length === 0) return { action: 'none', removals };
  const head = (await client.rest.repos.getBranch({ owner: target.owner, repo: target.repo, branch: target.branch })).data.commit;
  if (head.sha !== revision) return { action: 'moved-on', removals };

  const repo = { owner: target.owner, repo: target.repo };
  const base = await client.rest.git.getCommit({ ...repo, commit_sha: head.sha });
  const tree = removals.map((removal) => ({ path: removal.file, mode: '100644' as const, type: 'blob' as const, content: removal.text }));
  const newTree = (await client.rest.git.createTree({ ...repo, base_tree: base.data.tree.sha, tree })).data.sha;
  const title = pullRequestTitle(removals);
  const body = pullRequestBody(removals);

  let branchSha: string | undefined;
  try {
    branchSha = (await client.rest.git.getRef({ ...repo, ref: `heads/${EXPIRED_BRANCH}` })).data.object.sha;
  } catch (error) {
    if (gitHubStatus(error) !== 404) throw error;
  }
  let branchCurrent = false;
  if (branchSha !== undefined) {
    const current = (await client.rest.git.getCommit({ ...repo, commit_sha: branchSha })).data;
    branchCurrent = current.tree.sha === newTree && current.parents.length === 1 && current.parents[0]?.sha === head.sha;
  }
  if (!branchCurrent) {
    const message = `${title}\n\nProposed by egressctl: these exceptions are past their last day and no longer count anywhere.\n`;
    const commit = (await client.rest.git.createCommit({ ...repo, message, tree: newTree, parents: [head.sha] })).data.sha;
    if (branchSha === undefined) await client.rest.git.createRef({ ...repo, ref: `refs/heads/${EXPIRED_BRANCH}`, sha: commit });
    else await client.rest.git.updateRef({ ...repo, ref: `heads/${EXPIRED_BRANCH}`, sha: commit, force: true });
  }

  const { data: open } = await client.rest.pulls.list({ ...repo, state: 'open', head: `${target.owner}:${EXPIRED_BRANCH}`, per_page: 10 });
  const existing = open[0];
  if (existing) {
    if (existing.body === body && existing.title === title) return { action: branchCurrent ? 'unchanged' : 'updated', pullRequest: existing.number, removals };
    await client.rest.pulls.update({ ...repo, pull_number: existing.number, title, body });
    return { action: 'updated', pullRequest: existing.number, removals };
  }
  const { data: created } = await client.rest.pulls.create({ ...repo, head: EXPIRED_BRANCH, base: target.branch, title, body });
  return { action: 'opened', pullRequest: created.number, removals };
}

function pullRequestTitle(removals: readonly FileRemoval[]): string {
  const count = removals.reduce((sum, removal) => sum + removal.removed.length, 0);
  return `Remove ${count} expired exception${count === 1 ? '' : 's'} from ${removals.length === 1 ? `policy ${removals[0]?.policy}` : `${removals.length} policies`}`;
}

/** Plain text in table cells: no pipes, backticks or newlines from the files. */
function cell(text: string): string {
  return text.replace(/[|\r\n`]/g, ' ');
}

export function pullRequestBody(removals: readonly FileRemoval[]): string {
  const lines = [
    EXPIRED_MARKER,
    'These allowed-endpoints entries carry an `expires` date that has passed. Since the end of that day (UTC) they no longer count: the server leaves them out of its answers and sync removes them from workflows and variables. Merging deletes them from the files; if an exception is still needed, push a later `expires` date to this branch instead.',
    '',
    'egressctl opened this pull request and updates it after each publish; it never merges it.',
    '',
    '| Policy | Endpoint | Expired | Owner | Reason |',
    '|---|---|---|---|---|',
  ];
  for (const removal of removals) {
    for (const entry of removal.removed) {
      lines.push(`| \`${cell(removal.policy)}\` (\`${cell(removal.file)}\` line ${entry.line}) | \`${cell(entry.endpoint)}\` | ${entry.expires} | ${cell(entry.owner ?? '')} | ${cell(entry.reason ?? '')} |`);
    }
  }
  return `${lines.join('\n')}\n`;
}

export interface ExpiredAfterPublishDeps {
  /** `owner/repo` of the policy repository. */
  policyRepository: string;
  log?: AppLogger;
  /** The time entries are judged at (default: now). */
  now?: () => Date;
  onResult?: (result: ExpiredResult) => void;
}

/**
 * After each publish, and on each scheduled sync pass: the revision (already in the mirror) is
 * read, and the pull request is opened or updated when entries have expired. A failure is logged
 * and never undoes the publish; the next publish or pass tries again.
 */
export function expiredAfterPublish(app: WebhookApp, deps: ExpiredAfterPublishDeps): (event: PublishedEvent) => Promise<ExpiredResult | undefined> {
  const log: AppLogger = deps.log ?? app.log;
  const [owner = '', repo = ''] = deps.policyRepository.split('/');
  return async (event) => {
    try {
      const loaded = await loadPolicyRepository({ dir: event.dir, rev: event.revision });
      if (loaded.errors.length > 0) return undefined;
      const now = deps.now?.() ?? new Date();
      // Nothing expired (the usual case): no request to GitHub at all.
      if (planExpiredRemovals(loaded.value.policies.values(), loaded.value.files, now, validPolicyText).length === 0) return { action: 'none', removals: [] };
      const appOctokit = await app.auth();
      const installation = (await appOctokit.rest.apps.getRepoInstallation({ owner, repo })).data.id;
      const client: GitHubClient = await app.auth(installation);
      const result = await proposeExpiredRemovals(client, { owner, repo, branch: loaded.value.settings.defaultBranch }, loaded.value, event.revision, now);
      if (result.action !== 'none') {
        log.info({ revision: event.revision, action: result.action, pullRequest: result.pullRequest, entries: result.removals.reduce((sum, removal) => sum + removal.removed.length, 0) }, 'expired exceptions proposal');
      }
      deps.onResult?.(result);
      return result;
    } catch (error) {
      log.warn({ revision: event.revision, err: messageOf(error) }, 'cannot propose the removal of expired exceptions (the next publish retries)');
      return undefined;
    }
  };
}
