/**
 * REST operations the stand-in implements, keyed by OpenAPI operationId. Requests reach a
 * handler only after the route, parameters and body validated against GitHub's description
 * and the caller was authenticated and authorized for the repository (see standin.ts).
 */
import type { IncomingHttpHeaders } from 'node:http';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { EMPTY_TREE_SHA, ZERO_SHA, type GitIdentity, type TreeChange, type TreeEntry } from './git.js';
import type { Operation } from './openapi.js';
import {
  nowIso,
  permits,
  type AnnotationRecord,
  type CheckRunRecord,
  type CommentRecord,
  type Permissions,
  type PullRequestRecord,
  type RepositoryRecord,
  type StatusRecord,
  type TokenRecord,
  type World,
} from './world.js';

/** GitHub's limit on comment and check-run summary bodies. */
export const MAX_COMMENT_LENGTH = 65536;

export type Body = Record<string, unknown>;

export type Principal =
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'app' }
  | { readonly kind: 'token'; readonly token: TokenRecord };

export interface HandlerContext {
  readonly world: World;
  readonly operation: Operation;
  readonly params: Record<string, string>;
  readonly query: URLSearchParams;
  readonly body: Body;
  readonly principal: Principal;
  /** The repository named by `{owner}/{repo}`, already access-checked. */
  readonly repo: RepositoryRecord | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly url: URL;
}

export interface Reply {
  readonly status: number;
  /** JSON body; ignored when `raw` is set. */
  readonly body?: unknown;
  readonly raw?: string | Buffer;
  readonly contentType?: string;
  readonly headers?: Record<string, string>;
}

/** A GitHub-shaped error answer (`{message, errors?, documentation_url, status}`). */
export class GitHubApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors?: readonly Record<string, unknown>[],
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'GitHubApiError';
  }
}

export interface HandlerSpec {
  /**
   * The installation permission the operation needs (level follows the method: GET reads,
   * anything else writes). Several names: any one suffices. Undefined: metadata only.
   */
  readonly permission?: string | readonly string[];
  /** 'app': App JWT only; 'token' (default): installation or user token. */
  readonly auth?: 'app' | 'token';
  readonly run: (ctx: HandlerContext) => Promise<Reply>;
}

const notFound = (): GitHubApiError => new GitHubApiError(404, 'Not Found');
const unprocessable = (message: string, errors?: Record<string, unknown>[]): GitHubApiError =>
  new GitHubApiError(422, message, errors);

function json(status: number, body: unknown, headers?: Record<string, string>): Reply {
  return { status, body, headers };
}

function repoOf(ctx: HandlerContext): RepositoryRecord {
  if (!ctx.repo) throw notFound();
  return ctx.repo;
}

function actorOf(ctx: HandlerContext) {
  if (ctx.principal.kind !== 'token') throw new GitHubApiError(401, 'Requires authentication');
  return ctx.principal.token.actor;
}

function isInstallation(ctx: HandlerContext): boolean {
  return ctx.principal.kind === 'token' && ctx.principal.token.kind === 'installation';
}

function intParam(ctx: HandlerContext, name: string): number {
  return Number(ctx.params[name]);
}

/** Slices `items` by `page`/`per_page` and adds a `Link` header like GitHub's. */
function paginate<T>(ctx: HandlerContext, items: readonly T[]): { items: T[]; headers: Record<string, string> } {
  const perPage = Math.min(100, Math.max(1, Number(ctx.query.get('per_page') ?? 30) || 30));
  const page = Math.max(1, Number(ctx.query.get('page') ?? 1) || 1);
  const last = Math.max(1, Math.ceil(items.length / perPage));
  const link = (p: number, rel: string) => {
    const u = new URL(ctx.url.pathname + ctx.url.search, ctx.world.baseUrl);
    u.searchParams.set('per_page', String(perPage));
    u.searchParams.set('page', String(p));
    return `<${u.toString()}>; rel="${rel}"`;
  };
  const links: string[] = [];
  if (page > 1) links.push(link(page - 1, 'prev'), link(1, 'first'));
  if (page < last) links.push(link(page + 1, 'next'), link(last, 'last'));
  return {
    items: items.slice((page - 1) * perPage, page * perPage),
    headers: links.length > 0 ? { link: links.join(', ') } : {},
  };
}

function base64Wrapped(content: Buffer): string {
  const encoded = content.toString('base64');
  return (encoded.match(/.{1,60}/g) ?? []).map((line) => `${line}\n`).join('');
}

function identityFrom(value: unknown, fallback: GitIdentity): GitIdentity {
  if (!value || typeof value !== 'object') return fallback;
  const v = value as { name?: string; email?: string; date?: string };
  return { name: v.name ?? fallback.name, email: v.email ?? fallback.email, date: v.date };
}

async function commitishOrThrow(repo: RepositoryRecord, ref: string): Promise<string> {
  const sha = await repo.git.resolveCommitish(ref);
  if (!sha) throw new GitHubApiError(422, `No commit found for SHA: ${ref}`);
  return sha;
}

/**
 * GitHub refuses a GitHub App's change to `.github/workflows/*` without `workflows: write`.
 * Status 422 is this stand-in's choice; GitHub's exact REST status is not documented.
 */
async function assertWorkflowsPermission(
  ctx: HandlerContext,
  repo: RepositoryRecord,
  oldSha: string | undefined,
  newSha: string,
): Promise<void> {
  if (ctx.principal.kind !== 'token' || ctx.principal.token.kind !== 'installation') return;
  if (permits(ctx.principal.token.permissions, 'workflows', 'write')) return;
  let from = oldSha;
  if (!from || from === ZERO_SHA) {
    const defaultHead = await repo.git.resolve(`refs/heads/${repo.defaultBranch}`, 'commit');
    from = defaultHead ? await repo.git.mergeBase(defaultHead, newSha) : undefined;
  }
  const changed = (await repo.git.changedPaths(from, newSha)).find((p) => p.startsWith('.github/workflows/'));
  if (changed) {
    throw unprocessable(
      `refusing to allow a GitHub App to create or update workflow \`${changed}\` without \`workflows\` permission`,
    );
  }
}

// --- contents --------------------------------------------------------------------------

function contentType(entry: TreeEntry): 'file' | 'dir' | 'symlink' | 'submodule' {
  if (entry.type === 'tree') return 'dir';
  if (entry.type === 'commit') return 'submodule';
  return entry.mode === '120000' ? 'symlink' : 'file';
}

function contentEntryJson(ctx: HandlerContext, repo: RepositoryRecord, entry: TreeEntry, ref: string) {
  const api = ctx.world.apiUrl(`/repos/${repo.fullName}`);
  const type = contentType(entry);
  const url = `${api}/contents/${entry.path}?ref=${encodeURIComponent(ref)}`;
  const gitUrl = `${api}/git/${entry.type === 'tree' ? 'trees' : 'blobs'}/${entry.sha}`;
  const htmlUrl = ctx.world.htmlUrl(`/${repo.fullName}/${type === 'dir' ? 'tree' : 'blob'}/${ref}/${entry.path}`);
  return {
    type,
    size: entry.size ?? 0,
    name: path.posix.basename(entry.path),
    path: entry.path,
    sha: entry.sha,
    url,
    git_url: gitUrl,
    html_url: htmlUrl,
    download_url: type === 'file' ? ctx.world.htmlUrl(`/${repo.fullName}/raw/${ref}/${entry.path}`) : null,
    _links: { self: url, git: gitUrl, html: htmlUrl },
  };
}

async function getContent(ctx: HandlerContext): Promise<Reply> {
  const repo = repoOf(ctx);
  const ref = ctx.query.get('ref') ?? repo.defaultBranch;
  const commit = await repo.git.resolveCommitish(ref);
  if (!commit) throw new GitHubApiError(404, `No commit found for the ref ${ref}`);
  const filePath = (ctx.params.path ?? '').replace(/^\/+|\/+$/g, '');
  const entry = await repo.git.entryAt(commit, filePath);
  if (!entry) throw notFound();
  const accept = String(ctx.headers.accept ?? '');
  if (entry.type === 'tree') {
    const children = await repo.git.listTree(commit, { path: filePath === '' ? undefined : `${filePath}/` });
    return json(200, children.map((child) => contentEntryJson(ctx, repo, child, ref)));
  }
  if (entry.type === 'commit') return json(200, { ...contentEntryJson(ctx, repo, entry, ref), submodule_git_url: null });
  const content = await repo.git.readBlob(entry.sha);
  if (/vnd\.github(\.v3)?\.raw/.test(accept)) {
    return { status: 200, raw: content, contentType: 'text/plain; charset=utf-8' };
  }
  const base = contentEntryJson(ctx, repo, entry, ref);
  if (base.type === 'symlink') return json(200, { ...base, target: content.toString('utf8') });
  return json(200, { ...base, size: content.length, content: base64Wrapped(content), encoding: 'base64' });
}

async function changeFile(ctx: HandlerContext, deleting: boolean): Promise<Reply> {
  const repo = repoOf(ctx);
  const filePath = ctx.params.path!.replace(/^\/+|\/+$/g, '');
  const branch = (ctx.body.branch as string | undefined) ?? repo.defaultBranch;
  return repo.git.withRefLock(async () => {
    const head = await repo.git.resolve(`refs/heads/${branch}`, 'commit');
    if (!head) throw new GitHubApiError(404, `Branch ${branch} not found`);
    const existing = await repo.git.entryAt(head, filePath);
    const givenSha = ctx.body.sha as string | undefined;
    if (existing && existing.type === 'tree') throw unprocessable(`${filePath} is a directory`);
    if (deleting && !existing) throw notFound();
    if (existing && givenSha === undefined) throw unprocessable('Invalid request.\n\n"sha" wasn\'t supplied.');
    if (existing && givenSha !== existing.sha) throw new GitHubApiError(409, `${filePath} does not match ${givenSha}`);
    let blob: string | null = null;
    if (!deleting) {
      const content = Buffer.from(String(ctx.body.content), 'base64');
      blob = await repo.git.writeBlob(content);
    }
    const commitTree = await repo.git.resolve(head, 'tree');
    const tree = await repo.git.writeTree(commitTree, [
      { path: filePath, mode: existing?.mode ?? '100644', type: 'blob', sha: blob },
    ]);
    const me = ctx.world.identityOf(actorOf(ctx));
    const author = identityFrom(ctx.body.author, identityFrom(ctx.body.committer, me));
    const committer = identityFrom(ctx.body.committer, me);
    const commit = await repo.git.commitTree(tree, [head], String(ctx.body.message), author, committer);
    await assertWorkflowsPermission(ctx, repo, head, commit);
    await repo.git.updateRef(`refs/heads/${branch}`, commit, head);
    const info = (await repo.git.readCommit(commit))!;
    const commitJson = ctx.world.gitCommitJson(repo, info);
    if (deleting) return json(200, { content: null, commit: commitJson });
    const entry = (await repo.git.entryAt(commit, filePath))!;
    return json(existing ? 200 : 201, { content: contentEntryJson(ctx, repo, entry, branch), commit: commitJson });
  });
}

// --- git data --------------------------------------------------------------------------

function refJson(ctx: HandlerContext, repo: RepositoryRecord, ref: { ref: string; sha: string; type: string }) {
  const api = ctx.world.apiUrl(`/repos/${repo.fullName}/git`);
  return {
    ref: ref.ref,
    node_id: `REF_${Buffer.from(ref.ref).toString('base64url')}`,
    url: `${api}/${ref.ref}`,
    object: { type: ref.type, sha: ref.sha, url: `${api}/${ref.type}s/${ref.sha}` },
  };
}

async function readRef(repo: RepositoryRecord, fullRef: string) {
  const found = await repo.git.listRefs(fullRef);
  return found.find((r) => r.ref === fullRef);
}

function treeEntryJson(ctx: HandlerContext, repo: RepositoryRecord, entry: TreeEntry) {
  const api = ctx.world.apiUrl(`/repos/${repo.fullName}/git`);
  return {
    path: entry.path,
    mode: entry.mode,
    type: entry.type,
    sha: entry.sha,
    ...(entry.size !== undefined ? { size: entry.size } : {}),
    url: entry.type === 'commit' ? undefined : `${api}/${entry.type}s/${entry.sha}`,
  };
}

async function treeJson(ctx: HandlerContext, repo: RepositoryRecord, treeSha: string, recursive: boolean) {
  const entries = await repo.git.listTree(treeSha, { recursive });
  return {
    sha: treeSha,
    url: ctx.world.apiUrl(`/repos/${repo.fullName}/git/trees/${treeSha}`),
    tree: entries.map((e) => treeEntryJson(ctx, repo, e)),
    truncated: false,
  };
}

async function createTree(ctx: HandlerContext): Promise<Reply> {
  const repo = repoOf(ctx);
  let base: string | undefined;
  if (ctx.body.base_tree !== undefined) {
    base = await repo.git.resolve(String(ctx.body.base_tree), 'tree');
    if (!base) throw unprocessable('Invalid request.\n\nbase_tree is not a valid tree oid');
  }
  const changes: TreeChange[] = [];
  for (const raw of ctx.body.tree as Body[]) {
    const entryPath = String(raw.path);
    const mode = String(raw.mode);
    const type = String(raw.type) as TreeChange['type'];
    const hasSha = 'sha' in raw;
    const hasContent = raw.content !== undefined;
    if (hasSha && hasContent) throw unprocessable('Invalid request.\n\nOnly one of "sha" or "content" may be given.');
    if (!hasSha && !hasContent) throw unprocessable(`Invalid request.\n\nMust supply tree.sha or tree.content for ${entryPath}`);
    if ((type === 'tree') !== (mode === '040000')) throw unprocessable(`Invalid request.\n\nmode ${mode} does not fit type ${type}`);
    let sha: string | null;
    if (hasContent) {
      if (type !== 'blob') throw unprocessable('Invalid request.\n\ncontent is only allowed for blobs');
      sha = await repo.git.writeBlob(Buffer.from(String(raw.content), 'utf8'));
    } else if (raw.sha === null) {
      sha = null;
    } else {
      sha = String(raw.sha);
      const actual = await repo.git.objectType(sha);
      if (type !== 'commit' && actual !== type) throw unprocessable(`GitRPC::BadObjectState: tree.sha ${sha} is not a valid ${type}`);
      if (actual) sha = (await repo.git.resolve(sha))!;
    }
    changes.push({ path: entryPath.replace(/^\/+/, ''), mode, type, sha });
  }
  const tree = await repo.git.writeTree(base, changes);
  return json(201, await treeJson(ctx, repo, tree, false));
}

async function createCommit(ctx: HandlerContext): Promise<Reply> {
  const repo = repoOf(ctx);
  const tree = String(ctx.body.tree);
  if ((await repo.git.objectType(tree)) !== 'tree') throw unprocessable('Tree SHA does not exist');
  const parents: string[] = [];
  for (const parent of (ctx.body.parents as string[] | undefined) ?? []) {
    if ((await repo.git.objectType(parent)) !== 'commit') {
      throw unprocessable('Parent SHA does not exist or is not a commit object');
    }
    parents.push((await repo.git.resolve(parent))!);
  }
  const me = ctx.world.identityOf(actorOf(ctx));
  const author = identityFrom(ctx.body.author, me);
  const committer = identityFrom(ctx.body.committer, author);
  const sha = await repo.git.commitTree(tree, parents, String(ctx.body.message), author, committer);
  return json(201, ctx.world.gitCommitJson(repo, (await repo.git.readCommit(sha))!));
}

async function createRef(ctx: HandlerContext): Promise<Reply> {
  const repo = repoOf(ctx);
  const ref = String(ctx.body.ref);
  if (!/^refs\/[^/]+\/.+/.test(ref)) {
    throw unprocessable("Reference name must start with 'refs/' and have at least two slashes.");
  }
  const sha = String(ctx.body.sha);
  const type = await repo.git.objectType(sha);
  if (!type) throw unprocessable('Object does not exist');
  const full = (await repo.git.resolve(sha))!;
  return repo.git.withRefLock(async () => {
    if (await readRef(repo, ref)) throw unprocessable('Reference already exists');
    if (type === 'commit') await assertWorkflowsPermission(ctx, repo, undefined, full);
    await repo.git.updateRef(ref, full, ZERO_SHA);
    return json(201, refJson(ctx, repo, { ref, sha: full, type }));
  });
}

async function updateRef(ctx: HandlerContext): Promise<Reply> {
  const repo = repoOf(ctx);
  const ref = `refs/${ctx.params.ref}`;
  const sha = String(ctx.body.sha);
  const type = await repo.git.objectType(sha);
  if (!type) throw unprocessable('Object does not exist');
  const full = (await repo.git.resolve(sha))!;
  return repo.git.withRefLock(async () => {
    const current = await readRef(repo, ref);
    if (!current) throw unprocessable('Reference does not exist');
    if (ctx.body.force !== true && type === 'commit' && !(await repo.git.isAncestor(current.sha, full))) {
      throw unprocessable('Update is not a fast forward');
    }
    if (type === 'commit') await assertWorkflowsPermission(ctx, repo, current.sha, full);
    await repo.git.updateRef(ref, full, current.sha);
    return json(200, refJson(ctx, repo, { ref, sha: full, type }));
  });
}

// --- pull requests ---------------------------------------------------------------------

function pullsOf(ctx: HandlerContext, repo: RepositoryRecord): PullRequestRecord[] {
  return ctx.world.pullRequests.filter((p) => p.repository === repo.fullName);
}

function pullOrThrow(ctx: HandlerContext, repo: RepositoryRecord, number: number): PullRequestRecord {
  const pr = pullsOf(ctx, repo).find((p) => p.number === number);
  if (!pr) throw notFound();
  return pr;
}

/** `owner:branch` or `branch` -> branch, for the repository's own owner. */
function headBranch(repo: RepositoryRecord, head: string): string | undefined {
  const colon = head.indexOf(':');
  if (colon === -1) return head;
  return head.slice(0, colon).toLowerCase() === repo.owner.login.toLowerCase() ? head.slice(colon + 1) : undefined;
}

export async function openPullRequest(
  world: World,
  repo: RepositoryRecord,
  options: { head: string; base: string; title: string; body: string | null; draft: boolean; by: TokenRecord['actor']; maintainerCanModify?: boolean },
): Promise<PullRequestRecord> {
  const branch = headBranch(repo, options.head);
  const headSha = branch ? await repo.git.resolve(`refs/heads/${branch}`, 'commit') : undefined;
  if (!branch || !headSha) {
    throw unprocessable('Validation Failed', [{ resource: 'PullRequest', field: 'head', code: 'invalid' }]);
  }
  const baseSha = await repo.git.resolve(`refs/heads/${options.base}`, 'commit');
  if (!baseSha) throw unprocessable('Validation Failed', [{ resource: 'PullRequest', field: 'base', code: 'invalid' }]);
  if (await repo.git.isAncestor(headSha, baseSha)) {
    throw unprocessable('Validation Failed', [
      { resource: 'PullRequest', code: 'custom', message: `No commits between ${options.base} and ${branch}` },
    ]);
  }
  const duplicate = world.pullRequests.find(
    (p) => p.repository === repo.fullName && p.state === 'open' && p.head.ref === branch && p.base.ref === options.base,
  );
  if (duplicate) {
    throw unprocessable('Validation Failed', [
      { resource: 'PullRequest', code: 'custom', message: `A pull request already exists for ${repo.owner.login}:${branch}.` },
    ]);
  }
  const at = nowIso();
  const pr: PullRequestRecord = {
    id: world.newId(),
    number: repo.nextNumber++,
    repository: repo.fullName,
    state: 'open',
    title: options.title,
    body: options.body,
    user: options.by,
    draft: options.draft,
    head: { ref: branch, owner: repo.owner.login },
    headSha,
    base: { ref: options.base },
    baseSha,
    maintainerCanModify: options.maintainerCanModify ?? false,
    createdAt: at,
    updatedAt: at,
    closedAt: null,
    mergedAt: null,
    mergeCommitSha: null,
    mergedBy: null,
    closedBy: null,
    events: [{ type: 'opened', by: options.by.login, at }],
  };
  world.pullRequests.push(pr);
  return pr;
}

async function createPull(ctx: HandlerContext): Promise<Reply> {
  const repo = repoOf(ctx);
  const title = ctx.body.title as string | undefined;
  if (title === undefined && ctx.body.issue === undefined) {
    throw unprocessable('Validation Failed', [{ resource: 'PullRequest', field: 'title', code: 'missing_field' }]);
  }
  const body = (ctx.body.body as string | undefined) ?? null;
  if (body !== null && body.length > MAX_COMMENT_LENGTH) {
    throw unprocessable('Validation Failed', [{ resource: 'Issue', field: 'body', code: 'custom', message: `body is too long (maximum is ${MAX_COMMENT_LENGTH} characters)` }]);
  }
  const pr = await openPullRequest(ctx.world, repo, {
    head: String(ctx.body.head),
    base: String(ctx.body.base),
    title: title ?? `#${String(ctx.body.issue)}`,
    body,
    draft: ctx.body.draft === true,
    by: actorOf(ctx),
    maintainerCanModify: ctx.body.maintainer_can_modify === true,
  });
  return json(201, await ctx.world.pullRequestJson(pr), {
    location: ctx.world.apiUrl(`/repos/${repo.fullName}/pulls/${pr.number}`),
  });
}

async function listPulls(ctx: HandlerContext): Promise<Reply> {
  const repo = repoOf(ctx);
  const state = ctx.query.get('state') ?? 'open';
  const head = ctx.query.get('head');
  const base = ctx.query.get('base');
  let pulls = pullsOf(ctx, repo).filter((p) => state === 'all' || p.state === state);
  if (head) {
    const colon = head.indexOf(':');
    const owner = colon === -1 ? undefined : head.slice(0, colon).toLowerCase();
    const branch = colon === -1 ? head : head.slice(colon + 1);
    pulls = pulls.filter((p) => (owner === undefined || p.head.owner.toLowerCase() === owner) && p.head.ref === branch);
  }
  if (base) pulls = pulls.filter((p) => p.base.ref === base);
  const sort = ctx.query.get('sort') ?? 'created';
  const direction = ctx.query.get('direction') ?? (sort === 'created' ? 'desc' : 'desc');
  const key = (p: PullRequestRecord) => (sort === 'updated' ? p.updatedAt : p.createdAt) + String(p.id).padStart(12, '0');
  pulls.sort((a, b) => (direction === 'asc' ? key(a).localeCompare(key(b)) : key(b).localeCompare(key(a))));
  const page = paginate(ctx, pulls);
  const bodies = await Promise.all(page.items.map((p) => ctx.world.pullRequestJson(p)));
  return json(200, bodies, page.headers);
}

async function updatePull(ctx: HandlerContext): Promise<Reply> {
  const repo = repoOf(ctx);
  const pr = pullOrThrow(ctx, repo, intParam(ctx, 'pull_number'));
  const actor = actorOf(ctx);
  const at = nowIso();
  if (typeof ctx.body.base === 'string') {
    const baseSha = await repo.git.resolve(`refs/heads/${ctx.body.base}`, 'commit');
    if (!baseSha) throw unprocessable('Validation Failed', [{ resource: 'PullRequest', field: 'base', code: 'invalid' }]);
    pr.base = { ref: ctx.body.base };
    pr.baseSha = baseSha;
  }
  if (typeof ctx.body.title === 'string') pr.title = ctx.body.title;
  if (typeof ctx.body.body === 'string') {
    if (ctx.body.body.length > MAX_COMMENT_LENGTH) {
      throw unprocessable('Validation Failed', [{ resource: 'Issue', field: 'body', code: 'custom', message: `body is too long (maximum is ${MAX_COMMENT_LENGTH} characters)` }]);
    }
    pr.body = ctx.body.body;
  }
  if (typeof ctx.body.maintainer_can_modify === 'boolean') pr.maintainerCanModify = ctx.body.maintainer_can_modify;
  if (ctx.body.title !== undefined || ctx.body.body !== undefined || ctx.body.base !== undefined) {
    pr.events.push({ type: 'edited', by: actor.login, at });
  }
  if (ctx.body.state === 'closed' && pr.state === 'open') {
    await ctx.world.refreshPullRequest(pr);
    pr.state = 'closed';
    pr.closedAt = at;
    pr.closedBy = actor;
    pr.events.push({ type: 'closed', by: actor.login, at });
  } else if (ctx.body.state === 'open' && pr.state === 'closed') {
    if (pr.mergedAt) throw unprocessable('Validation Failed', [{ resource: 'PullRequest', code: 'custom', message: 'state cannot be changed. The pull request has been merged.' }]);
    if (!(await repo.git.resolve(`refs/heads/${pr.head.ref}`, 'commit'))) {
      throw unprocessable('Validation Failed', [{ resource: 'PullRequest', code: 'custom', message: 'state cannot be changed. The head branch was deleted.' }]);
    }
    pr.state = 'open';
    pr.closedAt = null;
    pr.events.push({ type: 'reopened', by: actor.login, at });
  }
  pr.updatedAt = at;
  return json(200, await ctx.world.pullRequestJson(pr));
}

// --- comments --------------------------------------------------------------------------

function assertCommentBody(body: string): void {
  if (body.length > MAX_COMMENT_LENGTH) {
    throw unprocessable('Validation Failed', [
      { resource: 'IssueComment', field: 'body', code: 'custom', message: `Body is too long (maximum is ${MAX_COMMENT_LENGTH} characters)` },
    ]);
  }
}

function commentOrThrow(ctx: HandlerContext, repo: RepositoryRecord): CommentRecord {
  const id = intParam(ctx, 'comment_id');
  const comment = ctx.world.comments.find((c) => c.id === id && c.repository === repo.fullName);
  if (!comment) throw notFound();
  return comment;
}

// --- check runs ------------------------------------------------------------------------

function applyCheckRunFields(run: CheckRunRecord, body: Body): void {
  if (typeof body.name === 'string') run.name = body.name;
  if (typeof body.details_url === 'string') run.detailsUrl = body.details_url;
  if (typeof body.external_id === 'string') run.externalId = body.external_id;
  if (typeof body.started_at === 'string') run.startedAt = body.started_at;
  if (typeof body.status === 'string') run.status = body.status as CheckRunRecord['status'];
  if (typeof body.conclusion === 'string') {
    run.conclusion = body.conclusion;
    run.status = 'completed';
  }
  if (typeof body.completed_at === 'string') run.completedAt = body.completed_at;
  if (run.status === 'completed') {
    if (run.conclusion === null) {
      throw unprocessable('Invalid request.\n\nNo subschema in "anyOf" matched.\n"conclusion" wasn\'t supplied.');
    }
    run.completedAt ??= nowIso();
  }
  if (run.status === 'in_progress') run.startedAt ??= nowIso();
  const output = body.output as Body | undefined;
  if (output) {
    if (typeof output.title === 'string') run.output.title = output.title;
    if (typeof output.summary === 'string') run.output.summary = output.summary;
    if (typeof output.text === 'string') run.output.text = output.text;
    for (const annotation of (output.annotations as AnnotationRecord[] | undefined) ?? []) {
      run.annotations.push({ ...annotation });
    }
  }
}

function checkRunOrThrow(ctx: HandlerContext, repo: RepositoryRecord): CheckRunRecord {
  const id = intParam(ctx, 'check_run_id');
  const run = ctx.world.checkRuns.find((r) => r.id === id && r.repository === repo.fullName);
  if (!run) throw notFound();
  return run;
}

// --- statuses --------------------------------------------------------------------------

function statusesFor(ctx: HandlerContext, repo: RepositoryRecord, sha: string): StatusRecord[] {
  return ctx.world.statuses.filter((s) => s.repository === repo.fullName && s.sha === sha).reverse();
}

// --- compare ---------------------------------------------------------------------------

async function compare(ctx: HandlerContext): Promise<Reply> {
  const repo = repoOf(ctx);
  let base = ctx.params.base;
  let head = ctx.params.head;
  if (ctx.params.basehead !== undefined) {
    const parts = ctx.params.basehead.split('...');
    if (parts.length !== 2) throw notFound();
    [base, head] = parts;
  }
  const strip = (ref: string) => (ref.includes(':') ? ref.slice(ref.indexOf(':') + 1) : ref);
  const baseSha = await repo.git.resolveCommitish(strip(base!));
  const headSha = await repo.git.resolveCommitish(strip(head!));
  if (!baseSha || !headSha) throw notFound();
  const mergeBase = await repo.git.mergeBase(baseSha, headSha);
  const ahead = await repo.git.commitsBetween(baseSha, headSha);
  const behind = await repo.git.commitsBetween(headSha, baseSha);
  const status =
    ahead.length === 0 && behind.length === 0 ? 'identical' : behind.length === 0 ? 'ahead' : ahead.length === 0 ? 'behind' : 'diverged';
  const files = await repo.git.diffFiles(mergeBase ?? EMPTY_TREE_SHA, headSha);
  const commits = await Promise.all(ahead.map(async (sha) => ctx.world.restCommitJson(repo, (await repo.git.readCommit(sha))!)));
  const mergeBaseCommit = mergeBase ? ctx.world.restCommitJson(repo, (await repo.git.readCommit(mergeBase))!) : null;
  return json(200, {
    url: ctx.world.apiUrl(`/repos/${repo.fullName}/compare/${base}...${head}`),
    html_url: ctx.world.htmlUrl(`/${repo.fullName}/compare/${base}...${head}`),
    base_commit: ctx.world.restCommitJson(repo, (await repo.git.readCommit(baseSha))!),
    merge_base_commit: mergeBaseCommit,
    status,
    ahead_by: ahead.length,
    behind_by: behind.length,
    total_commits: ahead.length,
    commits,
    files: await Promise.all(files.map((f) => fileJson(repo, headSha, f))),
  });
}

async function fileJson(
  repo: RepositoryRecord,
  sha: string,
  file: { path: string; status: string; additions: number; deletions: number },
) {
  const entry = file.status === 'removed' ? undefined : await repo.git.entryAt(sha, file.path);
  return {
    sha: entry?.sha ?? ZERO_SHA,
    filename: file.path,
    status: file.status,
    additions: file.additions,
    deletions: file.deletions,
    changes: file.additions + file.deletions,
    blob_url: '',
    raw_url: '',
    contents_url: '',
  };
}

// --- the table -------------------------------------------------------------------------

/** Whether `principal` may see `repo` at all (GitHub answers 404 otherwise). */
export function canSeeRepository(world: World, principal: Principal, repo: RepositoryRecord): boolean {
  if (principal.kind !== 'token') return !repo.private;
  return world.tokenCanReach(principal.token, repo);
}

function installationReply(ctx: HandlerContext, login: string): Reply {
  const installation = ctx.world.installationForAccount(login);
  if (!installation) throw notFound();
  return json(200, ctx.world.installationJson(installation));
}

export const HANDLERS: Record<string, HandlerSpec> = {
  // --- Users, organization and team membership (the console's GitHub sign-in) ---
  'users/get-authenticated': {
    run: async (ctx) => {
      if (ctx.principal.kind !== 'token' || ctx.principal.token.kind !== 'user') throw new GitHubApiError(403, 'Resource not accessible by integration');
      return json(200, { ...ctx.world.actorJson(ctx.principal.token.actor), name: null, email: null });
    },
  },
  'orgs/check-membership-for-user': {
    run: async (ctx) => {
      const members = ctx.world.orgMembers.get(ctx.params.org!.toLowerCase());
      if (!members) throw notFound();
      return members.has(ctx.params.username!.toLowerCase()) ? { status: 204 } : { status: 404, body: { message: 'User does not exist or is not a member of the organization' } };
    },
  },
  'teams/get-membership-for-user-in-org': {
    run: async (ctx) => {
      const key = `${ctx.params.org!.toLowerCase()}/${ctx.params.team_slug!.toLowerCase()}`;
      const members = ctx.world.teamMembers.get(key);
      if (!members || !members.has(ctx.params.username!.toLowerCase())) throw notFound();
      return json(200, { url: ctx.url.toString(), role: 'member', state: 'active' });
    },
  },
  // --- GitHub App ---
  'apps/get-authenticated': { auth: 'app', run: async (ctx) => json(200, ctx.world.appJson()) },
  'apps/list-installations': {
    auth: 'app',
    run: async (ctx) => {
      const page = paginate(ctx, [...ctx.world.installations.values()]);
      return json(200, page.items.map((i) => ctx.world.installationJson(i)), page.headers);
    },
  },
  'apps/get-installation': {
    auth: 'app',
    run: async (ctx) => {
      const installation = ctx.world.installations.get(intParam(ctx, 'installation_id'));
      if (!installation) throw notFound();
      return json(200, ctx.world.installationJson(installation));
    },
  },
  'apps/create-installation-access-token': {
    auth: 'app',
    run: async (ctx) => {
      const installation = ctx.world.installations.get(intParam(ctx, 'installation_id'));
      if (!installation) throw notFound();
      const requested = ctx.body.permissions as Permissions | undefined;
      if (requested) {
        for (const [name, level] of Object.entries(requested)) {
          if (!permits(installation.permissions, name, level === 'admin' ? 'write' : level)) {
            throw unprocessable('The permissions requested are not granted to this installation.');
          }
        }
      }
      let repositories: string[] | undefined;
      const names = ctx.body.repositories as string[] | undefined;
      const ids = ctx.body.repository_ids as number[] | undefined;
      if (names || ids) {
        const reachable = ctx.world.installationRepositories(installation);
        repositories = [];
        for (const name of names ?? []) {
          const repo = reachable.find((r) => r.name.toLowerCase() === name.toLowerCase());
          if (!repo) throw unprocessable(`There is at least one repository that does not exist or is not accessible to the parent installation.`);
          repositories.push(repo.fullName);
        }
        for (const id of ids ?? []) {
          const repo = reachable.find((r) => r.id === id);
          if (!repo) throw unprocessable(`There is at least one repository that does not exist or is not accessible to the parent installation.`);
          repositories.push(repo.fullName);
        }
      }
      const token = ctx.world.issueInstallationToken(installation, { permissions: requested, repositories });
      const repos = repositories ?? undefined;
      return json(201, {
        token: token.token,
        expires_at: new Date(token.expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        permissions: token.permissions,
        repository_selection: repos ? 'selected' : installation.repositorySelection,
        ...(repos ? { repositories: repos.map((r) => ctx.world.repositoryJson(ctx.world.requireRepository(r))) } : {}),
      });
    },
  },
  'apps/get-repo-installation': {
    auth: 'app',
    run: async (ctx) => {
      const repo = ctx.world.repository(`${ctx.params.owner}/${ctx.params.repo}`);
      const installation = repo && ctx.world.installationForAccount(repo.owner.login);
      if (!repo || !installation || !ctx.world.installationCovers(installation, repo)) throw notFound();
      return json(200, ctx.world.installationJson(installation));
    },
  },
  'apps/get-org-installation': { auth: 'app', run: async (ctx) => installationReply(ctx, ctx.params.org!) },
  'apps/get-user-installation': { auth: 'app', run: async (ctx) => installationReply(ctx, ctx.params.username!) },
  'apps/list-repos-accessible-to-installation': {
    run: async (ctx) => {
      if (ctx.principal.kind !== 'token' || ctx.principal.token.kind !== 'installation') {
        throw new GitHubApiError(403, 'You must authenticate with an installation access token in order to list repositories for an installation.');
      }
      const token = ctx.principal.token;
      const installation = ctx.world.installations.get(token.installationId!)!;
      const repos = ctx.world
        .installationRepositories(installation)
        .filter((r) => !token.repositories || token.repositories.has(r.fullName));
      const page = paginate(ctx, repos);
      return json(
        200,
        { total_count: repos.length, repository_selection: installation.repositorySelection, repositories: page.items.map((r) => ctx.world.repositoryJson(r)) },
        page.headers,
      );
    },
  },

  // --- repositories ---
  'repos/get': { run: async (ctx) => json(200, ctx.world.repositoryJson(repoOf(ctx))) },
  'repos/list-for-org': {
    run: async (ctx) => {
      const org = ctx.params.org!.toLowerCase();
      const repos = [...ctx.world.repositories.values()].filter(
        (r) => r.owner.login.toLowerCase() === org && canSeeRepository(ctx.world, ctx.principal, r),
      );
      const page = paginate(ctx, repos);
      return json(200, page.items.map((r) => ctx.world.repositoryJson(r)), page.headers);
    },
  },
  'repos/get-branch': {
    permission: 'contents',
    run: async (ctx) => {
      const repo = repoOf(ctx);
      const sha = await repo.git.resolve(`refs/heads/${ctx.params.branch}`, 'commit');
      if (!sha) throw new GitHubApiError(404, 'Branch not found');
      const commit = ctx.world.restCommitJson(repo, (await repo.git.readCommit(sha))!);
      return json(200, { name: ctx.params.branch, commit, protected: false, _links: {} });
    },
  },
  'repos/list-branches': {
    permission: 'contents',
    run: async (ctx) => {
      const repo = repoOf(ctx);
      const refs = await repo.git.listRefs('refs/heads/');
      const page = paginate(ctx, refs);
      return json(
        200,
        page.items.map((r) => ({
          name: r.ref.replace('refs/heads/', ''),
          commit: { sha: r.sha, url: ctx.world.apiUrl(`/repos/${repo.fullName}/commits/${r.sha}`) },
          protected: false,
        })),
        page.headers,
      );
    },
  },
  'repos/get-commit': {
    permission: 'contents',
    run: async (ctx) => {
      const repo = repoOf(ctx);
      const sha = await repo.git.resolveCommitish(ctx.params.ref!);
      if (!sha) throw new GitHubApiError(422, `No commit found for SHA: ${ctx.params.ref}`);
      const info = (await repo.git.readCommit(sha))!;
      const files = await repo.git.diffFiles(info.parents[0] ?? EMPTY_TREE_SHA, sha);
      return json(200, ctx.world.restCommitJson(repo, info, await Promise.all(files.map((f) => fileJson(repo, sha, f)))));
    },
  },
  'repos/compare-commits': { permission: 'contents', run: compare },
  'repos/compare-commits-with-basehead': { permission: 'contents', run: compare },
  'repos/get-content': { permission: 'contents', run: getContent },
  'repos/create-or-update-file-contents': { permission: 'contents', run: (ctx) => changeFile(ctx, false) },
  'repos/delete-file': { permission: 'contents', run: (ctx) => changeFile(ctx, true) },

  // --- git data ---
  'git/get-ref': {
    permission: 'contents',
    run: async (ctx) => {
      const repo = repoOf(ctx);
      const found = await readRef(repo, `refs/${ctx.params.ref}`);
      if (!found) throw notFound();
      return json(200, refJson(ctx, repo, found));
    },
  },
  'git/list-matching-refs': {
    permission: 'contents',
    run: async (ctx) => {
      const repo = repoOf(ctx);
      const prefix = `refs/${ctx.params.ref}`;
      const all = await repo.git.listRefs('refs/');
      return json(200, all.filter((r) => r.ref.startsWith(prefix)).map((r) => refJson(ctx, repo, r)));
    },
  },
  'git/create-ref': { permission: 'contents', run: createRef },
  'git/update-ref': { permission: 'contents', run: updateRef },
  'git/delete-ref': {
    permission: 'contents',
    run: async (ctx) => {
      const repo = repoOf(ctx);
      const ref = `refs/${ctx.params.ref}`;
      return repo.git.withRefLock(async () => {
        if (!(await readRef(repo, ref))) throw unprocessable('Reference does not exist');
        await repo.git.deleteRef(ref);
        return { status: 204 };
      });
    },
  },
  'git/create-blob': {
    permission: 'contents',
    run: async (ctx) => {
      const repo = repoOf(ctx);
      const encoding = (ctx.body.encoding as string | undefined) ?? 'utf-8';
      if (encoding !== 'utf-8' && encoding !== 'utf8' && encoding !== 'base64') {
        throw unprocessable(`encoding must be "utf-8" or "base64", got "${encoding}"`);
      }
      const content = Buffer.from(String(ctx.body.content), encoding === 'base64' ? 'base64' : 'utf8');
      const sha = await repo.git.writeBlob(content);
      return json(201, { url: ctx.world.apiUrl(`/repos/${repo.fullName}/git/blobs/${sha}`), sha });
    },
  },
  'git/get-blob': {
    permission: 'contents',
    run: async (ctx) => {
      const repo = repoOf(ctx);
      const sha = ctx.params.file_sha!;
      if ((await repo.git.objectType(sha)) !== 'blob') throw notFound();
      const content = await repo.git.readBlob(sha);
      const full = (await repo.git.resolve(sha))!;
      return json(200, {
        sha: full,
        node_id: `B_${full}`,
        size: content.length,
        url: ctx.world.apiUrl(`/repos/${repo.fullName}/git/blobs/${full}`),
        content: base64Wrapped(content),
        encoding: 'base64',
      });
    },
  },
  'git/create-tree': { permission: 'contents', run: createTree },
  'git/get-tree': {
    permission: 'contents',
    run: async (ctx) => {
      const repo = repoOf(ctx);
      const tree = (await repo.git.resolve(ctx.params.tree_sha!, 'tree')) ?? (await repo.git.resolve(`refs/heads/${ctx.params.tree_sha}`, 'tree'));
      if (!tree) throw notFound();
      const recursive = ctx.query.has('recursive') && !['0', 'false', ''].includes(ctx.query.get('recursive')!);
      return json(200, await treeJson(ctx, repo, tree, recursive));
    },
  },
  'git/create-commit': { permission: 'contents', run: createCommit },
  'git/get-commit': {
    permission: 'contents',
    run: async (ctx) => {
      const repo = repoOf(ctx);
      const info = await repo.git.readCommit(ctx.params.commit_sha!);
      if (!info) throw notFound();
      return json(200, ctx.world.gitCommitJson(repo, info));
    },
  },

  // --- pull requests ---
  'pulls/create': { permission: 'pull_requests', run: createPull },
  'pulls/list': { permission: 'pull_requests', run: listPulls },
  'pulls/get': {
    permission: 'pull_requests',
    run: async (ctx) => json(200, await ctx.world.pullRequestJson(pullOrThrow(ctx, repoOf(ctx), intParam(ctx, 'pull_number')))),
  },
  'pulls/update': { permission: 'pull_requests', run: updatePull },
  // The files of a pull request: what it changes since it forked from its base (the "Files changed" tab).
  'pulls/list-files': {
    permission: 'pull_requests',
    run: async (ctx) => {
      const repo = repoOf(ctx);
      const pr = pullOrThrow(ctx, repo, intParam(ctx, 'pull_number'));
      await ctx.world.refreshPullRequest(pr);
      const mergeBase = await repo.git.mergeBase(pr.baseSha, pr.headSha);
      const files = await repo.git.diffFiles(mergeBase ?? EMPTY_TREE_SHA, pr.headSha);
      const page = paginate(ctx, files);
      return json(200, await Promise.all(page.items.map((file) => fileJson(repo, pr.headSha, file))), page.headers);
    },
  },

  // --- issue comments (on pull requests) ---
  'issues/create-comment': {
    permission: ['issues', 'pull_requests'],
    run: async (ctx) => {
      const repo = repoOf(ctx);
      pullOrThrow(ctx, repo, intParam(ctx, 'issue_number'));
      const body = String(ctx.body.body);
      assertCommentBody(body);
      const at = nowIso();
      const comment: CommentRecord = {
        id: ctx.world.newId(),
        repository: repo.fullName,
        issueNumber: intParam(ctx, 'issue_number'),
        body,
        user: actorOf(ctx),
        createdAt: at,
        updatedAt: at,
        edits: 0,
      };
      ctx.world.comments.push(comment);
      return json(201, ctx.world.commentJson(comment), { location: String(ctx.world.commentJson(comment).url) });
    },
  },
  'issues/list-comments': {
    permission: ['issues', 'pull_requests'],
    run: async (ctx) => {
      const repo = repoOf(ctx);
      const number = intParam(ctx, 'issue_number');
      pullOrThrow(ctx, repo, number);
      const since = ctx.query.get('since');
      const comments = ctx.world.comments.filter(
        (c) => c.repository === repo.fullName && c.issueNumber === number && (!since || c.updatedAt >= since),
      );
      const page = paginate(ctx, comments);
      return json(200, page.items.map((c) => ctx.world.commentJson(c)), page.headers);
    },
  },
  'issues/get-comment': {
    permission: ['issues', 'pull_requests'],
    run: async (ctx) => json(200, ctx.world.commentJson(commentOrThrow(ctx, repoOf(ctx)))),
  },
  'issues/update-comment': {
    permission: ['issues', 'pull_requests'],
    run: async (ctx) => {
      const comment = commentOrThrow(ctx, repoOf(ctx));
      const body = String(ctx.body.body);
      assertCommentBody(body);
      comment.body = body;
      comment.updatedAt = nowIso();
      comment.edits++;
      return json(200, ctx.world.commentJson(comment));
    },
  },
  'issues/delete-comment': {
    permission: ['issues', 'pull_requests'],
    run: async (ctx) => {
      const comment = commentOrThrow(ctx, repoOf(ctx));
      ctx.world.comments.splice(ctx.world.comments.indexOf(comment), 1);
      return { status: 204 };
    },
  },

  // --- checks ---
  'checks/create': {
    permission: 'checks',
    run: async (ctx) => {
      const repo = repoOf(ctx);
      if (!isInstallation(ctx)) throw new GitHubApiError(403, 'You must authenticate via a GitHub App.');
      const headSha = await repo.git.resolve(String(ctx.body.head_sha), 'commit');
      if (!headSha || !String(ctx.body.head_sha).match(/^[0-9a-f]{40}$/)) {
        throw unprocessable(`No commit found for SHA: ${String(ctx.body.head_sha)}`);
      }
      const run: CheckRunRecord = {
        id: ctx.world.newId(),
        repository: repo.fullName,
        name: String(ctx.body.name),
        headSha,
        status: 'queued',
        conclusion: null,
        startedAt: null,
        completedAt: null,
        detailsUrl: null,
        externalId: null,
        output: { title: null, summary: null, text: null },
        annotations: [],
        createdBy: actorOf(ctx),
        appId: ctx.world.app.id,
        updates: 0,
      };
      applyCheckRunFields(run, ctx.body);
      run.startedAt ??= nowIso();
      ctx.world.checkRuns.push(run);
      return json(201, ctx.world.checkRunJson(run));
    },
  },
  'checks/update': {
    permission: 'checks',
    run: async (ctx) => {
      if (!isInstallation(ctx)) throw new GitHubApiError(403, 'You must authenticate via a GitHub App.');
      const run = checkRunOrThrow(ctx, repoOf(ctx));
      applyCheckRunFields(run, ctx.body);
      run.updates++;
      return json(200, ctx.world.checkRunJson(run));
    },
  },
  'checks/get': {
    permission: 'checks',
    run: async (ctx) => json(200, ctx.world.checkRunJson(checkRunOrThrow(ctx, repoOf(ctx)))),
  },
  'checks/list-annotations': {
    permission: 'checks',
    run: async (ctx) => {
      const run = checkRunOrThrow(ctx, repoOf(ctx));
      const page = paginate(ctx, run.annotations);
      return json(
        200,
        page.items.map((a) => ({ start_column: null, end_column: null, title: null, raw_details: null, ...a, blob_href: '' })),
        page.headers,
      );
    },
  },
  'checks/list-for-ref': {
    permission: 'checks',
    run: async (ctx) => {
      const repo = repoOf(ctx);
      const sha = await commitishOrThrow(repo, ctx.params.ref!);
      const name = ctx.query.get('check_name');
      const status = ctx.query.get('status');
      let runs = ctx.world.checkRuns.filter(
        (r) => r.repository === repo.fullName && r.headSha === sha && (!name || r.name === name) && (!status || r.status === status),
      );
      if ((ctx.query.get('filter') ?? 'latest') === 'latest') {
        const latest = new Map<string, CheckRunRecord>();
        for (const run of runs) latest.set(run.name, run);
        runs = [...latest.values()];
      }
      runs = [...runs].reverse();
      const page = paginate(ctx, runs);
      return json(200, { total_count: runs.length, check_runs: page.items.map((r) => ctx.world.checkRunJson(r)) }, page.headers);
    },
  },

  // --- commit statuses ---
  'repos/create-commit-status': {
    permission: 'statuses',
    run: async (ctx) => {
      const repo = repoOf(ctx);
      const sha = ctx.params.sha!;
      if (!/^[0-9a-f]{40}$/.test(sha) || !(await repo.git.resolve(sha, 'commit'))) {
        throw unprocessable(`No commit found for SHA: ${sha}`);
      }
      const description = (ctx.body.description as string | undefined) ?? null;
      if (description !== null && description.length > 140) {
        throw unprocessable('Validation Failed', [{ resource: 'Status', field: 'description', code: 'custom', message: 'description is too long (maximum is 140 characters)' }]);
      }
      const status: StatusRecord = {
        id: ctx.world.newId(),
        repository: repo.fullName,
        sha,
        state: ctx.body.state as StatusRecord['state'],
        targetUrl: (ctx.body.target_url as string | undefined) ?? null,
        description,
        context: (ctx.body.context as string | undefined) ?? 'default',
        creator: actorOf(ctx),
        createdAt: nowIso(),
      };
      ctx.world.statuses.push(status);
      return json(201, ctx.world.statusJson(status));
    },
  },
  'repos/list-commit-statuses-for-ref': {
    permission: 'statuses',
    run: async (ctx) => {
      const repo = repoOf(ctx);
      const sha = await commitishOrThrow(repo, ctx.params.ref!);
      const page = paginate(ctx, statusesFor(ctx, repo, sha));
      return json(200, page.items.map((s) => ctx.world.statusJson(s)), page.headers);
    },
  },
  'repos/get-combined-status-for-ref': {
    permission: 'statuses',
    run: async (ctx) => {
      const repo = repoOf(ctx);
      const sha = await commitishOrThrow(repo, ctx.params.ref!);
      const latest = new Map<string, StatusRecord>();
      for (const s of statusesFor(ctx, repo, sha)) if (!latest.has(s.context)) latest.set(s.context, s);
      const all = [...latest.values()];
      const state = all.some((s) => s.state === 'error' || s.state === 'failure')
        ? 'failure'
        : all.length === 0 || all.some((s) => s.state === 'pending')
          ? 'pending'
          : 'success';
      return json(200, {
        state,
        statuses: all.map((s) => ctx.world.statusJson(s)),
        sha,
        total_count: all.length,
        repository: ctx.world.repositoryJson(repo),
        commit_url: ctx.world.apiUrl(`/repos/${repo.fullName}/commits/${sha}`),
        url: ctx.world.apiUrl(`/repos/${repo.fullName}/commits/${sha}/status`),
      });
    },
  },

  // --- actions ---
  'actions/get-job-for-workflow-run': {
    permission: 'actions',
    run: async (ctx) => {
      const job = ctx.world.workflowJobs.get(intParam(ctx, 'job_id'));
      if (!job || job.repository !== repoOf(ctx).fullName) throw notFound();
      return json(200, ctx.world.workflowJobJson(job));
    },
  },
  'actions/download-job-logs-for-workflow-run': {
    permission: 'actions',
    run: async (ctx) => {
      const job = ctx.world.workflowJobs.get(intParam(ctx, 'job_id'));
      if (!job || job.repository !== repoOf(ctx).fullName || job.logs === undefined) throw notFound();
      const id = randomUUID();
      ctx.world.logDownloads.set(id, job.logs);
      return { status: 302, headers: { location: `${ctx.world.baseUrl}/_logs/${id}` } };
    },
  },
  'actions/list-workflow-run-artifacts': {
    permission: 'actions',
    run: async (ctx) => {
      const repo = repoOf(ctx);
      const runId = intParam(ctx, 'run_id');
      const name = ctx.query.get('name');
      const artifacts = [...ctx.world.artifacts.values()].filter((a) => a.runId === runId && a.repository === repo.fullName && (name === null || a.name === name));
      const page = paginate(ctx, artifacts);
      return json(200, { total_count: artifacts.length, artifacts: page.items.map((a) => ctx.world.artifactJson(a)) }, page.headers);
    },
  },
  'actions/download-artifact': {
    permission: 'actions',
    run: async (ctx) => {
      const artifact = ctx.world.artifacts.get(intParam(ctx, 'artifact_id'));
      if (!artifact || artifact.repository !== repoOf(ctx).fullName) throw notFound();
      if (ctx.params['archive_format'] !== 'zip') throw notFound();
      // Like the logs: a redirect to a short-lived URL that needs no token.
      const id = randomUUID();
      ctx.world.logDownloads.set(id, artifact.zip);
      return { status: 302, headers: { location: `${ctx.world.baseUrl}/_logs/${id}` } };
    },
  },
  'actions/get-workflow-run': {
    permission: 'actions',
    run: async (ctx) => {
      const repo = repoOf(ctx);
      const runId = intParam(ctx, 'run_id');
      const job = [...ctx.world.workflowJobs.values()].find((j) => j.runId === runId && j.repository === repo.fullName);
      if (!job) throw notFound();
      return json(200, ctx.world.workflowRunJson(job));
    },
  },
  'actions/list-jobs-for-workflow-run': {
    permission: 'actions',
    run: async (ctx) => {
      const repo = repoOf(ctx);
      const runId = intParam(ctx, 'run_id');
      const jobs = [...ctx.world.workflowJobs.values()].filter((j) => j.runId === runId && j.repository === repo.fullName);
      if (jobs.length === 0) throw notFound();
      const page = paginate(ctx, jobs);
      return json(200, { total_count: jobs.length, jobs: page.items.map((j) => ctx.world.workflowJobJson(j)) }, page.headers);
    },
  },
};

