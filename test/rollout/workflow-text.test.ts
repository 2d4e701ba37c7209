import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { applyEdits, detectEol, LineIndex, renderScalar } from '../../src/rollout/workflow-text.js';

describe('workflow text helpers', () => {
  it('renders scalars that read back as the same string', () => {
    const values = ['plain', 'https://x.example/a', "runner.os == 'Linux'", 'a: b', 'x #y', '*.github.com:443', 'true', '123', '', ' lead', 'trail ', '@at', 'acme/x/actions/harden@v1', '-dash', 'q"uote'];
    for (const value of values) {
      const rendered = renderScalar(value);
      expect((parse(`key: ${rendered}`) as { key: unknown }).key, rendered).toBe(value);
    }
    expect(renderScalar('plain')).toBe('plain');
    expect(renderScalar('true')).toBe('"true"');
    expect(renderScalar('*.github.com:443')).toBe('"*.github.com:443"');
  });

  it('detects line endings from the first line break', () => {
    expect(detectEol('a\r\nb\n')).toBe('\r\n');
    expect(detectEol('a\nb\r\n')).toBe('\n');
    expect(detectEol('single line')).toBe('\n');
  });

  it('maps offsets to lines and columns, with CRLF', () => {
    const index = new LineIndex('ab\r\ncd\n\nef');
    expect(index.lineCount).toBe(4);
    expect(index.position(4)).toEqual({ line: 2, column: 1 });
    expect(index.lineText(0)).toBe('ab');
    expect(index.lineContentEnd(0)).toBe(2);
    expect(index.lineEnd(0)).toBe(4);
    expect(index.isBlankOrComment(2)).toBe(true);
    expect(index.lastContentLine(0, 8)).toBe(1);
  });

  it('applies edits in offset order, inserts at one offset in the given order, and refuses overlaps', () => {
    expect(applyEdits('abcdef', [{ start: 4, end: 5, text: 'E' }, { start: 1, end: 1, text: '1' }, { start: 1, end: 1, text: '2' }])).toBe('a12bcdEf');
    expect(() => applyEdits('abcdef', [{ start: 1, end: 4, text: '' }, { start: 2, end: 3, text: '' }])).toThrow(/overlapping/);
  });
});
