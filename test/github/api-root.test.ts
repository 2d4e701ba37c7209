import { describe, expect, it } from 'vitest';
import { apiRootOf, apiRootOfPayload, cliGitHub, githubUrlOfApiRoot, sameApiRoot, serverGitHub } from '../../src/github/api-root.js';
import { UsageError } from '../../src/util/errors.js';
import { webhookExample } from '../support/github/index.js';

describe('apiRootOf: the API of a GitHub web URL', () => {
  it.each([
    ['https://github.com', 'https://api.github.com'],
    ['https://github.com/', 'https://api.github.com'],
    ['https://GitHub.com', 'https://api.github.com'],
    ['https://acme.ghe.com', 'https://api.acme.ghe.com'],
    ['https://github.acme.example', 'https://github.acme.example/api/v3'],
    ['https://github.acme.example:8443/', 'https://github.acme.example:8443/api/v3'],
    ['http://127.0.0.1:3000', 'http://127.0.0.1:3000/api/v3'],
    ['https://acme.example/github', 'https://acme.example/github/api/v3'],
  ])('%s -> %s, and back', (githubUrl, apiRoot) => {
    expect(apiRootOf(githubUrl)).toBe(apiRoot);
    expect(sameApiRoot(apiRootOf(githubUrlOfApiRoot(apiRoot))!, apiRoot)).toBe(true);
  });

  it('is undefined for what is not an http(s) URL', () => {
    expect(apiRootOf('github.com')).toBeUndefined();
    expect(apiRootOf('ftp://github.com')).toBeUndefined();
  });
});

describe('apiRootOfPayload: where a delivery came from', () => {
  it('finds api.github.com in every example payload GitHub publishes that names a resource', () => {
    for (const [event, action] of [['push'], ['pull_request', 'opened'], ['workflow_job', 'completed'], ['check_run', 'rerequested'], ['installation', 'created']] as const) {
      expect(apiRootOfPayload(webhookExample(event, action)), event).toBe('https://api.github.com');
    }
  });

  it('reads a GitHub Enterprise Server payload, repository first, then the organization, the account and the sender', () => {
    expect(apiRootOfPayload({ repository: { url: 'https://ghes.acme.example/api/v3/repos/acme/api' } })).toBe('https://ghes.acme.example/api/v3');
    expect(apiRootOfPayload({ organization: { url: 'https://ghes.acme.example/api/v3/orgs/acme' }, sender: { url: 'https://elsewhere.example/api/v3/users/x' } })).toBe('https://ghes.acme.example/api/v3');
    expect(apiRootOfPayload({ installation: { account: { url: 'https://api.acme.ghe.com/users/acme' } } })).toBe('https://api.acme.ghe.com');
    expect(apiRootOfPayload({ sender: { url: 'https://api.github.com/users/octocat' } })).toBe('https://api.github.com');
  });

  it('is undefined when the payload names no resource by its API URL', () => {
    expect(apiRootOfPayload(null)).toBeUndefined();
    expect(apiRootOfPayload({ zen: 'hi', hook_id: 1 })).toBeUndefined();
    expect(apiRootOfPayload({ repository: { url: 42 } })).toBeUndefined();
    expect(apiRootOfPayload({ repository: { url: 'https://github.com/acme/api' } })).toBeUndefined();
  });
});

describe('serverGitHub: the GitHub of serve and its App', () => {
  it('takes github-url, else GHE_HOST, else github.com', () => {
    expect(serverGitHub({}, undefined)).toEqual({ githubUrl: 'https://github.com', apiRoot: 'https://api.github.com', from: 'default' });
    expect(serverGitHub({}, 'https://ghes.acme.example')).toEqual({ githubUrl: 'https://ghes.acme.example', apiRoot: 'https://ghes.acme.example/api/v3', from: 'github-url' });
    expect(serverGitHub({ GHE_HOST: 'ghes.acme.example', GHE_PROTOCOL: 'http' }, undefined)).toEqual({
      githubUrl: 'http://ghes.acme.example',
      apiRoot: 'http://ghes.acme.example/api/v3',
      from: 'GHE_HOST',
    });
    // The same host both ways is no conflict.
    expect(serverGitHub({ GHE_HOST: 'GHES.acme.example' }, 'https://ghes.acme.example/').from).toBe('github-url');
  });

  it('refuses GHE_HOST and github-url naming different hosts', () => {
    expect(() => serverGitHub({ GHE_HOST: 'old.acme.example' }, 'https://ghes.acme.example')).toThrow(UsageError);
    expect(() => serverGitHub({ GHE_HOST: 'old.acme.example' }, 'https://ghes.acme.example')).toThrow(/GHE_HOST says https:\/\/old\.acme\.example but egressctl\.yml says github-url: https:\/\/ghes\.acme\.example/);
  });
});

describe('cliGitHub: the GitHub of sync and rollout', () => {
  it('follows github-url; GITHUB_API_URL overrides it', () => {
    expect(cliGitHub({}, 'https://github.com')).toMatchObject({ apiRoot: 'https://api.github.com', from: 'default' });
    expect(cliGitHub({}, 'https://ghes.acme.example')).toMatchObject({ apiRoot: 'https://ghes.acme.example/api/v3', from: 'github-url' });
    expect(cliGitHub({ GITHUB_API_URL: 'https://proxy.acme.example/api/v3/' }, 'https://ghes.acme.example')).toEqual({
      githubUrl: 'https://proxy.acme.example',
      apiRoot: 'https://proxy.acme.example/api/v3',
      from: 'GITHUB_API_URL',
    });
    expect(cliGitHub({ GITHUB_API_URL: '  ' }, 'https://ghes.acme.example').from).toBe('github-url');
    expect(() => cliGitHub({ GITHUB_API_URL: 'not a url' }, 'https://github.com')).toThrow(/GITHUB_API_URL=not a url is not an http\(s\) URL/);
  });
});
