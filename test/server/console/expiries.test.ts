/** The console shows each policy's exceptions with their dates (docs/architecture.md#expiring-exceptions), over the fixture store's real bundle. */
import { describe, expect, it } from 'vitest';
import { buildRepositoryBundle } from '../../../src/bundle/build.js';
import { buildSnapshot } from '../../../src/server/console/model.js';
import { renderBaselineRepository } from '../../../src/server/console/render-baselines.js';
import { renderPolicy } from '../../../src/server/console/render-policy.js';
import { parsePolicyRepository } from '../../../src/store/repository.js';
import { exceptionsStoreFiles } from '../../support/policy-tests.js';

describe('console: expiries per policy', () => {
  const { value } = parsePolicyRepository(new Map(Object.entries(exceptionsStoreFiles()).map(([path, text]) => [path, new TextEncoder().encode(text)])));
  const bundle = buildRepositoryBundle(value, { revision: 'b'.repeat(40), committedAt: '2026-03-01T00:00:00Z' });
  const snapshot = buildSnapshot(bundle, undefined, 'no files');
  const page = (name: string, now: string) =>
    renderPolicy({ policy: bundle.policies[name]!, policies: bundle.policies, index: snapshot.index, yaml: { missing: 'no files' }, historyAvailable: false, page: 1, now: Date.parse(now) }).content.value;

  it('lists each exception with its last day and how long it has left, expired ones marked', () => {
    const body = page('release', '2026-03-31T10:00:00Z');
    expect(body).toContain('Exceptions that expire <span class="count">2</span>');
    expect(body).toContain('<tr class=""><td><code>sandbox.payments.example.com:443</code></td><td>2026-03-31</td><td>last day today</td></tr>');
    expect(body).toContain('<td><code>uploads.github.com:443</code></td><td>2026-06-30</td><td>91 days left</td>');
    const later = page('release', '2026-04-01T00:00:00Z');
    expect(later).toContain('<tr class="expired"><td><code>sandbox.payments.example.com:443</code></td><td>2026-03-31</td><td><strong>expired</strong>: no longer in answers, workflows or variables</td></tr>');
  });

  it('shows no section for a policy without exceptions', () => {
    expect(page('github-core', '2026-03-31T10:00:00Z')).not.toContain('Exceptions that expire');
  });

  it('marks an observed endpoint whose exception has expired as blocked by the current policy', () => {
    // The runner's answer leaves the expired exception out; the baselines page must say so too.
    const jobs = value.baselines.jobs.filter((job) => job.repository === 'acme/shop');
    const sandboxRow = (now: string): string => {
      const body = renderBaselineRepository('acme/shop', jobs, bundle, 1, new Date(now)).content.value;
      return /<td><code>sandbox\.payments\.example\.com:443<\/code>.*?<\/td>/.exec(body)?.[0] ?? '';
    };
    expect(sandboxRow('2026-03-31T10:00:00Z')).toContain('<code>sandbox.payments.example.com:443</code>');
    expect(sandboxRow('2026-03-31T10:00:00Z')).not.toContain('blocked by current policy');
    expect(sandboxRow('2026-04-01T00:00:00Z')).toContain('blocked by current policy');
  });
});
