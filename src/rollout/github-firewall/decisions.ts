/**
 * The firewall's decisions artifact (`firewall-decisions-*.json`) as baseline evidence
 * (docs/github-firewall.md, "Baselines from the firewall"). `decision[].url` is the only field
 * GitHub has confirmed publicly, so it is the only one read: `https://host` means host:443,
 * `http://host` host:80, an explicit port is kept. Unknown fields are ignored; any other shape is
 * an error located at its line and column, never a guess. Pure.
 */
import { isMap, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import { DiagnosticSink, type Result } from '../../policy/diagnostics.js';
import { parseEndpoint } from '../../policy/endpoint.js';
import { LineIndex } from '../workflow-text.js';
import { DECISIONS_KEYS } from './format.js';

export interface FirewallDecisions {
  /** Canonical `host:port`, sorted, unique (IPv4 included: baselines keep them as IP-only evidence). */
  endpoints: string[];
  /** Decisions read (with a usable url). */
  decisions: number;
}

const SHAPE = `a JSON object with "${DECISIONS_KEYS.list}": [{"${DECISIONS_KEYS.url}": "https://host/path", ...}, ...]`;

/**
 * Where JSON.parse gave up: its message says "at position N" or "(line L column C)" on some Node
 * versions and nothing on others, so the YAML parser's first error (JSON is YAML) is the fallback.
 */
function syntaxOffset(message: string, index: LineIndex, source: string): number {
  const position = /at position (\d+)/.exec(message);
  if (position) return Number(position[1]);
  const lineColumn = /line (\d+) column (\d+)/.exec(message);
  if (lineColumn) return index.lineStart(Number(lineColumn[1]) - 1) + Number(lineColumn[2]) - 1;
  return parseDocument(source).errors[0]?.pos[0] ?? 0;
}

/** `host:port` of a decision's URL, or why not. */
export function endpointOfUrl(url: string): { endpoint: string } | { problem: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { problem: `"${url}" is not a URL` };
  }
  const defaultPort = parsed.protocol === 'https:' ? 443 : parsed.protocol === 'http:' ? 80 : undefined;
  if (defaultPort === undefined) return { problem: `"${url}": scheme ${parsed.protocol} is neither https nor http` };
  const host = parsed.hostname.toLowerCase().replace(/\.$/, '');
  if (host.startsWith('[')) return { problem: `"${url}": an IPv6 address (baselines hold names and IPv4 addresses)` };
  const port = parsed.port === '' ? defaultPort : Number(parsed.port);
  const checked = parseEndpoint(`${host}:${port}`);
  if (!checked.endpoint) return { problem: `"${url}": ${checked.issues[0]?.message ?? 'not a host'}` };
  return { endpoint: checked.endpoint.text };
}

export function parseFirewallDecisions(text: string, file = 'firewall-decisions.json'): Result<FirewallDecisions> {
  const sink = new DiagnosticSink();
  const index = new LineIndex(text);
  const at = (offset: number | undefined) => ({ file, ...index.position(offset ?? 0) });
  const empty: FirewallDecisions = { endpoints: [], decisions: 0 };
  const source = text.replace(/^\uFEFF/, '');
  try {
    JSON.parse(source);
  } catch (error) {
    const message = (error as Error).message;
    sink.error('firewall-decisions/json', at(syntaxOffset(message, index, source)), `not JSON (${message}): expected ${SHAPE}`);
    return sink.result(empty);
  }
  // JSON is YAML: the yaml parser gives the node positions JSON.parse does not.
  const doc = parseDocument(source);
  const root = doc.contents;
  const rangeStart = (node: unknown) => (node as Node | null)?.range?.[0];
  if (!isMap(root)) {
    sink.error('firewall-decisions/shape', at(rangeStart(root)), `not the decisions artifact's shape: expected ${SHAPE}`);
    return sink.result(empty);
  }
  const list = root.get(DECISIONS_KEYS.list, true);
  if (!isSeq(list)) {
    sink.error('firewall-decisions/shape', at(rangeStart(list) ?? rangeStart(root)), `"${DECISIONS_KEYS.list}" ${list === undefined ? 'is missing' : 'is not a list'}: expected ${SHAPE}`);
    return sink.result(empty);
  }
  const endpoints = new Set<string>();
  let decisions = 0;
  list.items.forEach((item, position) => {
    if (!isMap(item)) {
      sink.error('firewall-decisions/shape', at(rangeStart(item)), `${DECISIONS_KEYS.list}[${position}] is not an object: expected {"${DECISIONS_KEYS.url}": "https://host/path", ...}`);
      return;
    }
    const url = item.get(DECISIONS_KEYS.url, true);
    if (url === undefined) {
      sink.warning('firewall-decisions/no-url', at(rangeStart(item)), `${DECISIONS_KEYS.list}[${position}] has no "${DECISIONS_KEYS.url}": skipped`);
      return;
    }
    if (!isScalar(url) || typeof url.value !== 'string') {
      sink.error('firewall-decisions/shape', at(rangeStart(url)), `${DECISIONS_KEYS.list}[${position}].${DECISIONS_KEYS.url} is not a string`);
      return;
    }
    const found = endpointOfUrl(url.value);
    if ('problem' in found) {
      sink.warning('firewall-decisions/url', at(rangeStart(url)), `${DECISIONS_KEYS.list}[${position}].${DECISIONS_KEYS.url}: ${found.problem}: skipped`);
      return;
    }
    decisions++;
    endpoints.add(found.endpoint);
  });
  if (decisions === 0 && !sink.hasErrors) sink.warning('firewall-decisions/empty', at(rangeStart(list)), 'no decision with a usable url: the run is recorded as one that reached nothing');
  return sink.result({ endpoints: [...endpoints].sort(), decisions });
}
