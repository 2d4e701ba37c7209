import { describe, expect, it } from 'vitest';
import { buildBundle, type Bundle } from '../../../src/bundle/build.js';
import type { HistoryEvent } from '../../../src/history/model.js';
import { DEFAULT_SETTINGS, type CompiledPolicy } from '../../../src/policy/model.js';
import { commitHtml, relativeTime, utcText } from '../../../src/server/console/format.js';
import { escapeHtml, href, html, raw } from '../../../src/server/console/html.js';
import { repositoryFromRemote } from '../../../src/server/console/load.js';
import { buildSnapshot, filterPolicies, groupHistory, paginate, shadowingOf } from '../../../src/server/console/model.js';
import { renderHistory, sideBySideRows, LIST_LIMITS } from '../../../src/server/console/render-history.js';
import { renderPage, type PageContext } from '../../../src/server/console/render-layout.js';
import { lookupProblems, renderLookup, withBlockYaml } from '../../../src/server/console/render-lookup.js';
import { renderPolicy } from '../../../src/server/console/render-policy.js';
import { renderStore } from '../../../src/server/console/render-store.js';
import { readableReason, renderSync, variableLookup } from '../../../src/server/console/render-sync.js';
import type { SyncReportFile, SyncStatus } from '../../../src/rollout/sync-report.js';

const NOW = new Date('2024-05-04T12:00:00Z');
const SCRIPT = '<script>alert("x")</script>';

function policy(name: string, mode: 'audit' | 'block', endpoints: string[], extra: Partial<CompiledPolicy> = {}): CompiledPolicy {
  return { name, 'egress-policy': mode, 'allowed-endpoints': endpoints, ...extra };
}

function sampleBundle(): Bundle {
  return buildBundle({
    revision: 'a'.repeat(40),
    committedAt: '2024-05-01T12:00:00Z',
    policies: {
      base: policy('base', 'block', ['github.com:443', 'objects.githubusercontent.com:443'], { description: `base ${SCRIPT}` }),
      api: policy('api', 'block', ['github.com:443', 'objects.githubusercontent.com:443', 'registry.npmjs.org:443'], { extends: ['base'] }),
      audit: policy('audit', 'audit', []),
      lonely: policy('lonely', 'block', ['example.com:443']),
    },
    attachments: {
      clusters: { 'arc-prod': 'audit' },
      organizations: { acme: 'audit' },
      repositories: { 'acme/api': 'api', 'acme/web': 'audit' },
      workflows: { 'acme/api/.github/workflows/release.yml': 'base', 'acme/api/.github/workflows/ci.yml': 'api' },
    },
  });
}

function context(overrides: Partial<PageContext> = {}): PageContext {
  return {
    now: NOW,
    revision: 'a'.repeat(40),
    committedAt: '2024-05-01T12:00:00Z',
    degraded: undefined,
    sourceKind: 'git',
    links: { githubUrl: 'https://github.com', repository: 'acme/policies' },
    stylesheet: '/static/console.css?v=1',
    ...overrides,
  };
}

function event(overrides: Partial<HistoryEvent>): HistoryEvent {
  return {
    type: 'updated',
    policy: 'base',
    scope: null,
    commit: 'b'.repeat(40),
    author: 'Ada',
    authorEmail: 'ada@example.com',
    date: '2024-05-01T12:00:00Z',
    pr: 12,
    diff: null,
    subject: 'Change base (#12)',
    notes: [],
    ...overrides,
  };
}

describe('html', () => {
  it('escapes interpolated text, arrays of text, and leaves Html alone', () => {
    const fragment = html`<p title="${'"quoted" & \'single\''}">${SCRIPT}${[SCRIPT, raw('<b>ok</b>')]}${null}${undefined}${false}${3}</p>`;
    expect(fragment.value).toBe(
      '<p title="&quot;quoted&quot; &amp; &#39;single&#39;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;<b>ok</b>3</p>',
    );
    expect(escapeHtml('a<b>&')).toBe('a&lt;b&gt;&amp;');
  });

  it('builds query strings from the non-empty parameters', () => {
    expect(href('/', { q: 'a b&c', mode: '', scope: undefined, page: 2 })).toBe('/?q=a+b%26c&page=2');
    expect(href('/lookup')).toBe('/lookup');
  });
});

describe('format', () => {
  it('says how long ago, in the largest whole unit', () => {
    expect(relativeTime('2024-05-01T12:00:00Z', NOW)).toBe('3 days ago');
    expect(relativeTime('2024-05-04T11:59:30Z', NOW)).toBe('just now');
    expect(relativeTime('2024-05-04T10:59:00Z', NOW)).toBe('1 hour ago');
    expect(relativeTime('2023-04-01T00:00:00Z', NOW)).toBe('1 year ago');
    expect(relativeTime('2024-05-06T12:00:00Z', NOW)).toBe('in 2 days');
    expect(utcText('2024-05-01T14:00:00+02:00')).toBe('2024-05-01 12:00:00 UTC');
  });

  it('links a commit only when the repository is known and the URL is http(s)', () => {
    const sha = 'c'.repeat(40);
    expect(commitHtml({ githubUrl: 'https://ghe.example.com/', repository: 'acme/policies' }, sha).value).toContain(
      `href="https://ghe.example.com/acme/policies/commit/${sha}"`,
    );
    expect(commitHtml({ githubUrl: 'https://github.com', repository: undefined }, sha).value).toBe(`<code title="${sha}">ccccccc</code>`);
    expect(commitHtml({ githubUrl: 'javascript:alert(1)', repository: 'acme/policies' }, sha).value).not.toContain('href');
  });

  it('reads owner/repo from an origin remote on the GitHub host', () => {
    expect(repositoryFromRemote('https://github.com/acme/policies.git\n', 'https://github.com')).toBe('acme/policies');
    expect(repositoryFromRemote('git@github.com:acme/policies.git', 'https://github.com')).toBe('acme/policies');
    expect(repositoryFromRemote('ssh://git@ghe.example.com/acme/policies', 'https://ghe.example.com')).toBe('acme/policies');
    expect(repositoryFromRemote('https://gitlab.com/acme/policies.git', 'https://github.com')).toBeUndefined();
    expect(repositoryFromRemote('/srv/git/policies', 'https://github.com')).toBeUndefined();
  });
});

describe('model', () => {
  const snapshot = buildSnapshot(sampleBundle(), undefined, 'no files');

  it('summarizes every policy with mode, flattened endpoint count and attachments by scope type', () => {
    const byName = Object.fromEntries(snapshot.summaries.map((summary) => [summary.name, summary]));
    expect(byName['api']).toMatchObject({ mode: 'block', endpoints: 3, attachedTotal: 2, attached: { workflow: 1, repository: 1, organization: 0, cluster: 0 } });
    expect(byName['audit']).toMatchObject({ attached: { repository: 1, organization: 1, cluster: 1 } });
    expect(byName['lonely']?.attachedTotal).toBe(0);
    expect(snapshot.summaries.map((summary) => summary.name)).toEqual(['api', 'audit', 'base', 'lonely']);
  });

  it('filters by name, mode and scope type', () => {
    const names = (filter: Parameters<typeof filterPolicies>[1]) => filterPolicies(snapshot.summaries, filter).map((summary) => summary.name);
    expect(names({ query: 'AP', mode: '', scope: '' })).toEqual(['api']);
    expect(names({ query: '', mode: 'audit', scope: '' })).toEqual(['audit']);
    expect(names({ query: '', mode: '', scope: 'none' })).toEqual(['lonely']);
    expect(names({ query: '', mode: '', scope: 'workflow' })).toEqual(['api', 'base']);
    expect(names({ query: 'script', mode: '', scope: '' })).toEqual(['base']);
  });

  it('finds the more specific attachments that shadow each attachment', () => {
    const attachmentsOf = (name: string) => snapshot.index.byPolicy.get(name) ?? [];
    const repository = attachmentsOf('api').find((attachment) => attachment.type === 'repository')!;
    expect(shadowingOf(repository, snapshot.index).shadowedBy.map((item) => `${item.key}=${item.policy}`)).toEqual([
      'acme/api/.github/workflows/ci.yml=api',
      'acme/api/.github/workflows/release.yml=base',
    ]);
    const organization = attachmentsOf('audit').find((attachment) => attachment.type === 'organization')!;
    expect(shadowingOf(organization, snapshot.index).shadowedBy.map((item) => item.key)).toEqual([
      'acme/api/.github/workflows/ci.yml',
      'acme/api/.github/workflows/release.yml',
      'acme/api',
      'acme/web',
    ]);
    const workflow = attachmentsOf('base')[0]!;
    expect(shadowingOf(workflow, snapshot.index).shadowedBy).toEqual([]);
    const cluster = attachmentsOf('audit').find((attachment) => attachment.type === 'cluster')!;
    expect(shadowingOf(cluster, snapshot.index).clusterWide).toBe(true);
  });

  it('paginates with the page clamped to the range', () => {
    const items = Array.from({ length: 250 }, (_, index) => index);
    expect(paginate(items, 3, 100)).toMatchObject({ page: 3, pages: 3, total: 250, items: items.slice(200) });
    expect(paginate(items, 99, 100).page).toBe(3);
    expect(paginate(items, 0, 100).page).toBe(1);
    expect(paginate([], 1, 100)).toMatchObject({ page: 1, pages: 1, total: 0 });
  });

  it('groups one commit\'s attachment events of a policy into one entry', () => {
    const entries = groupHistory([
      event({ type: 'updated', policy: 'base' }),
      event({ type: 'detached', policy: 'audit', scope: { type: 'repository', key: 'acme/web' } }),
      event({ type: 'attached', policy: 'base', scope: { type: 'repository', key: 'acme/web' } }),
      event({ type: 'attached', policy: 'audit', scope: { type: 'repository', key: 'acme/cli' } }),
      event({ type: 'attached', policy: 'audit', scope: { type: 'organization', key: 'acme' }, commit: 'c'.repeat(40) }),
    ]);
    expect(entries.map((entry) => [entry.kind, entry.policy, entry.attached.length, entry.detached.length, entry.commit[0]])).toEqual([
      ['updated', 'base', 0, 0, 'b'],
      ['attachments', 'audit', 1, 1, 'b'],
      ['attachments', 'base', 1, 0, 'b'],
      ['attachments', 'audit', 1, 0, 'c'],
    ]);
  });
});

describe('pages', () => {
  const bundle = sampleBundle();
  const snapshot = buildSnapshot(bundle, undefined, 'no files');

  it('lays out every page with the revision, its age and the degraded banner', () => {
    const page = renderPage(
      context({ degraded: { reason: 'verification', message: `bad signature ${SCRIPT}`, at: '2024-05-04T11:00:00Z' } }),
      { title: `T ${SCRIPT}`, section: 'policies', content: html`<p>x</p>` },
    );
    expect(page).toMatch(/^<!doctype html>/);
    expect(page).toContain('aaaaaaa');
    expect(page).toContain('href="https://github.com/acme/policies/commit/' + 'a'.repeat(40));
    expect(page).toContain('(3 days ago)');
    expect(page).toContain('class="banner"');
    expect(page).toContain('bad signature &lt;script&gt;');
    expect(page).not.toContain('<script');
    expect(renderPage(context(), { title: 'x', section: 'policies', content: html`` })).not.toContain('class="banner"');
  });

  it('store: lists policies with attachments or "Not attached", filter form keeps its values', () => {
    const body = renderStore(snapshot.summaries, { query: '"><script>', mode: '', scope: '' }, 1).content.value;
    expect(body).toContain('value="&quot;&gt;&lt;script&gt;"');
    expect(body).toContain('No policy matches');
    const all = renderStore(snapshot.summaries, { query: '', mode: '', scope: '' }, 1).content.value;
    expect(all).toContain('Not attached');
    expect(all).toContain('1 workflow, 1 repository');
    expect(all).toContain('base &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(all).not.toContain('<script');
  });

  it('store: paginates 100 policies a page with links that keep the filters', () => {
    const many = Array.from({ length: 250 }, (_, index) => ({ ...snapshot.summaries[0]!, name: `p-${String(index).padStart(3, '0')}` }));
    const body = renderStore(many, { query: 'p-', mode: 'block', scope: '' }, 2).content.value;
    expect(body).toContain('Showing 101–200 of 250 policies');
    expect(body).toContain('href="/?q=p-&amp;mode=block&amp;page=3"');
    expect(body).toContain('href="/?q=p-&amp;mode=block"');
    expect(body.match(/<tr>\n<td>/g)).toHaveLength(100);
  });

  it('policy: YAML as written (escaped), flattened endpoints with their origin, attachments and shadowing', () => {
    const yaml = `description: "${SCRIPT}"\negress-policy: block\nextends: base\nallowed-endpoints: registry.npmjs.org\n`;
    const body = renderPolicy({ policy: bundle.policies['api']!, policies: bundle.policies, index: snapshot.index, yaml: { text: yaml, file: 'policies/api.yml' }, historyAvailable: true, page: 1 }).content.value;
    expect(body).toContain('description: &quot;&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&quot;');
    expect(body).not.toContain('<script');
    expect(body).toContain('<code>registry.npmjs.org:443</code></li>');
    expect(body).toContain('<code>github.com:443</code> <span class="muted">from base</span>');
    expect(body).toContain('href="/policies/api/export.txt"');
    expect(body).toContain('href="/policies/api/history"');
    // Attached to acme/api, shadowed by its two workflow attachments (one to itself).
    expect(body).toContain('except 2 more specific attachments (1 to another policy)');
    expect(body).toContain('<span class="muted">(same policy)</span>');
    expect(body).toContain('Wins for this workflow');
  });

  it('policy: says when it is not attached and when the YAML is not available', () => {
    const body = renderPolicy({ policy: bundle.policies['lonely']!, policies: bundle.policies, index: snapshot.index, yaml: { missing: 'needs a git source' }, historyAvailable: false, page: 1 }).content.value;
    expect(body).toContain('Not attached');
    expect(body).toContain('needs a git source');
    expect(body).not.toContain('/history');
  });

  it('lookup: the winner, the chain it shadowed and the with: block on one line', () => {
    const body = renderLookup(bundle, { org: '', repository: 'Acme/API', workflow: '.github/workflows/release.yml', cluster: 'arc-prod' }, DEFAULT_SETTINGS.hardenRunner).content.value;
    expect(body).toMatch(/<strong><a href="\/policies\/base">base<\/a><\/strong>.* wins, attached to .*acme\/api\/.github\/workflows\/release.yml/);
    expect(body.indexOf('class="winner"')).toBeLessThan(body.indexOf('class="shadowed"'));
    expect(body.match(/class="shadowed"/g)).toHaveLength(3);
    const text = body.replace(/<\/?span[^>]*>/g, '');
    expect(text).toContain('allowed-endpoints: github.com:443 objects.githubusercontent.com:443\n');
    expect(text).toContain(`step-security/harden-runner@${DEFAULT_SETTINGS.hardenRunner.sha} # ${DEFAULT_SETTINGS.hardenRunner.version}`);
  });

  it('lookup: no attachment means no policy; bad input is reported and echoed escaped', () => {
    expect(renderLookup(bundle, { org: 'other', repository: '', workflow: '', cluster: '' }, DEFAULT_SETTINGS.hardenRunner).content.value).toContain('No policy:');
    const bad = renderLookup(bundle, { org: '', repository: `x"><script>`, workflow: 'ci.yml', cluster: '' }, DEFAULT_SETTINGS.hardenRunner).content.value;
    expect(bad).toContain('role="alert"');
    expect(bad).not.toContain('<script');
    expect(lookupProblems({ org: '', repository: '', workflow: '.github/workflows/ci.yml', cluster: '' })).toEqual([
      'A workflow path relative to a repository (.github/workflows/F.yml) needs the repository too.',
    ]);
    expect(lookupProblems({ org: 'acme', repository: 'acme/api', workflow: 'acme/api/.github/workflows/ci.yml@refs/heads/main', cluster: 'arc' })).toEqual([]);
  });

  it('with: block never folds a long endpoint list', () => {
    const endpoints = Array.from({ length: 200 }, (_, index) => `host-${index}.example.com:443`).join(' ');
    const text = withBlockYaml({ 'egress-policy': 'block', 'allowed-endpoints': endpoints }, DEFAULT_SETTINGS.hardenRunner);
    expect(text).toContain(`allowed-endpoints: ${endpoints}\n`);
  });
});

describe('history', () => {
  const diffLines = ['--- a/policies/base.yml', '+++ b/policies/base.yml', '@@ -1,3 +1,3 @@', ' egress-policy: block', '-allowed-endpoints: a.com', '+allowed-endpoints: b.com', '+  # <script>', ' x: 1'];

  it('turns a unified diff into side-by-side rows', () => {
    const rows = sideBySideRows(diffLines);
    expect(rows[0]).toEqual({ kind: 'hunk', text: '@@ -1,3 +1,3 @@' });
    expect(rows[1]).toMatchObject({ left: { line: 1, changed: false }, right: { line: 1, changed: false } });
    expect(rows[2]).toMatchObject({ left: { line: 2, text: 'allowed-endpoints: a.com', changed: true }, right: { line: 2, text: 'allowed-endpoints: b.com', changed: true } });
    expect(rows[3]).toMatchObject({ left: undefined, right: { line: 3, text: '  # <script>' } });
    expect(rows[4]).toMatchObject({ left: { line: 3, text: 'x: 1' }, right: { line: 4, text: 'x: 1' } });
  });

  it('renders who, when, commit and PR links, escapes commit messages, authors and diffs', () => {
    const entries = groupHistory([
      event({
        subject: `Allow b.com ${SCRIPT} (#12)`,
        author: `Mallory ${SCRIPT}`,
        diff: { endpointsAdded: ['b.com:443'], endpointsRemoved: ['a.com:443'], changed: [], delta: null, text: diffLines },
      }),
      event({ type: 'attached', policy: 'base', scope: { type: 'repository', key: 'acme/web' }, pr: null }),
      event({ type: 'detached', policy: 'base', scope: { type: 'organization', key: 'acme' }, pr: null }),
    ]);
    const body = renderHistory({ history: { entries, truncatedAt: undefined }, policy: undefined, policyExists: false, page: 1, links: context().links, now: NOW }).content.value;
    expect(body).not.toContain('<script');
    expect(body).toContain('Allow b.com &lt;script&gt;');
    expect(body).toContain('Mallory &lt;script&gt;');
    expect(body).toContain(`href="https://github.com/acme/policies/commit/${'b'.repeat(40)}"`);
    expect(body).toContain('href="https://github.com/acme/policies/pull/12" rel="noreferrer">#12</a>');
    expect(body).toContain('(3 days ago)');
    expect(body).toContain('2024-05-01 12:00:00 UTC');
    expect(body).toContain('<td class="code del">-allowed-endpoints: a.com</td>');
    expect(body).toContain('<td class="code add">+  # &lt;script&gt;</td>');
    expect(body).toContain('Attached / Detached');
    expect(body).toMatch(/Attached to 1<\/h3><ul class="scopes"><li class="add">\+ .*acme\/web/);
    expect(body).toMatch(/Detached from 1<\/h3>.*organization/);
  });

  it('shows the short sha without a link when the repository is unknown, and paginates', () => {
    const events = Array.from({ length: 60 }, (_, index) => event({ commit: index.toString(16).padStart(40, '0'), diff: null }));
    const body = renderHistory({
      history: { entries: groupHistory(events), truncatedAt: undefined },
      policy: 'base',
      policyExists: true,
      page: 2,
      links: { githubUrl: 'https://github.com', repository: undefined },
      now: NOW,
    }).content.value;
    expect(body).not.toContain('/commit/');
    expect(body).toContain('Showing 21–40 of 60 changes');
    expect(body).toContain('href="/policies/base/history?page=3"');
  });

  it('cuts long changes in the list and links to the change in full', () => {
    const scopes = Array.from({ length: LIST_LIMITS.scopes + 5 }, (_, index) => event({ type: 'attached', scope: { type: 'repository', key: `acme/r-${index}` } }));
    const entries = groupHistory(scopes);
    const list = renderHistory({ history: { entries, truncatedAt: undefined }, policy: undefined, policyExists: false, page: 1, links: context().links, now: NOW }).content.value;
    expect(list).toContain('and 5 more');
    expect(list).toContain(`href="/policies/base/history/${'b'.repeat(40)}"`);
    const detail = renderHistory({ history: { entries, truncatedAt: undefined }, policy: 'base', policyExists: true, commit: 'bbbbbbb', page: 1, links: context().links, now: NOW }).content.value;
    expect(detail).not.toContain('more</li>');
    expect(detail).toContain(`acme/r-${LIST_LIMITS.scopes + 4}`);
  });

  it('explains when history is not available', () => {
    const body = renderHistory({ history: { missing: 'needs a git source' }, policy: undefined, policyExists: false, page: 1, links: context().links, now: NOW }).content.value;
    expect(body).toContain('needs a git source');
  });
});

describe('history cards (issue 23)', () => {
  it('one card per commit, however many policies the commit touched', () => {
    const sha = (char: string) => char.repeat(40);
    const entries = groupHistory([
      ...['a', 'b', 'c', 'd', 'e', 'f'].map((name) => event({ type: 'created', policy: name, commit: sha('c'), subject: 'Start the store (#1)' })),
      event({ type: 'updated', policy: 'a', commit: sha('d'), subject: 'Tighten a (#2)' }),
    ]);
    const body = renderHistory({ history: { entries, truncatedAt: undefined }, policy: undefined, policyExists: false, page: 1, links: context().links, now: NOW }).content.value;
    expect(body.match(/<article class="commit"/g)).toHaveLength(2);
    expect(body.match(/Start the store/g)).toHaveLength(1);
    expect(body.match(/<section class="change event kind-created"/g)).toHaveLength(6);
    expect(body).toContain('6 changes');
  });
});

describe('sync status (issue 23)', () => {
  it('describes step changes an older report stored as JSON, and leaves other text alone', () => {
    expect(readableReason('ci.yml job test: edited: {"field":"with.allowed-endpoints","from":"a:443","to":"b:443","added":["b:443"],"dropped":["a:443"]}; {"field":"marker","from":null,"to":"# egressctl: managed, policy p"}')).toBe(
      'ci.yml job test: edited: allowed-endpoints: +b:443 -a:443; marker: (absent) -> # egressctl: managed, policy p',
    );
    expect(readableReason('value {"not":"a change"} stays')).toBe('value {"not":"a change"} stays');
  });

  it('shows any state the report gives with a badge, and a failed variable write as failed', () => {
    const report: SyncReportFile = {
      version: 1,
      organizations: {
        acme: {
          organization: 'acme',
          at: '2026-12-01T12:00:00.000Z',
          dryRun: false,
          repositories: [
            { repository: 'acme/a', status: 'synced', pr: null, files: [], reasons: [] },
            // A state a newer sync model may write: shown as itself, with a badge.
            { repository: 'acme/b', status: 'failed' as SyncStatus, pr: null, files: [], reasons: ['GitHub answered 502'] },
            { repository: 'acme/c', status: 'error', pr: null, files: [], reasons: ['boom'] },
          ],
          variables: [{ level: 'repository', target: 'acme/a', name: 'EGRESSCTL_POLICY', value: null, status: 'error', reason: 'GitHub answered 403' }],
        },
      },
    };
    const body = renderSync(report, '').content.value;
    expect(body).toMatch(/data-repository="acme\/a" data-status="failed">.*<span class="badge error">failed<\/span>.*Actions variable EGRESSCTL_POLICY could not be written: GitHub answered 403/);
    expect(body).toMatch(/data-repository="acme\/b" data-status="failed">.*<span class="badge error">failed<\/span>/);
    expect(body).toMatch(/data-repository="acme\/c" data-status="error">.*<span class="badge error">error<\/span>/);
    expect(body).toContain('2 failed, 1 error');
    expect(renderSync(report, 'failed').content.value.match(/<tr data-repository=/g)).toHaveLength(2);
  });
});

describe('variableLookup without any variable set', () => {
  it('says the step gets the literal at the end of its chain, never that it falls back to audit', () => {
    const text = String(variableLookup(undefined, 'acme/api', [{ level: 'repository', target: 'acme/api', name: 'EGRESSCTL_REPO_POLICY' }]));
    expect(text).toContain('the step gets the policy written in it');
    expect(text).not.toContain('audit');
  });
});
