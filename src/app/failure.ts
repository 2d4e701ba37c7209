/**
 * What a failed delivery tells the outside: check run summaries and the webhook's answer are
 * read on GitHub, so they say what failed without the server's filesystem (git's messages name
 * the mirror's directory, the cache directory, temp files). The full error, paths included,
 * stays in the server's log (see docs/github-app.md, "Delivery handling").
 */
import { GitError, gitHubStatus, messageOf } from '../util/errors.js';

/**
 * A local absolute path: starts a word (not inside a URL, whose path follows a host) and has two
 * parts or more. `//` after a colon starts a URL's host (`https://docs.github.com/...`), kept;
 * `file:///...` is a local path.
 */
const LOCAL_PATH = /(^|[\s'"`(=:,])(?!\/\/(?!\/))(?:\/[^\s'"`(),:;]+){2,}\/?/g;
const WINDOWS_PATH = /(^|[\s'"`(=,])[A-Za-z]:\\[^\s'"`(),;]*/g;

export function withoutLocalPaths(message: string, knownDirs: readonly string[] = []): string {
  let text = message;
  for (const dir of knownDirs) if (dir.length > 1) text = text.split(dir).join('<local path>');
  return text.replace(LOCAL_PATH, '$1<local path>').replace(WINDOWS_PATH, '$1<local path>');
}

/** The message to show on GitHub for `error`. */
export function publicMessage(error: unknown, knownDirs: readonly string[] = []): string {
  const message = messageOf(error);
  const prefix = error instanceof GitError && !/^git\b/i.test(message) ? 'git: ' : '';
  return `${prefix}${withoutLocalPaths(message, knownDirs)}`;
}

/**
 * The error a handler throws when it could not finish: the public message, GitHub's status when
 * a GitHub request failed (@octokit/webhooks answers the delivery with it), the original as cause.
 */
export class DeliveryFailure extends Error {
  override readonly name = 'DeliveryFailure';
  readonly status: number | undefined;
  constructor(message: string, options: { cause: unknown }) {
    super(message, options);
    this.status = gitHubStatus(options.cause);
  }

  static from(error: unknown, knownDirs: readonly string[] = []): DeliveryFailure {
    return error instanceof DeliveryFailure ? error : new DeliveryFailure(publicMessage(error, knownDirs), { cause: error });
  }
}
