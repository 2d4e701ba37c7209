/**
 * How a policy's content changed, described once (docs/architecture.md#policy-changes): the
 * history (`egressctl history`, `/v1/history`, the console) and the review (`egressctl diff`, the
 * pull request comment) list the same endpoints, the same keys and the same weakenings, in the
 * same words. Which direction weakens a job's hardening:
 * - `egress-policy`: block -> audit.
 * - `disable-sudo-and-containers`, `disable-sudo`: true protects; losing it weakens.
 * - `disable-file-monitoring`, `disable-telemetry`: true turns something off; gaining it weakens.
 * - `lockdown-mode`: turning it off, or dropping a detection while it stays on, weakens.
 * - `no-default-urls` (GitHub's firewall only): true protects; losing it weakens.
 * Pure; work is per (before, after) pair of policies, never per scope.
 */
import { create, type Delta } from 'jsondiffpatch';
import { difference } from './endpoint.js';
import { PASSTHROUGH_FLAGS, type PassthroughFlag } from './model.js';
import type { NormalizedPolicy, PolicyContent } from './normalize.js';

export const MODE_KEY = 'egress-policy';
export const EXTENDS_KEY = 'extends';
export const DESCRIPTION_KEY = 'description';
export const LOCKDOWN_KEY = 'lockdown-mode';
export const DETECTIONS_KEY = 'lockdown-mode.detections';
export const NO_DEFAULT_URLS_KEY = 'no-default-urls';

/** Flags whose `true` is the hardened state. */
const PROTECTIVE_FLAGS: ReadonlySet<PassthroughFlag> = new Set(['disable-sudo-and-containers', 'disable-sudo']);

/**
 * One key whose value differs: `egress-policy`, `extends`, `description`, a passthrough flag,
 * `lockdown-mode` (enabled) or `lockdown-mode.detections`. `null`: unset.
 */
export interface KeyChange {
  key: string;
  before: unknown;
  after: unknown;
  /** The after side hardens the job less. */
  weakens: boolean;
}

/** A Harden-Runner setting other than mode and endpoints: a passthrough flag or lockdown mode. */
export interface SettingChange extends KeyChange {
  before: boolean | string[] | null;
  after: boolean | string[] | null;
}

/** What changed between two versions of a policy's content. */
export interface PolicyChangeDescription {
  /** Sorted. */
  endpointsAdded: string[];
  endpointsRemoved: string[];
  /** Every other key that differs, mode and `extends` first, then `description`, then the settings. */
  changed: KeyChange[];
}

export function isSettingKey(key: string): boolean {
  return key === LOCKDOWN_KEY || key === DETECTIONS_KEY || key === NO_DEFAULT_URLS_KEY || (PASSTHROUGH_FLAGS as readonly string[]).includes(key);
}

/**
 * Every setting that differs. With no policy before (a newly attached scope), nothing is weakened:
 * the scope was not hardened by a policy at all.
 */
export function settingChanges(before: PolicyContent | undefined, after: PolicyContent | undefined): SettingChange[] {
  const changes: SettingChange[] = [];
  const compared = before !== undefined;
  for (const flag of PASSTHROUGH_FLAGS) {
    const from = before?.[flag] ?? null;
    const to = after?.[flag] ?? null;
    if (from === to) continue;
    const weakens = compared && (PROTECTIVE_FLAGS.has(flag) ? from === true && to !== true : from !== true && to === true);
    changes.push({ key: flag, before: from, after: to, weakens });
  }
  const lockdownBefore = before?.['lockdown-mode']?.enabled ?? null;
  const lockdownAfter = after?.['lockdown-mode']?.enabled ?? null;
  if (lockdownBefore !== lockdownAfter) {
    changes.push({ key: LOCKDOWN_KEY, before: lockdownBefore, after: lockdownAfter, weakens: compared && lockdownBefore === true && lockdownAfter !== true });
  }
  const detectionsBefore = [...(before?.['lockdown-mode']?.detections ?? [])].sort();
  const detectionsAfter = [...(after?.['lockdown-mode']?.detections ?? [])].sort();
  // Turning lockdown off is the change above; its detections going with it says nothing more.
  const turnedOff = lockdownBefore === true && lockdownAfter !== true;
  if (!turnedOff && detectionsBefore.join(',') !== detectionsAfter.join(',')) {
    const removed = difference(detectionsBefore, detectionsAfter);
    const weakens = lockdownBefore === true && lockdownAfter === true && removed.length > 0;
    changes.push({ key: DETECTIONS_KEY, before: detectionsBefore, after: detectionsAfter, weakens });
  }
  const noDefaultsBefore = before?.[NO_DEFAULT_URLS_KEY] ?? null;
  const noDefaultsAfter = after?.[NO_DEFAULT_URLS_KEY] ?? null;
  if (noDefaultsBefore !== noDefaultsAfter) {
    // Unset falls back to egressctl.yml, which may allow GitHub's defaults: losing an explicit true weakens.
    changes.push({ key: NO_DEFAULT_URLS_KEY, before: noDefaultsBefore, after: noDefaultsAfter, weakens: compared && noDefaultsBefore === true && noDefaultsAfter !== true });
  }
  return changes;
}

/**
 * The change between two versions of a policy's content (as written, or compiled). A created or
 * deleted policy is described by its endpoints alone: key by key against nothing says nothing.
 */
export function describePolicyChange(before: PolicyContent | undefined, after: PolicyContent | undefined): PolicyChangeDescription {
  const endpointsBefore = before?.['allowed-endpoints'] ?? [];
  const endpointsAfter = after?.['allowed-endpoints'] ?? [];
  const endpointsAdded = difference(endpointsAfter, endpointsBefore);
  const endpointsRemoved = difference(endpointsBefore, endpointsAfter);
  if (!before || !after) return { endpointsAdded, endpointsRemoved, changed: [] };
  const changed: KeyChange[] = [];
  const modeBefore = before['egress-policy'];
  const modeAfter = after['egress-policy'];
  if (modeBefore !== modeAfter) changed.push({ key: MODE_KEY, before: modeBefore, after: modeAfter, weakens: modeBefore === 'block' && modeAfter === 'audit' });
  const extendsBefore = before.extends ?? [];
  const extendsAfter = after.extends ?? [];
  if (extendsBefore.join('\n') !== extendsAfter.join('\n')) changed.push({ key: EXTENDS_KEY, before: extendsBefore, after: extendsAfter, weakens: false });
  const descriptionBefore = before.description ?? null;
  const descriptionAfter = after.description ?? null;
  if (descriptionBefore !== descriptionAfter) changed.push({ key: DESCRIPTION_KEY, before: descriptionBefore, after: descriptionAfter, weakens: false });
  changed.push(...settingChanges(before, after));
  changed.push(...expiryChanges(before, after));
  return { endpointsAdded, endpointsRemoved, changed };
}

/** Key of an exception's end date in `changed`: `expires <endpoint>` (docs/architecture.md#expiring-exceptions). */
export const EXPIRES_KEY_PREFIX = 'expires ';

export function isExpiryKey(key: string): boolean {
  return key.startsWith(EXPIRES_KEY_PREFIX);
}

/**
 * End dates that changed on endpoints listed before and after (added and removed endpoints say
 * enough). `null`: no end date. Keeping an endpoint longer weakens: a later date, or none.
 */
export function expiryChanges(before: Pick<PolicyContent, 'allowed-endpoints' | 'endpoint-expiry'>, after: Pick<PolicyContent, 'allowed-endpoints' | 'endpoint-expiry'>): KeyChange[] {
  const datesBefore = before['endpoint-expiry'] ?? {};
  const datesAfter = after['endpoint-expiry'] ?? {};
  const listedAfter = new Set(after['allowed-endpoints']);
  const changes: KeyChange[] = [];
  for (const endpoint of [...new Set([...Object.keys(datesBefore), ...Object.keys(datesAfter)])].sort()) {
    if (!before['allowed-endpoints'].includes(endpoint) || !listedAfter.has(endpoint)) continue;
    const from = Object.hasOwn(datesBefore, endpoint) ? (datesBefore[endpoint] as string) : null;
    const to = Object.hasOwn(datesAfter, endpoint) ? (datesAfter[endpoint] as string) : null;
    if (from === to) continue;
    changes.push({ key: `${EXPIRES_KEY_PREFIX}${endpoint}`, before: from, after: to, weakens: from !== null && (to === null || to > from) });
  }
  return changes;
}

/**
 * Endpoint lists are sorted and unique, so hashing items by value makes jsondiffpatch report
 * plain additions and removals (a set comparison) rather than positional edits.
 */
const differ = create({
  objectHash: (item: object) => JSON.stringify(item),
  arrays: { detectMove: false },
});

/** jsondiffpatch delta of two policies as written, for renderers; undefined when they are equal. */
export function policyDelta(before: NormalizedPolicy | undefined, after: NormalizedPolicy | undefined): Delta | undefined {
  return differ.diff(before ?? null, after ?? null);
}

/** Words every renderer puts before an endpoint the change adds or removes. */
export const ENDPOINT_LABELS = { added: '+ endpoint', removed: '- endpoint' } as const;

/** Control characters would drive a terminal or break a line: such a value is shown quoted. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

function valueText(value: unknown): string {
  if (value === null || value === undefined) return 'unset';
  if (Array.isArray(value)) return value.length === 0 ? 'none' : value.map(valueText).join(', ');
  if (typeof value === 'string') return CONTROL.test(value) ? JSON.stringify(value) : value;
  return JSON.stringify(value);
}

/**
 * One line per change, plain text (renderers escape it and mark weakenings their own way):
 * `disable-sudo: true → unset`, `extends: none → core`, detections as removed/added.
 */
export function keyChangeText(change: KeyChange): string {
  if (change.key === DETECTIONS_KEY && Array.isArray(change.before) && Array.isArray(change.after)) {
    const removed = difference(change.before as string[], change.after as string[]);
    const added = difference(change.after as string[], change.before as string[]);
    const bits = [removed.length > 0 ? `${removed.join(', ')} removed` : '', added.length > 0 ? `${added.join(', ')} added` : ''].filter(Boolean);
    return `lockdown detections: ${bits.join('; ')}`;
  }
  return `${change.key}: ${valueText(change.before)} → ${valueText(change.after)}`;
}
