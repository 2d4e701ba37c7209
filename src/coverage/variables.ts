/**
 * The Actions variables coverage evaluates a repository's steps with (docs/architecture.md#coverage):
 * as they exist on GitHub (read by `coverage --org`, or as the sync that read the workflows left
 * them), else as the store writes them; each with one of egressctl's names that no attachment owns
 * is marked `retained` (sync keeps it while managed steps fall back through it) or `unowned`. Pure:
 * the edges read GitHub.
 */
import { isOwnedVariableName } from '../policy/delivery.js';
import type { StoreState } from '../rollout/desired-state.js';
import { desiredVariables, retainedValue } from '../rollout/sync-plan.js';
import type { RepositoryVariables, UnownedVariable } from './model.js';

interface OrganizationVariables {
  organization: Record<string, string>;
  repositories: Map<string, Record<string, string>>;
}

/**
 * The variables the store asks for in each organization, per evaluated store: built once, not
 * once per workflow file (desiredVariables walks every attachment of the store and serializes
 * each policy).
 */
const storeVariablesCache = new WeakMap<StoreState, Map<string, OrganizationVariables>>();

function storeVariablesOf(state: StoreState, organization: string): OrganizationVariables {
  let byOrganization = storeVariablesCache.get(state);
  if (!byOrganization) {
    byOrganization = new Map();
    storeVariablesCache.set(state, byOrganization);
  }
  let found = byOrganization.get(organization);
  if (!found) {
    found = { organization: {}, repositories: new Map() };
    for (const variable of desiredVariables(state, [organization]).values()) {
      if (variable.level === 'organization') found.organization[variable.name] = variable.value;
      else found.repositories.set(variable.target, { ...found.repositories.get(variable.target), [variable.name]: variable.value });
    }
    byOrganization.set(organization, found);
  }
  return found;
}

function split(repository: string): { organization: string; repository: string } {
  const lower = repository.toLowerCase();
  return { organization: lower.slice(0, lower.indexOf('/')), repository: lower };
}

/** The variables the store writes for a repository's runs (`delivery: variables`), by name: the organization's, the repository's over them. */
export function storeRepositoryVariables(state: StoreState, repository: string): { organization: Record<string, string>; repository: Record<string, string> } {
  if (state.settings.delivery !== 'variables') return { organization: {}, repository: {} };
  const names = split(repository);
  const found = storeVariablesOf(state, names.organization);
  return { organization: found.organization, repository: found.repositories.get(names.repository) ?? {} };
}

/** A repository's variables as the store writes them: nothing no attachment owns (workflow files on disk, where GitHub is not read). */
export function storeVariables(state: StoreState, repository: string): RepositoryVariables {
  const found = storeRepositoryVariables(state, repository);
  return { values: { ...found.organization, ...found.repository }, unowned: {} };
}

/** Variables as read from GitHub for one repository's runs. */
export interface LiveVariables {
  /** The organization's, by name (any case); undefined: not read here, counted as the store writes them. */
  organization?: ReadonlyMap<string, string>;
  /** The repository's, by name (any case); undefined: not read here, counted as the store writes them. */
  repository?: ReadonlyMap<string, string>;
  /** Why some were not known (a listing or a write that failed). */
  unknown?: readonly string[];
}

/**
 * `live` as a sync leaves them (docs/reconciliation.md, "Variables: writes, removal, drift"): with
 * `delivery: variables`, each variable the store asks for holds the store's value, a repository
 * variable sync keeps (`retainedValue`) holds what its readers get now, and any other of our names
 * is gone; variables that are not ours stay as they are. Without it a sync writes no variable:
 * `live` as it is. Coverage under these says whether a sync can end a job's failure.
 */
export function variablesAfterSync(state: StoreState, repository: string, live: LiveVariables): LiveVariables {
  if (state.settings.delivery !== 'variables') return live;
  const store = storeRepositoryVariables(state, repository);
  const target = repository.toLowerCase();
  const settle = (found: ReadonlyMap<string, string> | undefined, asked: Readonly<Record<string, string>>, level: 'organization' | 'repository'): Map<string, string> => {
    const values = upperCased(asked);
    for (const [name, value] of upperCased(found ?? new Map<string, string>())) {
      if (!isOwnedVariableName(name)) values.set(name, value);
      else if (!values.has(name)) {
        const kept = retainedValue(state, { level, target: level === 'repository' ? target : target.slice(0, target.indexOf('/')), name });
        if (kept) values.set(name, kept.value);
      }
    }
    return values;
  };
  return { organization: settle(live.organization, store.organization, 'organization'), repository: settle(live.repository, store.repository, 'repository') };
}

/** The policy a variable's value names, when it is one of ours. */
function policyNamed(value: string): string | undefined {
  try {
    const parsed = JSON.parse(value) as { policy?: unknown };
    return typeof parsed.policy === 'string' ? parsed.policy : undefined;
  } catch {
    return undefined;
  }
}

function upperCased(values: ReadonlyMap<string, string> | Readonly<Record<string, string>>): Map<string, string> {
  const entries = values instanceof Map ? [...(values as ReadonlyMap<string, string>)] : Object.entries(values);
  return new Map(entries.map(([name, value]) => [name.toUpperCase(), value]));
}

/**
 * A repository's variables as they exist (`live`), each of egressctl's names no attachment of the
 * store owns marked: `retained` where sync keeps it for steps that may still read it (a
 * repository variable `retainedValue` holds, with `delivery: variables`), else `unowned`.
 */
export function liveRepositoryVariables(state: StoreState, repository: string, live: LiveVariables): RepositoryVariables {
  const names = split(repository);
  const store = storeRepositoryVariables(state, repository);
  const organization = upperCased(live.organization ?? store.organization);
  const own = upperCased(live.repository ?? store.repository);
  const values: Record<string, string> = Object.fromEntries([...organization, ...own]);
  const unowned: Record<string, UnownedVariable> = {};
  const managed = state.settings.delivery === 'variables';
  for (const [name, value] of Object.entries(values)) {
    if (!isOwnedVariableName(name)) continue;
    const level = own.has(name) ? 'repository' : 'organization';
    const asked = level === 'repository' ? store.repository[name] : store.organization[name];
    if (managed && asked !== undefined) continue;
    const target = level === 'repository' ? names.repository : names.organization;
    const kept = managed && level === 'repository' && retainedValue(state, { level, target, name }) !== undefined;
    const policy = policyNamed(value);
    const shadows = level === 'repository' ? organization.get(name) : undefined;
    unowned[name] = { name, level, target, status: kept ? 'retained' : 'unowned', ...(policy !== undefined ? { policy } : {}), ...(shadows !== undefined ? { shadows } : {}) };
  }
  return { values, unowned, ...(live.unknown && live.unknown.length > 0 ? { unknown: [...live.unknown] } : {}) };
}

/**
 * Actions variables as `gh variable list --json name,value` prints them (an array of objects with
 * `name` and `value`; other fields gh can add, such as `visibility` or `updatedAt`, are ignored),
 * by upper-case name: GitHub's names are case-insensitive. `errors`: what is wrong, each located
 * by index; the caller prefixes the file.
 */
export function parseVariableList(text: string): { value: Map<string, string>; errors: string[] } {
  const value = new Map<string, string>();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { value, errors: [`not JSON: ${(error as Error).message}`] };
  }
  if (!Array.isArray(parsed)) return { value, errors: ['expected an array of {"name", "value"} as `gh variable list --json name,value` prints it'] };
  const errors: string[] = [];
  parsed.forEach((item: unknown, index) => {
    const entry = (item !== null && typeof item === 'object' ? item : {}) as { name?: unknown; value?: unknown };
    if (typeof entry.name !== 'string' || entry.name === '') {
      errors.push(`[${index}]: "name" must be a non-empty string`);
      return;
    }
    if (typeof entry.value !== 'string') {
      errors.push(`[${index}] (${entry.name}): "value" must be a string`);
      return;
    }
    const name = entry.name.toUpperCase();
    if (value.has(name)) errors.push(`[${index}]: ${name} is listed twice`);
    value.set(name, entry.value);
  });
  return { value, errors };
}
