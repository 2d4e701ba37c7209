/**
 * The server's wire API (docs/architecture.md#server): the shapes and constants that clients of
 * `egressctl serve` share with it. Types and constants only, no imports: `src/runner/` (bundled
 * into the action), `src/app/` and the CLI import them from here, never from the server's
 * implementation modules.
 */

/** Where the GitHub App's webhook handler is mounted. */
export const WEBHOOK_PATH = '/api/github/webhooks';
export const DEFAULT_PORT = 8080;
export const DEFAULT_HOST = '127.0.0.1';
/** Longest `GET /v1/bundle?wait=` honoured by default (seconds). */
export const MAX_WAIT_SECONDS = 60;
/** Longest `?workflow=` (and repository) accepted: each distinct one is a cache key. */
export const MAX_QUERY_VALUE_LENGTH = 512;

/** DSSE payload type of a signed /v1/policy answer. */
export const ANSWER_PAYLOAD_TYPE = 'application/vnd.egressctl.answer.v1+json';
/** Accept header value a runner sends to get the envelope instead of the bare answer. */
export const SIGNED_ANSWER_MEDIA_TYPE = 'application/vnd.egressctl.answer.v1+dsse+json';
/** How long a signed answer is good for, cache included (default; `serve --answer-ttl`). */
export const DEFAULT_ANSWER_TTL_SECONDS = 24 * 3600;
/** Clock difference tolerated between server and runner. */
export const ANSWER_CLOCK_SKEW_SECONDS = 300;

/** The body of `GET /v1/policy`: the effective policy for the caller. */
export interface PolicyAnswer {
  revision: string;
  policy: string | null;
  scope: { type: string; key: string } | null;
  shadowed: { type: string; key: string; policy: string }[];
  config: Record<string, string | boolean>;
  'lockdown-mode': { enabled: boolean; detections: string[] } | null;
}

/** Who a signed answer is for: exactly what the server took from the verified credentials. */
export interface AnswerSubject {
  organization: string;
  repository: string;
  /** `owner/repo/.github/workflows/f.yml`, lower-case, no `@ref`; null when the caller named none. */
  workflow: string | null;
  /** The API key's cluster; null for OIDC callers. */
  cluster: string | null;
}

/** The payload of a signed answer's DSSE envelope. */
export interface AnswerStatement {
  _type: 'egressctl.answer/v1';
  subject: AnswerSubject;
  bundle: { revision: string; digest: string };
  issuedAt: string;
  expiresAt: string;
  answer: PolicyAnswer;
}

/** The body of `GET /readyz`. */
export interface ReadinessReport {
  /** `ok` answers 200; `degraded` and `unavailable` answer 503 (`?degraded=ok` takes degraded as ready). */
  status: 'ok' | 'degraded' | 'unavailable';
  /** Why it is not ok, in one line (`source: ...`, `state-dir: ...`, `compile: ...`); null when ok. */
  reason: string | null;
  revision: string | null;
  committedAt: string | null;
  digest: string | null;
  origin: string | null;
  servedSince: string | null;
  source: { kind: string; location: string; lastSuccessAt: string | null; lastError: { message: string; at: string } | null };
  problem: { reason: string; message: string; origin: string; at: string; revision: string | null } | null;
  /** What is failing now (the source cannot be read, the state directory cannot be written); empty when nothing. */
  failing: { component: 'source' | 'state-dir'; message: string; since: string }[];
}

/** How a bundle offered through `publish()` (the GitHub App) is ordered against the served one. */
export interface PublishOptions {
  /**
   * Ordering against the served bundle. Default: committedAt must not be older. The app passes
   * its own ancestry test (it knows the git history) as `isDescendant(servedRevision)`.
   */
  isDescendant?: (servedRevision: string) => Promise<boolean | undefined>;
}
