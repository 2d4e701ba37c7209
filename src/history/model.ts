/**
 * The audit log's data (docs/architecture.md#users-and-flows): what `git log` gives (commits with their changed files
 * and blob SHAs) in, and Policy Created / Updated / Attached / Detached / Deleted events out.
 */
import type { Delta } from 'jsondiffpatch';
import type { PolicyChangeDescription } from '../policy/change.js';
import type { ScopeType } from '../policy/model.js';

export const HISTORY_EVENT_TYPES = ['created', 'updated', 'attached', 'detached', 'deleted'] as const;
export type HistoryEventType = (typeof HISTORY_EVENT_TYPES)[number];

/**
 * One changed file of a commit, as `git log --raw -M` reports it against the first parent.
 * `A` added, `M` modified, `T` type changed, `D` deleted, `R` renamed (then `oldPath` is set).
 * Blob SHAs are absent on the side where the file does not exist.
 */
export interface HistoryChange {
  status: 'A' | 'M' | 'T' | 'D' | 'R';
  /** Repository-relative path after the change (for `D`, the deleted path). */
  path: string;
  /** For `R`: the path before the rename. */
  oldPath?: string;
  oldBlob?: string;
  newBlob?: string;
}

export interface HistoryCommit {
  sha: string;
  author: string;
  authorEmail?: string;
  /** When the commit entered the branch (committer date), ISO 8601 UTC. */
  date: string;
  /** Full commit message; the PR number comes from its first line. */
  message: string;
  changes: HistoryChange[];
}

/** A scope as in attachments.yml (key lower-cased). */
export interface HistoryScope {
  type: ScopeType;
  key: string;
}

/**
 * How a policy's content changed: the description the review gives too (`describePolicyChange`),
 * plus the delta and the text diff. The described part is null when either side could not be
 * parsed (see the event's notes).
 */
export interface PolicyDiff extends NullableFields<PolicyChangeDescription> {
  /** jsondiffpatch delta of the normalized policies (endpoint arrays hashed by value), for renderers. */
  delta: Delta | null;
  /** Unified diff of the YAML text (`---`/`+++` headers, `@@` hunks, 3 lines of context). */
  text: string[];
}

type NullableFields<T> = { [K in keyof T]: T[K] | null };

export interface HistoryEvent {
  type: HistoryEventType;
  /** Policy name (the file stem under policies/). */
  policy: string;
  /** The scope for attached/detached; null otherwise. */
  scope: HistoryScope | null;
  commit: string;
  author: string;
  authorEmail: string | null;
  /** Committer date of the commit, ISO 8601 UTC (`...Z`), whatever the local time zone. */
  date: string;
  /** Pull request number from a merge ("Merge pull request #12 from ...") or squash ("Title (#12)") subject. */
  pr: number | null;
  /** For updated (and for created by a rename whose content changed): the diff; null otherwise. */
  diff: PolicyDiff | null;
  /** First line of the commit message. */
  subject: string;
  /** Things the reader should know: invalid YAML at this commit, content that was not available, ... */
  notes: string[];
  /** A git-detected rename is Deleted(old, renamedTo) + Created(new, renamedFrom) in one commit. */
  renamedFrom?: string;
  renamedTo?: string;
}

export interface HistoryOptions {
  /**
   * Only events of this policy, following git-detected renames back in time (events of the
   * old name before the rename are included), and its attachments.
   */
  policy?: string;
  /** Only commits with a date at or after this instant (ISO 8601). */
  since?: string;
  /** At most this many events (the newest). */
  limit?: number;
}
