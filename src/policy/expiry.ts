/**
 * Exceptions that expire (docs/architecture.md#expiring-exceptions): an endpoint entry with
 * `expires: YYYY-MM-DD` counts until the end of that UTC day and is dropped from the effective
 * policy after it. Compiling stays deterministic (the bundle carries each entry's date, never
 * "now"); whoever answers with a policy applies the date at answer time through `policyAsOf`.
 * Pure: every function takes the time it evaluates at.
 */
import type { DiagnosticSink, Diagnostic, SourcePosition } from './diagnostics.js';
import { answerOf, resolveScopes, winningPolicy, type EffectivePolicyAnswer, type ResolveQuery } from './resolve.js';
import { lookupRecord, type AttachmentMap, type CompiledPolicy, type EndpointEntry, type Policy } from './model.js';

/** `validate` gives a notice for an entry that expires within this many days. */
export const EXPIRY_NOTICE_DAYS = 14;
const DAY_MS = 24 * 60 * 60 * 1000;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Is `text` a real calendar date written `YYYY-MM-DD`? */
export function isExpiryDate(text: string): boolean {
  const match = DATE.exec(text);
  if (!match) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const time = new Date(Date.UTC(year, month - 1, day));
  return time.getUTCFullYear() === year && time.getUTCMonth() === month - 1 && time.getUTCDate() === day;
}

/** The first instant at which an entry that `expires` on `date` no longer counts: the next UTC midnight. */
export function expiryInstant(date: string): number {
  const match = DATE.exec(date);
  // Invalid dates never reach here (validation rejects them); treat one as already over.
  if (!match) return Number.NEGATIVE_INFINITY;
  return Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]) + 1);
}

export function isExpired(date: string, at: Date | number): boolean {
  return toTime(at) >= expiryInstant(date);
}

/** Whole UTC days from `at`'s day to `date` (0: expires at the end of today; negative: over). */
export function daysLeft(date: string, at: Date | number): number {
  const time = toTime(at);
  const today = Date.UTC(new Date(time).getUTCFullYear(), new Date(time).getUTCMonth(), new Date(time).getUTCDate());
  return Math.round((expiryInstant(date) - DAY_MS - today) / DAY_MS);
}

function toTime(at: Date | number): number {
  return typeof at === 'number' ? at : at.getTime();
}

/**
 * `--at` values: `YYYY-MM-DD` (the start of that UTC day: "what happens on the 1st") or an ISO
 * 8601 date-time with a time zone. Undefined when it is neither.
 */
export function parseAsOf(text: string): Date | undefined {
  const trimmed = text.trim();
  if (isExpiryDate(trimmed)) return new Date(`${trimmed}T00:00:00Z`);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(trimmed)) return undefined;
  const time = Date.parse(trimmed);
  return Number.isNaN(time) ? undefined : new Date(time);
}

/**
 * The expiry map of a flattened policy from its own entries and its parents' (already flattened):
 * an endpoint listed anywhere in the ancestry without `expires` is permanent; otherwise it counts
 * until the latest of its dates. Undefined when nothing expires.
 */
export function mergeEndpointExpiry(own: readonly EndpointEntry[], parents: readonly CompiledPolicy[]): Record<string, string> | undefined {
  const permanent = new Set<string>();
  const latest = new Map<string, string>();
  const note = (endpoint: string, expires: string | undefined): void => {
    if (expires === undefined) permanent.add(endpoint);
    else if ((latest.get(endpoint) ?? '') < expires) latest.set(endpoint, expires);
  };
  for (const entry of own) note(entry.endpoint, entry.expires);
  for (const parent of parents) {
    const expiry = parent['endpoint-expiry'] ?? {};
    for (const endpoint of parent['allowed-endpoints']) note(endpoint, Object.hasOwn(expiry, endpoint) ? expiry[endpoint] : undefined);
  }
  const merged = [...latest].filter(([endpoint]) => !permanent.has(endpoint)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return merged.length === 0 ? undefined : Object.fromEntries(merged);
}

/** The policy as it stands at `at`: expired entries dropped from `allowed-endpoints` and from the expiry map. */
export function policyAsOf(policy: CompiledPolicy, at: Date | number): CompiledPolicy {
  const expiry = policy['endpoint-expiry'];
  if (expiry === undefined) return policy;
  const expired = new Set(Object.entries(expiry).filter(([, date]) => isExpired(date, at)).map(([endpoint]) => endpoint));
  if (expired.size === 0) return policy;
  const { 'endpoint-expiry': _all, ...rest } = policy;
  const result: CompiledPolicy = { ...rest, 'allowed-endpoints': policy['allowed-endpoints'].filter((endpoint) => !expired.has(endpoint)) };
  const left = Object.entries(expiry).filter(([endpoint]) => !expired.has(endpoint));
  if (left.length > 0) result['endpoint-expiry'] = Object.fromEntries(left);
  return result;
}

/** Every policy as of `at` (unchanged policies are the same objects), a lookup record as flattenPolicies gives. */
export function policiesAsOf(policies: Readonly<Record<string, CompiledPolicy>>, at: Date | number): Record<string, CompiledPolicy> {
  return lookupRecord(Object.entries(policies).map(([name, policy]) => [name, policyAsOf(policy, at)] as const));
}

/** When the policy next changes by itself: the earliest expiry instant after `at`, if any. */
export function nextExpiryInstant(policy: CompiledPolicy | undefined, at: Date | number): number | undefined {
  let next: number | undefined;
  for (const date of Object.values(policy?.['endpoint-expiry'] ?? {})) {
    const instant = expiryInstant(date);
    if (instant > toTime(at) && (next === undefined || instant < next)) next = instant;
  }
  return next;
}

/**
 * `effectivePolicy` as of `at`: only the winning policy is looked at, so a server answering
 * thousands of scopes does not copy every policy per answer.
 */
export function effectivePolicyAt(
  attachments: AttachmentMap,
  policies: Readonly<Record<string, CompiledPolicy>>,
  query: ResolveQuery,
  at: Date | number,
): EffectivePolicyAnswer {
  return effectivePolicyWithExpiry(attachments, policies, query, at).answer;
}

/**
 * `effectivePolicyAt` and when that answer next changes by itself (`nextExpiryInstant` of the
 * winning policy), from one resolution: the server needs both for each answer it makes.
 */
export function effectivePolicyWithExpiry(
  attachments: AttachmentMap,
  policies: Readonly<Record<string, CompiledPolicy>>,
  query: ResolveQuery,
  at: Date | number,
): { answer: EffectivePolicyAnswer; validUntil?: number } {
  const resolution = resolveScopes(attachments, query);
  const winner = winningPolicy(resolution, policies);
  const answer = answerOf(resolution, winner && policyAsOf(winner, at));
  const validUntil = nextExpiryInstant(winner, at);
  return validUntil === undefined ? { answer } : { answer, validUntil };
}

/** One exception with an end date, where it is written. */
export interface ExpiringEntry {
  policy: string;
  endpoint: string;
  expires: string;
  reason?: string;
  owner?: string;
  at: SourcePosition;
  /** Whole UTC days left (0: today is its last day; negative: expired). */
  daysLeft: number;
}

/** Every entry with `expires` in the policies as written, soonest first. */
export function expiringEntries(policies: Iterable<Policy>, at: Date | number): ExpiringEntry[] {
  const entries: ExpiringEntry[] = [];
  for (const policy of policies) {
    for (const entry of policy.allowedEndpoints) {
      if (entry.expires === undefined) continue;
      const item: ExpiringEntry = { policy: policy.name, endpoint: entry.endpoint, expires: entry.expires, at: entry.at, daysLeft: daysLeft(entry.expires, at) };
      if (entry.reason !== undefined) item.reason = entry.reason;
      if (entry.owner !== undefined) item.owner = entry.owner;
      entries.push(item);
    }
  }
  return entries.sort((a, b) => (a.expires !== b.expires ? (a.expires < b.expires ? -1 : 1) : a.policy !== b.policy ? (a.policy < b.policy ? -1 : 1) : a.endpoint < b.endpoint ? -1 : 1));
}

export interface ExpiryFindings {
  /** Expired entries: warnings, never errors (they must not block unrelated changes). */
  warnings: Diagnostic[];
  /** Entries that expire within EXPIRY_NOTICE_DAYS days. */
  notices: Diagnostic[];
}

/** What `validate` says about dates at `at`: located at each entry. */
export function expiryFindings(policies: Iterable<Policy>, at: Date | number): ExpiryFindings {
  const findings: ExpiryFindings = { warnings: [], notices: [] };
  for (const entry of expiringEntries(policies, at)) {
    const where = { file: entry.at.file, line: entry.at.line, column: entry.at.column };
    const who = entry.owner === undefined ? '' : ` (owner: ${entry.owner})`;
    if (entry.daysLeft < 0) {
      findings.warnings.push({
        ...where,
        code: 'endpoint/expired',
        severity: 'warning',
        message: `"${entry.endpoint}" expired on ${entry.expires}${who}: this entry no longer counts anywhere; delete it, or move "expires" to a later date if the exception is still needed`,
      });
    } else if (entry.daysLeft < EXPIRY_NOTICE_DAYS) {
      const when = entry.daysLeft === 0 ? 'today is its last day' : `${entry.daysLeft} day${entry.daysLeft === 1 ? '' : 's'} left`;
      findings.notices.push({
        ...where,
        code: 'endpoint/expiring',
        severity: 'notice',
        message: `"${entry.endpoint}" expires on ${entry.expires} (${when})${who}: it is dropped after the end of that UTC day`,
      });
    }
  }
  return findings;
}

/** The shape rules need of one written entry (policy-file.ts's RawEndpoint). */
export interface WrittenExpiry {
  text: string;
  reason?: string;
  expires?: unknown;
  expiresAt?: SourcePosition;
}

/**
 * Per-file rule: `expires` is a real calendar date. Its shape (a string `YYYY-MM-DD`) and `reason`
 * with `expires` are the schema's: this catches what a pattern cannot, such as February 30th.
 */
export function checkExpiryDates(entries: readonly WrittenExpiry[], sink: DiagnosticSink): void {
  for (const entry of entries) {
    if (entry.expires === undefined || entry.expiresAt === undefined) continue;
    if (typeof entry.expires === 'string' && DATE.test(entry.expires) && !isExpiryDate(entry.expires)) {
      sink.error(
        'endpoint/expires-invalid',
        entry.expiresAt,
        `expires of "${entry.text}" is "${entry.expires}", which is not a day of the calendar: write a real date as YYYY-MM-DD (the entry counts until the end of that day, UTC)`,
      );
    }
  }
}
