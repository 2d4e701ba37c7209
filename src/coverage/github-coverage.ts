/**
 * `egressctl coverage --org`: the I/O edge that reads each repository's workflow files (and the
 * files enforcement targets declare) from GitHub through the one GitHub client, then asks the
 * pure coverage code. Per repository: the tree of the default branch (one request, three when
 * GitHub truncates it), one blob per workflow file, one contents read per declared target file.
 */
import type { GitHubClient } from '../github/client.js';
import { listTargets, type RepositoryTarget } from '../rollout/rollout.js';
import { gitHubStatus, messageOf } from '../util/errors.js';
import { coverRepository, targetFiles, type CoverageStore } from './coverage.js';
import type { RepositoryCoverage } from './model.js';

const WORKFLOW_FILE = /^\.github\/workflows\/[^/]+\.ya?ml$/;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export interface RepositoryCoverageResult {
  repository: string;
  /** Undefined when the repository could not be read (`error` says why) or is archived. */
  coverage?: RepositoryCoverage;
  error?: string;
  skipped?: string;
  requests: number;
}

export interface OrganizationCoverageOptions {
  client: GitHubClient;
  organization: string;
  store: CoverageStore;
  repositories?: readonly string[];
  listing?: 'installation' | 'organization';
  concurrency?: number;
  onRepository?: (result: RepositoryCoverageResult) => void;
  signal?: AbortSignal;
  now?: () => string;
}

interface TreeEntry {
  path?: string;
  type?: string;
  sha?: string;
  mode?: string;
}

class RepositoryReader {
  requests = 0;
  constructor(
    private readonly client: GitHubClient,
    private readonly owner: string,
    private readonly repo: string,
  ) {}

  private get rest() {
    this.requests++;
    return this.client.rest;
  }

  async defaultBranch(): Promise<{ branch: string; archived: boolean }> {
    const { data } = await this.rest.repos.get({ owner: this.owner, repo: this.repo });
    return { branch: data.default_branch, archived: data.archived || data.disabled === true };
  }

  /** Workflow file entries of the branch; empty for an empty repository. */
  async workflowEntries(branch: string): Promise<TreeEntry[]> {
    const { owner, repo } = this;
    let root;
    try {
      root = (await this.rest.git.getTree({ owner, repo, tree_sha: branch, recursive: '1' })).data;
    } catch (error) {
      if (gitHubStatus(error) === 409 || gitHubStatus(error) === 404) return [];
      throw error;
    }
    const pick = (entries: readonly TreeEntry[], prefix: string) =>
      entries.filter((entry) => entry.type === 'blob' && entry.sha && entry.mode !== '120000' && WORKFLOW_FILE.test(`${prefix}${entry.path ?? ''}`)).map((entry) => ({ ...entry, path: `${prefix}${entry.path ?? ''}` }));
    if (!root.truncated) return pick(root.tree, '');
    const github = root.tree.find((entry) => entry.path === '.github' && entry.type === 'tree');
    if (!github?.sha) return [];
    const workflows = (await this.rest.git.getTree({ owner, repo, tree_sha: github.sha })).data.tree.find((entry) => entry.path === 'workflows' && entry.type === 'tree');
    if (!workflows?.sha) return [];
    return pick((await this.rest.git.getTree({ owner, repo, tree_sha: workflows.sha })).data.tree, '.github/workflows/');
  }

  async blobText(sha: string): Promise<string | undefined> {
    const blob = (await this.rest.git.getBlob({ owner: this.owner, repo: this.repo, file_sha: sha })).data;
    try {
      return strictUtf8.decode(Buffer.from(blob.content, blob.encoding === 'base64' ? 'base64' : 'utf8'));
    } catch {
      return undefined;
    }
  }

  /** A file's text on the branch; undefined when it does not exist. */
  async fileText(path: string, ref: string): Promise<string | undefined> {
    try {
      const { data } = await this.rest.repos.getContent({ owner: this.owner, repo: this.repo, path, ref });
      if (Array.isArray(data) || data.type !== 'file' || !('content' in data)) return undefined;
      return Buffer.from(data.content, 'base64').toString('utf8');
    } catch (error) {
      if (gitHubStatus(error) === 404) return undefined;
      throw error;
    }
  }
}

async function coverOne(options: OrganizationCoverageOptions, target: RepositoryTarget): Promise<RepositoryCoverageResult> {
  const repository = `${target.owner}/${target.name}`;
  const reader = new RepositoryReader(options.client, target.owner, target.name);
  try {
    let branch = target.defaultBranch;
    let archived = target.archived === true;
    if (branch === undefined) ({ branch, archived } = await reader.defaultBranch());
    if (archived) return { repository, skipped: 'archived', requests: reader.requests };
    const entries = await reader.workflowEntries(branch);
    const workflows: { path: string; text: string }[] = [];
    const problems: RepositoryCoverage['problems'] = [];
    for (const entry of entries) {
      const text = await reader.blobText(entry.sha ?? '');
      if (text === undefined) problems.push({ repository, file: entry.path ?? '', message: `${entry.path}: not UTF-8 text` });
      else workflows.push({ path: entry.path ?? '', text });
    }
    const files: Record<string, string> = {};
    if (entries.length > 0) {
      for (const path of targetFiles()) {
        const text = await reader.fileText(path, branch);
        if (text !== undefined) files[path] = text;
      }
    }
    const coverage = coverRepository(repository, workflows, options.store, { at: options.now?.() ?? new Date().toISOString(), files });
    coverage.problems.push(...problems);
    return { repository, coverage, requests: reader.requests };
  } catch (error) {
    return { repository, error: messageOf(error), requests: reader.requests };
  }
}

/** Coverage of an organization's repositories, read from GitHub, `concurrency` at a time. */
export async function readOrganizationCoverage(options: OrganizationCoverageOptions): Promise<{ repositories: RepositoryCoverageResult[]; requests: number }> {
  const listed = await listTargets(options.client, options.organization, { ...(options.repositories ? { repositories: options.repositories } : {}), ...(options.listing ? { listing: options.listing } : {}) });
  const results: RepositoryCoverageResult[] = new Array<RepositoryCoverageResult>(listed.targets.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < listed.targets.length && !options.signal?.aborted) {
      const index = next++;
      const result = await coverOne(options, listed.targets[index]!);
      results[index] = result;
      options.onRepository?.(result);
    }
  };
  const concurrency = Math.max(1, Math.min(options.concurrency ?? 4, listed.targets.length || 1));
  await Promise.all(Array.from({ length: concurrency }, () => worker()));
  const done = results.filter((result): result is RepositoryCoverageResult => result !== undefined);
  return { repositories: done, requests: listed.requests + done.reduce((sum, result) => sum + result.requests, 0) };
}
