import { afterEach, describe, expect, it } from 'vitest';
import { loadPolicyRepository, readRevisionInfo } from '../../src/store/repository.js';
import { GitError } from '../../src/util/errors.js';
import { makeTempRepo, SAMPLE_FILES, type TempRepo } from '../support/policy-repo.js';

let repo: TempRepo | undefined;
afterEach(() => repo?.cleanup());

describe('loading from a work tree and from git revisions through one path', () => {
  it('reads a revision from git objects without touching the work tree', async () => {
    repo = makeTempRepo(SAMPLE_FILES, { git: true });
    const first = repo.commit('first');
    repo.write({ 'policies/base.yml': 'egress-policy: bogus\n', 'policies/new.yml': 'egress-policy: audit\n' });

    const fromTree = await loadPolicyRepository({ dir: repo.dir });
    expect(fromTree.errors.map((d) => d.code)).toContain('policy/invalid-value');

    const fromRev = await loadPolicyRepository({ dir: repo.dir, rev: first });
    expect(fromRev.errors).toEqual([]);
    expect([...fromRev.value.policies.keys()].sort()).toEqual(['api', 'audit', 'base']);
    expect(fromRev.snapshot.revision).toBe(first);
    // Same diagnostics, same positions, whichever way the same bytes were read.
    repo.git('stash', '-u', '-q');
    const again = await loadPolicyRepository({ dir: repo.dir });
    expect(again.value.policies.get('api')?.allowedEndpoints).toEqual(fromRev.value.policies.get('api')?.allowedEndpoints);
  });

  it('works when the policy repository is a subdirectory of the git repository', async () => {
    repo = makeTempRepo(Object.fromEntries(Object.entries(SAMPLE_FILES).map(([name, text]) => [`egress/${name}`, text])), { git: true });
    repo.write({ 'policies/outside.yml': 'not: a policy\n' });
    repo.commit('nested');
    const result = await loadPolicyRepository({ dir: `${repo.dir}/egress`, rev: 'HEAD' });
    expect(result.errors).toEqual([]);
    expect(result.value.policies.size).toBe(3);
  });

  it('names an unknown revision', async () => {
    repo = makeTempRepo(SAMPLE_FILES, { git: true });
    repo.commit('first');
    await expect(loadPolicyRepository({ dir: repo.dir, rev: 'no-such-branch' })).rejects.toThrow(GitError);
    await expect(loadPolicyRepository({ dir: repo.dir, rev: 'no-such-branch' })).rejects.toThrow(/unknown revision "no-such-branch"/);
  });

  it('reports the commit date in UTC whatever the committer time zone', async () => {
    repo = makeTempRepo(SAMPLE_FILES, { git: true });
    const sha = repo.commit('dated', { date: '2026-03-01T10:00:00+09:00' });
    expect(await readRevisionInfo({ dir: repo.dir })).toEqual({ revision: sha, committedAt: '2026-03-01T01:00:00Z' });
  });
});
