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
import { recordSync } from '../rollout/sync-report.js';
import { affectedScopes, type AffectedScopes } from '../rollout/sync-plan.js';
import { syncChange, type SyncResult } from '../rollout/sync.js';
import { messageOf } from '../util/errors.js';

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
  /** Where the sync report is kept for the console. */
  stateDir: string;
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

export function syncOnMerge(app: WebhookApp, deps: SyncOnMergeDeps): (event: PublishedEvent) => Promise<SyncResult[]> {
  const log: AppLogger = deps.log ?? app.log;
  return async (event) => {
    if (event.previous === undefined || event.previous === event.revision) {
      log.info({ revision: event.revision }, 'first publish: no previous revision to compare; the scheduled sync covers every repository');
      return [];
    }
    const review = await reviewRevisions({ dir: event.dir, base: event.previous, head: event.revision });
    const before = review.baseResult.value;
    const after = review.headResult.value;
    const managed = after.settings.organizations;
    let affected = affectedScopes(review.scopes);
    if (settingsChanged(before, after)) affected = { organizations: [...new Set([...affected.organizations, ...managed])].sort(), repositories: affected.repositories };
    const organizations = organizationsOf(affected).filter((org) => managed.length === 0 || managed.includes(org));
    if (organizations.length === 0) {
      log.info({ revision: event.revision, previous: event.previous }, 'no effective policy changed: nothing to sync');
      return [];
    }
    const appOctokit = await app.auth();
    const results: SyncResult[] = [];
    for (const organization of organizations) {
      let installationId: number;
      try {
        installationId = (await appOctokit.rest.apps.getOrgInstallation({ org: organization })).data.id;
      } catch (error) {
        log.warn({ organization, err: messageOf(error) }, 'the App is not installed on this organization: not synced');
        continue;
      }
      const client = await app.auth(installationId);
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
      await recordSync(deps.stateDir, result.report, { merge: true });
      const counts: Record<string, number> = {};
      for (const entry of result.report.repositories) counts[entry.status] = (counts[entry.status] ?? 0) + 1;
      log.info({ organization, revision: event.revision, requests: result.requests, variables: result.report.variables.length, ...counts }, 'synced after publish');
      for (const entry of result.report.repositories) if (entry.status === 'error') log.error({ repository: entry.repository }, entry.reasons.join('; '));
      results.push(result);
    }
    deps.onSync?.(results);
    return results;
  };
}
