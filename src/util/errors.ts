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
