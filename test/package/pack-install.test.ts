/**
 * The package as another repository gets it: build into a staging copy, `npm pack` it (the
 * `files` list decides what ships), install the tarball into an empty directory with production
 * dependencies only, and run the installed `egressctl` there. Nothing is written to this work tree.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const hasNpm = spawnSync(npm, ['--version'], { encoding: 'utf8' }).status === 0;
const GIT_ENV = { GIT_AUTHOR_NAME: 'T', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 'T', GIT_COMMITTER_EMAIL: 't@example.com' };

const scratch = mkdtempSync(path.join(tmpdir(), 'egressctl-pack-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): string {
  const result = spawnSync(command, args, { cwd, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 240_000 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/** A copy of the package with a fresh dist/, so packing never touches the work tree. */
function stagePackage(): string {
  const staging = path.join(scratch, 'staging');
  mkdirSync(staging);
  for (const entry of ['package.json', 'README.md', 'bin', 'schemas', 'actions', 'app.yml']) {
    if (existsSync(path.join(repoRoot, entry))) cpSync(path.join(repoRoot, entry), path.join(staging, entry), { recursive: true });
  }
  // The build's emit without its type check: with isolatedModules and verbatimModuleSyntax the
  // JavaScript is the same byte for byte, and types are checked by `npm run typecheck` (and by
  // `npm run build` in `npm ci`). Checking them again here took two thirds of the build's time.
  run(process.execPath, [path.join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--noCheck', '--outDir', path.join(staging, 'dist')], repoRoot);
  return staging;
}

describe.runIf(hasNpm)('npm pack, then install the tarball elsewhere', () => {
  it('installs without dev dependencies and runs --help, init, validate and compile', () => {
    const staging = stagePackage();
    // prepare (the build) already ran above; npm would otherwise run it with dev dependencies.
    const tarballName = run(npm, ['pack', '--ignore-scripts', '--silent', '--pack-destination', scratch], staging).trim().split('\n').pop() ?? '';
    const tarball = path.join(scratch, tarballName);
    const listing = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).split('\n');
    for (const needed of ['package/bin/egressctl.js', 'package/dist/cli/main.js', 'package/dist/cli/commands/init.js', 'package/schemas/policy.schema.json']) {
      expect(listing).toContain(needed);
    }
    expect(listing.some((file) => file.startsWith('package/src/') || file.startsWith('package/test/'))).toBe(false);

    const consumer = path.join(scratch, 'consumer');
    mkdirSync(consumer);
    writeFileSync(path.join(consumer, 'package.json'), '{ "name": "consumer", "private": true }\n');
    run(npm, ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-update-notifier', '--omit=dev', '--loglevel=error', tarball], consumer);
    // No dev dependency reached the consumer.
    for (const devOnly of ['typescript', 'vitest', 'fast-check', 'tsx']) expect(existsSync(path.join(consumer, 'node_modules', devOnly))).toBe(false);

    const egressctl = path.join(consumer, 'node_modules/.bin/egressctl');
    expect(run(egressctl, ['--help'], consumer)).toContain('init');
    const policies = path.join(consumer, 'policies-repo');
    run(egressctl, ['init', policies, '--org', 'acme', '--egressctl', `acme/egressctl@${'ab'.repeat(20)}`], consumer);
    expect(readdirSync(path.join(policies, 'schemas'))).toContain('policy.schema.json');
    expect(run(egressctl, ['validate', '-C', policies], consumer)).toContain('valid: 1 policy, 1 attachment, 0 errors, 0 warnings');
    run('git', ['-C', policies, 'add', '-A'], consumer);
    run('git', ['-C', policies, 'commit', '-q', '-m', 'start'], consumer, GIT_ENV);
    const bundle = JSON.parse(run(egressctl, ['compile', '-C', policies, '--unsigned'], consumer)) as { payloadType: string };
    expect(bundle.payloadType).toBe('application/vnd.egressctl.bundle.v1+json');
  }, 300_000);
});
