/**
 * What a new user reads first: each command's `--help` and README's command table. A help lists
 * a flag once per group (issue 23: `sync --help` had `[--json]` twice), and README's table names
 * flags the commands have, all of them unless its row says `...` (issue 23: `compile` lacked
 * `--unsigned`, which the README `init` writes uses).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

const root = path.resolve(import.meta.dirname, '../..');

/** The command names the top-level help lists. */
async function commandNames(): Promise<string[]> {
  const help = await runCli(['--help']);
  const section = help.stdout.split('\ncommands:\n')[1]?.split('\n\n')[0] ?? '';
  return section.split('\n').map((line) => line.trim().split(/\s+/)[0] ?? '').filter((name) => name !== '');
}

/** The synopsis forms of a help text: `usage: egressctl ...` and indented `egressctl ...` lines with their indented continuations. */
export function synopsisForms(help: string): string[] {
  const forms: string[] = [];
  let current: string | undefined;
  for (const line of help.split('\n')) {
    if (/^(usage:)?\s*egressctl /.test(line)) {
      if (current !== undefined) forms.push(current);
      current = line.replace(/^usage:/, '');
    } else if (current !== undefined && /^\s+\S/.test(line)) {
      current += ` ${line.trim()}`;
    } else if (current !== undefined) {
      forms.push(current);
      current = undefined;
    }
  }
  if (current !== undefined) forms.push(current);
  return forms;
}

const FLAG = /(?<![\w-])--[a-z][a-z0-9-]*/y;

/**
 * Flags a synopsis lists twice in one group (the top level, `[...]` or `(...)`); quoted text is
 * skipped. The flag a bracket opens with (`[--json]`, `(--org O | ...`) is listed in the group
 * around it; the rest of a bracket is its own group, so alternatives (`[--policy-from DIR
 * --repository R] [--from-baselines --repository R]`) may each name a flag.
 */
export function flagsListedTwice(form: string): string[] {
  const groups: { flags: Set<string>; opening: boolean }[] = [{ flags: new Set(), opening: false }];
  const twice: string[] = [];
  for (let index = 0; index < form.length; index++) {
    const char = form[index] ?? '';
    const group = groups[groups.length - 1]!;
    if (char === '"') {
      index = form.indexOf('"', index + 1);
      if (index < 0) break;
      group.opening = false;
    } else if (char === '[' || char === '(') {
      groups.push({ flags: new Set(), opening: true });
    } else if (char === ']' || char === ')') {
      if (groups.length > 1) groups.pop();
    } else if (!/\s/.test(char)) {
      FLAG.lastIndex = index;
      const flag = FLAG.exec(form)?.[0];
      const listedIn = group.opening ? (groups[groups.length - 2] ?? group) : group;
      group.opening = false;
      if (flag === undefined) continue;
      if (listedIn.flags.has(flag)) twice.push(flag);
      listedIn.flags.add(flag);
      index += flag.length - 1;
    }
  }
  return twice;
}

const flagsIn = (text: string): Set<string> => new Set(text.match(/(?<![\w-])--[a-z][a-z0-9-]*/g) ?? []);

describe('the CLI help', () => {
  it('finds a flag listed twice in one group, and not one listed in two alternatives', () => {
    expect(flagsListedTwice(' egressctl sync --org ORG [--dry-run] [--json] [--force] [--json]')).toEqual(['--json']);
    expect(flagsListedTwice(' egressctl harden FILE [--policy-from DIR --repository R] [--from-baselines --repository R] [--endpoints "a [--x] --x"]')).toEqual([]);
    expect(flagsListedTwice(' egressctl verify FILE --public-key FILE [--public-key FILE ...]')).toEqual(['--public-key']);
    expect(flagsListedTwice(' egressctl attach P (--org O | --repository R) [-C DIR] [--rev REV | --bundle F [--rev R]]')).toEqual([]);
  });

  it('lists no flag twice in any command\'s --help', async () => {
    const names = await commandNames();
    expect(names).toContain('sync');
    const duplicates: string[] = [];
    for (const name of names) {
      const help = await runCli([name, '--help']);
      expect(help.code, name).toBe(0);
      const forms = synopsisForms(help.stdout);
      expect(forms.length, `${name} has a synopsis`).toBeGreaterThan(0);
      for (const form of forms) for (const flag of flagsListedTwice(form)) duplicates.push(`${name}: ${flag}`);
    }
    expect(duplicates).toEqual([]);
  });
});

describe("README's command table", () => {
  it('names only flags the commands have, and all of them unless the row ends in "..."', async () => {
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    const rows = new Map<string, { flags: Set<string>; abbreviated: boolean }>();
    for (const line of readme.split('\n')) {
      const row = /^\| `([a-z]+)((?:[^`]|``)*)` \|(.*)\|$/.exec(line);
      if (!row) continue;
      const [, name = '', synopsis = '', description = ''] = row;
      const entry = rows.get(name) ?? { flags: new Set<string>(), abbreviated: false };
      for (const flag of flagsIn(`${synopsis} ${description}`)) entry.flags.add(flag);
      entry.abbreviated ||= /\.\.\.\s*$/.test(synopsis);
      rows.set(name, entry);
    }
    const names = await commandNames();
    expect([...rows.keys()].sort()).toEqual(names.filter((name) => rows.has(name)).sort());
    expect(rows.size).toBeGreaterThan(10);
    const problems: string[] = [];
    for (const [name, row] of rows) {
      const helpFlags = new Set(synopsisForms((await runCli([name, '--help'])).stdout).flatMap((form) => [...flagsIn(form)]));
      for (const flag of row.flags) if (!helpFlags.has(flag)) problems.push(`README's ${name} row names ${flag}, which ${name} --help does not list`);
      if (row.abbreviated) continue;
      for (const flag of helpFlags) if (!row.flags.has(flag)) problems.push(`README's ${name} row lacks ${flag} (or end its synopsis with "...")`);
    }
    expect(problems).toEqual([]);
  });
});
