import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Octokit } from '@octokit/rest';
import { throttling } from '@octokit/plugin-throttling';
import { verify as verifyWebhookSignature } from '@octokit/webhooks-methods';
import { SignJWT, importPKCS8 } from 'jose';
import { generateKeyPairSync } from 'node:crypto';
import { Probot, createNodeMiddleware, createProbot } from 'probot';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadGitHubOpenApi, startGitHubStandin, type GitHubStandin } from './github/index.js';

const execFileAsync = promisify(execFile);

async function git(cwd: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const { stdout } = await execFileAsync('git', args, {
    cwd,
    env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: '', ...env },
  });
  return stdout;
}

/** Octokit logs every error response; these tests provoke many on purpose. */
const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

const CI_WORKFLOW = 'name: CI\non: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n';

let standin: GitHubStandin;
let installationId: number;
let token: string;
let octokit: Octokit;

beforeEach(async () => {
  standin = await startGitHubStandin();
  installationId = standin.createInstallation({ account: 'acme' }).id;
  await standin.createRepository('acme/api', { files: { '.github/workflows/ci.yml': CI_WORKFLOW, 'README.md': '# api\n' } });
  token = standin.createInstallationToken(installationId);
  octokit = new Octokit({ baseUrl: standin.url, auth: token, log: quiet });
});

afterEach(async () => {
  await standin.close();
});

describe('OpenAPI route table', () => {
  it('loads once per process and matches encoded and multi-segment paths', () => {
    const routes = loadGitHubOpenApi();
    // Once per process: the same table again, not a second parse (~150 ms each on a quiet machine;
    // how fast is a measurement, printed here, not a pass/fail bound a loaded machine can break).
    expect(loadGitHubOpenApi()).toBe(routes);
    expect(routes.timings.operations).toBeGreaterThan(1000);
    console.log(`GitHub OpenAPI description: read and parsed in ${Math.round(routes.timings.readAndParseMs)} ms, ${routes.timings.operations} operations indexed in ${Math.round(routes.timings.indexMs)} ms`);
    expect(routes.match('GET', '/repos/acme/api/git/ref/heads%2Ffeat%2Fx')?.pathParams.ref).toBe('heads/feat/x');
    expect(routes.match('GET', '/repos/acme/api/git/ref/heads/feat/x')?.pathParams.ref).toBe('heads/feat/x');
    expect(routes.match('GET', '/repos/acme/api/commits/heads/x/check-runs')?.operation.operationId).toBe('checks/list-for-ref');
    expect(routes.match('GET', '/repos/acme/api/commits/abc')?.operation.operationId).toBe('repos/get-commit');
    expect(routes.match('GET', '/repos/acme/api/contents/.github/workflows/ci.yml')?.pathParams.path).toBe('.github/workflows/ci.yml');
    // No operation of GitHub's description lists a directory without a path.
    expect(routes.match('GET', '/repos/acme/api/contents')).toBeUndefined();
    expect(routes.match('GET', '/repos/acme/api/contents/')).toBeUndefined();
    expect(routes.match('GET', '/repos/acme/api/git/ref')).toBeUndefined();
    expect(routes.match('GET', '/nope')).toBeUndefined();
    expect(routes.match('DELETE', '/repos/acme/api/pulls/1')).toBeUndefined();
  });
});

describe('request validation', () => {
  it('passes a valid Octokit call without violations', async () => {
    const { data } = await octokit.rest.repos.get({ owner: 'acme', repo: 'api' });
    expect(data.default_branch).toBe('main');
    expect(data.full_name).toBe('acme/api');
    standin.assertNoViolations();
  });

  it('records an invalid body (bad check run conclusion) and answers 422', async () => {
    const sha = (await standin.refSha('acme/api'))!;
    await expect(
      octokit.request('POST /repos/{owner}/{repo}/check-runs', {
        owner: 'acme',
        repo: 'api',
        name: 'x',
        head_sha: sha,
        conclusion: 'bogus',
      } as never),
    ).rejects.toMatchObject({ status: 422 });
    expect(standin.violations).toHaveLength(1);
    expect(standin.violations[0]).toMatchObject({ kind: 'invalid-body', operationId: 'checks/create' });
    expect(standin.violations[0]!.message).toContain('conclusion');
    expect(() => standin.assertNoViolations()).toThrow(/invalid-body.*checks\/create/);
    expect(standin.checkRuns('acme/api')).toHaveLength(0);
  });

  it('records a missing required body property', async () => {
    await expect(
      octokit.request('POST /repos/{owner}/{repo}/check-runs', { owner: 'acme', repo: 'api', name: 'x' } as never),
    ).rejects.toMatchObject({ status: 422 });
    expect(standin.violations.map((v) => [v.kind, v.message])).toEqual([['invalid-body', "body must have required property 'head_sha'"]]);
  });

  it('records an unknown route with 404', async () => {
    await expect(octokit.request('GET /repos/{owner}/{repo}/not-a-thing', { owner: 'acme', repo: 'api' })).rejects.toMatchObject({
      status: 404,
    });
    expect(standin.violations).toMatchObject([{ kind: 'unknown-route', method: 'GET', path: '/repos/acme/api/not-a-thing' }]);
  });

  it('records invalid query and path parameters', async () => {
    await expect(octokit.request('GET /repos/{owner}/{repo}/pulls', { owner: 'acme', repo: 'api', state: 'opened' } as never)).rejects.toMatchObject({
      status: 422,
    });
    await expect(octokit.request('GET /repos/acme/api/pulls/abc')).rejects.toMatchObject({ status: 404 });
    expect(standin.violations.map((v) => v.kind)).toEqual(['invalid-query', 'invalid-path-params']);
  });

  it('records a valid but unimplemented operation', async () => {
    await expect(octokit.rest.repos.listTags({ owner: 'acme', repo: 'api' })).rejects.toMatchObject({ status: 501 });
    expect(standin.violations).toMatchObject([{ kind: 'unimplemented', operationId: 'repos/list-tags' }]);
  });
});

describe('authentication', () => {
  it('exchanges an App JWT for an installation token and rejects bad credentials', async () => {
    const key = await importPKCS8(standin.app.privateKey!, 'RS256');
    const now = Math.floor(Date.now() / 1000);
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256' })
      .setIssuer(String(standin.app.id))
      .setIssuedAt(now - 30)
      .setExpirationTime(now + 540)
      .sign(key);
    const asApp = new Octokit({ baseUrl: standin.url, auth: jwt, log: quiet });
    const { data: installations } = await asApp.rest.apps.listInstallations();
    expect(installations.map((i) => i.account && 'login' in i.account && i.account.login)).toEqual(['acme']);
    expect((await asApp.rest.apps.getRepoInstallation({ owner: 'acme', repo: 'api' })).data.id).toBe(installationId);
    expect((await asApp.rest.apps.getOrgInstallation({ org: 'acme' })).data.id).toBe(installationId);
    const { data: created } = await asApp.rest.apps.createInstallationAccessToken({ installation_id: installationId });
    expect(created.token).toMatch(/^ghs_/);
    const asInstallation = new Octokit({ baseUrl: standin.url, auth: created.token, log: quiet });
    const { data: repos } = await asInstallation.rest.apps.listReposAccessibleToInstallation();
    expect(repos.repositories.map((r) => r.full_name)).toEqual(['acme/api']);

    // An installation token cannot call App endpoints; a JWT from another key is rejected.
    await expect(asInstallation.rest.apps.listInstallations()).rejects.toMatchObject({ status: 401 });
    const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const forged = await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setIssuer(String(standin.app.id)).setIssuedAt(now).setExpirationTime(now + 540).sign(otherKey);
    await expect(new Octokit({ baseUrl: standin.url, auth: forged, log: quiet }).rest.apps.listInstallations()).rejects.toMatchObject({ status: 401 });
    standin.assertNoViolations();
  });

  it('answers 401 to a wrong token, 404 outside the installation, 403 without the permission', async () => {
    await expect(new Octokit({ baseUrl: standin.url, auth: 'ghs_wrong', log: quiet }).rest.repos.get({ owner: 'acme', repo: 'api' })).rejects.toMatchObject({
      status: 401,
    });
    await standin.createRepository('other/lib');
    await expect(octokit.rest.repos.get({ owner: 'other', repo: 'lib' })).rejects.toMatchObject({ status: 404 });
    const readOnly = standin.createInstallationToken(installationId, { permissions: { metadata: 'read', contents: 'read' } });
    const sha = (await standin.refSha('acme/api'))!;
    await expect(
      new Octokit({ baseUrl: standin.url, auth: readOnly, log: quiet }).rest.checks.create({ owner: 'acme', repo: 'api', name: 'x', head_sha: sha }),
    ).rejects.toMatchObject({ status: 403, message: expect.stringContaining('Resource not accessible by integration') });
    standin.assertNoViolations();
  });
});

describe('git data, contents and pull requests', () => {
  it('creates a branch, a real commit and a PR through the Git Data API', async () => {
    const repo = { owner: 'acme', repo: 'api' };
    const { data: main } = await octokit.rest.git.getRef({ ...repo, ref: 'heads/main' });
    const { data: baseCommit } = await octokit.rest.git.getCommit({ ...repo, commit_sha: main.object.sha });
    const { data: blob } = await octokit.rest.git.createBlob({ ...repo, content: 'name: CI\n# hardened\n', encoding: 'utf-8' });
    const { data: tree } = await octokit.rest.git.createTree({
      ...repo,
      base_tree: baseCommit.tree.sha,
      tree: [
        { path: '.github/workflows/ci.yml', mode: '100644', type: 'blob', sha: blob.sha },
        { path: 'docs/new.md', mode: '100644', type: 'blob', content: 'new\n' },
      ],
    });
    const { data: commit } = await octokit.rest.git.createCommit({
      ...repo,
      message: 'Harden CI egress',
      tree: tree.sha,
      parents: [main.object.sha],
    });
    await octokit.rest.git.createRef({ ...repo, ref: 'refs/heads/egressctl/policy', sha: commit.sha });
    const { data: pr } = await octokit.rest.pulls.create({ ...repo, head: 'egressctl/policy', base: 'main', title: 'Harden', body: 'Body' });
    expect(pr).toMatchObject({ number: 1, state: 'open', head: { ref: 'egressctl/policy', sha: commit.sha }, base: { ref: 'main' } });
    expect(pr.user?.login).toBe('egressctl[bot]');

    // The commit is real: git sees it in the temp repository.
    const dir = standin.repository('acme/api').dir;
    expect((await git(dir, ['log', '--format=%H %s', '-1', 'refs/heads/egressctl/policy'])).trim()).toBe(`${commit.sha} Harden CI egress`);
    expect(await git(dir, ['show', 'egressctl/policy:.github/workflows/ci.yml'])).toBe('name: CI\n# hardened\n');
    expect(await git(dir, ['show', 'egressctl/policy:README.md'])).toBe('# api\n');

    // Contents API and recursive trees read the same repository.
    const { data: file } = await octokit.rest.repos.getContent({ ...repo, path: '.github/workflows/ci.yml', ref: 'egressctl/policy' });
    expect(!Array.isArray(file) && file.type === 'file' && Buffer.from(file.content, 'base64').toString('utf8')).toBe('name: CI\n# hardened\n');
    const { data: listing } = await octokit.rest.repos.getContent({ ...repo, path: '.github/workflows' });
    expect(Array.isArray(listing) && listing.map((e) => [e.name, e.type])).toEqual([['ci.yml', 'file']]);
    // No path is no documented operation: refused as GitHub's description has it.
    await expect(octokit.rest.repos.getContent({ ...repo, path: '' })).rejects.toMatchObject({ status: 404 });
    expect(standin.violations.map((violation) => violation.kind)).toEqual(['unknown-route']);
    expect(standin.violations[0]?.path).toMatch(/^\/repos\/acme\/api\/contents\/?(\?|$)/);
    standin.clearViolations();
    await expect(octokit.rest.repos.getContent({ ...repo, path: 'missing.yml' })).rejects.toMatchObject({ status: 404 });
    const { data: fullTree } = await octokit.rest.git.getTree({ ...repo, tree_sha: tree.sha, recursive: 'true' });
    expect(fullTree.tree.filter((e) => e.type === 'blob').map((e) => e.path).sort()).toEqual([
      '.github/workflows/ci.yml',
      'README.md',
      'docs/new.md',
    ]);
    const { data: comparison } = await octokit.rest.repos.compareCommitsWithBasehead({ ...repo, basehead: 'main...egressctl/policy' });
    expect(comparison).toMatchObject({ status: 'ahead', ahead_by: 1, behind_by: 0 });
    expect(comparison.files?.map((f) => [f.filename, f.status]).sort()).toEqual([
      ['.github/workflows/ci.yml', 'modified'],
      ['docs/new.md', 'added'],
    ]);

    // Listing by head, a duplicate PR, an update, and a person closing it.
    const { data: open } = await octokit.rest.pulls.list({ ...repo, state: 'open', head: 'acme:egressctl/policy' });
    expect(open.map((p) => p.number)).toEqual([1]);
    await expect(octokit.rest.pulls.create({ ...repo, head: 'egressctl/policy', base: 'main', title: 'again' })).rejects.toMatchObject({
      status: 422,
      message: expect.stringContaining('A pull request already exists'),
    });
    await octokit.rest.pulls.update({ ...repo, pull_number: 1, body: 'Updated body' });
    await standin.closePullRequest('acme/api', 1, { by: 'alice' });
    expect((await octokit.rest.pulls.list({ ...repo, state: 'open', head: 'acme:egressctl/policy' })).data).toEqual([]);
    const { data: closed } = await octokit.rest.pulls.list({ ...repo, state: 'closed', head: 'acme:egressctl/policy' });
    expect(closed).toMatchObject([{ number: 1, state: 'closed', body: 'Updated body', merged_at: null }]);
    expect(standin.pullRequest('acme/api', 1).closedBy?.login).toBe('alice');
    standin.assertNoViolations();
  });

  it('refuses a non-fast-forward ref update unless forced, and workflow changes without `workflows`', async () => {
    const repo = { owner: 'acme', repo: 'api' };
    const first = await standin.commitFiles('acme/api', { branch: 'feature', files: { 'a.txt': 'a\n' } });
    const main = (await standin.refSha('acme/api', 'main'))!;
    await expect(octokit.rest.git.updateRef({ ...repo, ref: 'heads/feature', sha: main })).rejects.toMatchObject({
      status: 422,
      message: expect.stringContaining('Update is not a fast forward'),
    });
    await octokit.rest.git.updateRef({ ...repo, ref: 'heads/feature', sha: main, force: true });
    expect(await standin.refSha('acme/api', 'feature')).toBe(main);
    expect(first).not.toBe(main);

    const noWorkflows = standin.createInstallationToken(installationId, {
      permissions: { metadata: 'read', contents: 'write', pull_requests: 'write' },
    });
    const limited = new Octokit({ baseUrl: standin.url, auth: noWorkflows, log: quiet });
    const { data: created } = await limited.rest.repos.createOrUpdateFileContents({
      ...repo,
      path: 'notes.txt',
      message: 'notes',
      content: Buffer.from('n\n').toString('base64'),
    });
    expect(created.commit.sha).toBe(await standin.refSha('acme/api'));
    const current = await octokit.rest.repos.getContent({ ...repo, path: '.github/workflows/ci.yml' });
    await expect(
      limited.rest.repos.createOrUpdateFileContents({
        ...repo,
        path: '.github/workflows/ci.yml',
        message: 'edit workflow',
        content: Buffer.from('changed\n').toString('base64'),
        sha: !Array.isArray(current.data) ? current.data.sha : '',
      }),
    ).rejects.toMatchObject({ status: 422, message: expect.stringContaining('without `workflows` permission') });
    expect(await standin.readFile('acme/api', '.github/workflows/ci.yml')).toBe(CI_WORKFLOW);
    standin.assertNoViolations();
  });

  it('serves the smaller read and delete operations', async () => {
    const repo = { owner: 'acme', repo: 'api' };
    await standin.commitFiles('acme/api', { branch: 'feature', files: { 'README.md': '# changed\n' }, message: 'Change readme' });
    expect((await octokit.rest.repos.listBranches(repo)).data.map((b) => b.name).sort()).toEqual(['feature', 'main']);
    expect((await octokit.rest.repos.getBranch({ ...repo, branch: 'feature' })).data.commit.commit.message).toBe('Change readme');
    const { data: commit } = await octokit.rest.repos.getCommit({ ...repo, ref: 'feature' });
    expect(commit.files?.map((f) => [f.filename, f.status, f.additions, f.deletions])).toEqual([['README.md', 'modified', 1, 1]]);
    const { data: matching } = await octokit.rest.git.listMatchingRefs({ ...repo, ref: 'heads/feat' });
    expect(matching.map((r) => r.ref)).toEqual(['refs/heads/feature']);
    const readmeSha = commit.files![0]!.sha!;
    expect(Buffer.from((await octokit.rest.git.getBlob({ ...repo, file_sha: readmeSha })).data.content, 'base64').toString()).toBe('# changed\n');
    const raw = await octokit.rest.repos.getContent({ ...repo, path: 'README.md', mediaType: { format: 'raw' } });
    expect(raw.data).toBe('# api\n');
    await octokit.rest.repos.deleteFile({ ...repo, path: 'README.md', message: 'rm', sha: readmeSha, branch: 'feature' });
    expect(await standin.readFile('acme/api', 'README.md', 'feature')).toBeUndefined();
    await octokit.rest.git.deleteRef({ ...repo, ref: 'heads/feature' });
    expect(await standin.refSha('acme/api', 'feature')).toBeUndefined();
    expect((await octokit.rest.repos.listForOrg({ org: 'acme' })).data.map((r) => r.full_name)).toEqual(['acme/api']);
    standin.revokeAllTokens();
    await expect(octokit.rest.repos.get(repo)).rejects.toMatchObject({ status: 401 });
    standin.assertNoViolations();
  });

  it('lists the files of a pull request since its merge base, paginated', async () => {
    const repo = { owner: 'acme', repo: 'api' };
    await standin.commitFiles('acme/api', { branch: 'ci', files: { '.github/workflows/lint.yml': 'on: push\n', 'README.md': null }, message: 'CI' });
    // The base moves on after the branch forked: its change is not the pull request's.
    await standin.commitFiles('acme/api', { files: { 'NEWS.md': 'news\n' }, message: 'News' });
    const pr = await standin.openPullRequest('acme/api', { head: 'ci' });
    const { data: files } = await octokit.rest.pulls.listFiles({ ...repo, pull_number: pr.number, per_page: 1 });
    expect(files.map((file) => [file.filename, file.status])).toEqual([['.github/workflows/lint.yml', 'added']]);
    const all = await octokit.paginate(octokit.rest.pulls.listFiles, { ...repo, pull_number: pr.number, per_page: 1 });
    expect(all.map((file) => [file.filename, file.status])).toEqual([
      ['.github/workflows/lint.yml', 'added'],
      ['README.md', 'removed'],
    ]);
    await expect(octokit.rest.pulls.listFiles({ ...repo, pull_number: 999 })).rejects.toMatchObject({ status: 404 });
    standin.assertNoViolations();
  });

  it('merges a diverged pull request with a real merge commit (test helper)', async () => {
    await standin.commitFiles('acme/api', { branch: 'feature', files: { 'feature.txt': 'f\n' } });
    await standin.commitFiles('acme/api', { files: { 'main.txt': 'm\n' } });
    const pr = await standin.openPullRequest('acme/api', { head: 'feature', by: 'alice' });
    const merged = await standin.mergePullRequest('acme/api', pr.number, { by: 'bob' });
    const dir = standin.repository('acme/api').dir;
    expect((await git(dir, ['rev-list', '--parents', '-1', merged])).trim().split(' ')).toHaveLength(3);
    expect(await standin.readFile('acme/api', 'feature.txt')).toBe('f\n');
    expect(await standin.readFile('acme/api', 'main.txt')).toBe('m\n');
    const { data } = await octokit.rest.pulls.get({ owner: 'acme', repo: 'api', pull_number: pr.number });
    expect(data).toMatchObject({ state: 'closed', merged: true, merge_commit_sha: merged, merged_by: { login: 'bob' } });
    standin.assertNoViolations();
  });

  it('serves the repository over smart HTTP with the token, refuses without it', async () => {
    const work = await mkdtemp(path.join(os.tmpdir(), 'standin-clone-'));
    try {
      await git(work, ['clone', '--quiet', standin.gitUrl('acme/api', token), 'with-token']);
      expect(await readFile(path.join(work, 'with-token', '.github/workflows/ci.yml'), 'utf8')).toBe(CI_WORKFLOW);
      await expect(git(work, ['clone', '--quiet', standin.gitUrl('acme/api'), 'without-token'])).rejects.toThrow();
      await expect(git(work, ['clone', '--quiet', standin.gitUrl('acme/api', 'ghs_wrong'), 'wrong-token'])).rejects.toThrow();
      // git asks anonymously first, then with the URL's credentials: the wrong token got a 401.
      const refused = standin.requests.filter((r) => r.kind === 'git' && r.status === 401);
      expect(refused.some((r) => r.principal === 'invalid')).toBe(true);
      expect(refused.some((r) => r.principal === 'installation')).toBe(false);

      // Push a branch back with the token (receive-pack).
      const clone = path.join(work, 'with-token');
      await git(clone, ['checkout', '--quiet', '-b', 'pushed']);
      await writeFile(path.join(clone, 'pushed.txt'), 'pushed\n');
      await git(clone, ['add', 'pushed.txt']);
      await git(clone, ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', 'commit', '--quiet', '-m', 'pushed']);
      await git(clone, ['push', '--quiet', 'origin', 'pushed']);
      expect(await standin.readFile('acme/api', 'pushed.txt', 'pushed')).toBe('pushed\n');
      expect(standin.stats().gitHttp).toBeGreaterThan(0);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
    standin.assertNoViolations();
  });
});

describe('checks, comments, statuses, actions', () => {
  it('records check runs with annotations across updates and lists them for a ref', async () => {
    const repo = { owner: 'acme', repo: 'api' };
    const sha = (await standin.refSha('acme/api'))!;
    const annotation = { path: 'policies/acme.yml', start_line: 3, end_line: 3, annotation_level: 'failure' as const, message: 'bad' };
    const { data: run } = await octokit.rest.checks.create({
      ...repo,
      name: 'egressctl / validate',
      head_sha: sha,
      status: 'in_progress',
      output: { title: 't', summary: 's', annotations: [annotation] },
    });
    await octokit.rest.checks.update({
      ...repo,
      check_run_id: run.id,
      conclusion: 'failure',
      output: { title: 't', summary: 'done', annotations: [{ ...annotation, start_line: 4, end_line: 4 }] },
    });
    const { data: listed } = await octokit.rest.checks.listForRef({ ...repo, ref: 'main' });
    expect(listed.check_runs).toMatchObject([
      { name: 'egressctl / validate', status: 'completed', conclusion: 'failure', output: { summary: 'done', annotations_count: 2 } },
    ]);
    expect(standin.checkRuns('acme/api')[0]!.annotations.map((a) => a.start_line)).toEqual([3, 4]);
    // More than 50 annotations in one request is invalid per GitHub's schema.
    await expect(
      octokit.rest.checks.update({
        ...repo,
        check_run_id: run.id,
        output: { title: 't', summary: 's', annotations: Array.from({ length: 51 }, () => annotation) },
      }),
    ).rejects.toMatchObject({ status: 422 });
    expect(standin.violations.map((v) => v.kind)).toEqual(['invalid-body']);
    standin.clearViolations();
  });

  it('creates, lists and edits issue comments; enforces the 65,536-character limit', async () => {
    const repo = { owner: 'acme', repo: 'api' };
    await standin.commitFiles('acme/api', { branch: 'change', files: { 'x.txt': 'x\n' } });
    const pr = await standin.openPullRequest('acme/api', { head: 'change', by: 'alice' });
    const marker = '<!-- egressctl:preview -->';
    await octokit.rest.issues.createComment({ ...repo, issue_number: pr.number, body: `${marker}\nfirst` });
    const { data: comments } = await octokit.rest.issues.listComments({ ...repo, issue_number: pr.number });
    const mine = comments.find((c) => c.body?.startsWith(marker) && c.user?.type === 'Bot');
    expect(mine).toBeDefined();
    await octokit.rest.issues.updateComment({ ...repo, comment_id: mine!.id, body: `${marker}\nsecond` });
    expect(standin.comments('acme/api', pr.number)).toMatchObject([{ body: `${marker}\nsecond`, edits: 1 }]);
    await expect(
      octokit.rest.issues.createComment({ ...repo, issue_number: pr.number, body: 'x'.repeat(65537) }),
    ).rejects.toMatchObject({ status: 422 });
    standin.assertNoViolations();
  });

  it('records commit statuses and combines them', async () => {
    const repo = { owner: 'acme', repo: 'api' };
    const sha = (await standin.refSha('acme/api'))!;
    await octokit.rest.repos.createCommitStatus({ ...repo, sha, state: 'pending', context: 'egressctl/publish' });
    await octokit.rest.repos.createCommitStatus({ ...repo, sha, state: 'success', context: 'egressctl/publish', description: 'published' });
    const { data } = await octokit.rest.repos.getCombinedStatusForRef({ ...repo, ref: 'main' });
    expect(data).toMatchObject({ state: 'success', total_count: 1, statuses: [{ description: 'published' }] });
    expect(standin.statuses('acme/api', sha)).toHaveLength(2);
    standin.assertNoViolations();
  });

  it('redirects job log downloads to a loopback URL serving the text', async () => {
    const job = await standin.addWorkflowJob('acme/api', { name: 'build', logs: '2024-01-01T00:00:00Z hello\n' });
    const { data, url } = await octokit.rest.actions.downloadJobLogsForWorkflowRun({ owner: 'acme', repo: 'api', job_id: job.id });
    expect(data).toBe('2024-01-01T00:00:00Z hello\n');
    expect(url).toContain('/_logs/');
    const { data: run } = await octokit.rest.actions.getWorkflowRun({ owner: 'acme', repo: 'api', run_id: job.runId });
    expect(run.path).toBe('.github/workflows/ci.yml');
    standin.assertNoViolations();
  });
});

describe('rate limits and counts', () => {
  it('answers a secondary rate limit once, then the throttled client succeeds', async () => {
    const ThrottledOctokit = Octokit.plugin(throttling);
    const limited: number[] = [];
    const client = new ThrottledOctokit({
      baseUrl: standin.url,
      auth: token,
      log: quiet,
      throttle: {
        // retry-after 1 s times 20 ms: the retry waits 20 ms.
        retryAfterBaseValue: 20,
        onSecondaryRateLimit: (retryAfter: number) => {
          limited.push(retryAfter);
          return true;
        },
        onRateLimit: () => false,
      },
    });
    standin.secondaryRateLimit(1);
    const { data } = await client.rest.git.createBlob({ owner: 'acme', repo: 'api', content: 'x' });
    expect(data.sha).toMatch(/^[0-9a-f]{40}$/);
    expect(limited).toEqual([1]);
    const stats = standin.stats();
    expect(stats.injectedFaults).toBe(1);
    expect(stats.byRoute['POST /repos/{owner}/{repo}/git/blobs']).toBe(2);
    expect(stats.byRepository['acme/api']).toEqual({ total: 2, writes: 2 });
    standin.assertNoViolations();
  });

  it('answers a delayed request late, and handles it as usual', async () => {
    const octokit = new Octokit({ baseUrl: standin.url, auth: token, log: quiet });
    standin.delayRequests({ count: 1, ms: 300, match: (request) => request.operationId === 'repos/get' });
    const started = Date.now();
    const { data } = await octokit.rest.repos.get({ owner: 'acme', repo: 'api' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(data.full_name).toBe('acme/api');

    // Held until released, and only `count` requests: the next one is answered while the held one
    // still waits (an order, not a duration: it holds on any machine).
    let release!: () => void;
    let held = 0;
    standin.delayRequests({ count: 1, until: new Promise<void>((resolve) => (release = resolve)), match: (request) => request.operationId === 'repos/get' && ++held > 0 });
    let heldAnswered = false;
    const first = octokit.rest.repos.get({ owner: 'acme', repo: 'api' }).then((response) => ((heldAnswered = true), response));
    while (held === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    expect((await octokit.rest.repos.get({ owner: 'acme', repo: 'api' })).data.full_name).toBe('acme/api');
    expect(heldAnswered).toBe(false);
    expect(held).toBe(1);
    release();
    expect((await first).data.full_name).toBe('acme/api');
    standin.assertNoViolations();
  });
});

describe('webhooks', () => {
  let receiver: Server;
  let received: { headers: IncomingMessage['headers']; body: string }[];
  let receiverUrl: string;

  beforeEach(async () => {
    received = [];
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(202);
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  });

  afterEach(async () => {
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  });

  it('delivers a signed push event shaped like GitHub', async () => {
    const after = await standin.commitFiles('acme/api', { files: { 'policies/a.yml': 'a\n' }, message: 'Add policy' });
    const response = await standin.deliverWebhook({ url: receiverUrl, event: 'push', repository: 'acme/api' });
    expect(response.status).toBe(202);
    const [delivery] = received;
    expect(delivery!.headers['x-github-event']).toBe('push');
    expect(delivery!.headers['x-github-delivery']).toBe(response.deliveryId);
    expect(delivery!.headers['content-type']).toBe('application/json');
    const signature = String(delivery!.headers['x-hub-signature-256']);
    expect(await verifyWebhookSignature(standin.webhookSecret, delivery!.body, signature)).toBe(true);
    const payload = JSON.parse(delivery!.body);
    expect(payload).toMatchObject({
      ref: 'refs/heads/main',
      after,
      installation: { id: installationId },
      repository: { full_name: 'acme/api', default_branch: 'main' },
      head_commit: { id: after, message: 'Add policy', added: ['policies/a.yml'] },
    });

    await standin.deliverWebhook({ url: receiverUrl, event: 'push', repository: 'acme/api', signature: 'invalid', deliveryId: response.deliveryId });
    expect(received[1]!.headers['x-github-delivery']).toBe(response.deliveryId);
    expect(await verifyWebhookSignature(standin.webhookSecret, received[1]!.body, String(received[1]!.headers['x-hub-signature-256']))).toBe(false);
  });

  it('fills pull_request and workflow_job payloads from stand-in records', async () => {
    await standin.commitFiles('acme/api', { branch: 'feature', files: { 'f.txt': 'f\n' } });
    const pr = await standin.openPullRequest('acme/api', { head: 'feature', by: 'alice', title: 'Feature' });
    const prPayload = await standin.webhookPayload({ event: 'pull_request', action: 'synchronize', repository: 'acme/api', pullRequest: pr.number });
    expect(prPayload).toMatchObject({
      action: 'synchronize',
      number: pr.number,
      pull_request: { title: 'Feature', head: { ref: 'feature', sha: pr.headSha } },
      sender: { login: 'alice' },
      installation: { id: installationId },
    });
    const job = await standin.addWorkflowJob('acme/api', { name: 'build', labels: ['ubuntu-22.04'] });
    const jobPayload = await standin.webhookPayload({ event: 'workflow_job', action: 'completed', repository: 'acme/api', workflowJob: job.id });
    expect(jobPayload).toMatchObject({ action: 'completed', workflow_job: { id: job.id, run_id: job.runId, name: 'build', labels: ['ubuntu-22.04'] } });
  });
});

describe('Probot against the stand-in', () => {
  it('authenticates as the App, receives a signed webhook and creates a check run', async () => {
    const probot = new Probot({ ...standin.probotOptions(), logLevel: 'fatal' });
    const middleware = await createNodeMiddleware(
      (app) => {
        app.on('pull_request.opened', async (context) => {
          await context.octokit.rest.checks.create(
            context.repo({ name: 'egressctl / validate', head_sha: context.payload.pull_request.head.sha, conclusion: 'success' }),
          );
        });
      },
      { probot },
    );
    const server = createServer((req, res) => {
      void middleware(req, res, () => {
        res.writeHead(404);
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const hookUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/github/webhooks`;
      await standin.commitFiles('acme/api', { branch: 'feature', files: { 'f.txt': 'f\n' } });
      const pr = await standin.openPullRequest('acme/api', { head: 'feature' });
      const bad = await standin.deliverWebhook({ url: hookUrl, event: 'pull_request', action: 'opened', repository: 'acme/api', pullRequest: pr.number, signature: 'invalid' });
      expect(bad.status).toBeGreaterThanOrEqual(400);
      const good = await standin.deliverWebhook({ url: hookUrl, event: 'pull_request', action: 'opened', repository: 'acme/api', pullRequest: pr.number });
      expect(good.status).toBe(200);
      expect(standin.checkRuns('acme/api')).toMatchObject([{ name: 'egressctl / validate', headSha: pr.headSha, conclusion: 'success' }]);
      expect(standin.requests.some((r) => r.operationId === 'apps/create-installation-access-token' && r.principal === 'app')).toBe(true);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    standin.assertNoViolations();
  });

  it('works through createProbot with GHE_HOST (`http://<host>/api/v3`)', async () => {
    const host = new URL(standin.url).host;
    const probot = createProbot({
      env: {
        APP_ID: String(standin.app.id),
        PRIVATE_KEY: standin.app.privateKey!,
        WEBHOOK_SECRET: standin.webhookSecret,
        GHE_HOST: host,
        GHE_PROTOCOL: 'http',
        LOG_LEVEL: 'fatal',
      },
    });
    const installationOctokit = await probot.auth(installationId);
    const { data } = await installationOctokit.rest.repos.get({ owner: 'acme', repo: 'api' });
    expect(data.full_name).toBe('acme/api');
    expect(standin.requests.map((r) => r.path)).toContain('/api/v3/repos/acme/api');
    standin.assertNoViolations();
  });
});
