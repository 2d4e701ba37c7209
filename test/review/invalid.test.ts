/** A policy file the change breaks is still listed, as changed and invalid, pointing at the check. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderMarkdown, renderText, reviewRevisions } from '../../src/review/index.js';
import { makeTempRepo, type TempRepo } from '../support/policy-repo.js';
import { attachmentsFile, markdownProblems, policyFile } from '../support/review.js';

describe('a broken policy file in the change', () => {
  let repo: TempRepo;
  let base: string;
  let head: string;
  beforeAll(() => {
    repo = makeTempRepo(
      {
        'policies/api.yml': policyFile({ endpoints: ['proxy.golang.org:443'] }),
        'policies/web.yml': policyFile({ endpoints: ['registry.npmjs.org:443'] }),
        'policies/ok.yml': policyFile({ endpoints: ['github.com:443'] }),
        'attachments.yml': attachmentsFile({ repositories: { 'acme/api': 'api', 'acme/web': 'web', 'acme/ok': 'ok' } }),
      },
      { git: true },
    );
    base = repo.commit('base');
    repo.write({
      // Does not parse at all.
      'policies/api.yml': 'egress-policy: block\nallowed-endpoints: [proxy.golang.org:443\n',
      // Parses, but the only edit is an entry that is refused: nothing else differs.
      'policies/web.yml': `${policyFile({ endpoints: ['registry.npmjs.org:443'] })}  - "https://bad.example.com/path"\n`,
      'policies/ok.yml': policyFile({ endpoints: ['github.com:443', 'ghcr.io:443'] }),
    });
    head = repo.commit('head');
  });
  afterAll(() => repo.cleanup());

  it('lists every touched policy file, the broken ones as changed and invalid', async () => {
    const review = await reviewRevisions({ dir: repo.dir, base, head });
    // attachments.yml names api, which no longer parses: api has its own error, attachments.yml none (issue 23).
    expect(new Set(review.headResult.errors.map((error) => error.file))).toEqual(new Set(['policies/api.yml', 'policies/web.yml']));
    expect(review.policies.map((policy) => [policy.name, policy.change, policy.invalid ?? false])).toEqual([
      ['api', 'changed', true],
      ['ok', 'changed', false],
      ['web', 'changed', true],
    ]);
    expect(review.summary.text).toMatch(/^3 policies changed/);
    const markdown = renderMarkdown(review);
    expect(markdownProblems(markdown)).toEqual([]);
    const rows = markdown.split('\n').filter((line) => line.startsWith('| `'));
    expect(rows.find((row) => row.startsWith('| `api` |'))).toContain('| changed, invalid (see check) |');
    expect(rows.find((row) => row.startsWith('| `web` |'))).toContain('| changed, invalid (see check) |');
    expect(rows.find((row) => row.startsWith('| `ok` |'))).toContain('| changed |');
    const text = renderText(review).split('\n');
    expect(text.find((line) => /^\s+changed\s+api\b/.test(line))).toContain('INVALID (see validate)');
    expect(text.find((line) => /^\s+changed\s+ok\b/.test(line))).not.toContain('INVALID');
  });

  it('does not list a broken file the change does not touch', async () => {
    const next = repo.commit('nothing');
    repo.write({ 'policies/ok.yml': policyFile({ endpoints: ['github.com:443'] }) });
    const after = repo.commit('only ok');
    const review = await reviewRevisions({ dir: repo.dir, base: next, head: after });
    expect(review.headResult.errors.length).toBeGreaterThan(0);
    expect(review.policies.map((policy) => [policy.name, policy.invalid ?? false])).toEqual([['ok', false]]);
  });
});
