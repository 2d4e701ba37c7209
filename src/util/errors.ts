/**
 * Typed errors for the edges (CLI, git, HTTP, GitHub). Core logic returns diagnostics instead.
 * `exitCode` follows the CLI contract: 1 invalid input, 2 usage or I/O.
 */
export class EgressctlError extends Error {
  readonly exitCode: number = 2;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Wrong flags or arguments: the message says the right usage. */
export class UsageError extends EgressctlError {}

/** A file, directory or git object that cannot be read or written. */
export class IoError extends EgressctlError {}

/** A git command failed (unknown revision, not a repository, ...). */
export class GitError extends EgressctlError {}

/** Input that parsed but is not acceptable (invalid policy, bad bundle, bad signature). */
export class InvalidInputError extends EgressctlError {
  override readonly exitCode: number = 1;
}

/** A bundle whose signature or digest does not check out. */
export class VerificationError extends InvalidInputError {}

/** The message of a thrown value: `Error.message`, or the value as text. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * What egressctl reads from a failed GitHub request (an Octokit `RequestError` or anything shaped
 * like one): the HTTP status and GitHub's request id (`x-github-request-id`, for support).
 */
export interface GitHubErrorInfo {
  status?: number;
  requestId?: string;
}

export function gitHubErrorOf(error: unknown): GitHubErrorInfo {
  if (typeof error !== 'object' || error === null) return {};
  const info: GitHubErrorInfo = {};
  const status = (error as { status?: unknown }).status;
  if (typeof status === 'number' && Number.isInteger(status)) info.status = status;
  const headers = (error as { response?: { headers?: Record<string, unknown> } }).response?.headers;
  const requestId = headers?.['x-github-request-id'];
  if (typeof requestId === 'string') info.requestId = requestId;
  return info;
}

/** The HTTP status of a failed GitHub request, or undefined for any other error. */
export function gitHubStatus(error: unknown): number | undefined {
  return gitHubErrorOf(error).status;
}

/** `GitHub answered 404: <message>` for a failed GitHub request; the plain message otherwise. */
export function gitHubMessageOf(error: unknown): string {
  const status = gitHubStatus(error);
  const message = messageOf(error);
  return status ? `GitHub answered ${status}: ${message}` : message;
}
