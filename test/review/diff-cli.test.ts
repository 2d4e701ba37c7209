import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { makeTempRepo, type TempRepo } from '../support/policy-repo.js';
import { reviewRevisions } from '../../src/review/index.js';
import { attachmentsFile, baselineFiles, policyFile } from '../support/review.js';

describe('egressctl diff', () => {
  let repo: TempRepo;
  let base: string;
  let head: string;

  beforeAll(() => {
    repo = makeTempRepo(
      {
        'policies/core.yml': policyFile({ endpoints: ['ghcr.io:443'] }),
        'policies/org-audit.yml': policyFile({ mode: 'audit' }),
        'policies/api.yml': policyFile({ extends: ['core'], endpoints: ['proxy.golang.org:443', 'sum.golang.org:443'] }),
        'attachments.yml': attachmentsFile({ organizations: { acme: 'org-audit' }, repositories: { 'acme/api': 'api' } }),
        ...baselineFiles({
          'acme/api': { '.github/workflows/ci.yml': { build: { runs: 5, endpoints: { 'proxy.golang.org:443': 5, 'sum.golang.org:443': 4, 'ghcr.io:443': 2 } } } },
          'acme/web': { '.github/workflows/ci.yml': { test: { runs: 3, endpoints: { 'registry.npmjs.org:443': 3 } } } },
        }),
      },
      { git: true },
    );
    base = repo.commit('base');
    repo.write({
      // The org default starts blocking; api loses sum.golang.org; a release workflow gets its own policy.
      'policies/org-audit.yml': policyFile({ mode: 'block', endpoints: ['*.npmjs.org:443'] }),
      'policies/api.yml': policyFile({ extends: ['core'], endpoints: ['proxy.golang.org:443'] }),
      'policies/release.yml': policyFile({ endpoints: ['fulcio.sigstore.dev:443'] }),
      'attachments.yml': attachmentsFile({
        organizations: { acme: 'org-audit' },
        repositories: { 'acme/api': 'api' },
        workflows: { 'acme/api/.github/workflows/release.yml': 'release' },
      }),
    });
    head = repo.commit('head');
  });

  afterAll(() => repo.cleanup());

  it('compares two revisions as JSON', async () => {
    const run = await runCli(['diff', '-C', repo.dir, base, head, '--format', 'json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const review = JSON.parse(run.stdout);
    expect(review.base).toEqual({ label: base, revision: base });
    expect(review.policies).toEqual([
      expect.objectContaining({ name: 'api', change: 'changed', endpointsAdded: [], endpointsRemoved: ['sum.golang.org:443'], modeBefore: 'block', modeAfter: 'block' }),
      expect.objectContaining({ name: 'org-audit', change: 'changed', endpointsAdded: ['*.npmjs.org:443'], modeBefore: 'audit', modeAfter: 'block', risks: ['audit-to-block', 'wildcard-widened'] }),
      expect.objectContaining({ name: 'release', change: 'created', modeBefore: null, modeAfter: 'block' }),
    ]);
    expect(review.attachments).toEqual([{ type: 'workflow', key: 'acme/api/.github/workflows/release.yml', before: null, after: 'release', change: 'attached' }]);
    const scopes = Object.fromEntries(review.scopes.map((scope: { type: string; key: string }) => [`${scope.type} ${scope.key}`, scope]));
    expect(Object.keys(scopes).sort()).toEqual([
      'organization acme',
      'repository acme/api',
      'repository acme/web',
      'workflow acme/api/.github/workflows/ci.yml',
      'workflow acme/api/.github/workflows/release.yml',
      'workflow acme/web/.github/workflows/ci.yml',
    ]);
    expect(scopes['workflow acme/api/.github/workflows/release.yml']).toMatchObject({
      before: { policy: 'api', mode: 'block' },
      after: { policy: 'release', mode: 'block' },
      why: { kind: 'shadowed', text: 'its new attachment (release) now shadows repository acme/api (api)' },
    });
    expect(scopes['repository acme/web']).toMatchObject({ before: { policy: 'org-audit', mode: 'audit' }, after: { policy: 'org-audit', mode: 'block' }, added: ['*.npmjs.org:443'], removed: [] });
    expect(review.breakage).toEqual([
      expect.objectContaining({ repository: 'acme/api', workflow: '.github/workflows/ci.yml', job: 'build', endpoints: ['sum.golang.org:443'], runs: 4 }),
    ]);
    // registry.npmjs.org matches *.npmjs.org: acme/web keeps working in block mode.
    expect(review.summary).toMatchObject({ jobsObserved: 2, jobsBreaking: 1 });
  });

  it('renders the comment and the terminal text, head defaulting to the work tree', async () => {
    repo.write({ 'policies/release.yml': policyFile({ endpoints: ['fulcio.sigstore.dev:443', 'rekor.sigstore.dev:443'] }) });
    try {
      const markdown = await runCli(['diff', '-C', repo.dir, 'HEAD', '--format', 'markdown']);
      expect(markdown.code).toBe(0);
      expect(markdown.stdout.split('\n')[0]).toBe('**1 policy changed, 1 scope changes effective policy, 0 jobs would break**');
      expect(markdown.stdout).toContain('Comparing `HEAD` → work tree.');

      const text = await runCli(['diff', '-C', repo.dir, base]);
      expect(text.code).toBe(0);
      expect(text.stdout.split('\n').slice(0, 2)).toEqual([
        '3 policies (1 created, 2 changed), 1 attachment changed, 6 scopes change effective policy, 1 job would break',
        `base ${base} -> head work tree`,
      ]);
    } finally {
      repo.git('checkout', '--', 'policies/release.yml');
    }
  });

  it('still reviews an invalid head, reports its errors and exits 1', async () => {
    repo.write({ 'policies/api.yml': 'egress-policy: block\nallowed-endpoints: [https://proxy.golang.org/x]\n' });
    try {
      const run = await runCli(['diff', '-C', repo.dir, head, '--format', 'json']);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/policies\/api\.yml:2:\d+: error endpoint\/scheme/);
      expect(run.stderr).toContain('the head (work tree) has 1 error');
      expect(JSON.parse(run.stdout).policies).toBeDefined();
    } finally {
      repo.git('checkout', '--', 'policies/api.yml');
    }
  });

  it('exposes the loaded revisions from reviewRevisions', async () => {
    const review = await reviewRevisions({ dir: repo.dir, base, head });
    expect(review.baseResult.errors).toEqual([]);
    expect(review.headResult.snapshot.revision).toBe(head);
    expect(review.head).toEqual({ label: head, revision: head });
  });

  it('refuses bad usage with exit 2', async () => {
    expect((await runCli(['diff', '-C', repo.dir])).code).toBe(2);
    expect((await runCli(['diff', '-C', repo.dir, base, '--format', 'yaml'])).stderr).toContain('--format must be one of text, markdown, json');
    expect((await runCli(['diff', '-C', repo.dir, base, head, 'extra'])).code).toBe(2);
    const unknown = await runCli(['diff', '-C', repo.dir, 'no-such-branch']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no-such-branch');
  });
});

describe('egressctl diff --at: the forecast as of a day, with expiring exceptions', () => {
  let repo: TempRepo;
  let base: string;
  let head: string;

  beforeAll(() => {
    repo = makeTempRepo(
      {
        'policies/api.yml': policyFile({ mode: 'audit' }),
        'attachments.yml': attachmentsFile({ repositories: { 'acme/api': 'api' } }),
        ...baselineFiles({ 'acme/api': { '.github/workflows/ci.yml': { build: { runs: 5, endpoints: { 'proxy.golang.org:443': 5, 'sum.golang.org:443': 4 } } } } }),
      },
      { git: true },
    );
    base = repo.commit('base');
    repo.write({
      'policies/api.yml': 'egress-policy: block\nallowed-endpoints:\n  - proxy.golang.org\n  - endpoint: sum.golang.org\n    reason: until GOFLAGS=-mod=mod goes\n    expires: 2026-12-31\n',
    });
    head = repo.commit('block with an exception');
  });

  afterAll(() => repo.cleanup());

  it('dates the breakage an exception defers, and counts it as breakage once the day has passed', async () => {
    const before = await runCli(['diff', '-C', repo.dir, base, head, '--at', '2026-12-31']);
    expect(before.code).toBe(0);
    expect(before.stdout).toContain('0 jobs would break, 1 job when exceptions expire (first after 2026-12-31)');
    expect(before.stdout).toContain('acme/api .github/workflows/ci.yml#build: sum.golang.org:443 after 2026-12-31 (4 of 5 runs); api (audit) -> api (block)');
    const after = JSON.parse((await runCli(['diff', '-C', repo.dir, base, head, '--at', '2027-01-01', '--format', 'json'])).stdout) as { at: string; breakage: { endpoints: string[] }[]; breakageLater: unknown[] };
    expect(after.at).toBe('2027-01-01T00:00:00.000Z');
    expect(after.breakage.map((job) => job.endpoints)).toEqual([['sum.golang.org:443']]);
    expect(after.breakageLater).toEqual([]);
    const bad = await runCli(['diff', '-C', repo.dir, base, head, '--at', 'soon']);
    expect(bad.code).toBe(2);
  });
});
