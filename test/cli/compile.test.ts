import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openBundle, parseEnvelope } from '../../src/bundle/dsse.js';
import { generateKeyPair, loadPublicKeys } from '../../src/bundle/keys.js';
import { runCli } from '../support/cli.js';
import { makeTempRepo, SAMPLE_FILES, type TempRepo } from '../support/policy-repo.js';

let repo: TempRepo | undefined;
afterEach(() => repo?.cleanup());

function withKey(dir: string, name = 'signing'): { privatePath: string; publicPath: string; keyid: string } {
  const pair = generateKeyPair();
  const privatePath = path.join(dir, `${name}.key`);
  const publicPath = path.join(dir, `${name}.pub`);
  writeFileSync(privatePath, pair.privateKeyPem, { mode: 0o600 });
  writeFileSync(publicPath, pair.publicKeyPem);
  return { privatePath, publicPath, keyid: pair.keyid };
}

/** What `git log --format=%cI` says, in UTC: the committedAt the bundle must carry. */
function committerDateUtc(target: TempRepo, rev = 'HEAD'): string {
  const iso = target.git('log', '-1', '--format=%cI', rev).trim();
  return new Date(iso).toISOString().replace('.000Z', 'Z');
}

describe('egressctl compile', () => {
  it('compiles HEAD of a git repository into a signed bundle that opens with the public key', async () => {
    repo = makeTempRepo(SAMPLE_FILES, { git: true });
    const sha = repo.commit('policies', { date: '2026-03-01T10:00:00+09:00' });
    // Uncommitted edits are not compiled: the default is --rev HEAD.
    repo.write({ 'policies/base.yml': 'egress-policy: audit\n' });
    const key = withKey(repo.dir);
    const run = await runCli(['compile', '-C', repo.dir, '--sign-key', key.privatePath]);
    expect(run.code).toBe(0);
    // validate reads the work tree, compile the commit: the difference is said, not silent.
    expect(run.stderr).toBe('warning: compile builds HEAD; uncommitted changes are not in this bundle: policies/base.yml (commit them, or pass --rev)\n');
    const opened = openBundle(run.stdout, { publicKeys: await loadPublicKeys(key.publicPath) });
    expect(opened.keyids).toEqual([key.keyid]);
    expect(opened.bundle.revision).toBe(sha);
    expect(opened.bundle.committedAt).toBe('2026-03-01T01:00:00Z');
    expect(opened.bundle.committedAt).toBe(committerDateUtc(repo));
    expect(opened.bundle.policies.base?.['egress-policy']).toBe('block');
    expect(opened.bundle.policies.api?.['allowed-endpoints']).toContain('github.com:443');
    expect(opened.bundle.attachments.repositories).toEqual({ 'acme/api': 'api' });
  });

  it('gives byte-identical output for the same commit, in any time zone', async () => {
    repo = makeTempRepo(SAMPLE_FILES, { git: true });
    repo.commit('policies', { date: '2026-07-15T23:30:00-07:00' });
    const key = withKey(repo.dir);
    const previousTz = process.env.TZ;
    const outputs: string[] = [];
    try {
      for (const tz of ['Asia/Tokyo', 'America/Los_Angeles', 'UTC']) {
        process.env.TZ = tz;
        const run = await runCli(['compile', '-C', repo.dir, '--sign-key', key.privatePath], { env: { TZ: tz } });
        expect(run.code).toBe(0);
        outputs.push(run.stdout);
      }
    } finally {
      if (previousTz === undefined) delete process.env.TZ;
      else process.env.TZ = previousTz;
    }
    expect(new Set(outputs).size).toBe(1);
    const bundle = openBundle(outputs[0] ?? '').bundle;
    expect(bundle.committedAt).toBe('2026-07-16T06:30:00Z');
    expect(bundle.committedAt).toBe(committerDateUtc(repo));
  });

  it('compiles an older revision with --rev and writes -o FILE atomically', async () => {
    repo = makeTempRepo(SAMPLE_FILES, { git: true });
    const first = repo.commit('first');
    repo.write({ 'policies/extra.yml': 'egress-policy: audit\n' });
    repo.commit('second');
    const out = path.join(repo.dir, 'bundle.json');
    writeFileSync(out, 'previous bundle');
    const run = await runCli(['compile', '--rev', first, '-o', 'bundle.json', '--unsigned'], { cwd: repo.dir });
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(new RegExp(`^compiled ${first} \\(.*Z\\) sha256:[0-9a-f]{64} -> bundle\\.json \\(unsigned\\)\\n$`));
    const opened = openBundle(readFileSync(out, 'utf8'));
    expect(opened.bundle.revision).toBe(first);
    expect(Object.keys(opened.bundle.policies)).toEqual(['api', 'audit', 'base']);
    expect(readdirSync(repo.dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('writes an unsigned envelope without --sign-key, with a note unless --unsigned', async () => {
    repo = makeTempRepo(SAMPLE_FILES, { git: true });
    repo.commit('policies');
    const noted = await runCli(['compile', '-C', repo.dir]);
    expect(noted.code).toBe(0);
    expect(parseEnvelope(noted.stdout).signatures).toEqual([]);
    expect(noted.stderr).toContain('note: the bundle is unsigned');
    const quiet = await runCli(['compile', '-C', repo.dir, '--unsigned']);
    expect(quiet.stderr).toBe('');
    expect(quiet.stdout).toBe(noted.stdout);
  });

  it('prints located errors, exits 1 and writes nothing for a repository with errors', async () => {
    repo = makeTempRepo({ ...SAMPLE_FILES, 'policies/api.yml': 'egress-policy: block\nallowed-endpoints:\n  - https://example.com\n' }, { git: true });
    repo.commit('broken');
    const out = path.join(repo.dir, 'bundle.json');
    writeFileSync(out, 'last good bundle');
    const run = await runCli(['compile', '-C', repo.dir, '-o', out, '--unsigned']);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^policies\/api\.yml:3:5: error endpoint\/scheme: /m);
    expect(run.stderr).toContain('no bundle written');
    expect(readFileSync(out, 'utf8')).toBe('last good bundle');
    expect(readdirSync(repo.dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('compiles a plain directory as worktree-<hash>, reproducibly with SOURCE_DATE_EPOCH', async () => {
    repo = makeTempRepo(SAMPLE_FILES);
    const env = { SOURCE_DATE_EPOCH: '1767225600' };
    const first = await runCli(['compile', '-C', repo.dir, '--unsigned'], { env });
    const second = await runCli(['compile', '-C', repo.dir, '--unsigned'], { env });
    expect(first.code).toBe(0);
    expect(second.stdout).toBe(first.stdout);
    const { bundle } = openBundle(first.stdout);
    expect(bundle.revision).toMatch(/^worktree-[0-9a-f]{16}$/);
    expect(bundle.committedAt).toBe('2026-01-01T00:00:00Z');
    const bad = await runCli(['compile', '-C', repo.dir, '--unsigned'], { env: { SOURCE_DATE_EPOCH: 'soon' } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('SOURCE_DATE_EPOCH="soon"');
  });

  it('rejects conflicting flags, a missing key and an unknown revision before writing anything', async () => {
    repo = makeTempRepo(SAMPLE_FILES, { git: true });
    repo.commit('policies');
    const key = withKey(repo.dir);
    const both = await runCli(['compile', '-C', repo.dir, '--unsigned', '--sign-key', key.privatePath]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--unsigned and --sign-key exclude each other');
    const missing = await runCli(['compile', '-C', repo.dir, '--sign-key', 'nope.key'], { cwd: repo.dir });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('cannot read key file');
    const publicAsPrivate = await runCli(['compile', '-C', repo.dir, '--sign-key', key.publicPath]);
    expect(publicAsPrivate.code).toBe(1);
    expect(publicAsPrivate.stderr).toContain('is a public key; signing needs the private key');
    const unknownRev = await runCli(['compile', '-C', repo.dir, '--rev', 'no-such-branch', '--unsigned']);
    expect(unknownRev.code).toBe(2);
    expect(unknownRev.stderr).toContain('unknown revision "no-such-branch"');
    expect(unknownRev.stdout).toBe('');

    const empty = makeTempRepo(SAMPLE_FILES, { git: true });
    try {
      const noCommit = await runCli(['compile', '-C', empty.dir, '--unsigned']);
      expect(noCommit.code).toBe(2);
      expect(noCommit.stderr).toContain('commit them first, or pass --rev');
    } finally {
      empty.cleanup();
    }
  });
});
