/**
 * Pure planning for sync (docs/reconciliation.md): the store as desired state, a digest of one
 * repository's desired state (recorded in the sync PR so that a closed PR stays closed until it
 * changes), the repositories a change touches, and the Actions variables `delivery: variables`
 * keeps. Data in, data out; GitHub I/O lives in rollout.ts and github-variables.ts.
 */
import { createHash } from 'node:crypto';
import { policiesAsOf } from '../policy/expiry.js';
import { flattenPolicies } from '../policy/flatten.js';
import { parse } from 'yaml';
import { POLICY_VARIABLE, REPOSITORY_POLICY_VARIABLE, variableValue, workflowVariableName, writtenChainOf } from '../policy/delivery.js';
import { endpointFromText, isAllowed } from '../policy/endpoint.js';
import { attachmentMap, type AttachmentMap, type CompiledPolicy } from '../policy/model.js';
import type { PolicyRepository } from '../store/repository.js';
import type { ScopeChange } from '../review/model.js';
import { stepInputsOf, type StoreState } from './desired-state.js';

/**
 * The store's desired state from a loaded policy repository; with `at`, as of that time: expired
 * exceptions are left out, so the next reconcile removes them (docs/architecture.md#expiring-exceptions).
 */
export function storeStateOf(repository: Pick<PolicyRepository, 'policies' | 'attachments' | 'settings'>, at?: Date | number): StoreState {
  const policies = flattenPolicies(repository);
  return { attachments: attachmentMap(repository.attachments), policies: at === undefined ? policies : policiesAsOf(policies, at), settings: repository.settings };
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function own(section: Record<string, string>, key: string): string | undefined {
  return Object.hasOwn(section, key) ? section[key] : undefined;
}

/** Workflow attachments of one repository (`owner/repo/.github/workflows/F` -> policy), sorted by key. */
export function workflowAttachmentsOf(attachments: AttachmentMap, repository: string): [string, string][] {
  const prefix = `${repository.toLowerCase()}/`;
  return Object.entries(attachments.workflows)
    .filter(([key]) => key.startsWith(prefix))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * What the jobs of one repository get from the store, and nothing else (a closed sync PR stays
 * closed until this changes): for the workflows without their own attachment, the winning policy
 * of the repository or else of the organization (never both: the organization's cannot win where
 * the repository has its own), or `unattached`; for each workflow attachment, its policy. A
 * policy counts by its name (the step's marker) and the inputs its step is written with: mode,
 * endpoints (block only) and flags; not its description or anything else that reaches no job.
 * With `delivery: variables` the inputs travel in variables: what counts instead is the
 * step's fallback literal (the last value of its `||` chain). Plus the pin and the delivery.
 */
export function desiredDigest(store: StoreState, repository: string): string {
  const repo = repository.toLowerCase();
  const organization = repo.slice(0, repo.indexOf('/'));
  const variables = store.settings.delivery === 'variables';
  const gets = (name: string | null) => {
    const policy = name === null ? undefined : store.policies[name];
    if (name === null || !policy) return { policy: name, unattached: store.settings.unattached };
    return { policy: name, step: variables ? fallbackLiteral(policy) : stepInputsOf(policy) };
  };
  const winner = own(store.attachments.repositories, repo) ?? own(store.attachments.organizations, organization) ?? null;
  const attached = workflowAttachmentsOf(store.attachments, repo);
  // The policies the jobs get: the winner and each workflow attachment's.
  const used = new Set([winner, ...attached.map(([, name]) => name)].filter((name): name is string => name !== null));
  return sha256(
    JSON.stringify({
      workflows: gets(winner),
      attached: attached.map(([key, name]) => [key, gets(name)]),
      delivery: store.settings.delivery,
      pin: store.settings.hardenRunner,
      // Only when on, so turning the firewall target on changes the digest and leaving it off changes nothing.
      // The firewall file holds policy contents even with variables delivery.
      ...(store.settings.githubFirewall?.enabled ? { firewall: store.settings.githubFirewall, firewallPolicies: variables ? [...used].sort().map((name) => store.policies[name] ?? null) : null } : {}),
    }),
  ).slice(0, 32);
}

/** The literal a managed step falls back to when no variable reaches it: the policy's variable value (desired-state.ts `delivered`). */
function fallbackLiteral(policy: CompiledPolicy): string {
  return variableValue(policy);
}

/** Endpoints a job was seen using that a block policy's endpoints would not allow (evidence for the PR body). */
export function blockedByPolicy(seen: readonly string[], allowed: readonly string[]): string[] {
  const patterns = allowed.map(endpointFromText);
  return seen.filter((text) => {
    const endpoint = endpointFromText(text);
    return !isAllowed(patterns, endpoint.host, endpoint.port);
  });
}

/** What a change of the store touches: repositories by name, and organizations to expand through the API. */
export interface AffectedScopes {
  /** Lower-cased organizations whose own attachment's effect changed (every repository of them may be affected). */
  organizations: string[];
  /** Lower-cased `owner/repo`. */
  repositories: string[];
}

/** From the review engine's changed scopes (src/review/scopes.ts): workflows count for their repository, clusters for none. */
export function affectedScopes(scopes: readonly Pick<ScopeChange, 'type' | 'key'>[]): AffectedScopes {
  const organizations = new Set<string>();
  const repositories = new Set<string>();
  for (const scope of scopes) {
    const key = scope.key.toLowerCase();
    if (scope.type === 'organization') organizations.add(key);
    else if (scope.type === 'repository') repositories.add(key);
    else if (scope.type === 'workflow') {
      const parts = key.split('/');
      if (parts.length >= 2) repositories.add(`${parts[0]}/${parts[1]}`);
    }
  }
  return { organizations: [...organizations].sort(), repositories: [...repositories].sort() };
}

/**
 * Repositories of `organization` an organization-scope change does not reach: those with their
 * own repository attachment at both revisions (they keep their policy whatever the
 * organization's says). Lower-cased, sorted. The App's organization unit leaves them out of its
 * listing (docs/reconciliation.md#sync).
 */
export function shadowedRepositories(organization: string, base: AttachmentMap, head: AttachmentMap): string[] {
  const prefix = `${organization.toLowerCase()}/`;
  return Object.keys(head.repositories)
    .filter((name) => name.startsWith(prefix) && Object.hasOwn(base.repositories, name))
    .sort();
}

// --- Actions variables (delivery: variables) ---------------------------------------------

export interface DesiredVariable {
  /** `organization` (an organization variable) or `repository` (`owner/repo`). */
  level: 'organization' | 'repository';
  /** The organization or `owner/repo`, lower-cased. */
  target: string;
  name: string;
  value: string;
  /** The policy and the attachment it comes from, for reports. */
  policy: string;
  scope: string;
}

/** `level:target:name`: one variable. */
export function variableId(variable: Pick<DesiredVariable, 'level' | 'target' | 'name'>): string {
  return `${variable.level}:${variable.target}:${variable.name}`;
}

/**
 * The variables the store asks for (docs/reconciliation.md, "Variables"): one per attachment of
 * an organization, repository or workflow; `organizations` limits it to those (lower-cased).
 * Attachments to a policy that does not exist own no variable (that is a validation error).
 */
export function desiredVariables(store: StoreState, organizations?: readonly string[]): Map<string, DesiredVariable> {
  const only = organizations ? new Set(organizations.map((name) => name.toLowerCase())) : undefined;
  const result = new Map<string, DesiredVariable>();
  const add = (variable: Omit<DesiredVariable, 'value'>, organization: string) => {
    if (only && !only.has(organization)) return;
    const policy = store.policies[variable.policy];
    if (!policy) return;
    const full = { ...variable, value: variableValue(policy) };
    result.set(variableId(full), full);
  };
  for (const [key, policy] of Object.entries(store.attachments.organizations)) {
    add({ level: 'organization', target: key, name: POLICY_VARIABLE, policy, scope: `organization ${key}` }, key);
  }
  for (const [key, policy] of Object.entries(store.attachments.repositories)) {
    add({ level: 'repository', target: key, name: REPOSITORY_POLICY_VARIABLE, policy, scope: `repository ${key}` }, key.slice(0, key.indexOf('/')));
  }
  for (const [key, policy] of Object.entries(store.attachments.workflows)) {
    const parts = key.split('/');
    if (parts.length < 5) continue;
    const repository = `${parts[0]}/${parts[1]}`;
    add({ level: 'repository', target: repository, name: workflowVariableName(key), policy, scope: `workflow ${key}` }, parts[0] ?? '');
  }
  return result;
}

export interface VariableWrite {
  /**
   * `retain`: a repository variable no attachment owns any more, set to what its readers get now
   * (`retainedValue`) instead of deleted, since managed steps may still fall back through it.
   */
  action: 'write' | 'delete' | 'retain';
  variable: DesiredVariable | Omit<DesiredVariable, 'value' | 'policy' | 'scope'>;
}

/**
 * What a repository variable no attachment owns any more (a removed workflow or repository
 * attachment, the repository-level `EGRESSCTL_POLICY` of before EGRESSCTL_REPO_POLICY) holds
 * while managed steps still read it: the policy the repository's workflows without an attachment
 * of their own get now (the repository's attachment, else the organization's). Every such
 * variable was read by workflows that now get exactly that. Undefined: nothing applies there
 * now, so it is removed at once (the steps' literal, their former policy, is more than the store asks).
 */
export function retainedValue(store: StoreState, variable: Pick<DesiredVariable, 'level' | 'target' | 'name'>): DesiredVariable | undefined {
  if (variable.level !== 'repository') return undefined;
  const repository = variable.target.toLowerCase();
  const organization = repository.slice(0, repository.indexOf('/'));
  const fromRepository = own(store.attachments.repositories, repository);
  const name = fromRepository ?? own(store.attachments.organizations, organization);
  const policy = name === undefined ? undefined : store.policies[name];
  if (name === undefined || !policy) return undefined;
  const scope = fromRepository !== undefined ? `repository ${repository}` : `organization ${organization}`;
  return { level: 'repository', target: repository, name: variable.name, value: variableValue(policy), policy: name, scope };
}

/**
 * What to write and delete to go from the variables of `before` to those of `after` (no I/O:
 * exactly the changed scopes). With `store` (the store at `after`), a removed repository
 * variable is retained with `retainedValue` where something applies: steps written before may
 * still fall back through it, and deleting it would give them their former (maybe weaker)
 * literal. A later full sync removes it once no step does (`stepsStillReading`).
 */
export function variableChanges(before: ReadonlyMap<string, DesiredVariable>, after: ReadonlyMap<string, DesiredVariable>, store?: StoreState): VariableWrite[] {
  const changes: VariableWrite[] = [];
  for (const [id, variable] of after) if (before.get(id)?.value !== variable.value) changes.push({ action: 'write', variable });
  for (const [id, variable] of before) {
    if (after.has(id)) continue;
    const retained = store ? retainedValue(store, variable) : undefined;
    changes.push(retained ? { action: 'retain', variable: retained } : { action: 'delete', variable: { level: variable.level, target: variable.target, name: variable.name } });
  }
  return changes.sort((a, b) => (variableId(a.variable) < variableId(b.variable) ? -1 : 1));
}

/** A managed step that would get something else if a variable were removed. */
export interface StepReading {
  /** `.github/workflows/<file>` */
  path: string;
  job: string;
}

/**
 * The steps of one repository's workflow files (`workflows`, as on its default branch) that would
 * get something other than `value` if the repository variable `name` were removed: those whose
 * chain reaches `vars.<name>` (no earlier variable answers) and, without it, would get a different
 * value: `present(n)` is what `vars.<n>` gives with that repository variable gone (GitHub's
 * resolution: the repository's over the organization's of the same name), else the step's literal. A step whose chain goes on to a variable holding the same
 * value does not need it (a workflow variable in front of EGRESSCTL_REPO_POLICY, once the sync PR
 * rewrote the step). A file that does not parse counts as reading it (fail closed).
 */
export function stepsStillReading(name: string, value: string, workflows: readonly { path: string; text: string }[], present: (name: string) => string | undefined): StepReading[] {
  const wanted = name.toUpperCase();
  const found: StepReading[] = [];
  for (const workflow of workflows) {
    if (!workflow.text.toUpperCase().includes(`VARS.${wanted}`)) continue;
    let jobs: Record<string, { steps?: unknown }>;
    try {
      jobs = ((parse(workflow.text) as { jobs?: Record<string, { steps?: unknown }> } | null)?.jobs ?? {}) as Record<string, { steps?: unknown }>;
    } catch {
      found.push({ path: workflow.path, job: '*' });
      continue;
    }
    for (const [job, body] of Object.entries(jobs)) {
      const steps = Array.isArray(body?.steps) ? (body.steps as Array<{ with?: Record<string, unknown> } | null>) : [];
      const needs = steps.some((step) => {
        const read = step?.with?.['egress-policy'];
        const chain = typeof read === 'string' ? writtenChainOf(read) : undefined;
        if (!chain || !chain.vars.includes(wanted)) return false;
        const at = chain.vars.indexOf(wanted);
        // An earlier variable answers: the step never gets this one.
        if (chain.vars.slice(0, at).some((earlier) => present(earlier) !== undefined)) return false;
        // What the step gets with it gone: the same name elsewhere (the organization's), a later variable, else the literal.
        const next = chain.vars.slice(at).map(present).find((found) => found !== undefined);
        return (next ?? chain.fallback) !== value;
      });
      if (needs) found.push({ path: workflow.path, job });
    }
  }
  return found;
}
