/**
 * Sync on merge (docs/reconciliation.md): after a push to the policy repository's default
 * branch is published, sync exactly what changed between the previously published revision and
 * this one: the review engine's changed scopes name the repositories (organization scopes expand
 * through the API), settings that shape every step (pin, unattached, delivery) name every
 * repository of the managed organizations. Unaffected repositories cost no request.
 */
import type { AppLogger, WebhookApp } from './delivery-guard.js';
import type { PolicyRepository } from '../store/repository.js';
import { reviewRevisions } from '../review/revisions.js';
import { loadPolicyRepository } from '../store/repository.js';
import type { GitHubClient } from '../github/client.js';
import { failuresOf, type SyncFailure } from '../rollout/sync-report.js';
import type { SyncStateStore } from '../rollout/sync-state.js';
import { affectedScopes, type AffectedScopes } from '../rollout/sync-plan.js';
import { runSync, syncChange, type SyncResult } from '../rollout/sync.js';
import { gitHubStatus, messageOf } from '../util/errors.js';

export interface PublishedEvent {
  /** The policy repository's mirror (both revisions are in it). */
  dir: string;
  /** The revision published before this one (undefined: the first publish). */
  previous: string | undefined;
  revision: string;
}

export interface SyncOnMergeDeps {
  /** `owner/repo`, shown in PR bodies. */
  policyRepository: string;
  /** Where each repository's last outcome is kept (the console's /sync, the metrics). */
  syncState: SyncStateStore;
  concurrency?: number;
  log?: AppLogger;
  onSync?: (results: SyncResult[]) => void;
}

function settingsChanged(before: PolicyRepository, after: PolicyRepository): boolean {
  const pick = (repository: PolicyRepository) => JSON.stringify([repository.settings.hardenRunner, repository.settings.unattached, repository.settings.delivery, repository.settings.githubFirewall]);
  return pick(before) !== pick(after);
}

/** The organizations a change reaches, with what reaches them (lower-cased). */
export function organizationsOf(affected: AffectedScopes): string[] {
  const organizations = new Set(affected.organizations);
  for (const repository of affected.repositories) organizations.add(repository.slice(0, repository.indexOf('/')));
  return [...organizations].sort();
}

/** What a sync after a publish did, and what it left failed (retried: see retryFailed). */
export interface SyncOnMergeOutcome {
  results: SyncResult[];
  failures: SyncFailure[];
}

export function syncOnMerge(app: WebhookApp, deps: SyncOnMergeDeps): (event: PublishedEvent) => Promise<SyncOnMergeOutcome> {
  const log: AppLogger = deps.log ?? app.log;
  return async (event) => {
    const results: SyncResult[] = [];
    let policy: PolicyRepository | undefined;
    const previous = event.previous;
    if (previous === undefined) log.info({ revision: event.revision }, 'first publish: no previous revision to compare; the scheduled sync covers every repository');
    else if (previous !== event.revision) {
      const changed = await syncChanged(app, deps, log, { ...event, previous });
      policy = changed.policy;
      results.push(...changed.results);
    }
    // Level-triggered: whatever failed before is tried again at this revision (a later merge repairs it).
    policy ??= await loadPolicyAt(event.dir, event.revision);
    const synced = {
      repositories: new Set(results.flatMap((result) => result.report.repositories.map((entry) => entry.repository))),
      organizations: new Set(results.map((result) => result.report.organization)),
    };
    results.push(...(await retryFailed(app, { ...deps, log }, policy, synced)));
    deps.onSync?.(results);
    return { results, failures: results.flatMap((result) => failuresOf(result.report)) };
  };
}

async function loadPolicyAt(dir: string, revision: string): Promise<PolicyRepository> {
  const loaded = await loadPolicyRepository({ dir, rev: revision });
  if (loaded.errors.length > 0) throw new Error(`the policy repository at ${revision.slice(0, 12)} has ${loaded.errors.length} error(s): not synced`);
  return loaded.value;
}

async function syncChanged(app: WebhookApp, deps: SyncOnMergeDeps, log: AppLogger, event: PublishedEvent & { previous: string }): Promise<{ policy: PolicyRepository; results: SyncResult[] }> {
  const review = await reviewRevisions({ dir: event.dir, base: event.previous, head: event.revision });
  const before = review.baseResult.value;
  const after = review.headResult.value;
  const managed = after.settings.organizations;
  let affected = affectedScopes(review.scopes);
  if (settingsChanged(before, after)) affected = { organizations: [...new Set([...affected.organizations, ...managed])].sort(), repositories: affected.repositories };
  const organizations = organizationsOf(affected).filter((org) => managed.length === 0 || managed.includes(org));
  if (organizations.length === 0) {
    log.info({ revision: event.revision, previous: event.previous }, 'no effective policy changed: nothing to sync');
    return { policy: after, results: [] };
  }
  const results: SyncResult[] = [];
  for (const organization of organizations) {
    const client = await installationClient(app, organization, log);
    if (!client) continue;
    const result = await syncChange({
      client,
      organization,
      before,
      after,
      affected,
      listing: 'installation',
      policyRepository: deps.policyRepository,
      revision: event.revision,
      ...(deps.concurrency ? { concurrency: deps.concurrency } : {}),
    });
    await deps.syncState.record(result.report, { merge: true });
    logResult(log, result, { organization, revision: event.revision }, 'synced after publish');
    results.push(result);
  }
  return { policy: after, results };
}

/** The App's client on an organization, or undefined (logged) when it is not installed there. */
async function installationClient(app: WebhookApp, organization: string, log: AppLogger): Promise<GitHubClient | undefined> {
  const appOctokit = await app.auth();
  let installationId: number;
  try {
    installationId = (await appOctokit.rest.apps.getOrgInstallation({ org: organization })).data.id;
  } catch (error) {
    // Only GitHub's 404 says "not installed"; any other failure is a failed sync (retried), never a skip that passes.
    if (gitHubStatus(error) !== 404) throw error;
    log.warn({ organization, err: messageOf(error) }, 'the App is not installed on this organization: not synced');
    return undefined;
  }
  return app.auth(installationId);
}

function logResult(log: AppLogger, result: SyncResult, where: object, message: string): void {
  const counts: Record<string, number> = {};
  for (const entry of result.report.repositories) counts[entry.status] = (counts[entry.status] ?? 0) + 1;
  log.info({ ...where, requests: result.requests, variables: result.report.variables.length, ...counts }, message);
  for (const failure of failuresOf(result.report)) log.error({ target: failure.target }, failure.reason);
}

/**
 * Sync again what the sync report says failed (repositories in error, variables whose write
 * failed), organization by organization, at `policy`: a full sync of exactly those repositories
 * (with `delivery: variables`, the organization's variables and theirs are re-asserted first).
 * `synced`: what this pass synced already (its repositories, and the variables of its
 * organizations). Used after every publish and by the retry timer (sync-retry.ts).
 */
export async function retryFailed(
  app: WebhookApp,
  deps: Pick<SyncOnMergeDeps, 'syncState' | 'policyRepository' | 'concurrency'> & { log: AppLogger },
  policy: PolicyRepository,
  synced: { repositories: ReadonlySet<string>; organizations: ReadonlySet<string> } = { repositories: new Set(), organizations: new Set() },
): Promise<SyncResult[]> {
  const report = await deps.syncState.read();
  const managed = policy.settings.organizations;
  const results: SyncResult[] = [];
  for (const [organization, run] of Object.entries(report.organizations)) {
    if (run.dryRun || (managed.length > 0 && !managed.includes(organization))) continue;
    const repositories = run.repositories.filter((entry) => entry.status === 'error' && !synced.repositories.has(entry.repository)).map((entry) => entry.repository);
    const variables = !synced.organizations.has(organization) && run.variables.some((entry) => entry.status === 'error');
    if (repositories.length === 0 && !variables) continue;
    const client = await installationClient(app, organization, deps.log);
    if (!client) continue;
    const result = await runSync({
      client,
      organization,
      policy,
      repositories,
      listing: 'installation',
      policyRepository: deps.policyRepository,
      ...(deps.concurrency ? { concurrency: deps.concurrency } : {}),
    });
    await deps.syncState.record(result.report, { merge: true });
    logResult(deps.log, result, { organization, retried: repositories.length }, 'retried failed sync');
    results.push(result);
  }
  return results;
}
