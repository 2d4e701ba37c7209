/**
 * Committing observed runs to the policy repository on GitHub (docs/architecture.md#baselines, #github-app): one commit for
 * a batch of repositories, through the Git Data API. Read each `baselines/<o>/<r>.yml` at the
 * branch head, merge in memory, render (keeping the file's comments), then one tree with inline
 * contents, one commit and a fast-forward ref update. When someone else moved the branch in
 * between (the update is not a fast-forward), start over from the new head: re-read, re-merge,
 * retry. Merging is idempotent per run id, so a retry never counts a run twice.
 */
import { baselinePath, mergeBaselineTextOffThread, type Observation } from '../baselines/index.js';
import type { GitHubClient } from '../github/client.js';
import { gitHubStatus } from '../util/errors.js';

/** The part of an Octokit this needs (Probot's and ours both fit). */
export interface BaselineCommitClient {
  rest: {
    repos: Pick<GitHubClient['rest']['repos'], 'get' | 'getBranch' | 'getContent'>;
    git: Pick<GitHubClient['rest']['git'], 'createTree' | 'createCommit' | 'updateRef'>;
  };
}

export interface PolicyRepositoryTarget {
  owner: string;
  repo: string;
  /** Default: the repository's default branch. */
  branch?: string;
}

export interface RepositoryMergeSummary {
  repository: string;
  path: string;
  /** Runs merged (new run ids). */
  merged: number;
  /** Runs already in the file. */
  skipped: number;
  /** Names from the runs' logs not stored (not valid endpoint names, or over the per-run cap): said in the commit message. */
  dropped?: number;
  /** Set when the file could not be updated (it is invalid, or would grow past the size limit): its runs are dropped, reported here. */
  error?: string;
}

export interface BaselineCommitResult {
  /** The new commit, when anything changed. */
  commit?: string;
  branch: string;
  repositories: RepositoryMergeSummary[];
  /** 1 + conflicts retried. */
  attempts: number;
}

export class BaselineCommitConflictError extends Error {}


async function readText(client: BaselineCommitClient, target: Required<PolicyRepositoryTarget>, path: string, ref: string): Promise<string | undefined> {
  try {
    const response = await client.rest.repos.getContent({ owner: target.owner, repo: target.repo, path, ref, mediaType: { format: 'raw' } });
    // With the raw media type the body is the file's text.
    return typeof response.data === 'string' ? response.data : Buffer.from(response.data as unknown as ArrayBuffer).toString('utf8');
  } catch (error) {
    if (gitHubStatus(error) === 404) return undefined;
    throw error;
  }
}

/** `2 runs (1 in block mode, 1 in audit mode)`: the modes the runs' logs say they ran in. */
function runsText(merged: number, observations: readonly Observation[]): string {
  const runs = `${merged} run${merged === 1 ? '' : 's'}`;
  const modes = (['block', 'audit'] as const)
    .map((mode) => [mode, observations.filter((observation) => observation.mode === mode).length] as const)
    .filter(([, count]) => count > 0)
    .map(([mode, count]) => `${count} in ${mode} mode`);
  return modes.length > 0 ? `${runs} (${modes.join(', ')})` : runs;
}

function commitMessageFor(summaries: readonly RepositoryMergeSummary[], observations: ReadonlyMap<string, readonly Observation[]>): string {
  const changed = summaries.filter((summary) => summary.merged > 0);
  const runs = changed.reduce((sum, summary) => sum + summary.merged, 0);
  const subject =
    changed.length === 1
      ? `Baselines: ${runs} run${runs === 1 ? '' : 's'} of ${changed[0]!.repository}`
      : `Baselines: ${runs} runs of ${changed.length} repositories`;
  // Each job runs in the mode its policy gives it: the message says which, never "audit" for all.
  const line = (summary: RepositoryMergeSummary): string => {
    const dropped = summary.dropped ?? 0;
    const warning = dropped > 0 ? ` (warning: ${dropped} name${dropped === 1 ? '' : 's'} from the job logs dropped: not valid endpoint names, or over the per-run limit)` : '';
    return `- ${summary.repository}: ${runsText(summary.merged, observations.get(summary.repository) ?? [])}${warning}`;
  };
  return `${subject}\n\n${changed.map(line).join('\n')}\n\nObserved by Harden-Runner in the jobs' own egress mode (workflow_job webhooks): the endpoints they reached, and in block mode the names it blocked.\n`;
}

/**
 * Merge `observations` (by `owner/repo`) into the policy repository's baseline files in one
 * commit. Retries up to `maxAttempts` times when the branch moved; throws
 * BaselineCommitConflictError after that, leaving nothing half-done (the ref moves last).
 */
export async function commitBaselines(
  client: BaselineCommitClient,
  target: PolicyRepositoryTarget,
  observations: ReadonlyMap<string, readonly Observation[]>,
  options: { maxAttempts?: number } = {},
): Promise<BaselineCommitResult> {
  const branch = target.branch ?? (await client.rest.repos.get({ owner: target.owner, repo: target.repo })).data.default_branch;
  const full = { owner: target.owner, repo: target.repo, branch };
  const maxAttempts = options.maxAttempts ?? 5;
  for (let attempt = 1; ; attempt++) {
    const head = (await client.rest.repos.getBranch({ owner: full.owner, repo: full.repo, branch })).data.commit;
    const headSha = head.sha;
    const treeSha = head.commit.tree.sha;
    const repositories = [...observations.keys()].sort();
    const texts = await Promise.all(repositories.map((repository) => readText(client, full, baselinePath(repository), headSha)));
    const summaries: RepositoryMergeSummary[] = [];
    const changes: { path: string; content: string }[] = [];
    for (const [index, repository] of repositories.entries()) {
      const path = baselinePath(repository);
      // Parsing and rendering a large file takes seconds: off the event loop, so /healthz and
      // webhooks are answered meanwhile (small files stay in-process).
      const outcome = await mergeBaselineTextOffThread({ repository, path, previous: texts[index], observations: observations.get(repository) ?? [] });
      summaries.push({
        repository,
        path,
        merged: outcome.merged,
        skipped: outcome.skipped,
        ...(outcome.dropped > 0 ? { dropped: outcome.dropped } : {}),
        ...(outcome.error ? { error: outcome.error } : {}),
      });
      if (outcome.content !== undefined) changes.push({ path, content: outcome.content });
    }
    if (changes.length === 0) return { branch, repositories: summaries, attempts: attempt };

    const tree = (
      await client.rest.git.createTree({
        owner: full.owner,
        repo: full.repo,
        base_tree: treeSha,
        tree: changes.map((change) => ({ path: change.path, mode: '100644' as const, type: 'blob' as const, content: change.content })),
      })
    ).data.sha;
    const commit = (await client.rest.git.createCommit({ owner: full.owner, repo: full.repo, message: commitMessageFor(summaries, observations), tree, parents: [headSha] })).data.sha;
    try {
      await client.rest.git.updateRef({ owner: full.owner, repo: full.repo, ref: `heads/${branch}`, sha: commit, force: false });
      return { commit, branch, repositories: summaries, attempts: attempt };
    } catch (error) {
      // 422 "Update is not a fast forward": someone committed meanwhile; our commit is dropped (unreferenced).
      if (gitHubStatus(error) !== 422 && gitHubStatus(error) !== 409) throw error;
      if (attempt >= maxAttempts) throw new BaselineCommitConflictError(`${target.owner}/${target.repo}@${branch} kept moving: gave up after ${attempt} attempts`);
    }
  }
}
