/**
 * The app's two flows (docs/architecture.md#github-app):
 * - a pull request on the policy repository is reviewed: check run `egressctl / validate` with
 *   located annotations, and one comment (edited in place) with the review;
 * - a push to its default branch is compiled, signed and published; check run
 *   `egressctl / publish` on the pushed commit says what happened. Pushes may arrive out of
 *   order: a revision that is an ancestor of the published one is never published.
 */
import type { KeyObject } from 'node:crypto';
import type { Context } from 'probot';
import { parse as parseYaml } from 'yaml';
import { openBundle } from '../bundle/dsse.js';
import { sealRevision } from '../bundle/seal.js';
import { keyIdOf } from '../bundle/keys.js';
import { loadPolicyRepository } from '../store/repository.js';
import { SETTINGS_FILE } from '../policy/model.js';
import { reviewRevisions } from '../review/revisions.js';
import { policyChecks } from '../review/policy-checks.js';
import { gitText, isAncestor } from '../util/git.js';
import { gitUrl, type AppConfig } from './config.js';
import { DeliveryFailure, publicMessage } from './failure.js';
import { MissingCommitError, type FetchSource, type GitMirrors } from './git-mirror.js';
import { completeCheckRun, looksLikePolicyRepository, reportCheckRun, startCheckRun, upsertMarkedComment, type GitTokens, type RepositoryRef } from './github.js';
import type { BundlePublisher } from './publish.js';
import type { KeyedQueue } from './queue.js';
import type { PublishCheck } from './sync-work.js';
import {
  PUBLISH_CHECK_NAME,
  REVIEW_MARKER,
  VALIDATE_CHECK_NAME,
  failedOutput,
  notCompiledOutput,
  publishedOutput,
  refusedOutput,
  reviewCommentBody,
  shortSha,
  supersededOutput,
  validateCheckOutput,
  type CheckOutput,
} from './render.js';
import { messageOf } from '../util/errors.js';

export interface HandlerDeps {
  config: AppConfig;
  mirrors: GitMirrors;
  tokens: GitTokens;
  /** Per-repository serialization of all work (shared with other handlers of the app). */
  queue: KeyedQueue;
  /** Undefined: pushes are compiled and checked but published nowhere (the check says so). */
  publisher: () => BundlePublisher | undefined | Promise<BundlePublisher | undefined>;
  signKeys: readonly KeyObject[];
  /**
   * After a revision is published (or found published already: `previous` is the revision):
   * journal the sync of what changed (sync-work.ts); resolves once it is durable. With `check`,
   * the sync completes the publish check when every repository had its first attempt.
   */
  afterPublish?: (event: { previous: string | undefined; revision: string; check?: PublishCheck }) => Promise<void>;
}

/** The parts of a webhook's `repository` the app uses. */
interface RepositoryInfo {
  owner: string;
  repo: string;
  fullName: string;
  cloneUrl: string | undefined;
  defaultBranch: string;
}

function repositoryInfo(repository: { name: string; full_name: string; owner: { login: string } | null; clone_url?: string; default_branch?: string }): RepositoryInfo {
  const [ownerFromName = '', repoFromName = repository.name] = repository.full_name.split('/');
  return {
    owner: repository.owner?.login ?? ownerFromName,
    repo: repoFromName,
    fullName: repository.full_name,
    cloneUrl: repository.clone_url,
    defaultBranch: repository.default_branch ?? 'main',
  };
}

function fetchSource(config: AppConfig, repository: RepositoryInfo, token: string): FetchSource {
  const url = config.gitUrlTemplate
    ? gitUrl(config.gitUrlTemplate, repository)
    : (repository.cloneUrl ?? `https://github.com/${encodeURIComponent(repository.owner)}/${encodeURIComponent(repository.repo)}.git`);
  return { url, token };
}

async function isPolicyRepository(target: RepositoryRef, repository: RepositoryInfo, sha: string, config: AppConfig): Promise<boolean> {
  if (config.policyRepository !== undefined) return repository.fullName.toLowerCase() === config.policyRepository;
  return looksLikePolicyRepository(target, sha);
}

/** Every event the App receives names its installation (some payload types do not declare it). */
function installationIdOf(payload: object): number | undefined {
  const installation = (payload as { installation?: { id?: unknown } }).installation;
  return typeof installation?.id === 'number' ? installation.id : undefined;
}


/** Runs a delivery's work; a failure leaves with a message fit for GitHub (no local paths). */
async function publicly<T>(deps: HandlerDeps, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw DeliveryFailure.from(error, [deps.config.cacheDir]);
  }
}

const PULL_REQUEST_ACTIONS = new Set(['opened', 'synchronize', 'reopened']);

export async function handlePullRequest(context: Context<'pull_request'>, deps: HandlerDeps): Promise<void> {
  const { payload } = context;
  if (!PULL_REQUEST_ACTIONS.has(payload.action)) return;
  const repository = repositoryInfo(payload.repository);
  const pr = payload.pull_request;
  const request: ReviewRequest = { number: pr.number, baseSha: pr.base.sha, headSha: pr.head.sha, comment: true };
  await publicly(deps, () => deps.queue.run(repository.fullName.toLowerCase(), () => reviewPullRequest(context, repository, request, deps)));
}

/**
 * The Re-run button on `egressctl / validate`: GitHub sends `check_run.rerequested` to the App
 * that made the check, with the open pull requests of the repository whose head is the check's
 * commit. Each is reviewed again at that commit, against its current base; the comment is
 * updated only while that commit is still the pull request's head (a re-run of an older
 * commit's check must not replace the review of a newer one).
 */
export async function handleCheckRunRerequested(context: Context<'check_run'>, deps: HandlerDeps): Promise<void> {
  const { payload } = context;
  const run = payload.check_run;
  if (payload.action !== 'rerequested' || run.name !== VALIDATE_CHECK_NAME) return;
  const repository = repositoryInfo(payload.repository);
  const numbers = [...new Set((run.pull_requests ?? []).filter((pr) => pr.base.repo.id === payload.repository.id).map((pr) => pr.number))];
  if (numbers.length === 0) {
    context.log.info({ repository: repository.fullName, head: run.head_sha }, 'check re-run requested for a commit that is no open pull request\'s head: nothing to review');
    return;
  }
  await publicly(deps, () =>
    deps.queue.run(repository.fullName.toLowerCase(), async () => {
      for (const number of numbers) {
        const { data: pr } = await context.octokit.rest.pulls.get({ owner: repository.owner, repo: repository.repo, pull_number: number });
        if (pr.state !== 'open') continue;
        await reviewPullRequest(context, repository, { number, baseSha: pr.base.sha, headSha: run.head_sha, comment: pr.head.sha === run.head_sha }, deps);
      }
    }),
  );
}

/** What to review: a pull request's base and head commits; `comment`: also update its review comment. */
interface ReviewRequest {
  number: number;
  baseSha: string;
  headSha: string;
  comment: boolean;
}

/** The parts of a Probot context the review uses (pull_request and check_run events alike). */
type ReviewContext = Pick<Context<'pull_request' | 'check_run'>, 'octokit' | 'log' | 'payload'>;

async function reviewPullRequest(context: ReviewContext, repository: RepositoryInfo, request: ReviewRequest, deps: HandlerDeps): Promise<void> {
  const target: RepositoryRef = { octokit: context.octokit, owner: repository.owner, repo: repository.repo };
  if (!(await isPolicyRepository(target, repository, request.headSha, deps.config))) {
    context.log.debug({ repository: repository.fullName }, 'not the policy repository: pull request ignored');
    return;
  }
  const check = await startCheckRun(target, VALIDATE_CHECK_NAME, request.headSha, 'Reviewing the change');
  try {
    const token = await deps.tokens.get(context.octokit, installationIdOf(context.payload), repository);
    const dir = await deps.mirrors.fetch(repository.fullName, fetchSource(deps.config, repository, token), [request.baseSha, request.headSha]);
    // The change is what the branch adds since it forked (as GitHub's "Files changed" shows),
    // not the difference to a base branch that has moved on since.
    const baseSha = await mergeBase(dir, request.baseSha, request.headSha);
    // One clock read per review: the preview, the forecast, the tests and the exceptions' dates
    // all take the store as it stands at this instant (docs/architecture.md#expiring-exceptions).
    const now = new Date();
    const review = await reviewRevisions({ dir, base: baseSha, head: request.headSha, at: now });
    // Validation, then the policy tests at the head and the exceptions' dates (review/policy-checks.ts).
    const checks = policyChecks(review.headResult, now);
    const errors = [...review.headResult.errors, ...checks.errors];
    const warnings = [...review.headResult.warnings, ...checks.warnings];
    const output = validateCheckOutput({
      errors,
      warnings,
      notices: checks.notices,
      ...(checks.tests ? { tests: checks.tests } : {}),
      review,
      headSha: request.headSha,
      baseSha,
      maxAnnotations: deps.config.maxAnnotations,
    });
    await completeCheckRun(target, check.id, output);
    let comment: string = 'not updated';
    if (request.comment) {
      const body = reviewCommentBody({
        review,
        headSha: request.headSha,
        baseSha,
        errors: errors.length,
        warnings: warnings.length,
        expiries: checks.upcoming,
        ...(checks.tests ? { tests: checks.tests } : {}),
        ...(check.htmlUrl ? { checkUrl: check.htmlUrl } : {}),
      });
      comment = (await upsertMarkedComment(target, request.number, REVIEW_MARKER, body)).action;
    }
    context.log.info(
      { repository: repository.fullName, pullRequest: request.number, head: request.headSha, conclusion: output.conclusion, errors: errors.length, warnings: warnings.length, comment },
      'pull request reviewed',
    );
  } catch (error) {
    await completeCheckRun(target, check.id, failedOutput('review this change', publicMessage(error, [deps.config.cacheDir]))).catch((reportError: unknown) =>
      context.log.warn({ err: messageOf(reportError) }, 'cannot report the failure on the check run'),
    );
    throw error;
  }
}

async function mergeBase(dir: string, base: string, head: string): Promise<string> {
  try {
    return (await gitText(dir, ['merge-base', base, head])).trim() || base;
  } catch {
    // Unrelated histories: compare with the base branch as it is.
    return base;
  }
}

export async function handlePush(context: Context<'push'>, deps: HandlerDeps): Promise<void> {
  const { payload } = context;
  if (payload.deleted || !payload.ref.startsWith('refs/heads/') || /^0+$/.test(payload.after)) return;
  const repository = repositoryInfo(payload.repository);
  await publicly(deps, () => deps.queue.run(repository.fullName.toLowerCase(), () => publishPush(context, repository, deps)));
}

async function publishPush(context: Context<'push'>, repository: RepositoryInfo, deps: HandlerDeps): Promise<void> {
  const { payload } = context;
  const after = payload.after;
  const branch = payload.ref.slice('refs/heads/'.length);
  const target: RepositoryRef = { octokit: context.octokit, owner: repository.owner, repo: repository.repo };
  // Without EGRESSCTL_POLICY_REPOSITORY, telling the policy repository apart costs a request per
  // push; only pushes to repositories' default branches pay it (egressctl.yml cannot move the
  // published branch in that mode).
  if (deps.config.policyRepository === undefined && branch !== repository.defaultBranch) return;
  if (!(await isPolicyRepository(target, repository, after, deps.config))) return;

  const token = await deps.tokens.get(context.octokit, installationIdOf(payload), repository);
  const source = fetchSource(deps.config, repository, token);
  const dir = await deps.mirrors.fetch(repository.fullName, source, [after]);
  if (branch !== (await policyDefaultBranch(target, repository, dir, after, branch, (sha) => deps.mirrors.fetch(repository.fullName, source, [sha])))) {
    context.log.debug({ repository: repository.fullName, branch }, 'push to a branch other than the default branch: not published');
    return;
  }

  const publisher = await deps.publisher();
  const published = await publisher?.current();
  const log = context.log.child({ repository: repository.fullName, revision: after });
  const report = (output: CheckOutput): Promise<void> => reportCheckRun(target, PUBLISH_CHECK_NAME, after, output);

  /** Does `descendant` descend from `ancestor`? `other` (fetched first) is `whenMissing` when it is not a commit of this repository. */
  const descends = async <M>(other: string, ancestor: string, descendant: string, whenMissing: M): Promise<boolean | M> => {
    try {
      await deps.mirrors.fetch(repository.fullName, source, [other]);
    } catch (error) {
      if (error instanceof MissingCommitError) return whenMissing;
      throw error;
    }
    return isAncestor(dir, ancestor, descendant);
  };
  /** Is `published` (a commit of this repository) a descendant of `after`? Undefined when it is not in this repository. */
  const supersededBy = (publishedRevision: string): Promise<boolean | undefined> => descends(publishedRevision, after, publishedRevision, undefined);

  if (published !== undefined && published !== after && (await supersededBy(published))) {
    log.info({ published }, 'push superseded: the published revision descends from it');
    await report(supersededOutput(after, published));
    return;
  }

  const check = await startCheckRun(target, PUBLISH_CHECK_NAME, after, 'Compiling the policy repository');
  try {
    const loaded = await loadPolicyRepository({ dir, rev: after });
    if (loaded.errors.length > 0) {
      log.warn({ errors: loaded.errors.length }, 'push does not compile: the last good bundle stays');
      await completeCheckRun(target, check.id, notCompiledOutput(after, loaded.errors, loaded.warnings, published, deps.config.maxAnnotations));
      return;
    }
    const sealed = sealRevision(loaded.value, loaded.snapshot, deps.signKeys, () => new Date().toISOString());
    const { bundle } = sealed;
    const envelopeText = `${sealed.text}\n`;
    // The checks every consumer runs: never offer a bundle a server would refuse.
    openBundle(envelopeText, { publicKeys: deps.signKeys });
    const keyids = deps.signKeys.map(keyIdOf);

    if (!publisher) {
      await completeCheckRun(target, check.id, {
        conclusion: 'neutral',
        title: `Compiled ${shortSha(after)}; not published`,
        summary: `\`${after}\` compiles, but this app has nowhere to publish it: run it inside \`egressctl serve\` or set EGRESSCTL_BUNDLE_FILE.`,
        annotations: [],
      });
      return;
    }
    const result = await publisher.publish(envelopeText, {
      // The store asks this of the revision it serves at that moment (it may have changed since `published`).
      // Not a commit of this repository (false): a bundle from elsewhere is never replaced silently.
      isDescendant: (servedRevision) => descends(servedRevision, servedRevision, after, false),
    });
    if (result.status === 'accepted' || result.status === 'unchanged') {
      log.info({ status: result.status, previous: published }, 'bundle published');
      const output = publishedOutput({ bundle, keyids, previous: published, destination: publisher.description }, result.status);
      const installationId = installationIdOf(payload);
      const previous = result.status === 'accepted' ? published : after;
      if (!deps.afterPublish || installationId === undefined) {
        await deps.afterPublish?.({ previous, revision: after });
        await completeCheckRun(target, check.id, output);
        return;
      }
      // The sync is journaled work, answered before it runs (GitHub waits 10 s for a webhook, a
      // sync may take minutes): the check stays in progress until every repository of this
      // publish had its first attempt, then says what failed (sync-work.ts).
      await target.octokit.rest.checks.update({
        owner: target.owner,
        repo: target.repo,
        check_run_id: check.id,
        status: 'in_progress',
        output: { title: `Published ${shortSha(after)}; syncing what it changes`, summary: `${output.summary}\n\nSyncing the repositories this revision changes; this check completes when each had its first attempt.` },
      });
      await deps.afterPublish({ previous, revision: after, check: { installationId, owner: repository.owner, repo: repository.repo, checkRunId: check.id, revision: after, output } });
      log.info({ previous }, 'sync journaled');
      return;
    }
    const now = await publisher.current();
    if (result.reason === 'older' && now !== undefined && now !== after && (await supersededBy(now))) {
      log.info({ published: now }, 'push superseded while compiling');
      await completeCheckRun(target, check.id, supersededOutput(after, now));
      return;
    }
    log.warn({ reason: result.reason, problem: result.message }, 'bundle refused');
    await completeCheckRun(target, check.id, refusedOutput(after, result.message, now));
  } catch (error) {
    await completeCheckRun(target, check.id, failedOutput('publish this revision', publicMessage(error, [deps.config.cacheDir]))).catch((reportError: unknown) =>
      log.warn({ err: messageOf(reportError) }, 'cannot report the failure on the check run'),
    );
    throw error;
  }
}

/**
 * The branch whose pushes are published: `default-branch` of egressctl.yml, else the
 * repository's default branch. The setting is read where it is trusted, on the repository's
 * default branch (at the pushed commit when that is the branch pushed to): a feature branch
 * must not be able to name itself the branch to publish.
 */
async function policyDefaultBranch(
  target: RepositoryRef,
  repository: RepositoryInfo,
  dir: string,
  after: string,
  branch: string,
  fetch: (sha: string) => Promise<unknown>,
): Promise<string> {
  let trusted = after;
  if (branch !== repository.defaultBranch) {
    const { data } = await target.octokit.rest.repos.getBranch({ owner: target.owner, repo: target.repo, branch: repository.defaultBranch });
    trusted = data.commit.sha;
    await fetch(trusted);
  }
  return (await declaredDefaultBranch(dir, trusted)) ?? repository.defaultBranch;
}

async function declaredDefaultBranch(dir: string, sha: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await gitText(dir, ['cat-file', 'blob', `${sha}:${SETTINGS_FILE}`]);
  } catch {
    return undefined;
  }
  try {
    const value: unknown = parseYaml(text);
    const declared = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)['default-branch'] : undefined;
    return typeof declared === 'string' && declared.trim() !== '' ? declared.trim() : undefined;
  } catch {
    // An unreadable egressctl.yml fails validation (and the compile) on its own.
    return undefined;
  }
}
