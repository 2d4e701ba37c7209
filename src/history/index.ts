/**
 * The audit log (docs/architecture.md#users-and-flows): who changed which policy or attachment, when, in which PR.
 * `readHistory` is the I/O edge (one `git log`, one `git cat-file --batch`); `historyFromCommits`
 * is the pure core that the CLI, the server's `/v1/history` and the web console share.
 */
import { GitError } from '../util/errors.js';
import { gitText, isGitWorkTree } from '../util/git.js';
import { blobsNeeded, historyFromCommits, policyNameOfPath } from './events.js';
import { readBlobContents, readCommits } from './git-log.js';
import type { HistoryEvent, HistoryOptions } from './model.js';

export type * from './model.js';
export { HISTORY_EVENT_TYPES } from './model.js';
export { blobsNeeded, historyFromCommits, policyNameOfPath, pullRequestNumber, type BlobContents } from './events.js';
export { gitLogArgs, parseGitLog, readBlobContents, readCommits } from './git-log.js';
export { policyDiff } from './policy-diff.js';
export { renderHistoryText } from './render.js';
export { parseSince } from './since.js';
export { unifiedDiff } from './text-diff.js';

export interface ReadHistoryOptions extends HistoryOptions {
  /** The policy repository's directory: a git work tree (or a subdirectory of one). */
  dir: string;
  /** Revision whose history to read (default HEAD). */
  rev?: string;
}

/** Events newest first; see `historyFromCommits` for their order and meaning. */
export async function readHistory(options: ReadHistoryOptions): Promise<HistoryEvent[]> {
  if (!(await isGitWorkTree(options.dir))) {
    throw new GitError(`${options.dir} is not in a git work tree: history reads the policy repository's git log`);
  }
  const filter: HistoryOptions = {};
  if (options.policy !== undefined) filter.policy = options.policy;
  if (options.since !== undefined) filter.since = options.since;
  if (options.limit !== undefined) filter.limit = options.limit;
  const commits = await readCommits(options.dir, {
    ...(options.rev === undefined ? {} : { rev: options.rev }),
    ...(options.since === undefined ? {} : { since: options.since }),
  });
  const blobs = await readBlobContents(options.dir, blobsNeeded(commits, filter));
  return historyFromCommits(commits, blobs, filter);
}

/**
 * Every policy name that ever had a file under policies/ in the history of `rev` (default HEAD),
 * sorted: what `history NAME` can answer about, and what a did-you-mean picks from.
 */
export async function policyNamesInHistory(options: { dir: string; rev?: string }): Promise<string[]> {
  const output = await gitText(options.dir, ['log', '--format=', '--name-only', '--relative', '--no-renames', '--end-of-options', options.rev ?? 'HEAD', '--', 'policies/']);
  const names = new Set<string>();
  for (const line of output.split('\n')) {
    const name = policyNameOfPath(line.trim());
    if (name !== undefined) names.add(name);
  }
  return [...names].sort();
}
