/**
 * Unified diff of two texts by lines (Myers' O(ND) algorithm), as `diff -u` prints it. Policy
 * files are small; this keeps the audit log free of a diff tool or another dependency.
 */

type Edit = { kind: ' ' | '-' | '+'; line: string };

/** Lines without their terminators; a final newline does not make an empty last line. */
export function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** Shortest edit script between two line arrays. */
export function diffLines(before: readonly string[], after: readonly string[]): Edit[] {
  const n = before.length;
  const m = after.length;
  const max = n + m;
  const offset = max + 1;
  const frontier = new Int32Array(2 * max + 3);
  const trace: Int32Array[] = [];
  let found = max === 0;
  for (let d = 0; d <= max && !found; d++) {
    trace.push(frontier.slice());
    for (let k = -d; k <= d; k += 2) {
      let x: number;
      if (k === -d || (k !== d && (frontier[offset + k - 1] ?? 0) < (frontier[offset + k + 1] ?? 0))) x = frontier[offset + k + 1] ?? 0;
      else x = (frontier[offset + k - 1] ?? 0) + 1;
      let y = x - k;
      while (x < n && y < m && before[x] === after[y]) {
        x++;
        y++;
      }
      frontier[offset + k] = x;
      if (x >= n && y >= m) {
        found = true;
        break;
      }
    }
  }
  // Walk the trace back from (n, m) to (0, 0).
  const edits: Edit[] = [];
  let x = n;
  let y = m;
  for (let d = trace.length - 1; d >= 0; d--) {
    const v = trace[d] as Int32Array;
    const k = x - y;
    let previousK: number;
    if (k === -d || (k !== d && (v[offset + k - 1] ?? 0) < (v[offset + k + 1] ?? 0))) previousK = k + 1;
    else previousK = k - 1;
    const previousX = d === 0 ? 0 : (v[offset + previousK] ?? 0);
    const previousY = previousX - previousK;
    while (x > previousX && y > previousY) {
      edits.push({ kind: ' ', line: before[x - 1] ?? '' });
      x--;
      y--;
    }
    if (d === 0) break;
    if (x === previousX) edits.push({ kind: '+', line: after[y - 1] ?? '' });
    else edits.push({ kind: '-', line: before[x - 1] ?? '' });
    x = previousX;
    y = previousY;
  }
  while (x > 0 && y > 0) {
    edits.push({ kind: ' ', line: before[x - 1] ?? '' });
    x--;
    y--;
  }
  return edits.reverse();
}

/**
 * `diff -u` output lines (without newlines): headers, then hunks with `context` lines around
 * each change. Empty when the texts have the same lines.
 */
export function unifiedDiff(beforeText: string, afterText: string, beforeName: string, afterName: string, context = 3): string[] {
  const before = splitLines(beforeText);
  const after = splitLines(afterText);
  const edits = diffLines(before, after);
  if (edits.every((edit) => edit.kind === ' ')) return [];
  const output = [`--- ${beforeName}`, `+++ ${afterName}`];
  // Positions (in `edits`) of changes, grouped into hunks that share context.
  let index = 0;
  while (index < edits.length) {
    while (index < edits.length && edits[index]?.kind === ' ') index++;
    if (index >= edits.length) break;
    const start = Math.max(0, index - context);
    let end = index;
    // Extend while the next change is within 2*context unchanged lines.
    for (;;) {
      while (end < edits.length && edits[end]?.kind !== ' ') end++;
      let gap = end;
      while (gap < edits.length && edits[gap]?.kind === ' ') gap++;
      if (gap < edits.length && gap - end <= 2 * context) end = gap;
      else {
        end = Math.min(edits.length, end + context);
        break;
      }
    }
    let beforeLine = 1;
    let afterLine = 1;
    for (let i = 0; i < start; i++) {
      if (edits[i]?.kind !== '+') beforeLine++;
      if (edits[i]?.kind !== '-') afterLine++;
    }
    const hunk = edits.slice(start, end);
    const beforeCount = hunk.filter((edit) => edit.kind !== '+').length;
    const afterCount = hunk.filter((edit) => edit.kind !== '-').length;
    const range = (line: number, count: number) => `${count === 0 ? line - 1 : line}${count === 1 ? '' : `,${count}`}`;
    output.push(`@@ -${range(beforeLine, beforeCount)} +${range(afterLine, afterCount)} @@`);
    for (const edit of hunk) output.push(`${edit.kind}${edit.line}`);
    index = end;
  }
  return output;
}
