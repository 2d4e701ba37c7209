import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { keyIdOf, loadPrivateKey, loadPublicKeys } from '../../src/bundle/keys.js';
import { runCli } from '../support/cli.js';
import { makeTempRepo, type TempRepo } from '../support/policy-repo.js';

let scratch: TempRepo | undefined;
afterEach(() => scratch?.cleanup());

describe('egressctl keygen', () => {
  it('writes PREFIX.key (0600) and PREFIX.pub and prints the keyid', async () => {
    scratch = makeTempRepo();
    const ok = await runCli(['keygen', '--out', 'signing'], { cwd: scratch.dir });
    expect(ok.code).toBe(0);
    const privatePath = path.join(scratch.dir, 'signing.key');
    const publicPath = path.join(scratch.dir, 'signing.pub');
    expect(statSync(privatePath).mode & 0o777).toBe(0o600);
    expect(statSync(publicPath).mode & 0o777).toBe(0o644);
    const [publicKey] = await loadPublicKeys(publicPath);
    expect(ok.stdout).toBe(`${keyIdOf(publicKey!)}\n`);
    expect(keyIdOf(await loadPrivateKey(privatePath))).toBe(keyIdOf(publicKey!));
    expect(ok.stderr).toContain('mode 0600');
  });

  it('makes a missing folder (mode 0700, it holds a private key) and names no temporary file', async () => {
    scratch = makeTempRepo();
    const run = await runCli(['keygen', '--out', 'keys/acme'], { cwd: scratch.dir });
    expect(run.code).toBe(0);
    const keys = path.join(scratch.dir, 'keys');
    expect(statSync(keys).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(keys, 'acme.key')).mode & 0o777).toBe(0o600);
    expect(run.stderr).toContain(`created the folder ${keys} (mode 0700)`);
    expect(readdirSync(keys).sort()).toEqual(['acme.key', 'acme.pub']);

    // A path that cannot be a folder: the message names it, not keygen's temporary file.
    writeFileSync(path.join(scratch.dir, 'plain'), 'x');
    const blocked = await runCli(['keygen', '--out', 'plain/acme'], { cwd: scratch.dir });
    expect(blocked.code).toBe(2);
    expect(blocked.stderr).not.toMatch(/\.tmp|\.acme\.key\./);
    expect(blocked.stderr).toContain(`cannot make the folder ${path.join(scratch.dir, 'plain')} for the keys: a file is in the way`);
  });

  it('refuses to overwrite either file without --force, and replaces both with it', async () => {
    scratch = makeTempRepo();
    const prefix = path.join(scratch.dir, 'k');
    writeFileSync(`${prefix}.pub`, 'someone else\'s key\n');
    const refused = await runCli(['keygen', '--out', prefix]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`${prefix}.pub already exists: pass --force to replace`);
    expect(() => statSync(`${prefix}.key`)).toThrow();
    expect(readFileSync(`${prefix}.pub`, 'utf8')).toBe('someone else\'s key\n');

    const forced = await runCli(['keygen', '--out', prefix, '--force']);
    expect(forced.code).toBe(0);
    const firstKey = readFileSync(`${prefix}.key`, 'utf8');
    expect((await runCli(['keygen', '--out', prefix])).code).toBe(2);
    expect(readFileSync(`${prefix}.key`, 'utf8')).toBe(firstKey);
    expect((await runCli(['keygen', '--out', prefix, '--force'])).code).toBe(0);
    expect(readFileSync(`${prefix}.key`, 'utf8')).not.toBe(firstKey);
    expect(statSync(`${prefix}.key`).mode & 0o777).toBe(0o600);
  });

  it('needs --out', async () => {
    const run = await runCli(['keygen']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--out PREFIX');
  });
});
