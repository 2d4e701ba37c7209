/** The bundle source named by `--source`: an upstream URL, a bundle file, a git work tree or a directory. */
import type { KeyObject } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { UsageError, messageOf } from '../util/errors.js';
import { isGitWorkTree } from '../util/git.js';
import { FileSource } from './sources/file.js';
import { GitSource } from './sources/git.js';
import type { BundleSource } from './sources/source.js';
import { UpstreamSource } from './sources/upstream.js';
import { WorktreeSource } from './sources/worktree.js';
import type { BundleStore } from './store.js';

export interface SourceOptions {
  /** Undefined: `cwd`. Null: no source. */
  source?: string | null;
  cwd?: string;
  upstreamApiKey?: string;
  allowRewind?: boolean;
  pollIntervalMs?: number;
}

export async function createSource(options: SourceOptions, store: BundleStore, logger: Logger, signKeys: readonly KeyObject[]): Promise<BundleSource | undefined> {
  if (options.source === null) return undefined;
  const cwd = options.cwd ?? process.cwd();
  const spec = options.source ?? cwd;
  if (/^https?:\/\//i.test(spec)) {
    let parsed: URL;
    try {
      parsed = new URL(spec);
    } catch {
      throw new UsageError(`--source ${spec} is not a valid URL`);
    }
    if (parsed.username || parsed.password) throw new UsageError('--source URL must not carry credentials');
    return new UpstreamSource({ url: parsed.toString(), store, ...(options.upstreamApiKey ? { headers: { authorization: `ApiKey ${options.upstreamApiKey}` } } : {}) });
  }
  const location = path.resolve(cwd, spec);
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(location)).isDirectory();
  } catch (error) {
    throw new UsageError(`--source ${spec}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : messageOf(error)}`);
  }
  const pollIntervalMs = options.pollIntervalMs;
  if (!isDirectory) return new FileSource({ file: location, store, ...(pollIntervalMs ? { pollIntervalMs } : {}) });
  if (await isGitWorkTree(location)) {
    return new GitSource({ dir: location, store, logger, signKeys, allowRewind: options.allowRewind ?? false, ...(pollIntervalMs ? { pollIntervalMs } : {}) });
  }
  logger.warn({ dir: location }, 'not a git repository: serving its files as they are, with revision worktree-<content digest>');
  return new WorktreeSource({ dir: location, store, logger, signKeys, ...(pollIntervalMs ? { pollIntervalMs } : {}) });
}
