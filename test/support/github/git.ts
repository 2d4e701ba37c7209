/**
 * The git side of the stand-in: every repository is a real (non-bare) git repository in a
 * temp directory, read and written with git plumbing. The work tree is never touched by the
 * stand-in; only objects and refs change.
 */
import { execFile, spawn } from 'node:child_process';
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export const ZERO_SHA = '0000000000000000000000000000000000000000';
/** The id of the empty tree in every SHA-1 repository. */
export const EMPTY_TREE_SHA = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

export interface GitIdentity {
  readonly name: string;
  readonly email: string;
  /** ISO 8601; defaults to now. */
  readonly date?: string;
}

export interface TreeEntry {
  readonly mode: string;
  readonly type: 'blob' | 'tree' | 'commit';
  readonly sha: string;
  /** Blob size in bytes; undefined for trees and submodules. */
  readonly size: number | undefined;
  readonly path: string;
}

export interface CommitInfo {
  readonly sha: string;
  readonly tree: string;
  readonly parents: readonly string[];
  readonly author: { name: string; email: string; date: string };
  readonly committer: { name: string; email: string; date: string };
  readonly message: string;
}

export interface TreeChange {
  readonly path: string;
  readonly mode: string;
  readonly type: 'blob' | 'tree' | 'commit';
  /** null deletes the path. */
  readonly sha: string | null;
}

export class GitCommandError extends Error {
  constructor(
    readonly args: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(`git ${args.join(' ')} failed (${exitCode}): ${stderr.trim()}`);
    this.name = 'GitCommandError';
  }
}

interface RunOptions {
  readonly input?: string | Buffer;
  readonly env?: Record<string, string>;
}

/** Runs git in `dir`; resolves stdout as a Buffer, rejects with GitCommandError. */
export function runGit(dir: string, args: readonly string[], options: RunOptions = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, {
      cwd: dir,
      env: { ...process.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new GitCommandError(args, code, Buffer.concat(err).toString('utf8')));
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

async function gitText(dir: string, args: readonly string[], options?: RunOptions): Promise<string> {
  return (await runGit(dir, args, options)).toString('utf8');
}

function identityEnv(author: GitIdentity, committer: GitIdentity): Record<string, string> {
  const env: Record<string, string> = {
    GIT_AUTHOR_NAME: author.name,
    GIT_AUTHOR_EMAIL: author.email,
    GIT_COMMITTER_NAME: committer.name,
    GIT_COMMITTER_EMAIL: committer.email,
  };
  if (author.date) env.GIT_AUTHOR_DATE = author.date;
  if (committer.date) env.GIT_COMMITTER_DATE = committer.date;
  return env;
}

function parseIdentityLine(value: string): { name: string; email: string; date: string } {
  const m = /^(.*) <([^>]*)> (\d+) ([+-]\d{4})$/.exec(value);
  if (!m) return { name: value, email: '', date: new Date(0).toISOString() };
  return { name: m[1]!, email: m[2]!, date: new Date(Number(m[3]) * 1000).toISOString().replace('.000Z', 'Z') };
}

/** One git repository of the stand-in, addressed as `owner/name`. */
export class GitRepository {
  private refLock: Promise<unknown> = Promise.resolve();

  constructor(readonly dir: string) {}

  static async init(dir: string, defaultBranch: string): Promise<GitRepository> {
    await runGit(path.dirname(dir), ['init', '--quiet', '--initial-branch', defaultBranch, dir]);
    // What three `git config` calls would write, without three more processes (each git
    // process costs ~15-30 ms here, and suites create hundreds of repositories). Pushes over
    // smart HTTP may update the checked-out branch when the work tree is clean.
    await appendFile(
      path.join(dir, '.git', 'config'),
      '[user]\n\tname = Stand-in Test\n\temail = standin@example.invalid\n[receive]\n\tdenyCurrentBranch = updateInstead\n',
    );
    return new GitRepository(dir);
  }

  git(args: readonly string[], options?: RunOptions): Promise<string> {
    return gitText(this.dir, args, options);
  }

  /** Runs `fn` with ref updates of this repository serialized. */
  withRefLock<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.refLock.then(fn, fn);
    this.refLock = next.catch(() => undefined);
    return next;
  }

  /** The object id `rev` names (peeled to `peel` when given), or undefined. */
  async resolve(rev: string, peel?: 'commit' | 'tree'): Promise<string | undefined> {
    try {
      const spec = peel ? `${rev}^{${peel}}` : rev;
      return (await this.git(['rev-parse', '--verify', '--quiet', '--end-of-options', spec])).trim() || undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Resolves what GitHub accepts as a `ref` query/path value: a branch, a tag, a full ref
   * or a commit sha (full or abbreviated).
   */
  async resolveCommitish(ref: string): Promise<string | undefined> {
    if (ref.startsWith('-') || /[\n\r\0]/.test(ref)) return undefined;
    // One `cat-file --batch-check` for the three candidates, in order (as three `rev-parse
    // --verify` would): each line answers `<sha> commit <size>`, or `<name> missing|ambiguous`.
    const candidates = [`refs/heads/${ref}`, `refs/tags/${ref}`, ref];
    const out = await this.git(['cat-file', '--batch-check=%(objectname) %(objecttype)'], {
      input: candidates.map((candidate) => `${candidate}^{commit}\n`).join(''),
    });
    for (const line of out.split('\n')) {
      const m = /^([0-9a-f]{40}) commit$/.exec(line);
      if (m) return m[1];
    }
    return undefined;
  }

  async objectType(sha: string): Promise<string | undefined> {
    if (!/^[0-9a-f]{4,40}$/.test(sha)) return undefined;
    try {
      return (await this.git(['cat-file', '-t', sha])).trim();
    } catch {
      return undefined;
    }
  }

  async writeBlob(content: Buffer): Promise<string> {
    return (await this.git(['hash-object', '-w', '--stdin'], { input: content })).trim();
  }

  async readBlob(sha: string): Promise<Buffer> {
    return runGit(this.dir, ['cat-file', 'blob', sha]);
  }

  /** Entries of a tree (recursive lists blobs and subtrees at every depth). */
  async listTree(treeish: string, options: { recursive?: boolean; path?: string } = {}): Promise<TreeEntry[]> {
    const args = ['ls-tree', '-l', '-z'];
    if (options.recursive) args.push('-r', '-t');
    args.push('--end-of-options', treeish);
    if (options.path !== undefined) args.push('--', options.path);
    const out = await this.git(args);
    return out
      .split('\0')
      .filter((line) => line.length > 0)
      .map((line) => {
        const tab = line.indexOf('\t');
        const [mode, type, sha, size] = line.slice(0, tab).split(/\s+/);
        return {
          mode: mode!,
          type: type as TreeEntry['type'],
          sha: sha!,
          size: size === '-' ? undefined : Number(size),
          path: line.slice(tab + 1),
        };
      });
  }

  /** The entry at `filePath` in `commitish`, or undefined; '' is the root tree. */
  async entryAt(commitish: string, filePath: string): Promise<TreeEntry | undefined> {
    if (filePath === '') {
      const sha = await this.resolve(commitish, 'tree');
      return sha ? { mode: '040000', type: 'tree', sha, size: undefined, path: '' } : undefined;
    }
    const entries = await this.listTree(commitish, { path: filePath });
    return entries.find((e) => e.path === filePath);
  }

  /**
   * Builds a tree from `base` (or empty) with `changes` applied in order; nested paths create
   * intermediate trees. The entries are worked out in memory and written to a private index
   * file in one `update-index`, so concurrent calls do not collide and a tree costs three git
   * processes, not three per change.
   */
  async writeTree(base: string | undefined, changes: readonly TreeChange[]): Promise<string> {
    const entries = new Map<string, { mode: string; type: string; sha: string }>();
    const readInto = async (treeish: string, prefix: string): Promise<void> => {
      const out = await this.git(['ls-tree', '-r', '-z', '--full-tree', '--end-of-options', treeish]);
      for (const record of out.split('\0')) {
        if (!record) continue;
        const tab = record.indexOf('\t');
        const [mode, type, sha] = record.slice(0, tab).split(' ');
        entries.set(`${prefix}${record.slice(tab + 1)}`, { mode: mode!, type: type!, sha: sha! });
      }
    };
    if (base) await readInto(base, '');
    for (const change of changes) {
      // Remove whatever is at the path: a file, or everything under a directory.
      for (const existing of [...entries.keys()]) {
        if (existing === change.path || existing.startsWith(`${change.path}/`)) entries.delete(existing);
      }
      if (change.sha === null) continue;
      // A file where a directory is needed: git update-index --add refuses it, and so do we.
      const parts = change.path.split('/');
      for (let i = 1; i < parts.length; i++) {
        const parent = parts.slice(0, i).join('/');
        if (entries.has(parent)) {
          throw new GitCommandError(['update-index', '--add', change.path], 128, `error: '${change.path}' appears as both a file and as a directory`);
        }
      }
      if (change.type === 'tree') await readInto(change.sha, `${change.path}/`);
      else entries.set(change.path, { mode: change.mode, type: change.type, sha: change.sha });
    }
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'standin-index-'));
    const env = { GIT_INDEX_FILE: path.join(tmp, 'index') };
    try {
      const info = [...entries].map(([file, e]) => `${e.mode} ${e.type} ${e.sha}\t${file}\0`).join('');
      if (info) await this.git(['update-index', '-z', '--index-info'], { env, input: info });
      else await this.git(['read-tree', '--empty'], { env });
      return (await this.git(['write-tree'], { env })).trim();
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  async commitTree(
    tree: string,
    parents: readonly string[],
    message: string,
    author: GitIdentity,
    committer: GitIdentity,
  ): Promise<string> {
    const args = ['commit-tree', tree, ...parents.flatMap((p) => ['-p', p]), '-F', '-'];
    return (await this.git(args, { input: message, env: identityEnv(author, committer) })).trim();
  }

  async readCommit(sha: string): Promise<CommitInfo | undefined> {
    if (!/^[0-9a-f]{4,40}$/.test(sha)) return undefined;
    // One `cat-file --batch`: `<full sha> <type> <size>` then the object, or `<sha> missing|ambiguous`.
    const out = await runGit(this.dir, ['cat-file', '--batch'], { input: `${sha}\n` });
    const headerEnd = out.indexOf(0x0a);
    const m = /^([0-9a-f]{40}) (\S+) (\d+)$/.exec(out.subarray(0, headerEnd === -1 ? out.length : headerEnd).toString('utf8'));
    if (!m || m[2] !== 'commit') return undefined;
    const full = m[1]!;
    const raw = out.subarray(headerEnd + 1, headerEnd + 1 + Number(m[3])).toString('utf8');
    const split = raw.indexOf('\n\n');
    const header = split === -1 ? raw : raw.slice(0, split);
    const message = split === -1 ? '' : raw.slice(split + 2);
    let tree = '';
    const parents: string[] = [];
    let author = parseIdentityLine('');
    let committer = parseIdentityLine('');
    for (const line of header.split('\n')) {
      const space = line.indexOf(' ');
      const key = line.slice(0, space);
      const value = line.slice(space + 1);
      if (key === 'tree') tree = value;
      else if (key === 'parent') parents.push(value);
      else if (key === 'author') author = parseIdentityLine(value);
      else if (key === 'committer') committer = parseIdentityLine(value);
    }
    return { sha: full, tree, parents, author, committer, message };
  }

  /** Refs under `prefix` (e.g. `refs/heads/`), with the object they point to. */
  async listRefs(prefix: string): Promise<{ ref: string; sha: string; type: string }[]> {
    const out = await this.git(['for-each-ref', '--format=%(refname) %(objectname) %(objecttype)', prefix]);
    return out
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [ref, sha, type] = line.split(' ');
        return { ref: ref!, sha: sha!, type: type! };
      });
  }

  /** Sets `ref` to `sha`; with `expected`, only if it currently points there (ZERO_SHA: absent). */
  async updateRef(ref: string, sha: string, expected?: string): Promise<void> {
    const args = ['update-ref', ref, sha];
    if (expected !== undefined) args.push(expected);
    await this.git(args);
  }

  async deleteRef(ref: string): Promise<void> {
    await this.git(['update-ref', '-d', ref]);
  }

  async isAncestor(ancestor: string, descendant: string): Promise<boolean> {
    try {
      await this.git(['merge-base', '--is-ancestor', ancestor, descendant]);
      return true;
    } catch (error) {
      if (error instanceof GitCommandError && error.exitCode === 1) return false;
      throw error;
    }
  }

  async mergeBase(a: string, b: string): Promise<string | undefined> {
    try {
      return (await this.git(['merge-base', a, b])).trim() || undefined;
    } catch {
      return undefined;
    }
  }

  /** Commits reachable from `head` and not from `base`, oldest first. */
  async commitsBetween(base: string | undefined, head: string, limit = 250): Promise<string[]> {
    const range = base && base !== ZERO_SHA ? [`${base}..${head}`] : [head];
    const out = await this.git(['rev-list', '--reverse', `--max-count=${limit}`, ...range]);
    return out.split('\n').filter(Boolean);
  }

  /** Files changed between two commits (`from` undefined: against the empty tree). */
  async diffFiles(
    from: string | undefined,
    to: string,
  ): Promise<{ path: string; status: 'added' | 'removed' | 'modified'; additions: number; deletions: number }[]> {
    const fromArgs = [from ?? EMPTY_TREE_SHA, to];
    const statusOut = await this.git(['diff-tree', '-r', '--no-commit-id', '--no-renames', '--name-status', '-z', ...fromArgs]);
    const numOut = await this.git(['diff-tree', '-r', '--no-commit-id', '--no-renames', '--numstat', '-z', ...fromArgs]);
    const statusParts = statusOut.split('\0').filter(Boolean);
    const statuses = new Map<string, string>();
    for (let i = 0; i + 1 < statusParts.length; i += 2) statuses.set(statusParts[i + 1]!, statusParts[i]!);
    const counts = new Map<string, { additions: number; deletions: number }>();
    for (const record of numOut.split('\0').filter(Boolean)) {
      const [add, del, file] = record.split('\t');
      if (file !== undefined) counts.set(file, { additions: Number(add) || 0, deletions: Number(del) || 0 });
    }
    return [...statuses].map(([file, code]) => ({
      path: file,
      status: code === 'A' ? 'added' : code === 'D' ? 'removed' : 'modified',
      additions: counts.get(file)?.additions ?? 0,
      deletions: counts.get(file)?.deletions ?? 0,
    }));
  }

  /** Paths that differ between two commits (either may be undefined for "nothing"). */
  async changedPaths(from: string | undefined, to: string | undefined): Promise<string[]> {
    if (!to) return [];
    return (await this.diffFiles(from && from !== ZERO_SHA ? from : undefined, to)).map((f) => f.path);
  }
}

/** `git --exec-path`, to check that `git http-backend` is installed. */
export function gitExecPath(): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('git', ['--exec-path'], (error, stdout) => (error ? reject(error) : resolve(stdout.trim()))),
  );
}
