import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { scaffoldFiles } from '../../src/cli/init.js';
import { runCli } from '../support/cli.js';
import { followServe } from '../support/serve-process.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SOURCE = `acme/egressctl@${'0123456789'.repeat(4)}`;
const GIT_ENV = { GIT_AUTHOR_NAME: 'T', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 'T', GIT_COMMITTER_EMAIL: 't@example.com' };

let dir: string;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function git(...args: string[]): string {
  return execFileSync('git', ['-C', dir, ...args], { env: { ...process.env, ...GIT_ENV }, encoding: 'utf8' });
}

/** `egressctl serve` as a process on a free port: its URL once it says it listens, and a stop. */
async function serve(source: string): Promise<{ url: string; stop: () => Promise<number | null> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', `import('./src/cli/main.ts').then((m) => m.main(['serve', '--source', ${JSON.stringify(source)}])).then((code) => { process.exitCode = code; })`], {
    cwd: repoRoot,
    env: { ...process.env, EGRESSCTL_PORT: '0', EGRESSCTL_HOST: '127.0.0.1', EGRESSCTL_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const serving = followServe(child);
  const exited = serving.exited;
  const url = await serving.url;
  return {
    url,
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

describe('egressctl init', () => {
  it('scaffolds a repository that validates, compiles and serves', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'egressctl-init-'));
    const target = path.join(dir, 'policies-repo');
    const init = await runCli(['init', 'policies-repo', '--org', 'Acme', '--egressctl', SOURCE], { cwd: dir });
    expect(init.stderr).toBe('');
    expect(init.code).toBe(0);
    expect(init.stdout).toContain('initialized an empty git repository');
    dir = target;
    expect(git('rev-parse', '--is-inside-work-tree').trim()).toBe('true');

    // The yaml-language-server headers point at schemas that exist.
    for (const file of ['attachments.yml', 'egressctl.yml', 'policies/org-audit.yml', 'tests/org-audit.yml']) {
      const header = /\$schema=(\S+)/.exec(readFileSync(path.join(dir, file), 'utf8'))?.[1];
      expect(header, file).toBeDefined();
      expect(() => readFileSync(path.resolve(path.dirname(path.join(dir, file)), header ?? ''), 'utf8')).not.toThrow();
    }
    expect(readdirSync(path.join(dir, 'schemas')).sort()).toEqual(readdirSync(path.join(repoRoot, 'schemas')).filter((name) => name.endsWith('.schema.json')).sort());

    // The check runs validate with annotations, with egressctl and every action pinned by commit.
    const workflow = readFileSync(path.join(dir, '.github/workflows/validate-policies.yml'), 'utf8');
    const steps = (parse(workflow) as { jobs: { validate: { steps: { uses?: string; run?: string }[] } } }).jobs.validate.steps;
    for (const step of steps.filter((item) => item.uses !== undefined)) expect(step.uses).toMatch(/@[0-9a-f]{40}$/);
    // The check runs validate with annotations, then the policy tests.
    expect(steps.slice(-2).map((step) => step.run)).toEqual([
      `npx --yes github:acme/egressctl#${'0123456789'.repeat(4)} validate --format github`,
      `npx --yes github:acme/egressctl#${'0123456789'.repeat(4)} test`,
    ]);

    const validate = await runCli(['validate', '-C', dir, '--format', 'json']);
    expect(JSON.parse(validate.stdout)).toEqual({ ok: true, errors: [], warnings: [], notices: [] });

    // compile builds HEAD: before the first commit it says so; after it, a bundle.
    const early = await runCli(['compile', '-C', dir, '--unsigned']);
    expect(early.code).toBe(2);
    expect(early.stderr).toContain('commit them first');
    git('add', '-A');
    git('commit', '-q', '-m', 'Start the policy repository');
    const compile = await runCli(['compile', '-C', dir, '--unsigned', '-o', path.join(dir, '..', 'bundle.json')]);
    expect(compile.stderr).toContain(`compiled ${git('rev-parse', 'HEAD').trim()}`);
    expect(compile.code).toBe(0);

    const server = await serve(dir);
    try {
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
      const bundle = await fetch(`${server.url}/v1/bundle`);
      expect(bundle.status).toBe(200);
      const envelope = (await bundle.json()) as { payload: string };
      const payload = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as { attachments: { organizations: Record<string, string> } };
      expect(payload.attachments.organizations).toEqual({ acme: 'org-audit' });
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, 60_000);

  it('never overwrites: refuses each existing file with a message and writes the rest', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'egressctl-init-'));
    git('init', '-q');
    writeFileSync(path.join(dir, 'README.md'), 'ours\n');
    mkdirSync(path.join(dir, 'policies'));
    writeFileSync(path.join(dir, 'policies/org-audit.yml'), 'egress-policy: block\n');
    const run = await runCli(['init', '--org', 'acme'], { cwd: dir });
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('refused README.md: it already exists and init never overwrites a file');
    expect(run.stderr).toContain('refused policies/org-audit.yml');
    expect(readFileSync(path.join(dir, 'README.md'), 'utf8')).toBe('ours\n');
    expect(readFileSync(path.join(dir, 'policies/org-audit.yml'), 'utf8')).toBe('egress-policy: block\n');
    expect(run.stdout).toContain('created attachments.yml');
    expect(run.stdout).not.toContain('initialized an empty git repository');

    const again = await runCli(['init', '--org', 'acme'], { cwd: dir });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already has every file init writes');
  });

  it('refuses to write through a symlinked directory or file, naming it, and writes nothing', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'egressctl-init-'));
    const outside = path.join(dir, 'outside');
    const target = path.join(dir, 'repo');
    mkdirSync(outside);
    mkdirSync(target);
    symlinkSync('../outside', path.join(target, 'schemas'));
    const directory = await runCli(['init', target, '--org', 'acme', '--egressctl', SOURCE], { cwd: dir });
    expect(directory.code).toBe(1);
    expect(directory.stderr).toContain('schemas');
    expect(directory.stderr).toMatch(/symbolic link/);
    expect(readdirSync(outside)).toEqual([]);
    expect(readdirSync(target).sort()).toEqual(['schemas']);

    rmSync(path.join(target, 'schemas'));
    symlinkSync('../outside/settings.yml', path.join(target, 'egressctl.yml'));
    const file = await runCli(['init', target, '--org', 'acme', '--egressctl', SOURCE], { cwd: dir });
    expect(file.code).toBe(1);
    expect(file.stderr).toContain('egressctl.yml');
    expect(file.stderr).toMatch(/symbolic link/);
    expect(readdirSync(outside)).toEqual([]);
    expect(readdirSync(target).sort()).toEqual(['egressctl.yml']);
  });

  it('refuses a bad organization or pin with a usage error', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'egressctl-init-'));
    expect(await runCli(['init', dir])).toMatchObject({ code: 2, stderr: expect.stringContaining('--org ORG') });
    expect(await runCli(['init', dir, '--org', 'not an org'])).toMatchObject({ code: 2, stderr: expect.stringContaining('not an organization login') });
    expect(await runCli(['init', dir, '--org', 'acme', '--egressctl', 'acme/egressctl@main'])).toMatchObject({ code: 2, stderr: expect.stringContaining('full 40-hex commit SHA') });
    expect(readdirSync(dir)).toEqual([]);
  });

  it('leaves the workflow out, with a note, when it cannot pin egressctl', () => {
    expect([...scaffoldFiles({ organization: 'acme' }).keys()]).not.toContain('.github/workflows/validate-policies.yml');
  });
});

describe('where the validation workflow installs egressctl from', () => {
  it('reads OWNER/REPO from GitHub remotes and OWNER/REPO@SHA from the flag', async () => {
    const { githubRepositoryOfRemote, parseEgressctlSource } = await import('../../src/cli/init.js');
    expect(githubRepositoryOfRemote('https://github.com/acme/egressctl.git')).toBe('acme/egressctl');
    expect(githubRepositoryOfRemote('git@github.com:acme/egress.ctl')).toBe('acme/egress.ctl');
    expect(githubRepositoryOfRemote('ssh://git@github.com/acme/egressctl.git')).toBe('acme/egressctl');
    expect(githubRepositoryOfRemote('https://gitlab.com/acme/egressctl.git')).toBeUndefined();
    expect(parseEgressctlSource(`acme/egressctl@${'f'.repeat(40)}`)).toEqual({ repository: 'acme/egressctl', sha: 'f'.repeat(40) });
    expect(parseEgressctlSource('acme/egressctl@v1')).toBeUndefined();
  });
});
