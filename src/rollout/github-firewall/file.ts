/**
 * The firewall file as text (docs/github-firewall.md, "The managed file"): rendered with a header
 * that names the policies and the store commit and carries the managed marker; read back
 * (a person's file too) to compare with the store; and the decision of what sync does with the
 * file a repository has: write ours, leave a person's alone, or report it as weaker. Pure.
 */
import { isMap, isScalar, isSeq, parseDocument } from 'yaml';
import { hostMatches } from '../../policy/endpoint.js';
import { LineIndex } from '../workflow-text.js';
import { FIREWALL_DEFAULT_HOSTS, FIREWALL_FILE, FIREWALL_FORMAT, FIREWALL_KEYS, FIREWALL_MODES, MANAGED_MARKER, MANAGED_MARKER_PATTERN, type FirewallMode } from './format.js';
import type { DesiredFirewall } from './map.js';

export interface FirewallFileContent {
  mode: FirewallMode;
  /** Host names as written, lower-cased, sorted, unique. */
  allow: string[];
  noDefaultUrls: boolean;
}

export interface ExistingFirewallFile extends Partial<FirewallFileContent> {
  /** Carries egressctl's managed marker. */
  managed: boolean;
  /** Located problems (`file:line:column: message`) when the file does not read as the format. */
  problems: string[];
}

/** 1-based lines of the top-level keys and of each listed host (lower-cased), for annotations. */
export interface FirewallFileLines {
  keys: Partial<Record<string, number>>;
  hosts: Record<string, number>;
}

/** A commit as 12 hex digits, keeping what follows it (`<sha> with uncommitted changes`). */
function shortRevision(revision: string): string {
  const sha = /^[0-9a-f]{12,40}/i.exec(revision)?.[0];
  return sha === undefined ? revision.slice(0, 12) : `${sha.slice(0, 12)}${revision.slice(sha.length)}`;
}

/** The file's text. `revision`: the store commit it comes from (short or full, maybe `<sha> with uncommitted changes`). */
export function renderFirewallFile(desired: DesiredFirewall, revision?: string): string {
  const lines = [
    `# GitHub's native egress firewall (${FIREWALL_FORMAT.name}, ${FIREWALL_FORMAT.version}).`,
    `${MANAGED_MARKER}: written by egressctl sync from the policy store; change the store, not this file.`,
    `# policies: ${desired.policies.join(', ')}${revision ? ` (store commit ${shortRevision(revision)})` : ''}`,
    `${FIREWALL_KEYS.mode}: ${desired.mode}`,
  ];
  if (desired.noDefaultUrls) lines.push(`${FIREWALL_KEYS.noDefaultUrls}: true`);
  if (desired.allow.length > 0) lines.push(`${FIREWALL_KEYS.allow}:`, ...desired.allow.map((host) => `  - ${host}`));
  return `${lines.join('\n')}\n`;
}

/** Read a firewall file (ours or a person's); never throws. */
export function readFirewallFile(text: string, file = FIREWALL_FILE): ExistingFirewallFile {
  const managed = MANAGED_MARKER_PATTERN.test(text);
  const index = new LineIndex(text);
  const problems: string[] = [];
  const at = (offset: number | undefined, message: string) => {
    const position = index.position(offset ?? 0);
    problems.push(`${file}:${position.line}:${position.column}: ${message}`);
  };
  const doc = parseDocument(text, { prettyErrors: false });
  for (const error of doc.errors) at(error.pos[0], error.message.split('\n')[0] ?? error.message);
  if (problems.length > 0) return { managed, problems };
  const root = doc.contents;
  if (root === null) return { managed, problems: [`${file}:1:1: empty: write mode: log or mode: enforce`] };
  if (!isMap(root)) {
    at(root.range?.[0], 'not a mapping: write mode: log | enforce and allow: [host, ...]');
    return { managed, problems };
  }
  const result: ExistingFirewallFile = { managed, problems };
  const mode = root.get(FIREWALL_KEYS.mode, true);
  if (isScalar(mode) && typeof mode.value === 'string' && (FIREWALL_MODES as readonly string[]).includes(mode.value)) result.mode = mode.value as FirewallMode;
  else at(isScalar(mode) ? mode.range?.[0] : root.range?.[0], `${FIREWALL_KEYS.mode} must be ${FIREWALL_MODES.join(' or ')}`);
  const allow = root.get(FIREWALL_KEYS.allow, true);
  if (allow === undefined || allow === null) result.allow = [];
  else if (isSeq(allow) && allow.items.every((item) => isScalar(item) && typeof item.value === 'string')) {
    result.allow = [...new Set(allow.items.map((item) => normalHost(String((item as { value: string }).value))))].sort();
  } else at((allow as { range?: number[] }).range?.[0], `${FIREWALL_KEYS.allow} must be a list of host names`);
  const noDefault = root.get(FIREWALL_KEYS.noDefaultUrls, true);
  if (noDefault === undefined) result.noDefaultUrls = false;
  else if (isScalar(noDefault) && typeof noDefault.value === 'boolean') result.noDefaultUrls = noDefault.value;
  else at((noDefault as { range?: number[] }).range?.[0], `${FIREWALL_KEYS.noDefaultUrls} must be true or false`);
  return result;
}

function normalHost(value: string): string {
  return value.trim().toLowerCase().replace(/\.$/, '');
}

/** Where each top-level key and each listed host sits, so a finding points at the line that widens; never throws. */
export function firewallFileLines(text: string): FirewallFileLines {
  const index = new LineIndex(text);
  const root = parseDocument(text, { prettyErrors: false }).contents;
  const keys: Partial<Record<string, number>> = {};
  const hosts: Record<string, number> = {};
  if (!isMap(root)) return { keys, hosts };
  const lineOf = (range: readonly number[] | null | undefined) => (range ? index.position(range[0] ?? 0).line : undefined);
  for (const pair of root.items) {
    if (!isScalar(pair.key) || typeof pair.key.value !== 'string') continue;
    const line = lineOf(pair.key.range);
    if (line !== undefined) keys[pair.key.value] = line;
    if (pair.key.value !== FIREWALL_KEYS.allow || !isSeq(pair.value)) continue;
    for (const item of pair.value.items) {
      const itemLine = isScalar(item) && typeof item.value === 'string' ? lineOf(item.range) : undefined;
      if (isScalar(item) && typeof item.value === 'string' && itemLine !== undefined) hosts[normalHost(item.value)] ??= itemLine;
    }
  }
  return { keys, hosts };
}

/** Is `host` allowed by `content` (listed, or one of GitHub's defaults while they are on)? */
export function coveredBy(content: FirewallFileContent, host: string): boolean {
  if (content.allow.includes(host)) return true;
  return !content.noDefaultUrls && FIREWALL_DEFAULT_HOSTS.some((pattern) => hostMatches(pattern, host));
}

/** How `existing` allows more than `desired` (empty: it is as strict or stricter). */
export function weakerThan(existing: FirewallFileContent, desired: FirewallFileContent): string[] {
  const reasons: string[] = [];
  if (existing.mode === 'log' && desired.mode === 'enforce') reasons.push('mode log, the store says enforce (block)');
  if (!existing.noDefaultUrls && desired.noDefaultUrls) reasons.push("GitHub's default hosts are allowed, the store says no-default-urls: true");
  const extra = existing.allow.filter((host) => !coveredBy(desired, host));
  if (extra.length > 0) reasons.push(`allows hosts the store does not: ${extra.join(', ')}`);
  return reasons;
}

export function sameContent(a: FirewallFileContent, b: FirewallFileContent): boolean {
  return a.mode === b.mode && a.noDefaultUrls === b.noDefaultUrls && a.allow.length === b.allow.length && a.allow.every((host, i) => host === b.allow[i]);
}

/** What changes between two contents, for reports: `mode log -> enforce`, hosts added and dropped. */
/** How `contentChanges` begins the line of hosts added (the review dates the ones exceptions allow). */
export const ALLOW_ADDED_PREFIX = 'allow added: ';

export function contentChanges(before: FirewallFileContent | undefined, after: FirewallFileContent): string[] {
  if (!before) return [`new file: mode ${after.mode}, ${after.allow.length} host${after.allow.length === 1 ? '' : 's'} allowed${after.noDefaultUrls ? ', no-default-urls' : ''}`];
  const changes: string[] = [];
  if (before.mode !== after.mode) changes.push(`mode ${before.mode} -> ${after.mode}`);
  if (before.noDefaultUrls !== after.noDefaultUrls) changes.push(`no-default-urls ${before.noDefaultUrls} -> ${after.noDefaultUrls}`);
  const added = after.allow.filter((host) => !before.allow.includes(host));
  const dropped = before.allow.filter((host) => !after.allow.includes(host));
  if (added.length > 0) changes.push(`${ALLOW_ADDED_PREFIX}${added.join(', ')}`);
  if (dropped.length > 0) changes.push(`allow dropped: ${dropped.join(', ')}`);
  return changes;
}

export type FirewallFileAction =
  /** No file yet: write ours. */
  | 'create'
  /** Ours, out of date: rewrite. */
  | 'update'
  /** Ours (or a person's) and equal to the store. */
  | 'unchanged'
  /** A person's file (no marker), not weaker than the store: left alone. */
  | 'left-alone'
  /** A person's file that allows more than the store: left alone, reported as drift. */
  | 'drift'
  /** The store asks for no file. */
  | 'none';

export interface FirewallFileDecision {
  action: FirewallFileAction;
  /** The new text (create/update). */
  after?: string;
  reasons: string[];
}

/**
 * What sync does with a repository's firewall file: ours is rewritten; a person's file (no
 * marker) is never written, narrowed or widened: only reported when it allows more than the store.
 */
export function decideFirewallFile(existingText: string | undefined, desired: DesiredFirewall | null, revision?: string): FirewallFileDecision {
  const existing = existingText === undefined ? undefined : readFirewallFile(existingText);
  if (desired === null) {
    return { action: 'none', reasons: existing?.managed ? [`${FIREWALL_FILE}: egressctl wrote it, but no policy applies any more: left as it is (delete it, or attach a policy)`] : [] };
  }
  const wanted: FirewallFileContent = { mode: desired.mode, allow: desired.allow, noDefaultUrls: desired.noDefaultUrls };
  const content = existing && existing.problems.length === 0 ? (existing as FirewallFileContent) : undefined;
  if (existing && !existing.managed) {
    if (!content) return { action: 'left-alone', reasons: [`${FIREWALL_FILE}: written by a person (no egressctl marker) and not readable as the firewall format: left alone (${existing.problems.join('; ')})`] };
    const weaker = weakerThan(content, wanted);
    if (weaker.length > 0) return { action: 'drift', reasons: [`${FIREWALL_FILE}: written by a person (no egressctl marker) and weaker than the store: ${weaker.join('; ')}; left alone (add the marker line "${MANAGED_MARKER}" or delete the file to let sync write it)`] };
    return { action: sameContent(content, wanted) ? 'unchanged' : 'left-alone', reasons: [] };
  }
  if (content && sameContent(content, wanted)) return { action: 'unchanged', reasons: [] };
  const after = renderFirewallFile(desired, revision);
  const changes = contentChanges(content, wanted);
  return { action: existing ? 'update' : 'create', after, reasons: changes.map((change) => `${FIREWALL_FILE}: ${change}`) };
}
