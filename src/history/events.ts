/**
 * The audit log's pure core: commits (with changed files and blob SHAs, newest first, as
 * `git log` gives them) and blob contents in, policy events out. No I/O: the CLI, the server's
 * `/v1/history` and the web console all call `historyFromCommits`.
 */
import { DiagnosticSink, formatDiagnostic, type Diagnostic } from '../policy/diagnostics.js';
import { parseAttachmentsFile } from '../policy/attachments-file.js';
import { ATTACHMENTS_FILE, POLICIES_DIR, SCOPE_TYPES, type ScopeType } from '../policy/model.js';
import { parsePolicyFile } from '../policy/policy-file.js';
import { decodeUtf8 } from '../policy/yaml.js';
import { normalizePolicy, type NormalizedPolicy } from '../policy/normalize.js';
import type { HistoryChange, HistoryCommit, HistoryEvent, HistoryEventType, HistoryOptions } from './model.js';
import { fastAttachments } from './attachments-fast.js';
import { isSemanticallyEmpty, policyDiff } from './policy-diff.js';

/** Blob contents by SHA: text, or raw bytes (decoded as UTF-8 here). */
export type BlobContents = ReadonlyMap<string, string | Uint8Array>;

const POLICY_PATH = new RegExp(`^${POLICIES_DIR}/([^/]+)\\.yml$`);

/** The policy name for `policies/<name>.yml`, undefined for any other path. */
export function policyNameOfPath(path: string): string | undefined {
  return POLICY_PATH.exec(path)?.[1];
}

export function subjectOf(message: string): string {
  return (message.split('\n', 1)[0] ?? '').trim();
}

/**
 * The pull request number a commit message names: GitHub's merge commit subject
 * "Merge pull request #123 from owner/branch" or a squash merge's "Title (#123)".
 */
export function pullRequestNumber(message: string): number | null {
  const subject = subjectOf(message);
  const match = /^Merge pull request #(\d+) from \S/.exec(subject) ?? /\(#(\d+)\)$/.exec(subject);
  return match ? Number(match[1]) : null;
}

/** One side of a change: a path and its blob (absent when the file does not exist on that side). */
interface Side {
  path: string;
  blob: string;
}

function sidesOf(change: HistoryChange): { before?: Side; after?: Side } {
  const sides: { before?: Side; after?: Side } = {};
  const beforePath = change.status === 'R' ? (change.oldPath ?? change.path) : change.path;
  if (change.status !== 'A' && change.oldBlob) sides.before = { path: beforePath, blob: change.oldBlob };
  if (change.status !== 'D' && change.newBlob) sides.after = { path: change.path, blob: change.newBlob };
  return sides;
}

function touchesAttachments(change: HistoryChange): boolean {
  return change.path === ATTACHMENTS_FILE || change.oldPath === ATTACHMENTS_FILE;
}

/**
 * Which policy names each commit's events may concern under a policy filter: the name itself
 * and, older than a git-detected rename into it, the name it was renamed from (transitively).
 * Undefined entries mean "all" (no filter). Indexes follow `commits` (newest first).
 */
function policyNamesPerCommit(commits: readonly HistoryCommit[], policy: string | undefined): (ReadonlySet<string> | undefined)[] {
  if (policy === undefined) return commits.map(() => undefined);
  const names = new Set([policy]);
  return commits.map((commit) => {
    for (const change of commit.changes) {
      if (change.status !== 'R' || change.oldPath === undefined) continue;
      const to = policyNameOfPath(change.path);
      const from = policyNameOfPath(change.oldPath);
      if (to !== undefined && from !== undefined && names.has(to)) names.add(from);
    }
    return new Set(names);
  });
}

function isRelevant(change: HistoryChange, names: ReadonlySet<string> | undefined): boolean {
  if (touchesAttachments(change)) return true;
  const stems = [policyNameOfPath(change.path), change.oldPath === undefined ? undefined : policyNameOfPath(change.oldPath)];
  return stems.some((stem) => stem !== undefined && (names === undefined || names.has(stem)));
}

function inWindow(commit: HistoryCommit, since: number | undefined): boolean {
  return since === undefined || Date.parse(commit.date) >= since;
}

function sinceInstant(options: HistoryOptions): number | undefined {
  if (options.since === undefined) return undefined;
  const instant = Date.parse(options.since);
  if (Number.isNaN(instant)) throw new RangeError(`since is not a date: ${options.since}`);
  return instant;
}

/**
 * The blob SHAs `historyFromCommits` will read for these options: both sides of every change
 * to attachments.yml and to the policies the filter concerns. Lets the I/O edge read only those.
 */
export function blobsNeeded(commits: readonly HistoryCommit[], options: HistoryOptions = {}): string[] {
  const since = sinceInstant(options);
  const namesPerCommit = policyNamesPerCommit(commits, options.policy);
  const shas = new Set<string>();
  commits.forEach((commit, index) => {
    if (!inWindow(commit, since)) return;
    for (const change of commit.changes) {
      if (!isRelevant(change, namesPerCommit[index])) continue;
      const { before, after } = sidesOf(change);
      if (before) shas.add(before.blob);
      if (after) shas.add(after.blob);
    }
  });
  return [...shas];
}

// ---------------------------------------------------------------------------------------------
// Parsing each blob once.

interface ParsedPolicyVersion {
  text: string;
  normalized?: NormalizedPolicy;
  /** Errors in this version, formatted `file:line:col: ...`. */
  errors: string[];
  /** Set when the content could not be read at all. */
  unavailable?: string;
}

interface ScopeAttachment {
  type: ScopeType;
  key: string;
  policy: string;
}

interface ParsedAttachmentsVersion {
  /** By `type\0key`; undefined when the file does not parse (YAML syntax, encoding, size). */
  attachments?: Map<string, ScopeAttachment>;
  errors: string[];
}

function describeErrors(diagnostics: readonly Diagnostic[]): string[] {
  return diagnostics.filter((item) => item.severity === 'error').map(formatDiagnostic);
}

class VersionParser {
  private readonly policies = new Map<string, ParsedPolicyVersion>();
  private readonly attachments = new Map<string, ParsedAttachmentsVersion>();

  constructor(private readonly blobs: BlobContents) {}

  private text(path: string, blob: string, sink: DiagnosticSink): string | { unavailable: string } {
    const content = this.blobs.get(blob);
    if (content === undefined) return { unavailable: `content of ${path} (blob ${blob.slice(0, 12)}) is not available (shallow clone?)` };
    if (typeof content === 'string') return content;
    return decodeUtf8(path, content, sink) ?? { unavailable: `${path} (blob ${blob.slice(0, 12)}) cannot be read as text` };
  }

  policy(side: Side): ParsedPolicyVersion {
    const cacheKey = `${side.path}\0${side.blob}`;
    const cached = this.policies.get(cacheKey);
    if (cached) return cached;
    const sink = new DiagnosticSink();
    const text = this.text(side.path, side.blob, sink);
    let parsed: ParsedPolicyVersion;
    if (typeof text !== 'string') {
      parsed = { text: '', errors: describeErrors(sink.items), unavailable: text.unavailable };
    } else {
      const policy = parsePolicyFile(side.path, text, sink);
      parsed = { text, errors: describeErrors(sink.items) };
      if (policy) parsed.normalized = normalizePolicy(policy);
    }
    this.policies.set(cacheKey, parsed);
    return parsed;
  }

  attachmentsFile(side: Side): ParsedAttachmentsVersion {
    const cached = this.attachments.get(side.blob);
    if (cached) return cached;
    const sink = new DiagnosticSink();
    const text = this.text(side.path, side.blob, sink);
    let parsed: ParsedAttachmentsVersion;
    const fast = typeof text === 'string' ? fastAttachments(text) : undefined;
    if (typeof text !== 'string') {
      parsed = { errors: [...describeErrors(sink.items), text.unavailable] };
    } else if (fast) {
      parsed = { attachments: new Map(fast.map((attachment) => [`${attachment.type}\0${attachment.key}`, attachment])), errors: [] };
    } else {
      const list = parseAttachmentsFile(ATTACHMENTS_FILE, text, sink);
      const errors = describeErrors(sink.items);
      // YAML-level failures leave nothing usable; rule errors (a bad key) still leave the rest.
      if (sink.items.some((item) => item.severity === 'error' && item.code.startsWith('yaml/'))) {
        parsed = { errors };
      } else {
        const attachments = new Map<string, ScopeAttachment>();
        for (const attachment of list) {
          attachments.set(`${attachment.type}\0${attachment.key}`, { type: attachment.type, key: attachment.key, policy: attachment.policy });
        }
        parsed = { attachments, errors };
      }
    }
    this.attachments.set(side.blob, parsed);
    return parsed;
  }
}

// ---------------------------------------------------------------------------------------------
// Events.

const short = (sha: string) => sha.slice(0, 7);

function firstError(errors: readonly string[]): string {
  const [first = 'unknown error'] = errors;
  return errors.length > 1 ? `${first} (and ${errors.length - 1} more)` : first;
}

function versionNotes(version: ParsedPolicyVersion, which: string): string[] {
  if (version.unavailable) return [version.unavailable];
  if (version.errors.length === 0) return [];
  return version.normalized
    ? [`${which} has errors, the semantic diff shows what egressctl reads from it: ${firstError(version.errors)}`]
    : [`${which} does not parse, only the text diff is shown: ${firstError(version.errors)}`];
}

type EventDraft = Omit<HistoryEvent, 'commit' | 'author' | 'authorEmail' | 'date' | 'pr' | 'subject'>;

function draft(type: HistoryEventType, policy: string, extra: Partial<EventDraft> = {}): EventDraft {
  return { type, policy, scope: null, diff: null, notes: [], ...extra };
}

interface AttachmentsState {
  /** Last attachments.yml that parsed, and where. */
  lastGood?: { attachments: Map<string, ScopeAttachment>; commit: string };
  /** attachments.yml did not parse from this commit until it parses again. */
  brokenSince?: { commit: string; error: string };
}

function policyEvents(change: HistoryChange, commit: HistoryCommit, parser: VersionParser): EventDraft[] {
  const { before, after } = sidesOf(change);
  const beforeName = before ? policyNameOfPath(before.path) : undefined;
  const afterName = after ? policyNameOfPath(after.path) : undefined;
  const beforeVersion = before && beforeName !== undefined ? parser.policy(before) : undefined;
  const afterVersion = after && afterName !== undefined ? parser.policy(after) : undefined;
  const atCommit = (path: string) => `${path} at ${short(commit.sha)}`;
  const diffOf = (b: Side, bv: ParsedPolicyVersion, a: Side, av: ParsedPolicyVersion) =>
    policyDiff(
      { label: `a/${b.path}`, text: bv.text, normalized: bv.unavailable ? undefined : bv.normalized },
      { label: `b/${a.path}`, text: av.text, normalized: av.unavailable ? undefined : av.normalized },
    );

  // Same policy on both sides: updated.
  if (before && after && beforeVersion && afterVersion && beforeName === afterName && beforeName !== undefined) {
    if (before.blob === after.blob) return [];
    const diff = diffOf(before, beforeVersion, after, afterVersion);
    const notes = [...versionNotes(beforeVersion, `the previous ${before.path}`), ...versionNotes(afterVersion, atCommit(after.path))];
    if (isSemanticallyEmpty(diff)) notes.push('no change in effect: comments, formatting, order or reasons only');
    return [draft('updated', beforeName, { diff, notes })];
  }

  const events: EventDraft[] = [];
  const renamed = beforeName !== undefined && afterName !== undefined;
  if (before && beforeVersion && beforeName !== undefined) {
    events.push(draft('deleted', beforeName, renamed ? { renamedTo: afterName } : {}));
  }
  if (after && afterVersion && afterName !== undefined) {
    const extra: Partial<EventDraft> = { notes: versionNotes(afterVersion, atCommit(after.path)) };
    if (renamed && before && beforeVersion) {
      extra.renamedFrom = beforeName;
      if (before.blob !== after.blob) {
        extra.diff = diffOf(before, beforeVersion, after, afterVersion);
        extra.notes = [...versionNotes(beforeVersion, `the previous ${before.path}`), ...(extra.notes ?? [])];
      }
    }
    events.push(draft('created', afterName, extra));
  }
  return events;
}

function attachmentEvents(change: HistoryChange, commit: HistoryCommit, parser: VersionParser, state: AttachmentsState): EventDraft[] {
  const { before, after } = sidesOf(change);
  const beforeIsFile = before?.path === ATTACHMENTS_FILE;
  const afterIsFile = after?.path === ATTACHMENTS_FILE;
  if (!beforeIsFile && !afterIsFile) return [];
  if (beforeIsFile && afterIsFile && before.blob === after.blob) return [];

  const notes: string[] = [];
  let previous: Map<string, ScopeAttachment> | undefined;
  if (!beforeIsFile) previous = new Map();
  else {
    const parsed = parser.attachmentsFile(before);
    previous = parsed.attachments;
    if (!previous && state.lastGood) {
      previous = state.lastGood.attachments;
      notes.push(`the previous ${ATTACHMENTS_FILE} does not parse: compared with the version at ${short(state.lastGood.commit)}`);
    }
  }

  let current: Map<string, ScopeAttachment> | undefined;
  if (!afterIsFile) current = new Map();
  else {
    const parsed = parser.attachmentsFile(after);
    current = parsed.attachments;
    if (!current) {
      // Nothing reliable to compare: report the changes once the file parses again.
      state.brokenSince ??= { commit: commit.sha, error: firstError(parsed.errors) };
      return [];
    }
    if (parsed.errors.length > 0) notes.push(`${ATTACHMENTS_FILE} at ${short(commit.sha)} has errors, entries it cannot read are ignored: ${firstError(parsed.errors)}`);
  }
  if (state.brokenSince) {
    notes.push(
      `${ATTACHMENTS_FILE} did not parse from ${short(state.brokenSince.commit)} until this commit (${state.brokenSince.error}): changes made meanwhile are reported here`,
    );
    delete state.brokenSince;
  }
  state.lastGood = { attachments: current, commit: commit.sha };
  // The window starts on a version that does not parse: what this commit changed is unknown.
  if (!previous) return [];

  const events: EventDraft[] = [];
  const keys = new Set([...previous.keys(), ...current.keys()]);
  for (const key of keys) {
    const was = previous.get(key);
    const now = current.get(key);
    if (was && now && was.policy === now.policy) continue;
    // Keys are lower-cased by the parser, so a change of case alone is no event.
    if (was) events.push(draft('detached', was.policy, { scope: { type: was.type, key: was.key }, notes: [...notes] }));
    if (now) events.push(draft('attached', now.policy, { scope: { type: now.type, key: now.key }, notes: [...notes] }));
  }
  return events.sort(compareAttachmentEvents);
}

function compareAttachmentEvents(a: EventDraft, b: EventDraft): number {
  const typeOrder = SCOPE_TYPES.indexOf(a.scope?.type ?? 'workflow') - SCOPE_TYPES.indexOf(b.scope?.type ?? 'workflow');
  if (typeOrder !== 0) return typeOrder;
  const keyA = a.scope?.key ?? '';
  const keyB = b.scope?.key ?? '';
  if (keyA !== keyB) return keyA < keyB ? -1 : 1;
  return a.type === b.type ? 0 : a.type === 'detached' ? -1 : 1;
}

/**
 * Policy events of a history. `commits` must be in `git log` order (newest first) with changes
 * relative to each commit's first parent; `blobs` must hold the contents of the blobs
 * `blobsNeeded` names (a missing one gives an event with a note, not an error). Events come
 * newest commit first; within a commit, policy events (by path) come before attachment events
 * (by scope, a detach before the attach that replaces it).
 */
export function historyFromCommits(commits: readonly HistoryCommit[], blobs: BlobContents, options: HistoryOptions = {}): HistoryEvent[] {
  const since = sinceInstant(options);
  const namesPerCommit = policyNamesPerCommit(commits, options.policy);
  const parser = new VersionParser(blobs);
  const state: AttachmentsState = {};
  const perCommit: HistoryEvent[][] = [];

  // Oldest first, so a broken attachments.yml can be bridged by the last version that parsed.
  for (let index = commits.length - 1; index >= 0; index--) {
    const commit = commits[index] as HistoryCommit;
    if (!inWindow(commit, since)) continue;
    const names = namesPerCommit[index];
    const drafts: EventDraft[] = [];
    const attachmentDrafts: EventDraft[] = [];
    const changes = [...commit.changes].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    for (const change of changes) {
      if (!isRelevant(change, names)) continue;
      drafts.push(...policyEvents(change, commit, parser));
      if (touchesAttachments(change)) attachmentDrafts.push(...attachmentEvents(change, commit, parser, state));
    }
    const pr = pullRequestNumber(commit.message);
    const subject = subjectOf(commit.message);
    perCommit.push(
      [...drafts, ...attachmentDrafts]
        .filter((event) => names === undefined || names.has(event.policy))
        .map((event) => ({
          type: event.type,
          policy: event.policy,
          scope: event.scope,
          commit: commit.sha,
          author: commit.author,
          authorEmail: commit.authorEmail ?? null,
          date: commit.date,
          pr,
          diff: event.diff,
          subject,
          notes: event.notes,
          ...(event.renamedFrom === undefined ? {} : { renamedFrom: event.renamedFrom }),
          ...(event.renamedTo === undefined ? {} : { renamedTo: event.renamedTo }),
        })),
    );
  }
  const events = perCommit.reverse().flat();
  return options.limit === undefined ? events : events.slice(0, Math.max(0, options.limit));
}
