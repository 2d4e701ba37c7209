import { describe, expect, it } from 'vitest';
import type { Attachment, Policy } from '../../src/policy/model.js';
import { escapeMarkdown, renderJson, renderMarkdown, renderText, reviewChange, type Review, type ReviewInput } from '../../src/review/index.js';
import { attachmentsFile, baselineFiles, inputFromFiles, markdownProblems, memoryAttachment, memoryBaselines, memoryPolicy, policyFile, type BaselineSpec } from '../support/review.js';

/**
 * A change to everything at once: 400 policies edited, every organization re-attached, every
 * repository attachment of 5 organizations removed, new workflow attachments, and baselines whose
 * jobs use endpoints the new policies drop.
 */
function hugeChange(): { base: ReviewInput; head: ReviewInput } {
  const organizations = Array.from({ length: 20 }, (_, index) => `org-${index}`);
  const repositories = Array.from({ length: 5_000 }, (_, index) => `${organizations[index % 20]}/repository-with-a-long-name-${index}`);
  const names = Array.from({ length: 400 }, (_, index) => `policy-${index}`);
  const endpoints = (index: number, shift: number) => Array.from({ length: 40 }, (_, slot) => `svc-${(index * 7 + slot + shift) % 3000}.corp.example.com:443`);
  const basePolicies = new Map<string, Policy>(names.map((name, index) => [name, memoryPolicy(name, { mode: index % 2 ? 'block' : 'audit', endpoints: endpoints(index, 0) })]));
  const headPolicies = new Map<string, Policy>(names.map((name, index) => [name, memoryPolicy(name, { mode: 'block', endpoints: [...endpoints(index, 3), `*.zone-${index}.example.net:443`] })]));
  const baseAttachments: Attachment[] = [
    ...organizations.map((org, index) => memoryAttachment('organization', org, names[index] as string)),
    ...repositories.map((repository, index) => memoryAttachment('repository', repository, names[index % 400] as string)),
  ];
  const headAttachments: Attachment[] = [
    ...organizations.map((org, index) => memoryAttachment('organization', org, names[(index + 1) % 400] as string)),
    ...repositories.filter((_, index) => index % 20 >= 5).map((repository, index) => memoryAttachment('repository', repository, names[(index + 13) % 400] as string)),
    ...repositories.slice(0, 2_000).map((repository, index) => memoryAttachment('workflow', `${repository}/.github/workflows/release.yml`, names[(index + 29) % 400] as string)),
  ];
  const spec: BaselineSpec = {};
  repositories.slice(0, 3_000).forEach((repository, index) => {
    spec[repository] = { '.github/workflows/ci.yml': { build: { runs: 10, endpoints: Object.fromEntries(endpoints(index % 400, 0).slice(0, 6).map((endpoint) => [endpoint, 1 + (index % 10)])) } } };
  });
  const baselines = memoryBaselines(spec);
  return {
    base: { label: 'main', policies: basePolicies, attachments: baseAttachments, baselines },
    head: { label: 'big-change', policies: headPolicies, attachments: headAttachments, baselines },
  };
}

describe('renderMarkdown', () => {
  const huge = hugeChange();
  const review = reviewChange(huge.base, huge.head);

  it('stays under 65,536 characters with whole tables and says what it left out', () => {
    expect(review.scopes.length).toBeGreaterThan(5_000);
    expect(review.breakage.length).toBeGreaterThan(1_000);
    const full = renderMarkdown(review, { maxLength: Number.MAX_SAFE_INTEGER });
    expect(full.length).toBeGreaterThan(65_536);

    const markdown = renderMarkdown(review);
    expect(markdown.length).toBeLessThanOrEqual(65_536);
    expect(markdown.length).toBeGreaterThan(20_000); // It summarizes; it does not give up.
    expect(markdownProblems(markdown)).toEqual([]);
    expect(markdown.split('\n')[0]).toBe(`**${escapeMarkdown(review.summary.text)}**`);
    expect(review.summary.text).toMatch(/^400 policies changed, [\d,]+ attachments changed, [\d,]+ scopes change effective policy, [\d,]+ jobs would break$/);
    expect(markdown).toContain('**Left out** to fit');
    expect(markdown).toContain('`egressctl diff main big-change --format json` shows all of it');
    // Grouped: by cause, by organization, by transition.
    expect(markdown).toContain('| Why | Scopes | Transitions | Organizations |');
    expect(markdown).toContain('By organization: 20 organizations');
    expect(markdown).toContain('**Transitions**');
  });

  it('fits smaller limits too, down to the counts alone', () => {
    for (const maxLength of [30_000, 8_000]) {
      const markdown = renderMarkdown(review, { maxLength, command: 'egressctl diff A B --format json' });
      expect(markdown.length).toBeLessThanOrEqual(maxLength);
      expect(markdownProblems(markdown)).toEqual([]);
      expect(markdown).toContain('`egressctl diff A B --format json`');
    }
    const tiny = renderMarkdown(review, { maxLength: 600, command: 'egressctl diff A B --format json' });
    expect(tiny.length).toBeLessThanOrEqual(600);
    expect(tiny).toContain(review.summary.text.slice(0, 20));
    expect(tiny).toContain('`egressctl diff A B --format json` shows all of it');
  });

  it('renders a small review whole, with nothing left out', () => {
    const base = {
      'policies/core.yml': policyFile({ endpoints: ['ghcr.io:443'] }),
      'policies/api.yml': policyFile({ mode: 'audit', extends: ['core'], endpoints: ['proxy.golang.org:443'] }),
      'attachments.yml': attachmentsFile({ organizations: { acme: 'api' } }),
    };
    const head = { ...base, 'policies/api.yml': policyFile({ mode: 'block', extends: ['core'], endpoints: ['sum.golang.org:443'] }) };
    const small = reviewChange(inputFromFiles(base, 'main'), inputFromFiles(head, 'HEAD'));
    const markdown = renderMarkdown(small);
    expect(markdownProblems(markdown)).toEqual([]);
    expect(markdown).not.toContain('Left out');
    expect(markdown.split('\n')[0]).toBe('**1 policy changed, 1 scope changes effective policy, no baselines to forecast breakage**');
    expect(markdown).toContain('| `api` | changed | audit → block | +1 −1 | audit → block, endpoints removed |');
    expect(markdown).toContain('```diff\n+ endpoint sum.golang.org:443\n- endpoint proxy.golang.org:443\n```');
    expect(markdown).toContain('| organization `acme` | `api` (audit) | `api` (block) | + `sum.golang.org:443`<br>− `proxy.golang.org:443` | policy api changed |');
    expect(markdown).toContain('_No baselines (or no jobs in them): nothing to forecast from._');
  });
});

describe('escaping', () => {
  // As hostile as a valid workflow key gets (no whitespace: GitHub's workflow_ref could not match it).
  const hostile = 'acme/api/.github/workflows/a|b<script>alert(1)<img+onerror=x>.yml';
  const base = {
    'policies/api.yml': policyFile({ description: 'plain', endpoints: ['proxy.golang.org:443'] }),
    'attachments.yml': attachmentsFile({ repositories: { 'acme/api': 'api' } }),
  };
  const head = {
    'policies/api.yml': policyFile({ description: 'pwn <img src=x onerror=alert(1)> | `code` @acme/security [x](javascript:alert(1))', endpoints: ['proxy.golang.org:443'] }),
    'attachments.yml': attachmentsFile({ repositories: { 'acme/api': 'api' }, workflows: { [hostile]: 'api' } }),
  };
  const review: Review = reviewChange(inputFromFiles(base, 'main'), inputFromFiles(head, 'feature'));

  it('keeps tables whole and HTML inert for keys and descriptions', () => {
    expect(review.attachments.map((change) => change.key)).toEqual([hostile]);
    const markdown = renderMarkdown(review);
    expect(markdownProblems(markdown)).toEqual([]);
    expect(markdown).not.toMatch(/<script|<img|\]\(javascript/i);
    expect(markdown).toContain('&lt;script&gt;');
    expect(markdown).toContain('a\\|b');
    expect(markdown).not.toMatch(/@acme\/security/);
    expect(markdown).toContain('@&#8203;acme/security');
  });

  it('escapes Markdown and HTML specials, and keeps text on one line', () => {
    expect(escapeMarkdown('a|b')).toBe('a\\|b');
    expect(escapeMarkdown('<b>&</b>')).toBe('&lt;b&gt;&amp;&lt;/b&gt;');
    expect(escapeMarkdown('x\n| y')).toBe('x \\| y');
    expect(escapeMarkdown('*bold* _it_ `c`')).toBe('\\*bold\\* \\_it\\_ \\`c\\`');
  });

  it('keeps control characters out of the terminal rendering', () => {
    const text = renderText(review);
    expect(text).toContain('workflow acme/api/.github/workflows/a|b<script>');
    // eslint-disable-next-line no-control-regex -- asserting their absence
    expect(text).not.toMatch(/[\u0000-\u0008\u001b]/);
  });
});

describe('renderText and renderJson', () => {
  const huge = hugeChange();
  const review = reviewChange(huge.base, huge.head);

  it('lists a bounded number of rows per group unless asked for all', () => {
    const text = renderText(review);
    expect(text.split('\n')[0]).toBe(review.summary.text);
    expect(text).toMatch(/rows left out: --all or --format json show all of them/);
    const all = renderText(review, { maxRows: 0 });
    expect(all).not.toContain('rows left out');
    expect(all.split('\n').length).toBeGreaterThan(review.scopes.length);
  });

  it('emits the JSON contract', () => {
    const json = JSON.parse(renderJson(review)) as Record<string, unknown[]>;
    for (const key of ['policies', 'attachments', 'scopes', 'breakage']) expect(Array.isArray(json[key])).toBe(true);
    const policy = json.policies?.[0] as Record<string, unknown>;
    expect(Object.keys(policy)).toEqual(expect.arrayContaining(['name', 'change', 'endpointsAdded', 'endpointsRemoved', 'modeBefore', 'modeAfter']));
    const scope = json.scopes?.[0] as Record<string, unknown>;
    expect(Object.keys(scope)).toEqual(expect.arrayContaining(['type', 'key', 'before', 'after', 'added', 'removed']));
    const job = json.breakage?.[0] as Record<string, unknown>;
    expect(Object.keys(job)).toEqual(expect.arrayContaining(['repository', 'workflow', 'job', 'endpoints', 'runs']));
    expect(json.scopes).toHaveLength(review.scopes.length);
  });
});

describe('future breakage from expiring exceptions', () => {
  const baselines = baselineFiles({ 'acme/api': { '.github/workflows/ci.yml': { build: { runs: 6, endpoints: { 'github.com:443': 6, 'sum.golang.org:443': 5 } } } } });
  const base = { 'policies/org.yml': policyFile({ mode: 'audit' }), 'attachments.yml': attachmentsFile({ organizations: { acme: 'org' } }), ...baselines };
  const head = {
    ...base,
    'policies/org.yml': 'egress-policy: block\nallowed-endpoints:\n  - github.com:443\n  - endpoint: sum.golang.org\n    reason: until the module proxy mirror is up\n    expires: 2026-12-31\n',
  };
  const review = reviewChange(inputFromFiles(base, 'main'), inputFromFiles(head, 'feature'), { at: new Date('2026-12-06T00:00:00Z') });

  it('lists the jobs and the day each endpoint stops being allowed, in every rendering', () => {
    expect(review.breakage).toEqual([]);
    const markdown = renderMarkdown(review);
    expect(markdownProblems(markdown)).toEqual([]);
    expect(markdown).toContain('### Breaking when exceptions expire: 1 job');
    expect(markdown).toContain('| `acme/api` | `.github/workflows/ci.yml` | `build` | `sum.golang.org:443` after 2026-12-31 | `org` (audit) → `org` (block) |');
    expect(markdown).toContain('forecast as of 2026-12-06');
    const text = renderText(review);
    expect(text).toContain('Breaking when exceptions expire (as of 2026-12-06): 1 job');
    expect(text).toContain('  acme/api .github/workflows/ci.yml#build: sum.golang.org:443 after 2026-12-31 (5 of 6 runs); org (audit) -> org (block)');
    const json = JSON.parse(renderJson(review)) as Pick<Review, 'at' | 'breakageLater' | 'summary'>;
    expect(json.at).toBe('2026-12-06T00:00:00.000Z');
    expect(json.breakageLater).toEqual([expect.objectContaining({ key: 'acme/api/.github/workflows/ci.yml#build', expires: '2026-12-31', endpoints: [{ endpoint: 'sum.golang.org:443', expires: '2026-12-31', runs: 5 }] })]);
    expect(json.summary.text).toBe('1 policy changed, 3 scopes change effective policy, 0 jobs would break, 1 job when exceptions expire (first after 2026-12-31)');
  });
});
