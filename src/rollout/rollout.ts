/**
 * Policy-based pull requests across an organization (docs/architecture.md#reconciliation): one PR per repository on a
 * fixed branch, built from the default branch's workflow files and the policy repository's
 * baselines. Every decision is derived from GitHub each time (safe to interrupt and re-run):
 *
 *   1. `GET pulls?head=owner:branch&state=all`: an open PR (its hidden marker says what it was
 *      built from), or a PR a person closed without merging (left alone unless --force).
 *   2. `GET git/ref/heads/<default>`: the base commit. Same base and same plan as the marker:
 *      nothing new, done (2 requests).
 *   3. `GET git/trees/<commit>?recursive=1`: workflow files and their blob SHAs. Same files and
 *      plan as the marker: nothing new, done (3 requests).
 *   4. `GET git/blobs/<sha>` per workflow file, then harden (pure, GitHub-parser checked).
 *   5. Writes only when the proposed content differs from the open PR's: one changed file on a
 *      new branch goes through the contents API (create ref + put file); otherwise one tree with
 *      inline contents, one commit on the current default branch, one ref update. Then the PR is
 *      created, or its body updated when it changed.
 *
 * Requests go through the throttled, retried client (github.ts); repositories run a few at a
 * time. `--dry-run` stops before step 5 and returns unified diffs.
 */
import { unifiedDiff } from '../history/text-diff.js';
import type { GitHubClient } from '../github/client.js';
import { commitMessage, parseMarker, PULL_REQUEST_TITLE, renderPullRequestBody, ROLLOUT_BRANCH, type RolloutMarker } from './rollout-body.js';
import {
  changedFiles,
  outputsFingerprint,
  planFingerprint,
  planRepository,
  workflowsFingerprint,
  type FilePlan,
  type RepositoryPlan,
  type RolloutConfig,
} from './rollout-plan.js';
import { desiredDigest } from './sync-plan.js';
import { baselineJobsOf } from './rollout-plan.js';
import { FIREWALL_FILE, planFirewallTarget, type FirewallTargetReport } from './github-firewall/index.js';
import { gitHubMessageOf, gitHubStatus } from '../util/errors.js';

export type RepositoryStatus =
  /** A new PR was opened. */
  | 'created'
  /** The open PR's branch and/or body were updated. */
  | 'updated'
  /** The open PR already proposes this: no write. */
  | 'unchanged'
  /** The default branch already has everything (no PR needed). */
  | 'up-to-date'
  /** A person closed the PR without merging: not reopened or recreated (unless --force). */
  | 'closed'
  /** No workflow files. */
  | 'no-workflows'
  /** Archived, disabled or otherwise not eligible. */
  | 'skipped'
  /** Every workflow file failed to parse or to harden safely: reported, nothing written. */
  | 'invalid'
  /** Dry run: what would be proposed (diffs), nothing written. */
  | 'would-change'
  /** An error talking to GitHub: reported; the other repositories continue. */
  | 'failed';

export interface RepositoryRollout {
  repository: string;
  status: RepositoryStatus;
  message: string;
  pullRequest?: { number: number; url: string };
  /** Every workflow file read and planned (empty when the repository was decided earlier). */
  files: FilePlan[];
  /** Dry run: one unified diff per changed file. */
  diffs?: string[];
  /** REST requests made for this repository. */
  requests: number;
  /** The default branch's workflow files as read this run (absent when the run decided without reading them): coverage reads them. */
  workflows?: { path: string; text: string }[];
  /** egressctl.yml `github-firewall.enabled`: the firewall target's part (docs/github-firewall.md). */
  firewall?: FirewallTargetReport;
}

export interface RolloutReport {
  organization: string;
  repositories: RepositoryRollout[];
  /** REST requests in total (listing included). */
  requests: number;
}

export interface RepositoryTarget {
  owner: string;
  name: string;
  /** Known from an organization listing; read with `GET /repos/{o}/{r}` otherwise (when no PR says it). */
  defaultBranch?: string;
  archived?: boolean;
}

export interface RolloutOptions {
  client: GitHubClient;
  organization: string;
  /** Repository names (`repo` or `owner/repo`); undefined: every repository the credentials reach in the organization. */
  repositories?: readonly string[];
  /** Repositories already listed (with default branches): no listing, no `GET /repos/{o}/{r}` each. */
  targets?: readonly RepositoryTarget[];
  /** How to list "all": the App's installation repositories, or the organization's (token). Default organization. */
  listing?: 'installation' | 'organization';
  config: RolloutConfig;
  dryRun?: boolean;
  /** Open a new PR even where a person closed one. */
  force?: boolean;
  /** Repositories in flight at once. Default 4. */
  concurrency?: number;
  branch?: string;
  /** `owner/repo` of the policy repository, shown in PR bodies. */
  policyRepository?: string;
  /** Called as each repository finishes (progress output). */
  onRepository?: (result: RepositoryRollout) => void;
  /** Stop starting new repositories (in-flight ones finish; a re-run picks up the rest). */
  signal?: AbortSignal;
}

interface RepositoryContext {
  client: GitHubClient;
  config: RolloutConfig;
  dryRun: boolean;
  force: boolean;
  branch: string;
  policyRepository?: string;
}



const WORKFLOW_FILE = /^\.github\/workflows\/[^/]+\.ya?ml$/;

interface WorkflowEntry {
  path: string;
  sha: string;
  mode: string;
}

interface TreeEntry {
  path?: string;
  mode?: string;
  type?: string;
  sha?: string;
}

function workflowEntries(entries: readonly TreeEntry[], prefix = ''): WorkflowEntry[] {
  const found: WorkflowEntry[] = [];
  for (const entry of entries) {
    const path = `${prefix}${entry.path ?? ''}`;
    if (entry.type === 'blob' && entry.sha && entry.mode !== '120000' && WORKFLOW_FILE.test(path)) found.push({ path, sha: entry.sha, mode: entry.mode ?? '100644' });
  }
  return found.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The firewall file's entry in a tree listing (docs/github-firewall.md), as `{ firewallEntry }` or nothing. */
function firewallEntryOf(entries: readonly TreeEntry[], prefix = ''): { firewallEntry?: WorkflowEntry } {
  const entry = entries.find((item) => `${prefix}${item.path ?? ''}` === FIREWALL_FILE && item.type === 'blob' && item.sha && item.mode !== '120000');
  return entry?.sha ? { firewallEntry: { path: FIREWALL_FILE, sha: entry.sha, mode: entry.mode ?? '100644' } } : {};
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Everything one repository's rollout does; errors are caught by the caller. */
class RepositoryRun {
  requests = 0;
  private firewall?: FirewallTargetReport;
  readonly owner: string;
  readonly repo: string;
  readonly fullName: string;
  /** The workflow files read, once read. */
  private workflows: { path: string; text: string }[] | undefined;

  constructor(
    private readonly context: RepositoryContext,
    private readonly target: RepositoryTarget,
  ) {
    this.owner = target.owner;
    this.repo = target.name;
    this.fullName = `${target.owner}/${target.name}`;
  }

  private get rest() {
    this.requests++;
    return this.context.client.rest;
  }

  private result(status: RepositoryStatus, message: string, extra: Partial<RepositoryRollout> = {}): RepositoryRollout {
    return { repository: this.fullName, status, message, files: [], requests: this.requests, ...(this.workflows ? { workflows: this.workflows } : {}), ...(this.firewall ? { firewall: this.firewall } : {}), ...extra };
  }

  async run(): Promise<RepositoryRollout> {
    const { owner, repo } = this;
    const { branch, config } = this.context;
    if (this.target.archived) return this.result('skipped', 'archived: read-only');

    // 1. Pull requests ever opened from our branch, newest first.
    const pulls = (await this.rest.pulls.list({ owner, repo, head: `${owner}:${branch}`, state: 'all', per_page: 100 })).data;
    const open = pulls.find((pull) => pull.state === 'open');
    const latest = pulls[0];
    const desired = config.store ? desiredDigest(config.store, this.fullName) : undefined;
    // Sync: a closed PR stays closed until the desired state changes again (its marker says what it proposed).
    const closedForThis = desired === undefined || parseMarker(latest?.body)?.desired === desired;
    if (!open && latest && latest.merged_at === null && !this.context.force && closedForThis) {
      return this.result('closed', `pull request #${latest.number} was closed without merging${latest.closed_at ? ` on ${latest.closed_at}` : ''}: not reopened (--force opens a new one)`, {
        pullRequest: { number: latest.number, url: latest.html_url },
      });
    }
    const marker = open ? parseMarker(open.body) : undefined;
    const planHash = planFingerprint(this.fullName, config);

    let defaultBranch = this.target.defaultBranch ?? open?.base.repo.default_branch;
    if (defaultBranch === undefined) {
      const info = (await this.rest.repos.get({ owner, repo })).data;
      if (info.archived || info.disabled) return this.result('skipped', info.archived ? 'archived: read-only' : 'disabled');
      defaultBranch = info.default_branch;
    }

    // 2. The default branch's head.
    let base: string;
    try {
      base = (await this.rest.git.getRef({ owner, repo, ref: `heads/${defaultBranch}` })).data.object.sha;
    } catch (error) {
      const status = gitHubStatus(error);
      if (status === 409 || status === 404) return this.result('no-workflows', 'empty repository');
      throw error;
    }
    const openPull = open ? { number: open.number, url: open.html_url } : undefined;
    if (open && marker && marker.base === base && marker.plan === planHash) {
      return this.result('unchanged', `pull request #${open.number} is up to date`, { pullRequest: openPull! });
    }

    // 3. The workflow files at that commit.
    const { tree, entries, firewallEntry } = await this.readWorkflowEntries(base);
    const firewallOn = config.store?.settings.githubFirewall?.enabled === true;
    // The firewall file is read like a workflow: a person's edit to it is a change to look at.
    const workflowsHash = workflowsFingerprint(firewallOn && firewallEntry ? [...entries, firewallEntry] : entries);
    if (open && marker && marker.workflows === workflowsHash && marker.plan === planHash) {
      return this.result('unchanged', `pull request #${open.number} is up to date (the default branch moved, its workflows did not)`, { pullRequest: openPull! });
    }
    if (entries.length === 0) {
      this.workflows = [];
      return this.result('no-workflows', 'no .github/workflows/*.yml files on the default branch');
    }

    // 4. Their contents, hardened.
    const texts = await Promise.all(entries.map((entry) => this.readBlob(entry)));
    const readable: { path: string; text: string }[] = [];
    const unreadable: FilePlan[] = [];
    entries.forEach((entry, index) => {
      const text = texts[index];
      if (text === undefined) unreadable.push({ path: entry.path, before: '', after: '', status: 'invalid', jobs: [], problems: [`${entry.path}: not UTF-8 text`] });
      else readable.push({ path: entry.path, text });
    });
    this.workflows = readable;
    const planned = await planRepository(this.fullName, readable, config);
    let plan: RepositoryPlan = { repository: planned.repository, files: [...planned.files, ...unreadable].sort((a, b) => (a.path < b.path ? -1 : 1)) };
    if (firewallOn && config.store) {
      const existing = firewallEntry ? await this.readBlob(firewallEntry) : undefined;
      const seen = baselineJobsOf(config.baselines, this.fullName).flatMap((job) => job.endpoints);
      const target = await planFirewallTarget({ store: config.store, repository: this.fullName, plan, seen, ...(existing !== undefined ? { existing } : {}), ...(config.revision ? { revision: config.revision } : {}) });
      plan = { repository: plan.repository, files: target.files };
      this.firewall = target.report;
    }
    const changed = changedFiles(plan);
    const problems = plan.files.filter((file) => file.status === 'invalid' || file.status === 'rejected');
    const problemText = problems.length > 0 ? `; left unchanged: ${problems.map((file) => `${file.path} (${file.status === 'invalid' ? 'does not parse' : 'GitHub parser errors'})`).join(', ')}` : '';

    if (changed.length === 0) {
      if (problems.length > 0 && problems.length === plan.files.length) {
        return this.result('invalid', `no workflow file could be hardened: ${problems.flatMap((file) => file.problems.slice(0, 3)).join('; ')}`, { files: plan.files });
      }
      if (open) return this.result('unchanged', `the default branch already has everything pull request #${open.number} proposed${problemText}`, { files: plan.files, pullRequest: openPull! });
      return this.result('up-to-date', `nothing to change${problemText}`, { files: plan.files });
    }

    const newMarker: RolloutMarker = { base, workflows: workflowsHash, plan: planHash, outputs: outputsFingerprint(plan), ...(desired ? { desired } : {}) };
    const body = renderPullRequestBody({
      plan,
      marker: newMarker,
      mode: config.mode,
      ...(this.context.policyRepository ? { policyRepository: this.context.policyRepository } : {}),
      ...(config.store ? { fromStore: true } : {}),
      ...(this.firewall ? { firewall: { file: FIREWALL_FILE, reasons: this.firewall.reasons } } : {}),
    });
    // Endpoints seen that the policy would block: people look before it merges (docs/reconciliation.md).
    const draft = plan.files.some((file) => file.jobs.some((job) => (job.blocked?.length ?? 0) > 0));

    if (this.context.dryRun) {
      const diffs = changed.map((file) => unifiedDiff(file.before, file.after, `a/${file.path}`, `b/${file.path}`).join('\n'));
      const what = open ? `would update pull request #${open.number}` : 'would open a pull request';
      return this.result('would-change', `${what}: ${changed.length} file${changed.length === 1 ? '' : 's'}${problemText}`, { files: plan.files, diffs, ...(openPull ? { pullRequest: openPull } : {}) });
    }

    // 5. Writes, only for something new.
    if (open && marker && marker.outputs === newMarker.outputs && marker.plan === planHash) {
      return this.result('unchanged', `pull request #${open.number} already proposes these changes${problemText}`, { files: plan.files, pullRequest: openPull! });
    }
    await this.writeBranch(base, tree, entries, changed, commitMessage(plan, config.mode, { fromStore: config.store !== undefined }), open !== undefined);
    if (open) {
      if (open.body !== body || open.title !== PULL_REQUEST_TITLE) await this.rest.pulls.update({ owner, repo, pull_number: open.number, title: PULL_REQUEST_TITLE, body });
      return this.result('updated', `updated pull request #${open.number}: ${changed.length} file${changed.length === 1 ? '' : 's'}${problemText}`, { files: plan.files, pullRequest: openPull! });
    }
    const created = await this.createPullRequest(defaultBranch, body, draft);
    return this.result(created.existed ? 'updated' : 'created', `${created.existed ? 'updated' : 'opened'} pull request #${created.number}: ${changed.length} file${changed.length === 1 ? '' : 's'}${problemText}`, {
      files: plan.files,
      pullRequest: { number: created.number, url: created.url },
    });
  }

  /** The root tree and workflow entries of a commit: one recursive listing, three small ones if GitHub truncates it. */
  private async readWorkflowEntries(commit: string): Promise<{ tree: string; entries: WorkflowEntry[]; firewallEntry?: WorkflowEntry }> {
    const { owner, repo } = this;
    const root = (await this.rest.git.getTree({ owner, repo, tree_sha: commit, recursive: '1' })).data;
    if (!root.truncated) return { tree: root.sha, entries: workflowEntries(root.tree), ...firewallEntryOf(root.tree) };
    // A huge repository: walk down to .github/workflows instead.
    const top = root.tree.find((entry) => entry.path === '.github' && entry.type === 'tree');
    if (!top?.sha) return { tree: root.sha, entries: [] };
    const github = (await this.rest.git.getTree({ owner, repo, tree_sha: top.sha })).data;
    const workflows = github.tree.find((entry) => entry.path === 'workflows' && entry.type === 'tree');
    if (!workflows?.sha) return { tree: root.sha, entries: [] };
    const listing = (await this.rest.git.getTree({ owner, repo, tree_sha: workflows.sha })).data;
    return { tree: root.sha, entries: workflowEntries(listing.tree, '.github/workflows/'), ...firewallEntryOf(github.tree, '.github/') };
  }

  private async readBlob(entry: WorkflowEntry): Promise<string | undefined> {
    const blob = (await this.rest.git.getBlob({ owner: this.owner, repo: this.repo, file_sha: entry.sha })).data;
    const bytes = Buffer.from(blob.content, blob.encoding === 'base64' ? 'base64' : 'utf8');
    try {
      return strictUtf8.decode(bytes);
    } catch {
      return undefined;
    }
  }

  /** Point our branch at `sha`: create it, or move it when it already exists (a merged PR's leftover, an interrupted run). */
  private async pointBranch(sha: string, exists: boolean): Promise<void> {
    const { owner, repo } = this;
    const ref = `heads/${this.context.branch}`;
    if (!exists) {
      try {
        await this.rest.git.createRef({ owner, repo, ref: `refs/${ref}`, sha });
        return;
      } catch (error) {
        if (gitHubStatus(error) !== 422) throw error;
      }
    }
    await this.rest.git.updateRef({ owner, repo, ref, sha, force: true });
  }

  /**
   * One commit on top of the default branch's head with the changed files. The branch belongs
   * to egressctl: it is rebuilt from the default branch each time (force-moved).
   */
  private async writeBranch(base: string, tree: string, entries: readonly WorkflowEntry[], changed: readonly FilePlan[], message: string, branchExists: boolean): Promise<void> {
    const { owner, repo } = this;
    const entryOf = new Map(entries.map((entry) => [entry.path, entry]));
    const single = changed.length === 1 ? changed[0] : undefined;
    const singleEntry = single ? entryOf.get(single.path) : undefined;
    if (single && singleEntry && singleEntry.mode === '100644' && !branchExists) {
      // Two writes instead of three: branch at the base, then the contents API commits the file on it.
      await this.pointBranch(base, false);
      await this.rest.repos.createOrUpdateFileContents({
        owner,
        repo,
        path: single.path,
        branch: this.context.branch,
        message,
        content: Buffer.from(single.after, 'utf8').toString('base64'),
        sha: singleEntry.sha,
      });
      return;
    }
    const newTree = (
      await this.rest.git.createTree({
        owner,
        repo,
        base_tree: tree,
        tree: changed.map((file) => ({ path: file.path, mode: (entryOf.get(file.path)?.mode ?? '100644') as '100644' | '100755', type: 'blob' as const, content: file.after })),
      })
    ).data.sha;
    const commit = (await this.rest.git.createCommit({ owner, repo, message, tree: newTree, parents: [base] })).data.sha;
    await this.pointBranch(commit, branchExists);
  }

  private async createPullRequest(base: string, body: string, draft: boolean): Promise<{ number: number; url: string; existed: boolean }> {
    const { owner, repo } = this;
    try {
      const created = (await this.rest.pulls.create({ owner, repo, head: this.context.branch, base, title: PULL_REQUEST_TITLE, body, maintainer_can_modify: true, ...(draft ? { draft: true } : {}) })).data;
      return { number: created.number, url: created.html_url, existed: false };
    } catch (error) {
      // Another run opened it in the meantime: take it over.
      if (gitHubStatus(error) !== 422 || !/already exists/i.test(gitHubMessageOf(error))) throw error;
      const [existing] = (await this.rest.pulls.list({ owner, repo, head: `${owner}:${this.context.branch}`, state: 'open' })).data;
      if (!existing) throw error;
      if (existing.body !== body) await this.rest.pulls.update({ owner, repo, pull_number: existing.number, body, title: PULL_REQUEST_TITLE });
      return { number: existing.number, url: existing.html_url, existed: true };
    }
  }
}

/** Roll out to one repository. Never throws: GitHub errors become a `failed` result. */
export async function rolloutRepository(client: GitHubClient, target: RepositoryTarget, options: Omit<RepositoryContext, 'client' | 'branch'> & { branch?: string }): Promise<RepositoryRollout> {
  const run = new RepositoryRun({ ...options, client, branch: options.branch ?? ROLLOUT_BRANCH }, target);
  try {
    return await run.run();
  } catch (error) {
    return { repository: run.fullName, status: 'failed', message: gitHubMessageOf(error), files: [], requests: run.requests };
  }
}

/** The repositories to roll out to, and how many requests listing them took. */
export async function listTargets(client: GitHubClient, organization: string, options: Pick<RolloutOptions, 'repositories' | 'listing' | 'targets'>): Promise<{ targets: RepositoryTarget[]; requests: number }> {
  if (options.targets) return { targets: [...options.targets], requests: 0 };
  if (options.repositories) {
    const targets = options.repositories.map((name) => {
      const [owner, repo] = name.includes('/') ? name.split('/') : [organization, name];
      return { owner: owner ?? organization, name: repo ?? name };
    });
    return { targets, requests: 0 };
  }
  let requests = 0;
  const targets: RepositoryTarget[] = [];
  if (options.listing === 'installation') {
    for await (const page of client.paginate.iterator(client.rest.apps.listReposAccessibleToInstallation, { per_page: 100 })) {
      requests++;
      for (const repo of page.data) {
        if (repo.owner.login.toLowerCase() !== organization.toLowerCase()) continue;
        targets.push({ owner: repo.owner.login, name: repo.name, defaultBranch: repo.default_branch, archived: repo.archived || repo.disabled === true });
      }
    }
  } else {
    for await (const page of client.paginate.iterator(client.rest.repos.listForOrg, { org: organization, type: 'all', per_page: 100 })) {
      requests++;
      for (const repo of page.data) {
        targets.push({ owner: repo.owner.login, name: repo.name, ...(repo.default_branch ? { defaultBranch: repo.default_branch } : {}), archived: repo.archived === true || repo.disabled === true });
      }
    }
  }
  targets.sort((a, b) => (a.name.toLowerCase() < b.name.toLowerCase() ? -1 : 1));
  return { targets, requests };
}

/** Roll out to an organization's repositories, `concurrency` at a time. */
export async function runRollout(options: RolloutOptions): Promise<RolloutReport> {
  const listed = await listTargets(options.client, options.organization, options);
  const results: RepositoryRollout[] = new Array<RepositoryRollout>(listed.targets.length);
  let next = 0;
  const context = {
    config: options.config,
    dryRun: options.dryRun === true,
    force: options.force === true,
    branch: options.branch ?? ROLLOUT_BRANCH,
    ...(options.policyRepository ? { policyRepository: options.policyRepository } : {}),
  };
  const worker = async (): Promise<void> => {
    while (next < listed.targets.length && !options.signal?.aborted) {
      const index = next++;
      const target = listed.targets[index]!;
      const result = await rolloutRepository(options.client, target, context);
      results[index] = result;
      options.onRepository?.(result);
    }
  };
  const concurrency = Math.max(1, Math.min(options.concurrency ?? 4, listed.targets.length || 1));
  await Promise.all(Array.from({ length: concurrency }, () => worker()));
  const done = results.filter((result): result is RepositoryRollout => result !== undefined);
  return { organization: options.organization, repositories: done, requests: listed.requests + done.reduce((sum, result) => sum + result.requests, 0) };
}
