/**
 * Text form of the audit log: one line per event, its diff and notes indented below it. A change
 * reads as in the review (docs/architecture.md#policy-changes); a weakening is marked `!`.
 */
import { ENDPOINT_LABELS, keyChangeText } from '../policy/change.js';
import type { HistoryEvent } from './model.js';

const INDENT = '    ';

function headline(event: HistoryEvent): string {
  const parts = [event.date, event.commit.slice(0, 7), event.type.padEnd(8), event.policy];
  if (event.scope) parts.push(`${event.type === 'attached' ? 'to' : 'from'} ${event.scope.type} ${event.scope.key}`);
  if (event.renamedFrom !== undefined) parts.push(`(renamed from ${event.renamedFrom})`);
  if (event.renamedTo !== undefined) parts.push(`(renamed to ${event.renamedTo})`);
  parts.push(`by ${event.author}${event.authorEmail ? ` <${event.authorEmail}>` : ''}`);
  if (event.pr !== null) parts.push(`PR #${event.pr}`);
  return parts.join('  ');
}

function detailLines(event: HistoryEvent): string[] {
  const lines: string[] = [];
  const diff = event.diff;
  if (diff) {
    for (const endpoint of diff.endpointsAdded ?? []) lines.push(`${ENDPOINT_LABELS.added} ${endpoint}`);
    for (const endpoint of diff.endpointsRemoved ?? []) lines.push(`${ENDPOINT_LABELS.removed} ${endpoint}`);
    for (const change of diff.changed ?? []) lines.push(`${change.weakens ? '!' : '~'} ${keyChangeText(change)}`);
    lines.push(...diff.text);
  }
  for (const note of event.notes) lines.push(`note: ${note}`);
  return lines;
}

export function renderHistoryText(events: readonly HistoryEvent[]): string {
  if (events.length === 0) return 'no policy or attachment changes in this history\n';
  const lines: string[] = [];
  for (const event of events) {
    lines.push(headline(event));
    for (const line of detailLines(event)) lines.push(`${INDENT}${line}`);
  }
  return `${lines.join('\n')}\n`;
}
