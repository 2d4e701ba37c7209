/**
 * `egressctl test`: exit codes, located failures with expected vs actual and the deciding policy,
 * --json, --rev (git objects, not the work tree), --baselines with --fail-on-breakage; `validate`
 * checking the tests' syntax; `init`'s example and this repository's own tests/ passing.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { makeTempRepo, type TempRepo } from '../support/policy-repo.js';
import { exceptionsStoreFiles } from '../support/policy-tests.js';
import { repoRoot } from '../support/baselines.js';

let repo: TempRepo | undefined;
afterEach(() => {
  repo?.cleanup();
  repo = undefined;
});

const FAILING_CASE = [
  '- name: shop CI reaches the Go proxy',
  '  repository: acme/shop',
  '  allow:',
  '    - registry.npmjs.org',
  '    - proxy.golang.org',
  '',
].join('\n');

describe('egressctl test', () => {
  it('passes the fixture store (exit 0), one line per case', async () => {
    repo = makeTempRepo(exceptionsStoreFiles());
    const result = await runCli(['test', '-C', repo.dir, '--at', '2026-03-15']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n').filter((line) => line.startsWith('pass  '))).toHaveLength(5);
    expect(result.stdout).toContain('ok: 5 of 5 cases passed (15 endpoints checked, as of 2026-03-15T00:00:00.000Z)');
  });

  it('fails (exit 1) at the file and line of the endpoint, with expected vs actual and the policy that decided', async () => {
    repo = makeTempRepo({ ...exceptionsStoreFiles(), 'tests/go.yml': FAILING_CASE });
    const result = await runCli(['test', '-C', repo.dir, '--at', '2026-03-15']);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('FAIL  shop CI reaches the Go proxy  (tests/go.yml:1)');
    expect(result.stdout).toContain(
      '  tests/go.yml:5:7: case "shop CI reaches the Go proxy": expected proxy.golang.org:443 to be allowed, but it is blocked: policy "node-build" (attached to repository acme/shop) is in block mode',
    );
    expect(result.stdout).toContain('FAILED: 5 of 6 cases passed');

    const json = await runCli(['test', '-C', repo.dir, '--at', '2026-03-15', '--json']);
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout) as { ok: boolean; summary: Record<string, number>; cases: { name: string; passed: boolean; endpoints: Record<string, unknown>[] }[] };
    expect(report.ok).toBe(false);
    expect(report.summary).toEqual({ cases: 6, passed: 5, failed: 1, endpoints: 17 });
    const failed = report.cases.find((testCase) => !testCase.passed)!;
    expect(failed.endpoints[1]).toMatchObject({ endpoint: 'proxy.golang.org:443', expected: 'allow', actual: 'block', passed: false, file: 'tests/go.yml', line: 5, column: 7 });
    expect(failed.endpoints[0]).toMatchObject({ endpoint: 'registry.npmjs.org:443', actual: 'allow', allowedBy: 'registry.npmjs.org:443' });
  });

  it('exits 2 on usage errors and 1 with located errors for a broken test file', async () => {
    repo = makeTempRepo({ ...exceptionsStoreFiles(), 'tests/bad.yml': '- name: x\n  repository: acme/shop\n  allow: ["https://github.com"]\n' });
    expect((await runCli(['test', '-C', repo.dir, '--fail-on-breakage'])).code).toBe(2);
    expect((await runCli(['test', '-C', repo.dir, '--at', 'soon'])).code).toBe(2);
    expect((await runCli(['test', '-C', repo.dir, 'extra'])).code).toBe(2);
    const broken = await runCli(['test', '-C', repo.dir]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain('tests/bad.yml:3:11: error test/endpoint-scheme:');
    expect(broken.stderr).toContain('1 error in tests/');

    const validate = await runCli(['validate', '-C', repo.dir]);
    expect(validate.code).toBe(1);
    expect(validate.stdout).toContain('tests/bad.yml:3:11: error test/endpoint-scheme:');
  });

  it('--rev runs the tests of a commit, not the work tree', async () => {
    repo = makeTempRepo(exceptionsStoreFiles(), { git: true });
    const good = repo.commit('store with tests');
    repo.write({ 'tests/go.yml': FAILING_CASE });
    expect((await runCli(['test', '-C', repo.dir, '--at', '2026-03-15'])).code).toBe(1);
    const atRev = await runCli(['test', '-C', repo.dir, '--rev', good, '--at', '2026-03-15', '--json']);
    expect(atRev.code).toBe(0);
    expect(JSON.parse(atRev.stdout)).toMatchObject({ ok: true, revision: good, summary: { cases: 5 } });
  });

  it('--baselines replays observed endpoints; --fail-on-breakage fails once an exception has expired', async () => {
    repo = makeTempRepo(exceptionsStoreFiles());
    const before = await runCli(['test', '-C', repo.dir, '--baselines', '--fail-on-breakage', '--at', '2026-03-31']);
    expect(before.code).toBe(0);
    expect(before.stdout).toContain('baselines: 1 job, 3 observed endpoints replayed\n  nothing observed would be blocked');

    const after = await runCli(['test', '-C', repo.dir, '--baselines', '--at', '2026-04-01']);
    expect(after.code).toBe(0);
    expect(after.stdout).toContain('  would block  acme/shop/.github/workflows/ci.yml#test: policy "node-build" (repository acme/shop) blocks 1 of 3:\n    sandbox.payments.example.com:443 (seen in 3 runs)');

    const failing = await runCli(['test', '-C', repo.dir, '--baselines', '--fail-on-breakage', '--at', '2026-04-01', '--json']);
    expect(failing.code).toBe(1);
    expect(JSON.parse(failing.stdout)).toMatchObject({
      ok: false,
      summary: { failed: 0 },
      baselines: { jobs: 1, endpointsChecked: 3, endpointsBlocked: 1, breaking: [{ key: 'acme/shop/.github/workflows/ci.yml#test', blocked: [{ endpoint: 'sandbox.payments.example.com:443', runs: 3 }] }] },
    });
  });
});

describe('the example tests', () => {
  it('init writes a test that passes against the scaffold, and a schema for it', async () => {
    repo = makeTempRepo();
    const dir = path.join(repo.dir, 'policies-repo');
    const init = await runCli(['init', dir, '--org', 'acme']);
    expect(init.code).toBe(0);
    const result = await runCli(['test', '-C', dir]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('pass  every repository of acme is in audit mode until it gets its own policy  (tests/org-audit.yml:5)');
    expect((await runCli(['validate', '-C', dir])).code).toBe(0);
  });

  it('this repository\'s own example store passes its tests/', async () => {
    const result = await runCli(['test', '-C', repoRoot]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^ok: 5 of 5 cases passed/m);
  });
});
