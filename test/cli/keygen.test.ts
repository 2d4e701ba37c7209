import { readFileSync, statSync, writeFileSync } from 'node:fs';
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
    const run = await runCli(['keygen', '--out', 'keys/signing'], { cwd: scratch.dir });
    // keys/ does not exist: keygen writes into existing directories only.
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/cannot write .*keys\/signing\.key/);

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
