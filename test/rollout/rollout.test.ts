/**
 * Policy-based pull requests end to end against the GitHub stand-in (every request checked
 * against GitHub's OpenAPI description): a 20-repository organization with real workflows from
 * the shared corpus, baselines stable for some jobs and not for others.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildBaselineIndex, emptyBaselineFile, mergeObservations, type BaselineFile, type Observation } from '../../src/baselines/index.js';
import { DEFAULT_SETTINGS } from '../../src/policy/model.js';
import { tokenClient, type GitHubClient } from '../../src/github/client.js';
import { parseMarker, ROLLOUT_BRANCH } from '../../src/rollout/rollout-body.js';
import type { RolloutConfig } from '../../src/rollout/rollout-plan.js';
import { runRollout, type RolloutReport } from '../../src/rollout/rollout.js';
import { startGitHubStandin, type GitHubStandin } from '../support/github/index.js';
import { CORPUS_SKIPPED, corpusForSuite, workflowFiles } from '../support/workflow-corpus.js';

const corpusDir = corpusForSuite('rollout over the corpus') ?? '';
const ORG = 'acme';
const STABLE_ENDPOINTS = ['github.com:443', 'registry.npmjs.org:443'];

interface OrgRepo {
  name: string;
  workflowPath: string;
  text: string;
  /** The job whose baseline we write. */
  job: string;
  stable: boolean;
}

/** 20 repositories, one corpus workflow each (the first 20 files that have a Linux-looking first job are fine: any works). */
function corpusRepos(count = 20): OrgRepo[] {
  const files = workflowFiles(corpusDir);
  return files.slice(0, count).map((file, index) => {
    const text = readFileSync(path.join(corpusDir, file), 'utf8');
    const jobs = Object.keys((parse(text) as { jobs: Record<string, unknown> }).jobs);
    const workflowFile = file.split('__').pop() ?? file;
    return { name: `repo-${String(index + 1).padStart(2, '0')}`, workflowPath: `.github/workflows/${workflowFile}`, text, job: jobs[0] ?? 'build', stable: index % 2 === 0 };
  });
}

function observations(repo: OrgRepo, runs: number, endpoints: readonly string[], firstRun = 1): Observation[] {
  return Array.from({ length: runs }, (_, index) => ({
    workflow: repo.workflowPath,
    job: repo.job,
    runId: String(1000 + firstRun + index),
    at: `2026-11-${String(10 + firstRun + index).padStart(2, '0')}T10:00:00Z`,
    endpoints,
  }));
}

function baselineFiles(repos: readonly OrgRepo[], extra: Record<string, Observation[]> = {}): Map<string, BaselineFile> {
  const files = new Map<string, BaselineFile>();
  for (const repo of repos) {
    const full = `${ORG}/${repo.name}`;
    const runs = repo.stable ? observations(repo, 4, STABLE_ENDPOINTS) : observations(repo, 1, STABLE_ENDPOINTS);
    files.set(full, mergeObservations(emptyBaselineFile(full), [...runs, ...(extra[full] ?? [])]).file);
  }
  return files;
}

function config(files: Map<string, BaselineFile>, overrides: Partial<RolloutConfig> = {}): RolloutConfig {
  return { mode: 'inline', pin: DEFAULT_SETTINGS.hardenRunner, baselines: buildBaselineIndex(files.values(), { stableAfterRuns: 3 }), ...overrides };
}

const BROKEN_WORKFLOW = 'name: broken\non: [push]\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo "unterminated\n    - bad: [\n';

let standin: GitHubStandin;
let client: GitHubClient;
let repos: OrgRepo[];
let limits: { kind: string; retryAfter: number }[];

beforeEach(async () => {
  standin = await startGitHubStandin();
  const installation = standin.createInstallation({ account: ORG });
  repos = corpusRepos();
  for (const repo of repos) await standin.createRepository(`${ORG}/${repo.name}`, { files: { [repo.workflowPath]: repo.text, 'README.md': `# ${repo.name}\n` } });
  await standin.createRepository(`${ORG}/broken`, { files: { '.github/workflows/ci.yml': BROKEN_WORKFLOW } });
  await standin.createRepository(`${ORG}/empty-workflows`, { files: { 'README.md': 'no workflows\n' } });
  limits = [];
  client = tokenClient(standin.createInstallationToken(installation.id), {
    baseUrl: standin.url,
    writeSpacingMs: 0,
    notificationSpacingMs: 0,
    retryAfterBaseValue: 10,
    onLimit: (event) => limits.push(event),
  });
}, 60_000);

afterEach(async () => {
  await standin.finish();
});

function byName(report: RolloutReport): Map<string, RolloutReport['repositories'][number]> {
  return new Map(report.repositories.map((result) => [result.repository, result]));
}

// Real workflows only: without EGRESSCTL_CORPUS the suite skips with one visible line.
describe.skipIf(!corpusDir)(corpusDir ? 'rollout' : CORPUS_SKIPPED, () => {
  it('opens one PR per repository, then a re-run writes nothing', async () => {
    const files = baselineFiles(repos);
    const first = await runRollout({ client, organization: ORG, config: config(files), policyRepository: 'acme/egress-policies' });
    const results = byName(first);
    expect(results.size).toBe(22);
    expect(results.get(`${ORG}/broken`)).toMatchObject({ status: 'invalid' });
    expect(results.get(`${ORG}/broken`)!.message).toMatch(/could be hardened/);
    expect(results.get(`${ORG}/empty-workflows`)).toMatchObject({ status: 'no-workflows' });
    const created = first.repositories.filter((result) => result.status === 'created');
    expect(created.length).toBeGreaterThanOrEqual(15);
    // The others only have jobs that cannot be hardened (macOS, Windows, reusable workflow calls): each says why.
    const nothing = first.repositories.filter((result) => result.status === 'up-to-date');
    expect(created.length + nothing.length).toBe(20);
    for (const result of nothing) {
      expect(result.files.flatMap((file) => file.jobs).every((job) => job.action === 'skipped' && job.reason)).toBe(true);
    }

    const pulls = standin.pullRequests();
    expect(pulls).toHaveLength(created.length);
    for (const pull of pulls) {
      expect(pull.head.ref).toBe(ROLLOUT_BRANCH);
      expect((pull.body ?? "").length).toBeLessThan(65_536);
      expect(parseMarker(pull.body)).toBeDefined();
    }

    // A stable job: block with its endpoints, in the file and in the body; an unstable one: audit.
    const stableRepo = repos.find((repo) => repo.stable && results.get(`${ORG}/${repo.name}`)!.files[0]!.jobs.find((job) => job.job === repo.job)?.action === 'inserted')!;
    const stableFile = (await standin.readFile(`${ORG}/${stableRepo.name}`, stableRepo.workflowPath, ROLLOUT_BRANCH))!;
    expect(stableFile).toContain('egress-policy: block');
    expect(stableFile).toContain('registry.npmjs.org:443');
    expect(stableFile).toContain(`${DEFAULT_SETTINGS.hardenRunner.repository}@${DEFAULT_SETTINGS.hardenRunner.sha} # ${DEFAULT_SETTINGS.hardenRunner.version}`);
    const stablePull = standin.pullRequests(`${ORG}/${stableRepo.name}`)[0]!;
    expect(stablePull.body).toContain(`\`${stableRepo.job}\``);
    expect(stablePull.body).toContain('`registry.npmjs.org:443`');
    expect(stablePull.body).toMatch(/4 runs observed, last seen 2026-11-14T10:00:00Z/);
    const unstableRepo = repos.find((repo) => !repo.stable && results.get(`${ORG}/${repo.name}`)!.files[0]!.jobs.find((job) => job.job === repo.job)?.action === 'inserted')!;
    const unstablePull = standin.pullRequests(`${ORG}/${unstableRepo.name}`)[0]!;
    expect(unstablePull.body).toMatch(/not stable yet \(0 of 3 runs without a new endpoint\)/);
    // Windows and macOS jobs get audit, with the reason in the body (the corpus has some).
    expect(pulls.some((pull) => /(Windows|macOS)[^\n]*audit only/.test(pull.body ?? ''))).toBe(true);
    // The default branch is untouched.
    for (const repo of repos) expect(await standin.readFile(`${ORG}/${repo.name}`, repo.workflowPath)).toBe(repo.text);

    // Re-run: nothing new, no write, at most 2 requests per repository that has a PR.
    standin.resetStats();
    const second = await runRollout({ client, organization: ORG, config: config(files) });
    const stats = standin.stats();
    expect(stats.writes).toBe(0);
    for (const result of second.repositories.filter((item) => item.pullRequest)) {
      expect(result.status).toBe('unchanged');
      expect(stats.byRepository[result.repository]!.total).toBeLessThanOrEqual(2);
    }
    expect(standin.pullRequests()).toHaveLength(created.length);
  }, 120_000);

  it('updates the open PR when a baseline grows, and leaves a PR a person closed alone', async () => {
    const files = baselineFiles(repos);
    await runRollout({ client, organization: ORG, config: config(files) });
    const grown = repos.find((repo) => repo.stable && standin.pullRequests(`${ORG}/${repo.name}`)[0]?.body?.includes('`registry.npmjs.org:443`'))!;
    const closed = repos.find((repo) => repo !== grown && repo.stable && standin.pullRequests(`${ORG}/${repo.name}`).length === 1)!;
    const closedPull = standin.pullRequests(`${ORG}/${closed.name}`)[0]!;
    await standin.closePullRequest(`${ORG}/${closed.name}`, closedPull.number);
    const grownPull = standin.pullRequests(`${ORG}/${grown.name}`)[0]!;
    const headBefore = grownPull.headSha;

    // Both repositories' baselines grow a new endpoint, then stay stable for 3 more runs.
    const more = (repo: OrgRepo) => observations(repo, 4, [...STABLE_ENDPOINTS, 'objects.githubusercontent.com:443'], 10);
    const grownFiles = baselineFiles(repos, { [`${ORG}/${grown.name}`]: more(grown), [`${ORG}/${closed.name}`]: more(closed) });
    standin.resetStats();
    const report = await runRollout({ client, organization: ORG, config: config(grownFiles) });
    const results = byName(report);
    expect(results.get(`${ORG}/${grown.name}`)).toMatchObject({ status: 'updated', pullRequest: { number: grownPull.number } });
    expect(results.get(`${ORG}/${closed.name}`)).toMatchObject({ status: 'closed', pullRequest: { number: closedPull.number } });
    const stats = standin.stats();
    expect(stats.byRepository[`${ORG}/${closed.name}`]).toEqual({ total: 1, writes: 0 });
    // Only the grown repository wrote: tree, commit, ref, PR body.
    expect(stats.writes).toBe(4);

    const updated = standin.pullRequest(`${ORG}/${grown.name}`, grownPull.number);
    expect(updated.state).toBe('open');
    expect(updated.headSha).not.toBe(headBefore);
    expect(updated.body).toContain('`objects.githubusercontent.com:443`');
    expect(updated.body).toMatch(/8 runs observed/);
    expect(await standin.readFile(`${ORG}/${grown.name}`, grown.workflowPath, ROLLOUT_BRANCH)).toContain('objects.githubusercontent.com:443');
    expect(standin.pullRequests(`${ORG}/${grown.name}`)).toHaveLength(1);
    expect(standin.pullRequests(`${ORG}/${closed.name}`)).toHaveLength(1);

    // --force opens a new PR where a person closed one.
    const forced = await runRollout({ client, organization: ORG, repositories: [closed.name], config: config(grownFiles), force: true });
    expect(forced.repositories[0]).toMatchObject({ status: 'created' });
    expect(standin.pullRequests(`${ORG}/${closed.name}`)).toHaveLength(2);
  }, 120_000);

  it('dry-run prints diffs and writes nothing', async () => {
    const report = await runRollout({ client, organization: ORG, config: config(baselineFiles(repos)), dryRun: true });
    expect(standin.stats().writes).toBe(0);
    expect(standin.pullRequests()).toHaveLength(0);
    const changed = report.repositories.filter((result) => result.status === 'would-change');
    expect(changed.length).toBeGreaterThanOrEqual(15);
    for (const result of changed) {
      expect(result.diffs!.length).toBeGreaterThan(0);
      expect(result.diffs![0]).toMatch(/^--- a\/\.github\/workflows\/.*\n\+\+\+ b\/\.github\/workflows\//);
      expect(result.diffs![0]).toMatch(/\n\+\s+- name: Harden-Runner\n/);
    }
  }, 120_000);

  it('honors secondary rate limits: waits for retry-after and finishes', async () => {
    const target = repos.slice(0, 3).map((repo) => repo.name);
    standin.secondaryRateLimit(3, { retryAfter: 1 });
    const report = await runRollout({ client, organization: ORG, repositories: target, config: config(baselineFiles(repos)) });
    expect(report.repositories.map((result) => result.status)).toEqual(['created', 'created', 'created']);
    expect(limits.filter((event) => event.kind === 'secondary')).toHaveLength(3);
    expect(standin.stats().injectedFaults).toBe(3);
    expect(standin.pullRequests()).toHaveLength(3);
  }, 60_000);

  it('--repos reads the default branch itself and uses at most 8 requests for a new single-file PR', async () => {
    const repo = repos[1]!;
    const report = await runRollout({ client, organization: ORG, repositories: [repo.name], config: config(baselineFiles(repos)) });
    expect(report.repositories[0]).toMatchObject({ status: 'created' });
    const stats = standin.stats();
    // pulls list, repos get, ref, tree, blob, create ref, put contents, create PR
    expect(stats.total).toBe(8);
    expect(report.requests).toBe(8);
  }, 60_000);
});
