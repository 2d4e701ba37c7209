/**
 * This project's composite action authenticates with the job's OIDC token, so its job needs
 * `permissions: id-token: write` (GitHub grants id-token to no job by default). Adding it is a
 * text-preserving splice, like hardening, where that does not change anything else:
 * - the job has a `permissions:` block mapping: `id-token: write` goes into it;
 * - the job has none and the workflow has a block mapping of plain values: the job gets its own
 *   `permissions:` with the workflow's entries plus `id-token: write` (only this job can mint
 *   OIDC tokens, and it keeps every other permission it had);
 * - `write-all` (job or workflow) already includes it.
 * Anything else (no `permissions:` anywhere, `read-all`, flow mappings) is left alone with a
 * note: adding a block would set every unnamed permission to none and could break the job.
 * Until someone adds it, the action falls back to its `on-error` behavior (audit by default).
 * Pure.
 */
import { isMap, isPair, isScalar, parseDocument, type Pair, type YAMLMap } from 'yaml';
import { isBlockMap, keyName, pairOf, rangeOf } from './yaml-nodes.js';
import { applyEdits, detectEol, LineIndex, renderScalar, spaces, type TextEdit } from './workflow-text.js';

export interface PermissionOutcome {
  /** `granted` (added or changed), `present` (already there), `manual` (not done: see note). */
  action: 'granted' | 'present' | 'manual';
  note: string;
}

export interface PermissionResult {
  output: string;
  /** Per job id asked for. */
  jobs: Map<string, PermissionOutcome>;
}

export const ID_TOKEN_MANUAL_NOTE =
  'needs permissions: id-token: write for the action to get its OIDC token; not added because the job has no permissions: block and adding one would set its other token permissions to none: add it by hand (until then the action falls back to its on-error setting)';

function keyStart(pair: Pair): number {
  return rangeOf(pair.key)?.[0] ?? 0;
}

function scalarText(node: unknown): string | undefined {
  return isScalar(node) && (typeof node.value === 'string' || typeof node.value === 'number' || typeof node.value === 'boolean') ? String(node.value) : undefined;
}

/** Edits that put `id-token: write` into a block mapping of permissions. */
function grantInMap(map: YAMLMap, index: LineIndex, eol: string): TextEdit[] | 'present' {
  const existing = pairOf(map, 'id-token');
  if (existing) {
    if (scalarText(existing.value) === 'write') return 'present';
    const range = rangeOf(existing.value);
    if (!range || !isScalar(existing.value)) return [];
    return [{ start: range[0], end: range[1], text: 'write' }];
  }
  const first = map.items[0];
  const last = map.items[map.items.length - 1];
  if (!isPair(first) || !isPair(last)) return [];
  const column = index.column(keyStart(first));
  const lastRange = rangeOf(last.value) ?? rangeOf(last.key);
  const line = index.lastContentLine(keyStart(last), lastRange?.[1] ?? keyStart(last) + 1);
  const at = index.lineEnd(line);
  const endsWithBreak = at > 0 && index.text[at - 1] === '\n';
  const text = `${spaces(column)}id-token: write`;
  return [{ start: at, end: at, text: endsWithBreak ? text + eol : eol + text }];
}

/** Ensure each job in `jobIds` can request an OIDC token; see the module comment for the rules. */
export function grantIdToken(text: string, jobIds: readonly string[]): PermissionResult {
  const jobs = new Map<string, PermissionOutcome>();
  const manual = (job: string, note = ID_TOKEN_MANUAL_NOTE) => jobs.set(job, { action: 'manual', note });
  const doc = parseDocument(text, { keepSourceTokens: true, uniqueKeys: false });
  const root = doc.contents;
  if (doc.errors.length > 0 || !isMap(root)) {
    for (const job of jobIds) manual(job);
    return { output: text, jobs };
  }
  const index = new LineIndex(text);
  const eol = detectEol(text);
  const jobsNode = pairOf(root, 'jobs')?.value;
  const workflowPermissions = pairOf(root, 'permissions')?.value;
  const edits: TextEdit[] = [];

  for (const jobId of jobIds) {
    const job = isMap(jobsNode) ? pairOf(jobsNode, jobId)?.value : undefined;
    if (!isBlockMap(job)) {
      manual(jobId);
      continue;
    }
    const own = pairOf(job, 'permissions');
    if (own) {
      if (scalarText(own.value) === 'write-all') {
        jobs.set(jobId, { action: 'present', note: 'permissions: write-all includes id-token: write' });
      } else if (isBlockMap(own.value)) {
        const change = grantInMap(own.value, index, eol);
        if (change === 'present') jobs.set(jobId, { action: 'present', note: 'the job already has id-token: write' });
        else if (change.length === 0) manual(jobId, 'could not add id-token: write to the job\'s permissions: add it by hand');
        else {
          edits.push(...change);
          jobs.set(jobId, { action: 'granted', note: 'added id-token: write to the job\'s permissions (the action authenticates with the job\'s OIDC token)' });
        }
      } else {
        manual(jobId, 'the job\'s permissions: is not a block mapping: add id-token: write by hand for the action to get its OIDC token');
      }
      continue;
    }
    if (scalarText(workflowPermissions) === 'write-all') {
      jobs.set(jobId, { action: 'present', note: 'the workflow\'s permissions: write-all includes id-token: write' });
      continue;
    }
    if (isBlockMap(workflowPermissions)) {
      if (scalarText(pairOf(workflowPermissions, 'id-token')?.value) === 'write') {
        jobs.set(jobId, { action: 'present', note: 'the workflow already grants id-token: write' });
        continue;
      }
      const entries: [string, string][] = [];
      let plain = true;
      for (const pair of workflowPermissions.items) {
        const key = isPair(pair) ? keyName(pair) : undefined;
        const value = isPair(pair) ? scalarText(pair.value) : undefined;
        if (key === undefined || value === undefined) plain = false;
        else if (key !== 'id-token') entries.push([key, value]);
      }
      const steps = pairOf(job, 'steps');
      if (!plain || !steps) {
        manual(jobId, 'the workflow\'s permissions: could not be copied to the job: add permissions: id-token: write to the job by hand');
        continue;
      }
      const column = index.column(keyStart(steps));
      const firstEntry = workflowPermissions.items[0];
      const unit = isPair(firstEntry) ? Math.max(1, index.column(keyStart(firstEntry)) - index.column(keyStart(pairOf(root, 'permissions') as Pair))) : 2;
      const lines = [
        `${spaces(column)}permissions:`,
        ...entries.map(([key, value]) => `${spaces(column + unit)}${renderScalar(key)}: ${renderScalar(value)}`),
        `${spaces(column + unit)}id-token: write`,
      ];
      const at = index.lineStart(index.lineOf(keyStart(steps)));
      edits.push({ start: at, end: at, text: lines.map((line) => line + eol).join('') });
      jobs.set(jobId, {
        action: 'granted',
        note: 'gave the job its own permissions: the workflow\'s plus id-token: write (the action authenticates with the job\'s OIDC token)',
      });
      continue;
    }
    manual(jobId);
  }
  return { output: edits.length > 0 ? applyEdits(text, edits) : text, jobs };
}
