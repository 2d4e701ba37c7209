/**
 * The few GitHub calls the app makes, on an installation's client (the one GitHub client,
 * throttled and retried; see github/client.ts).
 */
import type { GitHubClient } from '../github/client.js';
import { batches, type CheckOutput } from './render.js';
import { BoundedMap } from '../util/bounded-map.js';
import { gitHubStatus } from '../util/errors.js';

export interface RepositoryRef {
  octokit: GitHubClient;
  owner: string;
  repo: string;
}

export interface CheckRun {
  id: number;
  htmlUrl: string | undefined;
}

/** A check run in progress on `headSha`. */
export async function startCheckRun(target: RepositoryRef, name: string, headSha: string, title: string): Promise<CheckRun> {
  const { data } = await target.octokit.rest.checks.create({
    owner: target.owner,
    repo: target.repo,
    name,
    head_sha: headSha,
    status: 'in_progress',
    started_at: new Date().toISOString(),
    output: { title, summary: title },
  });
  return { id: data.id, htmlUrl: data.html_url ?? undefined };
}

/**
 * Complete a check run with its output. GitHub takes at most 50 annotations a request and
 * appends those of each update, so every batch but the last goes in an update that keeps the
 * run in progress; the last one carries the conclusion. Returns the number of requests made.
 */
export async function completeCheckRun(target: RepositoryRef, checkRunId: number, output: CheckOutput): Promise<number> {
  const groups = batches(output.annotations);
  const base = { owner: target.owner, repo: target.repo, check_run_id: checkRunId };
  const text = { title: output.title, summary: output.summary };
  for (const group of groups.slice(0, -1)) {
    await target.octokit.rest.checks.update({ ...base, output: { ...text, annotations: group } });
  }
  const last = groups.at(-1);
  await target.octokit.rest.checks.update({
    ...base,
    status: 'completed',
    conclusion: output.conclusion,
    completed_at: new Date().toISOString(),
    output: last ? { ...text, annotations: last } : text,
  });
  return Math.max(1, groups.length);
}

/** A completed check run in one request (nothing to annotate). */
export async function reportCheckRun(target: RepositoryRef, name: string, headSha: string, output: CheckOutput): Promise<void> {
  if (output.annotations.length > 0) {
    const run = await startCheckRun(target, name, headSha, output.title);
    await completeCheckRun(target, run.id, output);
    return;
  }
  await target.octokit.rest.checks.create({
    owner: target.owner,
    repo: target.repo,
    name,
    head_sha: headSha,
    status: 'completed',
    conclusion: output.conclusion,
    completed_at: new Date().toISOString(),
    output: { title: output.title, summary: output.summary },
  });
}

export type CommentAction = 'created' | 'updated' | 'unchanged';

/**
 * The one comment of this app on an issue or pull request, found by `marker` (at the start of
 * the body of a comment by a bot), edited in place; created when there is none. Comments are
 * listed with pagination: on a long pull request ours may be far from the first page.
 */
export async function upsertMarkedComment(
  target: RepositoryRef,
  issueNumber: number,
  marker: string,
  body: string,
): Promise<{ id: number; action: CommentAction }> {
  const pages = target.octokit.paginate.iterator(target.octokit.rest.issues.listComments, {
    owner: target.owner,
    repo: target.repo,
    issue_number: issueNumber,
    per_page: 100,
  });
  for await (const page of pages) {
    const ours = page.data.find((comment) => comment.user?.type === 'Bot' && (comment.body ?? '').startsWith(marker));
    if (!ours) continue;
    if (ours.body === body) return { id: ours.id, action: 'unchanged' };
    await target.octokit.rest.issues.updateComment({ owner: target.owner, repo: target.repo, comment_id: ours.id, body });
    return { id: ours.id, action: 'updated' };
  }
  const { data } = await target.octokit.rest.issues.createComment({ owner: target.owner, repo: target.repo, issue_number: issueNumber, body });
  return { id: data.id, action: 'created' };
}

/**
 * Does the repository hold a policy repository at `ref`: `attachments.yml` (a file) or
 * `policies/` (a directory)? Documented calls only (the contents API with a path; its root has
 * no documented operation): one request for a policy repository, which attaches policies, two
 * for any other. An empty repository answers 404 to both.
 */
export async function looksLikePolicyRepository(target: RepositoryRef, ref: string): Promise<boolean> {
  const entryType = async (path: string): Promise<string | undefined> => {
    try {
      const { data } = await target.octokit.rest.repos.getContent({ owner: target.owner, repo: target.repo, path, ref });
      return Array.isArray(data) ? 'dir' : data.type;
    } catch (error) {
      if (gitHubStatus(error) === 404) return undefined;
      throw error;
    }
  };
  if ((await entryType('attachments.yml')) === 'file') return true;
  return (await entryType('policies')) === 'dir';
}

/**
 * Installation tokens for git, scoped down to one repository and `contents: read` (the fetch
 * needs nothing more), cached until ten minutes before they expire. They are created through
 * the event's Octokit, whose auth hook signs the request with the App's JWT and whose base URL
 * is the configured GitHub (Octokit's `auth({type: "installation"})` would not use it).
 * Never log a token.
 */
export class GitTokens {
  private readonly cache: BoundedMap<string, { token: string; expiresAt: number }>;

  constructor(capacity = 1000) {
    this.cache = new BoundedMap(capacity);
  }

  async get(octokit: GitHubClient, installationId: number | undefined, repository: { owner: string; repo: string }): Promise<string> {
    if (installationId === undefined) throw new Error('the webhook payload names no installation: cannot read the repository');
    const key = `${installationId}:${repository.owner.toLowerCase()}/${repository.repo.toLowerCase()}`;
    const cached = this.cache.peek(key);
    if (cached && cached.expiresAt - Date.now() > 10 * 60_000) return cached.token;
    const { data } = await octokit.rest.apps.createInstallationAccessToken({
      installation_id: installationId,
      repositories: [repository.repo],
      permissions: { contents: 'read' },
    });
    this.cache.set(key, { token: data.token, expiresAt: Date.parse(data.expires_at) || Date.now() + 30 * 60_000 });
    return data.token;
  }
}
