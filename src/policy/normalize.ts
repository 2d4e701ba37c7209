/**
 * One canonical shape for policy content (docs/architecture.md#policy-changes): the bundle's keys,
 * set-like lists sorted and unique, so two policies that mean the same compare equal whatever
 * their formatting, key order or entry order. The history, the review and the bundle all use it.
 */
import { sortUnique } from './endpoint.js';
import { PASSTHROUGH_FLAGS, type CompiledPolicy, type LockdownDetection, type Policy } from './model.js';

/** A policy's content without its name: as written (`normalizePolicy`) or compiled. */
export type PolicyContent = Omit<CompiledPolicy, 'name'>;

/**
 * A policy as written: its own keys only, `extends` as the names written, in their order (a later
 * parent wins scalar keys, so the order is part of what the file says).
 */
export type NormalizedPolicy = PolicyContent;

/**
 * Endpoints and lockdown detections sorted and unique, flags in PASSTHROUGH_FLAGS order, unset keys
 * and an empty `extends` absent. `extends` keeps the order given: callers decide whether it is
 * the written list or the sorted ancestry.
 */
export function canonicalContent(content: PolicyContent): PolicyContent {
  const canonical: PolicyContent = { 'egress-policy': content['egress-policy'], 'allowed-endpoints': sortUnique(content['allowed-endpoints']) };
  if (content.description !== undefined) canonical.description = content.description;
  for (const flag of PASSTHROUGH_FLAGS) {
    const value = content[flag];
    if (value !== undefined) canonical[flag] = value;
  }
  const lockdown = content['lockdown-mode'];
  if (lockdown !== undefined) canonical['lockdown-mode'] = { enabled: lockdown.enabled, detections: sortUnique(lockdown.detections) as LockdownDetection[] };
  if (content['no-default-urls'] !== undefined) canonical['no-default-urls'] = content['no-default-urls'];
  if (content.extends !== undefined && content.extends.length > 0) canonical.extends = [...content.extends];
  // Expiry dates of listed endpoints only, sorted by endpoint (docs/architecture.md#expiring-exceptions).
  const listed = new Set(canonical['allowed-endpoints']);
  const expiry = Object.entries(content['endpoint-expiry'] ?? {})
    .filter(([endpoint]) => listed.has(endpoint))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (expiry.length > 0) canonical['endpoint-expiry'] = Object.fromEntries(expiry);
  return canonical;
}

/** A policy file's own content in the canonical shape; nothing of its parents is applied. */
export function normalizePolicy(policy: Policy): NormalizedPolicy {
  const content: PolicyContent = {
    'egress-policy': policy.egressPolicy,
    'allowed-endpoints': policy.allowedEndpoints.map((entry) => entry.endpoint),
    ...policy.flags,
    extends: policy.extends.map((reference) => reference.name),
  };
  if (policy.description !== undefined) content.description = policy.description;
  if (policy.lockdownMode) content['lockdown-mode'] = policy.lockdownMode;
  if (policy.noDefaultUrls !== undefined) content['no-default-urls'] = policy.noDefaultUrls;
  const expiring = policy.allowedEndpoints.filter((entry) => entry.expires !== undefined);
  if (expiring.length > 0) content['endpoint-expiry'] = Object.fromEntries(expiring.map((entry) => [entry.endpoint, entry.expires as string]));
  return canonicalContent(content);
}
