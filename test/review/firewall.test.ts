/**
 * The review with `github-firewall.enabled` (docs/github-firewall.md, "Review"): the PR comment
 * shows each reached repository's firewall file change next to the precedence preview; with the
 * setting off, nothing of it.
 */
import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../src/policy/diagnostics.js';
import { renderMarkdown } from '../../src/review/markdown.js';
import { prepareReviewInput, reviewChange } from '../../src/review/review.js';
import { parsePolicyRepository } from '../../src/store/repository.js';
import { firewallStoreFiles } from '../support/github-firewall.js';
import { markdownProblems } from '../support/review.js';

function input(overrides: Record<string, string>, label: string) {
  const files = { ...firewallStoreFiles(), ...overrides };
  const result = parsePolicyRepository(new Map(Object.entries(files).map(([name, text]) => [name, Buffer.from(text)])));
  expect(result.errors.map(formatDiagnostic)).toEqual([]);
  return prepareReviewInput(result.value, { label });
}

const UNATTACHED = { 'attachments.yml': 'repositories:\n  acme/api: ci-block\n' };

describe('review of a change with github-firewall enabled', () => {
  it('shows per repository how its firewall file changes, and what it cannot express', () => {
    const review = reviewChange(input(UNATTACHED, 'main'), input({}, 'attach'));
    const byRepository = Object.fromEntries((review.firewall ?? []).map((change) => [change.repository, change]));
    expect(Object.keys(byRepository)).toEqual(['acme/api', 'acme/web']);
    expect(byRepository['acme/web']!.changes).toEqual([expect.stringMatching(/^new file: mode enforce, \d+ hosts allowed$/)]);
    expect(byRepository['acme/api']!.changes).toEqual(expect.arrayContaining(['mode enforce -> log', expect.stringMatching(/^allow added: .*fulcio\.sigstore\.dev/)]));
    expect(byRepository['acme/web']!.warnings.join('\n')).toMatch(/port 8443 cannot be expressed/);
    const markdown = renderMarkdown(review);
    expect(markdown).toContain('### GitHub firewall files (2)');
    expect(markdown).toMatch(/\| `acme\/api` \| mode enforce -&gt; log; allow added: fulcio\.sigstore\.dev/);
    expect(markdownProblems(markdown)).toEqual([]);
  });

  it('an organization attachment is named, not expanded; with the setting off there is no firewall section', () => {
    const review = reviewChange(input(UNATTACHED, 'main'), input({ 'attachments.yml': 'organizations:\n  acme: ci-block\nrepositories:\n  acme/api: ci-block\n' }, 'org'));
    expect(review.firewall?.map((change) => change.repository)).toEqual(['organization acme']);
    const off = { 'egressctl.yml': 'organizations: [acme]\n' };
    const quiet = reviewChange(input({ ...UNATTACHED, ...off }, 'main'), input(off, 'attach'));
    expect(quiet.firewall).toBeUndefined();
    expect(renderMarkdown(quiet)).not.toContain('GitHub firewall files');
  });
});
