/**
 * `policies/<name>.yml`: schema pass, then small rules, then the located model (docs/architecture.md#policy-files, #endpoints).
 */
import { isMap, isScalar, isSeq, type Scalar } from 'yaml';
import type { DiagnosticSink, SourcePosition } from './diagnostics.js';
import { parseEndpoint, splitEndpointString, type ParsedEndpoint } from './endpoint.js';
import { checkExpiryDates, isExpiryDate } from './expiry.js';
import {
  PASSTHROUGH_FLAGS,
  POLICY_NAME_PATTERN,
  type EgressMode,
  type EndpointEntry,
  type LockdownDetection,
  type Policy,
  type PolicyReference,
} from './model.js';
import { checkSchema } from './schema.js';
import { nodeAtPath, parseYaml, positionAtOffset, positionOf, type YamlFile } from './yaml.js';

/** One endpoint as written, before parsing. */
export interface RawEndpoint {
  text: string;
  reason?: string;
  /** As written (validated by the expiry rule): `YYYY-MM-DD`. */
  expires?: unknown;
  expiresAt?: SourcePosition;
  owner?: string;
  at: SourcePosition;
  /** Parsed once here; the rule and the model builder both read it. */
  parsed: ParsedEndpoint;
}

interface PolicyRuleContext {
  name: string;
  yamlFile: YamlFile;
  value: Record<string, unknown>;
  endpoints: RawEndpoint[];
  sink: DiagnosticSink;
}

type PolicyRule = (context: PolicyRuleContext) => void;

export function policyNameFromFile(file: string): string {
  const base = file.slice(file.lastIndexOf('/') + 1);
  return base.replace(/\.ya?ml$/, '');
}

/** Each entry of `allowed-endpoints` with the position of its own text. */
export function rawEndpoints(yamlFile: YamlFile): RawEndpoint[] {
  const node = nodeAtPath(yamlFile.doc, ['allowed-endpoints']);
  if (isScalar(node) && typeof node.value === 'string') return endpointsInScalar(yamlFile, node as Scalar<string>);
  if (!isSeq(node)) return [];
  const entries: RawEndpoint[] = [];
  for (const item of node.items) {
    if (isScalar(item) && typeof item.value === 'string') {
      entries.push({ text: item.value, at: positionOf(yamlFile, item), parsed: parseEndpoint(item.value) });
    } else if (isMap(item)) {
      const endpoint = item.items.find((pair) => isScalar(pair.key) && pair.key.value === 'endpoint')?.value;
      const reason = item.items.find((pair) => isScalar(pair.key) && pair.key.value === 'reason')?.value;
      if (isScalar(endpoint) && typeof endpoint.value === 'string') {
        const entry: RawEndpoint = { text: endpoint.value, at: positionOf(yamlFile, endpoint), parsed: parseEndpoint(endpoint.value) };
        if (isScalar(reason) && typeof reason.value === 'string') entry.reason = reason.value;
        const expires = item.items.find((pair) => isScalar(pair.key) && pair.key.value === 'expires')?.value;
        const owner = item.items.find((pair) => isScalar(pair.key) && pair.key.value === 'owner')?.value;
        if (isScalar(expires)) {
          entry.expires = expires.value;
          entry.expiresAt = positionOf(yamlFile, expires);
        }
        if (isScalar(owner) && typeof owner.value === 'string') entry.owner = owner.value;
        entries.push(entry);
      }
    }
  }
  return entries;
}

/** Split a whitespace-separated scalar and find each entry in the source for its position. */
function endpointsInScalar(yamlFile: YamlFile, node: Scalar<string>): RawEndpoint[] {
  const [start = 0, end = start] = node.range ?? [];
  const source = yamlFile.text.slice(start, end);
  let cursor = 0;
  return splitEndpointString(node.value).map((text) => {
    const found = source.indexOf(text, cursor);
    // Escapes in a double-quoted scalar can hide the text: fall back to the scalar's start.
    const offset = found === -1 ? start : start + found;
    if (found !== -1) cursor = found + text.length;
    return { text, at: positionAtOffset(yamlFile, offset), parsed: parseEndpoint(text) };
  });
}

const ruleName: PolicyRule = ({ name, yamlFile, sink }) => {
  if (!POLICY_NAME_PATTERN.test(name)) {
    sink.error(
      'policy/name',
      { file: yamlFile.file, line: 1, column: 1 },
      `policy name "${name}" (the file stem) must match ${POLICY_NAME_PATTERN.source}: rename the file with lower-case letters, digits, ".", "_" or "-"`,
    );
  }
};

const ruleEndpoints: PolicyRule = ({ endpoints, sink }) => {
  const seen = new Map<string, SourcePosition>();
  for (const entry of endpoints) {
    const parsed = entry.parsed;
    for (const issue of parsed.issues) {
      if (issue.severity === 'error') sink.error(issue.code, entry.at, issue.message);
      else sink.warning(issue.code, entry.at, issue.message);
    }
    if (!parsed.endpoint) continue;
    const first = seen.get(parsed.endpoint.text);
    if (first) {
      sink.warning(
        'endpoint/duplicate',
        entry.at,
        `"${parsed.endpoint.text}" is already listed at line ${first.line}: the duplicate is removed; delete it`,
      );
    } else {
      seen.set(parsed.endpoint.text, entry.at);
    }
  }
};

const ruleTelemetryNeedsBlock: PolicyRule = ({ value, yamlFile, sink }) => {
  if (value['disable-telemetry'] === true && value['egress-policy'] !== 'block') {
    sink.error(
      'policy/telemetry-needs-block',
      positionOf(yamlFile, nodeAtPath(yamlFile.doc, ['disable-telemetry'])),
      'disable-telemetry: true is allowed only with egress-policy: block (Harden-Runner rule): set block or remove it',
    );
  }
};

const ruleDeprecatedDisableSudo: PolicyRule = ({ value, yamlFile, sink }) => {
  if ('disable-sudo' in value) {
    sink.warning(
      'policy/deprecated-disable-sudo',
      positionOf(yamlFile, nodeAtPath(yamlFile.doc, ['disable-sudo'])),
      'disable-sudo is deprecated by Harden-Runner: use disable-sudo-and-containers',
    );
  }
};

const ruleBlockWithoutEndpoints: PolicyRule = ({ value, endpoints, yamlFile, sink }) => {
  if (value['egress-policy'] === 'block' && endpoints.length === 0 && value['extends'] === undefined) {
    sink.warning(
      'policy/block-without-endpoints',
      positionOf(yamlFile, nodeAtPath(yamlFile.doc, ['egress-policy'])),
      'block mode with no allowed-endpoints allows only Harden-Runner\'s implicit endpoints (GitHub Actions\' service hosts, not github.com, which actions/checkout needs): add allowed-endpoints',
    );
  }
};

const ruleLockdownDetections: PolicyRule = ({ value, yamlFile, sink }) => {
  const lockdown = value['lockdown-mode'] as { enabled?: unknown; detections?: unknown } | undefined;
  if (lockdown?.enabled === true && Array.isArray(lockdown.detections) && lockdown.detections.length === 0) {
    sink.warning(
      'policy/lockdown-no-detections',
      positionOf(yamlFile, nodeAtPath(yamlFile.doc, ['lockdown-mode', 'detections'])),
      'lockdown-mode is enabled with no detections: list at least one of Privileged-Container, Runner-Worker-Memory-Read, Reverse-Shell',
    );
  }
};

const ruleExtendsSelf: PolicyRule = ({ name, value, yamlFile, sink }) => {
  const names = typeof value['extends'] === 'string' ? [value['extends']] : Array.isArray(value['extends']) ? value['extends'] : [];
  names.forEach((parent, index) => {
    if (parent === name) {
      const path = typeof value['extends'] === 'string' ? ['extends'] : ['extends', index];
      sink.error('policy/extends-self', positionOf(yamlFile, nodeAtPath(yamlFile.doc, path)), `policy "${name}" extends itself: remove it from extends`);
    }
  });
};

const ruleExpiryDates: PolicyRule = ({ endpoints, sink }) => checkExpiryDates(endpoints, sink);

/** Per-file rules, run after the schema pass succeeded. Cross-file rules live in rules.ts. */
export const POLICY_FILE_RULES: readonly PolicyRule[] = [
  ruleName,
  ruleEndpoints,
  ruleTelemetryNeedsBlock,
  ruleDeprecatedDisableSudo,
  ruleBlockWithoutEndpoints,
  ruleLockdownDetections,
  ruleExtendsSelf,
  ruleExpiryDates,
];

/** Parse and check one policy file. Returns the model when the file is structurally usable. */
export function parsePolicyFile(file: string, text: string, sink: DiagnosticSink): Policy | undefined {
  const name = policyNameFromFile(file);
  const yamlFile = parseYaml(file, text, sink);
  if (yamlFile.value === undefined && sink.items.some((item) => item.file === file && item.severity === 'error')) return undefined;
  if (yamlFile.value === null || yamlFile.value === undefined) {
    sink.error('policy/empty', { file, line: 1, column: 1 }, 'policy file is empty: add at least "egress-policy: audit" or "egress-policy: block"');
    return undefined;
  }
  if (!checkSchema('policy', 'policy', yamlFile, sink)) {
    // Keep going where possible so one run reports endpoint problems too.
    if (typeof yamlFile.value !== 'object' || Array.isArray(yamlFile.value)) return undefined;
  }
  const value = yamlFile.value as Record<string, unknown>;
  const endpoints = rawEndpoints(yamlFile);
  const context: PolicyRuleContext = { name, yamlFile, value, endpoints, sink };
  for (const rule of POLICY_FILE_RULES) rule(context);
  return buildPolicy(context);
}

function buildPolicy({ name, yamlFile, value, endpoints }: PolicyRuleContext): Policy {
  const allowedEndpoints: EndpointEntry[] = [];
  const seen = new Set<string>();
  for (const entry of endpoints) {
    const endpoint = entry.parsed.endpoint;
    if (!endpoint || seen.has(endpoint.text)) continue;
    seen.add(endpoint.text);
    const built: EndpointEntry = entry.reason === undefined ? { endpoint: endpoint.text, at: entry.at } : { endpoint: endpoint.text, reason: entry.reason, at: entry.at };
    // An invalid date is an error already; the entry then counts as permanent nowhere (it is left out).
    if (entry.expires !== undefined) {
      if (typeof entry.expires !== 'string' || !isExpiryDate(entry.expires)) continue;
      built.expires = entry.expires;
    }
    if (entry.owner !== undefined) built.owner = entry.owner;
    allowedEndpoints.push(built);
  }
  const flags: Policy['flags'] = {};
  for (const flag of PASSTHROUGH_FLAGS) {
    if (typeof value[flag] === 'boolean') flags[flag] = value[flag];
  }
  const policy: Policy = {
    name,
    file: yamlFile.file,
    at: positionOf(yamlFile, yamlFile.doc.contents),
    egressPolicy: value['egress-policy'] === 'block' ? 'block' : ('audit' satisfies EgressMode),
    egressPolicyAt: positionOf(yamlFile, nodeAtPath(yamlFile.doc, ['egress-policy'])),
    allowedEndpoints,
    flags,
    extends: extendsReferences(yamlFile, value['extends']),
  };
  if (typeof value['description'] === 'string') policy.description = value['description'];
  if (typeof value['no-default-urls'] === 'boolean') policy.noDefaultUrls = value['no-default-urls'];
  const lockdown = value['lockdown-mode'] as { enabled?: unknown; detections?: unknown } | undefined;
  if (lockdown && typeof lockdown.enabled === 'boolean') {
    policy.lockdownMode = {
      enabled: lockdown.enabled,
      detections: Array.isArray(lockdown.detections) ? ([...new Set(lockdown.detections)].sort() as LockdownDetection[]) : [],
    };
  }
  return policy;
}

function extendsReferences(yamlFile: YamlFile, raw: unknown): PolicyReference[] {
  if (typeof raw === 'string') return [{ name: raw, at: positionOf(yamlFile, nodeAtPath(yamlFile.doc, ['extends'])) }];
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((name, index) =>
    typeof name === 'string' ? [{ name, at: positionOf(yamlFile, nodeAtPath(yamlFile.doc, ['extends', index])) }] : [],
  );
}
