import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileExistsError, writeFileAtomic } from '../../src/util/fs.js';
import { IoError } from '../../src/util/errors.js';

const dir = mkdtempSync(path.join(tmpdir(), 'egressctl-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('writeFileAtomic', () => {
  it('writes with the mode asked for, whatever the umask, and leaves no temporary file', async () => {
    const file = path.join(dir, 'secret.key');
    const previous = process.umask(0o077);
    try {
      await writeFileAtomic(path.join(dir, 'public.pub'), 'pub', { mode: 0o644 });
    } finally {
      process.umask(previous);
    }
    await writeFileAtomic(file, 'secret', { mode: 0o600 });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(dir, 'public.pub')).mode & 0o777).toBe(0o644);
    expect(readFileSync(file, 'utf8')).toBe('secret');
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('replaces by default and refuses to when overwrite is false', async () => {
    const file = path.join(dir, 'bundle.json');
    writeFileSync(file, 'old');
    await writeFileAtomic(file, 'new');
    expect(readFileSync(file, 'utf8')).toBe('new');
    const refused = writeFileAtomic(file, 'newer', { overwrite: false });
    await expect(refused).rejects.toThrow(FileExistsError);
    await expect(writeFileAtomic(file, 'newer', { overwrite: false })).rejects.toThrow(`${file} already exists`);
    expect(readFileSync(file, 'utf8')).toBe('new');
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('reports a directory it cannot write into as an IoError', async () => {
    await expect(writeFileAtomic(path.join(dir, 'no-such-dir', 'x'), 'x')).rejects.toThrow(IoError);
    await expect(writeFileAtomic(path.join(dir, 'no-such-dir', 'x'), 'x')).rejects.toThrow(
      `cannot write ${path.join(dir, 'no-such-dir', 'x')}: the folder ${path.join(dir, 'no-such-dir')} does not exist`,
    );
  });

  it('never names its temporary file in an error', async () => {
    const missing = writeFileAtomic(path.join(dir, 'no-such-dir', 'acme.key'), 'x', { mode: 0o600 });
    await expect(missing).rejects.not.toThrow(/\.tmp|\.acme\.key\./);
    const file = path.join(dir, 'not-a-folder');
    writeFileSync(file, 'x');
    const under = writeFileAtomic(path.join(file, 'acme.key'), 'x');
    await expect(under).rejects.toThrow(`${file} is not a folder`);
    await expect(writeFileAtomic(path.join(file, 'acme.key'), 'x')).rejects.not.toThrow(/\.tmp/);
  });
});
