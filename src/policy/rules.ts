/**
 * Rules that need the whole repository: references between policies and from attachments.
 * Each is small, pure and reports located findings.
 */
import { closest } from 'fastest-levenshtein';
import type { DiagnosticSink } from './diagnostics.js';
import { POLICIES_DIR, type LockdownMode, type Policy, type PolicySet } from './model.js';
import { ruleBlockWithoutGitHub, type ObservedJobs } from './rule-checkout.js';
import { ruleVariablesFit } from './rule-variables.js';
import { extendsDepths, MAX_EXTENDS_DEPTH } from './flatten.js';

interface RepositoryRuleContext {
  /** With the baselines when the policy repository has them (rules that weigh evidence). */
  repository: PolicySet & { baselines?: ObservedJobs };
  sink: DiagnosticSink;
}

type RepositoryRule = (context: RepositoryRuleContext) => void;

function suggestion(name: string, known: Iterable<string>): string {
  const names = [...known];
  return names.length > 0 ? `; did you mean "${closest(name, names)}"?` : '; there are no policies yet';
}

/**
 * Whether a policy of this name is under policies/, parsed or not: a file that failed to parse
 * has its own error, and references to it are not errors of their own (issue 23).
 */
function policyExists(repository: PolicySet, name: string): boolean {
  if (repository.policies.has(name)) return true;
  return repository.files.has(`${POLICIES_DIR}/${name}.yml`) || repository.files.has(`${POLICIES_DIR}/${name}.yaml`);
}

const ruleExtendsUnknown: RepositoryRule = ({ repository, sink }) => {
  for (const policy of repository.policies.values()) {
    for (const parent of policy.extends) {
      if (!policyExists(repository, parent.name)) {
        sink.error(
          'policy/extends-unknown',
          parent.at,
          `policy "${policy.name}" extends "${parent.name}", which does not exist under policies/${suggestion(parent.name, repository.policies.keys())}`,
        );
      }
    }
  }
};

/** Every cycle reported once, at the `extends` entry that closes it in each member. */
const ruleExtendsCycle: RepositoryRule = ({ repository, sink }) => {
  for (const cycle of findExtendsCycles(repository.policies)) {
    for (const [index, name] of cycle.entries()) {
      const next = cycle[(index + 1) % cycle.length];
      const reference = repository.policies.get(name)?.extends.find((parent) => parent.name === next);
      if (!reference || cycle.length === 1) continue;
      sink.error(
        'policy/extends-cycle',
        reference.at,
        `extends forms a cycle: ${[...cycle.slice(index), ...cycle.slice(0, index), name].join(' -> ')}: remove one of these extends`,
      );
    }
  }
};

/**
 * An `extends` chain deeper than MAX_EXTENDS_DEPTH, reported once where it crosses the limit: at
 * the `extends` entry of the policy one level too deep (deeper policies of the same chain would
 * only repeat it).
 */
const ruleExtendsTooDeep: RepositoryRule = ({ repository, sink }) => {
  const depths = extendsDepths(repository.policies);
  for (const policy of repository.policies.values()) {
    const own = depths.get(policy.name);
    if (!own || own.depth !== MAX_EXTENDS_DEPTH + 1 || own.via === undefined) continue;
    const reference = policy.extends.find((parent) => parent.name === own.via);
    if (!reference) continue;
    const chain: string[] = [policy.name];
    for (let name: string | undefined = own.via; name !== undefined && chain.length < 5; name = depths.get(name)?.via) chain.push(name);
    let root = own.via;
    while (depths.get(root)?.via !== undefined) root = depths.get(root)!.via!;
    sink.error(
      'policy/extends-too-deep',
      reference.at,
      `policy "${policy.name}" extends a chain ${own.depth} levels deep (${chain.join(' -> ')} -> ... -> ${root}); at most ${MAX_EXTENDS_DEPTH} levels are allowed: extend a shared base directly instead of through every level`,
    );
  }
};

/** Strongly connected groups of size > 1 in the extends graph (Tarjan). */
export function findExtendsCycles(policies: ReadonlyMap<string, Policy>): string[][] {
  const indexOf = new Map<string, number>();
  const lowLink = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  let counter = 0;
  const visit = (name: string): void => {
    indexOf.set(name, counter);
    lowLink.set(name, counter);
    counter++;
    stack.push(name);
    onStack.add(name);
    for (const parent of policies.get(name)?.extends ?? []) {
      if (!policies.has(parent.name) || parent.name === name) continue;
      if (!indexOf.has(parent.name)) {
        visit(parent.name);
        lowLink.set(name, Math.min(lowLink.get(name) ?? 0, lowLink.get(parent.name) ?? 0));
      } else if (onStack.has(parent.name)) {
        lowLink.set(name, Math.min(lowLink.get(name) ?? 0, indexOf.get(parent.name) ?? 0));
      }
    }
    if (lowLink.get(name) === indexOf.get(name)) {
      const component: string[] = [];
      let member: string | undefined;
      do {
        member = stack.pop();
        if (member === undefined) break;
        onStack.delete(member);
        component.push(member);
      } while (member !== name);
      if (component.length > 1) cycles.push(orderCycle(component.reverse(), policies));
    }
  };
  for (const name of [...policies.keys()].sort()) if (!indexOf.has(name)) visit(name);
  return cycles;
}

/** Order a component along its extends edges, starting from its smallest name. */
function orderCycle(component: string[], policies: ReadonlyMap<string, Policy>): string[] {
  const members = new Set(component);
  const start = [...component].sort()[0] ?? '';
  const ordered = [start];
  let current = start;
  while (ordered.length < component.length) {
    const next = policies.get(current)?.extends.map((parent) => parent.name).find((name) => members.has(name) && !ordered.includes(name));
    if (!next) break;
    ordered.push(next);
    current = next;
  }
  return ordered.length === component.length ? ordered : [...component].sort();
}

const ruleAttachmentUnknownPolicy: RepositoryRule = ({ repository, sink }) => {
  for (const attachment of repository.attachments) {
    if (!policyExists(repository, attachment.policy)) {
      sink.error(
        'attachment/unknown-policy',
        attachment.at,
        `${attachment.type} "${attachment.key}" is attached to "${attachment.policy}", which does not exist under policies/${suggestion(
          attachment.policy,
          repository.policies.keys(),
        )}`,
      );
    }
  }
};

/** Policy files under policies/ that did not parse into a policy (they have their own errors). */
function unparsedPolicies(repository: PolicySet): boolean {
  for (const file of repository.files.keys()) {
    const name = /^policies\/([^/]+)\.ya?ml$/.exec(file)?.[1];
    if (name !== undefined && !repository.policies.has(name)) return true;
  }
  return false;
}

/** A policy nobody attaches and nobody extends does nothing: say so. */
const rulePolicyNotAttached: RepositoryRule = ({ repository, sink }) => {
  // What a policy that failed to parse extends is unknown: its parents would be called unused.
  if (unparsedPolicies(repository)) return;
  const used = new Set(repository.attachments.map((attachment) => attachment.policy));
  for (const policy of repository.policies.values()) for (const parent of policy.extends) used.add(parent.name);
  for (const policy of repository.policies.values()) {
    if (!used.has(policy.name)) {
      sink.warning(
        'policy/not-attached',
        policy.at,
        `policy "${policy.name}" is not attached: attach it with "egressctl attach ${policy.name} --org|--repository|--workflow|--cluster ..." or delete it`,
      );
    }
  }
};

/**
 * Lockdown mode acts on ARC runners only (the job-started hook hands it to the agent there); a
 * lockdown policy attached to an organization, repository or workflow also reaches jobs on
 * GitHub-hosted runners, which run it without lockdown. Say so where it is attached.
 */
const ruleLockdownOutsideClusters: RepositoryRule = ({ repository, sink }) => {
  const lockdown = lockdownSource(repository.policies);
  for (const attachment of repository.attachments) {
    if (attachment.type === 'cluster') continue;
    const source = lockdown(attachment.policy);
    if (source === undefined) continue;
    const via = source === attachment.policy ? '' : ` (from "${source}", which it extends)`;
    sink.warning(
      'attachment/lockdown-not-applied',
      attachment.at,
      `policy "${attachment.policy}" enables lockdown-mode${via}, which acts on ARC clusters only: jobs of ${attachment.type} "${attachment.key}" on GitHub-hosted runners get the policy without it; attach lockdown policies to clusters`,
    );
  }
};

/** The policy whose `lockdown-mode` a policy ends up with, own or inherited as compile does it, when that one is enabled. */
function lockdownSource(policies: ReadonlyMap<string, Policy>): (name: string) => string | undefined {
  const effective = new Map<string, { from: string; mode: LockdownMode } | undefined>();
  const inProgress = new Set<string>();
  const visit = (name: string): { from: string; mode: LockdownMode } | undefined => {
    if (effective.has(name)) return effective.get(name);
    const policy = policies.get(name);
    if (!policy || inProgress.has(name)) return undefined;
    inProgress.add(name);
    // The policy's own key wins; among parents a later entry of `extends` wins.
    let result = policy.lockdownMode ? { from: name, mode: policy.lockdownMode } : undefined;
    if (!result) for (const parent of policy.extends) result = visit(parent.name) ?? result;
    inProgress.delete(name);
    effective.set(name, result);
    return result;
  };
  return (name) => {
    const result = visit(name);
    return result && result.mode.enabled && result.mode.detections.length > 0 ? result.from : undefined;
  };
}

export const REPOSITORY_RULES: readonly RepositoryRule[] = [
  ruleExtendsUnknown,
  ruleExtendsCycle,
  ruleExtendsTooDeep,
  ruleAttachmentUnknownPolicy,
  rulePolicyNotAttached,
  ruleLockdownOutsideClusters,
  ruleVariablesFit,
  ruleBlockWithoutGitHub,
];

export function checkRepository(repository: PolicySet & { baselines?: ObservedJobs }, sink: DiagnosticSink): void {
  for (const rule of REPOSITORY_RULES) rule({ repository, sink });
}
