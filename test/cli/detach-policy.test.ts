/**
 * `egressctl detach --policy NAME`: the Policy Store's "Detach policy": every attachment of the
 * policy leaves attachments.yml (comments and the other lines byte for byte), the policy file
 * stays, and each scope removed is listed. `policy delete` keeps refusing while attached unless
 * `--detach`. Real git repositories, the CLI in-process.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { makeTempRepo, SAMPLE_FILES, type TempRepo } from '../support/policy-repo.js';

let repo: TempRepo | undefined;
afterEach(() => repo?.cleanup());

const ATTACHMENTS = [
  '# yaml-language-server: $schema=./schemas/attachments.schema.json',
  '# Reviewed by security every quarter.',
  'clusters:',
  '  arc-prod: api        # ARC production runners',
  '  arc-dev: audit',
  '',
  'organizations:',
  '  acme: audit',
  '',
  '# Services that build containers',
  'repositories:',
  '  acme/api: api',
  '  Acme/Worker: api     # same toolchain as api',
  '  acme/web: base',
  'workflows:',
  '  acme/api/.github/workflows/release.yml: base',
  '  acme/web/.github/workflows/deploy.yml: api',
  '',
].join('\n');

function setup(attachments = ATTACHMENTS): TempRepo {
  const created = makeTempRepo({ ...SAMPLE_FILES, 'attachments.yml': attachments }, { git: true });
  created.commit('policies');
  return created;
}
const cli = (...args: string[]) => runCli([...args, '-C', repo?.dir ?? '']);
const read = (file: string) => readFileSync(path.join(repo?.dir ?? '', file), 'utf8');

describe('egressctl detach --policy', () => {
  it('removes every attachment of the policy, lists each scope, keeps the policy and every other byte', async () => {
    repo = setup();
    const run = await cli('detach', '--policy', 'api');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      [
        'detached api from 4 scopes (policies/api.yml is kept; it is attached nowhere now):',
        '  workflow acme/web/.github/workflows/deploy.yml (attachments.yml:17)',
        '  repository acme/api (attachments.yml:12)',
        '  repository acme/worker (attachments.yml:13)',
        '  cluster arc-prod (attachments.yml:4)',
        '',
      ].join('\n'),
    );
    expect(read('attachments.yml')).toBe(
      ATTACHMENTS.replace('  arc-prod: api        # ARC production runners\n', '')
        .replace('  acme/api: api\n', '')
        .replace('  Acme/Worker: api     # same toolchain as api\n', '')
        .replace('  acme/web/.github/workflows/deploy.yml: api\n', ''),
    );
    expect(existsSync(path.join(repo.dir, 'policies/api.yml'))).toBe(true);
    expect((await cli('validate')).code).toBe(0);
    const again = await cli('detach', '--policy', 'api');
    expect(again.stdout).toBe('api is attached nowhere: nothing to do\n');
  });

  it('refuses an unknown policy and a scope flag next to --policy', async () => {
    repo = setup();
    const unknown = await cli('detach', '--policy', 'apx');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('there is no policy "apx" under policies/; did you mean "api"?');
    expect((await cli('detach', '--policy', 'api', '--org', 'acme')).code).toBe(2);
    expect(read('attachments.yml')).toBe(ATTACHMENTS);
  });

  it('edits a flow-mapping section without losing the other scopes in it', async () => {
    const flow = ['clusters:      { arc-prod: api }', 'repositories:  { acme/api: api, acme/web: base, acme/worker: api }  # services', 'organizations: { acme: audit }', ''].join('\n');
    repo = setup(flow);
    const single = await cli('detach', '--repository', 'acme/web');
    expect(single.code).toBe(0);
    expect(read('attachments.yml')).toBe(flow.replace('acme/web: base, ', ''));
    const run = await cli('detach', '--policy', 'api');
    expect(run.code).toBe(0);
    expect(read('attachments.yml')).toBe(['clusters:      {}', 'repositories:  {}  # services', 'organizations: { acme: audit }', ''].join('\n'));
    expect((await cli('validate')).code).toBe(0);
  });
});

describe('egressctl policy delete', () => {
  it('refuses while attached, naming the scopes; with --detach lists each scope it removed', async () => {
    repo = setup();
    const refused = await cli('policy', 'delete', 'api');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('policy "api" is attached to cluster arc-prod (attachments.yml:4)');
    expect(read('attachments.yml')).toBe(ATTACHMENTS);
    // base is extended by api: still refused, even with --detach.
    expect((await cli('policy', 'delete', 'base', '--detach')).stderr).toContain('policy "base" is extended by api');
    const run = await cli('policy', 'delete', 'api', '--detach');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('deleted policies/api.yml and detached it from 4 scopes:\n  workflow acme/web/.github/workflows/deploy.yml (attachments.yml:17)\n');
    expect(existsSync(path.join(repo.dir, 'policies/api.yml'))).toBe(false);
    expect((await cli('validate')).code).toBe(0);
  });
});
