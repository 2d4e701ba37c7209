/**
 * The sync report keeps coverage (docs/reconciliation.md, "Sync"): a run records the coverage of
 * the workflow files it read; a repository it reached without reading them keeps what was
 * recorded before; a repository no longer synced drops out.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RepositoryCoverage } from '../../src/coverage/model.js';
import { failingOpenCounts, readSyncReport, recordSync, type OrganizationSync } from '../../src/rollout/sync-report.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function coverage(repository: string, at: string, mode: 'block' | 'none'): RepositoryCoverage {
  return { at, problems: [], jobs: [{ repository, file: '.github/workflows/ci.yml', job: 'test', line: 3, enforcedBy: mode === 'block' ? ['harden-runner (inline)'] : [], mode, reason: mode === 'block' ? null : 'no Harden-Runner step', policy: 'api', targets: [] }] };
}

function run(at: string, repositories: string[], covered: Record<string, RepositoryCoverage>): OrganizationSync {
  return { organization: 'acme', at, dryRun: false, variables: [], repositories: repositories.map((repository) => ({ repository, status: 'synced', pr: null, files: [], reasons: [] })), coverage: covered };
}

describe('coverage in the sync report', () => {
  it('keeps what a later run did not read, replaces what it read, forgets what it no longer syncs', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'egressctl-sync-coverage-'));
    dirs.push(dir);
    await recordSync(dir, run('t1', ['acme/api', 'acme/web', 'acme/old'], { 'acme/api': coverage('acme/api', 't1', 'none'), 'acme/web': coverage('acme/web', 't1', 'none'), 'acme/old': coverage('acme/old', 't1', 'none') }));
    // The second full run read acme/web only (acme/api's open PR was up to date) and no longer reaches acme/old.
    await recordSync(dir, run('t2', ['acme/api', 'acme/web'], { 'acme/web': coverage('acme/web', 't2', 'block') }));
    const saved = (await readSyncReport(dir)).organizations['acme']!.coverage!;
    expect(Object.keys(saved)).toEqual(['acme/api', 'acme/web']);
    expect(saved['acme/api']!.at).toBe('t1');
    expect(saved['acme/web']).toMatchObject({ at: 't2', jobs: [{ mode: 'block' }] });
    // A sync on merge touches a few repositories: the others stay as they were.
    await recordSync(dir, run('t3', ['acme/api'], { 'acme/api': coverage('acme/api', 't3', 'block') }), { merge: true });
    const merged = (await readSyncReport(dir)).organizations['acme']!.coverage!;
    expect(Object.fromEntries(Object.entries(merged).map(([name, entry]) => [name, entry.at]))).toEqual({ 'acme/api': 't3', 'acme/web': 't2' });
  });
});

describe('jobs failing open per organization (egressctl_coverage_jobs_failing_open)', () => {
  it('counts each failing job of a real run, 0 for an organization with none, nothing of a dry run', () => {
    const failing = (repository: string): RepositoryCoverage => {
      const entry = coverage(repository, 't1', 'none');
      return { ...entry, jobs: [...entry.jobs, { ...entry.jobs[0]!, job: 'release', failure: 'audit through retained EGRESSCTL_POLICY', failureCause: 'workflow-file' }, { ...entry.jobs[0]!, job: 'deploy', failure: 'none through left-over EGRESSCTL_POLICY', failureCause: 'variables' }] };
    };
    const acme = run('t1', ['acme/api', 'acme/web'], { 'acme/api': failing('acme/api'), 'acme/web': coverage('acme/web', 't1', 'block') });
    const globex = { ...run('t1', ['globex/api'], { 'globex/api': coverage('globex/api', 't1', 'block') }), organization: 'globex' };
    const initech = { ...run('t1', ['initech/api'], { 'initech/api': failing('initech/api') }), organization: 'initech', dryRun: true };
    expect(failingOpenCounts({ version: 1, organizations: { acme, globex, initech } })).toEqual({ acme: 2, globex: 0 });
  });
});
