/**
 * The review of a change to the policy repository (docs/architecture.md#users-and-flows): what `egressctl diff`
 * prints and what the GitHub App posts. Plain data; `JSON.stringify(review)` is the
 * `--format json` contract (extra fields beyond the contract are allowed).
 */
import type { Delta } from 'jsondiffpatch';
import type { BaselineIndex } from '../baselines/index.js';
import type { KeyChange, PolicyChangeDescription, SettingChange } from '../policy/change.js';
import type { Attachment, AttachmentMap, CompiledPolicy, EgressMode, Policy, ScopeType, Settings } from '../policy/model.js';

/** One side of the comparison, ready for the pure engine (see `prepareReviewInput`). */
export interface ReviewInput {
  /** Shown in output and in the "show all" command: a branch, a short SHA, `work tree`. */
  label?: string;
  /** Commit SHA when the side was read from git. */
  revision?: string;
  /** Policies as written (own keys, `extends` not applied). */
  policies: ReadonlyMap<string, Policy>;
  attachments: readonly Attachment[];
  /** `extends` flattened; compiled from `policies` when absent. */
  compiled?: Readonly<Record<string, CompiledPolicy>>;
  /** `attachmentMap(attachments)`, when the caller has it already (bundles have it). */
  attachmentMap?: AttachmentMap;
  /** Observed endpoints per job. The head's baselines drive the forecast (the base's when the head has none). */
  baselines?: BaselineIndex;
  /** Repository-relative path -> text of the files read; tells which files a change touches. */
  files?: ReadonlyMap<string, string>;
  /** Files with validation errors at this side (the check lists them). */
  invalidFiles?: ReadonlySet<string>;
  /** `egressctl.yml` at this side: with `github-firewall.enabled` the review shows firewall file changes. */
  settings?: Settings;
}

/** The head's label when it is the work tree rather than a revision. */
export const WORK_TREE_LABEL = 'work tree';

export type PolicyChangeKind = 'created' | 'deleted' | 'changed';

export type RiskKind =
  | 'audit-to-block'
  | 'block-to-audit'
  | 'endpoints-removed'
  | 'wildcard-widened'
  | 'policy-lost'
  | 'hardening-weakened'
  | 'lockdown-weakened';

/** Order in which risks are listed: breakage risks first, then loosening. */
export const RISK_KINDS: readonly RiskKind[] = ['audit-to-block', 'endpoints-removed', 'policy-lost', 'wildcard-widened', 'block-to-audit', 'lockdown-weakened', 'hardening-weakened'];

export const RISK_TITLES: Record<RiskKind, string> = {
  'audit-to-block': 'audit → block',
  'endpoints-removed': 'endpoints removed',
  'policy-lost': 'scope loses its policy',
  'wildcard-widened': 'wildcard widened',
  'block-to-audit': 'block → audit',
  'lockdown-weakened': 'lockdown weakened',
  'hardening-weakened': 'hardening weakened',
};

// One description of a policy change for the history and the review (docs/architecture.md#policy-changes).
export type { KeyChange, SettingChange } from '../policy/change.js';

/**
 * `endpointsAdded`, `endpointsRemoved` and `changed` describe what Harden-Runner gets (after
 * `extends`), with `extends` as written, in the shape and words the history uses.
 */
export interface PolicyChange extends PolicyChangeDescription {
  name: string;
  change: PolicyChangeKind;
  modeBefore: EgressMode | null;
  modeAfter: EgressMode | null;
  /** Of `endpointsAdded`/`endpointsRemoved`, those written in this policy's own file. */
  ownEndpointsAdded: string[];
  ownEndpointsRemoved: string[];
  extendsBefore: string[];
  extendsAfter: string[];
  /** Ancestors (at the head) whose own change reaches this policy through `extends`. */
  changedAncestors: string[];
  /** True when the policy's own file is unchanged and everything comes through `extends`. */
  inheritedOnly: boolean;
  /** New wildcard entries (after `extends`) that no entry of the base covered. */
  wildcardsWidened: string[];
  /** True when what Harden-Runner is given changes (mode, endpoints, flags, lockdown). */
  enforcementChanged: boolean;
  risks: RiskKind[];
  /**
   * The head's file has errors and the change touches it: the row shows what could be parsed
   * (a file that does not parse at all has no endpoints) and points at the check.
   */
  invalid?: true;
  /** jsondiffpatch delta of the normalized policy as written (own keys). */
  delta: Delta;
  /**
   * Of `endpointsAdded`, the exceptions: endpoint -> the last UTC day the head allows it. Absent
   * when none (docs/architecture.md#expiring-exceptions).
   */
  until?: Record<string, string>;
  /**
   * Entries the change touches that are over at the review's instant wherever they are listed
   * (deleted, added with a past date, or a past date changed): no difference in what
   * Harden-Runner is given, so not among the endpoints. Each side's last day, null where not listed.
   */
  expired?: ExpiredEntryChange[];
}

/** An exception the change touches that counts at neither side (PolicyChange.expired). */
export interface ExpiredEntryChange {
  endpoint: string;
  before: string | null;
  after: string | null;
}

export type AttachmentChangeKind = 'attached' | 'detached' | 'moved';

export interface AttachmentChange {
  type: ScopeType;
  key: string;
  /** Policy attached at the base, or null. */
  before: string | null;
  after: string | null;
  change: AttachmentChangeKind;
}

export interface ScopeRef {
  type: ScopeType;
  key: string;
}

export interface EffectiveRef {
  policy: string;
  mode: EgressMode;
  /** The attachment that won. */
  scope: ScopeRef;
}

export type WhyKind = 'policy-changed' | 'moved' | 'attached' | 'detached' | 'shadowed' | 'unshadowed';

export interface ScopeWhy {
  kind: WhyKind;
  /** One sentence, plain text (renderers escape it). */
  text: string;
  /** The attachment whose change caused this, when an attachment did. */
  cause?: ScopeRef;
}

export interface ScopeChange {
  type: ScopeType;
  key: string;
  /** The organization the scope belongs to; null for clusters. */
  organization: string | null;
  before: EffectiveRef | null;
  after: EffectiveRef | null;
  /** Effective endpoints gained and lost. Arrays are shared between scopes with the same transition. */
  added: string[];
  removed: string[];
  /** Other settings that differ (flags, lockdown mode). Shared between scopes with the same transition. */
  settings: SettingChange[];
  /** Of `added`, the exceptions: endpoint -> the last UTC day the head allows it. Absent when none; shared. */
  until?: Record<string, string>;
  /**
   * End dates that differ for endpoints allowed at both sides (`expires <endpoint>`, worded as the
   * policy diff words them). Absent when none; shared.
   */
  endDates?: KeyChange[];
  why: ScopeWhy;
  risks: RiskKind[];
  /** Index into `Review.scopeGroups`. */
  group: number;
}

export interface OrganizationCount {
  organization: string;
  count: number;
}

/** Scopes that change the same way for the same kind of reason. */
export interface ScopeGroup {
  kind: WhyKind;
  /** The type of attachment whose change caused it (absent for policy changes). */
  causeType?: ScopeType;
  before: { policy: string; mode: EgressMode } | null;
  after: { policy: string; mode: EgressMode } | null;
  title: string;
  count: number;
  byType: Partial<Record<ScopeType, number>>;
  /** Most scopes first; clusters count under the organization `(clusters)`. */
  byOrganization: OrganizationCount[];
  added: string[];
  removed: string[];
  settings: SettingChange[];
  until?: Record<string, string>;
  endDates?: KeyChange[];
  risks: RiskKind[];
}

export interface JobBreakage {
  repository: string;
  /** Workflow path in the repository, `.github/workflows/F`. */
  workflow: string;
  job: string;
  /** `owner/repo/.github/workflows/F#job`. */
  key: string;
  /** Endpoints the job was seen using that the head would block and the base did not. Sorted. */
  endpoints: string[];
  /** The most runs that saw one of them: at least this many observed runs would have failed. */
  runs: number;
  endpointRuns: Record<string, number>;
  /** Runs observed for the job in total. */
  observedRuns: number;
  /** Endpoints the job uses that were blocked at the base already and stay blocked. */
  alreadyBlocked: string[];
  before: { policy: string; mode: EgressMode } | null;
  after: { policy: string; mode: EgressMode };
  why: string;
}

/**
 * A job that breaks later (docs/architecture.md#expiring-exceptions): observed endpoints the head
 * allows only through exceptions, which the base allowed longer (or for good).
 */
export interface JobExpiryBreakage {
  repository: string;
  /** Workflow path in the repository, `.github/workflows/F`. */
  workflow: string;
  job: string;
  /** `owner/repo/.github/workflows/F#job`. */
  key: string;
  /**
   * Each with the last UTC day the head allows it (`expires` of the exception that lasts longest
   * among those matching it): blocked from the next midnight. Soonest first, then by endpoint.
   */
  endpoints: { endpoint: string; expires: string; runs: number }[];
  /** The first of those days: the job breaks after it. */
  expires: string;
  /** Runs observed for the job in total. */
  observedRuns: number;
  before: { policy: string; mode: EgressMode } | null;
  after: { policy: string; mode: EgressMode };
  why: string;
}

export interface RiskSummary {
  kind: RiskKind;
  title: string;
  /** Policies flagged with this risk. */
  policies: string[];
  /** Scopes whose effective policy carries this risk. */
  scopes: number;
  /** The first few scopes, for a preview. */
  examples: ScopeRef[];
}

export interface ReviewSummary {
  /** The one-line summary that opens every rendering. */
  text: string;
  policiesCreated: number;
  policiesDeleted: number;
  policiesChanged: number;
  attachmentsChanged: number;
  scopesConsidered: number;
  scopesChanged: number;
  /** Jobs in baselines (the forecast's population); 0 when there are no baselines. */
  jobsObserved: number;
  jobsBreaking: number;
  /** Jobs that break later, when exceptions expire (`Review.breakageLater`). */
  jobsBreakingLater: number;
  endpointsNewlyBlocked: number;
  alreadyBlocked: { jobs: number; endpoints: number };
  /** Per risk kind: how many policies and how many scopes carry it. */
  risks: Partial<Record<RiskKind, { policies: number; scopes: number }>>;
}

export interface Review {
  base: { label: string; revision?: string };
  head: { label: string; revision?: string };
  summary: ReviewSummary;
  policies: PolicyChange[];
  attachments: AttachmentChange[];
  scopes: ScopeChange[];
  scopeGroups: ScopeGroup[];
  breakage: JobBreakage[];
  /** Jobs that break when exceptions expire, soonest first. */
  breakageLater: JobExpiryBreakage[];
  /**
   * The instant the whole review is about (ISO 8601): the policy diff, the precedence preview, the
   * firewall files and the forecast take each side as it stands then (exceptions expired by then
   * count as absent); the forecast also dates breakage after it.
   */
  at: string;
  risks: RiskSummary[];
  /** With `github-firewall.enabled` at the head: the firewall file's change per repository (docs/github-firewall.md). */
  firewall?: FirewallFileChange[];
}

/** One repository's firewall file change in a review (src/review/firewall.ts). */
export interface FirewallFileChange {
  /** `owner/repo`, or `organization ORG` for an organization scope (every repository of it). */
  repository: string;
  /** `mode log -> enforce`, `allow added: ...`, `new file: ...`. */
  changes: string[];
  /** Warnings of the head's mapping (ports, IPs, wildcards, unions). */
  warnings: string[];
}
