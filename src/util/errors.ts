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
 * like one): the HTTP status and GitHub's request id (`x-github-request-id`, for support), or,
 * when no answer came at all, what could not be reached.
 */
export interface GitHubErrorInfo {
  status?: number;
  requestId?: string;
  /** The request never got an HTTP answer (DNS, refused, reset, TLS, timeout). */
  unreachable?: { host: string; reason: string };
}

export function gitHubErrorOf(error: unknown): GitHubErrorInfo {
  if (typeof error !== 'object' || error === null) return {};
  const unreachable = unreachableOf(error);
  if (unreachable) return { unreachable };
  const info: GitHubErrorInfo = {};
  const status = (error as { status?: unknown }).status;
  if (typeof status === 'number' && Number.isInteger(status)) info.status = status;
  const headers = (error as { response?: { headers?: Record<string, unknown> } }).response?.headers;
  const requestId = headers?.['x-github-request-id'];
  if (typeof requestId === 'string') info.requestId = requestId;
  return info;
}

/**
 * @octokit/request turns a fetch that got no answer into a RequestError with status 500, no
 * `response`, and the fetch error as `cause` (its own cause carries the system error's code).
 * That 500 is not GitHub's: it is told apart here, the one place GitHub errors are read.
 */
function unreachableOf(error: object): GitHubErrorInfo['unreachable'] {
  const shaped = error as { status?: unknown; response?: unknown; cause?: unknown; request?: { url?: unknown } };
  if (shaped.status !== 500 || shaped.response !== undefined || shaped.cause === undefined) return undefined;
  let host = 'GitHub';
  try {
    if (typeof shaped.request?.url === 'string') host = new URL(shaped.request.url).host;
  } catch {
    // Not a URL: name GitHub itself.
  }
  let code: unknown;
  for (let cause: unknown = shaped.cause; typeof cause === 'object' && cause !== null && code === undefined; cause = (cause as { cause?: unknown }).cause) {
    code = (cause as { code?: unknown }).code;
  }
  const reason = typeof code === 'string' ? (UNREACHABLE_REASONS[code] ?? code) : messageOf(error);
  return { host, reason };
}

const UNREACHABLE_REASONS: Record<string, string> = {
  ENOTFOUND: 'the name does not resolve (no network, or DNS cannot find it)',
  EAI_AGAIN: 'the name does not resolve right now (DNS did not answer)',
  ECONNREFUSED: 'the connection was refused (nothing listens there)',
  ECONNRESET: 'the connection was reset',
  ETIMEDOUT: 'the connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'the connection timed out',
  ENETUNREACH: 'the network is unreachable',
  EHOSTUNREACH: 'the host is unreachable',
};

/** The HTTP status of a failed GitHub request, or undefined for any other error (no answer included). */
export function gitHubStatus(error: unknown): number | undefined {
  return gitHubErrorOf(error).status;
}

/**
 * `GitHub answered 404: <message>` for a failed GitHub request, `could not reach HOST: <why>`
 * for one that got no answer; the plain message otherwise.
 */
export function gitHubMessageOf(error: unknown): string {
  const info = gitHubErrorOf(error);
  if (info.unreachable) return `could not reach ${info.unreachable.host}: ${info.unreachable.reason}`;
  const message = messageOf(error);
  return info.status ? `GitHub answered ${info.status}: ${message}` : message;
}
