/**
 * `extends` applied (docs/architecture.md#policy-files): endpoints are the union over the whole ancestry; for scalar
 * keys the child wins, and among parents a later entry of `extends` wins over an earlier one.
 */
import { mergeEndpointExpiry } from './expiry.js';
import { PASSTHROUGH_FLAGS, type CompiledPolicy, type Policy, type PolicySet } from './model.js';

export function flattenPolicies(repository: Pick<PolicySet, 'policies'>): Record<string, CompiledPolicy> {
  const compiled = new Map<string, CompiledPolicy>();
  const inProgress = new Set<string>();

  const compile = (policy: Policy): CompiledPolicy => {
    const done = compiled.get(policy.name);
    if (done) return done;
    inProgress.add(policy.name);
    const parents: CompiledPolicy[] = [];
    for (const reference of policy.extends) {
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
  return Object.fromEntries([...compiled.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
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
  }
  for (const flag of PASSTHROUGH_FLAGS) {
    const value = policy.flags[flag];
    if (value !== undefined) result[flag] = value;
  }
  if (policy.lockdownMode) result['lockdown-mode'] = policy.lockdownMode;
  result['allowed-endpoints'] = [...endpoints].sort();
  if (ancestors.size > 0) result.extends = [...ancestors].sort();
  const expiry = mergeEndpointExpiry(policy.allowedEndpoints, parents);
  if (expiry) result['endpoint-expiry'] = expiry;
  return result;
}
