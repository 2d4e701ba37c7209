/**
 * The tamper check (docs/github-app.md, "Egress policy weakened outside the store"): on a pull
 * request in any installed repository, check run `egressctl / egress policy` fails when the
 * change weakens or removes a managed Harden-Runner step, or its `.github/egress-firewall.yaml`
 * allows more than the store, and passes otherwise. The handler is thin: it lists the pull
 * request's files, reads the watched ones at the merge base and at the head commit (the firewall
 * file is committed with the workflow it protects, so a pull request's own runs can get the head's
 * copy), loads the store, and reports what `src/coverage/tamper.ts` finds.
 *
 * Cost: the pull_request payload names no files, so every pull request costs the file listing
 * and its check run (a check a ruleset requires must report on every pull request, or the pull
 * request waits for it forever). Only a pull request that touches a watched path
 * (`.github/workflows/**`, `.github/egress-firewall.yaml`) costs more: the merge base, the files
 * at both ends, the store; a changed workflow file also the listing of `.github/workflows` at the
 * merge base and each workflow file there (a reusable workflow is judged by its callers).
 */
import type { Context } from 'probot';
import {
  needsWorkflows,
  PULL_REQUEST_FILES_LIMIT,
  tamperFindings,
  tamperReport,
  TAMPER_CHECK_NAME,
  TAMPER_RULES,
  unlistableReport,
  watchedPaths,
  type ChangedFile,
} from '../coverage/tamper.js';
import { coverageStoreOf } from '../coverage/coverage.js';
import type { WorkflowFile } from '../rollout/workflow-calls.js';
import type { PolicyRepository } from '../store/repository.js';
import { gitHubStatus, messageOf } from '../util/errors.js';
import type { WebhookApp } from './delivery-guard.js';
import { publicMessage } from './failure.js';
import { reportCheckRun, type RepositoryRef } from './github.js';
import { failedOutput, type CheckOutput } from './render.js';

export interface TamperCheckDeps {
  /** `owner/repo` of the policy repository: the store the check compares with. */
  policyRepository: string;
  /** The store at the head of the policy repository's default branch. */
  loadStore: () => Promise<PolicyRepository>;
  /** Cache directory, kept out of messages posted to GitHub. */
  cacheDir: string;
}

const ACTIONS = new Set(['opened', 'synchronize', 'reopened']);

export function registerTamperCheck(app: WebhookApp, deps: TamperCheckDeps): void {
  app.on(['pull_request.opened', 'pull_request.synchronize', 'pull_request.reopened'], (context) => handleTamperCheck(context, deps));
}

/** A file's text at a commit; undefined when it does not exist there. */
async function textAt(target: RepositoryRef, path: string, ref: string): Promise<string | undefined> {
  try {
    const { data } = await target.octokit.rest.repos.getContent({ owner: target.owner, repo: target.repo, path, ref, mediaType: { format: 'raw' } });
    return typeof data === 'string' ? data : undefined;
  } catch (error) {
    if (gitHubStatus(error) === 404) return undefined;
    throw error;
  }
}

/**
 * The text of a file the listing says exists at `ref`. Not finding it means the check could not
 * look (a file read as missing would count as added or deleted, and pass): an error, so the check fails.
 */
async function listedTextAt(target: RepositoryRef, path: string, ref: string): Promise<string> {
  const text = await textAt(target, path, ref);
  if (text === undefined) throw new Error(`cannot read ${path} at ${ref.slice(0, 12)}, which the pull request's file list names: the egress policy was not checked`);
  return text;
}

const WORKFLOWS_DIR = '.github/workflows';

/**
 * Every workflow file of the repository at `ref`, for the call graph (a reusable workflow is
 * judged by its callers). `known`: texts already read at `ref` (the changed files' base side).
 * A listed file that cannot be read fails the check, as a changed one does.
 */
async function workflowsAt(target: RepositoryRef, ref: string, known: ReadonlyMap<string, string>): Promise<WorkflowFile[]> {
  let listing: unknown;
  try {
    listing = (await target.octokit.rest.repos.getContent({ owner: target.owner, repo: target.repo, path: WORKFLOWS_DIR, ref })).data;
  } catch (error) {
    // No workflow folder at the base: nothing calls anything there.
    if (gitHubStatus(error) === 404) return [];
    throw error;
  }
  if (!Array.isArray(listing)) return [];
  const files = (listing as { type: string; name: string; path: string }[]).filter((entry) => entry.type === 'file' && /\.ya?ml$/i.test(entry.name));
  return Promise.all(files.map(async (entry) => ({ path: entry.path, text: known.get(entry.path) ?? (await listedTextAt(target, entry.path, ref)) })));
}

export async function handleTamperCheck(context: Context<'pull_request'>, deps: TamperCheckDeps): Promise<void> {
  const { payload } = context;
  if (!ACTIONS.has(payload.action)) return;
  const repository = payload.repository;
  const owner = repository.owner.login;
  const repo = repository.name;
  const target: RepositoryRef = { octokit: context.octokit, owner, repo };
  const pr = payload.pull_request;
  const headSha = pr.head.sha;
  try {
    const files = await context.octokit.paginate(context.octokit.rest.pulls.listFiles, { owner, repo, pull_number: pr.number, per_page: 100 });
    if (files.length >= PULL_REQUEST_FILES_LIMIT) {
      await reportCheckRun(target, TAMPER_CHECK_NAME, headSha, toCheckOutput(unlistableReport(files.length)));
      return;
    }
    const changed = files.filter((file) => watchedPaths([file.filename, ...(file.previous_filename ? [file.previous_filename] : [])]).length > 0);
    if (changed.length === 0) {
      await reportCheckRun(target, TAMPER_CHECK_NAME, headSha, toCheckOutput(tamperReport([], [], () => undefined)));
      return;
    }
    // What the branch changes since it forked (GitHub's "Files changed"), not what the base gained since.
    const { data: comparison } = await context.octokit.rest.repos.compareCommitsWithBasehead({ owner, repo, basehead: `${pr.base.sha}...${headSha}`, per_page: 1 });
    const base = comparison.merge_base_commit.sha;
    const texts: ChangedFile[] = await Promise.all(
      changed.map(async (file) => ({
        path: file.filename,
        ...(file.previous_filename ? { previousPath: file.previous_filename } : {}),
        before: file.status === 'added' ? undefined : await listedTextAt(target, file.previous_filename ?? file.filename, base),
        after: file.status === 'removed' ? undefined : await listedTextAt(target, file.filename, headSha),
      })),
    );
    // A reusable workflow follows its callers: the other workflow files give the call graph.
    const known = new Map(texts.filter((file) => file.before !== undefined).map((file) => [file.previousPath ?? file.path, file.before as string]));
    const workflows = needsWorkflows(texts) ? await workflowsAt(target, base, known) : undefined;
    const policy = await deps.loadStore();
    const store = coverageStoreOf(policy, Date.now());
    const findings = tamperFindings(texts, repository.full_name, store, TAMPER_RULES, workflows ? { workflows } : {});
    // The web address of the policy repository on the same GitHub as this repository.
    const web = repository.html_url.slice(0, repository.html_url.length - repository.full_name.length - 1);
    const policyLink = (name: string): string | undefined => {
      const file = policy.policies.get(name)?.file;
      return file ? `${web}/${deps.policyRepository}/blob/HEAD/${file}` : undefined;
    };
    const report = tamperReport(findings, changed.map((file) => file.filename), policyLink);
    await reportCheckRun(target, TAMPER_CHECK_NAME, headSha, toCheckOutput(report));
    context.log.info({ repository: repository.full_name, pullRequest: pr.number, head: headSha, conclusion: report.conclusion, findings: findings.length }, 'tamper check');
  } catch (error) {
    await reportCheckRun(target, TAMPER_CHECK_NAME, headSha, failedOutput('check this change', publicMessage(error, [deps.cacheDir]))).catch((reportError: unknown) =>
      context.log.warn({ err: messageOf(reportError) }, 'cannot report the failure on the check run'),
    );
    throw error;
  }
}

function toCheckOutput(report: ReturnType<typeof tamperReport>): CheckOutput {
  return {
    conclusion: report.conclusion,
    title: report.title,
    summary: report.summary,
    annotations: report.annotations.map((annotation) => ({
      path: annotation.path,
      start_line: annotation.line,
      end_line: annotation.line,
      annotation_level: 'failure' as const,
      title: 'egress policy weakened',
      message: annotation.message.slice(0, 4000),
    })),
  };
}
