import { describe, expect, it } from 'vitest';
import { blobsNeeded, historyFromCommits, pullRequestNumber } from '../../src/history/events.js';
import { parseGitLog } from '../../src/history/git-log.js';
import type { HistoryCommit } from '../../src/history/model.js';
import { parseSince } from '../../src/history/since.js';

const commit = (sha: string, date: string, message: string, changes: HistoryCommit['changes']): HistoryCommit => ({
  sha: sha.padEnd(40, '0'),
  author: 'Ann',
  authorEmail: 'ann@example.com',
  date,
  message,
  changes,
});

describe('pullRequestNumber', () => {
  it.each([
    ['Merge pull request #123 from acme/feature-x', 123],
    ['Merge pull request #7 from acme/fix\n\nBody (#99)', 7],
    ['Block api egress (#4567)', 4567],
    ['Block api egress (#4567)  ', 4567],
    ['Revert "Block api (#12)" (#13)', 13],
    ['Fix #12 in api', null],
    ['Merge branch main into feature', null],
    ['Title\n\nMerged as (#55)', null],
    ['', null],
  ])('%j -> %j', (message, expected) => {
    expect(pullRequestNumber(message)).toBe(expected);
  });
});

describe('historyFromCommits (pure)', () => {
  const blobs = new Map<string, string | Uint8Array>([
    ['b1', 'egress-policy: audit\n'],
    ['b2', 'egress-policy: block\nallowed-endpoints: github.com\n'],
    ['x1', 'egress-policy: audit\n'],
    ['bad', new Uint8Array([0x65, 0xff, 0x0a])],
  ]);
  const commits: HistoryCommit[] = [
    commit('c3', '2024-01-03T00:00:00Z', 'Update other', [{ status: 'M', path: 'policies/other.yml', oldBlob: 'x1', newBlob: 'bad' }]),
    commit('c2', '2024-01-02T00:00:00Z', 'Update a (#2)', [{ status: 'M', path: 'policies/a.yml', oldBlob: 'b1', newBlob: 'b2' }]),
    commit('c1', '2024-01-01T00:00:00Z', 'Add', [
      { status: 'A', path: 'policies/a.yml', newBlob: 'b1' },
      { status: 'A', path: 'policies/other.yml', newBlob: 'x1' },
      { status: 'A', path: 'policies/gone.yml', newBlob: 'missing-blob' },
      { status: 'A', path: 'policies/draft.yaml', newBlob: 'b1' },
    ]),
  ];

  it('derives events from commits and blobs alone, newest first', () => {
    const events = historyFromCommits(commits, blobs);
    expect(events.map((event) => `${event.commit.slice(0, 2)} ${event.type} ${event.policy}`)).toEqual([
      'c3 updated other',
      'c2 updated a',
      'c1 created a',
      'c1 created gone',
      'c1 created other',
    ]);
    expect(events[0]?.notes.join('\n')).toMatch(/cannot be read as text|not valid UTF-8/);
    expect(events[0]?.diff?.changed).toBeNull();
    expect(events[3]?.notes.join('\n')).toMatch(/is not available \(shallow clone\?\)/);
    expect(events[1]).toMatchObject({ pr: 2, date: '2024-01-02T00:00:00Z', author: 'Ann', authorEmail: 'ann@example.com' });
  });

  it('filters by policy, since and limit, and asks only for the blobs it needs', () => {
    expect(blobsNeeded(commits, { policy: 'a' }).sort()).toEqual(['b1', 'b2']);
    expect(blobsNeeded(commits, { since: '2024-01-02T00:00:00Z' }).sort()).toEqual(['b1', 'b2', 'bad', 'x1']);
    expect(historyFromCommits(commits, blobs, { policy: 'a' }).map((event) => event.type)).toEqual(['updated', 'created']);
    expect(historyFromCommits(commits, blobs, { since: '2024-01-02T00:00:00Z' }).map((event) => event.policy)).toEqual(['other', 'a']);
    expect(historyFromCommits(commits, blobs, { limit: 1 }).map((event) => event.policy)).toEqual(['other']);
    // Only the blobs blobsNeeded named are given: the result is the same as with all of them.
    const needed = new Map([...blobs].filter(([sha]) => blobsNeeded(commits, { policy: 'a' }).includes(sha)));
    expect(historyFromCommits(commits, needed, { policy: 'a' })).toEqual(historyFromCommits(commits, blobs, { policy: 'a' }));
  });
});

describe('parseGitLog', () => {
  it('reads the -z --raw format, renames, merges without changes, and dates as UTC', () => {
    const zero = '0'.repeat(40);
    const a = 'a'.repeat(40);
    const b = 'b'.repeat(40);
    const output = Buffer.from(
      [
        `\x1e${'1'.repeat(40)}\x00Zoë Ürban\x00zoe@example.com\x001709251200\x00Rename (#5)\n\nbody: with \x1e inside\n\x00\x00\n`,
        `:100644 100644 ${a} ${b} R087\x00policies/old.yml\x00policies/new.yml\x00`,
        `:000000 100644 ${zero} ${a} A\x00attachments.yml\x00`,
        `:160000 000000 ${a} ${zero} D\x00policies/sub.yml\x00`,
        `\x1e${'2'.repeat(40)}\x00Bo\x00bo@example.com\x001709164800\x00Empty\n\x00\x00`,
      ].join(''),
    );
    expect(parseGitLog(output)).toEqual([
      {
        sha: '1'.repeat(40),
        author: 'Zoë Ürban',
        authorEmail: 'zoe@example.com',
        date: '2024-03-01T00:00:00Z',
        message: 'Rename (#5)\n\nbody: with \x1e inside',
        changes: [
          { status: 'R', path: 'policies/new.yml', oldPath: 'policies/old.yml', oldBlob: a, newBlob: b },
          { status: 'A', path: 'attachments.yml', newBlob: a },
          { status: 'D', path: 'policies/sub.yml' },
        ],
      },
      { sha: '2'.repeat(40), author: 'Bo', authorEmail: 'bo@example.com', date: '2024-02-29T00:00:00Z', message: 'Empty', changes: [] },
    ]);
  });

  it('rejects output it does not understand with a located message', () => {
    expect(() => parseGitLog(Buffer.from('garbage'))).toThrow(/unexpected git log output at byte 0/);
  });
});

describe('parseSince', () => {
  const now = new Date('2024-06-15T12:00:00Z');
  it.each([
    ['2024-05-01', '2024-05-01T00:00:00.000Z'],
    ['2024-05-01T12:30', '2024-05-01T12:30:00.000Z'],
    ['2024-05-01T12:30:15+02:00', '2024-05-01T10:30:15.000Z'],
    ['2024-05-01 12:30:15-0130', '2024-05-01T14:00:15.000Z'],
    ['30d', '2024-05-16T12:00:00.000Z'],
    ['2w', '2024-06-01T12:00:00.000Z'],
    ['12h', '2024-06-15T00:00:00.000Z'],
    ['yesterday', undefined],
    ['2024-13-01', undefined],
    ['2024-02-31', undefined],
    ['2024-02-29', '2024-02-29T00:00:00.000Z'],
  ])('%s', (text, expected) => {
    expect(parseSince(text, now)).toBe(expected);
  });
});
