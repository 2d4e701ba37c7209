/**
 * The loaded policy repository (policies, attachments, settings and baselines) and loading it from
 * a work tree or from a git revision through one code path: the edge reads bytes into a snapshot;
 * parsing and rules are pure over the snapshot. It sits above `policy/` and `baselines/` so that
 * neither imports the other's loader (see docs/architecture.md, Layers).
 */
import { lstat, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseAttachmentsFile } from '../policy/attachments-file.js';
import { DiagnosticSink, type Result } from '../policy/diagnostics.js';
import {
  ATTACHMENTS_FILE,
  BASELINES_DIR,
  DEFAULT_SETTINGS,
  POLICIES_DIR,
  SETTINGS_FILE,
  type Policy,
  type PolicySet,
} from '../policy/model.js';
import { POLICY_TESTS_DIR } from '../policy/policy-tests.js';
import { parsePolicyFile } from '../policy/policy-file.js';
import { checkRepository } from '../policy/rules.js';
import { indexBaselineTexts, type BaselineIndex } from '../baselines/recommend.js';
import { parseSettingsFile } from '../policy/settings-file.js';
import { decodeUtf8, MAX_ATTACHMENTS_BYTES, MAX_FILE_BYTES } from '../policy/yaml.js';
import { IoError } from '../util/errors.js';
import { commitDate, gitText, readBlobs, resolveCommit } from '../util/git.js';

/** A loaded policy repository at one revision (or a work tree): the policy set and its baselines. */
export interface PolicyRepository extends PolicySet {
  /** Observed endpoints per job from `baselines/`, with recommendations. */
  baselines: BaselineIndex;
}

export interface LoadOptions {
  /** The policy repository's directory (a git work tree when `rev` is given). */
  dir: string;
  /** Read this git revision's objects instead of the work tree (nothing is checked out). */
  rev?: string;
}

/** Raw bytes of the files that make up a policy repository, by repository-relative path. */
export interface Snapshot {
  files: Map<string, Uint8Array>;
  /** Commit SHA when read from git. */
  revision?: string;
  /** Committer date (UTC ISO) when read from git. */
  committedAt?: string;
}

export interface RevisionInfo {
  revision: string;
  committedAt: string;
}

/** Which repository-relative paths belong to the policy repository. */
export function isPolicyRepositoryFile(relativePath: string): boolean {
  if (relativePath === ATTACHMENTS_FILE || relativePath === SETTINGS_FILE) return true;
  if (relativePath.startsWith(`${POLICIES_DIR}/`)) return !relativePath.slice(POLICIES_DIR.length + 1).includes('/');
  if (relativePath.startsWith(`${BASELINES_DIR}/`)) return /\.ya?ml$/.test(relativePath);
  // Policy tests (docs/architecture.md#policy-tests): read with the rest so `test --rev` sees them.
  if (relativePath.startsWith(`${POLICY_TESTS_DIR}/`)) return /^[^/]+\.ya?ml$/.test(relativePath.slice(POLICY_TESTS_DIR.length + 1));
  return false;
}

export async function readSnapshot(options: LoadOptions): Promise<Snapshot> {
  return options.rev === undefined ? readWorkTree(options.dir) : readRevision(options.dir, options.rev);
}

async function readWorkTree(dir: string): Promise<Snapshot> {
  try {
    const stats = await lstat(dir);
    if (!stats.isDirectory()) throw new IoError(`${dir} is not a directory: pass the policy repository's directory with -C`);
  } catch (error) {
    if (error instanceof IoError) throw error;
    throw new IoError(`cannot read ${dir}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  const files = new Map<string, Uint8Array>();
  const candidates = [ATTACHMENTS_FILE, SETTINGS_FILE, ...(await listFiles(dir, POLICIES_DIR, false)), ...(await listFiles(dir, BASELINES_DIR, true)), ...(await listFiles(dir, POLICY_TESTS_DIR, false))];
  for (const relativePath of candidates) {
    if (!isPolicyRepositoryFile(relativePath)) continue;
    try {
      const absolute = path.join(dir, relativePath);
      if (!(await lstat(absolute)).isFile()) continue;
      files.set(relativePath, await readFile(absolute));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new IoError(`cannot read ${relativePath}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
  }
  return { files };
}

async function listFiles(dir: string, relativeDir: string, recursive: boolean): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(path.join(dir, relativeDir), { withFileTypes: true });
  } catch {
    return [];
  }
  const found: string[] = [];
  for (const entry of entries) {
    const relativePath = `${relativeDir}/${entry.name}`;
    if (entry.isFile()) found.push(relativePath);
    else if (recursive && entry.isDirectory()) found.push(...(await listFiles(dir, relativePath, true)));
  }
  return found.sort();
}

async function readRevision(dir: string, rev: string): Promise<Snapshot> {
  const revision = await resolveCommit(dir, rev);
  // The policy repository may live in a subdirectory of the git repository.
  const prefix = (await gitText(dir, ['rev-parse', '--show-prefix'])).trim();
  const listing = await gitText(dir, ['ls-tree', '-r', '-z', '--full-tree', revision, '--', prefix || '.']);
  const wanted: { relativePath: string; sha: string }[] = [];
  for (const record of listing.split('\0')) {
    const match = /^(\d+) (\w+) ([0-9a-f]+)\t(.*)$/s.exec(record);
    if (!match || match[2] !== 'blob') continue;
    const fullPath = match[4] ?? '';
    if (prefix && !fullPath.startsWith(prefix)) continue;
    const relativePath = fullPath.slice(prefix.length);
    if (isPolicyRepositoryFile(relativePath)) wanted.push({ relativePath, sha: match[3] ?? '' });
  }
  const blobs = await readBlobs(dir, [...new Set(wanted.map((item) => item.sha))]);
  const files = new Map<string, Uint8Array>();
  for (const item of wanted) files.set(item.relativePath, blobs.get(item.sha) ?? new Uint8Array());
  return { files, revision, committedAt: await commitDate(dir, revision) };
}

export async function readRevisionInfo(options: { dir: string; rev?: string }): Promise<RevisionInfo> {
  const revision = await resolveCommit(options.dir, options.rev ?? 'HEAD');
  return { revision, committedAt: await commitDate(options.dir, revision) };
}

/** Pure: parse and check every file of a snapshot. Deterministic whatever the map's order. */
export function parsePolicyRepository(files: ReadonlyMap<string, Uint8Array>): Result<PolicyRepository> {
  const sink = new DiagnosticSink();
  const texts = new Map<string, string>();
  for (const [relativePath, bytes] of [...files.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const text = decodeUtf8(relativePath, bytes, sink, relativePath === ATTACHMENTS_FILE ? MAX_ATTACHMENTS_BYTES : MAX_FILE_BYTES);
    if (text !== undefined) texts.set(relativePath, text);
  }

  const policies = new Map<string, Policy>();
  for (const [relativePath, text] of texts) {
    if (!relativePath.startsWith(`${POLICIES_DIR}/`)) continue;
    if (!relativePath.endsWith('.yml')) {
      sink.error(
        'policy/file-name',
        { file: relativePath, line: 1, column: 1 },
        relativePath.endsWith('.yaml')
          ? `policy files end in .yml: rename ${relativePath} to ${relativePath.replace(/\.yaml$/, '.yml')}`
          : `${relativePath} is not a policy file: policies/ holds only <name>.yml files; move or delete it`,
      );
      continue;
    }
    const policy = parsePolicyFile(relativePath, text, sink);
    if (policy) policies.set(policy.name, policy);
  }

  const attachmentsText = texts.get(ATTACHMENTS_FILE);
  const attachments = attachmentsText === undefined ? [] : parseAttachmentsFile(ATTACHMENTS_FILE, attachmentsText, sink);
  const settingsText = texts.get(SETTINGS_FILE);
  const settings = settingsText === undefined ? structuredClone(DEFAULT_SETTINGS) : parseSettingsFile(SETTINGS_FILE, settingsText, sink);

  // Baselines are part of the policy repository: their findings belong in the same report.
  const baselines = indexBaselineTexts(texts, { stableAfterRuns: settings.stableAfterRuns });
  for (const diagnostic of [...baselines.errors, ...baselines.warnings]) sink.add(diagnostic);

  const repository: PolicyRepository = { policies, attachments, settings, files: texts, baselines: baselines.value };
  checkRepository(repository, sink);
  return sink.result(repository);
}

export async function loadPolicyRepository(options: LoadOptions): Promise<Result<PolicyRepository> & { snapshot: Snapshot }> {
  const snapshot = await readSnapshot(options);
  return { ...parsePolicyRepository(snapshot.files), snapshot };
}

/** Policy repository files that differ from HEAD in the work tree or index (untracked ones too). */
export async function uncommittedPolicyFiles(dir: string): Promise<string[]> {
  const pathspecs = [POLICIES_DIR, ATTACHMENTS_FILE, SETTINGS_FILE, BASELINES_DIR];
  const output = await gitText(dir, ['status', '--porcelain=v1', '-z', '--untracked-files=all', '--', ...pathspecs]).catch(() => '');
  const files: string[] = [];
  const records = output.split('\0');
  for (let index = 0; index < records.length; index++) {
    const record = records[index] ?? '';
    if (record.length < 4) continue;
    files.push(record.slice(3));
    // A rename or copy is followed by its source path.
    if (record[0] === 'R' || record[0] === 'C') index++;
  }
  return files;
}
