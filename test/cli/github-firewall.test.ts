/**
 * The firewall target's commands in-process: `baseline from-firewall` (decisions artifact ->
 * baselines, located errors) and `resolve --format github-firewall` (the file on stdout, what it
 * cannot express on stderr, both in --json), on the fixture store in a real git repository.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runCli } from '../support/cli.js';
import { DECISIONS_FIXTURE, firewallStoreFiles } from '../support/github-firewall.js';
import { makeTempRepo, type TempRepo } from '../support/policy-repo.js';

let repo: TempRepo;
let commit: string;

beforeEach(() => {
  repo = makeTempRepo(firewallStoreFiles(), { git: true });
  commit = repo.commit('store');
});

afterEach(() => repo.cleanup());

describe('egressctl baseline from-firewall', () => {
  it('merges decision[].url into the job\'s baseline (http keeps port 80, https is 443)', async () => {
    const run = await runCli(['baseline', 'from-firewall', DECISIONS_FIXTURE, '--job', 'acme/web/.github/workflows/ci.yml#build', '--run', '9876543210', '-C', repo.dir]);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/firewall-decisions-test\.json:14:5: warning firewall-decisions\/no-url: decision\[9\] has no "url": skipped/);
    expect(run.stdout).toMatch(/baselines\/acme\/web\.yml: merged run 9876543210/);
    const baseline = parse(readFileSync(path.join(repo.dir, 'baselines/acme/web.yml'), 'utf8')) as { workflows: Record<string, Record<string, { endpoints: Record<string, unknown> }>> };
    const endpoints = Object.keys(baseline.workflows['.github/workflows/ci.yml']!['build']!.endpoints);
    expect(endpoints).toEqual(expect.arrayContaining(['archive.ubuntu.com:80', 'files.pythonhosted.org:443', 'proxy.acme.example:8443']));
    // Merging the same run again changes nothing.
    const again = await runCli(['baseline', 'from-firewall', DECISIONS_FIXTURE, '--job', 'acme/web/.github/workflows/ci.yml#build', '--run', '9876543210', '-C', repo.dir]);
    expect(again.stdout).toMatch(/already merged: nothing changed/);
  });

  it('another shape is a located error, exit 1, and no baseline is written', async () => {
    repo.write({ 'artifact.json': '{\n  "decisions": [\n    {"url": "https://a.example"}\n  ]\n}\n' });
    const run = await runCli(['baseline', 'from-firewall', 'artifact.json', '--job', 'acme/web/.github/workflows/ci.yml#build', '-C', repo.dir], { cwd: repo.dir });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^artifact\.json:1:1: error firewall-decisions\/shape: "decision" is missing/m);
    expect(run.stderr).not.toMatch(/at .*\.ts:\d+/);
    expect(existsSync(path.join(repo.dir, 'baselines/acme/web.yml'))).toBe(false);
  });

  it('refuses --cluster: the firewall runs on GitHub-hosted runners, not on ARC clusters', async () => {
    const run = await runCli(['baseline', 'from-firewall', DECISIONS_FIXTURE, '--job', 'acme/web/.github/workflows/ci.yml#build', '--cluster', 'arc-prod', '-C', repo.dir]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--cluster does not apply to from-firewall/);
    expect(existsSync(path.join(repo.dir, 'baselines/acme/web.yml'))).toBe(false);
  });
});

describe('egressctl resolve --format github-firewall', () => {
  it('prints the file; what it cannot express goes to stderr; wildcards take the hosts the baselines saw', async () => {
    const before = await runCli(['resolve', '--repository', 'acme/web', '--format', 'github-firewall', '-C', repo.dir]);
    expect(before.code).toBe(0);
    expect(before.stdout).toContain(`# policies: ci-block, release-block (store commit ${commit.slice(0, 12)})`);
    expect(before.stdout).toContain('# managed-by: egressctl');
    expect(before.stdout).not.toContain('files.pythonhosted.org');
    expect(before.stderr).toMatch(/^warning: policy ci-block: \*\.pythonhosted\.org:443: the firewall file takes no wildcards and the repository's baselines show no host it matches: dropped/m);
    expect(before.stderr).toMatch(/^warning: policy ci-block: proxy\.acme\.example:8443: .*port 8443 cannot be expressed: dropped$/m);
    expect(before.stderr).toMatch(/^warning: policy ci-block: 140\.82\.112\.3:443: an IP address/m);
    expect(before.stderr).toMatch(/^info: policy ci-block: disable-sudo-and-containers has no counterpart/m);
    expect(before.stderr).toMatch(/^info: policy release-block: lockdown-mode has no counterpart/m);
    expect(before.stderr).toMatch(/^warning: one firewall file serves every workflow of acme\/web: repository default: ci-block \(block\); \.github\/workflows\/deploy\.yml: release-block \(block\); united into mode enforce/m);

    await runCli(['baseline', 'from-firewall', DECISIONS_FIXTURE, '--job', 'acme/web/.github/workflows/ci.yml#build', '-C', repo.dir]);
    const after = await runCli(['resolve', '--repository', 'acme/web', '--format', 'github-firewall', '-C', repo.dir, '--json']);
    expect(after.code).toBe(0);
    const answer = JSON.parse(after.stdout) as { mode: string; allow: string[]; content: string; file: string; format: { name: string; version: string }; findings: { code: string; endpoint?: string }[] };
    expect(answer).toMatchObject({ file: '.github/egress-firewall.yaml', mode: 'enforce', format: { name: 'actions-native-egress-firewall' } });
    expect(answer.allow).toContain('files.pythonhosted.org');
    expect(answer.allow).toContain('archive.ubuntu.com');
    expect(answer.allow).not.toContain('github.com');
    expect(answer.findings.find((finding) => finding.code === 'wildcard-expanded')?.endpoint).toBe('*.pythonhosted.org:443');
    expect(answer.content).toMatch(/\nmode: enforce\nallow:\n {2}- agent\.api\.stepsecurity\.io\n/);
    // The baseline just written is not committed: the header says so rather than naming HEAD alone.
    expect(answer.content).toContain(`(store commit ${commit.slice(0, 12)} with uncommitted changes)`);
    expect((answer as unknown as { uncommitted: string[] }).uncommitted).toEqual(['baselines/acme/web.yml']);
    expect(after.stderr).toContain('warning: resolve reads the work tree, which differs from HEAD: baselines/acme/web.yml');
  });

  it('a repository with a block and an audit workflow policy gets log; one with none gets no file', async () => {
    const api = await runCli(['resolve', '--repository', 'acme/api', '--format', 'github-firewall', '-C', repo.dir]);
    expect(api.stdout).toContain('\nmode: log\n');
    expect(api.stderr).toMatch(/nightly\.yml: nightly-audit \(audit\)/);
    const none = await runCli(['resolve', '--repository', 'other/repo', '--format', 'github-firewall', '-C', repo.dir]);
    expect(none.code).toBe(0);
    expect(none.stdout).toBe('');
    expect(none.stderr).toMatch(/no policy applies to other\/repo/);
  });

  it('a policy\'s no-default-urls: the file says it when every policy of the repository does; validate locates a bad value', async () => {
    const policies = firewallStoreFiles();
    repo.write({ 'policies/release-block.yml': `${policies['policies/release-block.yml']}no-default-urls: true\n` });
    repo.commit('release-block: no GitHub defaults');
    // acme/web: ci-block (repository) lacks it, release-block (deploy.yml) has it: GitHub's defaults stay allowed.
    const mixed = await runCli(['resolve', '--repository', 'acme/web', '--format', 'github-firewall', '-C', repo.dir, '--json']);
    expect(mixed.code).toBe(0);
    expect(JSON.parse(mixed.stdout)).toMatchObject({ 'no-default-urls': false });
    repo.write({ 'policies/ci-block.yml': `${policies['policies/ci-block.yml']}no-default-urls: true\n` });
    repo.commit('ci-block: no GitHub defaults');
    const strict = await runCli(['resolve', '--repository', 'acme/web', '--format', 'github-firewall', '-C', repo.dir]);
    expect(strict.code).toBe(0);
    expect(strict.stdout).toMatch(/\nno-default-urls: true\n/);
    expect(parse(strict.stdout)).toMatchObject({ mode: 'enforce', 'no-default-urls': true });
    expect((parse(strict.stdout) as { allow: string[] }).allow).toContain('github.com');

    repo.write({ 'policies/ci-block.yml': `${policies['policies/ci-block.yml']}no-default-urls: yes please\n` });
    const line = policies['policies/ci-block.yml']!.split('\n').length;
    const invalid = await runCli(['validate', '-C', repo.dir]);
    expect(invalid.code).toBe(1);
    expect(invalid.stdout + invalid.stderr).toContain(`policies/ci-block.yml:${line}:18: error policy/invalid-type: "no-default-urls" must be true or false, not string "yes please"`);
  });

  it('refuses what does not fit a repository-wide file', async () => {
    const run = await runCli(['resolve', '--repository', 'acme/web', '--workflow', 'ci.yml', '--format', 'github-firewall', '-C', repo.dir]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/takes --repository OWNER\/REPO only/);
    const unknown = await runCli(['resolve', '--repository', 'acme/web', '--format', 'yaml', '-C', repo.dir]);
    expect(unknown.stderr).toMatch(/--format "yaml" is not known/);
  });
});
