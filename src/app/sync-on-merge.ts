/**
 * Sync on merge (docs/reconciliation.md): what a publish affects, between the previously
 * published revision and this one. The review engine's changed scopes name the repositories;
 * organization scopes are expanded later, through the installation's repository list (by the
 * organization's unit of work, sync-work.ts); settings that shape every step (pin, unattached,
 * delivery, the firewall target) name every repository of the managed organizations.
 * Unaffected repositories cost no request: this reads git only.
 */
import { attachmentMap } from '../policy/model.js';
import type { PolicyRepository } from '../store/repository.js';
import { loadPolicyRepository } from '../store/repository.js';
import { prepareReviewInput, reviewChange } from '../review/review.js';
import { affectedScopes, shadowedRepositories, type AffectedScopes } from '../rollout/sync-plan.js';

export interface PublishedEvent {
  /** The policy repository's mirror (both revisions are in it). */
  dir: string;
  /** The revision published before this one (undefined: the first publish). */
  previous: string | undefined;
  revision: string;
}

/** What one organization's unit of work does for a publish (sync-work.ts). */
export interface OrganizationPlan {
  /** Lower-cased. */
  organization: string;
  /** `owner/repo`, lower-cased: named by the change (repository and workflow scopes). */
  repositories: string[];
  /**
   * Also list the installation's repositories of the organization: `all` of them (delivery or the
   * firewall target changed), or those its own attachment `reaches` (an organization scope;
   * `shadowed` repositories have their own attachment at both revisions and keep their policy).
   */
  expand?: 'all' | 'reaches';
  shadowed?: string[];
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

/**
 * Per organization, what the change from `before` to `after` asks to sync (data in, data out).
 * With `delivery: variables` at both revisions, an organization scope reaches its repositories
 * through the organization's variable (written by the organization's unit of work): only the
 * repositories the change names are synced, so one without the managed step gets the PR that
 * installs it; the scheduled sync covers the rest.
 */
export function planOrganizations(before: PolicyRepository, after: PolicyRepository, affectedByScopes: AffectedScopes): OrganizationPlan[] {
  const managed = after.settings.organizations;
  let affected = affectedByScopes;
  if (settingsChanged(before, after)) affected = { organizations: [...new Set([...affected.organizations, ...managed])].sort(), repositories: affected.repositories };
  const firewallChanged = JSON.stringify(before.settings.githubFirewall) !== JSON.stringify(after.settings.githubFirewall);
  const switched = before.settings.delivery !== after.settings.delivery;
  const bothVariables = before.settings.delivery === 'variables' && after.settings.delivery === 'variables' && !firewallChanged;
  const plans: OrganizationPlan[] = [];
  for (const organization of organizationsOf(affected).filter((org) => managed.length === 0 || managed.includes(org))) {
    const repositories = affected.repositories.filter((name) => name.startsWith(`${organization}/`));
    const plan: OrganizationPlan = { organization, repositories };
    if (!bothVariables) {
      if (switched || firewallChanged) plan.expand = 'all';
      else if (affected.organizations.includes(organization)) {
        plan.expand = 'reaches';
        plan.shadowed = shadowedRepositories(organization, attachmentMap(before.attachments), attachmentMap(after.attachments));
      }
    }
    plans.push(plan);
  }
  return plans;
}

/**
 * The plan of a publish: reads both revisions from the mirror (git only, no request to GitHub).
 * Both are compared as of now, as the sync writes them (expired exceptions left out): a change
 * that only moves an exception's end date into the past removes that endpoint from the steps
 * now, not at the next scheduled sync; one that moves a date still ahead changes no step.
 */
export async function planPublish(event: PublishedEvent & { previous: string }): Promise<{ after: PolicyRepository; organizations: OrganizationPlan[] }> {
  const [base, head] = await Promise.all([loadPolicyRepository({ dir: event.dir, rev: event.previous }), loadPolicyRepository({ dir: event.dir, rev: event.revision })]);
  // One clock read: the review takes both revisions as they stand at this instant, as the PR's preview does.
  const review = reviewChange(prepareReviewInput(base.value), prepareReviewInput(head.value), { at: Date.now() });
  return { after: head.value, organizations: planOrganizations(base.value, head.value, affectedScopes(review.scopes)) };
}
