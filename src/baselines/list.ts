/**
 * Plain endpoint lists, as Harden-Runner's insights page exports them: `host:port` entries one a
 * line or separated by whitespace (commas tolerated), `#` starts a comment. Pure.
 */
import { DiagnosticSink, type Result } from '../policy/diagnostics.js';
import { parseEndpoint } from '../policy/endpoint.js';

/**
 * Canonical, sorted, unique `host:port` (IPv4 entries included: merge keeps them as IP-only
 * evidence). Each invalid entry is an error at its line and column, with parseEndpoint's code.
 */
export function parseEndpointList(text: string, file = 'endpoints.txt'): Result<string[]> {
  const sink = new DiagnosticSink();
  const endpoints = new Set<string>();
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  lines.forEach((rawLine, index) => {
    const line = rawLine.replace(/\r$/, '');
    const hash = line.indexOf('#');
    const content = hash === -1 ? line : line.slice(0, hash);
    for (const match of content.matchAll(/[^\s,]+/g)) {
      const entry = match[0];
      const at = { file, line: index + 1, column: (match.index ?? 0) + 1 };
      const parsed = parseEndpoint(entry);
      for (const issue of parsed.issues) {
        // IPv4 entries are fine here: they are recorded as IP-only evidence, never recommended.
        if (issue.code === 'endpoint/ipv4') continue;
        if (issue.severity === 'error') sink.error(issue.code, at, issue.message);
        else sink.warning(issue.code, at, issue.message);
      }
      if (parsed.endpoint) endpoints.add(parsed.endpoint.text);
    }
  });
  if (endpoints.size === 0 && !sink.hasErrors) {
    sink.warning('baseline/empty-list', { file, line: 1, column: 1 }, 'the list holds no endpoints: the run is recorded as one that reached nothing');
  }
  return sink.result([...endpoints].sort());
}
