import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { diffLines, splitLines, unifiedDiff } from '../../src/history/text-diff.js';

/** Applying the edit script to `before` must give `after`, and it must keep every common line it can. */
function apply(edits: ReturnType<typeof diffLines>): { before: string[]; after: string[] } {
  return {
    before: edits.filter((edit) => edit.kind !== '+').map((edit) => edit.line),
    after: edits.filter((edit) => edit.kind !== '-').map((edit) => edit.line),
  };
}

function lcsLength(a: readonly string[], b: readonly string[]): number {
  const row = new Array<number>(b.length + 1).fill(0);
  for (const x of a) {
    let diagonal = 0;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j] ?? 0;
      row[j] = x === b[j - 1] ? diagonal + 1 : Math.max(above, row[j - 1] ?? 0);
      diagonal = above;
    }
  }
  return row[b.length] ?? 0;
}

describe('diffLines', () => {
  it('is a shortest edit script that rebuilds both sides', () => {
    const lines = fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { maxLength: 12 });
    fc.assert(
      fc.property(lines, lines, (before, after) => {
        const edits = diffLines(before, after);
        expect(apply(edits)).toEqual({ before, after });
        expect(edits.filter((edit) => edit.kind === ' ').length).toBe(lcsLength(before, after));
      }),
    );
  });
});

describe('unifiedDiff', () => {
  it('is empty for equal texts and ignores a missing final newline only when lines are equal', () => {
    expect(unifiedDiff('a\nb\n', 'a\nb\n', 'a/x', 'b/x')).toEqual([]);
    expect(unifiedDiff('a\nb', 'a\nb\n', 'a/x', 'b/x')).toEqual([]);
    expect(splitLines('')).toEqual([]);
  });

  it('prints hunks as diff -u does', () => {
    const before = Array.from({ length: 20 }, (_, i) => `line ${i + 1}`);
    const after = [...before];
    after[1] = 'changed 2';
    after.splice(15, 1);
    after.push('line 21');
    const dir = mkdtempSync(path.join(tmpdir(), 'egressctl-diff-'));
    try {
      writeFileSync(path.join(dir, 'before'), `${before.join('\n')}\n`);
      writeFileSync(path.join(dir, 'after'), `${after.join('\n')}\n`);
      let expected = '';
      try {
        execFileSync('git', ['diff', '--no-index', '--no-color', '-U3', 'before', 'after'], { cwd: dir, encoding: 'utf8' });
      } catch (error) {
        expected = (error as { stdout: string }).stdout; // exit code 1: the files differ
      }
      const gitLines = expected.split('\n').filter((line) => /^(@@|[-+ ])/.test(line) && !line.startsWith('---') && !line.startsWith('+++'));
      const ours = unifiedDiff(`${before.join('\n')}\n`, `${after.join('\n')}\n`, 'a/x', 'b/x');
      expect(ours.slice(0, 2)).toEqual(['--- a/x', '+++ b/x']);
      expect(ours.slice(2).map((line) => line.replace(/^(@@ [^@]+ @@).*$/, '$1'))).toEqual(gitLines.map((line) => line.replace(/^(@@ [^@]+ @@).*$/, '$1')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('handles a file that appears from nothing', () => {
    expect(unifiedDiff('', 'a\n', 'a/x', 'b/x')).toEqual(['--- a/x', '+++ b/x', '@@ -0,0 +1 @@', '+a']);
  });
});
