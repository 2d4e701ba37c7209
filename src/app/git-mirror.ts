/**
 * Bare mirrors of the repositories the app reads, one per repository under a cache directory.
 *
 * Why git and not the contents API: one `git fetch` of the base and head commits brings every
 * file of both revisions (and the history between them, for ancestry checks) in one round
 * trip, where the contents API needs a request per file and per revision; and
 * `loadPolicyRepository` reads git objects directly, the same code path as the CLI.
 *
 * Exactly the commits needed are fetched, by SHA (GitHub serves any reachable commit over
 * protocol v2), each into `refs/egressctl/<sha>` so that `git gc` keeps it. The oldest of those
 * refs are dropped beyond a bound; history shared with newer commits stays reachable anyway.
 *
 * The installation token is passed per command, as an `http.extraHeader` in environment-only
 * git config (GIT_CONFIG_COUNT): it is never stored in the mirror's config, never in a URL, and
 * never on a command line (`ps` shows argv to everybody; a process's environment only to its user).
 * Callers serialize work per repository (see queue.ts): git takes locks on refs.
 */
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { GitError, messageOf } from '../util/errors.js';
import { gitText, runGit } from '../util/git.js';

/** Where to fetch from, and with which token. */
export interface FetchSource {
  url: string;
  token: string;
}

const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;
const KEEP_PREFIX = 'refs/egressctl/';
/** Kept refs per mirror; the newest (by commit date) survive. */
export const DEFAULT_KEEP = 64;

/** A git failure that means "the server does not have this commit" (as opposed to a transport problem). */
export class MissingCommitError extends GitError {}

export class GitMirrors {
  constructor(
    readonly cacheDir: string,
    private readonly keep = DEFAULT_KEEP,
  ) {}

  /** `<cacheDir>/<owner>/<repo>.git`, lower-cased (GitHub names are case-insensitive). */
  dirFor(fullName: string): string {
    const [owner = '', repo = ''] = fullName.toLowerCase().split('/');
    if (!/^[a-z0-9_.-]+$/.test(owner) || !/^[a-z0-9_.-]+$/.test(repo) || owner.startsWith('.') || repo.startsWith('.')) {
      throw new GitError(`"${fullName}" is not a repository name`);
    }
    return path.join(this.cacheDir, owner, `${repo}.git`);
  }

  /** The mirror's directory, created (bare, no remote) on first use. */
  async open(fullName: string): Promise<string> {
    const dir = this.dirFor(fullName);
    const exists = await stat(path.join(dir, 'HEAD')).then(
      () => true,
      () => false,
    );
    if (!exists) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await runGit(dir, ['init', '--quiet', '--bare']);
      // A background gc would outlive the request and race the next fetch.
      await runGit(dir, ['config', 'gc.autoDetach', 'false']);
    }
    return dir;
  }

  /** Commits already fetched (their keep refs exist). */
  async kept(dir: string): Promise<Set<string>> {
    const text = await gitText(dir, ['for-each-ref', '--format=%(refname)', KEEP_PREFIX]);
    return new Set(
      text
        .split('\n')
        .filter(Boolean)
        .map((ref) => ref.slice(KEEP_PREFIX.length)),
    );
  }

  /**
   * Make `shas` available in the mirror of `fullName`; returns the mirror's directory. Throws
   * MissingCommitError when the server does not have one of them, GitError on other failures.
   */
  async fetch(fullName: string, source: FetchSource, shas: readonly string[]): Promise<string> {
    const dir = await this.open(fullName);
    for (const sha of shas) if (!SHA.test(sha)) throw new GitError(`"${sha}" is not a commit SHA`);
    const have = await this.kept(dir);
    const wanted = [...new Set(shas)].filter((sha) => !have.has(sha));
    if (wanted.length === 0) return dir;
    try {
      await runGit(
        dir,
        ['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', '--', source.url, ...wanted.map((sha) => `+${sha}:${KEEP_PREFIX}${sha}`)],
        { env: authEnv(source.token) },
      );
    } catch (error) {
      const message = messageOf(error);
      if (/not our ref|couldn't find remote ref|no such remote ref|unadvertised object|not a valid object/i.test(message)) {
        throw new MissingCommitError(`${fullName} has no commit ${wanted.join(', ')}: ${message}`, { cause: error });
      }
      throw error;
    }
    await this.trim(dir, new Set(shas));
    return dir;
  }

  /** Drop the oldest keep refs beyond the bound, never those in `protect`. */
  private async trim(dir: string, protect: Readonly<Set<string>>): Promise<void> {
    const refs = (await gitText(dir, ['for-each-ref', '--sort=-committerdate', '--format=%(refname)', KEEP_PREFIX])).split('\n').filter(Boolean);
    // Protected refs always stay and count against the bound; the rest keep the newest that fit.
    // (Ranking protected refs by date too would let a same-second tie overshoot the bound.)
    const others = refs.filter((ref) => !protect.has(ref.slice(KEEP_PREFIX.length)));
    const drop = others.slice(Math.max(0, this.keep - (refs.length - others.length)));
    if (drop.length === 0) return;
    await runGit(dir, ['update-ref', '--stdin'], { input: drop.map((ref) => `delete ${ref}\n`).join('') });
  }
}

/** Environment that gives one git command the token, and nothing else a way to prompt or ask a helper. */
export function authEnv(token: string): NodeJS.ProcessEnv {
  const basic = Buffer.from(`x-access-token:${token}`, 'utf8').toString('base64');
  return {
    GIT_CONFIG_COUNT: '2',
    GIT_CONFIG_KEY_0: 'http.extraHeader',
    GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}`,
    // An empty helper list: a failing token must fail, not fall back to someone's stored credentials.
    GIT_CONFIG_KEY_1: 'credential.helper',
    GIT_CONFIG_VALUE_1: '',
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: '',
    SSH_ASKPASS: '',
  };
}
