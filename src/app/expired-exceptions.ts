/**
 * Expired exceptions (docs/architecture.md#expiring-exceptions): after a publish, one pull request
 * in the policy repository deletes the entries whose `expires` day is over. They stopped counting
 * at midnight UTC already (answers, sync); the pull request keeps the files honest. It is opened
 * once and then updated (branch rewritten from the default branch, body refreshed), like the
 * blocked-endpoints proposal; the App never merges it. One a person closed is not reopened until
 * the set of expired entries changes (the rule of sync PRs). Proposing it is journaled work
 * (docs/github-app.md, "Durable work"), retried with backoff.
 */
import { createHash } from 'node:crypto';
import type { AppLogger, WebhookApp } from './delivery-guard.js';
import type { BackoffPolicy, WorkQueue } from './queue.js';
import { DiagnosticSink } from '../policy/diagnostics.js';
import { planExpiredRemovals, type FileRemoval } from '../policy/expiry-edit.js';
import { parsePolicyFile } from '../policy/policy-file.js';
import { loadPolicyRepository, type PolicyRepository } from '../store/repository.js';
import type { GitHubClient } from '../github/client.js';
import { gitHubStatus } from '../util/errors.js';
import { fenceWrites, runFenced } from '../github/write-fence.js';

export const EXPIRED_BRANCH = 'egressctl/expired-exceptions';
export const EXPIRED_MARKER = '<!-- egressctl:expired-exceptions -->';
export const EXPIRED_KIND = 'expired-exceptions';
const SET_MARKER = /<!-- egressctl:expired-set ([0-9a-f]{32}) -->/;

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
  /** `closed`: a person closed the pull request for this same set of entries; left closed. */
  action: 'none' | 'opened' | 'updated' | 'unchanged' | 'moved-on' | 'closed';
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
export async function proposeExpiredRemovals(
  client: ExpiredClient,
  target: ExpiredTarget,
  repository: PolicyRepository,
  revision: string,
  now: Date,
  planned?: FileRemoval[],
): Promise<ExpiredResult> {
  const removals = planned ?? planExpiredRemovals(repository.policies.values(), repository.files, now, validPolicyText);
  if (removals.length === 0) return { action: 'none', removals };
  const head = (await client.rest.repos.getBranch({ owner: target.owner, repo: target.repo, branch: target.branch })).data.commit;
  if (head.sha !== revision) return { action: 'moved-on', removals };

  const repo = { owner: target.owner, repo: target.repo };
  const { data: pulls } = await client.rest.pulls.list({ ...repo, state: 'all', head: `${target.owner}:${EXPIRED_BRANCH}`, per_page: 10 });
  const existing = pulls.find((pull) => pull.state === 'open');
  if (!existing) {
    // The most recent one, closed by a person without merging, for this same set: not reopened.
    const last = [...pulls].sort((a, b) => b.number - a.number)[0];
    if (last && last.state === 'closed' && !last.merged_at && SET_MARKER.exec(last.body ?? '')?.[1] === expiredSetDigest(removals)) return { action: 'closed', pullRequest: last.number, removals };
  }
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

/** What a closed pull request is compared by: the expired entries (policy, endpoint, day), not their lines. */
export function expiredSetDigest(removals: readonly FileRemoval[]): string {
  const entries = removals.flatMap((removal) => removal.removed.map((entry) => [removal.policy, entry.endpoint, entry.expires].join('\u0000'))).sort();
  return createHash('sha256').update(JSON.stringify(entries)).digest('hex').slice(0, 32);
}

export function pullRequestBody(removals: readonly FileRemoval[]): string {
  const lines = [
    EXPIRED_MARKER,
    `<!-- egressctl:expired-set ${expiredSetDigest(removals)} -->`,
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

export interface ExpiredWorkDeps {
  queue: WorkQueue;
  /** `owner/repo` of the policy repository. */
  policyRepository: string;
  /** The policy repository's mirror with this revision in it. */
  mirror: (revisions: string[]) => Promise<string>;
  backoff: BackoffPolicy;
  log?: AppLogger;
  /** The time entries are judged at (default: now). */
  now?: () => Date;
  onResult?: (result: ExpiredResult) => void;
}

/**
 * After each publish, and on each scheduled sync pass: journal the proposal at `revision` (one a
 * UTC day and revision: entries expire by the day). Its handler reads the revision from the
 * mirror and opens or updates the pull request when entries have expired; a failure is retried
 * with backoff and never undoes the publish.
 */
export function registerExpiredExceptions(app: WebhookApp, deps: ExpiredWorkDeps): (revision: string) => Promise<void> {
  const log: AppLogger = deps.log ?? app.log;
  const [owner = '', repo = ''] = deps.policyRepository.split('/');
  const key = deps.policyRepository.toLowerCase();
  deps.queue.handle<{ revision: string }>(
    EXPIRED_KIND,
    // Under a fence on its lease (docs/architecture.md#races-the-controller-closes): a run that lost its
    // job to another replica writes no branch, commit or pull request; the holder proposes it once.
    (item, lease) => runFenced(() => lease.owned(), `${item.kind} ${item.key}`, async () => {
      const { revision } = item.data;
      const dir = await deps.mirror([revision]);
      const loaded = await loadPolicyRepository({ dir, rev: revision });
      if (loaded.errors.length > 0) return;
      const now = deps.now?.() ?? new Date();
      // Planned once; nothing expired (the usual case): no request to GitHub at all.
      const removals = planExpiredRemovals(loaded.value.policies.values(), loaded.value.files, now, validPolicyText);
      let result: ExpiredResult = { action: 'none', removals };
      if (removals.length > 0) {
        const appOctokit = await app.auth();
        const installation = (await appOctokit.rest.apps.getRepoInstallation({ owner, repo })).data.id;
        const client: GitHubClient = fenceWrites(await app.auth(installation));
        result = await proposeExpiredRemovals(client, { owner, repo, branch: loaded.value.settings.defaultBranch }, loaded.value, revision, now, removals);
        log.info({ revision, action: result.action, pullRequest: result.pullRequest, entries: removals.reduce((sum, removal) => sum + removal.removed.length, 0) }, 'expired exceptions proposal');
      }
      deps.onResult?.(result);
    }),
    deps.backoff,
  );
  return async (revision) => {
    const day = (deps.now?.() ?? new Date()).toISOString().slice(0, 10);
    await deps.queue.add({ id: `${EXPIRED_KIND}:${revision}:${day}`, kind: EXPIRED_KIND, key, data: { revision } });
  };
}
