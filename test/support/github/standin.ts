/**
 * A loopback HTTP server that plays GitHub for tests: REST API checked against GitHub's
 * OpenAPI description, App authentication, real git repositories (REST, Git Data API and
 * smart HTTP), webhooks, request counts and fault injection. See test/support/README.md.
 */
import { createPublicKey, generateKeyPair, randomUUID, type KeyObject } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { jwtVerify, errors as joseErrors } from 'jose';
import { zipFiles } from './zip.js';
import { ZERO_SHA } from './git.js';
import { serveGitHttp } from './git-http.js';
import {
  GitHubApiError,
  HANDLERS,
  openPullRequest,
  canSeeRepository,
  type Body,
  type HandlerContext,
  type Principal,
  type Reply,
} from './handlers.js';
import { loadGitHubOpenApi, type Operation, type OpenApiRoutes } from './openapi.js';
import { VARIABLE_HANDLERS, variableScope, variablesOf, type VariableRecord } from './variables.js';
import { deepMerge, deliverWebhook, webhookExample, type JsonObject, type WebhookResponse } from './webhooks.js';
import {
  nowIso,
  permits,
  World,
  type CheckRunRecord,
  type CommentRecord,
  type InstallationRecord,
  type Permissions,
  type PullRequestRecord,
  type RepositoryRecord,
  type StatusRecord,
  type WorkflowJobRecord,
} from './world.js';

const DOCS = 'https://docs.github.com/rest';

export interface StandinOptions {
  readonly app?: {
    readonly id?: number;
    readonly slug?: string;
    readonly name?: string;
    readonly clientId?: string;
    /**
     * PEM public key App JWTs are verified with. Omitted: the stand-in generates a key pair
     * (once per process) and exposes the private key as `standin.app.privateKey`.
     */
    readonly publicKey?: string;
  };
  /** Secret for webhook signatures; default 'standin-webhook-secret'. */
  readonly webhookSecret?: string;
  /** Print one line per request to stderr. */
  readonly debug?: boolean;
}

export type ViolationKind =
  | 'unknown-route'
  | 'invalid-path-params'
  | 'invalid-query'
  | 'invalid-body'
  | 'invalid-json'
  | 'unimplemented'
  | 'standin-error';

/** A request that GitHub's description (or the stand-in) says is wrong: the test should fail. */
export interface Violation {
  readonly kind: ViolationKind;
  readonly method: string;
  /** Path and query as sent. */
  readonly path: string;
  readonly route?: string;
  readonly operationId?: string;
  readonly message: string;
  readonly errors?: readonly unknown[];
}

export interface RequestRecord {
  readonly method: string;
  readonly path: string;
  /** `METHOD /template` for API requests, `GIT /git/{owner}/{repo}.git` or `GET /_logs/{id}`. */
  readonly route: string;
  readonly operationId?: string;
  readonly kind: 'api' | 'git' | 'logs' | 'unknown';
  /** `owner/name` when the path names a repository. */
  readonly repository?: string;
  readonly status: number;
  /** Content-creating (POST, PATCH, PUT, DELETE) API request. */
  readonly write: boolean;
  readonly principal: 'anonymous' | 'app' | 'installation' | 'user' | 'invalid';
  /** Answered by fault injection (e.g. secondary rate limit). */
  readonly injectedFault: boolean;
}

export interface RequestStats {
  /** API requests (REST), excluding git smart HTTP and log downloads. */
  readonly total: number;
  readonly writes: number;
  readonly byRoute: Record<string, number>;
  readonly byRepository: Record<string, { total: number; writes: number }>;
  readonly gitHttp: number;
  readonly logDownloads: number;
  readonly injectedFaults: number;
}

export interface FaultRule {
  /** How many matching requests get the fault. */
  readonly count: number;
  readonly status: number;
  readonly message: string;
  readonly headers?: Record<string, string>;
  /** Which requests; default: content-creating requests except installation-token creation. */
  readonly match?: (request: { method: string; route: string; operationId: string; repository?: string }) => boolean;
}

/** Requests answered late (a slow GitHub): handled normally after `until` settles, then `ms`. */
export interface DelayRule {
  /** How many matching requests are delayed. */
  readonly count: number;
  readonly ms?: number;
  /**
   * Held until this settles (the test releases it): "slower than whatever the App does meanwhile"
   * without guessing how long that takes on a loaded machine.
   */
  readonly until?: Promise<unknown>;
  readonly match: (request: { method: string; route: string; operationId: string; repository?: string }) => boolean;
}

export interface WebhookPayloadOptions {
  readonly event: string;
  readonly action?: string;
  /** `owner/name`: fills `repository`, `organization`, `installation`. */
  readonly repository?: string;
  /** Login of the sender; default: the pull request author, else the repository owner. */
  readonly sender?: string;
  /** pull_request events: the stored pull request with this number. */
  readonly pullRequest?: number;
  /** push events: full ref (default the default branch), `before` and `after` shas. */
  readonly ref?: string;
  readonly before?: string;
  readonly after?: string;
  /** workflow_job events: the job registered with `addWorkflowJob`. */
  readonly workflowJob?: number;
  /** check_run events: the stored check run with this id (`pull_requests`: open ones of the repository whose head is its commit, as GitHub fills it). */
  readonly checkRun?: number;
  /** Installation id in the payload; default the repository owner's; false omits it. */
  readonly installation?: number | false;
  /** Deep-merged into the payload last. */
  readonly overrides?: JsonObject;
}

export interface StandinDelivery extends WebhookPayloadOptions {
  readonly url: string;
  readonly deliveryId?: string;
  readonly signature?: 'valid' | 'invalid' | 'none';
  /** Default: the stand-in's webhook secret. */
  readonly secret?: string;
  readonly headers?: Record<string, string>;
}

export interface WorkflowJobInput {
  readonly name: string;
  readonly id?: number;
  readonly runId?: number;
  readonly runAttempt?: number;
  readonly workflowName?: string;
  readonly workflowPath?: string;
  readonly event?: string;
  readonly headSha?: string;
  readonly headBranch?: string;
  readonly status?: WorkflowJobRecord['status'];
  readonly conclusion?: string | null;
  readonly labels?: string[];
  readonly runnerName?: string | null;
  /** Runner group of the runner that ran the job; default "GitHub Actions" (hosted) when it has a runner. */
  readonly runnerGroupName?: string | null;
  readonly steps?: WorkflowJobRecord['steps'];
  readonly startedAt?: string;
  readonly completedAt?: string | null;
  readonly logs?: string;
  /** Artifacts the job's run uploaded (the Actions artifacts API), each a zip of `files`. */
  readonly artifacts?: readonly { name: string; files: Record<string, string | Buffer> }[];
}

interface GeneratedKeys {
  readonly privateKey: string;
  readonly publicKey: string;
}

let generatedKeys: Promise<GeneratedKeys> | undefined;

/** An RSA key pair for the App, generated once per process (2048-bit takes ~100 ms). */
function appKeys(): Promise<GeneratedKeys> {
  generatedKeys ??= promisify(generateKeyPair)('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  }).then(({ privateKey, publicKey }) => ({ privateKey, publicKey }));
  return generatedKeys;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const WRITE_METHODS = new Set(['POST', 'PATCH', 'PUT', 'DELETE']);

export class GitHubStandin {
  /** The stand-in's address (`http://127.0.0.1:<port>`): its web URL, and an API base URL that works too. */
  readonly url: string;
  /** The API root its answers and payloads name (`<url>/api/v3`, as on GitHub Enterprise Server): Probot's `baseUrl`. */
  get apiRoot(): string {
    return `${this.url}/api/v3`;
  }
  readonly app: {
    readonly id: number;
    readonly slug: string;
    readonly name: string;
    readonly clientId: string;
    /** PKCS#8 PEM; undefined when the test supplied its own public key. */
    readonly privateKey: string | undefined;
    readonly publicKey: string;
  };
  readonly webhookSecret: string;
  /** Requests GitHub's description rejects, unknown routes, unimplemented operations. */
  readonly violations: Violation[] = [];
  /** Every request served, in order. */
  readonly requests: RequestRecord[] = [];

  private readonly world: World;
  private readonly routes: OpenApiRoutes;
  private readonly publicKeyObject: KeyObject;
  private readonly faults: { rule: FaultRule; remaining: number }[] = [];
  private readonly delays: { rule: DelayRule; remaining: number }[] = [];
  private readonly rateLimitUsed = new Map<string, number>();
  private readonly rateLimitReset = Math.floor(Date.now() / 1000) + 3600;

  /** @internal use startGitHubStandin */
  constructor(
    private readonly server: Server,
    readonly rootDir: string,
    url: string,
    app: GitHubStandin['app'],
    webhookSecret: string,
    private readonly debug: boolean,
  ) {
    this.url = url;
    this.app = app;
    this.webhookSecret = webhookSecret;
    this.publicKeyObject = createPublicKey(app.publicKey);
    this.routes = loadGitHubOpenApi();
    this.world = new World(url, rootDir, app);
  }

  // --- lifecycle and assertions ---------------------------------------------------------

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    await rm(this.rootDir, { recursive: true, force: true });
  }

  /** The end of a test: throws listing every violation, and closes the stand-in either way. */
  async finish(): Promise<void> {
    try {
      this.assertNoViolations();
    } finally {
      await this.close();
    }
  }

  /** Throws listing every violation; call it in afterEach. */
  assertNoViolations(): void {
    if (this.violations.length === 0) return;
    const lines = this.violations.map(
      (v) => `- [${v.kind}] ${v.method} ${v.path}${v.operationId ? ` (${v.operationId})` : ''}: ${v.message}`,
    );
    throw new Error(`GitHub stand-in saw ${this.violations.length} invalid request(s):\n${lines.join('\n')}`);
  }

  clearViolations(): void {
    this.violations.length = 0;
  }

  stats(): RequestStats {
    const byRoute: Record<string, number> = {};
    const byRepository: Record<string, { total: number; writes: number }> = {};
    let total = 0;
    let writes = 0;
    let gitHttp = 0;
    let logDownloads = 0;
    let injectedFaults = 0;
    for (const r of this.requests) {
      if (r.injectedFault) injectedFaults++;
      if (r.kind === 'git') gitHttp++;
      if (r.kind === 'logs') logDownloads++;
      if (r.kind !== 'api' && r.kind !== 'unknown') continue;
      total++;
      if (r.write) writes++;
      byRoute[r.route] = (byRoute[r.route] ?? 0) + 1;
      if (r.repository) {
        const entry = (byRepository[r.repository] ??= { total: 0, writes: 0 });
        entry.total++;
        if (r.write) entry.writes++;
      }
    }
    return { total, writes, byRoute, byRepository, gitHttp, logDownloads, injectedFaults };
  }

  resetStats(): void {
    this.requests.length = 0;
  }

  // --- accounts, installations, tokens --------------------------------------------------

  /**
   * Installs the App on `account` (an organization unless `accountType` says 'User'), on all
   * its repositories or the `repositories` listed. Permissions default to
   * DEFAULT_INSTALLATION_PERMISSIONS.
   */
  createInstallation(options: {
    account: string;
    accountType?: 'Organization' | 'User';
    permissions?: Permissions;
    repositories?: string[];
    events?: string[];
  }): InstallationRecord {
    return this.world.createInstallation(options);
  }

  installation(id: number): InstallationRecord | undefined {
    return this.world.installations.get(id);
  }

  /** An installation token without going through the JWT exchange (for plain Octokit tests). */
  createInstallationToken(installationId: number, options: { permissions?: Permissions; repositories?: string[] } = {}): string {
    const installation = this.world.installations.get(installationId);
    if (!installation) throw new Error(`no installation ${installationId}`);
    return this.world.issueInstallationToken(installation, options).token;
  }

  /** A personal token for `login`: a person with admin rights on every repository. */
  createUserToken(login: string, options: { repositories?: string[] } = {}): string {
    return this.world.issueUserToken(login, options).token;
  }

  /** Makes `login` a member of organization `org` (and of `teams`, slugs within it). */
  addOrgMember(org: string, login: string, options: { teams?: string[] } = {}): void {
    this.world.account(login, 'User');
    const orgKey = org.toLowerCase();
    const members = this.world.orgMembers.get(orgKey) ?? new Set<string>();
    members.add(login.toLowerCase());
    this.world.orgMembers.set(orgKey, members);
    for (const team of options.teams ?? []) {
      const key = `${orgKey}/${team.toLowerCase()}`;
      const teamSet = this.world.teamMembers.get(key) ?? new Set<string>();
      teamSet.add(login.toLowerCase());
      this.world.teamMembers.set(key, teamSet);
    }
  }

  /** Invalidates every token issued so far (callers must re-authenticate). */
  revokeAllTokens(): void {
    this.world.tokens.clear();
  }

  /** Options for `new Probot(...)` talking to this stand-in. */
  probotOptions(): { appId: number; privateKey: string; secret: string; baseUrl: string } {
    if (!this.app.privateKey) throw new Error('the stand-in was given a public key; pass your own private key to Probot');
    return { appId: this.app.id, privateKey: this.app.privateKey, secret: this.webhookSecret, baseUrl: this.apiRoot };
  }

  // --- repositories ---------------------------------------------------------------------

  /**
   * Creates a real git repository (non-bare, in the stand-in's temp dir) with one initial
   * commit of `files` on `defaultBranch` (default 'main'). Private unless `private: false`.
   */
  async createRepository(
    fullName: string,
    options: { files?: Record<string, string | Buffer>; defaultBranch?: string; private?: boolean; description?: string } = {},
  ): Promise<RepositoryRecord> {
    return this.world.createRepository(fullName, options);
  }

  repository(fullName: string): RepositoryRecord {
    return this.world.requireRepository(fullName);
  }

  /** `http://127.0.0.1:<port>/git/<owner>/<name>.git`, with `x-access-token:<token>@` when given. */
  gitUrl(fullName: string, token?: string): string {
    const url = new URL(this.world.gitUrl(this.world.requireRepository(fullName).fullName));
    if (token) {
      url.username = 'x-access-token';
      url.password = token;
    }
    return url.toString();
  }

  /** The commit sha `ref` (branch, tag, sha) names, or undefined. */
  async refSha(fullName: string, ref?: string): Promise<string | undefined> {
    const repo = this.world.requireRepository(fullName);
    return repo.git.resolveCommitish(ref ?? repo.defaultBranch);
  }

  /** A file's text at `ref` (default: the default branch), or undefined when absent. */
  async readFile(fullName: string, filePath: string, ref?: string): Promise<string | undefined> {
    const repo = this.world.requireRepository(fullName);
    const commit = await repo.git.resolveCommitish(ref ?? repo.defaultBranch);
    if (!commit) return undefined;
    const entry = await repo.git.entryAt(commit, filePath);
    if (!entry || entry.type !== 'blob') return undefined;
    return (await repo.git.readBlob(entry.sha)).toString('utf8');
  }

  /**
   * Commits `files` (null deletes) on `branch` (default: the default branch; created from
   * `from`, default the default branch, when missing), as `author` (a login). Plumbing only:
   * the work tree is not touched. Returns the new commit sha.
   */
  async commitFiles(
    fullName: string,
    options: { files: Record<string, string | Buffer | null>; branch?: string; from?: string; message?: string; author?: string },
  ): Promise<string> {
    const repo = this.world.requireRepository(fullName);
    const branch = options.branch ?? repo.defaultBranch;
    return repo.git.withRefLock(async () => {
      const current = await repo.git.resolve(`refs/heads/${branch}`, 'commit');
      const parent = current ?? (await repo.git.resolveCommitish(options.from ?? repo.defaultBranch));
      const changes = [];
      for (const [file, content] of Object.entries(options.files)) {
        const sha = content === null ? null : await repo.git.writeBlob(Buffer.from(content));
        changes.push({ path: file, mode: '100644', type: 'blob' as const, sha });
      }
      const tree = await repo.git.writeTree(parent ? await repo.git.resolve(parent, 'tree') : undefined, changes);
      const identity = this.world.identityOf(this.world.account(options.author ?? 'octocat'));
      const commit = await repo.git.commitTree(tree, parent ? [parent] : [], options.message ?? 'Update files', identity, identity);
      await repo.git.updateRef(`refs/heads/${branch}`, commit, current ?? ZERO_SHA);
      return commit;
    });
  }

  // --- records for assertions -----------------------------------------------------------

  /** Actions variables of an organization or a repository (names upper-case), see variables.ts. */
  variables(level: 'organization' | 'repository', target: string): Map<string, VariableRecord> {
    return variablesOf(this.world, variableScope(level, target));
  }

  /** Sets a variable as a person would in the settings UI (no webhook: GitHub sends none). */
  setVariable(level: 'organization' | 'repository', target: string, name: string, value: string): void {
    const variables = this.variables(level, target);
    const at = new Date().toISOString();
    const existing = variables.get(name.toUpperCase());
    if (existing) {
      existing.value = value;
      existing.updatedAt = at;
    } else {
      variables.set(name.toUpperCase(), { name: name.toUpperCase(), value, createdAt: at, updatedAt: at, ...(level === 'organization' ? { visibility: 'all' as const } : {}) });
    }
  }

  pullRequests(fullName?: string): PullRequestRecord[] {
    return this.world.pullRequests.filter((p) => !fullName || p.repository.toLowerCase() === fullName.toLowerCase());
  }

  pullRequest(fullName: string, number: number): PullRequestRecord {
    const pr = this.pullRequests(fullName).find((p) => p.number === number);
    if (!pr) throw new Error(`no pull request ${fullName}#${number}`);
    return pr;
  }

  /** Opens a pull request as a person (`by`, default 'octocat'), as if from the web UI. */
  async openPullRequest(
    fullName: string,
    options: { head: string; base?: string; title?: string; body?: string; by?: string; draft?: boolean },
  ): Promise<PullRequestRecord> {
    const repo = this.world.requireRepository(fullName);
    return openPullRequest(this.world, repo, {
      head: options.head,
      base: options.base ?? repo.defaultBranch,
      title: options.title ?? `Update ${options.head}`,
      body: options.body ?? null,
      draft: options.draft ?? false,
      by: this.world.account(options.by ?? 'octocat'),
    });
  }

  /** Closes a pull request as a person (`by`, default 'octocat'), without merging. */
  async closePullRequest(fullName: string, number: number, options: { by?: string } = {}): Promise<PullRequestRecord> {
    const pr = this.pullRequest(fullName, number);
    await this.world.refreshPullRequest(pr);
    const by = this.world.account(options.by ?? 'octocat');
    const at = nowIso();
    pr.state = 'closed';
    pr.closedAt = at;
    pr.closedBy = by;
    pr.updatedAt = at;
    pr.events.push({ type: 'closed', by: by.login, at });
    return pr;
  }

  /**
   * Merges a pull request as a person: fast-forward when possible, else a real merge commit
   * (`git merge-tree`); throws on conflicts. Returns the new base branch head.
   */
  async mergePullRequest(fullName: string, number: number, options: { by?: string } = {}): Promise<string> {
    const pr = this.pullRequest(fullName, number);
    if (pr.state !== 'open') throw new Error(`pull request ${fullName}#${number} is ${pr.state}`);
    const repo = this.world.requireRepository(fullName);
    await this.world.refreshPullRequest(pr);
    const by = this.world.account(options.by ?? 'octocat');
    const result = await repo.git.withRefLock(async () => {
      const base = (await repo.git.resolve(`refs/heads/${pr.base.ref}`, 'commit'))!;
      let merged: string;
      if (await repo.git.isAncestor(base, pr.headSha)) {
        merged = pr.headSha;
      } else {
        const tree = (await repo.git.git(['merge-tree', '--write-tree', base, pr.headSha])).split('\n')[0]!.trim();
        const identity = this.world.identityOf(by);
        merged = await repo.git.commitTree(tree, [base, pr.headSha], `Merge pull request #${number}`, identity, identity);
      }
      await repo.git.updateRef(`refs/heads/${pr.base.ref}`, merged, base);
      return merged;
    });
    const at = nowIso();
    pr.state = 'closed';
    pr.closedAt = at;
    pr.mergedAt = at;
    pr.mergedBy = by;
    pr.mergeCommitSha = result;
    pr.updatedAt = at;
    pr.events.push({ type: 'merged', by: by.login, at });
    return result;
  }

  comments(fullName: string, issueNumber?: number): CommentRecord[] {
    return this.world.comments.filter(
      (c) => c.repository.toLowerCase() === fullName.toLowerCase() && (issueNumber === undefined || c.issueNumber === issueNumber),
    );
  }

  checkRuns(fullName: string, filter: { headSha?: string; name?: string } = {}): CheckRunRecord[] {
    return this.world.checkRuns.filter(
      (r) =>
        r.repository.toLowerCase() === fullName.toLowerCase() &&
        (!filter.headSha || r.headSha === filter.headSha) &&
        (!filter.name || r.name === filter.name),
    );
  }

  statuses(fullName: string, sha?: string): StatusRecord[] {
    return this.world.statuses.filter((s) => s.repository.toLowerCase() === fullName.toLowerCase() && (!sha || s.sha === sha));
  }

  // --- actions --------------------------------------------------------------------------

  /** Registers a workflow job (and its run) served by the Actions API, with optional logs. */
  async addWorkflowJob(fullName: string, input: WorkflowJobInput): Promise<WorkflowJobRecord> {
    const repo = this.world.requireRepository(fullName);
    const headSha = input.headSha ?? (await repo.git.resolveCommitish(repo.defaultBranch))!;
    const status = input.status ?? 'completed';
    const startedAt = input.startedAt ?? nowIso();
    const job: WorkflowJobRecord = {
      id: input.id ?? this.world.newId(),
      runId: input.runId ?? this.world.newId(),
      runAttempt: input.runAttempt ?? 1,
      repository: repo.fullName,
      name: input.name,
      workflowName: input.workflowName ?? 'CI',
      workflowPath: input.workflowPath ?? '.github/workflows/ci.yml',
      event: input.event ?? 'push',
      headSha,
      headBranch: input.headBranch ?? repo.defaultBranch,
      status,
      conclusion: input.conclusion !== undefined ? input.conclusion : status === 'completed' ? 'success' : null,
      labels: input.labels ?? ['ubuntu-latest'],
      runnerName: input.runnerName !== undefined ? input.runnerName : 'GitHub Actions 1',
      runnerGroupName: input.runnerGroupName,
      steps: input.steps ?? [{ name: 'Set up job', status: 'completed', conclusion: 'success', number: 1 }],
      startedAt,
      completedAt: input.completedAt !== undefined ? input.completedAt : status === 'completed' ? startedAt : null,
      logs: input.logs,
    };
    this.world.workflowJobs.set(job.id, job);
    for (const artifact of input.artifacts ?? []) {
      const id = this.world.newId();
      this.world.artifacts.set(id, { id, repository: repo.fullName, runId: job.runId, headSha, headBranch: job.headBranch, name: artifact.name, zip: zipFiles(artifact.files), createdAt: startedAt });
    }
    return job;
  }

  // --- fault injection ------------------------------------------------------------------

  /** The next matching requests answer with the given error instead of being handled. */
  failNextRequests(rule: FaultRule): void {
    this.faults.push({ rule, remaining: rule.count });
  }

  /** The next matching requests are answered once `until` settles and `ms` passed (then handled as usual). */
  delayRequests(rule: DelayRule): void {
    this.delays.push({ rule, remaining: rule.count });
  }

  /** GitHub recovers: faults and delays not yet used up are dropped. */
  clearFaults(): void {
    this.faults.length = 0;
    this.delays.length = 0;
  }

  /**
   * The next `count` content-creating requests get GitHub's secondary rate limit answer:
   * 403 with `retry-after: <retryAfter>` (seconds, default 1; GitHub sends whole seconds,
   * plugin-throttling also accepts fractions) and a message matching /secondary rate/.
   */
  secondaryRateLimit(count: number, options: { retryAfter?: number } = {}): void {
    this.failNextRequests({
      count,
      status: 403,
      message:
        'You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID STANDIN.',
      headers: { 'retry-after': String(options.retryAfter ?? 1) },
    });
  }

  // --- webhooks -------------------------------------------------------------------------

  /** A webhook payload for `event`, from GitHub's examples with the stand-in's data filled in. */
  async webhookPayload(options: WebhookPayloadOptions): Promise<JsonObject> {
    const payload = webhookExample(options.event, options.action);
    const repo = options.repository ? this.world.requireRepository(options.repository) : undefined;
    let sender = options.sender ? this.world.account(options.sender) : repo?.owner;
    if (repo) {
      payload.repository = this.world.repositoryJson(repo);
      if (repo.owner.type === 'Organization') {
        payload.organization = {
          login: repo.owner.login,
          id: repo.owner.id,
          node_id: `O_${repo.owner.id}`,
          url: this.world.apiUrl(`/orgs/${repo.owner.login}`),
          description: null,
        };
      } else {
        delete payload.organization;
      }
      const installationId =
        options.installation === false ? undefined : (options.installation ?? this.world.installationForAccount(repo.owner.login)?.id);
      if (installationId !== undefined) payload.installation = { id: installationId, node_id: `I_${installationId}` };
      else delete payload.installation;
    }
    if (options.event === 'pull_request' && options.pullRequest !== undefined) {
      if (!repo) throw new Error('pull_request payloads need `repository`');
      const pr = this.pullRequest(repo.fullName, options.pullRequest);
      payload.number = pr.number;
      payload.pull_request = await this.world.pullRequestJson(pr);
      if (!options.sender) sender = pr.user;
    }
    if (options.event === 'push' && repo) Object.assign(payload, await this.pushFields(repo, options));
    if (options.event === 'workflow_job' && options.workflowJob !== undefined) {
      const job = this.world.workflowJobs.get(options.workflowJob);
      if (!job) throw new Error(`no workflow job ${options.workflowJob} (addWorkflowJob first)`);
      payload.workflow_job = { ...this.world.workflowJobJson(job), workflow_name: job.workflowName };
    }
    if (options.event === 'check_run' && options.checkRun !== undefined) {
      if (!repo) throw new Error('check_run payloads need `repository`');
      const run = this.checkRuns(repo.fullName).find((candidate) => candidate.id === options.checkRun);
      if (!run) throw new Error(`no check run ${options.checkRun} in ${repo.fullName}`);
      const pulls = [];
      for (const pr of this.pullRequests(repo.fullName)) {
        const json = await this.world.pullRequestJson(pr);
        if (pr.state !== 'open' || pr.headSha !== run.headSha) continue;
        const side = (key: 'head' | 'base') => {
          const value = json[key] as { ref: string; sha: string; repo: { id: number; url: string; name: string } };
          return { ref: value.ref, sha: value.sha, repo: { id: value.repo.id, url: value.repo.url, name: value.repo.name } };
        };
        pulls.push({ url: json.url, id: pr.id, number: pr.number, head: side('head'), base: side('base') });
      }
      payload.check_run = { ...this.world.checkRunJson(run), pull_requests: pulls };
    }
    if (sender) payload.sender = this.world.actorJson(sender);
    if (options.overrides) deepMerge(payload, structuredClone(options.overrides));
    return payload;
  }

  private async pushFields(repo: RepositoryRecord, options: WebhookPayloadOptions): Promise<JsonObject> {
    const ref = options.ref ?? `refs/heads/${repo.defaultBranch}`;
    const after = options.after ?? (await repo.git.resolve(ref, 'commit')) ?? ZERO_SHA;
    let before = options.before;
    if (before === undefined) {
      const info = after === ZERO_SHA ? undefined : await repo.git.readCommit(after);
      before = info?.parents[0] ?? ZERO_SHA;
    }
    const shas = after === ZERO_SHA ? [] : (await repo.git.commitsBetween(before, after)).slice(-20);
    const commits = [];
    for (const sha of shas) {
      const info = (await repo.git.readCommit(sha))!;
      const files = await repo.git.diffFiles(info.parents[0], sha);
      commits.push({
        id: sha,
        tree_id: info.tree,
        distinct: true,
        message: info.message.replace(/\n$/, ''),
        timestamp: info.committer.date,
        url: this.world.htmlUrl(`/${repo.fullName}/commit/${sha}`),
        author: { ...info.author, username: info.author.name },
        committer: { ...info.committer, username: info.committer.name },
        added: files.filter((f) => f.status === 'added').map((f) => f.path),
        removed: files.filter((f) => f.status === 'removed').map((f) => f.path),
        modified: files.filter((f) => f.status === 'modified').map((f) => f.path),
      });
    }
    const forced = before !== ZERO_SHA && after !== ZERO_SHA && !(await repo.git.isAncestor(before, after));
    const pushedAt = Math.floor(Date.now() / 1000);
    return {
      ref,
      before,
      after,
      created: before === ZERO_SHA,
      deleted: after === ZERO_SHA,
      forced,
      base_ref: null,
      compare: this.world.htmlUrl(`/${repo.fullName}/compare/${before.slice(0, 12)}...${after.slice(0, 12)}`),
      commits,
      head_commit: commits.at(-1) ?? null,
      pusher: { name: repo.owner.login, email: null },
      // Push payloads carry timestamps as numbers, unlike other events.
      repository: { ...this.world.repositoryJson(repo), pushed_at: pushedAt, created_at: pushedAt - 86400 },
    };
  }

  /** Builds a payload (see webhookPayload) and POSTs it to `url`, signed with the secret. */
  async deliverWebhook(delivery: StandinDelivery): Promise<WebhookResponse & { payload: JsonObject }> {
    const payload = await this.webhookPayload(delivery);
    const response = await deliverWebhook({
      url: delivery.url,
      event: delivery.event,
      payload,
      secret: delivery.secret ?? this.webhookSecret,
      deliveryId: delivery.deliveryId,
      signature: delivery.signature,
      headers: delivery.headers,
    });
    return { ...response, payload };
  }

  // --- HTTP -----------------------------------------------------------------------------

  /** @internal */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const method = (req.method ?? 'GET').toUpperCase();
    const fullPath = url.pathname + url.search;
    try {
      if (url.pathname.startsWith('/git/')) return await this.handleGit(req, res, url);
      const logs = /^\/_logs\/([0-9a-f-]+)$/.exec(url.pathname);
      if (logs && method === 'GET') {
        const text = this.world.logDownloads.get(logs[1]!);
        // Logs are text; artifacts are zip archives.
        this.send(res, { status: text === undefined ? 404 : 200, raw: text ?? 'Not Found', contentType: Buffer.isBuffer(text) ? 'application/zip' : 'text/plain; charset=utf-8' });
        this.record({ method, path: fullPath, route: 'GET /_logs/{id}', kind: 'logs', status: text === undefined ? 404 : 200, write: false, principal: 'anonymous', injectedFault: false });
        return;
      }
      await this.handleApi(req, res, url, method);
    } catch (error) {
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      this.violations.push({ kind: 'standin-error', method, path: fullPath, message });
      if (!res.headersSent) this.send(res, { status: 500, body: { message: 'Stand-in error', detail: message } });
      else res.end();
    }
  }

  private record(record: RequestRecord): void {
    this.requests.push(record);
    if (this.debug) process.stderr.write(`[github-standin] ${record.status} ${record.method} ${record.path}\n`);
  }

  private send(res: ServerResponse, reply: Reply, extraHeaders: Record<string, string> = {}): void {
    const headers: Record<string, string> = {
      'x-github-request-id': randomUUID(),
      'x-github-media-type': 'github.v3; format=json',
      ...extraHeaders,
      ...reply.headers,
    };
    if (reply.raw !== undefined) {
      headers['content-type'] = reply.contentType ?? 'text/plain; charset=utf-8';
      res.writeHead(reply.status, headers);
      res.end(reply.raw);
      return;
    }
    if (reply.body === undefined || reply.status === 204 || reply.status === 304) {
      res.writeHead(reply.status, headers);
      res.end();
      return;
    }
    headers['content-type'] = 'application/json; charset=utf-8';
    res.writeHead(reply.status, headers);
    res.end(JSON.stringify(reply.body));
  }

  private errorReply(status: number, message: string, errors?: readonly unknown[], headers?: Record<string, string>): Reply {
    return {
      status,
      body: { message, ...(errors ? { errors } : {}), documentation_url: DOCS, status: String(status) },
      headers,
    };
  }

  /** Who is calling: an App (JWT), a token holder, nobody, or `undefined` for bad credentials. */
  private async authenticate(req: IncomingMessage): Promise<{ principal?: Principal; error?: string }> {
    const header = req.headers.authorization;
    if (!header) return { principal: { kind: 'anonymous' } };
    const [scheme, value = ''] = header.split(/\s+/, 2);
    let credential = value;
    if (scheme?.toLowerCase() === 'basic') {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      credential = decoded.slice(decoded.indexOf(':') + 1);
    } else if (scheme?.toLowerCase() !== 'token' && scheme?.toLowerCase() !== 'bearer') {
      return { error: 'Bad credentials' };
    }
    if (/^eyJ[\w-]*\.[\w-]+\.[\w-]+$/.test(credential)) {
      try {
        const { payload } = await jwtVerify(credential, this.publicKeyObject, { algorithms: ['RS256'], clockTolerance: 60 });
        if (String(payload.iss) !== String(this.app.id) && payload.iss !== this.app.clientId) {
          return { error: "'Issuer' claim ('iss') must be an Integer" };
        }
        if (typeof payload.exp !== 'number' || payload.exp - Date.now() / 1000 > 660) {
          return { error: "'Expiration time' claim ('exp') is too far in the future" };
        }
        return { principal: { kind: 'app' } };
      } catch (error) {
        if (error instanceof joseErrors.JWTExpired) {
          return { error: "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires" };
        }
        return { error: 'A JSON web token could not be decoded' };
      }
    }
    const token = this.world.tokenRecord(credential);
    return token ? { principal: { kind: 'token', token } } : { error: 'Bad credentials' };
  }

  private principalKind(principal: Principal | undefined): RequestRecord['principal'] {
    if (!principal) return 'invalid';
    if (principal.kind === 'token') return principal.token.kind;
    return principal.kind;
  }

  private rateLimitHeaders(principal: Principal | undefined): Record<string, string> {
    const key = principal?.kind === 'token' ? principal.token.token : (principal?.kind ?? 'invalid');
    const used = (this.rateLimitUsed.get(key) ?? 0) + 1;
    this.rateLimitUsed.set(key, used);
    const limit = principal?.kind === 'anonymous' ? 60 : 5000;
    return {
      'x-ratelimit-limit': String(limit),
      'x-ratelimit-remaining': String(Math.max(0, limit - used)),
      'x-ratelimit-used': String(used),
      'x-ratelimit-reset': String(this.rateLimitReset),
      'x-ratelimit-resource': 'core',
    };
  }

  private async handleApi(req: IncomingMessage, res: ServerResponse, url: URL, method: string): Promise<void> {
    const fullPath = url.pathname + url.search;
    // GitHub Enterprise Server style base URLs (`<host>/api/v3`, Probot's GHE_HOST) work too.
    if (url.pathname === '/api/v3' || url.pathname.startsWith('/api/v3/')) url.pathname = url.pathname.slice('/api/v3'.length) || '/';
    const match = this.routes.match(method, url.pathname);
    const raw = await readBody(req);
    const repoFromPath = /^\/repos\/([^/]+)\/([^/]+)/.exec(url.pathname);
    const repository = repoFromPath ? `${decodeURIComponent(repoFromPath[1]!)}/${decodeURIComponent(repoFromPath[2]!)}` : undefined;
    const write = WRITE_METHODS.has(method);
    const { principal, error: authError } = await this.authenticate(req);
    const finish = (reply: Reply, route: string, operation?: Operation, injectedFault = false) => {
      this.send(res, reply, this.rateLimitHeaders(principal));
      this.record({
        method,
        path: fullPath,
        route,
        operationId: operation?.operationId,
        kind: operation ? 'api' : 'unknown',
        repository: this.world.repository(repository ?? '')?.fullName ?? repository,
        status: reply.status,
        write,
        principal: this.principalKind(principal),
        injectedFault,
      });
    };

    if (!match) {
      this.violations.push({ kind: 'unknown-route', method, path: fullPath, message: `no ${method} ${url.pathname} in GitHub's REST API description` });
      return finish(this.errorReply(404, 'Not Found'), `${method} ${url.pathname}`);
    }
    const { operation, pathParams } = match;
    const violation = (kind: ViolationKind, message: string, errors?: readonly unknown[]) =>
      this.violations.push({ kind, method, path: fullPath, route: operation.route, operationId: operation.operationId, message, errors });

    const paramFailure = this.routes.validateParameters(operation, pathParams, url.searchParams);
    if (paramFailure) {
      const pathProblem = paramFailure.location === 'path';
      violation(pathProblem ? 'invalid-path-params' : 'invalid-query', paramFailure.message, paramFailure.errors);
      return finish(
        pathProblem ? this.errorReply(404, 'Not Found') : this.errorReply(422, `Invalid request.\n\n${paramFailure.message}`),
        operation.route,
        operation,
      );
    }
    let body: unknown;
    const contentType = String(req.headers['content-type'] ?? '');
    const jsonBody = operation.bodyContentTypes.length === 0 || operation.bodyContentTypes.includes('application/json');
    if (raw.length > 0 && jsonBody && (contentType === '' || contentType.includes('json'))) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch (error) {
        violation('invalid-json', `request body is not JSON: ${(error as Error).message}`);
        return finish(this.errorReply(400, 'Problems parsing JSON'), operation.route, operation);
      }
    }
    if (operation.bodyContentTypes.includes('application/json')) {
      const bodyFailure = this.routes.validateBody(operation, body);
      if (bodyFailure) {
        violation('invalid-body', bodyFailure.message, bodyFailure.errors);
        return finish(this.errorReply(422, `Invalid request.\n\n${bodyFailure.message}`), operation.route, operation);
      }
    }

    if (!principal) return finish(this.errorReply(401, authError ?? 'Bad credentials'), operation.route, operation);

    const handler = HANDLERS[operation.operationId] ?? VARIABLE_HANDLERS[operation.operationId];
    if (!handler) {
      violation('unimplemented', `the stand-in does not implement ${operation.route}; add it to test/support/github/handlers.ts`);
      return finish(this.errorReply(501, `Not implemented by the GitHub stand-in: ${operation.operationId}`), operation.route, operation);
    }

    // Authentication and authorization, as GitHub answers them.
    if (handler.auth === 'app' && principal.kind !== 'app') {
      return finish(this.errorReply(401, 'A JSON web token could not be decoded'), operation.route, operation);
    }
    if (handler.auth !== 'app' && principal.kind === 'app') {
      return finish(
        this.errorReply(403, 'This endpoint requires an installation access token; a GitHub App JWT was given.'),
        operation.route,
        operation,
      );
    }
    let repo: RepositoryRecord | undefined;
    if (handler.auth !== 'app' && pathParams.owner !== undefined && pathParams.repo !== undefined) {
      repo = this.world.repository(`${pathParams.owner}/${pathParams.repo}`);
      if (!repo || !canSeeRepository(this.world, principal, repo)) {
        return finish(this.errorReply(principal.kind === 'anonymous' && write ? 401 : 404, principal.kind === 'anonymous' && write ? 'Requires authentication' : 'Not Found'), operation.route, operation);
      }
      if (principal.kind === 'anonymous' && write) {
        return finish(this.errorReply(401, 'Requires authentication'), operation.route, operation);
      }
      if (principal.kind === 'token') {
        const needed = handler.permission === undefined ? ['metadata'] : typeof handler.permission === 'string' ? [handler.permission] : handler.permission;
        const level = method === 'GET' || method === 'HEAD' ? 'read' : 'write';
        const granted = needed.some((name) => permits(principal.token.permissions, name, name === 'metadata' ? 'read' : level));
        if (!granted) return finish(this.errorReply(403, 'Resource not accessible by integration'), operation.route, operation);
      }
    } else if (handler.auth !== 'app' && principal.kind === 'anonymous' && write) {
      return finish(this.errorReply(401, 'Requires authentication'), operation.route, operation);
    }

    for (const delay of this.delays) {
      if (delay.remaining <= 0 || !delay.rule.match({ method, route: operation.route, operationId: operation.operationId, repository: repo?.fullName })) continue;
      delay.remaining--;
      if (delay.rule.until) await delay.rule.until.catch(() => undefined);
      if (delay.rule.ms) await new Promise((resolve) => setTimeout(resolve, delay.rule.ms));
      break;
    }
    const fault = this.takeFault(method, operation, repo?.fullName);
    if (fault) {
      return finish(this.errorReply(fault.status, fault.message, undefined, fault.headers), operation.route, operation, true);
    }

    const ctx: HandlerContext = {
      world: this.world,
      operation,
      params: pathParams,
      query: url.searchParams,
      body: (body ?? {}) as Body,
      principal,
      repo,
      headers: req.headers,
      url,
    };
    let reply: Reply;
    try {
      reply = await handler.run(ctx);
    } catch (error) {
      if (!(error instanceof GitHubApiError)) throw error;
      reply = this.errorReply(error.status, error.message, error.errors, error.headers);
    }
    finish(reply, operation.route, operation);
  }

  private takeFault(method: string, operation: Operation, repository: string | undefined): FaultRule | undefined {
    for (const fault of this.faults) {
      if (fault.remaining <= 0) continue;
      const request = { method, route: operation.route, operationId: operation.operationId, repository };
      const matches = fault.rule.match
        ? fault.rule.match(request)
        : WRITE_METHODS.has(method) && operation.operationId !== 'apps/create-installation-access-token';
      if (!matches) continue;
      fault.remaining--;
      return fault.rule;
    }
    return undefined;
  }

  private async handleGit(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const fullPath = url.pathname + url.search;
    const m = /^\/git\/([^/]+)\/([^/]+?)\.git(\/.*)?$/.exec(url.pathname);
    const repo = m ? this.world.repository(`${decodeURIComponent(m[1]!)}/${decodeURIComponent(m[2]!)}`) : undefined;
    const { principal } = await this.authenticate(req);
    const recordGit = (status: number) =>
      this.record({
        method,
        path: fullPath,
        route: 'GIT /git/{owner}/{repo}.git',
        kind: 'git',
        repository: repo?.fullName,
        status,
        write: false,
        principal: this.principalKind(principal),
        injectedFault: false,
      });
    const deny = (status: number, message: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'text/plain', ...headers });
      res.end(`${message}\n`);
      recordGit(status);
    };
    if (!m || !repo) return deny(404, 'Repository not found.');
    const pushing = url.searchParams.get('service') === 'git-receive-pack' || (m[3] ?? '').endsWith('/git-receive-pack');
    if (!principal || principal.kind === 'app' || (principal.kind === 'anonymous' && (repo.private || pushing))) {
      return deny(401, 'Invalid username or token.', { 'www-authenticate': 'Basic realm="GitHub"' });
    }
    if (principal.kind === 'token') {
      if (!this.world.tokenCanReach(principal.token, repo)) return deny(404, 'Repository not found.');
      if (!permits(principal.token.permissions, 'contents', pushing ? 'write' : 'read')) {
        return deny(403, `Permission to ${repo.fullName}.git denied to ${principal.token.actor.login}.`);
      }
    }
    const status = await serveGitHttp(req, res, {
      projectRoot: this.rootDir,
      pathInfo: `/${repo.owner.login}/${repo.name}${m[3] ?? ''}`,
      remoteUser: principal.kind === 'token' ? principal.token.actor.login : undefined,
    });
    recordGit(status);
  }
}

/** Starts the stand-in on 127.0.0.1 (random port). Close it with `await standin.close()`. */
export async function startGitHubStandin(options: StandinOptions = {}): Promise<GitHubStandin> {
  const keys = options.app?.publicKey ? undefined : await appKeys();
  const publicKey = options.app?.publicKey ?? keys!.publicKey;
  const rootDir = await mkdtemp(path.join(os.tmpdir(), 'github-standin-'));
  // Load the description before listening so the first request does not pay for it.
  loadGitHubOpenApi();
  const server = createServer((req, res) => {
    void standin.handle(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const appId = options.app?.id ?? 4242;
  const standin = new GitHubStandin(
    server,
    rootDir,
    `http://127.0.0.1:${port}`,
    {
      id: appId,
      slug: options.app?.slug ?? 'egressctl',
      name: options.app?.name ?? 'egressctl',
      clientId: options.app?.clientId ?? `Iv1.standin${appId}`,
      privateKey: keys?.privateKey,
      publicKey,
    },
    options.webhookSecret ?? 'standin-webhook-secret',
    options.debug ?? false,
  );
  return standin;
}
