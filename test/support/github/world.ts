/**
 * The stand-in's state: accounts, installations, tokens, repositories (real git), pull
 * requests, comments, check runs, statuses, workflow jobs, and the JSON GitHub would answer
 * for each. Handlers and test helpers both go through this.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GitRepository, type CommitInfo, type GitIdentity } from './git.js';

export type PermissionLevel = 'read' | 'write' | 'admin';
export type Permissions = Record<string, PermissionLevel>;

/** What a GitHub App installation gets unless the test says otherwise. */
export const DEFAULT_INSTALLATION_PERMISSIONS: Permissions = {
  metadata: 'read',
  contents: 'write',
  pull_requests: 'write',
  issues: 'write',
  checks: 'write',
  statuses: 'write',
  actions: 'read',
  workflows: 'write',
};

export interface Actor {
  readonly login: string;
  readonly id: number;
  readonly type: 'User' | 'Bot' | 'Organization';
}

export interface AppRecord {
  readonly id: number;
  readonly slug: string;
  readonly name: string;
  readonly clientId: string;
  readonly owner: Actor;
  readonly bot: Actor;
}

export interface InstallationRecord {
  readonly id: number;
  readonly account: Actor;
  permissions: Permissions;
  /** 'all' repositories of the account, or the 'selected' ones in `repositories`. */
  readonly repositorySelection: 'all' | 'selected';
  /** Full names, when the selection is 'selected'. */
  readonly repositories: Set<string>;
  readonly events: string[];
  readonly createdAt: string;
}

export interface TokenRecord {
  readonly token: string;
  readonly kind: 'installation' | 'user';
  readonly installationId?: number;
  readonly actor: Actor;
  readonly permissions: Permissions;
  /** Full names this token is limited to; undefined: everything the owner can reach. */
  readonly repositories?: Set<string>;
  readonly expiresAt: number;
}

export interface RepositoryRecord {
  readonly id: number;
  readonly owner: Actor;
  readonly name: string;
  readonly fullName: string;
  readonly dir: string;
  readonly defaultBranch: string;
  readonly private: boolean;
  readonly description: string | null;
  readonly createdAt: string;
  readonly git: GitRepository;
  /** Issue and pull request numbers share this counter, as on GitHub. */
  nextNumber: number;
}

export interface PullRequestRecord {
  readonly id: number;
  readonly number: number;
  readonly repository: string;
  state: 'open' | 'closed';
  title: string;
  body: string | null;
  readonly user: Actor;
  draft: boolean;
  readonly head: { ref: string; owner: string };
  /** Last known head sha (refreshed from the branch while the branch exists). */
  headSha: string;
  base: { ref: string };
  baseSha: string;
  maintainerCanModify: boolean;
  readonly createdAt: string;
  updatedAt: string;
  closedAt: string | null;
  mergedAt: string | null;
  mergeCommitSha: string | null;
  mergedBy: Actor | null;
  /** Who closed it last (a person through `closePullRequest`, or the API caller). */
  closedBy: Actor | null;
  /** Chronological state changes, for assertions. */
  readonly events: { type: 'opened' | 'closed' | 'reopened' | 'merged' | 'edited'; by: string; at: string }[];
}

export interface CommentRecord {
  readonly id: number;
  readonly repository: string;
  readonly issueNumber: number;
  body: string;
  readonly user: Actor;
  readonly createdAt: string;
  updatedAt: string;
  /** How many times it was edited through the API. */
  edits: number;
}

export interface AnnotationRecord {
  readonly path: string;
  readonly start_line: number;
  readonly end_line: number;
  readonly start_column?: number;
  readonly end_column?: number;
  readonly annotation_level: 'notice' | 'warning' | 'failure';
  readonly message: string;
  readonly title?: string;
  readonly raw_details?: string;
}

export interface CheckRunRecord {
  readonly id: number;
  readonly repository: string;
  name: string;
  readonly headSha: string;
  status: 'queued' | 'in_progress' | 'completed' | 'waiting' | 'requested' | 'pending';
  conclusion: string | null;
  startedAt: string | null;
  completedAt: string | null;
  detailsUrl: string | null;
  externalId: string | null;
  output: { title: string | null; summary: string | null; text: string | null };
  /** All annotations sent across create and updates (GitHub appends them). */
  readonly annotations: AnnotationRecord[];
  readonly createdBy: Actor;
  readonly appId: number | null;
  /** Number of PATCH updates. */
  updates: number;
}

export interface StatusRecord {
  readonly id: number;
  readonly repository: string;
  readonly sha: string;
  readonly state: 'error' | 'failure' | 'pending' | 'success';
  readonly targetUrl: string | null;
  readonly description: string | null;
  readonly context: string;
  readonly creator: Actor;
  readonly createdAt: string;
}

export interface WorkflowJobRecord {
  readonly id: number;
  readonly runId: number;
  readonly runAttempt: number;
  readonly repository: string;
  readonly name: string;
  readonly workflowName: string;
  /** Path of the workflow file, e.g. `.github/workflows/ci.yml` (served on the run). */
  readonly workflowPath: string;
  readonly event: string;
  readonly headSha: string;
  readonly headBranch: string;
  readonly status: 'queued' | 'in_progress' | 'completed' | 'waiting';
  readonly conclusion: string | null;
  readonly labels: string[];
  readonly runnerName: string | null;
  /** Undefined: GitHub's hosted group ("GitHub Actions") when the job had a runner. */
  readonly runnerGroupName?: string | null | undefined;
  readonly steps: { name: string; status: string; conclusion: string | null; number: number }[];
  readonly startedAt: string;
  readonly completedAt: string | null;
  /** Log text served by the logs endpoint; undefined answers 404 like expired logs. */
  logs: string | undefined;
}

/** A workflow run's artifact (the Actions artifacts API), its zip served through a short-lived download URL. */
export interface ArtifactRecord {
  readonly id: number;
  readonly repository: string;
  readonly runId: number;
  readonly headSha: string;
  readonly headBranch: string;
  readonly name: string;
  readonly zip: Buffer;
  readonly createdAt: string;
}

export function nowIso(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function randomToken(prefix: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(36);
  return prefix + [...bytes].map((b) => alphabet[b % alphabet.length]).join('');
}

const LEVEL_RANK: Record<PermissionLevel, number> = { read: 1, write: 2, admin: 3 };

export function permits(permissions: Permissions, name: string, level: 'read' | 'write'): boolean {
  const granted = permissions[name];
  return granted !== undefined && LEVEL_RANK[granted] >= LEVEL_RANK[level];
}

export class World {
  private nextId = 1000;
  readonly accounts = new Map<string, Actor>();
  readonly installations = new Map<number, InstallationRecord>();
  readonly tokens = new Map<string, TokenRecord>();
  readonly repositories = new Map<string, RepositoryRecord>();
  readonly pullRequests: PullRequestRecord[] = [];
  readonly comments: CommentRecord[] = [];
  readonly checkRuns: CheckRunRecord[] = [];
  readonly statuses: StatusRecord[] = [];
  readonly workflowJobs = new Map<number, WorkflowJobRecord>();
  /** One-off log download URLs (`/_logs/<id>`) and the text they serve. */
  readonly logDownloads = new Map<string, string | Buffer>();
  readonly artifacts = new Map<number, ArtifactRecord>();
  /** Organization login (lower-case) -> member logins (lower-case). */
  readonly orgMembers = new Map<string, Set<string>>();
  /** `org/team-slug` (lower-case) -> member logins (lower-case). */
  readonly teamMembers = new Map<string, Set<string>>();
  readonly app: AppRecord;

  constructor(
    readonly baseUrl: string,
    readonly rootDir: string,
    app: { id: number; slug: string; name: string; clientId: string },
  ) {
    const owner = this.account('standin-app-owner', 'Organization');
    const bot: Actor = { login: `${app.slug}[bot]`, id: 9_000_000 + app.id, type: 'Bot' };
    this.app = { ...app, owner, bot };
  }

  newId(): number {
    return this.nextId++;
  }

  /** The account `login`, created on first use (ids are stable within a stand-in). */
  account(login: string, type: 'User' | 'Organization' = 'User'): Actor {
    const key = login.toLowerCase();
    let actor = this.accounts.get(key);
    if (!actor) {
      actor = { login, id: this.newId(), type };
      this.accounts.set(key, actor);
    }
    return actor;
  }

  identityOf(actor: Actor): GitIdentity {
    return { name: actor.login, email: `${actor.id}+${actor.login}@users.noreply.github.com` };
  }

  // --- installations and tokens -------------------------------------------------------

  createInstallation(options: {
    account: string;
    accountType?: 'Organization' | 'User';
    permissions?: Permissions;
    repositories?: string[];
    events?: string[];
  }): InstallationRecord {
    const account = this.account(options.account, options.accountType ?? 'Organization');
    for (const existing of this.installations.values()) {
      if (existing.account.login.toLowerCase() === account.login.toLowerCase()) {
        throw new Error(`account ${account.login} already has installation ${existing.id}`);
      }
    }
    const installation: InstallationRecord = {
      id: this.newId(),
      account,
      permissions: { ...(options.permissions ?? DEFAULT_INSTALLATION_PERMISSIONS) },
      repositorySelection: options.repositories ? 'selected' : 'all',
      repositories: new Set((options.repositories ?? []).map((r) => this.qualify(r, account.login))),
      events: options.events ?? ['pull_request', 'push', 'workflow_job'],
      createdAt: nowIso(),
    };
    this.installations.set(installation.id, installation);
    return installation;
  }

  private qualify(name: string, owner: string): string {
    return name.includes('/') ? name : `${owner}/${name}`;
  }

  installationForAccount(login: string): InstallationRecord | undefined {
    for (const installation of this.installations.values()) {
      if (installation.account.login.toLowerCase() === login.toLowerCase()) return installation;
    }
    return undefined;
  }

  installationCovers(installation: InstallationRecord, repo: RepositoryRecord): boolean {
    if (installation.account.login.toLowerCase() !== repo.owner.login.toLowerCase()) return false;
    return installation.repositorySelection === 'all' || installation.repositories.has(repo.fullName);
  }

  installationRepositories(installation: InstallationRecord): RepositoryRecord[] {
    return [...this.repositories.values()].filter((r) => this.installationCovers(installation, r));
  }

  issueInstallationToken(
    installation: InstallationRecord,
    options: { permissions?: Permissions; repositories?: string[] } = {},
  ): TokenRecord {
    const record: TokenRecord = {
      token: randomToken('ghs_'),
      kind: 'installation',
      installationId: installation.id,
      actor: this.app.bot,
      permissions: { ...(options.permissions ?? installation.permissions) },
      repositories: options.repositories
        ? new Set(options.repositories.map((r) => this.qualify(r, installation.account.login)))
        : undefined,
      expiresAt: Date.now() + 60 * 60 * 1000,
    };
    this.tokens.set(record.token, record);
    return record;
  }

  issueUserToken(login: string, options: { repositories?: string[] } = {}): TokenRecord {
    const actor = this.account(login, 'User');
    const record: TokenRecord = {
      token: randomToken('ghp_'),
      kind: 'user',
      actor,
      // A person with admin rights on every repository of the stand-in.
      permissions: Object.fromEntries(
        [...Object.keys(DEFAULT_INSTALLATION_PERMISSIONS), 'administration'].map((k) => [k, 'admin' as const]),
      ),
      repositories: options.repositories ? new Set(options.repositories) : undefined,
      expiresAt: Date.now() + 365 * 24 * 60 * 60 * 1000,
    };
    this.tokens.set(record.token, record);
    return record;
  }

  /** The token record if `token` is known and not expired. */
  tokenRecord(token: string): TokenRecord | undefined {
    const record = this.tokens.get(token);
    return record && record.expiresAt > Date.now() ? record : undefined;
  }

  tokenCanReach(token: TokenRecord, repo: RepositoryRecord): boolean {
    if (token.repositories && !token.repositories.has(repo.fullName)) return false;
    if (token.kind === 'user') return true;
    const installation = this.installations.get(token.installationId!);
    return installation !== undefined && this.installationCovers(installation, repo);
  }

  // --- repositories ---------------------------------------------------------------------

  async createRepository(
    fullName: string,
    options: {
      files?: Record<string, string | Buffer>;
      defaultBranch?: string;
      private?: boolean;
      description?: string;
    } = {},
  ): Promise<RepositoryRecord> {
    const m = /^([A-Za-z0-9-_.]+)\/([A-Za-z0-9-_.]+)$/.exec(fullName);
    if (!m) throw new Error(`repository name must be "owner/name", got "${fullName}"`);
    if (this.repositories.has(fullName.toLowerCase())) throw new Error(`repository ${fullName} already exists`);
    const [, ownerLogin, name] = m;
    const existingOwner = this.accounts.get(ownerLogin!.toLowerCase());
    const owner = existingOwner ?? this.account(ownerLogin!, 'Organization');
    const dir = path.join(this.rootDir, owner.login, name!);
    await mkdir(path.dirname(dir), { recursive: true });
    const defaultBranch = options.defaultBranch ?? 'main';
    const git = await GitRepository.init(dir, defaultBranch);
    const files = options.files ?? {};
    for (const [file, content] of Object.entries(files)) {
      const target = path.join(dir, file);
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, content);
    }
    await git.git(['add', '--all']);
    await git.git(['commit', '--quiet', '--allow-empty', '--message', 'Initial commit']);
    const record: RepositoryRecord = {
      id: this.newId(),
      owner,
      name: name!,
      fullName: `${owner.login}/${name}`,
      dir,
      defaultBranch,
      private: options.private ?? true,
      description: options.description ?? null,
      createdAt: nowIso(),
      git,
      nextNumber: 1,
    };
    this.repositories.set(record.fullName.toLowerCase(), record);
    return record;
  }

  repository(fullName: string): RepositoryRecord | undefined {
    return this.repositories.get(fullName.toLowerCase());
  }

  requireRepository(fullName: string): RepositoryRecord {
    const repo = this.repository(fullName);
    if (!repo) throw new Error(`no repository ${fullName} in the stand-in (createRepository first)`);
    return repo;
  }

  // --- pull requests --------------------------------------------------------------------

  /** Refreshes the head/base shas of open pull requests from their branches. */
  async refreshPullRequest(pr: PullRequestRecord): Promise<void> {
    if (pr.state !== 'open') return;
    const repo = this.requireRepository(pr.repository);
    const head = await repo.git.resolve(`refs/heads/${pr.head.ref}`, 'commit');
    if (head) pr.headSha = head;
    const base = await repo.git.resolve(`refs/heads/${pr.base.ref}`, 'commit');
    if (base) pr.baseSha = base;
  }

  // --- URLs -----------------------------------------------------------------------------

  /**
   * API URLs in answers and payloads are GitHub Enterprise Server shaped (`<host>/api/v3/...`),
   * as a GHES instance writes them: an App must find its API root in them (the stand-in answers
   * with and without the prefix).
   */
  apiUrl(suffix: string): string {
    return `${this.baseUrl}/api/v3${suffix}`;
  }

  htmlUrl(suffix: string): string {
    return `${this.baseUrl}/_html${suffix}`;
  }

  gitUrl(fullName: string): string {
    return `${this.baseUrl}/git/${fullName}.git`;
  }

  // --- presenters: the JSON GitHub answers ----------------------------------------------

  actorJson(actor: Actor): Record<string, unknown> {
    return {
      login: actor.login,
      id: actor.id,
      node_id: `MDQ6VXNlcj${actor.id}`,
      avatar_url: `${this.baseUrl}/_avatars/${actor.id}`,
      url: this.apiUrl(`/users/${encodeURIComponent(actor.login)}`),
      html_url: this.htmlUrl(`/${actor.login}`),
      type: actor.type,
      site_admin: false,
    };
  }

  repositoryJson(repo: RepositoryRecord): Record<string, unknown> {
    const api = this.apiUrl(`/repos/${repo.fullName}`);
    return {
      id: repo.id,
      node_id: `R_${repo.id}`,
      name: repo.name,
      full_name: repo.fullName,
      private: repo.private,
      visibility: repo.private ? 'private' : 'public',
      owner: this.actorJson(repo.owner),
      html_url: this.htmlUrl(`/${repo.fullName}`),
      description: repo.description,
      fork: false,
      url: api,
      git_refs_url: `${api}/git/refs{/sha}`,
      contents_url: `${api}/contents/{+path}`,
      pulls_url: `${api}/pulls{/number}`,
      clone_url: this.gitUrl(repo.fullName),
      git_url: this.gitUrl(repo.fullName),
      ssh_url: `git@standin.invalid:${repo.fullName}.git`,
      created_at: repo.createdAt,
      updated_at: repo.createdAt,
      pushed_at: repo.createdAt,
      archived: false,
      disabled: false,
      default_branch: repo.defaultBranch,
      permissions: { admin: false, maintain: false, push: true, triage: true, pull: true },
    };
  }

  installationJson(installation: InstallationRecord): Record<string, unknown> {
    return {
      id: installation.id,
      account: this.actorJson(installation.account),
      repository_selection: installation.repositorySelection,
      access_tokens_url: this.apiUrl(`/app/installations/${installation.id}/access_tokens`),
      repositories_url: this.apiUrl('/installation/repositories'),
      html_url: this.htmlUrl(`/organizations/${installation.account.login}/settings/installations/${installation.id}`),
      app_id: this.app.id,
      app_slug: this.app.slug,
      target_id: installation.account.id,
      target_type: installation.account.type,
      permissions: installation.permissions,
      events: installation.events,
      created_at: installation.createdAt,
      updated_at: installation.createdAt,
      single_file_name: null,
      suspended_at: null,
      suspended_by: null,
    };
  }

  appJson(): Record<string, unknown> {
    return {
      id: this.app.id,
      slug: this.app.slug,
      client_id: this.app.clientId,
      node_id: `A_${this.app.id}`,
      owner: this.actorJson(this.app.owner),
      name: this.app.name,
      description: '',
      external_url: this.baseUrl,
      html_url: this.htmlUrl(`/apps/${this.app.slug}`),
      created_at: nowIso(),
      updated_at: nowIso(),
      permissions: DEFAULT_INSTALLATION_PERMISSIONS,
      events: ['pull_request', 'push', 'workflow_job'],
      installations_count: this.installations.size,
    };
  }

  async pullRequestJson(pr: PullRequestRecord): Promise<Record<string, unknown>> {
    await this.refreshPullRequest(pr);
    const repo = this.requireRepository(pr.repository);
    const api = this.apiUrl(`/repos/${repo.fullName}/pulls/${pr.number}`);
    const side = (ref: string, sha: string) => ({
      label: `${repo.owner.login}:${ref}`,
      ref,
      sha,
      user: this.actorJson(repo.owner),
      repo: this.repositoryJson(repo),
    });
    return {
      url: api,
      id: pr.id,
      node_id: `PR_${pr.id}`,
      html_url: this.htmlUrl(`/${repo.fullName}/pull/${pr.number}`),
      diff_url: this.htmlUrl(`/${repo.fullName}/pull/${pr.number}.diff`),
      patch_url: this.htmlUrl(`/${repo.fullName}/pull/${pr.number}.patch`),
      issue_url: this.apiUrl(`/repos/${repo.fullName}/issues/${pr.number}`),
      comments_url: this.apiUrl(`/repos/${repo.fullName}/issues/${pr.number}/comments`),
      statuses_url: this.apiUrl(`/repos/${repo.fullName}/statuses/${pr.headSha}`),
      number: pr.number,
      state: pr.state,
      locked: false,
      title: pr.title,
      user: this.actorJson(pr.user),
      body: pr.body,
      labels: [],
      milestone: null,
      created_at: pr.createdAt,
      updated_at: pr.updatedAt,
      closed_at: pr.closedAt,
      merged_at: pr.mergedAt,
      merge_commit_sha: pr.mergeCommitSha,
      assignee: null,
      assignees: [],
      requested_reviewers: [],
      requested_teams: [],
      head: side(pr.head.ref, pr.headSha),
      base: side(pr.base.ref, pr.baseSha),
      author_association: pr.user.type === 'Bot' ? 'NONE' : 'MEMBER',
      auto_merge: null,
      draft: pr.draft,
      merged: pr.mergedAt !== null,
      mergeable: null,
      mergeable_state: 'unknown',
      merged_by: pr.mergedBy ? this.actorJson(pr.mergedBy) : null,
      maintainer_can_modify: pr.maintainerCanModify,
    };
  }

  commentJson(comment: CommentRecord): Record<string, unknown> {
    const repoPath = `/repos/${comment.repository}`;
    return {
      id: comment.id,
      node_id: `IC_${comment.id}`,
      url: this.apiUrl(`${repoPath}/issues/comments/${comment.id}`),
      html_url: this.htmlUrl(`/${comment.repository}/pull/${comment.issueNumber}#issuecomment-${comment.id}`),
      issue_url: this.apiUrl(`${repoPath}/issues/${comment.issueNumber}`),
      body: comment.body,
      user: this.actorJson(comment.user),
      created_at: comment.createdAt,
      updated_at: comment.updatedAt,
      author_association: comment.user.type === 'Bot' ? 'NONE' : 'MEMBER',
      performed_via_github_app: comment.user.type === 'Bot' ? this.appJson() : null,
    };
  }

  checkRunJson(run: CheckRunRecord): Record<string, unknown> {
    const api = this.apiUrl(`/repos/${run.repository}/check-runs/${run.id}`);
    return {
      id: run.id,
      node_id: `CR_${run.id}`,
      head_sha: run.headSha,
      external_id: run.externalId,
      url: api,
      html_url: this.htmlUrl(`/${run.repository}/runs/${run.id}`),
      details_url: run.detailsUrl,
      status: run.status,
      conclusion: run.conclusion,
      started_at: run.startedAt,
      completed_at: run.completedAt,
      output: {
        title: run.output.title,
        summary: run.output.summary,
        text: run.output.text,
        annotations_count: run.annotations.length,
        annotations_url: `${api}/annotations`,
      },
      name: run.name,
      check_suite: { id: run.id },
      app: run.appId !== null ? this.appJson() : null,
      pull_requests: [],
    };
  }

  statusJson(status: StatusRecord): Record<string, unknown> {
    return {
      id: status.id,
      node_id: `SC_${status.id}`,
      url: this.apiUrl(`/repos/${status.repository}/statuses/${status.sha}`),
      avatar_url: null,
      state: status.state,
      description: status.description,
      target_url: status.targetUrl,
      context: status.context,
      created_at: status.createdAt,
      updated_at: status.createdAt,
      creator: this.actorJson(status.creator),
    };
  }

  gitCommitJson(repo: RepositoryRecord, commit: CommitInfo): Record<string, unknown> {
    const api = this.apiUrl(`/repos/${repo.fullName}/git/commits/${commit.sha}`);
    return {
      sha: commit.sha,
      node_id: `C_${commit.sha}`,
      url: api,
      html_url: this.htmlUrl(`/${repo.fullName}/commit/${commit.sha}`),
      author: commit.author,
      committer: commit.committer,
      message: commit.message.replace(/\n$/, ''),
      tree: { sha: commit.tree, url: this.apiUrl(`/repos/${repo.fullName}/git/trees/${commit.tree}`) },
      parents: commit.parents.map((p) => ({
        sha: p,
        url: this.apiUrl(`/repos/${repo.fullName}/git/commits/${p}`),
        html_url: this.htmlUrl(`/${repo.fullName}/commit/${p}`),
      })),
      verification: { verified: false, reason: 'unsigned', signature: null, payload: null, verified_at: null },
    };
  }

  /** The `commit` object of the REST commits API (`GET /repos/{o}/{r}/commits/{ref}`). */
  restCommitJson(repo: RepositoryRecord, commit: CommitInfo, files?: unknown[]): Record<string, unknown> {
    const git = this.gitCommitJson(repo, commit);
    return {
      sha: commit.sha,
      node_id: `C_${commit.sha}`,
      url: this.apiUrl(`/repos/${repo.fullName}/commits/${commit.sha}`),
      html_url: this.htmlUrl(`/${repo.fullName}/commit/${commit.sha}`),
      comments_url: this.apiUrl(`/repos/${repo.fullName}/commits/${commit.sha}/comments`),
      commit: {
        url: git.url,
        author: commit.author,
        committer: commit.committer,
        message: git.message,
        tree: git.tree,
        comment_count: 0,
        verification: git.verification,
      },
      author: null,
      committer: null,
      parents: git.parents,
      ...(files ? { files } : {}),
    };
  }

  artifactJson(artifact: ArtifactRecord): Record<string, unknown> {
    const repo = this.requireRepository(artifact.repository);
    const url = this.apiUrl(`/repos/${artifact.repository}/actions/artifacts/${artifact.id}`);
    return {
      id: artifact.id,
      node_id: `MDg6QXJ0aWZhY3Q${artifact.id}`,
      name: artifact.name,
      size_in_bytes: artifact.zip.length,
      url,
      archive_download_url: `${url}/zip`,
      expired: false,
      created_at: artifact.createdAt,
      expires_at: artifact.createdAt.replace(/^(\d{4})/, (year) => String(Number(year) + 1)),
      updated_at: artifact.createdAt,
      workflow_run: { id: artifact.runId, repository_id: repo.id, head_repository_id: repo.id, head_branch: artifact.headBranch, head_sha: artifact.headSha },
    };
  }

  workflowJobJson(job: WorkflowJobRecord): Record<string, unknown> {
    const repoApi = this.apiUrl(`/repos/${job.repository}`);
    return {
      id: job.id,
      run_id: job.runId,
      run_url: `${repoApi}/actions/runs/${job.runId}`,
      run_attempt: job.runAttempt,
      node_id: `J_${job.id}`,
      head_sha: job.headSha,
      head_branch: job.headBranch,
      url: `${repoApi}/actions/jobs/${job.id}`,
      html_url: this.htmlUrl(`/${job.repository}/actions/runs/${job.runId}/job/${job.id}`),
      status: job.status,
      conclusion: job.conclusion,
      created_at: job.startedAt,
      started_at: job.startedAt,
      completed_at: job.completedAt,
      name: job.name,
      steps: job.steps.map((s) => ({ ...s, started_at: job.startedAt, completed_at: job.completedAt })),
      check_run_url: `${repoApi}/check-runs/${job.id}`,
      labels: job.labels,
      runner_id: job.runnerName ? 1 : null,
      runner_name: job.runnerName,
      runner_group_id: job.runnerName ? (job.runnerGroupName ? 2 : 1) : null,
      runner_group_name: job.runnerName ? (job.runnerGroupName ?? 'GitHub Actions') : null,
      workflow_name: job.workflowName,
    };
  }

  workflowRunJson(job: WorkflowJobRecord): Record<string, unknown> {
    const repo = this.requireRepository(job.repository);
    const repoApi = this.apiUrl(`/repos/${job.repository}`);
    const jobs = [...this.workflowJobs.values()].filter((j) => j.runId === job.runId && j.repository === job.repository);
    const completed = jobs.every((j) => j.status === 'completed');
    return {
      id: job.runId,
      name: job.workflowName,
      node_id: `WR_${job.runId}`,
      head_branch: job.headBranch,
      head_sha: job.headSha,
      path: job.workflowPath,
      display_title: job.workflowName,
      run_number: job.runId % 1000,
      run_attempt: job.runAttempt,
      event: job.event,
      status: completed ? 'completed' : 'in_progress',
      conclusion: completed ? (jobs.some((j) => j.conclusion === 'failure') ? 'failure' : 'success') : null,
      workflow_id: 1,
      url: `${repoApi}/actions/runs/${job.runId}`,
      html_url: this.htmlUrl(`/${job.repository}/actions/runs/${job.runId}`),
      jobs_url: `${repoApi}/actions/runs/${job.runId}/jobs`,
      logs_url: `${repoApi}/actions/runs/${job.runId}/logs`,
      created_at: job.startedAt,
      updated_at: job.completedAt ?? job.startedAt,
      run_started_at: job.startedAt,
      repository: this.repositoryJson(repo),
      head_repository: this.repositoryJson(repo),
    };
  }
}
