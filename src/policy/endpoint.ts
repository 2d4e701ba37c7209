/**
 * Endpoint entries as Harden-Runner's agent reads them (docs/architecture.md#endpoints).
 * Pure: parse, normalize, match. Locations are the caller's business.
 */

export const DEFAULT_PORT = 443;
const MAX_HOST_LENGTH = 253;
const MAX_LABEL_LENGTH = 63;
const LABEL = /^[a-z0-9-]+$/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

export interface Endpoint {
  /** Lower-cased, no trailing dot; may contain one `*`. */
  host: string;
  port: number;
  /** `host:port`, the canonical form written to bundles and workflows. */
  text: string;
}

export interface EndpointIssue {
  code: string;
  severity: 'error' | 'warning';
  message: string;
}

export interface ParsedEndpoint {
  /** Undefined when any error was found. */
  endpoint?: Endpoint;
  issues: EndpointIssue[];
}

function fail(code: string, message: string): ParsedEndpoint {
  return { issues: [{ code, severity: 'error', message }] };
}

/** Parse one `host[:port]` entry. Never throws. */
export function parseEndpoint(raw: string): ParsedEndpoint {
  const entry = raw.trim();
  if (entry === '') return fail('endpoint/empty', 'empty endpoint: write host[:port], e.g. "github.com:443"');

  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(entry);
  if (scheme) {
    return fail(
      'endpoint/scheme',
      `"${entry}" has a scheme (${scheme[1]}://): the agent matches host and port only; write "${suggestWithoutScheme(entry)}"`,
    );
  }
  if (entry.startsWith('[') || (entry.match(/:/g)?.length ?? 0) > 1) {
    return fail('endpoint/ipv6', `"${entry}" is an IPv6 address: Harden-Runner allows DNS names; list the host name instead`);
  }
  if (entry.includes('@')) {
    return fail('endpoint/userinfo', `"${entry}" has user-info before "@": remove it and keep only host[:port]`);
  }
  if (/^[\d.]+\/\d+$/.test(entry)) {
    return fail('endpoint/cidr', `"${entry}" is a CIDR range: Harden-Runner allows names, not ranges; list each host name`);
  }
  if (entry.includes('/')) {
    const hostPart = entry.slice(0, entry.indexOf('/'));
    return fail('endpoint/path', `"${entry}" has a path: the agent matches host and port only; write "${hostPart}"`);
  }
  if (/\s/.test(entry)) {
    return fail('endpoint/whitespace', `"${entry}" contains whitespace: list each endpoint as its own entry`);
  }

  let hostText = entry;
  let port = DEFAULT_PORT;
  const colon = entry.lastIndexOf(':');
  if (colon !== -1) {
    hostText = entry.slice(0, colon);
    const portText = entry.slice(colon + 1);
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      return fail('endpoint/port', `"${entry}" has port "${portText}": a port is a number from 1 to 65535 (443 when omitted)`);
    }
    port = Number(portText);
  }

  let host = hostText.toLowerCase();
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (host === '') return fail('endpoint/empty', `"${entry}" has no host: write host[:port]`);
  if (host === '*') {
    return fail('endpoint/bare-wildcard', `"${entry}" allows every host: use "egress-policy: audit" instead of a bare "*"`);
  }
  const stars = host.split('*').length - 1;
  if (stars > 1) {
    return fail(
      'endpoint/multiple-wildcards',
      `"${entry}" has ${stars} "*": the agent honours only the first one and would match literally after it; keep one "*"`,
    );
  }
  if (host.length > MAX_HOST_LENGTH) {
    return fail('endpoint/host-too-long', `"${entry}" is longer than ${MAX_HOST_LENGTH} characters, the limit for a DNS name`);
  }
  for (const label of host.split('.')) {
    const bare = label.replace('*', '');
    if (label === '' || label.length > MAX_LABEL_LENGTH || (bare !== '' && !LABEL.test(bare))) {
      return fail(
        'endpoint/invalid-host',
        `"${entry}" is not a DNS name: labels are 1 to ${MAX_LABEL_LENGTH} characters of a-z, 0-9 and "-", separated by single dots`,
      );
    }
    // A "*" next to the hyphen stands for characters, so "foo-*" and "*-foo" are fine.
    if (label.startsWith('-') || label.endsWith('-')) {
      return fail('endpoint/invalid-host', `"${entry}" is not a DNS name: the label "${label}" starts or ends with "-"; labels begin and end with a letter or digit`);
    }
  }

  const issues: EndpointIssue[] = [];
  if (IPV4.test(host)) {
    issues.push({
      code: 'endpoint/ipv4',
      severity: 'warning',
      message: `"${entry}" is an IPv4 address: the community agent resolves entries as names, so this may never match; prefer the host name`,
    });
  }
  if (stars === 1 && host.startsWith('*') && host[1] !== '.') {
    issues.push({
      code: 'endpoint/loose-wildcard',
      severity: 'warning',
      message: `"${entry}" also matches names such as "evil${host.slice(1)}": write "*.${host.slice(1).replace(/^-+/, '')}" to match subdomains only`,
    });
  }
  const wide = stars === 1 ? wideWildcardMessage(entry, host) : undefined;
  if (wide) issues.push({ code: 'endpoint/wide-wildcard', severity: 'warning', message: wide });
  return { endpoint: makeEndpoint(host, port), issues };
}

/**
 * The agent splits on the first "*" and matches any name with that prefix and suffix, dots
 * included: a "*" after the first label ("foo.*.com") or at the end ("api.*") is not one label,
 * and the match is no longer held inside one domain.
 */
function wideWildcardMessage(entry: string, host: string): string | undefined {
  const star = host.indexOf('*');
  const prefix = host.slice(0, star);
  const suffix = host.slice(star + 1);
  if (suffix !== '' && !prefix.includes('.')) return undefined;
  const example = `${prefix}evil.attacker${suffix === '' ? '.com' : suffix}`;
  const ends = suffix === '' ? '' : ` and ends with "${suffix}"`;
  return `"${entry}" allows every name that starts with "${prefix}"${ends}, such as "${example}": the agent splits on the first "*", which is not one label; put the "*" in front of a domain you own, e.g. "*.example.com"`;
}

function suggestWithoutScheme(entry: string): string {
  const rest = entry.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const hostPort = rest.split(/[/?#]/)[0] ?? rest;
  return hostPort.replace(/^[^@]*@/, '');
}

export function makeEndpoint(host: string, port: number): Endpoint {
  return { host, port, text: `${host}:${port}` };
}

/** Canonical text of an entry, or undefined when it is not a valid endpoint. */
export function normalizeEndpoint(raw: string): string | undefined {
  return parseEndpoint(raw).endpoint?.text;
}

/** Split a workflow-style string on any whitespace. */
export function splitEndpointString(value: string): string[] {
  return value.split(/\s+/).filter((part) => part !== '');
}

/** Sorted, unique canonical texts. */
export function sortUnique(texts: Iterable<string>): string[] {
  return [...new Set(texts)].sort();
}

/** Items of `a` not in `b`, sorted. Linear when both are sorted (compiled policies are), else via a set. */
export function difference(a: readonly string[], b: readonly string[]): string[] {
  if (a.length === 0) return [];
  if (b.length === 0) return isSorted(a) ? a.slice() : [...a].sort();
  if (!isSorted(a) || !isSorted(b)) {
    const other = new Set(b);
    return a.filter((item) => !other.has(item)).sort();
  }
  const out: string[] = [];
  let j = 0;
  for (const item of a) {
    while (j < b.length && (b[j] as string) < item) j++;
    if (j < b.length && b[j] === item) continue;
    out.push(item);
  }
  return out;
}

function isSorted(items: readonly string[]): boolean {
  for (let index = 1; index < items.length; index++) if ((items[index - 1] as string) > (items[index] as string)) return false;
  return true;
}

/** The single-line form the agent's parser wants: never a newline. */
export function joinEndpoints(texts: Iterable<string>): string {
  return sortUnique(texts).join(' ');
}

/** The agent's rule: split on the first `*`; match on prefix and suffix. */
export function hostMatches(pattern: string, host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  const star = pattern.indexOf('*');
  if (star === -1) return pattern === name;
  const prefix = pattern.slice(0, star);
  // A second `*` is taken literally by the agent; validation rejects it anyway.
  const suffix = pattern.slice(star + 1);
  return name.startsWith(prefix) && name.endsWith(suffix);
}

export function endpointMatches(pattern: Endpoint, host: string, port: number): boolean {
  return pattern.port === port && hostMatches(pattern.host, host);
}

/** Parse canonical `host:port` text already known to be valid (bundles, baselines). */
export function endpointFromText(text: string): Endpoint {
  const colon = text.lastIndexOf(':');
  if (colon === -1) return makeEndpoint(text, DEFAULT_PORT);
  return makeEndpoint(text.slice(0, colon), Number(text.slice(colon + 1)));
}

/** Is `host:port` allowed by any of the patterns? */
export function isAllowed(patterns: readonly Endpoint[], host: string, port: number): boolean {
  return patterns.some((pattern) => endpointMatches(pattern, host, port));
}

/**
 * Endpoints Harden-Runner's agent allows by itself, whatever `allowed-endpoints` says. Copied from
 * its source, step-security/agent v0.16.0, agent.go, addImplicitEndpoints: GitHub Actions' own
 * services, all on 443. Nothing else: github.com and api.github.com are NOT implicit (block-mode
 * workflows list them; actions/checkout needs github.com), so a recommendation or a rewrite never
 * leaves them out. Previews may label these; validation never requires them.
 */
export const IMPLICIT_ENDPOINTS: readonly string[] = [
  '*.actions.githubusercontent.com:443',
  'codeload.github.com:443',
  'actions-results-receiver-production.githubapp.com:443',
  'productionresultssa*.blob.core.windows.net:443',
];

/** Allowed by the same function only while telemetry is on (`disable-telemetry` not true). */
export const TELEMETRY_ENDPOINTS: readonly string[] = ['agent.api.stepsecurity.io:443', 'prod.app-api.stepsecurity.io:443'];

export const IMPLICIT_ENDPOINT_PATTERNS: readonly Endpoint[] = IMPLICIT_ENDPOINTS.map(endpointFromText);
export const TELEMETRY_ENDPOINT_PATTERNS: readonly Endpoint[] = TELEMETRY_ENDPOINTS.map(endpointFromText);
const ALL_IMPLICIT_PATTERNS: readonly Endpoint[] = [...IMPLICIT_ENDPOINT_PATTERNS, ...TELEMETRY_ENDPOINT_PATTERNS];

/** Everything the agent allows by itself for a policy; telemetry is on unless `disable-telemetry: true`. */
export function implicitEndpointPatterns(options: { disableTelemetry?: boolean | undefined } = {}): readonly Endpoint[] {
  return options.disableTelemetry === true ? IMPLICIT_ENDPOINT_PATTERNS : ALL_IMPLICIT_PATTERNS;
}


/** The implicit pattern (telemetry ones included) that allows `host:port`, if any. */
export function implicitPatternFor(host: string, port: number, options: { disableTelemetry?: boolean | undefined } = {}): Endpoint | undefined {
  return implicitEndpointPatterns(options).find((pattern) => endpointMatches(pattern, host, port));
}
