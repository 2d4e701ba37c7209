/**
 * GitHub Actions OIDC tokens (docs/architecture.md#server): RS256 only, issuer and audience checked, exp/nbf with
 * 60 s of clock tolerance, keys from the issuer's JWKS (cached; an unknown `kid` refetches at
 * most once per cooldown). Organization, repository and workflow come only from the verified
 * claims `repository_owner`, `repository` and `workflow_ref` (never `job_workflow_ref`: a
 * reusable workflow's job gets its caller's policy).
 *
 * Verified tokens are cached in a bounded map keyed by the token text itself, each entry until
 * the token's `exp`: a job (or a retry) that presents the same token again costs one Map lookup.
 * Keying by the exact text is as strict as keying by a digest (a hit needs the very same token)
 * and costs no hashing on the path every fresh token also takes. Eviction is oldest-inserted
 * first (no re-insertion on a hit: entries live minutes, and a hit must stay cheap).
 */
import { createRemoteJWKSet, customFetch, errors, jwtVerify, type JWTPayload } from 'jose';
import { boundedFetch } from '../../util/bounded-fetch.js';
import { BoundedMap } from '../../util/bounded-map.js';

export const GITHUB_OIDC_ISSUER = 'https://token.actions.githubusercontent.com';
/** Longest workflow reference (`owner/repo/.github/workflows/F.yml@ref`) accepted: it is a cache key. */
export const MAX_WORKFLOW_REF_LENGTH = 1024;
/** Most bytes of a JWKS answer read (GitHub's is a few KiB). */
export const MAX_JWKS_BYTES = 1024 * 1024;
/** Default longest token age (`serve --oidc-max-age`), seconds. */
export const DEFAULT_OIDC_MAX_AGE_SECONDS = 3600;

export interface OidcOptions {
  issuer?: string;
  /** Required for Bearer tokens; without it every Bearer token is refused. */
  audience?: string;
  /** Default `<issuer>/.well-known/jwks` (GitHub's layout). */
  jwksUrl?: string;
  clockToleranceSeconds?: number;
  /** Least time between two JWKS fetches caused by unknown `kid`s (default 30 s). */
  jwksCooldownMs?: number;
  /** Refetch the JWKS when older than this (default 10 min). */
  jwksMaxAgeMs?: number;
  /** Verified-token cache entries (default 10,000). */
  cacheSize?: number;
  /**
   * Longest accepted lifetime (`exp - iat`) and farthest accepted `exp` from now, in seconds
   * (default 3600; `serve --oidc-max-age`). GitHub's Actions tokens live minutes; a token valid for years is forged or
   * mis-issued, and caching it would keep it usable. See docs/security.md.
   */
  maxLifetimeSeconds?: number;
}

/** Who a verified token says the caller is. */
export interface TokenIdentity {
  organization: string;
  repository: string;
  /** `owner/repo/.github/workflows/F.yml@ref`, as in the claim. */
  workflowRef: string;
  /** Seconds since the epoch. */
  exp: number;
}

export type VerifyOutcome =
  | { ok: true; identity: TokenIdentity; cached: boolean }
  /** `reason` is a stable metric label; `message` is safe to show the caller (no token in it). */
  | { ok: false; status: 401 | 503; reason: string; message: string };

export class OidcVerifier {
  readonly issuer: string;
  readonly audience: string | undefined;
  readonly jwksUrl: string;
  private readonly jwks: ReturnType<typeof createRemoteJWKSet>;
  /** Verified tokens until their exp; the oldest goes first when full (lookups do not reorder: one Map lookup). */
  private readonly cache: BoundedMap<string, TokenIdentity>;
  private readonly clockTolerance: number;
  private readonly maxLifetime: number;

  constructor(options: OidcOptions = {}) {
    this.issuer = (options.issuer ?? GITHUB_OIDC_ISSUER).replace(/\/+$/, '');
    this.audience = options.audience || undefined;
    this.jwksUrl = options.jwksUrl ?? `${this.issuer}/.well-known/jwks`;
    this.clockTolerance = options.clockToleranceSeconds ?? 60;
    this.jwks = createRemoteJWKSet(new URL(this.jwksUrl), {
      cooldownDuration: options.jwksCooldownMs ?? 30_000,
      cacheMaxAge: options.jwksMaxAgeMs ?? 600_000,
      timeoutDuration: 5_000,
      // A JWKS is a few KiB: cap it, and let the deadline cover the body (jose's covers the headers).
      [customFetch]: boundedFetch({ maxBytes: MAX_JWKS_BYTES, timeoutMs: 5_000 }),
    });
    this.cache = new BoundedMap(Math.max(1, options.cacheSize ?? 10_000));
    this.maxLifetime = options.maxLifetimeSeconds ?? DEFAULT_OIDC_MAX_AGE_SECONDS;
  }

  /**
   * The identity of a token verified before and not expired, without any await: the hot path of
   * /v1/policy stays synchronous. Undefined when the token must go through verify().
   */
  cached(token: string, nowMs: number = Date.now()): TokenIdentity | undefined {
    if (this.audience === undefined) return undefined;
    return this.lookup(token, nowMs);
  }

  private lookup(token: string, nowMs: number): TokenIdentity | undefined {
    const hit = this.cache.peek(token);
    if (hit === undefined) return undefined;
    // Exact expiry for cached entries: the tolerance is for clock skew at first sight only.
    if (hit.exp * 1000 > nowMs) return hit;
    this.cache.delete(token);
    return undefined;
  }

  private remember(token: string, identity: TokenIdentity): void {
    this.cache.set(token, identity);
  }

  async verify(token: string, nowMs: number = Date.now()): Promise<VerifyOutcome> {
    if (this.audience === undefined) {
      return {
        ok: false,
        status: 401,
        reason: 'no_audience',
        message: 'this server has no OIDC audience configured (--oidc-audience or EGRESSCTL_OIDC_AUDIENCE), so it accepts no Bearer tokens',
      };
    }
    const hit = this.lookup(token, nowMs);
    if (hit !== undefined) return { ok: true, identity: hit, cached: true };
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.jwks, {
        issuer: this.issuer,
        audience: this.audience,
        algorithms: ['RS256'],
        clockTolerance: this.clockTolerance,
        // iat is checked below, so that a token without one is told so (jose would call it "not valid yet").
        requiredClaims: ['exp', 'repository', 'repository_owner', 'workflow_ref'],
        currentDate: new Date(nowMs),
      }));
    } catch (error) {
      return describeFailure(error);
    }
    // jose checks iat only for being a number; a token "issued" in the future is not one GitHub made.
    const nowSeconds = Math.floor(nowMs / 1000);
    if (typeof payload.iat !== 'number') {
      return {
        ok: false,
        status: 401,
        reason: 'missing_iat',
        message: `the token has no "iat" (issued-at) claim: this server needs it to bound the token's age (--oidc-max-age ${this.maxLifetime} s); GitHub's Actions tokens always carry one`,
      };
    }
    const iat = payload.iat;
    const exp = payload.exp ?? 0;
    if (iat > nowSeconds + this.clockTolerance) {
      return { ok: false, status: 401, reason: 'not_yet_valid', message: 'the token is not valid yet (iat is in the future)' };
    }
    if (exp - iat > this.maxLifetime || exp - nowSeconds > this.maxLifetime + this.clockTolerance) {
      return { ok: false, status: 401, reason: 'lifetime', message: `the token's lifetime is longer than this server accepts (${this.maxLifetime} s, --oidc-max-age; GitHub's tokens live minutes)` };
    }
    const organization = payload.repository_owner;
    const repository = payload.repository;
    const workflowRef = payload.workflow_ref;
    if (typeof organization !== 'string' || typeof repository !== 'string' || typeof workflowRef !== 'string' || typeof payload.exp !== 'number') {
      return { ok: false, status: 401, reason: 'bad_claims', message: 'the token\'s repository_owner, repository and workflow_ref claims must be strings' };
    }
    const [owner] = repository.split('/');
    if (!/^[^/]+\/[^/]+$/.test(repository) || owner?.toLowerCase() !== organization.toLowerCase()) {
      return { ok: false, status: 401, reason: 'bad_claims', message: 'the token\'s repository claim is not OWNER/REPO of its repository_owner' };
    }
    if (workflowRef.length > MAX_WORKFLOW_REF_LENGTH) {
      return { ok: false, status: 401, reason: 'bad_claims', message: `the token's workflow_ref is longer than ${MAX_WORKFLOW_REF_LENGTH} characters` };
    }
    if (!workflowRef.toLowerCase().startsWith(`${repository.toLowerCase()}/`)) {
      return { ok: false, status: 401, reason: 'bad_claims', message: 'the token\'s workflow_ref is not a workflow of its repository' };
    }
    const identity: TokenIdentity = { organization, repository, workflowRef, exp: payload.exp };
    this.remember(token, identity);
    return { ok: true, identity, cached: false };
  }
}

function describeFailure(error: unknown): VerifyOutcome & { ok: false } {
  if (error instanceof errors.JWTExpired) return { ok: false, status: 401, reason: 'expired', message: 'the token has expired' };
  if (error instanceof errors.JWTClaimValidationFailed) {
    const claim = error.claim;
    if (claim === 'nbf' || claim === 'iat') return { ok: false, status: 401, reason: 'not_yet_valid', message: `the token is not valid yet (${claim})` };
    if (claim === 'aud') return { ok: false, status: 401, reason: 'audience', message: 'the token was issued for another audience' };
    if (claim === 'iss') return { ok: false, status: 401, reason: 'issuer', message: 'the token was issued by another issuer' };
    return { ok: false, status: 401, reason: 'claims', message: `the token's "${claim}" claim is missing or invalid` };
  }
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    return { ok: false, status: 401, reason: 'algorithm', message: 'the token is not signed with RS256' };
  }
  if (error instanceof errors.JWKSNoMatchingKey) {
    return { ok: false, status: 401, reason: 'unknown_key', message: 'the token is signed with a key the issuer does not publish' };
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return { ok: false, status: 401, reason: 'signature', message: 'the token\'s signature does not verify' };
  }
  // A plain JOSEError (ERR_JOSE_GENERIC) is only thrown for a JWKS answer that is not 200 JSON.
  const generic = error instanceof errors.JOSEError && error.code === 'ERR_JOSE_GENERIC';
  if (generic || error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid || !(error instanceof errors.JOSEError)) {
    // The token may be fine: we could not get the keys. Tell the caller to retry.
    return { ok: false, status: 503, reason: 'jwks_unavailable', message: 'cannot fetch the issuer\'s signing keys (JWKS) right now; retry' };
  }
  return { ok: false, status: 401, reason: 'malformed', message: 'the token is not a valid signed JWT' };
}
