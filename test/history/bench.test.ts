import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { historyStream, runHistoryBench } from '../../bench/history.js';
import { readHistory } from '../../src/history/index.js';

describe('history on long histories', () => {
  it('spawns a fixed number of git processes whatever the number of commits', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'egressctl-history-spawn-'));
    const savedPath = process.env['PATH'];
    try {
      const repo = path.join(root, 'repo');
      execFileSync('git', ['init', '-q', '-b', 'main', repo]);
      execFileSync('git', ['-C', repo, 'fast-import', '--quiet'], { input: historyStream(300, 20).stream });
      // A `git` first on PATH that records each call, then runs the real one.
      const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
      const shimDir = path.join(root, 'bin');
      const log = path.join(root, 'calls.log');
      execFileSync('mkdir', [shimDir]);
      writeFileSync(path.join(shimDir, 'git'), `#!/bin/sh\necho "$3" >> '${log}'\nexec '${realGit}' "$@"\n`);
      chmodSync(path.join(shimDir, 'git'), 0o755);
      process.env['PATH'] = `${shimDir}${path.delimiter}${savedPath ?? ''}`;
      const events = await readHistory({ dir: repo });
      expect(events).toHaveLength(300);
      expect(readFileSync(log, 'utf8').trim().split('\n')).toEqual(['rev-parse', 'log', 'cat-file']);
    } finally {
      process.env['PATH'] = savedPath;
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('reads a 2,000-commit history in a few seconds (bench/history.ts)', async () => {
    const result = await runHistoryBench({ commits: 2000 });
    console.log(`history bench: ${JSON.stringify(result, (_key, value: unknown) => (typeof value === 'number' ? Math.round(value) : value))}`);
    expect(result.events).toBe(2000); // every synthetic commit makes exactly one event
    // p1 is touched by commits 1, 51, 101, ..., 1951 (i % 50 === 1): one event each.
    expect(result.filteredEvents).toBe(40);
    // Generous bound for a shared 2-core machine; a process per commit would blow far past it.
    expect(result.readHistoryMs).toBeLessThan(20_000);
  }, 120_000);
});
