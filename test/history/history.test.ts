import { afterEach, describe, expect, it } from 'vitest';
import { readHistory, type HistoryEvent } from '../../src/history/index.js';
import { runCli } from '../support/cli.js';
import { makeTempRepo, type TempRepo } from '../support/policy-repo.js';

const repos: TempRepo[] = [];
afterEach(() => {
  for (const repo of repos.splice(0)) repo.cleanup();
});

function newRepo(): TempRepo {
  const repo = makeTempRepo({}, { git: true });
  repos.push(repo);
  return repo;
}

const ALICE = 'Alice Admin <alice@example.com>';
const BOB = 'Bob Builder <bob@example.com>';

const attachments = (entries: Record<string, Record<string, string>>) =>
  Object.entries(entries)
    .map(([section, map]) => `${section}:\n${Object.entries(map).map(([key, policy]) => `  ${key}: ${policy}\n`).join('')}`)
    .join('');

/** The event fields a reader looks at, without SHAs. */
const summary = (event: HistoryEvent) =>
  `${event.type} ${event.policy}${event.scope ? ` ${event.scope.type}:${event.scope.key}` : ''}${event.renamedFrom ? ` <-${event.renamedFrom}` : ''}${event.renamedTo ? ` ->${event.renamedTo}` : ''}`;

describe('readHistory on real git repositories', () => {
  it('reports created, updated (with diff), attached, detached, moved and deleted, newest first', async () => {
    const repo = newRepo();
    repo.write({ 'policies/api.yml': 'egress-policy: audit\nallowed-endpoints:\n  - github.com\n  - registry.npmjs.org\n' });
    const created = repo.commit('Add api policy (#1)', { author: ALICE, date: '2024-03-01T10:00:00Z' });
    repo.write({
      'policies/api.yml': 'egress-policy: block\nallowed-endpoints:\n  - github.com\n  - proxy.golang.org:443\n',
      'policies/base.yml': 'egress-policy: audit\n',
    });
    const updated = repo.commit('Block api (#2)', { author: BOB, date: '2024-03-02T10:00:00Z' });
    repo.write({ 'attachments.yml': attachments({ repositories: { 'acme/api': 'api', 'acme/web': 'base' }, organizations: { acme: 'base' } }) });
    const attached = repo.commit('Attach', { author: ALICE, date: '2024-03-03T10:00:00Z' });
    // Move acme/web from base to api, detach the organization, change only the case of a key.
    repo.write({ 'attachments.yml': attachments({ repositories: { 'ACME/API': 'api', 'acme/web': 'api' } }) });
    const moved = repo.commit('Move web to api', { author: BOB, date: '2024-03-04T10:00:00Z' });
    repo.write({ 'policies/base.yml': null });
    const deleted = repo.commit('Delete base', { author: ALICE, date: '2024-03-05T10:00:00Z' });

    const events = await readHistory({ dir: repo.dir });
    expect(events.map((event) => [event.commit, summary(event)])).toEqual([
      [deleted, 'deleted base'],
      // within a commit: scopes in precedence order, a detach before the attach that replaces it;
      // ACME/API -> acme/api (case only) is no event
      [moved, 'detached base repository:acme/web'],
      [moved, 'attached api repository:acme/web'],
      [moved, 'detached base organization:acme'],
      [attached, 'attached api repository:acme/api'],
      [attached, 'attached base repository:acme/web'],
      [attached, 'attached base organization:acme'],
      [updated, 'updated api'],
      [updated, 'created base'],
      [created, 'created api'],
    ]);

    const update = events.find((event) => event.type === 'updated');
    expect(update?.diff).toMatchObject({
      endpointsAdded: ['proxy.golang.org:443'],
      endpointsRemoved: ['registry.npmjs.org:443'],
      changed: [{ key: 'egress-policy', before: 'audit', after: 'block' }],
    });
    expect(update?.diff?.text).toEqual([
      '--- a/policies/api.yml',
      '+++ b/policies/api.yml',
      '@@ -1,4 +1,4 @@',
      '-egress-policy: audit',
      '+egress-policy: block',
      ' allowed-endpoints:',
      '   - github.com',
      '-  - registry.npmjs.org',
      '+  - proxy.golang.org:443',
    ]);
    expect(update).toMatchObject({ author: 'Bob Builder', authorEmail: 'bob@example.com', date: '2024-03-02T10:00:00Z', pr: 2, scope: null });
    expect(events.find((event) => event.type === 'deleted')).toMatchObject({ author: 'Alice Admin', pr: null, diff: null });
  });

  it('reports a git-detected rename as deleted(old) + created(new) linked both ways, and follows it when filtering', async () => {
    const repo = newRepo();
    const body = 'egress-policy: block\nallowed-endpoints:\n  - github.com\n  - objects.githubusercontent.com\n  - registry.npmjs.org\n';
    repo.write({ 'policies/old-name.yml': body, 'attachments.yml': attachments({ repositories: { 'acme/api': 'old-name' } }) });
    repo.commit('Add', { date: '2024-01-01T00:00:00Z' });
    repo.write({
      'policies/old-name.yml': null,
      'policies/new-name.yml': `${body}  - proxy.golang.org\n`,
      'attachments.yml': attachments({ repositories: { 'acme/api': 'new-name' } }),
    });
    const renamed = repo.commit('Rename (#7)', { date: '2024-01-02T00:00:00Z' });
    repo.write({ 'policies/other.yml': 'egress-policy: audit\n' });
    repo.commit('Unrelated', { date: '2024-01-03T00:00:00Z' });

    const all = await readHistory({ dir: repo.dir });
    const atRename = all.filter((event) => event.commit === renamed);
    expect(atRename.map(summary)).toEqual([
      'deleted old-name ->new-name',
      'created new-name <-old-name',
      'detached old-name repository:acme/api',
      'attached new-name repository:acme/api',
    ]);
    expect(atRename[1]?.diff?.endpointsAdded).toEqual(['proxy.golang.org:443']);

    const followed = await readHistory({ dir: repo.dir, policy: 'new-name' });
    expect(followed.map(summary)).toEqual([
      'deleted old-name ->new-name',
      'created new-name <-old-name',
      'detached old-name repository:acme/api',
      'attached new-name repository:acme/api',
      'created old-name',
      'attached old-name repository:acme/api',
    ]);
  });

  it('takes PR numbers from merge commits (mainline only) and squash commits', async () => {
    const repo = newRepo();
    repo.write({ 'policies/base.yml': 'egress-policy: audit\n' });
    repo.commit('Initial', { date: '2024-01-01T00:00:00Z' });
    repo.git('checkout', '-q', '-b', 'feature');
    repo.write({ 'policies/base.yml': 'egress-policy: audit\nallowed-endpoints: github.com\n' });
    repo.commit('wip: add github', { author: BOB, date: '2024-01-02T00:00:00Z' });
    repo.write({ 'policies/base.yml': 'egress-policy: audit\nallowed-endpoints: github.com api.github.com\n' });
    repo.commit('wip: add api.github.com', { author: BOB, date: '2024-01-03T00:00:00Z' });
    repo.git('checkout', '-q', 'main');
    repo.write({ 'policies/squashed.yml': 'egress-policy: audit\n' });
    const squash = repo.commit('Add squashed policy (#41)', { author: ALICE, date: '2024-01-04T00:00:00Z' });
    repo.git('-c', 'user.name=Merger', '-c', 'user.email=merger@example.com', 'merge', '-q', '--no-ff', '-m', 'Merge pull request #42 from acme/feature\n\nAdd GitHub endpoints', 'feature');
    const merge = repo.git('rev-parse', 'HEAD').trim();

    const events = await readHistory({ dir: repo.dir });
    expect(events.map((event) => [event.commit, summary(event), event.pr])).toEqual([
      [merge, 'updated base', 42],
      [squash, 'created squashed', 41],
      [events[2]?.commit, 'created base', null],
    ]);
    expect(events[0]?.diff?.endpointsAdded).toEqual(['api.github.com:443', 'github.com:443']);
    expect(events[0]?.subject).toBe('Merge pull request #42 from acme/feature');
  });

  it('gives dates in UTC whatever the time zone of the commit or of the reader', async () => {
    const repo = newRepo();
    repo.write({ 'policies/a.yml': 'egress-policy: audit\n' });
    repo.commit('a', { date: '2024-03-01T01:30:00+05:00' });
    repo.write({ 'policies/b.yml': 'egress-policy: audit\n' });
    repo.commit('b', { date: '2024-02-29T23:30:00-03:00' });
    const savedTz = process.env['TZ'];
    const results: HistoryEvent[][] = [];
    try {
      for (const tz of ['UTC', 'Pacific/Kiritimati', 'America/Los_Angeles']) {
        process.env['TZ'] = tz;
        results.push(await readHistory({ dir: repo.dir, since: '2024-02-29T21:00:00Z' }));
      }
    } finally {
      if (savedTz === undefined) delete process.env['TZ'];
      else process.env['TZ'] = savedTz;
    }
    expect(results[0]?.map((event) => [event.policy, event.date])).toEqual([
      ['b', '2024-03-01T02:30:00Z'],
      // a at 2024-02-29T20:30:00Z is before `since`
    ]);
    expect(results[1]).toEqual(results[0]);
    expect(results[2]).toEqual(results[0]);
  });

  it('does not crash on broken YAML: shows the text diff and a note, bridges a broken attachments.yml', async () => {
    const repo = newRepo();
    repo.write({ 'policies/api.yml': 'egress-policy: audit\nallowed-endpoints:\n  - github.com\n', 'attachments.yml': attachments({ repositories: { 'acme/api': 'api' } }) });
    repo.commit('Add', { date: '2024-01-01T00:00:00Z' });
    repo.write({ 'policies/api.yml': 'egress-policy: [block\nallowed-endpoints:\n  - github.com\n', 'attachments.yml': 'repositories:\n  acme/api: [api\n' });
    const broken = repo.commit('Break', { date: '2024-01-02T00:00:00Z' });
    repo.write({
      'policies/api.yml': 'egress-policy: block\nallowed-endpoints:\n  - github.com\n',
      'attachments.yml': attachments({ repositories: { 'acme/web': 'api' } }),
    });
    const fixed = repo.commit('Fix', { date: '2024-01-03T00:00:00Z' });

    const events = await readHistory({ dir: repo.dir });
    const brokenUpdate = events.find((event) => event.commit === broken);
    expect(events.filter((event) => event.commit === broken).map(summary)).toEqual(['updated api']);
    expect(brokenUpdate?.diff).toMatchObject({ endpointsAdded: null, endpointsRemoved: null, changed: null, delta: null });
    expect(brokenUpdate?.diff?.text).toContain('+egress-policy: [block');
    expect(brokenUpdate?.notes.join('\n')).toMatch(/policies\/api\.yml at [0-9a-f]{7} does not parse, only the text diff is shown: policies\/api\.yml:\d+:\d+: error yaml\/syntax/);

    const atFix = events.filter((event) => event.commit === fixed);
    expect(atFix.map(summary)).toEqual(['updated api', 'detached api repository:acme/api', 'attached api repository:acme/web']);
    expect(atFix[0]?.notes.join('\n')).toMatch(/the previous policies\/api\.yml does not parse/);
    expect(atFix[1]?.notes.join('\n')).toMatch(new RegExp(`attachments\\.yml did not parse from ${broken.slice(0, 7)} until this commit`));
  });

  it('handles a commit touching many files at once', async () => {
    const repo = newRepo();
    const files: Record<string, string> = {};
    const repositories: Record<string, string> = {};
    for (let i = 0; i < 60; i++) {
      files[`policies/p${String(i).padStart(2, '0')}.yml`] = `egress-policy: block\nallowed-endpoints: host${i}.example.com\n`;
      repositories[`acme/repo${String(i).padStart(2, '0')}`] = `p${String(i).padStart(2, '0')}`;
    }
    repo.write({ ...files, 'attachments.yml': attachments({ repositories }), 'README.md': 'not a policy\n', 'policies/nested/x.yml': 'egress-policy: audit\n' });
    const sha = repo.commit('Import everything (#100)', { date: '2024-01-01T00:00:00Z' });
    const events = await readHistory({ dir: repo.dir });
    expect(events).toHaveLength(120);
    expect(events.every((event) => event.commit === sha && event.pr === 100)).toBe(true);
    expect(events.filter((event) => event.type === 'created')).toHaveLength(60);
    expect(events.filter((event) => event.type === 'attached').map((event) => event.scope?.key)).toEqual(Object.keys(repositories));

    const limited = await readHistory({ dir: repo.dir, policy: 'p07' });
    expect(limited.map(summary)).toEqual(['created p07', 'attached p07 repository:acme/repo07']);
  });

  it('works when the policy repository is a subdirectory and on an empty repository', async () => {
    const repo = newRepo();
    expect(await readHistory({ dir: repo.dir })).toEqual([]);
    repo.write({ 'egress/policies/a.yml': 'egress-policy: audit\n', 'policies/outside.yml': 'egress-policy: audit\n' });
    repo.commit('Add', { date: '2024-01-01T00:00:00Z' });
    const events = await readHistory({ dir: `${repo.dir}/egress` });
    expect(events.map(summary)).toEqual(['created a']);
  });

  it('marks an update that changes no meaning (comments, order) with a note', async () => {
    const repo = newRepo();
    repo.write({ 'policies/a.yml': 'egress-policy: audit\nallowed-endpoints: b.example.com a.example.com\n' });
    repo.commit('Add', { date: '2024-01-01T00:00:00Z' });
    repo.write({ 'policies/a.yml': '# owned by platform\negress-policy: audit\nallowed-endpoints:\n  - a.example.com\n  - b.example.com:443\n' });
    repo.commit('Tidy', { date: '2024-01-02T00:00:00Z' });
    const [update] = await readHistory({ dir: repo.dir });
    expect(update?.type).toBe('updated');
    expect(update?.diff).toMatchObject({ endpointsAdded: [], endpointsRemoved: [], changed: [] });
    expect(update?.notes).toContain('no change in effect: comments, formatting, order or reasons only');
  });
});

describe('egressctl history', () => {
  async function sampleRepo(): Promise<TempRepo> {
    const repo = newRepo();
    repo.write({ 'policies/api.yml': 'egress-policy: audit\n' });
    repo.commit('Add api (#3)', { author: ALICE, date: '2024-05-01T08:00:00Z' });
    repo.write({ 'policies/api.yml': 'egress-policy: block\nallowed-endpoints: github.com\n', 'attachments.yml': attachments({ repositories: { 'acme/api': 'api' } }) });
    repo.commit('Merge pull request #4 from acme/block-api', { author: BOB, date: '2024-05-02T08:00:00Z' });
    repo.write({ 'policies/web.yml': 'egress-policy: audit\n' });
    repo.commit('Add web', { author: ALICE, date: '2024-05-03T08:00:00Z' });
    return repo;
  }

  it('prints --json as an array of events with the contract keys', async () => {
    const repo = await sampleRepo();
    const run = await runCli(['history', '-C', repo.dir, '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const events = JSON.parse(run.stdout) as Record<string, unknown>[];
    expect(events).toHaveLength(4);
    for (const event of events) {
      expect(Object.keys(event)).toEqual(expect.arrayContaining(['type', 'policy', 'scope', 'commit', 'author', 'date', 'pr', 'diff']));
      expect(event['date']).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
      expect(event['commit']).toMatch(/^[0-9a-f]{40}$/);
    }
    expect(events[0]).toMatchObject({ type: 'created', policy: 'web', scope: null, pr: null, diff: null, author: 'Alice Admin' });
    expect(events[1]).toMatchObject({ type: 'updated', policy: 'api', pr: 4, diff: { endpointsAdded: ['github.com:443'], changed: [{ key: 'egress-policy', before: 'audit', after: 'block' }] } });
    expect(events[2]).toMatchObject({ type: 'attached', policy: 'api', scope: { type: 'repository', key: 'acme/api' }, pr: 4, diff: null });
    expect(events[3]).toMatchObject({ type: 'created', policy: 'api', pr: 3, date: '2024-05-01T08:00:00Z' });
  });

  it('prints one line per event with the diff indented, filters by policy, --since and --limit', async () => {
    const repo = await sampleRepo();
    const text = await runCli(['history', 'api'], { cwd: repo.dir });
    expect(text.code).toBe(0);
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^2024-05-02T08:00:00Z {2}[0-9a-f]{7} {2}updated {3}api {2}by Bob Builder <bob@example\.com> {2}PR #4$/);
    expect(lines).toContain('    + endpoint github.com:443');
    expect(lines).toContain('    ~ egress-policy: audit → block');
    expect(lines).toContain('    +egress-policy: block');
    expect(lines.filter((line) => !line.startsWith('    ')).map((line) => line.replace(/^\S+ {2}[0-9a-f]{7} {2}/, ''))).toEqual([
      'updated   api  by Bob Builder <bob@example.com>  PR #4',
      'attached  api  to repository acme/api  by Bob Builder <bob@example.com>  PR #4',
      'created   api  by Alice Admin <alice@example.com>  PR #3',
    ]);

    const since = await runCli(['history', '-C', repo.dir, '--since', '2024-05-02', '--json']);
    expect((JSON.parse(since.stdout) as HistoryEvent[]).map(summary)).toEqual(['created web', 'updated api', 'attached api repository:acme/api']);
    const limited = await runCli(['history', '-C', repo.dir, '--limit', '2', '--json']);
    expect((JSON.parse(limited.stdout) as HistoryEvent[]).map(summary)).toEqual(['created web', 'updated api']);
    const byPath = await runCli(['history', '-C', repo.dir, 'policies/web.yml', '--json']);
    expect((JSON.parse(byPath.stdout) as HistoryEvent[]).map(summary)).toEqual(['created web']);
  });

  it('exits 1 with a did-you-mean for a policy that never existed, and 0 for a quiet one', async () => {
    const repo = await sampleRepo();
    const typo = await runCli(['history', '-C', repo.dir, 'NO-SUCH-POLICY']);
    expect(typo).toMatchObject({ code: 1, stdout: '' });
    expect(typo.stderr).toContain('no policy "NO-SUCH-POLICY" in this repository\'s history: did you mean');
    expect((await runCli(['history', '-C', repo.dir, 'wbe'])).stderr).toContain('did you mean "web"?');
    expect((await runCli(['history', '-C', repo.dir, 'API', '--json'])).code).toBe(0);
    // A policy that exists but did nothing in the window is an empty log, not an error.
    const quiet = await runCli(['history', '-C', repo.dir, 'api', '--since', '2024-05-03']);
    expect(quiet.code).toBe(0);
    // So is a deleted one: its history is still there.
    repo.write({ 'policies/web.yml': null });
    repo.commit('Delete web', { author: ALICE, date: '2024-05-04T08:00:00Z' });
    expect((await runCli(['history', '-C', repo.dir, 'web', '--json'])).code).toBe(0);
  });

  it('rejects bad arguments with a usage error and a non-repository with a clear message', async () => {
    const repo = await sampleRepo();
    expect(await runCli(['history', '-C', repo.dir, '--since', 'yesterday-ish'])).toMatchObject({ code: 2, stderr: expect.stringContaining('--since "yesterday-ish" is not a date') });
    expect(await runCli(['history', '-C', repo.dir, '--limit', '0'])).toMatchObject({ code: 2, stderr: expect.stringContaining('--limit must be a positive whole number') });
    expect(await runCli(['history', '-C', repo.dir, 'Not A Policy'])).toMatchObject({ code: 2, stderr: expect.stringContaining('is not a policy name') });
    const plain = makeTempRepo({ 'policies/a.yml': 'egress-policy: audit\n' });
    repos.push(plain);
    const run = await runCli(['history', '-C', plain.dir]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('is not in a git work tree');
    expect(run.stderr).not.toContain('    at ');
  });
});
