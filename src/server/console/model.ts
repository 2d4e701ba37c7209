/**
 * What the console's pages show, computed from a bundle (and, for sources that have them, the
 * policy repository's files and git history). Pure: built once per revision by the loader and
 * then only read, so a request costs a lookup and a render.
 */
import type { Bundle } from '../../bundle/build.js';
import type { BaselineIndex } from '../../baselines/recommend.js';
import type { HistoryEvent, HistoryScope } from '../../history/model.js';
import { SCOPE_SECTIONS, SCOPE_TYPES, type EgressMode, type ScopeType, type Settings } from '../../policy/model.js';

export interface ScopeAttachment {
  type: ScopeType;
  key: string;
  policy: string;
}

export interface PolicySummary {
  name: string;
  mode: EgressMode;
  description: string | undefined;
  /** Endpoints after `extends`. */
  endpoints: number;
  extends: string[];
  /** Attachments by scope type. */
  attached: Record<ScopeType, number>;
  attachedTotal: number;
}

/** Attachments indexed for "where is it attached" and "what shadows it" questions. */
export interface AttachmentIndex {
  byPolicy: Map<string, ScopeAttachment[]>;
  /** Owner -> repository attachments under it. */
  repositoriesByOrganization: Map<string, ScopeAttachment[]>;
  /** `owner/repo` -> workflow attachments under it. */
  workflowsByRepository: Map<string, ScopeAttachment[]>;
  /** Owner -> workflow attachments under it. */
  workflowsByOrganization: Map<string, ScopeAttachment[]>;
  counts: Record<ScopeType, number>;
}

/** The policy repository's own files, when the source has them (git work tree or directory). */
export interface RepositoryView {
  /** Repository-relative path -> text as written. */
  files: ReadonlyMap<string, string>;
  baselines: BaselineIndex;
  settings: Settings;
}

export interface ConsoleSnapshot {
  bundle: Bundle;
  index: AttachmentIndex;
  /** Sorted by name. */
  summaries: PolicySummary[];
  /** Undefined for bundle-file and upstream sources (no YAML there), or when it could not be read. */
  repository: RepositoryView | undefined;
  /** Why `repository` is undefined. */
  repositoryMissing?: string;
}

function emptyCounts(): Record<ScopeType, number> {
  return { workflow: 0, repository: 0, organization: 0, cluster: 0 };
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** `owner/repo` of a workflow key `owner/repo/.github/workflows/F`. */
export function repositoryOfWorkflow(key: string): string {
  const parts = key.split('/');
  return `${parts[0] ?? ''}/${parts[1] ?? ''}`;
}

export function buildAttachmentIndex(bundle: Pick<Bundle, 'attachments'>): AttachmentIndex {
  const index: AttachmentIndex = {
    byPolicy: new Map(),
    repositoriesByOrganization: new Map(),
    workflowsByRepository: new Map(),
    workflowsByOrganization: new Map(),
    counts: emptyCounts(),
  };
  for (const type of SCOPE_TYPES) {
    const section = bundle.attachments[SCOPE_SECTIONS[type]] ?? {};
    for (const key of Object.keys(section).sort()) {
      const attachment: ScopeAttachment = { type, key, policy: section[key] as string };
      index.counts[type]++;
      push(index.byPolicy, attachment.policy, attachment);
      if (type === 'repository') push(index.repositoriesByOrganization, key.split('/')[0] ?? '', attachment);
      if (type === 'workflow') {
        const repository = repositoryOfWorkflow(key);
        push(index.workflowsByRepository, repository, attachment);
        push(index.workflowsByOrganization, repository.split('/')[0] ?? '', attachment);
      }
    }
  }
  return index;
}

export function summarizePolicies(bundle: Pick<Bundle, 'policies'>, index: AttachmentIndex): PolicySummary[] {
  return Object.keys(bundle.policies)
    .sort()
    .map((name) => {
      const policy = bundle.policies[name]!;
      const attached = emptyCounts();
      const attachments = index.byPolicy.get(name) ?? [];
      for (const attachment of attachments) attached[attachment.type]++;
      return {
        name,
        mode: policy['egress-policy'],
        description: policy.description,
        endpoints: policy['allowed-endpoints'].length,
        extends: policy.extends ?? [],
        attached,
        attachedTotal: attachments.length,
      };
    });
}

export function buildSnapshot(bundle: Bundle, repository: RepositoryView | undefined, repositoryMissing?: string): ConsoleSnapshot {
  const index = buildAttachmentIndex(bundle);
  const snapshot: ConsoleSnapshot = { bundle, index, summaries: summarizePolicies(bundle, index), repository };
  if (repositoryMissing !== undefined) snapshot.repositoryMissing = repositoryMissing;
  return snapshot;
}

export interface StoreFilter {
  /** Substring of the name (or description), case-insensitive. */
  query: string;
  mode: EgressMode | '';
  /** A scope type the policy is attached at, `none` for not attached, '' for any. */
  scope: ScopeType | 'none' | '';
}

export function filterPolicies(summaries: readonly PolicySummary[], filter: StoreFilter): PolicySummary[] {
  const needle = filter.query.trim().toLowerCase();
  return summaries.filter((summary) => {
    if (filter.mode && summary.mode !== filter.mode) return false;
    if (filter.scope === 'none' && summary.attachedTotal > 0) return false;
    if (filter.scope && filter.scope !== 'none' && summary.attached[filter.scope] === 0) return false;
    if (needle && !summary.name.includes(needle) && !(summary.description ?? '').toLowerCase().includes(needle)) return false;
    return true;
  });
}

/** Attachments that win over `attachment` for some of the jobs under its scope. */
export interface Shadowing {
  attachment: ScopeAttachment;
  /** More specific attachments under the scope, by type (workflow first). */
  shadowedBy: ScopeAttachment[];
  /** For a cluster attachment: every organization, repository or workflow attachment wins on that cluster. */
  clusterWide: boolean;
}

/**
 * For each attachment of a policy, the more specific attachments under the same scope: a
 * repository attachment is shadowed by that repository's workflow attachments; an organization
 * one by its repositories' and workflows' attachments; a cluster one by every non-cluster
 * attachment (those win for jobs on the cluster). Workflow attachments are never shadowed.
 */
export function shadowingOf(attachment: ScopeAttachment, index: AttachmentIndex): Shadowing {
  switch (attachment.type) {
    case 'workflow':
      return { attachment, shadowedBy: [], clusterWide: false };
    case 'repository':
      return { attachment, shadowedBy: index.workflowsByRepository.get(attachment.key) ?? [], clusterWide: false };
    case 'organization':
      return {
        attachment,
        shadowedBy: [...(index.workflowsByOrganization.get(attachment.key) ?? []), ...(index.repositoriesByOrganization.get(attachment.key) ?? [])],
        clusterWide: false,
      };
    case 'cluster':
      return { attachment, shadowedBy: [], clusterWide: true };
  }
}

export interface Page<T> {
  items: T[];
  page: number;
  pages: number;
  total: number;
  pageSize: number;
}

/** Page `page` (1-based, clamped) of `items`. */
export function paginate<T>(items: readonly T[], page: number, pageSize: number): Page<T> {
  const pages = Math.max(1, Math.ceil(items.length / pageSize));
  const current = Math.min(Math.max(1, Math.floor(page) || 1), pages);
  return { items: items.slice((current - 1) * pageSize, current * pageSize), page: current, pages, total: items.length, pageSize };
}

/** One row of the audit log: a content event, or one commit's attachment changes of one policy. */
export interface HistoryEntry {
  kind: 'created' | 'updated' | 'deleted' | 'attachments';
  policy: string;
  commit: string;
  author: string;
  authorEmail: string | null;
  date: string;
  pr: number | null;
  subject: string;
  /** The content event (created, updated, deleted). */
  event: HistoryEvent | undefined;
  attached: HistoryScope[];
  detached: HistoryScope[];
  notes: string[];
}

/**
 * Events (newest first) into entries: a commit's attach/detach events of one policy become one
 * entry with the scopes added and removed, so a commit attaching 500 workflows is one row.
 */
export function groupHistory(events: readonly HistoryEvent[]): HistoryEntry[] {
  const entries: HistoryEntry[] = [];
  let commitGroups = new Map<string, HistoryEntry>();
  let currentCommit: string | undefined;
  for (const event of events) {
    if (event.commit !== currentCommit) {
      currentCommit = event.commit;
      commitGroups = new Map();
    }
    const base = {
      policy: event.policy,
      commit: event.commit,
      author: event.author,
      authorEmail: event.authorEmail,
      date: event.date,
      pr: event.pr,
      subject: event.subject,
    };
    if (event.type === 'attached' || event.type === 'detached') {
      let entry = commitGroups.get(event.policy);
      if (!entry) {
        entry = { ...base, kind: 'attachments', event: undefined, attached: [], detached: [], notes: [] };
        commitGroups.set(event.policy, entry);
        entries.push(entry);
      }
      if (event.scope) (event.type === 'attached' ? entry.attached : entry.detached).push(event.scope);
      for (const note of event.notes) if (!entry.notes.includes(note)) entry.notes.push(note);
      continue;
    }
    entries.push({ ...base, kind: event.type, event, attached: [], detached: [], notes: [...event.notes] });
  }
  return entries;
}
