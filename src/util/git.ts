/** Small git plumbing at the edge: run git, read blobs in one batch process. */
import { spawn } from 'node:child_process';
import { GitError, messageOf } from './errors.js';

export interface GitRunOptions {
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
}

/** Run git in `dir`; resolve stdout as a Buffer, reject with a GitError carrying git's message. */
export function runGit(dir: string, args: string[], options: GitRunOptions = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['-C', dir, ...args], {
      env: { ...process.env, ...options.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', (error) => reject(new GitError(`cannot run git: ${error.message}`, { cause: error })));
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else {
        const message = Buffer.concat(err).toString('utf8').trim().split('\n').slice(-3).join(' ');
        reject(new GitError(`git ${args[0] ?? ''} failed in ${dir}: ${message || `exit code ${code}`}`));
      }
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

export async function gitText(dir: string, args: string[], options?: GitRunOptions): Promise<string> {
  return (await runGit(dir, args, options)).toString('utf8');
}

/**
 * Read many blobs with one `git cat-file --batch`. A missing object is an error, unless
 * `skipMissing` (history over a shallow clone notes the gap instead of failing).
 */
export async function readBlobs(dir: string, shas: readonly string[], options: { skipMissing?: boolean } = {}): Promise<Map<string, Buffer>> {
  const blobs = new Map<string, Buffer>();
  if (shas.length === 0) return blobs;
  const output = await runGit(dir, ['cat-file', '--batch'], { input: `${shas.join('\n')}\n` });
  let offset = 0;
  while (offset < output.length) {
    const headerEnd = output.indexOf(0x0a, offset);
    if (headerEnd === -1) break;
    const [sha = '', type = '', sizeText] = output.toString('utf8', offset, headerEnd).split(' ');
    if (type === 'missing' || sizeText === undefined) {
      if (!options.skipMissing) throw new GitError(`git object ${sha} is missing`);
      offset = headerEnd + 1;
      continue;
    }
    const size = Number(sizeText);
    if (type === 'blob') blobs.set(sha, output.subarray(headerEnd + 1, headerEnd + 1 + size));
    offset = headerEnd + 1 + size + 1;
  }
  return blobs;
}

export async function isGitWorkTree(dir: string): Promise<boolean> {
  try {
    return (await gitText(dir, ['rev-parse', '--is-inside-work-tree'])).trim() === 'true';
  } catch {
    return false;
  }
}

/** Full SHA of a revision (commit), or a GitError naming the revision. */
export async function resolveCommit(dir: string, rev: string): Promise<string> {
  try {
    return (await gitText(dir, ['rev-parse', '--verify', '--end-of-options', `${rev}^{commit}`])).trim();
  } catch (error) {
    throw new GitError(`unknown revision "${rev}" in ${dir}: ${messageOf(error)}`);
  }
}

/** Committer date of a commit in UTC ISO form: independent of the reader's time zone. */
export async function commitDate(dir: string, sha: string): Promise<string> {
  const seconds = Number((await gitText(dir, ['show', '-s', '--format=%ct', sha])).trim());
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}

/** Is `ancestor` an ancestor of (or equal to) `descendant`? */
export async function isAncestor(dir: string, ancestor: string, descendant: string): Promise<boolean> {
  try {
    await runGit(dir, ['merge-base', '--is-ancestor', ancestor, descendant]);
    return true;
  } catch {
    return false;
  }
}
