import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runCli } from '../support/cli.js';
import { makeTempRepo, SAMPLE_FILES, type TempRepo } from '../support/policy-repo.js';

let repo: TempRepo | undefined;
afterEach(() => repo?.cleanup());

/** The `with:` block resolve prints, read back as a workflow reader would. */
function withBlock(stdout: string): unknown {
  const lines = stdout.split('\n');
  const start = lines.indexOf('with:');
  const block = lines.slice(start, lines.findIndex((line, index) => index > start && !line.startsWith('  ')));
  return parse(block.join('\n'));
}

describe('egressctl resolve: the with: block', () => {
  it('is valid YAML when the first endpoint is a wildcard (folded as harden writes it)', async () => {
    repo = makeTempRepo({ ...SAMPLE_FILES, 'policies/api.yml': 'egress-policy: block\nallowed-endpoints: "*.npmjs.org registry.yarnpkg.com *.golang.org:8443"\n' });
    const run = await runCli(['resolve', '-C', repo.dir, '--repository', 'acme/api']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('with:\n  egress-policy: block\n  allowed-endpoints: >-\n    *.golang.org:8443\n    *.npmjs.org:443\n    registry.yarnpkg.com:443\n');
    expect(withBlock(run.stdout)).toEqual({
      with: { 'egress-policy': 'block', 'allowed-endpoints': '*.golang.org:8443 *.npmjs.org:443 registry.yarnpkg.com:443' },
    });
  });

  it('keeps an empty list as an empty string', async () => {
    repo = makeTempRepo({ ...SAMPLE_FILES, 'policies/api.yml': 'egress-policy: audit\n' });
    const run = await runCli(['resolve', '-C', repo.dir, '--repository', 'acme/api']);
    expect(withBlock(run.stdout)).toEqual({ with: { 'egress-policy': 'audit', 'allowed-endpoints': '' } });
  });
});

describe('egressctl resolve --workflow', () => {
  it('takes a bare file name as .github/workflows/<file>', async () => {
    repo = makeTempRepo(SAMPLE_FILES);
    for (const form of ['release.yml', './release.yml', '.github/workflows/release.yml', 'acme/api/.github/workflows/release.yml']) {
      const run = await runCli(['resolve', '-C', repo.dir, '--repository', 'acme/api', '--workflow', form, '--json']);
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ policy: 'base', scope: { type: 'workflow', key: 'acme/api/.github/workflows/release.yml' } });
    }
  });

  it('refuses a path that can never name a workflow, with the forms that work', async () => {
    repo = makeTempRepo(SAMPLE_FILES);
    const run = await runCli(['resolve', '-C', repo.dir, '--repository', 'acme/api', '--workflow', 'workflows/release.yml']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('write release.yml, .github/workflows/release.yml or OWNER/REPO/.github/workflows/release.yml');
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('egressctl resolve --workflow of a reusable workflow (issue 19, defect 3)', () => {
  const build = 'on:\n  workflow_call:\njobs:\n  compile:\n    runs-on: ubuntu-latest\n    steps:\n      - run: make\n';
  const caller = (name: string) => `name: ${name}\non: push\njobs:\n  build:\n    uses: ./.github/workflows/build.yml\n`;

  it('shows the caller\'s policy and says why; callers that differ: the widest, warned', async () => {
    repo = makeTempRepo({
      ...SAMPLE_FILES,
      '.github/workflows/build.yml': build,
      '.github/workflows/release.yml': caller('release'),
    });
    const plain = await runCli(['resolve', '-C', repo.dir, '--repository', 'acme/api', '--workflow', 'build.yml']);
    expect(plain.stdout).toContain('policy: api (attached to repository acme/api)');
    const run = await runCli(['resolve', '-C', repo.dir, '--repository', 'acme/api', '--workflow', 'build.yml', '--workflows-from', repo.dir]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('policy: base (attached to workflow acme/api/.github/workflows/release.yml)');
    expect(run.stdout).toContain('why: build.yml is a reusable workflow called by release.yml: its jobs follow release.yml (policy base)');
    const json = JSON.parse((await runCli(['resolve', '-C', repo.dir, '--repository', 'acme/api', '--workflow', 'build.yml', '--workflows-from', repo.dir, '--json'])).stdout) as {
      policy: string;
      config: Record<string, string>;
      callers: { sources: Array<{ workflow: string; policy: string }> };
    };
    expect(json.policy).toBe('base');
    expect(json.config['allowed-endpoints']).toBe('github.com:443 objects.githubusercontent.com:443');
    expect(json.callers.sources).toEqual([{ workflow: '.github/workflows/release.yml', via: [], policy: 'base', scope: { type: 'workflow', key: 'acme/api/.github/workflows/release.yml' } }]);

    repo.cleanup();
    repo = makeTempRepo({
      ...SAMPLE_FILES,
      '.github/workflows/build.yml': build,
      '.github/workflows/release.yml': caller('release'),
      '.github/workflows/ci.yml': caller('ci'),
    });
    const widest = await runCli(['resolve', '-C', repo.dir, '--repository', 'acme/api', '--workflow', 'build.yml', '--workflows-from', repo.dir]);
    expect(widest.stdout).toContain("policy: api+base (the widest of the callers' policies)");
    expect(widest.stdout).toContain('warning: build.yml is called by workflows with different policies (ci.yml (policy api), release.yml (policy base))');
  });
});
