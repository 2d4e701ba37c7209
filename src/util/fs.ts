/**
 * Atomic file writes (bundles, keys, policies, baselines, workflows): a reader sees the old file
 * or the new one, never half of one, and a crash never leaves a truncated file behind.
 */
import { randomBytes } from 'node:crypto';
import { link, lstat, mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import { IoError, messageOf } from './errors.js';

export interface AtomicWriteOptions {
  /** File mode of the new file (default 0o644). Set before the file gets its final name. */
  mode?: number;
  /** When false, fail if `path` exists; the check and the write are one atomic step. Default true. */
  overwrite?: boolean;
  /** Keep the mode of the file being replaced (falls back to `mode` for a new file). */
  keepMode?: boolean;
  /** Create missing parent directories. */
  mkdirs?: boolean;
}

/** Thrown (as an IoError) when `overwrite: false` and the file is already there. */
export class FileExistsError extends IoError {
  readonly path: string;
  constructor(path: string, hint?: string) {
    super(`${path} already exists${hint ? `: ${hint}` : ''}`);
    this.path = path;
  }
}

/** Write to a temporary file in the same directory, fsync, then rename (or link) into place. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  if (options.mkdirs) await mkdir(dirname(path), { recursive: true });
  let mode = options.mode ?? 0o644;
  if (options.keepMode) mode = await stat(path).then((stats) => stats.mode & 0o7777, () => mode);
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let created = false;
  try {
    const handle = await open(temp, 'wx', mode);
    created = true;
    try {
      await handle.writeFile(data);
      // open's mode is filtered by the umask; the caller asked for exactly this mode.
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (options.overwrite === false) {
      // link() fails with EEXIST instead of replacing: an atomic "create if absent".
      await link(temp, path);
      await unlink(temp);
    } else {
      await rename(temp, path);
    }
    created = false;
    await syncDirectory(dirname(path));
  } catch (error) {
    if (created) await unlink(temp).catch(() => undefined);
    if ((error as NodeJS.ErrnoException).code === 'EEXIST' && options.overwrite === false) throw new FileExistsError(path);
    if (error instanceof IoError) throw error;
    throw new IoError(`cannot write ${path}: ${writeFailure(error, path, temp)}`, { cause: error });
  }
}

/**
 * Why a write failed, in terms of the file asked for: the temporary name is ours, never the
 * reader's concern (issue 23), and a missing folder is named as such.
 */
function writeFailure(error: unknown, path: string, temp: string): string {
  const folder = dirname(path);
  switch ((error as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return `the folder ${folder} does not exist`;
    case 'ENOTDIR':
      return `${folder} is not a folder`;
    case 'EACCES':
    case 'EPERM':
      return `permission denied in the folder ${folder}`;
    default:
      return messageOf(error).replaceAll(temp, path);
  }
}

/** Make the rename itself durable. Some platforms cannot open a directory: that is not fatal. */
async function syncDirectory(directory: string): Promise<void> {
  try {
    const handle = await open(directory, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Best effort only: the data itself was already fsynced.
  }
}

/**
 * The first component of `relativePath` under `root` (itself included) that is a symbolic link,
 * as a path relative to `root`; undefined when none is. A scaffold written through a link
 * (`schemas -> ../outside`) would land outside the folder the user named.
 */
export async function symlinkOnPath(root: string, relativePath: string): Promise<string | undefined> {
  const parts = relativePath.split(/[\\/]/).filter((part) => part !== '' && part !== '.');
  for (let length = 1; length <= parts.length; length++) {
    const partial = parts.slice(0, length).join(sep);
    try {
      if ((await lstat(join(root, partial))).isSymbolicLink()) return partial;
    } catch (error) {
      // Nothing there yet: nothing below it can be a link either.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new IoError(`cannot inspect ${join(root, partial)}: ${messageOf(error)}`, { cause: error });
    }
  }
  return undefined;
}
