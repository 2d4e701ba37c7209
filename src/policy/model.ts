/**
 * The policy repository's data model (docs/architecture.md#policy-repository). Plain data: parsing fills it, rules check it,
 * resolve and compile read it. Every value a user wrote keeps where they wrote it.
 */
import type { SourcePosition } from './diagnostics.js';

export type EgressMode = 'audit' | 'block';

/** Most specific first: this order is the precedence (docs/architecture.md#precedence). */
export const SCOPE_TYPES = ['workflow', 'repository', 'organization', 'cluster'] as const;
export type ScopeType = (typeof SCOPE_TYPES)[number];

/** The key of each scope type's section in attachments.yml and in the bundle. */
export const SCOPE_SECTIONS = {
  workflow: 'workflows',
  repository: 'repositories',
  organization: 'organizations',
  cluster: 'clusters',
} as const satisfies Record<ScopeType, string>;
export type AttachmentSection = (typeof SCOPE_SECTIONS)[ScopeType];

export const LOCKDOWN_DETECTIONS = ['Privileged-Container', 'Runner-Worker-Memory-Read', 'Reverse-Shell'] as const;
export type LockdownDetection = (typeof LOCKDOWN_DETECTIONS)[number];

export const POLICY_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;
export const POLICIES_DIR = 'policies';
export const ATTACHMENTS_FILE = 'attachments.yml';
export const SETTINGS_FILE = 'egressctl.yml';
export const BASELINES_DIR = 'baselines';

/** Harden-Runner's boolean inputs that we pass through untouched. */
export const PASSTHROUGH_FLAGS = [
  'disable-sudo-and-containers',
  'disable-file-monitoring',
  'disable-telemetry',
  'disable-sudo',
] as const;
export type PassthroughFlag = (typeof PASSTHROUGH_FLAGS)[number];
export type HardenRunnerFlags = Partial<Record<PassthroughFlag, boolean>>;

export interface LockdownMode {
  enabled: boolean;
  detections: LockdownDetection[];
}

export interface EndpointEntry {
  /** Canonical `host:port`. */
  endpoint: string;
  reason?: string;
  /** An exception that expires: `YYYY-MM-DD`, counted until the end of that UTC day (docs/architecture.md#expiring-exceptions). */
  expires?: string;
  /** Who asked for the exception (free text, e.g. a team or a login). */
  owner?: string;
  at: SourcePosition;
}

export interface PolicyReference {
  name: string;
  at: SourcePosition;
}

/** One `policies/<name>.yml`, as written (own keys only, `extends` not applied). */
export interface Policy {
  name: string;
  file: string;
  /** Position of the document's first key, for findings about the whole policy. */
  at: SourcePosition;
  description?: string;
  egressPolicy: EgressMode;
  /** Position of the `egress-policy` value, for findings about the mode. */
  egressPolicyAt?: SourcePosition;
  /** Valid entries only, duplicates dropped, in the order written. */
  allowedEndpoints: EndpointEntry[];
  flags: HardenRunnerFlags;
  lockdownMode?: LockdownMode;
  /** GitHub's firewall only (docs/github-firewall.md): `no-default-urls` of the repository's file; unset: the egressctl.yml setting decides. */
  noDefaultUrls?: boolean;
  extends: PolicyReference[];
}

export interface Attachment {
  type: ScopeType;
  /** Lower-cased (GitHub names are case-insensitive). */
  key: string;
  policy: string;
  at: SourcePosition;
}

export interface HardenRunnerPin {
  /** `step-security/harden-runner` */
  repository: string;
  /** Full 40-hex commit SHA. */
  sha: string;
  /** Version tag written as a comment next to the pin, e.g. `v2.21.0`. */
  version: string;
}

/** `egressctl.yml`: everything optional. */
export interface Settings {
  /** Organizations whose repositories the app manages and rolls out to (lower-cased). */
  organizations: string[];
  defaultBranch: string;
  hardenRunner: HardenRunnerPin;
  /** A job's baseline is stable once this many latest runs added nothing. */
  stableAfterRuns: number;
  /** Used for commit and PR links in the console and comments. */
  githubUrl: string;
  /** What sync writes for a workflow no attachment covers (docs/reconciliation.md). */
  unattached: UnattachedMode;
  /** How the desired state reaches GitHub-hosted runners (docs/reconciliation.md). */
  delivery: DeliveryMode;
  /** Self-hosted runner labels or group names whose runners run the job-started hook (coverage counts others as unprotected). */
  hookRunners: string[];
  /** ARC clusters the App recognizes in `workflow_job` payloads, in file order (docs/architecture.md#arc-clusters-in-baselines). */
  clusters: ClusterMapping[];
  /** GitHub's native egress firewall as a second enforcement target (docs/github-firewall.md). */
  githubFirewall: GitHubFirewallSettings;
}

/** One entry of egressctl.yml `clusters`: how the App tells that a job ran on this cluster. */
export interface ClusterMapping {
  /** Lower-cased; the cluster scope key of attachments.yml. */
  name: string;
  /** Runner group names (lower-cased) whose jobs run on the cluster. */
  runnerGroups: string[];
  /** Runner labels (lower-cased) of the cluster's runners: a job whose `runs-on` labels are all here runs on it. */
  labels: string[];
}

/** `rewrite`: move Linux GitHub-hosted jobs that follow a block policy to the firewall runner; `leave`: never touch `runs-on`. */
export const FIREWALL_RUNS_ON_MODES = ['rewrite', 'leave'] as const;
export type FirewallRunsOnMode = (typeof FIREWALL_RUNS_ON_MODES)[number];

/** `egressctl.yml` `github-firewall:` (docs/github-firewall.md). */
export interface GitHubFirewallSettings {
  /** Write `.github/egress-firewall.yaml` in every synced repository. */
  enabled: boolean;
  runsOn: FirewallRunsOnMode;
  /** Write `no-default-urls: true`: GitHub's default hosts are allowed only when the store lists them. */
  noDefaultUrls: boolean;
  /**
   * The organization's larger runners built on GitHub's "Ubuntu 24.04 with Firewall" image, by
   * their label (a larger runner's label is its name), lower-cased: jobs on them run behind the
   * firewall as on `ubuntu-24.04-firewall`. GitHub's workflow_job payload names only the labels.
   */
  largerRunners?: string[];
}

/** `audit`: an audit step; `baseline`: block from a stable baseline (audit until then); `skip`: leave the workflow alone. */
export const UNATTACHED_MODES = ['audit', 'baseline', 'skip'] as const;
export type UnattachedMode = (typeof UNATTACHED_MODES)[number];

/** `pull-request`: inputs written as literals; `variables`: inputs read from Actions variables that sync keeps current. */
export const DELIVERY_MODES = ['pull-request', 'variables'] as const;
export type DeliveryMode = (typeof DELIVERY_MODES)[number];

export const DEFAULT_SETTINGS: Settings = {
  organizations: [],
  defaultBranch: 'main',
  hardenRunner: {
    repository: 'step-security/harden-runner',
    sha: '05e31511f85b41b11d1cf0ef85d0992719546e2c',
    version: 'v2.21.0',
  },
  stableAfterRuns: 3,
  githubUrl: 'https://github.com',
  unattached: 'audit',
  delivery: 'pull-request',
  hookRunners: [],
  clusters: [],
  githubFirewall: { enabled: false, runsOn: 'leave', noDefaultUrls: false },
};

/**
 * The policy part of a loaded repository: what the rules and flattening read. The loaded
 * repository with its baselines is `PolicyRepository` in `store/repository.ts`.
 */
export interface PolicySet {
  policies: Map<string, Policy>;
  attachments: Attachment[];
  settings: Settings;
  /** Repository-relative path -> text, for every file that was read. */
  files: Map<string, string>;
}

/** A policy with `extends` applied: what Harden-Runner is given. Keys as in the bundle. */
export interface CompiledPolicy {
  name: string;
  description?: string;
  'egress-policy': EgressMode;
  /** Sorted, unique, canonical `host:port`. */
  'allowed-endpoints': string[];
  'disable-sudo-and-containers'?: boolean;
  'disable-file-monitoring'?: boolean;
  'disable-telemetry'?: boolean;
  'disable-sudo'?: boolean;
  'lockdown-mode'?: LockdownMode;
  /**
   * GitHub's firewall only (docs/github-firewall.md): write `no-default-urls: true` so GitHub's
   * default hosts are allowed only where listed. Harden-Runner has no counterpart and is never given it.
   */
  'no-default-urls'?: boolean;
  /** Every policy it extends, directly or not, sorted. */
  extends?: string[];
  /**
   * Endpoints of `allowed-endpoints` that are exceptions with an end date -> `YYYY-MM-DD`, the last
   * UTC day they count. Carried in the bundle so consumers drop them at answer time
   * (docs/architecture.md#expiring-exceptions); absent when nothing expires.
   */
  'endpoint-expiry'?: Record<string, string>;
}

export type AttachmentMap = Record<AttachmentSection, Record<string, string>>;

/**
 * An object for lookups by a name someone typed (a repository, an organization, a policy):
 * without a prototype, so `constructor` or `__proto__` finds nothing instead of Object's members.
 */
export function lookupRecord<V>(entries: Iterable<readonly [string, V]> = []): Record<string, V> {
  const record = Object.create(null) as Record<string, V>;
  for (const [key, value] of entries) record[key] = value;
  return record;
}

export function emptyAttachmentMap(): AttachmentMap {
  return { workflows: lookupRecord(), repositories: lookupRecord(), organizations: lookupRecord(), clusters: lookupRecord() };
}

/** Attachments by section with keys lower-cased; input order does not matter. */
export function attachmentMap(attachments: readonly Attachment[]): AttachmentMap {
  const map = emptyAttachmentMap();
  for (const attachment of attachments) map[SCOPE_SECTIONS[attachment.type]][attachment.key] = attachment.policy;
  return map;
}
