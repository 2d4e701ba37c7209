import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GitMirrors, MissingCommitError } from '../../src/app/git-mirror.js';
import { loadPolicyRepository } from '../../src/store/repository.js';
import { GitError } from '../../src/util/errors.js';
import { gitText } from '../../src/util/git.js';
import { startGitHubStandin, type GitHubStandin } from '../support/github/index.js';
import { POLICY_FILES } from '../support/app.js';

let standin: GitHubStandin;
let cacheDir: string;
let token: string;

beforeEach(async () => {
  standin = await startGitHubStandin();
  const installation = standin.createInstallation({ account: 'acme' });
  await standin.createRepository('acme/policies', { files: POLICY_FILES });
  token = standin.createInstallationToken(installation.id, { permissions: { contents: 'read' }, repositories: ['policies'] });
  cacheDir = await mkdtemp(path.join(os.tmpdir(), 'egressctl-mirror-'));
});
afterEach(async () => {
  try {
    standin.assertNoViolations();
  } finally {
    await standin.close();
    await rm(cacheDir, { recursive: true, force: true });
  }
});

describe('GitMirrors', () => {
  it('fetches exactly the commits asked for, once, and the policy loader reads them from the bare mirror', async () => {
    const mirrors = new GitMirrors(cacheDir);
    const first = (await standin.refSha('acme/policies', 'main'))!;
    const second = await standin.commitFiles('acme/policies', { branch: 'feature', files: { 'policies/audit.yml': 'egress-policy: audit\ndescription: two\n' } });
    const source = { url: standin.gitUrl('acme/policies'), token };
    const dir = await mirrors.fetch('Acme/Policies', source, [first, second]);
    expect(dir).toBe(path.join(cacheDir, 'acme', 'policies.git'));
    const loaded = await loadPolicyRepository({ dir, rev: second });
    expect(loaded.errors).toEqual([]);
    expect(loaded.value.policies.get('audit')?.description).toBe('two');
    expect([...(await mirrors.kept(dir))].sort()).toEqual([first, second].sort());

    const before = standin.stats().gitHttp;
    await mirrors.fetch('acme/policies', source, [second]);
    expect(standin.stats().gitHttp).toBe(before);
  });

  it('tells a commit the server does not have from other failures', async () => {
    const mirrors = new GitMirrors(cacheDir);
    const source = { url: standin.gitUrl('acme/policies'), token };
    await expect(mirrors.fetch('acme/policies', source, ['0123456789abcdef0123456789abcdef01234567'])).rejects.toBeInstanceOf(MissingCommitError);
    const head = (await standin.refSha('acme/policies', 'main'))!;
    const wrongToken = mirrors.fetch('acme/policies', { ...source, token: 'ghs_wrong' }, [head]);
    await expect(wrongToken).rejects.toBeInstanceOf(GitError);
    await expect(wrongToken).rejects.not.toBeInstanceOf(MissingCommitError);
    await expect(wrongToken).rejects.not.toThrow(/ghs_wrong/);
    await expect(mirrors.fetch('acme/policies', source, ['HEAD'])).rejects.toThrow(/not a commit SHA/);
    expect(() => mirrors.dirFor('../etc')).toThrow(/not a repository name/);
  });

  it('keeps a bounded number of refs, newest commits first, never those just fetched', async () => {
    const mirrors = new GitMirrors(cacheDir, 2);
    const source = { url: standin.gitUrl('acme/policies'), token };
    const shas: string[] = [(await standin.refSha('acme/policies', 'main'))!];
    for (let index = 0; index < 3; index++) shas.push(await standin.commitFiles('acme/policies', { files: { 'policies/audit.yml': `egress-policy: audit\ndescription: n${index}\n` } }));
    for (const sha of shas) await mirrors.fetch('acme/policies', source, [sha]);
    const dir = mirrors.dirFor('acme/policies');
    expect((await gitText(dir, ['for-each-ref', '--format=%(refname)'])).trim().split('\n')).toHaveLength(2);
    expect(await mirrors.kept(dir)).toContain(shas[3]);
  });
});
