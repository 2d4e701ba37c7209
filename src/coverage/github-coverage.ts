/**
 * `egressctl coverage --org`: the I/O edge that reads each repository's workflow files (and the
 * files enforcement targets declare) from GitHub through the one GitHub client, then asks the
 * pure coverage code. Per repository: the tree of the default branch (one request, three when
 * GitHub truncates it), one blob per workflow file, one contents read per declared target file;
 * where a workflow reads egressctl's Actions variables (`vars.EGRESSCTL_*`), the repository's
 * variables (one request a page of 30) and, once per run, the organization's: the steps are
 * evaluated with the variables that exist, retained ones included, not with the store's guess.
 */
import type { GitHubClient } from '../github/client.js';
import { listTargets, type RepositoryTarget } from '../rollout/rollout.js';
import { gitHubStatus, messageOf } from '../util/errors.js';
import { coverRepository, targetFiles, type CoverageStore } from './coverage.js';
import type { RepositoryCoverage, RepositoryVariables } from './model.js';
import { liveRepositoryVariables } from './variables.js';

const WORKFLOW_FILE = /^\.github\/workflows\/[^/]+\.ya?ml$/;
/** A workflow that reads one of egressctl's variables: its repository's variables are read. */
const READS_OUR_VARIABLES = /\bvars\.EGRESSCTL_/i;
const VARIABLES_PAGE = 30;

/** Every variable of a listing, page by page, by upper-case name. */
async function listVariables(page: (number: number) => Promise<readonly { name: string; value: string }[]>): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (let number = 1; ; number++) {
    const variables = await page(number);
    for (const variable of variables) found.set(variable.name.toUpperCase(), variable.value);
    if (variables.length < VARIABLES_PAGE) return found;
  }
}

/** How the reason an organization's variables are not known starts: said once per run, not per repository. */
const ORGANIZATION_UNREAD = 'the organization variables of';

/** The organization's variables, read once per run by the first repository that needs them. */
interface OrganizationVariablesRead {
  get(): Promise<{ values?: Map<string, string>; error?: string }>;
  requests: number;
}

function organizationVariablesRead(client: GitHubClient, organization: string): OrganizationVariablesRead {
  let read: Promise<{ values?: Map<string, string>; error?: string }> | undefined;
  const state: OrganizationVariablesRead = {
    requests: 0,
    get() {
      read ??= listVariables((page) => {
        state.requests++;
        return client.rest.actions.listOrgVariables({ org: organization, per_page: VARIABLES_PAGE, page }).then((response) => response.data.variables);
      }).then(
        (values) => ({ values }),
        (error: unknown) => ({ error: messageOf(error) }),
      );
      return read;
    },
  };
  return state;
}
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export interface RepositoryCoverageResult {
  repository: string;
  /** Undefined when the repository could not be read (`error` says why) or is archived. */
  coverage?: RepositoryCoverage;
  error?: string;
  skipped?: string;
  /** Why its own Actions variables, which its workflows read, could not be read (the rows count them as the store writes them). */
  variablesUnknown?: string[];
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

  /** The repository's Actions variables, by upper-case name. */
  async variables(): Promise<Map<string, string>> {
    return listVariables((page) => this.rest.actions.listRepoVariables({ owner: this.owner, repo: this.repo, per_page: VARIABLES_PAGE, page }).then((response) => response.data.variables));
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

/**
 * The variables a repository's runs get, read from GitHub: only when one of its workflows reads
 * egressctl's names (others cost no request). A listing that fails is counted as the store
 * writes it, and named.
 */
async function variablesOf(options: OrganizationCoverageOptions, organizationVariables: OrganizationVariablesRead, reader: RepositoryReader, repository: string, workflows: readonly { text: string }[]): Promise<RepositoryVariables | undefined> {
  if (!workflows.some((workflow) => READS_OUR_VARIABLES.test(workflow.text))) return undefined;
  const unknown: string[] = [];
  const organization = await organizationVariables.get();
  if (organization.error !== undefined) unknown.push(`${ORGANIZATION_UNREAD} ${options.organization.toLowerCase()} could not be read: ${organization.error}`);
  let own: Map<string, string> | undefined;
  try {
    own = await reader.variables();
  } catch (error) {
    unknown.push(`the repository variables of ${repository.toLowerCase()} could not be read: ${messageOf(error)}`);
  }
  return liveRepositoryVariables(options.store.state, repository, { ...(organization.values ? { organization: organization.values } : {}), ...(own ? { repository: own } : {}), unknown });
}

async function coverOne(options: OrganizationCoverageOptions, organizationVariables: OrganizationVariablesRead, target: RepositoryTarget): Promise<RepositoryCoverageResult> {
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
    const variables = await variablesOf(options, organizationVariables, reader, repository, workflows);
    const coverage = coverRepository(repository, workflows, options.store, { at: options.now?.() ?? new Date().toISOString(), files, ...(variables ? { variables } : {}) });
    coverage.problems.push(...problems);
    const own = variables?.unknown?.filter((reason) => !reason.startsWith(ORGANIZATION_UNREAD));
    return { repository, coverage, ...(own && own.length > 0 ? { variablesUnknown: own } : {}), requests: reader.requests };
  } catch (error) {
    return { repository, error: messageOf(error), requests: reader.requests };
  }
}

/**
 * Coverage of an organization's repositories, read from GitHub, `concurrency` at a time.
 * `variablesUnknown`: why the organization's variables, which some workflow reads, could not be read.
 */
export async function readOrganizationCoverage(options: OrganizationCoverageOptions): Promise<{ repositories: RepositoryCoverageResult[]; requests: number; variablesUnknown?: string }> {
  const listed = await listTargets(options.client, options.organization, { ...(options.repositories ? { repositories: options.repositories } : {}), ...(options.listing ? { listing: options.listing } : {}) });
  const organizationVariables = organizationVariablesRead(options.client, options.organization);
  const results: RepositoryCoverageResult[] = new Array<RepositoryCoverageResult>(listed.targets.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < listed.targets.length && !options.signal?.aborted) {
      const index = next++;
      const result = await coverOne(options, organizationVariables, listed.targets[index]!);
      results[index] = result;
      options.onRepository?.(result);
    }
  };
  const concurrency = Math.max(1, Math.min(options.concurrency ?? 4, listed.targets.length || 1));
  await Promise.all(Array.from({ length: concurrency }, () => worker()));
  const done = results.filter((result): result is RepositoryCoverageResult => result !== undefined);
  const organizationRead = organizationVariables.requests > 0 ? await organizationVariables.get() : {};
  return {
    repositories: done,
    requests: listed.requests + organizationVariables.requests + done.reduce((sum, result) => sum + result.requests, 0),
    ...(organizationRead.error !== undefined ? { variablesUnknown: `${ORGANIZATION_UNREAD} ${options.organization.toLowerCase()} could not be read: ${organizationRead.error}` } : {}),
  };
}
