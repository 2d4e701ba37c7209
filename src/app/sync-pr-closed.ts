/**
 * A sync pull request closed (docs/github-app.md, "Durable work"), on `pull_request.closed` from
 * the sync branch of the same repository, with the marker egressctl writes in its body:
 *
 * - closed by a person without a merge: the repository's row in the sync report becomes
 *   `pr-closed` at once (shown on /sync and in egressctl_sync_repositories) instead of at the next
 *   sync. Reopening is the sync's decision (rollout.ts): not until the desired state changes.
 * - merged: the repository's sync is queued (durably, as its own repository-sync unit), so its
 *   coverage is read again from the merged workflow files: a job that failed open because of its
 *   workflow file (docs/architecture.md#coverage) clears now, not at the next scheduled pass.
 */
import type { Context } from 'probot';
import { parseMarker, ROLLOUT_BRANCH } from '../rollout/rollout-body.js';
import { closedPullRequestEntry } from '../rollout/sync-report.js';
import type { SyncStateStore } from '../rollout/sync-state.js';
import type { WebhookApp } from './delivery-guard.js';
import type { SyncPullRequestMerged } from './sync-work.js';

export interface SyncPullRequestClosedDeps {
  /** Where each repository's last outcome is kept (the state directory, or Redis). */
  syncState: SyncStateStore;
  /** Queue the repository's sync after its sync pull request was merged (SyncWork.afterSyncPullRequestMerged). */
  afterMerged?: (event: SyncPullRequestMerged) => Promise<boolean>;
}

export function registerSyncPullRequestClosed(app: WebhookApp, deps: SyncPullRequestClosedDeps): void {
  app.on('pull_request.closed', (context) => handleSyncPullRequestClosed(context, deps));
}

export async function handleSyncPullRequestClosed(context: Pick<Context<'pull_request.closed'>, 'payload' | 'log'>, deps: SyncPullRequestClosedDeps): Promise<void> {
  const { payload } = context;
  const pr = payload.pull_request;
  const repository = payload.repository.full_name;
  // Ours: the fixed sync branch of this very repository (a fork's branch of that name is not), and our marker.
  if (pr.head.ref !== ROLLOUT_BRANCH || pr.head.repo?.full_name !== repository || !parseMarker(pr.body)) return;
  const organization = payload.repository.owner.login;
  if (pr.merged) {
    if (!deps.afterMerged || !pr.merge_commit_sha) return;
    const queued = await deps.afterMerged({ organization, repository, defaultBranch: payload.repository.default_branch, pullRequest: pr.number, mergeCommit: pr.merge_commit_sha });
    context.log.info({ repository, pullRequest: pr.number, queued }, 'sync pull request merged: the repository\'s sync is queued to read its coverage again');
    return;
  }
  const report = await deps.syncState.read();
  const previous = report.organizations[organization.toLowerCase()]?.repositories.find((entry) => entry.repository.toLowerCase() === repository.toLowerCase());
  const entry = closedPullRequestEntry({ repository, number: pr.number, url: pr.html_url, by: payload.sender.login, at: pr.closed_at ?? new Date().toISOString() }, previous);
  await deps.syncState.record({ organization, at: new Date().toISOString(), dryRun: false, repositories: [entry], variables: [] }, { merge: true });
  context.log.info({ repository, pullRequest: pr.number, by: payload.sender.login }, 'sync pull request closed without merging: pr-closed, not reopened until the desired state changes');
}
