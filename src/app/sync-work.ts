/**
 * Syncs as durable work (docs/github-app.md, "Durable work"): each repository sync is its own
 * unit in the WorkQueue, keyed by the repository, so one worker per repository at a time (across
 * replicas with Redis), retried with the queue's backoff until it succeeds, its last error kept
 * and shown as the repository's `error` row. Three kinds feed each other:
 *
 *   sync-plan (key: the policy repository)    a publish: which organizations and repositories
 *        |                                    the change reaches (git only, sync-on-merge.ts)
 *   organization-sync (key: the organization) lists the installation's repositories when an
 *        |                                    organization scope needs it; with `delivery:
 *        |                                    variables`, writes the organization's variables
 *        |                                    and reads them back, and only then
 *   repository-sync (key: owner/repo)         syncs one repository at the revision published now
 *
 * The scheduled full sync enters at organization-sync. The publish check `egressctl / publish`
 * waits for the first attempt of every unit of its publish (a fan-in in the queue backend), then
 * the one that settles last queues `publish-check`, which completes it with what failed; a
 * `publish-check-watch` per publish completes it from the sync state should that never happen.
 */
import type { PolicyRepository } from '../store/repository.js';
import type { StoreState } from '../rollout/desired-state.js';
import { loadPolicyRepository } from '../store/repository.js';
import type { GitHubClient } from '../github/client.js';
import type { ActionSettings, RolloutMode } from '../rollout/rollout-plan.js';
import { listTargets, type RepositoryTarget } from '../rollout/rollout.js';
import { syncRepository } from '../rollout/sync.js';
import { failuresOf, type OrganizationSync, type SyncEntry, type VariableEntry } from '../rollout/sync-report.js';
import type { SyncStateStore } from '../rollout/sync-state.js';
import { desiredVariables, storeStateOf } from '../rollout/sync-plan.js';
import { VariableWriter } from '../rollout/github-variables.js';
import { BoundedMap } from '../util/bounded-map.js';
import { isAncestor } from '../util/git.js';
import { gitHubStatus, messageOf } from '../util/errors.js';
import type { AppLogger, WebhookApp } from './delivery-guard.js';
import { publicMessage } from './failure.js';
import { completeCheckRun } from './github.js';
import { WorkNotReadyError, type BackoffPolicy, type FanInFailure, type NewWork, type WorkItem, type WorkLease, type WorkQueue } from './queue.js';
import { confirmFence, fenceWrites, LostOwnershipError, runFenced, type WriteFence } from '../github/write-fence.js';
import { isSuperseded, supersededOutput, supersededSyncFailedOutput, syncFailedOutput, type CheckOutput } from './render.js';
import { planPublish, type OrganizationPlan } from './sync-on-merge.js';

export const PLAN_KIND = 'sync-plan';
export const ORGANIZATION_KIND = 'organization-sync';
export const REPOSITORY_KIND = 'repository-sync';
export const CHECK_KIND = 'publish-check';
export const WATCH_KIND = 'publish-check-watch';

/** A publish check still in progress this long after it started is completed from the sync state, whatever is still queued (a repository that keeps failing). */
export const PUBLISH_CHECK_STALE_MS = 6 * 60 * 60 * 1000;

/** The publish check to complete once every unit of the publish had its first attempt. */
export interface PublishCheck {
  installationId: number;
  owner: string;
  repo: string;
  checkRunId: number;
  revision: string;
  /** The check's output when nothing failed. */
  output: CheckOutput;
}

interface PlanWork {
  previous: string | undefined;
  revision: string;
  /** The fan-in of the publish check. */
  publish?: string;
  /** The publish check itself: its organization units show how many repositories they queued on it. */
  check?: PublishCheck;
}

interface OrganizationWork extends Omit<OrganizationPlan, 'organization'> {
  organization: string;
  /** Synced at this revision, or the one published now when it descends from it. */
  revision: string;
  /** Where the repository items come from (their ids): a publish's plan or a scheduled pass. */
  origin: string;
  publish?: string;
  check?: PublishCheck;
}

interface RepositoryWork {
  /** `owner/repo` as GitHub spells it. */
  repository: string;
  organization: string;
  revision: string;
  defaultBranch?: string;
  publish?: string;
  /**
   * The organization's listing generation when this unit was queued (SyncStateStore.generation):
   * should a later listing drop the repository while the unit runs, its row is not written back.
   */
  generation?: number;
}

interface CheckWork {
  check: PublishCheck;
  failures: FanInFailure[];
}

interface WatchWork {
  check: PublishCheck;
}

export interface SyncWorkDeps {
  app: WebhookApp;
  queue: WorkQueue;
  /** `owner/repo` of the policy repository (PR bodies, the plan's key). */
  policyRepository: string;
  /** Where each repository's outcome is recorded (the console's /sync, the metrics; the state directory or Redis). */
  syncState: SyncStateStore;
  backoff: BackoffPolicy;
  /** The revision served now: an item syncs up to it when it descends from the item's revision. */
  published: () => Promise<string | undefined>;
  /** The policy repository's mirror with these revisions in it (an item may come from another replica or a restart). */
  mirror: (revisions: string[]) => Promise<string>;
  mode?: RolloutMode;
  action?: ActionSettings;
  log?: AppLogger;
  /** Local directories never shown on GitHub (the check's failure table): the cache directory. */
  knownDirs?: readonly string[];
}

export interface SyncWork {
  /** After a publish: journal its plan (the webhook is answered once this resolved). */
  afterPublish(event: { previous: string | undefined; revision: string; check?: PublishCheck }): Promise<void>;
  /** A scheduled pass at `revision` (the head of the default branch): every repository of these organizations. */
  fullSync(revision: string, organizations: readonly string[], pass: string): Promise<number>;
  /**
   * A sync pull request merged: its repository's sync queued at the revision published now, so its
   * coverage is read again from the merged workflow files (a job failing open by its workflow file
   * clears then, not at the next pass). False: nothing published yet, or this merge's unit is
   * queued or was done (a redelivery).
   */
  afterSyncPullRequestMerged(event: SyncPullRequestMerged): Promise<boolean>;
}

export interface SyncPullRequestMerged {
  /** The repository's owner as GitHub spells it. */
  organization: string;
  /** `owner/repo` as GitHub spells it. */
  repository: string;
  defaultBranch?: string;
  pullRequest: number;
  /** The merge commit: a pull request reopened and merged again is a new unit. */
  mergeCommit: string;
}

/**
 * Every write of a repository's (or the organization's variables') outcome goes through here:
 * merged into the sync report, one unit's rows at a time. `generation`: the listing the unit was
 * queued after; returns the repositories a newer listing dropped (their rows are not written back).
 */
async function recordOutcome(syncState: SyncStateStore, report: OrganizationSync, generation?: number): Promise<string[]> {
  // A run that lost its unit to another replica records nothing: the holder's outcome is the row.
  await confirmFence('recording the outcome');
  return syncState.record(report, { merge: true, ...(generation === undefined ? {} : { generation }) });
}

/** Did the listing drop `repository` while its unit ran? */
function droppedFrom(dropped: readonly string[], repository: string): boolean {
  return dropped.some((name) => name.toLowerCase() === repository.toLowerCase());
}

/** How long an organization's installation id is used before it is looked up again. */
const INSTALLATION_TTL_MS = 10 * 60 * 1000;

/** The store reaches an organization the App is not installed on: nothing there follows it, and the publish check says so. */
function notInstalled(organization: string): FanInFailure {
  return { target: organization, reason: `the App is not installed on ${organization}: nothing there is synced (install it there, or take ${organization} out of the store)` };
}

function errorRows(organization: string, repositories: readonly string[], reason: string): OrganizationSync {
  const rows: SyncEntry[] = repositories.map((repository) => ({ repository, status: 'error', pr: null, files: [], reasons: [reason] }));
  return { organization, at: new Date().toISOString(), dryRun: false, repositories: rows, variables: [] };
}

export function registerSyncWork(deps: SyncWorkDeps): SyncWork {
  const { queue } = deps;
  const log: AppLogger = deps.log ?? deps.app.log;
  /** Every GitHub client of these units: its writes ask the running unit's fence (write-fence.ts). */
  const auth = async (installationId?: number): Promise<GitHubClient> => fenceWrites(await deps.app.auth(installationId));
  /** Run a unit's attempt under a fence on its lease: once it no longer holds its item, its writes are refused and it stops. */
  const fenced = <T>(item: WorkItem<unknown>, lease: WorkLease, work: (fence: WriteFence) => Promise<T>): Promise<T> => runFenced(() => lease.owned(), `${item.kind} ${item.key}`, work);
  const policyKey = deps.policyRepository.toLowerCase();
  const policies = new BoundedMap<string, Promise<PolicyRepository>>(4);
  const installations = new BoundedMap<string, { id: number; at: number }>(1_000);
  const descends = new BoundedMap<string, boolean>(1_000);
  // Exceptions expire at UTC midnight: the store evaluated once per revision and day serves every repository.
  const stores = new BoundedMap<string, StoreState>(4);
  const storeAt = (revision: string, policy: PolicyRepository): StoreState => {
    const key = `${revision}@${new Date().toISOString().slice(0, 10)}`;
    let store = stores.get(key);
    if (!store) {
      store = storeStateOf(policy, Date.now());
      stores.set(key, store);
    }
    return store;
  };

  /** The policy repository at `revision` (loaded once per revision in this process). */
  const policyAt = (revision: string): Promise<PolicyRepository> => {
    let loading = policies.get(revision);
    if (!loading) {
      loading = (async () => {
        const dir = await deps.mirror([revision]);
        const loaded = await loadPolicyRepository({ dir, rev: revision });
        if (loaded.errors.length > 0) throw new Error(`the policy repository at ${revision.slice(0, 12)} has ${loaded.errors.length} error(s): not synced`);
        return loaded.value;
      })();
      loading.catch(() => policies.delete(revision));
      policies.set(revision, loading);
    }
    return loading;
  };

  /** Level-triggered: the revision published now when it descends from `revision` (never back to an older policy). */
  const latest = async (revision: string): Promise<string> => {
    const published = await deps.published();
    if (published === undefined || published === revision) return revision;
    const key = `${revision}..${published}`;
    let newer = descends.get(key);
    if (newer === undefined) {
      const dir = await deps.mirror([revision, published]);
      newer = await isAncestor(dir, revision, published);
      descends.set(key, newer);
    }
    return newer ? published : revision;
  };

  /** The published revision that descends from `revision` (it supersedes that revision's publish check), or undefined. */
  const supersedingRevision = async (revision: string): Promise<string | undefined> => {
    const newer = await latest(revision);
    return newer === revision ? undefined : newer;
  };

  /**
   * The App's client on an organization, or undefined (logged) when it is not installed there.
   * Installation ids are kept for INSTALLATION_TTL_MS: an App uninstalled and installed again gets
   * a new id, and a unit retried with the old one would fail until a restart.
   */
  const installationClient = async (organization: string): Promise<GitHubClient | undefined> => {
    let cached = installations.get(organization);
    if (cached === undefined || Date.now() - cached.at > INSTALLATION_TTL_MS) {
      const appOctokit = await auth();
      try {
        cached = { id: (await appOctokit.rest.apps.getOrgInstallation({ org: organization })).data.id, at: Date.now() };
      } catch (error) {
        // Only GitHub's 404 says "not installed"; any other failure is a failed sync (retried), never a skip that passes.
        if (gitHubStatus(error) !== 404) throw error;
        installations.delete(organization);
        log.warn({ organization, err: messageOf(error) }, 'the App is not installed on this organization: not synced');
        return undefined;
      }
      installations.set(organization, cached);
    }
    return auth(cached.id);
  };

  /**
   * Runs one unit; on its first attempt, settles it in its publish's fan-in (with its failures,
   * or the error it threw) before the error goes to the queue's backoff. `children`: the units it
   * queued, expected by the fan-in before they are added.
   */
  const unit = async <T extends { publish?: string }>(item: WorkItem<T>, lease: WorkLease, run: (expect: (children: NewWork[], beforeAdding?: (repositories: number) => Promise<void>) => Promise<void>) => Promise<FanInFailure[]>): Promise<void> => {
    const publish = item.attempts === 0 ? item.data.publish : undefined;
    /** `beforeAdding`: told the publish's repository units so far, while none of these can have settled (the check cannot be completed yet). */
    const expect = async (children: NewWork[], beforeAdding?: (repositories: number) => Promise<void>): Promise<void> => {
      await confirmFence('queueing its units');
      if (publish !== undefined) {
        const repositories = await queue.expectInFanIn(publish, children.map((child) => child.id), `${REPOSITORY_KIND}:`);
        await beforeAdding?.(repositories);
      }
      for (const child of children) await queue.add(child);
    };
    let failures: FanInFailure[];
    let thrown: unknown;
    try {
      failures = await fenced(item, lease, () => run(expect));
    } catch (error) {
      // Lost to another replica: not settled here either (the holder's run settles it, on its first attempt too).
      if (error instanceof LostOwnershipError) throw error;
      thrown = error;
      // Shown on the publish check: no local paths.
      failures = [{ target: item.key, reason: publicMessage(error, deps.knownDirs) }];
    }
    if (publish !== undefined) {
      const done = await queue.settleInFanIn<PublishCheck>(publish, item.id, failures);
      if (done) await queue.add<CheckWork>({ id: `${CHECK_KIND}:${publish}`, kind: CHECK_KIND, key: policyKey, data: { check: done.payload, failures: done.failures } });
    }
    if (thrown !== undefined) throw thrown;
    // Only what a retry can change is retried (a job failing open by its workflow file is not: SyncFailure.retry).
    if (failures.some((failure) => failure.retry !== false)) throw new Error(failures.map((failure) => `${failure.target}: ${failure.reason}`).join('; '));
  };

  /** The in-progress publish check, with how many repositories its publish syncs (the organizations' units queued so far). */
  const showSyncing = async (check: PublishCheck, repositories: number): Promise<void> => {
    const octokit: GitHubClient = await auth(check.installationId);
    const syncing = `syncing ${repositories} ${repositories === 1 ? 'repository' : 'repositories'}`;
    await octokit.rest.checks.update({
      owner: check.owner,
      repo: check.repo,
      check_run_id: check.checkRunId,
      status: 'in_progress',
      output: { title: `Published ${check.revision.slice(0, 12)}; ${syncing}`, summary: `${check.output.summary}\n\n${syncing[0]!.toUpperCase()}${syncing.slice(1)}; this check completes when each had its first attempt.` },
    });
  };

  const organizationItem = (work: OrganizationWork): NewWork<OrganizationWork> => ({ id: `${ORGANIZATION_KIND}:${work.organization}@${work.revision}#${work.origin}`, kind: ORGANIZATION_KIND, key: work.organization, data: work });

  queue.handle<PlanWork>(
    PLAN_KIND,
    (item, lease) =>
      unit(item, lease, async (expect) => {
        const { previous, revision, publish, check } = item.data;
        if (previous === undefined) {
          log.info({ revision }, 'first publish: no previous revision to compare; the scheduled sync covers every repository');
          return [];
        }
        if (previous === revision) return [];
        const dir = await deps.mirror([revision, previous]);
        const planned = await planPublish({ dir, previous, revision });
        if (planned.organizations.length === 0) log.info({ revision, previous }, 'no effective policy changed: nothing to sync');
        await expect(planned.organizations.map((plan) => organizationItem({ ...plan, revision, origin: item.id, ...(publish ? { publish } : {}), ...(publish && check ? { check } : {}) })));
        return [];
      }),
    deps.backoff,
  );

  queue.handle<OrganizationWork>(
    ORGANIZATION_KIND,
    (item, lease) =>
      unit(item, lease, async (expect) => {
        const work = item.data;
        const organization = work.organization;
        const revision = await latest(work.revision);
        const policy = await policyAt(revision);
        const client = await installationClient(organization);
        if (!client) return [notInstalled(organization)];
        const targets = new Map<string, RepositoryTarget>();
        for (const name of work.repositories) {
          const [owner = organization, repo = name] = name.split('/');
          targets.set(name.toLowerCase(), { owner, name: repo });
        }
        if (work.expand) {
          const shadowed = new Set(work.shadowed ?? []);
          const listed = (await listTargets(client, organization, { listing: 'installation' })).targets;
          for (const target of listed) {
            const name = `${target.owner}/${target.name}`.toLowerCase();
            if (work.expand === 'all' || !shadowed.has(name) || targets.has(name)) targets.set(name, target);
          }
          if (work.expand === 'all') {
            // A complete listing (a failed page threw above): rows of repositories deleted or taken out of the installation go.
            await confirmFence('dropping rows of repositories no longer listed');
            const dropped = await deps.syncState.prune(organization, listed.map((target) => `${target.owner}/${target.name}`));
            if (dropped.length > 0) log.info({ organization, repositories: dropped }, 'no longer in the installation: dropped from the sync state');
          }
        }
        // Carried by the repository units queued now: a later listing that drops one of them wins over its row.
        const generation = await deps.syncState.generation(organization);
        if (policy.settings.delivery === 'variables') {
          // Written and read back before any repository step may switch to reading them (docs/reconciliation.md, "Variables: writes, removal, drift").
          const writer = new VariableWriter(client);
          const desired = desiredVariables(storeAt(revision, policy), [organization]);
          const variables: VariableEntry[] = await writer.reassert(organization, desired, [], {});
          const problems = await writer.confirmOrganization(organization, desired, variables);
          await recordOutcome(deps.syncState, { organization, at: new Date().toISOString(), dryRun: false, repositories: [], variables });
          for (const entry of variables) if (entry.status === 'drift-restored') log.error({ variable: entry.name, target: entry.target }, `variable drift: ${entry.reason ?? 'edited on GitHub'}`);
          if (problems.length > 0) {
            const reason = `the variables its steps read are not in place, so its workflows were left as they are: ${problems.join('; ')}`;
            const names = [...targets.values()].map((target) => `${target.owner}/${target.name}`);
            // Its repositories are not synced until this succeeds: their rows say why.
            if (names.length > 0) await recordOutcome(deps.syncState, errorRows(organization, names, reason), generation);
            for (const name of names) log.error({ target: name }, reason);
            return names.length > 0 ? names.map((target) => ({ target, reason })) : problems.map((problem) => ({ target: organization, reason: problem }));
          }
        }
        await expect(
          [...targets.values()].map((target): NewWork<RepositoryWork> => {
            const repository = `${target.owner}/${target.name}`;
            return {
              id: `${REPOSITORY_KIND}:${repository.toLowerCase()}@${revision}#${work.origin}`,
              kind: REPOSITORY_KIND,
              key: repository.toLowerCase(),
              data: { repository, organization, revision, generation, ...(target.defaultBranch ? { defaultBranch: target.defaultBranch } : {}), ...(item.attempts === 0 && work.publish ? { publish: work.publish } : {}) },
            };
          }),
          // One checks/update per organization unit (its first attempt), never per repository.
          // Only a title: a failure is logged, never a failed unit.
          work.check && targets.size > 0 ? (repositories) => showSyncing(work.check!, repositories).catch((error: unknown) => log.warn({ err: messageOf(error) }, 'could not show the repository count on the publish check')) : undefined,
        );
        log.info({ organization, revision, repositories: targets.size }, 'repository syncs queued');
        return [];
      }),
    deps.backoff,
  );

  queue.handle<RepositoryWork>(
    REPOSITORY_KIND,
    (item, lease) =>
      unit(item, lease, async () => {
        const work = item.data;
        /** The listing dropped the repository while this unit ran: nothing recorded, nothing to retry. */
        const left = (dropped: readonly string[]): boolean => {
          if (!droppedFrom(dropped, work.repository)) return false;
          log.info({ repository: work.repository, organization: work.organization }, 'no longer in the installation (a listing dropped it while its sync ran): its outcome is not recorded');
          return true;
        };
        try {
          const revision = await latest(work.revision);
          const policy = await policyAt(revision);
          const client = await installationClient(work.organization);
          if (!client) {
            const failure = notInstalled(work.organization);
            await recordOutcome(deps.syncState, errorRows(work.organization, [work.repository], failure.reason), work.generation);
            return [failure];
          }
          const [owner = work.organization, name = work.repository] = work.repository.split('/');
          const result = await syncRepository({
            client,
            organization: work.organization,
            policy,
            store: storeAt(revision, policy),
            target: { owner, name, ...(work.defaultBranch ? { defaultBranch: work.defaultBranch } : {}) },
            policyRepository: deps.policyRepository,
            revision,
            mode: deps.mode ?? 'inline',
            ...(deps.action ? { action: deps.action } : {}),
          });
          if (left(await recordOutcome(deps.syncState, result.report, work.generation))) return [];
          const entry = result.report.repositories[0];
          log.info({ repository: work.repository, revision, status: entry?.status, requests: result.requests, attempt: item.attempts + 1 }, 'repository synced');
          const failures = failuresOf(result.report);
          for (const failure of failures) log.error({ target: failure.target }, failure.reason);
          return failures;
        } catch (error) {
          // GitHub unreachable, the policy unreadable: the row says so, and the queue retries it.
          const dropped = await recordOutcome(deps.syncState, errorRows(work.organization, [work.repository], messageOf(error)), work.generation).catch(() => []);
          if (left(dropped)) return [];
          throw error;
        }
      }),
    deps.backoff,
  );

  queue.handle<CheckWork>(
    CHECK_KIND,
    (item, lease) => fenced(item, lease, async () => {
      const { check, failures } = item.data;
      const octokit: GitHubClient = await auth(check.installationId);
      // Superseded (by the watch, or a redelivered push) while this publish's sync ran: it stays so,
      // whatever this sync's outcome; the newer revision's check reports the sync.
      const { data: run } = await octokit.rest.checks.get({ owner: check.owner, repo: check.repo, check_run_id: check.checkRunId });
      // By the same rule as the watch and the push handler: whichever completes it last, a check a
      // newer published revision descends from ends superseded (no window between the read above and a supersede).
      const alreadySuperseded = isSuperseded(run);
      const published = await supersedingRevision(check.revision);
      if (alreadySuperseded || published !== undefined) {
        if (failures.length > 0) {
          // Fail closed: the newer revision's check reports only the repositories its own change
          // reaches, so what failed here would be on no check at all behind a neutral "Superseded".
          await completeCheckRun({ octokit, owner: check.owner, repo: check.repo }, check.checkRunId, supersededSyncFailedOutput(syncFailedOutput(check.output, check.revision, failures), published));
          log.warn({ revision: check.revision, published, failures: failures.length }, 'publish check superseded, but its sync failed: completed as failed');
        } else if (alreadySuperseded) {
          log.info({ revision: check.revision, title: run.output.title }, 'publish check already completed as superseded: left as it is');
        } else {
          await completeCheckRun({ octokit, owner: check.owner, repo: check.repo }, check.checkRunId, supersededOutput(check.revision, published!));
          log.info({ revision: check.revision, published }, 'publish check completed after the sync: superseded');
        }
        return;
      }
      const output = failures.length > 0 ? syncFailedOutput(check.output, check.revision, failures) : check.output;
      await completeCheckRun({ octokit, owner: check.owner, repo: check.repo }, check.checkRunId, output);
      log.info({ revision: check.revision, failures: failures.length }, 'publish check completed after the sync');
    }),
    deps.backoff,
  );

  /*
   * Level-triggered completion of the publish check: the fan-in completes it as the last unit
   * settles, but a queue backend that fails at that moment (a settle or the publish-check item
   * lost) would leave it in progress forever. This item, journaled with the plan, looks at the
   * check on GitHub until it is completed: once nothing of the sync is left to run (or the check
   * is stale), it completes it from the sync state; once a newer published revision descends
   * from it, as superseded. Retried with the sync's backoff while it waits.
   */
  queue.handle<WatchWork>(
    WATCH_KIND,
    (item, lease) => fenced(item, lease, async () => {
      const { check } = item.data;
      const octokit: GitHubClient = await auth(check.installationId);
      const target = { octokit, owner: check.owner, repo: check.repo };
      const { data: run } = await octokit.rest.checks.get({ owner: check.owner, repo: check.repo, check_run_id: check.checkRunId });
      if (run.status === 'completed') return;
      const published = await supersedingRevision(check.revision);
      if (published !== undefined) {
        await completeCheckRun(target, check.checkRunId, supersededOutput(check.revision, published));
        log.info({ revision: check.revision, published }, 'publish check completed: superseded');
        return;
      }
      const stale = Date.now() - Date.parse(run.started_at ?? '') > PUBLISH_CHECK_STALE_MS;
      let running = 0;
      for (const kind of [PLAN_KIND, ORGANIZATION_KIND, REPOSITORY_KIND, CHECK_KIND]) running += await queue.pending(kind);
      if (running > 0 && !stale) throw new WorkNotReadyError(`the sync after publishing ${check.revision.slice(0, 12)} is still under way (${running} units queued)`);
      // Every unit had its attempt (or it is stale) and the fan-in did not complete the check: what is in error now says how it went.
      const report = await deps.syncState.read();
      const failures = Object.values(report.organizations).flatMap((organization) => failuresOf(organization));
      await completeCheckRun(target, check.checkRunId, failures.length > 0 ? syncFailedOutput(check.output, check.revision, failures) : check.output);
      log.warn({ revision: check.revision, failures: failures.length, stale }, 'publish check completed from the sync state (its fan-in did not complete it)');
    }),
    deps.backoff,
  );

  return {
    async afterPublish(event) {
      const id = `${PLAN_KIND}:${event.previous ?? 'none'}..${event.revision}${event.check ? `#${event.check.checkRunId}` : ''}`;
      const publish = event.check ? `publish:${event.check.checkRunId}` : undefined;
      if (publish) await queue.openFanIn(publish, event.check, [id]);
      await queue.add<PlanWork>({ id, kind: PLAN_KIND, key: policyKey, data: { previous: event.previous, revision: event.revision, ...(publish ? { publish, check: event.check } : {}) } });
      if (publish && event.check) await queue.add<WatchWork>({ id: `${WATCH_KIND}:${publish}`, kind: WATCH_KIND, key: `${policyKey}#${publish}`, data: { check: event.check } });
      // Level-triggered: what is in error is tried again now, at the revision published now (a later merge repairs it).
      for (const kind of [ORGANIZATION_KIND, REPOSITORY_KIND]) await queue.retryNow(kind);
    },
    async fullSync(revision, organizations, pass) {
      let queued = 0;
      for (const organization of organizations) {
        if (await queue.add(organizationItem({ organization: organization.toLowerCase(), repositories: [], expand: 'all', revision, origin: pass }))) queued++;
      }
      return queued;
    },
    async afterSyncPullRequestMerged(event) {
      const revision = await deps.published();
      if (revision === undefined) {
        log.info({ repository: event.repository }, 'sync pull request merged before any publish: the first publish or the scheduled sync reads its coverage');
        return false;
      }
      const repository = event.repository.toLowerCase();
      // Keyed by the repository as every repository sync is: never alongside a publish's unit for it.
      return queue.add<RepositoryWork>({
        id: `${REPOSITORY_KIND}:${repository}@${revision}#merged:${event.pullRequest}@${event.mergeCommit}`,
        kind: REPOSITORY_KIND,
        key: repository,
        data: { repository: event.repository, organization: event.organization, revision, generation: await deps.syncState.generation(event.organization), ...(event.defaultBranch ? { defaultBranch: event.defaultBranch } : {}) },
      });
    },
  };
}
