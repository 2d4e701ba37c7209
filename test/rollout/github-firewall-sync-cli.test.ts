/**
 * `egressctl sync` with `github-firewall` on, in-process against the stand-in: `--dry-run --json`
 * lists the firewall file among the files with its reasons and diff, writes nothing; a person's
 * weaker file makes the repository out of sync without a write.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FIREWALL_FILE } from '../../src/rollout/github-firewall/index.js';
import { runCli } from '../support/cli.js';
import { startGitHubStandin, type GitHubStandin } from '../support/github/index.js';
import { firewallStoreFiles, firewallWorkflows } from '../support/github-firewall.js';
import { makeTempRepo, type TempRepo } from '../support/policy-repo.js';

let standin: GitHubStandin;
let policy: TempRepo;
let env: Record<string, string>;
let commit: string;

beforeEach(async () => {
  standin = await startGitHubStandin();
  const installation = standin.createInstallation({ account: 'acme' });
  await standin.createRepository('acme/web', { files: Object.fromEntries(firewallWorkflows('web').map((file) => [file.path, file.text])) });
  policy = makeTempRepo(firewallStoreFiles(), { git: true });
  commit = policy.commit('store');
  env = { GITHUB_TOKEN: standin.createInstallationToken(installation.id), GITHUB_API_URL: standin.url };
});

afterEach(async () => {
  policy.cleanup();
  await standin.finish();
});

interface Entry {
  repository: string;
  status: string;
  files: string[];
  reasons: string[];
  diffs?: string[];
}

describe('egressctl sync with github-firewall', () => {
  it('--dry-run --json: the firewall file with its reasons and diff, nothing written', async () => {
    const run = await runCli(['sync', '--org', 'acme', '--repos', 'web', '--dry-run', '--json', '-C', policy.dir], { env });
    expect(run.code).toBe(0);
    const [web] = (JSON.parse(run.stdout) as { repositories: Entry[] }).repositories;
    expect(web).toMatchObject({ repository: 'acme/web', status: 'out-of-sync' });
    expect(web!.files).toEqual(['.github/workflows/ci.yml', '.github/workflows/deploy.yml', FIREWALL_FILE]);
    expect(web!.reasons).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^\.github\/egress-firewall\.yaml: new file: mode enforce, \d+ hosts allowed$/),
        expect.stringMatching(/^\.github\/egress-firewall\.yaml: policy ci-block: proxy\.acme\.example:8443: .*dropped$/),
        '.github/workflows/deploy.yml job deploy: runs-on ubuntu-22.04 -> ubuntu-24.04-firewall (Ubuntu 22.04 -> 24.04: a change of image (tool versions differ); check the job on the new image)',
      ]),
    );
    const diff = web!.diffs!.find((text) => text.includes(`b/${FIREWALL_FILE}`))!;
    expect(diff).toContain(`+# policies: ci-block, release-block (store commit ${commit.slice(0, 12)})`);
    expect(diff).toContain('+mode: enforce');
    expect(standin.stats().writes).toBe(0);
  }, 60_000);

  it('from a work tree with uncommitted policy changes: the header says so, not HEAD alone, and stderr warns as compile does', async () => {
    const release = 'policies/release-block.yml';
    const { readFileSync } = await import('node:fs');
    const path = await import('node:path');
    policy.write({ [release]: readFileSync(path.join(policy.dir, release), 'utf8').replace('  - rekor.sigstore.dev:443\n', '  - rekor.sigstore.dev:443\n  - tuf-repo-cdn.sigstore.dev:443\n') });
    const run = await runCli(['sync', '--org', 'acme', '--repos', 'web', '--dry-run', '--json', '-C', policy.dir], { env });
    expect(run.code).toBe(0);
    const [web] = (JSON.parse(run.stdout) as { repositories: Entry[] }).repositories;
    const diff = web!.diffs!.find((text) => text.includes(`b/${FIREWALL_FILE}`))!;
    // The content comes from the edited file: the header must not claim HEAD.
    expect(diff).toContain('+  - tuf-repo-cdn.sigstore.dev');
    expect(diff).toContain(`+# policies: ci-block, release-block (store commit ${commit.slice(0, 12)} with uncommitted changes)`);
    expect(diff).not.toContain(`(store commit ${commit.slice(0, 12)})`);
    expect(run.stderr).toContain(`warning: sync reads the work tree, which differs from HEAD: ${release}`);
  }, 60_000);

  it('a person\'s weaker file: out of sync with the reason, no write for it', async () => {
    await standin.commitFiles('acme/web', { files: { [FIREWALL_FILE]: 'mode: log\n' } });
    const run = await runCli(['sync', '--org', 'acme', '--repos', 'web', '--dry-run', '--json', '-C', policy.dir], { env });
    const [web] = (JSON.parse(run.stdout) as { repositories: Entry[] }).repositories;
    expect(web!.files).not.toContain(FIREWALL_FILE);
    expect(web!.reasons).toContainEqual(expect.stringMatching(/written by a person \(no egressctl marker\) and weaker than the store: mode log, the store says enforce/));
  }, 60_000);
});
