/**
 * Endpoint arithmetic for reviews: the agent's allow check compiled once per policy, and
 * wildcard coverage (does one pattern allow everything another does).
 */
import { endpointFromText, endpointMatches, hostMatches, implicitPatternFor, type Endpoint } from '../policy/endpoint.js';

export function isWildcard(endpoint: string): boolean {
  return endpoint.includes('*');
}

/** Harden-Runner's implicit endpoints, checked once per distinct endpoint (and telemetry setting) for the whole process. */
const implicitMemo = new Map<string, boolean>();

export function isImplicitlyAllowed(endpoint: string, options: { disableTelemetry?: boolean | undefined } = {}): boolean {
  const memoKey = options.disableTelemetry === true ? `${endpoint} -telemetry` : endpoint;
  let allowed = implicitMemo.get(memoKey);
  if (allowed === undefined) {
    const { host, port } = endpointFromText(endpoint);
    allowed = implicitPatternFor(host, port, options) !== undefined;
    // Bounded: endpoints are finite in practice, but a long-lived server must not grow without limit.
    if (implicitMemo.size > 100_000) implicitMemo.clear();
    implicitMemo.set(memoKey, allowed);
  }
  return allowed;
}

/**
 * The agent's rule for one policy's `allowed-endpoints`, plus Harden-Runner's implicit endpoints
 * (the telemetry hosts only while the policy leaves telemetry on). Exact entries go in a set; only
 * wildcards are scanned.
 */
export class EndpointMatcher {
  private readonly exact: Set<string>;
  private readonly wildcards: Endpoint[];
  private readonly disableTelemetry: boolean;

  constructor(allowed: readonly string[], options: { disableTelemetry?: boolean | undefined } = {}) {
    this.disableTelemetry = options.disableTelemetry === true;
    this.exact = new Set();
    this.wildcards = [];
    for (const text of allowed) {
      if (isWildcard(text)) this.wildcards.push(endpointFromText(text));
      else this.exact.add(text);
    }
  }

  /** Is canonical `host:port` allowed, by an entry or implicitly? */
  allows(endpoint: string): boolean {
    if (this.exact.has(endpoint)) return true;
    if (this.wildcards.length > 0) {
      const { host, port } = endpointFromText(endpoint);
      if (this.wildcards.some((pattern) => endpointMatches(pattern, host, port))) return true;
    }
    return isImplicitlyAllowed(endpoint, { disableTelemetry: this.disableTelemetry });
  }
}

/** Does `pattern` allow every name `entry` allows (same port; the agent's prefix/suffix rule)? */
export function covers(pattern: Endpoint, entry: Endpoint): boolean {
  if (pattern.port !== entry.port) return false;
  const star = pattern.host.indexOf('*');
  if (star === -1) return pattern.host === entry.host;
  const entryStar = entry.host.indexOf('*');
  if (entryStar === -1) return hostMatches(pattern.host, entry.host);
  // Names matched by entry are entryPrefix + anything + entrySuffix.
  return entry.host.slice(0, entryStar).startsWith(pattern.host.slice(0, star)) && entry.host.slice(entryStar + 1).endsWith(pattern.host.slice(star + 1));
}

/**
 * Wildcard entries of `after` that allow names no entry of `before` allowed: a new wildcard, or one
 * that now covers more (e.g. `*.api.example.com` -> `*.example.com`, or `*.x.com` -> `*x.com`).
 */
export function widenedWildcards(before: readonly string[], after: readonly string[]): string[] {
  const candidates = after.filter(isWildcard);
  if (candidates.length === 0) return [];
  const beforeSet = new Set(before);
  const beforeWildcards = before.filter(isWildcard).map(endpointFromText);
  return candidates
    .filter((text) => !beforeSet.has(text))
    .filter((text) => {
      const entry = endpointFromText(text);
      return !beforeWildcards.some((pattern) => covers(pattern, entry));
    })
    .sort();
}
