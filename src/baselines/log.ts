/**
 * Harden-Runner job logs -> the endpoints one job run reached. The post step of
 * step-security/harden-runner prints `/home/agent/agent.log`; its lines, inside GitHub's log
 * format, say what the agent saw (format strings of step-security/agent):
 *   endpoint called ip address:port <ip>:<port>, domain: <name>., pid: <pid>, process: <exe>
 *   domain resolved: <name>., ip address: <ip>, TTL: <n>
 *   domain not allowed: <name>.          (block mode, DNS refused)
 *   ip address dropped: <ip>[, reason: ...]  (block mode, packet dropped)
 * Pure: text in, evidence out.
 */
import { DiagnosticSink, type Result } from '../policy/diagnostics.js';
import { makeEndpoint, parseEndpoint } from '../policy/endpoint.js';
import { MAX_NAMES_PER_RUN, blockedName, normalizeTimestamp } from './model.js';

/** Where the agent sends a name it refused to resolve in block mode; calls to it are blocked calls. */
export const SINKHOLE_ADDRESS = '54.185.253.63';

export interface AgentLogEvidence {
  /** Named `host:port` the job connected to, sorted (implicit ones included; merge sorts them out). */
  endpoints: string[];
  /** `ip:port` called with no name known, sorted: evidence only. */
  addresses: string[];
  /** Names refused by DNS and IPs dropped, sorted. */
  blocked: string[];
  /** Endpoints whose name came from an earlier `domain resolved` line for the same IP, not from the call line. */
  namedFromResolution: string[];
  /** Endpoint or address -> executables that called it, sorted. */
  processes: Record<string, string[]>;
  /** Earliest and latest time of the agent lines (the agent's own timestamps, else GitHub's), seconds precision. */
  startedAt?: string;
  endedAt?: string;
  /** How many agent lines were recognized; 0 means the log holds no agent output. */
  agentLines: number;
  /**
   * The egress policy the job ran with: from the configuration the first Harden-Runner step
   * prints (`[!] Current Configuration:` then one JSON line with `egress_policy`; that step starts
   * the agent, later ones only print theirs, warned about when it differs), turned to audit when
   * that step then says it switched to audit; else block when the agent blocked something; absent
   * when the log does not say.
   */
  mode?: 'audit' | 'block';
  /**
   * Names dropped: blocked names that are not DNS names or IPv4 addresses (any step can print a
   * line that looks like the agent's), and names past MAX_NAMES_PER_RUN. Each kind is a warning.
   */
  dropped: number;
}

// eslint-disable-next-line no-control-regex -- ANSI color codes start with ESC; matching it is the point.
const ANSI = /\u001b\[[0-9;?]*[A-Za-z]/g;
const GITHUB_TIMESTAMP = /^\uFEFF?(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z) ?/;
const WORKFLOW_COMMAND = /^##\[[a-z]+\]/;
/** The agent's own prefix: `Sun, 26 Jul 2026 12:09:47 GMT:` (Go's `Mon, 02 Jan 2006 15:04:05 MST`). */
const AGENT_TIMESTAMP = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [A-Z]{2,5}:/;

const CALLED = /^endpoint called ip address:port (\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5}), domain: ?([^,\s]*), pid: ?(\d*), process: ?(.*)$/;
const RESOLVED = /^domain resolved: ([^,\s]+), ip address: (\d{1,3}(?:\.\d{1,3}){3}), TTL: ?\d+/;
// The whole rest of the line is the name: `domain not allowed: a b.` is not the agent's line.
const NOT_ALLOWED = /^domain not allowed: (\S+)$/;
const DROPPED = /^ip address dropped: (\d{1,3}(?:\.\d{1,3}){3})/;
/** Harden-Runner's pre step after printing a block configuration, when the cache service's URL cannot be read. */
const SWITCHED_TO_AUDIT = 'Switching egress-policy to audit mode';

export interface CleanLine {
  text: string;
  /** The agent's own time of the event when the line has it, else GitHub's time of printing. */
  time?: string;
}

/** One raw line without GitHub's timestamp, color codes, workflow-command marker or the agent's timestamp. */
export function cleanLine(raw: string): CleanLine {
  let text = raw.replace(/\r$/, '').replace(ANSI, '');
  let time: string | undefined;
  const stamp = GITHUB_TIMESTAMP.exec(text);
  if (stamp?.[1]) {
    time = normalizeTimestamp(stamp[1]);
    text = text.slice(stamp[0].length);
  }
  text = text.replace(WORKFLOW_COMMAND, '').trimStart();
  const agentStamp = AGENT_TIMESTAMP.exec(text);
  if (agentStamp) {
    time = normalizeTimestamp(agentStamp[0].slice(0, -1)) ?? time;
    text = text.slice(agentStamp[0].length);
  }
  text = text.trim();
  return time === undefined ? { text } : { text, time };
}

function stripDot(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, '');
}

/** `egress_policy` of the configuration line Harden-Runner prints, when the line is that JSON. */
function configuredMode(line: string): 'audit' | 'block' | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value = (JSON.parse(line) as { egress_policy?: unknown }).egress_policy;
    return value === 'audit' || value === 'block' ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Extract one job run's endpoints from its log. A log without any agent line is an error
 * `baseline/no-agent-log`; names the agent reported that are not valid endpoint names are
 * warnings and their calls stay as IP-only evidence.
 */
export function parseHardenRunnerLog(text: string, file = 'log'): Result<AgentLogEvidence> {
  const sink = new DiagnosticSink();
  const endpoints = new Set<string>();
  const addresses = new Set<string>();
  const blocked = new Set<string>();
  const namedFromResolution = new Set<string>();
  const processes = new Map<string, Set<string>>();
  /** ip -> name from the latest `domain resolved` line so far: the agent's own reverse lookup. */
  const resolvedNames = new Map<string, string>();
  const reportedNames = new Set<string>();
  let agentLines = 0;
  let dropped = 0;
  let capReported = false;
  const unusableBlocked = new Set<string>();
  /** Room for one more name of this run; past the cap the name is dropped, counted, and said once. */
  const room = (at: { file: string; line: number; column: number }): boolean => {
    if (endpoints.size + addresses.size + blocked.size < MAX_NAMES_PER_RUN) return true;
    dropped += 1;
    if (!capReported) {
      capReported = true;
      sink.warning('baseline/too-many-names', at, `the log names more than ${MAX_NAMES_PER_RUN} endpoints, addresses and blocked names: the rest are dropped (a job reaches tens of hosts; a log with thousands is a job printing lines that look like the agent's)`);
    }
    return false;
  };
  const addBlocked = (text: string, at: { file: string; line: number; column: number }): void => {
    const name = blockedName(text);
    if (name === undefined) {
      dropped += 1;
      const shown = text.slice(0, 80);
      if (!unusableBlocked.has(shown) && unusableBlocked.size < 20) {
        unusableBlocked.add(shown);
        sink.warning('baseline/unusable-name', at, `the log says "${shown}" was blocked, which is neither a DNS name nor an IPv4 address: dropped, not stored`);
      }
      return;
    }
    if (!blocked.has(name) && !room(at)) return;
    blocked.add(name);
  };
  let startedAt: string | undefined;
  let endedAt: string | undefined;
  /**
   * The first configuration Harden-Runner printed: the step that installs and starts the agent.
   * A later harden-runner step (a second one, one inside a composite action) prints its own and
   * then "Agent already installed, skipping installation" (step-security/harden-runner
   * src/setup.ts): the agent keeps the first step's configuration.
   */
  let first: { mode: 'audit' | 'block'; line: number } | undefined;
  let configurations = 0;
  let configurationNext = false;

  const lines = text.split('\n');
  lines.forEach((raw, index) => {
    const { text: line, time } = cleanLine(raw);
    if (line === '') return;
    const at = { file, line: index + 1, column: 1 };
    if (configurationNext) {
      configurationNext = false;
      const printed = configuredMode(line);
      if (printed) {
        configurations += 1;
        if (!first) {
          first = { mode: printed, line: index + 1 };
        } else if (printed !== first.mode) {
          sink.warning(
            'baseline/configuration-differs',
            at,
            `a later Harden-Runner step printed a configuration with egress_policy "${printed}", but the agent runs with the configuration of the first step (line ${first.line}), "${first.mode}": that mode is recorded (a second harden-runner step, e.g. in a composite action, does not reconfigure the agent)`,
          );
        }
      }
    }
    if (line.includes('[!] Current Configuration:')) configurationNext = true;
    // The first step prints its configuration before it reads the cache service's URL in block
    // mode; when that fails it falls back to audit and starts the agent so (src/setup.ts).
    if (configurations === 1 && first?.mode === 'block' && line === SWITCHED_TO_AUDIT) first.mode = 'audit';
    const recognized = (): void => {
      agentLines += 1;
      if (time) {
        if (!startedAt || time < startedAt) startedAt = time;
        if (!endedAt || time > endedAt) endedAt = time;
      }
    };

    const resolved = RESOLVED.exec(line);
    if (resolved?.[1] && resolved[2]) {
      recognized();
      resolvedNames.set(resolved[2], stripDot(resolved[1]));
      return;
    }
    const notAllowed = NOT_ALLOWED.exec(line);
    if (notAllowed?.[1]) {
      recognized();
      addBlocked(notAllowed[1], at);
      return;
    }
    const droppedPacket = DROPPED.exec(line);
    if (droppedPacket?.[1]) {
      recognized();
      if (droppedPacket[1] !== SINKHOLE_ADDRESS) addBlocked(droppedPacket[1], at);
      return;
    }
    const called = CALLED.exec(line);
    if (!called) return;
    recognized();
    const [, ip = '', portText = '', domainText = '', , processText = ''] = called;
    const port = Number(portText);
    if (port < 1 || port > 65535) return;
    const process = processText.trim().replace(/\.$/, '');
    let name = stripDot(domainText);
    let fromResolution = false;
    if (name === '') {
      name = resolvedNames.get(ip) ?? '';
      fromResolution = name !== '';
    }
    if (ip === SINKHOLE_ADDRESS || (name !== '' && blocked.has(name))) {
      // A refused name resolves to the sinkhole: the call was blocked, not a dependency to allow.
      if (name !== '') addBlocked(name, at);
      return;
    }
    let key = `${ip}:${port}`;
    if (name !== '') {
      const parsed = parseEndpoint(`${name}:${port}`);
      if (parsed.endpoint && !parsed.endpoint.host.includes('*')) {
        key = makeEndpoint(parsed.endpoint.host, port).text;
      } else if (!reportedNames.has(name)) {
        reportedNames.add(name);
        sink.warning(
          'baseline/unusable-domain',
          at,
          `the agent reported "${name}" for ${ip}:${port}, which is not a DNS name an allow-list can hold; kept as IP-only evidence`,
        );
      }
    }
    const isAddress = key.startsWith(`${ip}:`);
    if (!(isAddress ? addresses : endpoints).has(key) && !room(at)) return;
    if (isAddress) {
      addresses.add(key);
    } else {
      endpoints.add(key);
      if (fromResolution) namedFromResolution.add(key);
    }
    if (process !== '') {
      const set = processes.get(key) ?? new Set<string>();
      set.add(process);
      processes.set(key, set);
    }
  });

  const evidence: AgentLogEvidence = {
    endpoints: [...endpoints].sort(),
    addresses: [...addresses].sort(),
    blocked: [...blocked].sort(),
    namedFromResolution: [...namedFromResolution].sort(),
    processes: Object.fromEntries([...processes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, set]) => [key, [...set].sort()])),
    agentLines,
    dropped,
  };
  const mode = first?.mode;
  if (mode ?? blocked.size > 0) evidence.mode = mode ?? 'block';
  if (startedAt) evidence.startedAt = startedAt;
  if (endedAt) evidence.endedAt = endedAt;
  if (agentLines === 0) {
    sink.error(
      'baseline/no-agent-log',
      { file, line: 1, column: 1 },
      'no Harden-Runner agent log found: the job must run step-security/harden-runner (audit or block mode) on Linux; its post step prints the agent log (lines such as "endpoint called ip address:port ...")',
    );
  }
  return sink.result(evidence);
}
