/**
 * Source comments point at this repository's own documents: never at a design document the
 * repository does not have, and every `docs/<file>.md#anchor` names a heading that exists.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...sourceFiles(full));
    else if (/\.(ts|mjs|js|cjs)$/.test(name) && !full.includes(`${path.sep}dist${path.sep}`)) out.push(full);
  }
  return out;
}

/** GitHub's heading anchors: lower-cased, punctuation dropped, spaces to hyphens. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  for (const line of markdown.split('\n')) {
    const heading = /^#{1,6}\s+(.*)$/.exec(line);
    if (!heading?.[1]) continue;
    anchors.add(heading[1].trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-'));
  }
  return anchors;
}

const files = ['src', 'test', 'bench', 'scripts'].flatMap((dir) => sourceFiles(path.join(root, dir)));

describe('documentation citations in source', () => {
  it('cite no design document the repository lacks', () => {
    const offending: string[] = [];
    for (const file of files) {
      if (file === import.meta.filename) continue;
      readFileSync(file, 'utf8').split('\n').forEach((line, index) => {
        if (/\bDESIGN(\.md)? ?\d|shared\/DESIGN/.test(line)) offending.push(`${path.relative(root, file)}:${index + 1}: ${line.trim()}`);
      });
    }
    expect(offending).toEqual([]);
  });

  it('point at documents and headings that exist', () => {
    const broken: string[] = [];
    const anchorCache = new Map<string, Set<string> | undefined>();
    for (const file of files) {
      // Comment lines only: tests also use docs/*.md paths as data.
      const text = readFileSync(file, 'utf8')
        .split('\n')
        .filter((line) => /^\s*(\*|\/\/|\/\*)/.test(line))
        .join('\n');
      for (const match of text.matchAll(/docs\/([a-z0-9-]+\.md)((?:#[a-z0-9-]+)(?:, #[a-z0-9-]+)*)?/g)) {
        const doc = match[1] as string;
        if (!anchorCache.has(doc)) {
          let anchors: Set<string> | undefined;
          try {
            anchors = anchorsOf(readFileSync(path.join(root, 'docs', doc), 'utf8'));
          } catch {
            anchors = undefined;
          }
          anchorCache.set(doc, anchors);
        }
        const anchors = anchorCache.get(doc);
        if (!anchors) {
          broken.push(`${path.relative(root, file)}: docs/${doc} does not exist`);
          continue;
        }
        for (const anchor of (match[2] ?? '').split(/,\s*/).filter(Boolean)) {
          const name = anchor.replace(/^#/, '');
          if (!anchors.has(name)) broken.push(`${path.relative(root, file)}: docs/${doc}#${name} names no heading`);
        }
      }
    }
    expect(broken).toEqual([]);
  });
});
