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
