import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeTempRepo, type TempRepo } from '../support/policy-repo.js';
import { runCli } from '../support/cli.js';

let repo: TempRepo | undefined;
afterEach(() => repo?.cleanup());

const ATTACHMENTS = [
  '# yaml-language-server: $schema=./schemas/attachments.schema.json',
  '# Who gets what.',
  '',
  'organizations:',
  '  acme: base   # default for everybody',
  '',
  '# Repositories below',
  'repositories:',
  '  acme/api: base',
  '',
].join('\n');

function setup(): TempRepo {
  return makeTempRepo({
    'policies/base.yml': '# base policy\negress-policy: block\nallowed-endpoints:\n  - github.com   # git\n',
    'attachments.yml': ATTACHMENTS,
  });
}
const read = (file: string) => readFileSync(path.join(repo?.dir ?? '', file), 'utf8');

describe('GitOps editing commands keep every byte that is not theirs', () => {
  it('policy create writes a valid policy file', async () => {
    repo = setup();
    const run = await runCli(['policy', 'create', 'web', '--mode', 'block', '--endpoints', 'registry.npmjs.org *.docker.io:443', '-C', repo.dir]);
    expect(run.code).toBe(0);
    expect(read('policies/web.yml')).toBe(
      '# yaml-language-server: $schema=../schemas/policy.schema.json\negress-policy: block\nallowed-endpoints:\n  - "*.docker.io:443"\n  - registry.npmjs.org:443\n',
    );
    expect((await runCli(['validate', '-C', repo.dir, '--format', 'json'])).stdout).toContain('"ok": true');
  });

  it('policy create refuses bad endpoints and existing names', async () => {
    repo = setup();
    expect((await runCli(['policy', 'create', 'web', '--endpoints', 'http://x.com', '-C', repo.dir])).code).toBe(2);
    const exists = await runCli(['policy', 'create', 'base', '-C', repo.dir]);
    expect(exists.code).toBe(1);
    expect(exists.stderr).toContain('already exists');
  });

  it('attach adds a line in the right section and keeps comments', async () => {
    repo = setup();
    await runCli(['policy', 'create', 'web', '-C', repo.dir]);
    expect((await runCli(['attach', 'web', '--repository', 'Acme/Web', '-C', repo.dir])).code).toBe(0);
    expect(read('attachments.yml')).toBe(ATTACHMENTS.replace('  acme/api: base\n', '  acme/api: base\n  acme/web: web\n'));
    expect((await runCli(['attach', 'web', '--cluster', 'arc-prod', '-C', repo.dir])).code).toBe(0);
    expect(read('attachments.yml')).toBe(`${ATTACHMENTS.replace('  acme/api: base\n', '  acme/api: base\n  acme/web: web\n')}\nclusters:\n  arc-prod: web\n`);
  });

  it('attach replaces an existing scope in place, keeping its comment', async () => {
    repo = setup();
    await runCli(['policy', 'create', 'web', '-C', repo.dir]);
    const run = await runCli(['attach', 'web', '--org', 'ACME', '-C', repo.dir]);
    expect(run.stdout).toContain('(was base)');
    expect(read('attachments.yml')).toBe(ATTACHMENTS.replace('acme: base   #', 'acme: web   #'));
  });

  it('attach refuses an unknown policy and a malformed scope', async () => {
    repo = setup();
    expect((await runCli(['attach', 'nope', '--org', 'acme', '-C', repo.dir])).code).toBe(1);
    expect((await runCli(['attach', 'base', '--workflow', 'acme/api/ci.yml', '-C', repo.dir])).code).toBe(2);
    expect((await runCli(['attach', 'base', '--org', 'a', '--cluster', 'b', '-C', repo.dir])).code).toBe(2);
    expect(read('attachments.yml')).toBe(ATTACHMENTS);
  });

  it('detach removes exactly the scope line', async () => {
    repo = setup();
    expect((await runCli(['detach', '--org', 'acme', '-C', repo.dir])).code).toBe(0);
    expect(read('attachments.yml')).toBe(ATTACHMENTS.replace('  acme: base   # default for everybody\n', ''));
    const again = await runCli(['detach', '--org', 'acme', '-C', repo.dir]);
    expect(again.stdout).toContain('nothing to do');
  });

  it('policy delete refuses while attached, and --detach removes the attachments too', async () => {
    repo = setup();
    const refused = await runCli(['policy', 'delete', 'base', '-C', repo.dir]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('organization acme (attachments.yml:5)');
    expect(existsSync(path.join(repo.dir, 'policies/base.yml'))).toBe(true);
    const done = await runCli(['policy', 'delete', 'base', '--detach', '-C', repo.dir]);
    expect(done.code).toBe(0);
    expect(existsSync(path.join(repo.dir, 'policies/base.yml'))).toBe(false);
    expect(read('attachments.yml')).toBe(ATTACHMENTS.replace('  acme: base   # default for everybody\n', '').replace('  acme/api: base\n', ''));
  });

  it('policy export prints the flattened endpoints one per line', async () => {
    repo = setup();
    repo.write({ 'policies/child.yml': 'egress-policy: block\nextends: base\nallowed-endpoints: b.com\n' });
    const run = await runCli(['policy', 'export', 'child', '-C', repo.dir]);
    expect(run.stdout).toBe('b.com:443\ngithub.com:443\n');
  });

  it('policy export leaves out exceptions that expired (as of now or --at, as resolve --at) and says which on stderr', async () => {
    repo = setup();
    repo.write({
      'policies/child.yml': [
        'egress-policy: block',
        'extends: base',
        'allowed-endpoints:',
        '  - b.com',
        '  - endpoint: old.example.com',
        '    reason: migration',
        '    owner: team-a',
        '    expires: 2020-01-31',
        '  - endpoint: later.example.com',
        '    reason: contract tests',
        '    expires: 2999-12-31',
        '',
      ].join('\n'),
    });
    const now = await runCli(['policy', 'export', 'child', '-C', repo.dir]);
    expect(now.code).toBe(0);
    expect(now.stdout).toBe('b.com:443\ngithub.com:443\nlater.example.com:443\n');
    expect(now.stderr).toContain('old.example.com:443');
    expect(now.stderr).toContain('expired on 2020-01-31');
    expect(now.stderr).not.toContain('later.example.com');
    // The last day still counts; the next UTC midnight it is gone.
    const lastDay = await runCli(['policy', 'export', 'child', '--at', '2020-01-31', '-C', repo.dir]);
    expect(lastDay.stdout).toBe('b.com:443\ngithub.com:443\nlater.example.com:443\nold.example.com:443\n');
    expect(lastDay.stderr).toBe('');
    const after = await runCli(['policy', 'export', 'child', '--at', '3000-01-01', '-C', repo.dir]);
    expect(after.stdout).toBe('b.com:443\ngithub.com:443\n');
    expect(after.stderr).toContain('later.example.com:443');
    const bad = await runCli(['policy', 'export', 'child', '--at', 'tomorrow', '-C', repo.dir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--at must be a date');
  });

  it('keeps CRLF files CRLF', async () => {
    repo = setup();
    repo.write({ 'attachments.yml': 'organizations:\r\n  acme: base\r\n' });
    await runCli(['policy', 'create', 'web', '-C', repo.dir]);
    await runCli(['attach', 'web', '--repository', 'acme/web', '-C', repo.dir]);
    expect(read('attachments.yml')).toBe('organizations:\r\n  acme: base\r\n\r\nrepositories:\r\n  acme/web: web\r\n');
  });
});

describe('policy create --from-baseline', () => {
  const BASELINE = [
    'repository: acme/api',
    'workflows:',
    '  .github/workflows/ci.yml:',
    '    build:',
    '      runs: 4',
    '      firstSeen: 2026-11-01T10:00:00Z',
    '      lastSeen: 2026-11-04T10:00:00Z',
    '      lastGrowth: { run: 1, runId: "1", at: 2026-11-01T10:00:00Z }',
    '      recentRuns: ["1", "2", "3", "4"]',
    '      endpoints:',
    '        registry.npmjs.org:443: { runs: 4, firstSeen: 2026-11-01T10:00:00Z, lastSeen: 2026-11-04T10:00:00Z }',
    '        nodejs.org:443: { runs: 2, firstSeen: 2026-11-01T10:00:00Z, lastSeen: 2026-11-02T10:00:00Z }',
    '',
  ].join('\n');

  it('creates a block policy from a job, repository or organization selector', async () => {
    repo = setup();
    repo.write({ 'baselines/acme/api.yml': BASELINE });
    const validation = await runCli(['validate', '-C', repo.dir, '--format', 'json']);
    expect(JSON.parse(validation.stdout).errors).toEqual([]);
    const run = await runCli(['policy', 'create', 'api-ci', '--from-baseline', 'job:acme/api/.github/workflows/ci.yml#build', '-C', repo.dir]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const text = read('policies/api-ci.yml');
    expect(text).toContain('# Endpoints observed in baselines for job:acme/api/.github/workflows/ci.yml#build.');
    expect(text).toContain('egress-policy: block\nallowed-endpoints:\n  - nodejs.org:443\n  - registry.npmjs.org:443\n');
    expect((await runCli(['policy', 'create', 'org', '--from-baseline', 'org:acme', '-C', repo.dir])).code).toBe(0);
    expect((await runCli(['policy', 'create', 'none', '--from-baseline', 'org:other', '-C', repo.dir])).code).toBe(1);
    expect((await runCli(['policy', 'create', 'bad', '--from-baseline', 'galaxy:x', '-C', repo.dir])).code).toBe(2);
  });

  it('creates a policy from an exported endpoint list, rejecting bad entries with their line', async () => {
    repo = setup();
    repo.write({ 'export.txt': '# from insights\ngithub.com:443\napi.nuget.org:443 pypi.org\n', 'bad.txt': 'ok.com\nhttps://x.com\n' });
    expect((await runCli(['policy', 'create', 'from-file', '--from-baseline', 'file:export.txt', '-C', repo.dir], { cwd: repo.dir })).code).toBe(0);
    expect(read('policies/from-file.yml')).toContain('  - api.nuget.org:443\n  - github.com:443\n  - pypi.org:443\n');
    const bad = await runCli(['policy', 'create', 'bad', '--from-baseline', 'file:bad.txt', '-C', repo.dir], { cwd: repo.dir });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('bad.txt:2:1');
  });
});

describe('editing commands in an empty directory', () => {
  it('create the directories they write into (policy create, then attach)', async () => {
    repo = makeTempRepo();
    const create = await runCli(['policy', 'create', 'web', '--mode', 'block', '--endpoints', 'github.com', '-C', repo.dir]);
    expect(create.stderr).toBe('');
    expect(create.code).toBe(0);
    expect(existsSync(path.join(repo.dir, 'policies/web.yml'))).toBe(true);
    expect((await runCli(['attach', 'web', '--org', 'acme', '-C', repo.dir])).code).toBe(0);
    expect(readFileSync(path.join(repo.dir, 'attachments.yml'), 'utf8')).toContain('acme: web');
    expect((await runCli(['validate', '-C', repo.dir])).code).toBe(0);
  });
});
