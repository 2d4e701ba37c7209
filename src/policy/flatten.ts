/**
 * `extends` applied (docs/architecture.md#policy-files): endpoints are the union over the whole ancestry; for scalar
 * keys the child wins, and among parents a later entry of `extends` wins over an earlier one.
 */
import { mergeEndpointExpiry } from './expiry.js';
import { PASSTHROUGH_FLAGS, lookupRecord, type CompiledPolicy, type Policy, type PolicySet } from './model.js';

/**
 * Longest `extends` chain allowed below a policy (a chain of 33 policies). Every policy's
 * compiled form lists all its ancestors and their endpoints, so a chain of n policies costs n²
 * (a 3000-deep chain took 81 s and 2.8 GB to compile); real hierarchies are a few levels deep.
 */
export const MAX_EXTENDS_DEPTH = 32;

export interface ExtendsDepth {
  /** Longest chain of `extends` below the policy: 0 when it extends nothing (known). */
  depth: number;
  /** The parent on that longest chain. */
  via?: string;
}

/**
 * Depth of every policy's `extends` chain, in one pass over the graph (an explicit stack: a
 * chain thousands deep must not overflow the call stack). Unknown parents and cycles count as
 * nothing: they are errors of their own.
 */
export function extendsDepths(policies: ReadonlyMap<string, Policy>): Map<string, ExtendsDepth> {
  const depths = new Map<string, ExtendsDepth>();
  const onStack = new Set<string>();
  for (const start of policies.keys()) {
    if (depths.has(start)) continue;
    const stack: { name: string; next: number }[] = [{ name: start, next: 0 }];
    onStack.add(start);
    while (stack.length > 0) {
      const frame = stack[stack.length - 1]!;
      const parents = policies.get(frame.name)?.extends ?? [];
      if (frame.next < parents.length) {
        const parent = parents[frame.next++]!.name;
        if (policies.has(parent) && !depths.has(parent) && !onStack.has(parent)) {
          stack.push({ name: parent, next: 0 });
          onStack.add(parent);
        }
        continue;
      }
      let best: ExtendsDepth = { depth: 0 };
      for (const { name } of parents) {
        const known = depths.get(name);
        if (known && !onStack.has(name) && known.depth + 1 > best.depth) best = { depth: known.depth + 1, via: name };
      }
      depths.set(frame.name, best);
      onStack.delete(frame.name);
      stack.pop();
    }
  }
  return depths;
}

/**
 * Every policy with `extends` applied, each flattened once (memoised). A policy whose chain is
 * deeper than MAX_EXTENDS_DEPTH is compiled without its parents: that is a validation error
 * (policy/extends-too-deep), so such a result is never published, and skipping keeps the cost
 * linear in the number of policies.
 */
export function flattenPolicies(repository: Pick<PolicySet, 'policies'>): Record<string, CompiledPolicy> {
  const compiled = new Map<string, CompiledPolicy>();
  const inProgress = new Set<string>();
  const depths = extendsDepths(repository.policies);

  const compile = (policy: Policy): CompiledPolicy => {
    const done = compiled.get(policy.name);
    if (done) return done;
    inProgress.add(policy.name);
    const parents: CompiledPolicy[] = [];
    const tooDeep = (depths.get(policy.name)?.depth ?? 0) > MAX_EXTENDS_DEPTH;
    for (const reference of tooDeep ? [] : policy.extends) {
      const parent = repository.policies.get(reference.name);
      // Unknown parents and cycles are validation errors; compile skips them rather than loop.
      if (!parent || inProgress.has(parent.name)) continue;
      parents.push(compile(parent));
    }
    inProgress.delete(policy.name);
    const result = mergeWithParents(policy, parents);
    compiled.set(policy.name, result);
    return result;
  };

  for (const policy of repository.policies.values()) compile(policy);
  return lookupRecord([...compiled.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function mergeWithParents(policy: Policy, parents: readonly CompiledPolicy[]): CompiledPolicy {
  const endpoints = new Set(policy.allowedEndpoints.map((entry) => entry.endpoint));
  const ancestors = new Set<string>();
  const result: CompiledPolicy = { name: policy.name, 'egress-policy': policy.egressPolicy, 'allowed-endpoints': [] };
  if (policy.description !== undefined) result.description = policy.description;

  for (const parent of parents) {
    for (const endpoint of parent['allowed-endpoints']) endpoints.add(endpoint);
    ancestors.add(parent.name);
    for (const name of parent.extends ?? []) ancestors.add(name);
    for (const flag of PASSTHROUGH_FLAGS) {
      const value = parent[flag];
      if (value !== undefined) result[flag] = value;
    }
    if (parent['lockdown-mode']) result['lockdown-mode'] = parent['lockdown-mode'];
    if (parent['no-default-urls'] !== undefined) result['no-default-urls'] = parent['no-default-urls'];
  }
  for (const flag of PASSTHROUGH_FLAGS) {
    const value = policy.flags[flag];
    if (value !== undefined) result[flag] = value;
  }
  if (policy.lockdownMode) result['lockdown-mode'] = policy.lockdownMode;
  if (policy.noDefaultUrls !== undefined) result['no-default-urls'] = policy.noDefaultUrls;
  result['allowed-endpoints'] = [...endpoints].sort();
  if (ancestors.size > 0) result.extends = [...ancestors].sort();
  const expiry = mergeEndpointExpiry(policy.allowedEndpoints, parents);
  if (expiry) result['endpoint-expiry'] = expiry;
  return result;
}
