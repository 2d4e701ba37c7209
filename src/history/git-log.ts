/**
 * The I/O edge of the audit log: one `git log` over policies/ and attachments.yml, and one
 * `git cat-file --batch` for the blobs, whatever the history's length (no process per commit).
 */
import { ATTACHMENTS_FILE, POLICIES_DIR } from '../policy/model.js';
import { GitError } from '../util/errors.js';
import { readBlobs, runGit } from '../util/git.js';
import type { HistoryChange, HistoryCommit } from './model.js';

/**
 * Record separator, then NUL-terminated fields: SHA, author (mailmap applied), author e-mail,
 * committer date (epoch seconds: turned into UTC here, so the reader's time zone never matters),
 * full message. `-z --raw` entries follow.
 */
const LOG_FORMAT = '%x1e%H%x00%aN%x00%aE%x00%ct%x00%B%x00';
const ZERO_SHA = /^0+$/;
/** Symbolic links (120000) and submodules (160000) are not policy files. */
const REGULAR_FILE_MODES = new Set(['100644', '100755']);

export interface GitLogOptions {
  /** Revision whose history to read (default HEAD). */
  rev?: string;
  /** Lower bound for git's walk (committer date); the core filters exactly. */
  since?: string;
}

/**
 * `--first-parent` with `--diff-merges=first-parent`: the audit log is the mainline. A merged
 * pull request is one commit (its merge commit, whose subject names the PR) carrying the whole
 * change relative to the branch before the merge; the PR's own commits are not repeated.
 * `--relative` keeps paths relative to `dir` when the policy repository is a subdirectory.
 */
export function gitLogArgs(options: GitLogOptions = {}): string[] {
  const args = [
    'log',
    '-z',
    '--first-parent',
    '--diff-merges=first-parent',
    '-M',
    '--raw',
    '--no-abbrev',
    '--no-show-signature',
    '--relative',
    `--format=${LOG_FORMAT}`,
  ];
  if (options.since !== undefined) {
    const instant = Date.parse(options.since);
    if (Number.isNaN(instant)) throw new RangeError(`since is not a date: ${options.since}`);
    args.push(`--since=@${Math.floor(instant / 1000)}`);
  }
  args.push(options.rev ?? 'HEAD', '--', `${POLICIES_DIR}/`, ATTACHMENTS_FILE);
  return args;
}

/** Parse the output of `git log` run with `gitLogArgs`. Pure. */
export function parseGitLog(output: Uint8Array): HistoryCommit[] {
  const buffer = Buffer.from(output.buffer, output.byteOffset, output.byteLength);
  const commits: HistoryCommit[] = [];
  let position = 0;
  const field = (): string => {
    const end = buffer.indexOf(0, position);
    if (end === -1) throw new GitError(`unexpected end of git log output at byte ${position}`);
    const text = buffer.toString('utf8', position, end);
    position = end + 1;
    return text;
  };
  while (position < buffer.length) {
    const byte = buffer[position];
    if (byte === 0x0a || byte === 0x00) {
      position++;
      continue;
    }
    if (byte !== 0x1e) throw new GitError(`unexpected git log output at byte ${position}`);
    position++;
    const sha = field();
    const author = field();
    const authorEmail = field();
    const seconds = Number(field());
    const message = field();
    const changes: HistoryChange[] = [];
    for (;;) {
      while (buffer[position] === 0x0a || buffer[position] === 0x00) position++;
      if (buffer[position] !== 0x3a /* ':' */) break;
      const header = field();
      const match = /^:(\d+) (\d+) ([0-9a-f]+) ([0-9a-f]+) ([A-Z])(\d*)$/.exec(header);
      if (!match) throw new GitError(`unexpected git log entry "${header}" in commit ${sha}`);
      const [, oldMode = '', newMode = '', oldSha = '', newSha = '', status = ''] = match;
      const firstPath = field();
      const secondPath = status === 'R' || status === 'C' ? field() : undefined;
      const change = toChange(status, firstPath, secondPath, REGULAR_FILE_MODES.has(oldMode) && !ZERO_SHA.test(oldSha) ? oldSha : undefined, REGULAR_FILE_MODES.has(newMode) && !ZERO_SHA.test(newSha) ? newSha : undefined);
      if (change) changes.push(change);
    }
    commits.push({ sha, author, authorEmail, date: new Date(seconds * 1000).toISOString().replace('.000Z', 'Z'), message: message.replace(/\n+$/, ''), changes });
  }
  return commits;
}

function toChange(status: string, firstPath: string, secondPath: string | undefined, oldBlob: string | undefined, newBlob: string | undefined): HistoryChange | undefined {
  const withBlobs = (change: HistoryChange): HistoryChange => {
    if (oldBlob !== undefined && change.status !== 'A') change.oldBlob = oldBlob;
    if (newBlob !== undefined && change.status !== 'D') change.newBlob = newBlob;
    return change;
  };
  switch (status) {
    case 'A':
    case 'D':
    case 'M':
    case 'T':
      return withBlobs({ status, path: firstPath });
    case 'R':
      return withBlobs({ status: 'R', path: secondPath ?? firstPath, oldPath: firstPath });
    case 'C': // only with -C, which we do not pass: the copy is a new file
      return withBlobs({ status: 'A', path: secondPath ?? firstPath });
    default: // U (unmerged) and X (unknown) do not occur in committed history
      return undefined;
  }
}

/** The commits that touched policies/ or attachments.yml, newest first (an empty repository has none). */
export async function readCommits(dir: string, options: GitLogOptions = {}): Promise<HistoryCommit[]> {
  let output: Buffer;
  try {
    output = await runGit(dir, gitLogArgs(options));
  } catch (error) {
    if (options.rev === undefined && error instanceof GitError && /does not have any commits|bad revision 'HEAD'|unknown revision or path not in the working tree.*HEAD|bad default revision 'HEAD'/s.test(error.message)) {
      return [];
    }
    throw error;
  }
  return parseGitLog(output);
}

/** Contents of many blobs; missing objects (a shallow clone) are left out, the core notes them. */
export function readBlobContents(dir: string, shas: readonly string[]): Promise<Map<string, Buffer>> {
  return readBlobs(dir, shas, { skipMissing: true });
}
