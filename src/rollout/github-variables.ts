/**
 * Actions variables on GitHub for `delivery: variables` (docs/reconciliation.md): apply the
 * writes and deletions sync planned (sync-plan.ts), and the scheduled pass that re-asserts every
 * variable the store owns (GitHub sends no webhook when a person edits one) and reports drift.
 * Names are ours by convention (EGRESSCTL_POLICY, EGRESSCTL_REPO_POLICY, EGRESSCTL_WF_*): a
 * variable with such a name that the store does not ask for is removed, but a repository variable
 * that managed steps may still fall back through is first kept, holding what they get now, until
 * none does (`retire`, after the rollout read the workflows).
 */
import { isOwnedVariableName, POLICY_VARIABLE, REPOSITORY_POLICY_VARIABLE } from '../policy/delivery.js';
import type { GitHubClient } from '../github/client.js';
import type { VariableEntry } from './sync-report.js';
import { stepsStillReading, type DesiredVariable, type VariableWrite } from './sync-plan.js';
import { gitHubStatus, messageOf } from '../util/errors.js';


/** The report's reason for a variable kept after its attachment went (docs/reconciliation.md, "Variables: writes, removal, drift"). */
function retainedReason(policy: string, readers?: string): string {
  const who = readers ?? 'managed steps may still fall back through it';
  return `no attachment owns it any more, but ${who}: kept, holding policy ${policy} (what they get now), until no managed step reads it, then removed (deleting it now would give them the fallback of their former, maybe weaker, policy)`;
}

/** The workflow files a rollout read per repository (lower-cased `owner/repo`), as `retire` takes them. */
export type WorkflowsRead = ReadonlyMap<string, readonly { path: string; text: string }[]>;

/**
 * Repository variables `reassert` should keep rather than remove when the store no longer asks
 * for them (sync-plan.ts `retainedValue`): the value to hold, or undefined to remove.
 */
export type RetainPolicy = (variable: { level: 'organization' | 'repository'; target: string; name: string }) => DesiredVariable | undefined;

function split(target: string): { owner: string; repo: string } {
  const [owner = '', repo = ''] = target.split('/');
  return { owner, repo };
}

/** Counts requests made through it (for reports and benchmarks). */
export class VariableWriter {
  requests = 0;
  constructor(private readonly client: GitHubClient) {}

  private get rest() {
    this.requests++;
    return this.client.rest;
  }

  /** Update, or create when it does not exist yet (one write in the common case). */
  async write(variable: DesiredVariable): Promise<void> {
    const { name, value } = variable;
    try {
      if (variable.level === 'organization') await this.rest.actions.updateOrgVariable({ org: variable.target, name, value, visibility: 'all' });
      else await this.rest.actions.updateRepoVariable({ ...split(variable.target), name, value });
      return;
    } catch (error) {
      if (gitHubStatus(error) !== 404) throw error;
    }
    if (variable.level === 'organization') await this.rest.actions.createOrgVariable({ org: variable.target, name, value, visibility: 'all' });
    else await this.rest.actions.createRepoVariable({ ...split(variable.target), name, value });
  }

  async delete(variable: Pick<DesiredVariable, 'level' | 'target' | 'name'>): Promise<void> {
    try {
      if (variable.level === 'organization') await this.rest.actions.deleteOrgVariable({ org: variable.target, name: variable.name });
      else await this.rest.actions.deleteRepoVariable({ ...split(variable.target), name: variable.name });
    } catch (error) {
      // Already gone: that is what we wanted.
      if (gitHubStatus(error) !== 404) throw error;
    }
  }

  /** Apply planned changes; each result says what happened (errors are reported, the rest continues). */
  async apply(changes: readonly VariableWrite[]): Promise<VariableEntry[]> {
    const entries: VariableEntry[] = [];
    for (const change of changes) {
      const { level, target, name } = change.variable;
      const policy = 'policy' in change.variable ? change.variable.policy : undefined;
      try {
        if (change.action === 'write') {
          await this.write(change.variable as DesiredVariable);
          entries.push({ level, target, name, value: (change.variable as DesiredVariable).value, ...(policy ? { policy } : {}), status: 'written' });
        } else if (change.action === 'retain') {
          const kept = change.variable as DesiredVariable;
          await this.write(kept);
          entries.push({ level, target, name, value: kept.value, policy: kept.policy, status: 'retained', reason: retainedReason(kept.policy) });
        } else {
          await this.delete(change.variable);
          entries.push({ level, target, name, value: null, status: 'deleted', reason: 'its attachment or policy was removed' });
        }
      } catch (error) {
        entries.push({ level, target, name, value: null, status: 'error', reason: messageOf(error) });
      }
    }
    return entries;
  }

  /**
   * Why the managed steps of each repository may not read variables now (docs/reconciliation.md,
   * "Variables: writes, removal, drift"): a variable they read whose write or removal failed, or
   * that was written but does not read back with the value the store asks for. A repository
   * missing from the answer is confirmed. A repository's steps read its workflow variables and
   * `EGRESSCTL_REPO_POLICY` when it is attached, else the organization's `EGRESSCTL_POLICY`.
   * Reads back only what `entries` say was written or removed (what was found equal was read).
   */
  async confirm(organization: string, desired: ReadonlyMap<string, DesiredVariable>, repositories: readonly string[], entries: readonly VariableEntry[]): Promise<Map<string, string[]>> {
    const org = organization.toLowerCase();
    const problems = new Map<string, string[]>();
    const add = (repository: string, problem: string) => problems.set(repository, [...(problems.get(repository) ?? []), problem]);
    const touched = (level: string, target: string) => entries.filter((entry) => entry.level === level && entry.target === target);
    const wanted = [...desired.values()];
    const orgVariable = wanted.find((variable) => variable.level === 'organization' && variable.target === org && variable.name === POLICY_VARIABLE);
    const readBack = new Map<string, Promise<Map<string, string> | Error>>();
    const live = (level: 'organization' | 'repository', target: string) => {
      const key = `${level}:${target}`;
      let found = readBack.get(key);
      if (!found) {
        found = (level === 'organization' ? this.listOrg(target) : this.listRepo(target)).catch((error: unknown) => new Error(messageOf(error)));
        readBack.set(key, found);
      }
      return found;
    };
    const check = async (repository: string, level: 'organization' | 'repository', target: string, reads: readonly DesiredVariable[], readsAlso: readonly string[]) => {
      for (const entry of touched(level, target)) {
        const read = entry.name === '*' || reads.some((variable) => variable.name === entry.name) || readsAlso.includes(entry.name);
        if (read && entry.status === 'error') add(repository, `${entry.name} on ${target}: ${entry.reason ?? 'not written'}`);
      }
      const written = reads.filter((variable) => touched(level, target).some((entry) => entry.name === variable.name && (entry.status === 'written' || entry.status === 'drift-restored')));
      const removed = readsAlso.filter((name) => touched(level, target).some((entry) => entry.name === name && entry.status === 'deleted'));
      // Kept for steps that may still read it: it must hold what they get now.
      const retained = touched(level, target).filter((entry) => entry.status === 'retained' && readsAlso.includes(entry.name));
      if (written.length === 0 && removed.length === 0 && retained.length === 0) return;
      const values = await live(level, target);
      if (values instanceof Error) {
        add(repository, `variables of ${target} cannot be read back: ${values.message}`);
        return;
      }
      for (const variable of written) if (values.get(variable.name) !== variable.value) add(repository, `${variable.name} on ${target}: written, but it does not read back with the store's value`);
      for (const name of removed) if (values.has(name)) add(repository, `${name} on ${target}: removed, but it is still there`);
      for (const entry of retained) if (values.get(entry.name) !== entry.value) add(repository, `${entry.name} on ${target}: kept for the steps that still read it, but it does not read back with the value they should get`);
    };
    for (const name of repositories) {
      const repository = name.toLowerCase();
      const own = wanted.filter((variable) => variable.level === 'repository' && variable.target === repository);
      // Removed repository variables matter too: one left behind would shadow what the store says.
      await check(repository, 'repository', repository, own, touched('repository', repository).map((entry) => entry.name).filter(isOwnedVariableName));
      // The organization's: its EGRESSCTL_POLICY unless the repository has its own, and any of our
      // names there whose write or removal failed (one left behind overrides the steps' fallback),
      // whether or not the store still asks for an organization variable.
      // An attached repository's steps read EGRESSCTL_REPO_POLICY, not the organization's variable.
      const shadowed = own.some((variable) => variable.name === REPOSITORY_POLICY_VARIABLE);
      const orgReads = orgVariable && !shadowed ? [orgVariable] : [];
      const orgAlso = touched('organization', org)
        .map((entry) => entry.name)
        .filter((name) => isOwnedVariableName(name) && !(shadowed && name === POLICY_VARIABLE) && !orgReads.some((variable) => variable.name === name));
      await check(repository, 'organization', org, orgReads, orgAlso);
    }
    return problems;
  }

  /**
   * Why the organization's own variables are not in place after `entries` (what reassert wrote or
   * removed there): a write or removal that failed, an unreadable listing, or one that does not
   * read back with the store's value. Empty: every repository step may read them.
   */
  async confirmOrganization(organization: string, desired: ReadonlyMap<string, DesiredVariable>, entries: readonly VariableEntry[]): Promise<string[]> {
    const org = organization.toLowerCase();
    const here = entries.filter((entry) => entry.level === 'organization' && entry.target === org);
    const problems = here.filter((entry) => entry.status === 'error').map((entry) => (entry.name === '*' ? `variables of ${org} cannot be read: ${entry.reason ?? 'failed'}` : `${entry.name} on ${org}: ${entry.reason ?? 'not written'}`));
    const written = [...desired.values()].filter((variable) => variable.level === 'organization' && variable.target === org && here.some((entry) => entry.name === variable.name && (entry.status === 'written' || entry.status === 'drift-restored')));
    const removed = here.filter((entry) => entry.status === 'deleted').map((entry) => entry.name);
    if (written.length === 0 && removed.length === 0) return problems;
    let values: Map<string, string>;
    try {
      values = await this.listOrg(org);
    } catch (error) {
      return [...problems, `variables of ${org} cannot be read back: ${messageOf(error)}`];
    }
    for (const variable of written) if (values.get(variable.name) !== variable.value) problems.push(`${variable.name} on ${org}: written, but it does not read back with the store's value`);
    for (const name of removed) if (values.has(name)) problems.push(`${name} on ${org}: removed, but it is still there`);
    return problems;
  }

  /**
   * After the rollout read each repository's workflows (`workflows`, as on the default branch):
   * every variable `entries` say was kept (`retained`) is removed when no managed step would get
   * anything else without it (sync-plan.ts `stepsStillReading`); else its entry names the steps
   * that still read it. A repository whose workflows the rollout did not read (its sync PR up to
   * date) has them read here, from the default branch; one that cannot be read keeps it (fail
   * closed). `desired`: what the store asks for, the variables the steps' chains go on to.
   * Returns `entries` with those decided replaced.
   */
  async retire(organization: string, desired: ReadonlyMap<string, DesiredVariable>, entries: readonly VariableEntry[], workflows: WorkflowsRead): Promise<VariableEntry[]> {
    const org = organization.toLowerCase();
    const orgValue = (name: string) => [...desired.values()].find((variable) => variable.level === 'organization' && variable.target === org && variable.name === name)?.value;
    // What each repository holds now, kept up to date as variables are removed (one removal can make another needed).
    const held = new Map<string, Map<string, string>>();
    const heldBy = (target: string) => {
      let values = held.get(target);
      if (!values) {
        values = new Map();
        for (const variable of desired.values()) if (variable.level === 'repository' && variable.target === target) values.set(variable.name, variable.value);
        for (const entry of entries) if (entry.level === 'repository' && entry.target === target && entry.status === 'retained' && entry.value !== null) values.set(entry.name, entry.value);
        held.set(target, values);
      }
      return values;
    };
    const result: VariableEntry[] = [];
    const readHere = new Map<string, readonly { path: string; text: string }[]>();
    for (const entry of entries) {
      if (entry.level !== 'repository' || entry.status !== 'retained' || entry.value === null) {
        result.push(entry);
        continue;
      }
      const policy = entry.policy ?? 'unknown';
      let read = workflows.get(entry.target) ?? readHere.get(entry.target);
      if (!read) {
        try {
          read = await this.defaultBranchWorkflows(entry.target);
          readHere.set(entry.target, read);
        } catch (error) {
          result.push({ ...entry, reason: retainedReason(policy, `the repository's workflows could not be read (${messageOf(error)})`) });
          continue;
        }
      }
      const values = heldBy(entry.target);
      const present = (name: string) => (name === entry.name ? undefined : values.get(name)) ?? orgValue(name);
      const readers = stepsStillReading(entry.name, entry.value, read, present);
      if (readers.length > 0) {
        const names = readers.map((reader) => (reader.job === '*' ? `${reader.path} (does not parse)` : `${reader.path} job ${reader.job}`)).join(', ');
        result.push({ ...entry, reason: retainedReason(policy, `managed steps still fall back through it: ${names}`) });
        continue;
      }
      try {
        await this.delete(entry);
        values.delete(entry.name);
        result.push({ ...entry, value: null, status: 'deleted', reason: 'not owned by any attachment in the store, and no managed step reads it any more: removed' });
      } catch (error) {
        result.push({ ...entry, value: null, status: 'error', reason: messageOf(error) });
      }
    }
    return result;
  }

  /** The `.github/workflows/*.yml` files of a repository's default branch (none: no such folder). */
  async defaultBranchWorkflows(target: string): Promise<{ path: string; text: string }[]> {
    let listing: unknown;
    try {
      listing = (await this.rest.repos.getContent({ ...split(target), path: '.github/workflows' })).data;
    } catch (error) {
      if (gitHubStatus(error) === 404) return [];
      throw error;
    }
    if (!Array.isArray(listing)) return [];
    const files = (listing as { type: string; name: string; path: string }[]).filter((entry) => entry.type === 'file' && /\.ya?ml$/i.test(entry.name));
    const texts: { path: string; text: string }[] = [];
    for (const file of files) {
      const { data } = await this.rest.repos.getContent({ ...split(target), path: file.path, mediaType: { format: 'raw' } });
      // Not text: cannot tell whether a step reads the variable, so it is kept.
      if (typeof data !== 'string') throw new Error(`${file.path} was not returned as text`);
      texts.push({ path: file.path, text: data });
    }
    return texts;
  }

  private async listOrg(org: string): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    for (let page = 1; ; page++) {
      const { data } = await this.rest.actions.listOrgVariables({ org, per_page: 30, page });
      for (const variable of data.variables) found.set(variable.name.toUpperCase(), variable.value);
      if (data.variables.length < 30) return found;
    }
  }

  private async listRepo(target: string): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    for (let page = 1; ; page++) {
      const { data } = await this.rest.actions.listRepoVariables({ ...split(target), per_page: 30, page });
      for (const variable of data.variables) found.set(variable.name.toUpperCase(), variable.value);
      if (data.variables.length < 30) return found;
    }
  }

  /**
   * The scheduled pass: read the organization's variables and those of each repository, put back
   * what differs from the store (reported as drift), remove our names the store no longer owns.
   */
  async reassert(
    organization: string,
    desired: ReadonlyMap<string, DesiredVariable>,
    repositories: readonly string[],
    options: { dryRun?: boolean; retain?: RetainPolicy; /** False: only the repositories' own variables (the App's repository sync). */ organizationLevel?: boolean } = {},
  ): Promise<VariableEntry[]> {
    const org = organization.toLowerCase();
    const entries: VariableEntry[] = [];
    const check = async (level: 'organization' | 'repository', target: string, live: Map<string, string>) => {
      const wanted = [...desired.values()].filter((variable) => variable.level === level && variable.target === target);
      for (const variable of wanted) {
        const current = live.get(variable.name);
        live.delete(variable.name);
        if (current === variable.value) {
          entries.push({ level, target, name: variable.name, value: variable.value, policy: variable.policy, status: 'unchanged' });
          continue;
        }
        if (options.dryRun) {
          entries.push({ level, target, name: variable.name, value: current ?? null, policy: variable.policy, status: 'out-of-sync', reason: current === undefined ? 'missing' : `edited on GitHub (value differs from policy ${variable.policy})` });
          continue;
        }
        try {
          await this.write(variable);
          entries.push({
            level,
            target,
            name: variable.name,
            value: variable.value,
            policy: variable.policy,
            status: current === undefined ? 'written' : 'drift-restored',
            ...(current === undefined ? { reason: 'missing: created' } : { reason: `edited on GitHub (value differed from policy ${variable.policy}): put back` }),
          });
        } catch (error) {
          entries.push({ level, target, name: variable.name, value: null, status: 'error', reason: messageOf(error) });
        }
      }
      for (const [name, current] of live) {
        if (!isOwnedVariableName(name)) continue;
        const kept = options.retain?.({ level, target, name });
        if (kept) {
          // Steps written before may still fall back through it: held at what they get now; `retire` removes it once none does.
          if (current === kept.value) {
            entries.push({ level, target, name, value: current, policy: kept.policy, status: 'retained', reason: retainedReason(kept.policy) });
            continue;
          }
          if (options.dryRun) {
            entries.push({ level, target, name, value: current, policy: kept.policy, status: 'out-of-sync', reason: `not owned by any attachment in the store: would be kept for the steps that may still read it, holding policy ${kept.policy}` });
            continue;
          }
          try {
            await this.write(kept);
            entries.push({ level, target, name, value: kept.value, policy: kept.policy, status: 'retained', reason: retainedReason(kept.policy) });
          } catch (error) {
            entries.push({ level, target, name, value: null, status: 'error', reason: messageOf(error) });
          }
          continue;
        }
        if (options.dryRun) {
          entries.push({ level, target, name, value: live.get(name) ?? null, status: 'out-of-sync', reason: 'not owned by any attachment in the store' });
          continue;
        }
        try {
          await this.delete({ level, target, name });
          entries.push({ level, target, name, value: null, status: 'deleted', reason: 'not owned by any attachment in the store: removed' });
        } catch (error) {
          entries.push({ level, target, name, value: null, status: 'error', reason: messageOf(error) });
        }
      }
    };
    // Unreadable: each variable the store wants there is not in place (named, so reports say which), nor is what else is there.
    const unreadable = (level: 'organization' | 'repository', target: string, error: unknown) => {
      const reason = messageOf(error);
      for (const variable of desired.values()) {
        if (variable.level === level && variable.target === target) entries.push({ level, target, name: variable.name, value: null, policy: variable.policy, status: 'error', reason });
      }
      entries.push({ level, target, name: '*', value: null, status: 'error', reason });
    };
    if (options.organizationLevel !== false) {
      try {
        await check('organization', org, await this.listOrg(org));
      } catch (error) {
        unreadable('organization', org, error);
      }
    }
    for (const repository of repositories) {
      const target = repository.toLowerCase();
      try {
        await check('repository', target, await this.listRepo(target));
      } catch (error) {
        unreadable('repository', target, error);
      }
    }
    return entries;
  }
}

