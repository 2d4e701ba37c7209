/**
 * `egressctl sync` in-process against the GitHub stand-in: the store decides (not baselines),
 * `--dry-run` reports drift with reasons and writes nothing, `--json` follows the sync contract
 * (`{repository, status, pr, files, reasons}`), `--state-dir` keeps the report for the console.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { emptyBaselineFile, mergeObservations, renderBaselineFile } from '../../src/baselines/index.js';
import MarkdownIt from 'markdown-it';
import { ROLLOUT_BRANCH } from '../../src/rollout/rollout-body.js';
import { readSyncReport } from '../../src/rollout/sync-report.js';
import { runCli } from '../support/cli.js';
import { DEFAULT_INSTALLATION_PERMISSIONS, startGitHubStandin, type GitHubStandin } from '../support/github/index.js';
import { makeTempRepo, type TempRepo } from '../support/policy-repo.js';
import { SIMPLE_WORKFLOW } from '../support/workflows.js';

/** A workflow whose Harden-Runner step someone wrote by hand, in audit mode (no marker). */
const HAND_WRITTEN = `name: CI
on: [push]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: step-security/harden-runner@05e31511f85b41b11d1cf0ef85d0992719546e2c # v2.21.0
        with:
          egress-policy: audit
      - run: npm test
`;

let standin: GitHubStandin;
let policy: TempRepo;
let stateDir: string;
let env: Record<string, string>;

beforeEach(async () => {
  standin = await startGitHubStandin();
  // Variables too: the delivery: variables test writes them.
  const installation = standin.createInstallation({ account: 'acme', permissions: { ...DEFAULT_INSTALLATION_PERMISSIONS, actions_variables: 'write', organization_actions_variables: 'write' } });
  await standin.createRepository('acme/api', { files: { '.github/workflows/ci.yml': SIMPLE_WORKFLOW } });
  await standin.createRepository('acme/web', { files: { '.github/workflows/ci.yml': HAND_WRITTEN } });
  await standin.createRepository('acme/docs', { files: { '.github/workflows/ci.yml': SIMPLE_WORKFLOW } });
  policy = makeTempRepo({
    'egressctl.yml': 'organizations: [acme]\nunattached: skip\n',
    'policies/api.yml': 'egress-policy: block\nallowed-endpoints:\n  - registry.npmjs.org\n',
    'attachments.yml': 'repositories:\n  acme/api: api\n  acme/web: api\n',
    // Evidence only: acme/api's job was seen using an endpoint its policy does not allow.
    'baselines/acme/api.yml': renderBaselineFile(
      mergeObservations(
        emptyBaselineFile('acme/api'),
        [1, 2].map((run) => ({ workflow: '.github/workflows/ci.yml', job: 'test', runId: String(run), at: `2026-11-0${run}T00:00:00Z`, endpoints: ['registry.npmjs.org:443', 'evil.example.com:443'] })),
      ).file,
    ),
  });
  stateDir = mkdtempSync(path.join(os.tmpdir(), 'egressctl-sync-state-'));
  env = { GITHUB_TOKEN: standin.createInstallationToken(installation.id), GITHUB_API_URL: standin.url };
});

afterEach(async () => {
  policy.cleanup();
  rmSync(stateDir, { recursive: true, force: true });
  await standin.finish();
});

describe('egressctl sync', () => {
  it('talks to the API github-url names in egressctl.yml (GitHub Enterprise Server: <url>/api/v3)', async () => {
    writeFileSync(path.join(policy.dir, 'egressctl.yml'), `organizations: [acme]\nunattached: skip\ngithub-url: ${standin.url}\n`);
    const { GITHUB_API_URL: _override, ...withoutOverride } = env;
    const run = await runCli(['sync', '--org', 'acme', '--all', '--dry-run', '--json', '-C', policy.dir], { env: withoutOverride });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const paths = standin.requests.filter((request) => request.kind === 'api').map((request) => request.path);
    expect(paths.length).toBeGreaterThan(0);
    expect(paths.filter((requested) => !requested.startsWith('/api/v3/'))).toEqual([]);
  });

  it('--dry-run --json reports drift per repository with reasons and writes nothing', async () => {
    const run = await runCli(['sync', '--org', 'acme', '--all', '--dry-run', '--json', '-C', policy.dir, '--state-dir', stateDir], { env });
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as { repositories: { repository: string; status: string; pr: unknown; files: string[]; reasons: string[] }[] };
    const byName = Object.fromEntries(report.repositories.map((entry) => [entry.repository, entry]));
    expect(byName['acme/api']).toMatchObject({ status: 'out-of-sync', pr: null, files: ['.github/workflows/ci.yml'] });
    expect(byName['acme/api']!.reasons).toContain('.github/workflows/ci.yml job test: no Harden-Runner step; the store wants block (policy api)');
    expect(byName['acme/web']!.status).toBe('out-of-sync');
    expect(byName['acme/web']!.reasons.join('\n')).toMatch(/ci\.yml job test: a Harden-Runner step egressctl does not manage disagrees with the store \(policy api\)/);
    // unattached: skip leaves acme/docs alone.
    expect(byName['acme/docs']).toMatchObject({ status: 'synced', files: [], reasons: [] });
    expect(standin.stats().writes).toBe(0);
    const saved = await readSyncReport(stateDir);
    expect(saved.organizations['acme']).toMatchObject({ dryRun: true });
    expect(saved.organizations['acme']!.repositories.map((entry) => entry.status)).toEqual(['out-of-sync', 'synced', 'out-of-sync']);
  }, 60_000);

  it('opens PRs from the store (not baselines), then a re-run writes nothing; rollout stays an alias', async () => {
    const first = await runCli(['sync', '--org', 'acme', '--all', '-C', policy.dir, '--write-interval', '0'], { env });
    expect(first.code).toBe(0);
    expect(first.stderr).toMatch(/acme\/api: created #1/);
    expect(first.stderr).toMatch(/acme\/web: created #1/);
    const api = (await standin.readFile('acme/api', '.github/workflows/ci.yml', ROLLOUT_BRANCH))!;
    expect(api).toContain('egress-policy: block');
    expect(api).toContain('registry.npmjs.org:443');
    const [pull] = standin.pullRequests('acme/api');
    expect(pull!.body).toContain('policy `api`');
    // Baselines are evidence, never the source: the endpoint is listed, not allowed, and the PR is a draft.
    expect(api).not.toContain('evil.example.com');
    expect(pull!.body).toMatch(/2 runs observed, seen but not allowed by the policy: `evil\.example\.com:443`/);
    expect(pull!.body).toContain('last seen 2026-11-02T00:00:00Z');
    expect(pull!.draft).toBe(true);
    expect(standin.pullRequests('acme/web')[0]!.draft).toBe(false);
    expect(standin.pullRequests('acme/docs')).toHaveLength(0);

    standin.resetStats();
    // `rollout` is the same command: the store decides by default.
    const again = await runCli(['rollout', '--org', 'acme', '--all', '-C', policy.dir, '--json'], { env });
    expect(again.code).toBe(0);
    const report = JSON.parse(again.stdout) as { repositories: { repository: string; status: string; pr: { number: number } | null }[] };
    expect(report.repositories.map((entry) => [entry.repository, entry.status, entry.pr?.number ?? null])).toEqual([
      ['acme/api', 'pr-open', 1],
      ['acme/docs', 'synced', null],
      ['acme/web', 'pr-open', 1],
    ]);
    expect(standin.stats().writes).toBe(0);
  }, 60_000);
});

describe('the pull request texts (issue 23)', () => {
  /**
   * Every table of a Markdown text as markdown-it (CommonMark + GFM tables) finds it, with the
   * cells each source row has (markdown-it itself pads short rows, so the row's own text is
   * counted: cells split at pipes that are not escaped).
   */
  function tableShapes(markdown: string): { header: number; rows: number[] }[] {
    const lines = markdown.split('\n');
    const cellsOf = (line: string) => line.trim().replace(/^\|/, '').replace(/(?<!\\)\|$/, '').split(/(?<!\\)\|/).length;
    const tables: { header: number; rows: number[] }[] = [];
    let current: { header: number; rows: number[] } | undefined;
    for (const token of new MarkdownIt().parse(markdown, {})) {
      if (token.type === 'table_open') current = { header: 0, rows: [] };
      else if (token.type === 'tr_open' && current && token.map) {
        const cells = cellsOf(lines[token.map[0]] ?? '');
        if (current.header === 0) current.header = cells;
        else current.rows.push(cells);
      } else if (token.type === 'table_close' && current) {
        tables.push(current);
        current = undefined;
      }
    }
    return tables;
  }

  it('counts a short row as short', () => {
    expect(tableShapes('| a | b | c |\n|---|---|---|\n| 1 | 2 |\n| 1 \\| x | 2 | 3 |\n')).toEqual([{ header: 3, rows: [2, 3] }]);
  });

  it('with delivery: variables, every row of the body\'s tables has every cell; one job "was" seen; the commit says where the plan came from', async () => {
    policy.write({ 'egressctl.yml': 'organizations: [acme]\nunattached: skip\ndelivery: variables\n' });
    const run = await runCli(['sync', '--org', 'acme', '--repos', 'api', '-C', policy.dir, '--write-interval', '0'], { env });
    expect(run.code, run.stderr).toBe(0);
    const [pull] = standin.pullRequests('acme/api');
    expect(pull).toBeDefined();
    const shapes = tableShapes(pull!.body ?? '');
    expect(shapes.length).toBeGreaterThan(0);
    for (const shape of shapes) expect(shape.rows.every((cells) => cells === shape.header), JSON.stringify({ shape, body: pull!.body })).toBe(true);
    expect(pull!.body).toContain('1 job was seen using endpoints');
    expect(pull!.body).not.toContain('1 job were');
    const head = await standin.refSha('acme/api', ROLLOUT_BRANCH);
    const commit = (await (await fetch(`${standin.url}/repos/acme/api/git/commits/${head}`, { headers: { authorization: `token ${env['GITHUB_TOKEN']}` } })).json()) as { message: string };
    expect(commit.message).toMatch(/1 job in block mode, 0 jobs in audit mode, as the policy store says\./);
    expect(commit.message).not.toContain('baselines');
  }, 60_000);
});
