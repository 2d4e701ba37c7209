/**
 * The whole review uses one clock (docs/architecture.md#expiring-exceptions): the precedence
 * preview, the policy diff and the firewall file diff compare what each side gives as of the
 * review's instant (now, or `egressctl diff --at`), as the breakage forecast and the sync do. An
 * exception expired at both sides is no difference and not allowed; one whose end date the change
 * moves into the past is a removed endpoint; one still running is shown with its last day.
 * Real git repository in a temp dir, through the CLI.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { makeTempRepo, type TempRepo } from '../support/policy-repo.js';
import { renderMarkdown, renderText, reviewChange } from '../../src/review/index.js';
import { attachmentsFile, baselineFiles, inputFromFiles, markdownProblems } from '../support/review.js';

/** A block policy file whose entries may carry an end date. */
function blockPolicy(entries: (string | [string, string])[]): string {
  return `egress-policy: block\nallowed-endpoints:\n${entries
    .map((entry) => (typeof entry === 'string' ? `  - ${entry}\n` : `  - endpoint: ${entry[0]}\n    reason: temporary\n    expires: ${entry[1]}\n`))
    .join('')}`;
}

/** The part of a rendering between two headings (the preview, without the forecast that follows). */
function section(text: string, start: string, end: string): string {
  const from = text.indexOf(start);
  expect(from, `"${start}" in the output`).toBeGreaterThanOrEqual(0);
  const to = text.indexOf(end, from);
  return text.slice(from, to === -1 ? undefined : to);
}

interface ReviewJson {
  at: string;
  policies: { name: string; endpointsAdded: string[]; endpointsRemoved: string[]; risks: string[]; changed: { key: string; before: unknown; after: unknown }[]; until?: Record<string, string>; expired?: unknown[] }[];
  scopes: { type: string; key: string; before: { policy: string } | null; after: { policy: string } | null; added: string[]; removed: string[]; until?: Record<string, string>; risks: string[] }[];
  risks: { kind: string; policies: string[]; scopes: number }[];
  breakage: { key: string; endpoints: string[] }[];
  breakageLater: unknown[];
  firewall?: { repository: string; changes: string[] }[];
}

describe('the precedence preview as of the review\'s instant', () => {
  const AT = '2026-12-06';
  let repo: TempRepo;
  let base: string;
  let head: string;

  beforeAll(() => {
    repo = makeTempRepo(
      {
        'egressctl.yml': 'organizations: [acme]\ngithub-firewall:\n  enabled: true\n',
        // core's exception ended in October: the change below deletes it (the clean-up pull request).
        'policies/core.yml': blockPolicy(['github.com', ['stale.example.com', '2026-10-31']]),
        'policies/api.yml': blockPolicy(['github.com', 'proxy.golang.org', ['sum.golang.org', '2027-06-30']]),
        // legacy's exception ended in November, at the base and (with another date) at the head.
        'policies/legacy.yml': blockPolicy(['github.com', ['old.example.com', '2026-11-30']]),
        'attachments.yml': attachmentsFile({ organizations: { acme: 'core' }, repositories: { 'acme/api': 'api', 'acme/web': 'core' } }),
        ...baselineFiles({
          'acme/api': { '.github/workflows/ci.yml': { build: { runs: 5, endpoints: { 'proxy.golang.org:443': 5, 'sum.golang.org:443': 4, 'uploads.example.com:443': 3 } } } },
          'acme/web': { '.github/workflows/ci.yml': { test: { runs: 3, endpoints: { 'github.com:443': 3, 'old.example.com:443': 2 } } } },
        }),
      },
      { git: true },
    );
    base = repo.commit('base');
    repo.write({
      'policies/core.yml': blockPolicy(['github.com']),
      // sum.golang.org's end moves into the past; uploads.example.com is a new exception until the 20th.
      'policies/api.yml': blockPolicy(['github.com', 'proxy.golang.org', ['sum.golang.org', '2026-12-01'], ['uploads.example.com', '2026-12-20']]),
      'policies/legacy.yml': blockPolicy(['github.com', ['old.example.com', '2026-11-15']]),
      'attachments.yml': attachmentsFile({ organizations: { acme: 'core' }, repositories: { 'acme/api': 'api', 'acme/web': 'legacy' } }),
    });
    head = repo.commit('head');
  });

  afterAll(() => repo.cleanup());

  it('JSON: expired at both sides is no difference, a date moved into the past removes the endpoint, a running exception carries its last day', async () => {
    const run = await runCli(['diff', '-C', repo.dir, base, head, '--at', AT, '--format', 'json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const review = JSON.parse(run.stdout) as ReviewJson;
    expect(review.at).toBe('2026-12-06T00:00:00.000Z');

    const scopes = Object.fromEntries(review.scopes.map((scope) => [`${scope.type} ${scope.key}`, scope]));
    // organization acme keeps core, whose only difference is an exception over at both sides.
    expect(Object.keys(scopes).sort()).toEqual(['repository acme/api', 'repository acme/web', 'workflow acme/api/.github/workflows/ci.yml', 'workflow acme/web/.github/workflows/ci.yml']);
    expect(scopes['repository acme/api']).toMatchObject({
      added: ['uploads.example.com:443'],
      removed: ['sum.golang.org:443'],
      until: { 'uploads.example.com:443': '2026-12-20' },
      risks: ['endpoints-removed'],
    });
    // core -> legacy: legacy's exception is over, so nothing is gained (nor lost: core's ended too).
    expect(scopes['repository acme/web']).toMatchObject({ before: { policy: 'core' }, after: { policy: 'legacy' }, added: [], removed: [] });
    expect(scopes['repository acme/web']!.until ?? {}).toEqual({});

    const policies = Object.fromEntries(review.policies.map((policy) => [policy.name, policy]));
    expect(policies['api']).toMatchObject({ endpointsAdded: ['uploads.example.com:443'], endpointsRemoved: ['sum.golang.org:443'], risks: ['endpoints-removed'], until: { 'uploads.example.com:443': '2026-12-20' } });
    expect(policies['api']!.changed).toContainEqual({ key: 'expires sum.golang.org:443', before: '2027-06-30', after: '2026-12-01', weakens: false });
    // The clean-up and the date change of an exception that is over: listed, no endpoint, no risk.
    expect(policies['core']).toMatchObject({ endpointsAdded: [], endpointsRemoved: [], risks: [], expired: [{ endpoint: 'stale.example.com:443', before: '2026-10-31', after: null }] });
    expect(policies['legacy']).toMatchObject({ endpointsAdded: [], endpointsRemoved: [], risks: [], changed: [], expired: [{ endpoint: 'old.example.com:443', before: '2026-11-30', after: '2026-11-15' }] });
    expect(review.risks).toEqual([expect.objectContaining({ kind: 'endpoints-removed', policies: ['api'], scopes: 2 })]);

    // The forecast agrees: sum.golang.org breaks now, old.example.com was blocked at the base already.
    expect(review.breakage).toEqual([expect.objectContaining({ key: 'acme/api/.github/workflows/ci.yml#build', endpoints: ['sum.golang.org:443'] })]);
    expect(review.breakageLater).toEqual([]);
    // The firewall files as sync would write them today: acme/web's stays github.com only.
    expect(review.firewall).toEqual([{ repository: 'acme/api', changes: ['allow added: uploads.example.com (allowed until 2026-12-20)', 'allow dropped: sum.golang.org'], warnings: [] }]);
  });

  it('text and markdown show the last day of an exception in the preview, and nothing of exceptions that are over', async () => {
    const text = (await runCli(['diff', '-C', repo.dir, base, head, '--at', AT])).stdout;
    const preview = section(text, 'Precedence preview:', 'Breakage forecast:');
    expect(preview).toContain('+ endpoint uploads.example.com:443 (allowed until 2026-12-20)');
    expect(preview).toContain('- endpoint sum.golang.org:443');
    expect(preview).not.toMatch(/old\.example\.com|stale\.example\.com/);
    const policies = section(text, 'Policies (', 'Attachments (');
    expect(policies).toContain('+ endpoint uploads.example.com:443 (allowed until 2026-12-20)');
    expect(policies).toContain('expired exception deleted: stale.example.com:443 (last day 2026-10-31; no effect as of 2026-12-06)');

    const markdown = (await runCli(['diff', '-C', repo.dir, base, head, '--at', AT, '--format', 'markdown'])).stdout;
    expect(markdownProblems(markdown)).toEqual([]);
    const mdPreview = section(markdown, '### Precedence preview', '### Breakage forecast');
    expect(mdPreview).toContain('`uploads.example.com:443` allowed until 2026-12-20');
    expect(mdPreview).toContain('− `sum.golang.org:443`');
    expect(mdPreview).not.toMatch(/old\.example\.com|stale\.example\.com/);
    expect(markdown).not.toContain('old.example.com` allowed');
  });

  it('on a day when the new exception is over too, it is neither added nor allowed', async () => {
    const review = JSON.parse((await runCli(['diff', '-C', repo.dir, base, head, '--at', '2026-12-21', '--format', 'json'])).stdout) as ReviewJson;
    const api = review.scopes.find((scope) => scope.key === 'acme/api');
    expect(api).toMatchObject({ added: [], removed: ['sum.golang.org:443'] });
    expect(review.policies.find((policy) => policy.name === 'api')).toMatchObject({ endpointsAdded: [], expired: [{ endpoint: 'uploads.example.com:443', before: null, after: '2026-12-20' }] });
    expect(review.firewall).toEqual([{ repository: 'acme/api', changes: ['allow dropped: sum.golang.org'], warnings: [] }]);
  });
});

describe('end dates in the precedence preview', () => {
  it('says when a scope keeps an endpoint but the head allows it only until a day (and the other way round)', () => {
    const files = (release: string) => ({
      'policies/permanent.yml': blockPolicy(['github.com', 'ghcr.io']),
      'policies/temporary.yml': blockPolicy(['github.com', ['ghcr.io', '2026-12-20']]),
      'attachments.yml': attachmentsFile({ repositories: { 'acme/api': 'permanent' }, workflows: { 'acme/api/.github/workflows/release.yml': release } }),
    });
    const review = reviewChange(inputFromFiles(files('permanent'), 'main'), inputFromFiles(files('temporary'), 'head'), { at: new Date('2026-12-06T09:00:00Z') });
    expect(review.scopes).toEqual([
      expect.objectContaining({ key: 'acme/api/.github/workflows/release.yml', added: [], removed: [], endDates: [{ key: 'expires ghcr.io:443', before: null, after: '2026-12-20', weakens: false }] }),
    ]);
    expect(review.scopeGroups[0]).toMatchObject({ endDates: [{ key: 'expires ghcr.io:443', before: null, after: '2026-12-20' }] });
    const markdown = renderMarkdown(review);
    expect(markdownProblems(markdown)).toEqual([]);
    expect(markdown).toContain('| 1 | workflow attachments moved: permanent \\(block\\) → temporary \\(block\\) | 1 | ±0 | expires ghcr.io:443: unset → 2026-12-20 |');
    expect(renderText(review)).toContain('      expires ghcr.io:443: unset → 2026-12-20');
    // Back to the permanent policy: the exception becomes permanent, which keeps the endpoint longer.
    const back = reviewChange(inputFromFiles(files('temporary'), 'main'), inputFromFiles(files('permanent'), 'head'), { at: new Date('2026-12-06T09:00:00Z') });
    expect(back.scopes[0]?.endDates).toEqual([{ key: 'expires ghcr.io:443', before: '2026-12-20', after: null, weakens: true }]);
    expect(renderText(back)).toContain('      ! expires ghcr.io:443: 2026-12-20 → unset');
  });
});

describe('the policy diff through extends, as of the review\'s instant', () => {
  const AT = new Date('2026-12-06T09:00:00Z');
  const files = (parentEnd: string) => ({
    'policies/base.yml': blockPolicy(['github.com', ['sum.golang.org', parentEnd]]),
    'policies/api.yml': 'egress-policy: block\nextends: base\nallowed-endpoints:\n  - proxy.golang.org\n',
    'attachments.yml': attachmentsFile({ repositories: { 'acme/api': 'api' } }),
  });

  it('a parent\'s end date moved into the past removes the endpoint from its children too', () => {
    const review = reviewChange(inputFromFiles(files('2027-06-30'), 'main'), inputFromFiles(files('2026-12-01'), 'head'), { at: AT });
    const api = review.policies.find((policy) => policy.name === 'api');
    expect(api).toMatchObject({ inheritedOnly: true, changedAncestors: ['base'], endpointsRemoved: ['sum.golang.org:443'], risks: ['endpoints-removed'] });
    expect(review.scopes).toEqual([expect.objectContaining({ key: 'acme/api', removed: ['sum.golang.org:443'] })]);
  });

  it('a parent\'s end date still ahead changes no scope; one over at both sides changes nothing at all', () => {
    const ahead = reviewChange(inputFromFiles(files('2027-06-30'), 'main'), inputFromFiles(files('2027-01-31'), 'head'), { at: AT });
    expect(ahead.scopes).toEqual([]);
    expect(ahead.policies.map((policy) => [policy.name, policy.changed.map((change) => change.key)])).toEqual([['base', ['expires sum.golang.org:443']]]);
    const over = reviewChange(inputFromFiles(files('2026-11-01'), 'main'), inputFromFiles(files('2026-11-30'), 'head'), { at: AT });
    expect(over.scopes).toEqual([]);
    expect(over.risks).toEqual([]);
    expect(over.policies).toEqual([expect.objectContaining({ name: 'base', changed: [], expired: [{ endpoint: 'sum.golang.org:443', before: '2026-11-01', after: '2026-11-30' }] })]);
  });
});
