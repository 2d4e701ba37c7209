/**
 * `egressctl policy edit NAME`: importing observed endpoints into an existing policy (the Policy
 * Store's "Import Endpoints from Baseline"), adding and removing by hand. The file is edited in
 * place: comments, order and style stay, only new endpoints are appended, the repository stays
 * valid, and a refused edit writes nothing. Real git repositories, the CLI in-process.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { makeTempRepo, type TempRepo } from '../support/policy-repo.js';
import { utcDay } from '../support/policy-tests.js';

let repo: TempRepo | undefined;
afterEach(() => repo?.cleanup());

const BASE = ['# Shared by every policy.', 'egress-policy: block', 'allowed-endpoints:', '  - github.com:443', '  - "*.githubusercontent.com"', ''].join('\n');
const API = [
  '# yaml-language-server: $schema=../schemas/policy.schema.json',
  '# Owned by @acme/api-team; review with security.',
  'description: API service builds',
  'egress-policy: block',
  'extends: base',
  'allowed-endpoints:',
  '  - registry.npmjs.org   # npm ci',
  '  - endpoint: proxy.golang.org',
  '    reason: go modules for the codegen step',
  '  - nodejs.org:443',
  'disable-sudo-and-containers: true',
  '',
].join('\n');
const WEB = ['egress-policy: block', 'allowed-endpoints: registry.npmjs.org proxy.golang.org:443  # keep this short', ''].join('\n');

/** Observed by acme/api's CI: two runs on ARC cluster arc-prod, one GitHub-hosted. */
const API_BASELINE = `# yaml-language-server: $schema=../../schemas/baselines.schema.json
repository: acme/api
workflows:
  .github/workflows/ci.yml:
    build:
      runs: 3
      firstSeen: 2026-11-20T10:03:11Z
      lastSeen: 2026-11-22T09:00:00Z
      lastGrowth: { run: 3, runId: "9003", at: 2026-11-22T09:00:00Z }
      clusters:
        arc-prod: { runs: 2, firstSeen: 2026-11-20T10:03:11Z, lastSeen: 2026-11-21T08:03:11Z }
      endpoints:
        github.com:443: { runs: 3, firstSeen: 2026-11-20T10:03:11Z, lastSeen: 2026-11-22T09:00:00Z, clusters: [ arc-prod ] }
        objects.githubusercontent.com:443: { runs: 3, firstSeen: 2026-11-20T10:03:11Z, lastSeen: 2026-11-22T09:00:00Z, clusters: [ arc-prod ] }
        postgres.test.internal.acme.example:5432: { runs: 2, firstSeen: 2026-11-20T10:03:11Z, lastSeen: 2026-11-21T08:03:11Z, clusters: [ arc-prod ] }
        proxy.golang.org:443: { runs: 3, firstSeen: 2026-11-20T10:03:11Z, lastSeen: 2026-11-22T09:00:00Z, clusters: [ arc-prod ] }
        registry.npmjs.org:443: { runs: 3, firstSeen: 2026-11-20T10:03:11Z, lastSeen: 2026-11-22T09:00:00Z, clusters: [ arc-prod ] }
        fonts.googleapis.com:443: { runs: 1, firstSeen: 2026-11-22T09:00:00Z, lastSeen: 2026-11-22T09:00:00Z }
      implicit:
        codeload.github.com:443: { runs: 3, firstSeen: 2026-11-20T10:03:11Z, lastSeen: 2026-11-22T09:00:00Z, clusters: [ arc-prod ] }
      addresses:
        168.63.129.16:53: { runs: 3, firstSeen: 2026-11-20T10:03:11Z, lastSeen: 2026-11-22T09:00:00Z, clusters: [ arc-prod ] }
      recentRuns: [ "9001", "9002", "9003" ]
`;

function setup(): TempRepo {
  const created = makeTempRepo(
    {
      'policies/base.yml': BASE,
      'policies/api.yml': API,
      'policies/web.yml': WEB,
      'attachments.yml': 'repositories:\n  acme/api: api\n  acme/web: web\n',
      'baselines/acme/api.yml': API_BASELINE,
    },
    { git: true },
  );
  created.commit('policies and baselines');
  return created;
}
const cli = (...args: string[]) => runCli([...args, '-C', repo?.dir ?? ''], { cwd: repo?.dir ?? '' });
const read = (file: string) => readFileSync(path.join(repo?.dir ?? '', file), 'utf8');

describe('egressctl policy edit', () => {
  it('imports a cluster\'s baseline: appends only new endpoints, keeps comments, order and entry style', async () => {
    repo = setup();
    const run = await cli('policy', 'edit', 'api', '--add-from-baseline', 'cluster:arc-prod');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      [
        'edited policies/api.yml (1 added, 0 removed, 4 not added):',
        '  + postgres.test.internal.acme.example:5432  (from baselines cluster:arc-prod)',
        '  = github.com:443: not added, already allowed through extends: base (github.com:443)',
        '  = objects.githubusercontent.com:443: not added, already allowed through extends: base (*.githubusercontent.com:443)',
        '  = proxy.golang.org:443: not added, already allowed',
        '  = registry.npmjs.org:443: not added, already allowed',
        '',
      ].join('\n'),
    );
    expect(read('policies/api.yml')).toBe(
      API.replace('  - nodejs.org:443\n', '  - nodejs.org:443\n  - postgres.test.internal.acme.example:5432  # from baselines cluster:arc-prod\n'),
    );
    // Only added lines in the diff; the repository stays valid.
    expect(repo.git('diff', '--numstat').trim()).toBe('1\t0\tpolicies/api.yml');
    expect((await cli('validate')).code).toBe(0);

    // The same import again changes nothing, not even the file's time.
    const before = statSync(path.join(repo.dir, 'policies/api.yml')).mtimeMs;
    const again = await cli('policy', 'edit', 'api', '--add-from-baseline', 'cluster:arc-prod');
    expect(again.stdout.split('\n')[0]).toBe('policies/api.yml: nothing to change (0 added, 0 removed, 5 not added)');
    expect(statSync(path.join(repo.dir, 'policies/api.yml')).mtimeMs).toBe(before);
  });

  it('leaves out what the agent allows by itself, and what the policy already matches by wildcard', async () => {
    repo = setup();
    repo.write({
      'insights.txt': [
        '# exported from the insights page',
        'codeload.github.com:443',
        'results-receiver.actions.githubusercontent.com:443',
        'productionresultssa12.blob.core.windows.net:443',
        'raw.githubusercontent.com:443',
        'ghcr.io',
        'pkg-containers.githubusercontent.com',
        '',
      ].join('\n'),
    });
    const run = await cli('policy', 'edit', 'api', '--add-from-baseline', 'file:insights.txt', '--endpoints', '*.docker.io registry.npmjs.org:443');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('edited policies/api.yml (2 added, 0 removed, 6 not added):');
    expect(run.stdout).toContain("  = codeload.github.com:443: not added, Harden-Runner's agent allows it by itself (codeload.github.com:443)");
    expect(run.stdout).toContain("  = results-receiver.actions.githubusercontent.com:443: not added, Harden-Runner's agent allows it by itself (*.actions.githubusercontent.com:443)");
    expect(run.stdout).toContain("  = productionresultssa12.blob.core.windows.net:443: not added, Harden-Runner's agent allows it by itself (productionresultssa*.blob.core.windows.net:443)");
    expect(run.stdout).toContain('  = raw.githubusercontent.com:443: not added, already allowed through extends: base (*.githubusercontent.com:443)');
    expect(read('policies/api.yml')).toBe(
      API.replace('  - nodejs.org:443\n', '  - nodejs.org:443\n  - "*.docker.io:443"\n  - ghcr.io:443  # from insights.txt\n'),
    );
    expect((await cli('validate')).code).toBe(0);
  });

  it('removes by hand, keeping a string list a string', async () => {
    repo = setup();
    const run = await cli('policy', 'edit', 'web', '--remove', 'proxy.golang.org', '--endpoints', 'ghcr.io');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('edited policies/web.yml (1 added, 1 removed, 0 not added):\n  + ghcr.io:443\n  - proxy.golang.org:443\n');
    expect(read('policies/web.yml')).toBe('egress-policy: block\nallowed-endpoints: registry.npmjs.org ghcr.io:443  # keep this short\n');
    // From a block list: the entry's lines go, a map entry with its reason included.
    expect((await cli('policy', 'edit', 'api', '--remove', 'proxy.golang.org:443 nodejs.org')).code).toBe(0);
    expect(read('policies/api.yml')).toBe(API.replace('  - endpoint: proxy.golang.org\n    reason: go modules for the codegen step\n  - nodejs.org:443\n', ''));
    // Removing the last entries leaves an empty list, which block mode reads as "nothing but the implicit ones".
    expect((await cli('policy', 'edit', 'web', '--remove', 'registry.npmjs.org ghcr.io:443')).code).toBe(0);
    expect(read('policies/web.yml')).toBe('egress-policy: block\nallowed-endpoints: []  # keep this short\n');
    expect((await cli('validate')).code).toBe(0);
  });

  it('writes nothing when a removal names no entry of the policy, or the list is a flow list', async () => {
    repo = setup();
    const inherited = await cli('policy', 'edit', 'api', '--remove', 'github.com', '--endpoints', 'ghcr.io');
    expect(inherited.code).toBe(1);
    expect(inherited.stderr).toContain('github.com:443 comes from "extends: base": edit policy base to drop it: nothing was written');
    expect(read('policies/api.yml')).toBe(API);
    repo.write({ 'policies/web.yml': 'egress-policy: block\nallowed-endpoints: [registry.npmjs.org, github.com]\n' });
    const flow = await cli('policy', 'edit', 'web', '--remove', 'github.com');
    expect(flow.code).toBe(1);
    expect(flow.stderr).toContain('policies/web.yml: allowed-endpoints is a flow list: write it in block style to edit it with egressctl');
    expect(read('policies/web.yml')).toBe('egress-policy: block\nallowed-endpoints: [registry.npmjs.org, github.com]\n');
  });

  it('refuses unknown policies, empty sources and requests that change nothing', async () => {
    repo = setup();
    expect((await cli('policy', 'edit', 'nope', '--endpoints', 'ghcr.io')).stderr).toContain('there is no policy "nope"');
    const empty = await cli('policy', 'edit', 'api', '--add-from-baseline', 'repo:acme/unknown');
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain('baselines/ has no observed endpoints for repo:acme/unknown');
    expect((await cli('policy', 'edit', 'api')).code).toBe(2);
    expect((await cli('policy', 'edit', 'api', '--endpoints', 'https://ghcr.io')).code).toBe(2);
    expect(read('policies/api.yml')).toBe(API);
  });
});

describe('egressctl policy edit and expiring exceptions', () => {
  // An exception is not "allowed" for good: an observed endpoint only an exception allows is
  // added (or its own exception made permanent), or the job breaks the day after it ends.
  const soon = utcDay(20);
  const parentSoon = utcDay(10);
  const over = utcDay(-3);
  const EXCEPTIONS_API = [
    'egress-policy: block',
    'extends: base',
    'allowed-endpoints:',
    '  - registry.npmjs.org   # npm ci',
    '  - endpoint: proxy.golang.org',
    '    reason: go modules until the vendored copy lands',
    `    expires: ${soon}`,
    '    owner: team-go',
    '  - endpoint: "*.test.internal.acme.example:5432"',
    '    reason: integration databases during the migration',
    `    expires: ${soon}`,
    '  - endpoint: nodejs.org:443',
    '    reason: old toolchain download',
    `    expires: ${over}`,
    '',
  ].join('\n');
  const BASE_WITH_EXCEPTION = `${BASE}  - endpoint: fonts.googleapis.com\n    reason: docs preview\n    expires: ${parentSoon}\n`;
  const JOB = 'job:acme/api/.github/workflows/ci.yml#build';

  it('adds for good what only an exception allows, and makes the policy\'s own exception permanent, saying so', async () => {
    repo = setup();
    repo.write({ 'policies/api.yml': EXCEPTIONS_API, 'policies/base.yml': BASE_WITH_EXCEPTION });
    const run = await cli('policy', 'edit', 'api', '--add-from-baseline', JOB, '--endpoints', 'nodejs.org');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      [
        'edited policies/api.yml (2 added, 2 made permanent, 0 removed, 3 not added):',
        `  + fonts.googleapis.com:443  (from baselines ${JOB}): only an exception allowed it, fonts.googleapis.com:443 of extends: base until ${parentSoon}`,
        `  + postgres.test.internal.acme.example:5432  (from baselines ${JOB}): only an exception allowed it, *.test.internal.acme.example:5432 until ${soon}`,
        `  ~ nodejs.org:443: made permanent (was an exception that expired on ${over})`,
        `  ~ proxy.golang.org:443  (from baselines ${JOB}): made permanent (was an exception until ${soon})`,
        '  = github.com:443: not added, already allowed through extends: base (github.com:443)',
        '  = objects.githubusercontent.com:443: not added, already allowed through extends: base (*.githubusercontent.com:443)',
        '  = registry.npmjs.org:443: not added, already allowed',
        '',
      ].join('\n'),
    );
    // The exceptions lose their `expires` line only (reason and owner stay); the rest is appended.
    expect(read('policies/api.yml')).toBe(
      [
        'egress-policy: block',
        'extends: base',
        'allowed-endpoints:',
        '  - registry.npmjs.org   # npm ci',
        '  - endpoint: proxy.golang.org',
        '    reason: go modules until the vendored copy lands',
        '    owner: team-go',
        '  - endpoint: "*.test.internal.acme.example:5432"',
        '    reason: integration databases during the migration',
        `    expires: ${soon}`,
        '  - endpoint: nodejs.org:443',
        '    reason: old toolchain download',
        `  - fonts.googleapis.com:443  # from baselines ${JOB}`,
        `  - postgres.test.internal.acme.example:5432  # from baselines ${JOB}`,
        '',
      ].join('\n'),
    );
    const validate = await cli('validate', '--format', 'json');
    expect(validate.code).toBe(0);
    expect(validate.stdout).not.toContain('nodejs.org');
    // Now allowed for good: the same import changes nothing.
    const again = await cli('policy', 'edit', 'api', '--add-from-baseline', JOB);
    expect(again.stdout.split('\n')[0]).toBe('policies/api.yml: nothing to change (0 added, 0 removed, 6 not added)');
  });

  it('makes a flow-style exception permanent by replacing the entry, and says what a removed entry was', async () => {
    repo = setup();
    repo.write({ 'policies/api.yml': `egress-policy: block\nallowed-endpoints:\n  - { endpoint: proxy.golang.org, reason: modules, expires: ${soon} }\n  - endpoint: ghcr.io\n    reason: images\n    expires: ${soon}\n` });
    const run = await cli('policy', 'edit', 'api', '--endpoints', 'proxy.golang.org', '--remove', 'ghcr.io');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      `edited policies/api.yml (0 added, 1 made permanent, 1 removed, 0 not added):\n  ~ proxy.golang.org:443: made permanent (was an exception until ${soon})\n  - ghcr.io:443  (an exception until ${soon})\n`,
    );
    expect(read('policies/api.yml')).toBe('egress-policy: block\nallowed-endpoints:\n  - proxy.golang.org:443  # was an exception: modules\n');
    expect((await cli('validate')).code).toBe(0);
  });
});
