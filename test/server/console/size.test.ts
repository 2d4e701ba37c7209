/**
 * Page sizes on an enterprise-sized bundle (5,000 repositories, 20,000 workflows, 2,000
 * policies) and on worst cases built on purpose: every page stays under 200 KB.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { generateEnterprise } from '../../../bench/enterprise.js';
import { buildBundle, buildRepositoryBundle, type Bundle } from '../../../src/bundle/build.js';
import { buildBaselineIndex } from '../../../src/baselines/recommend.js';
import { emptyJobBaseline, type BaselineFile } from '../../../src/baselines/model.js';
import type { HistoryEvent } from '../../../src/history/model.js';
import { parsePolicyRepository } from '../../../src/store/repository.js';
import { DEFAULT_SETTINGS } from '../../../src/policy/model.js';
import type { PolicyRepository } from '../../../src/store/repository.js';
import { buildSnapshot, groupHistory, type ConsoleSnapshot } from '../../../src/server/console/model.js';
import { renderBaselineList, renderBaselineRepository, summarizeBaselines } from '../../../src/server/console/render-baselines.js';
import { renderHistory } from '../../../src/server/console/render-history.js';
import { renderPage, type PageBody, type PageContext } from '../../../src/server/console/render-layout.js';
import { renderLookup } from '../../../src/server/console/render-lookup.js';
import { renderPolicy } from '../../../src/server/console/render-policy.js';
import { renderStore } from '../../../src/server/console/render-store.js';

const LIMIT = 200 * 1024;
const NOW = new Date('2024-06-01T00:00:00Z');
const context: PageContext = {
  now: NOW,
  revision: 'f'.repeat(40),
  committedAt: '2024-05-01T00:00:00Z',
  degraded: { reason: 'verification', message: 'a refused bundle', at: '2024-05-02T00:00:00Z' },
  sourceKind: 'git',
  links: { githubUrl: 'https://github.com', repository: 'acme/policies' },
  stylesheet: '/static/console.css?v=x',
};

function bytes(body: PageBody): number {
  return Buffer.byteLength(renderPage(context, body));
}

let repository: PolicyRepository;
let bundle: Bundle;
let snapshot: ConsoleSnapshot;

beforeAll(() => {
  const enterprise = generateEnterprise();
  const parsed = parsePolicyRepository(enterprise.files);
  expect(parsed.errors).toEqual([]);
  repository = parsed.value;
  bundle = buildRepositoryBundle(repository, { revision: 'f'.repeat(40), committedAt: '2024-05-01T00:00:00Z' });
  snapshot = buildSnapshot(bundle, { files: repository.files, baselines: repository.baselines, settings: repository.settings });
}, 120_000);

describe('enterprise bundle', () => {
  it('store pages hold 100 policies and stay small', () => {
    expect(snapshot.summaries).toHaveLength(2000);
    const first = renderStore(snapshot.summaries, { query: '', mode: '', scope: '' }, 1);
    expect(first.content.value).toContain('Showing 1–100 of 2,000 policies');
    expect(bytes(first)).toBeLessThan(LIMIT);
    expect(bytes(renderStore(snapshot.summaries, { query: 'policy-1', mode: 'block', scope: 'repository' }, 3))).toBeLessThan(LIMIT);
  });

  it('every policy page stays small, and renders fast', () => {
    let largest = 0;
    const started = performance.now();
    for (const name of Object.keys(bundle.policies)) {
      const file = `policies/${name}.yml`;
      const body = renderPolicy({
        policy: bundle.policies[name]!,
        policies: bundle.policies,
        index: snapshot.index,
        yaml: { text: repository.files.get(file) ?? '', file },
        historyAvailable: true,
        page: 1,
      });
      largest = Math.max(largest, bytes(body));
    }
    const perPage = (performance.now() - started) / 2000;
    expect(largest).toBeLessThan(LIMIT);
    expect(perPage).toBeLessThan(20);
  });

  it('lookup pages stay small', () => {
    const workflow = Object.keys(bundle.attachments.workflows)[0]!;
    const [owner, repo] = workflow.split('/');
    const body = renderLookup(bundle, { org: '', repository: `${owner}/${repo}`, workflow, cluster: 'arc-prod' }, DEFAULT_SETTINGS.hardenRunner);
    expect(body.content.value).toContain('wins, attached to');
    expect(bytes(body)).toBeLessThan(LIMIT);
  });
});

describe('worst cases', () => {
  it('a policy attached to 500 organizations, each with many more specific attachments, with 5,000 endpoints', () => {
    const organizations: Record<string, string> = {};
    const repositories: Record<string, string> = {};
    const workflows: Record<string, string> = {};
    for (let org = 0; org < 500; org++) {
      organizations[`org-${org}`] = 'wide';
      for (let repo = 0; repo < 30; repo++) {
        repositories[`org-${org}/repo-${repo}`] = 'other';
        workflows[`org-${org}/repo-${repo}/.github/workflows/ci.yml`] = 'wide';
      }
    }
    const endpoints = Array.from({ length: 5000 }, (_, index) => `service-${index}.internal.example.com:443`);
    const wide = buildBundle({
      revision: 'e'.repeat(40),
      committedAt: '2024-05-01T00:00:00Z',
      policies: {
        wide: { name: 'wide', 'egress-policy': 'block', 'allowed-endpoints': endpoints, description: 'd'.repeat(2000) },
        other: { name: 'other', 'egress-policy': 'audit', 'allowed-endpoints': [] },
      },
      attachments: { organizations, repositories, workflows, clusters: {} },
    });
    const wideSnapshot = buildSnapshot(wide, undefined, 'none');
    const yaml = `allowed-endpoints:\n${endpoints.map((endpoint) => `  - ${endpoint}`).join('\n')}\n`;
    for (const page of [1, 2, 200]) {
      const body = renderPolicy({ policy: wide.policies['wide']!, policies: wide.policies, index: wideSnapshot.index, yaml: { text: yaml, file: 'policies/wide.yml' }, historyAvailable: true, page });
      expect(bytes(body)).toBeLessThan(LIMIT);
    }
    expect(bytes(renderStore(wideSnapshot.summaries, { query: '', mode: '', scope: '' }, 1))).toBeLessThan(LIMIT);
  });

  it('a history of large diffs and of commits attaching thousands of scopes', () => {
    const bigDiff = ['--- a/policies/p.yml', '+++ b/policies/p.yml', '@@ -1,2000 +1,2000 @@'];
    for (let line = 0; line < 2000; line++) bigDiff.push(`-  - old-${line}.example.com:443 # ${'x'.repeat(60)}`, `+  - new-${line}.example.com:443 # ${'y'.repeat(60)}`);
    const events: HistoryEvent[] = [];
    for (let commit = 0; commit < 60; commit++) {
      const base = { commit: commit.toString(16).padStart(40, '0'), author: 'A'.repeat(100), authorEmail: 'a@example.com', date: '2024-05-01T00:00:00Z', pr: commit, subject: 'S'.repeat(300), notes: [] };
      events.push({ ...base, type: 'updated', policy: `p-${commit}`, scope: null, diff: { endpointsAdded: [], endpointsRemoved: [], changed: [], delta: null, text: bigDiff } });
      for (let scope = 0; scope < 3000; scope++) {
        events.push({ ...base, type: 'attached', policy: `p-${commit}`, scope: { type: 'workflow', key: `org/repo-${scope}/.github/workflows/ci.yml` }, diff: null });
      }
    }
    const entries = groupHistory(events);
    expect(entries).toHaveLength(120);
    for (const page of [1, 3]) {
      expect(bytes(renderHistory({ history: { entries, truncatedAt: undefined }, policy: undefined, policyExists: false, page, links: context.links, now: NOW }))).toBeLessThan(LIMIT);
    }
    const detail = renderHistory({ history: { entries, truncatedAt: undefined }, policy: 'p-0', policyExists: true, commit: entries[0]!.commit, page: 1, links: context.links, now: NOW });
    expect(bytes(detail)).toBeLessThan(LIMIT);
  });

  it('baselines: 5,000 repositories, and a repository with 100 jobs of 300 endpoints each', () => {
    const files: BaselineFile[] = [];
    for (let index = 0; index < 5000; index++) {
      const job = emptyJobBaseline();
      job.runs = 3;
      files.push({ repository: `org-${index % 20}/repo-${index}`, workflows: new Map([['.github/workflows/ci.yml', new Map([['build', job]])]]) });
    }
    const seen = { runs: 7, firstSeen: '2024-05-01T00:00:00Z', lastSeen: '2024-05-20T00:00:00Z' };
    const workflows = new Map<string, Map<string, ReturnType<typeof emptyJobBaseline>>>();
    for (let workflow = 0; workflow < 10; workflow++) {
      const jobs = new Map<string, ReturnType<typeof emptyJobBaseline>>();
      for (let jobIndex = 0; jobIndex < 10; jobIndex++) {
        const job = emptyJobBaseline();
        job.runs = 7;
        job.lastSeen = seen.lastSeen;
        for (let endpoint = 0; endpoint < 300; endpoint++) job.endpoints.set(`endpoint-${endpoint}.very-long-service-name.example.com:443`, seen);
        jobs.set(`job-${jobIndex}`, job);
      }
      workflows.set(`.github/workflows/workflow-${workflow}.yml`, jobs);
    }
    files.push({ repository: 'org-0/huge', workflows });
    const index = buildBaselineIndex(files);
    const list = renderBaselineList(summarizeBaselines(index), '', 1, NOW);
    expect(list.content.value).toContain('Showing 1–100 of 5,001 repositories');
    expect(bytes(list)).toBeLessThan(LIMIT);
    const jobs = index.jobs.filter((job) => job.repository === 'org-0/huge');
    expect(jobs).toHaveLength(100);
    expect(bytes(renderBaselineRepository('org-0/huge', jobs, bundle, 1, NOW))).toBeLessThan(LIMIT);
  });
});
