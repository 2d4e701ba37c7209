/**
 * The console's I/O edge: per served revision, the policy repository's files, baselines and
 * settings (from the git source at that revision, or from a plain directory whose content is
 * that revision) and its history (git log). Each is computed once per revision and shared by
 * every request; a new revision replaces them.
 */
import type { Bundle } from '../../bundle/build.js';
import { contentRevision } from '../../bundle/build.js';
import { readHistory } from '../../history/index.js';
import { loadPolicyRepository } from '../../store/repository.js';
import { flattenPolicies } from '../../policy/flatten.js';
import { attachmentMap } from '../../policy/model.js';
import { gitText } from '../../util/git.js';
import { BoundedMap } from '../../util/bounded-map.js';
import { buildSnapshot, groupHistory, type ConsoleSnapshot, type HistoryEntry, type RepositoryView } from './model.js';
import { messageOf } from '../../util/errors.js';

/** Events read per history (the newest); older ones are left out with a note. */
export const HISTORY_EVENT_LIMIT = 20_000;

export interface SourceRef {
  /** `git`, `worktree`, `file`, `upstream`, `none`. */
  kind: string;
  location: string;
}

export type HistoryView = { entries: HistoryEntry[]; truncatedAt: number | undefined } | { missing: string };

const NO_FILES_MESSAGE =
  'This server serves a compiled bundle (from a bundle file or an upstream server): the YAML as written, baselines and history are not in it. Start egressctl serve with --source pointing at the policy repository (a git work tree) to see them.';


async function loadRepositoryView(bundle: Bundle, source: SourceRef): Promise<{ view: RepositoryView } | { missing: string }> {
  if (source.kind === 'git') {
    try {
      const loaded = await loadPolicyRepository({ dir: source.location, rev: bundle.revision });
      const { files, baselines, settings } = loaded.value;
      return { view: { files, baselines, settings } };
    } catch (error) {
      return { missing: `The policy repository's files at revision ${bundle.revision} cannot be read from ${source.location}: ${messageOf(error)}` };
    }
  }
  if (source.kind === 'worktree') {
    try {
      const loaded = await loadPolicyRepository({ dir: source.location });
      // The directory may have changed since this bundle was compiled: show its files only when they are this revision.
      if (loaded.errors.length > 0 || contentRevision(flattenPolicies(loaded.value), attachmentMap(loaded.value.attachments)) !== bundle.revision) {
        return { missing: `The files in ${source.location} changed since revision ${bundle.revision} was compiled; they are shown once the server serves them.` };
      }
      const { files, baselines, settings } = loaded.value;
      return { view: { files, baselines, settings } };
    } catch (error) {
      return { missing: `The files in ${source.location} cannot be read: ${messageOf(error)}` };
    }
  }
  return { missing: NO_FILES_MESSAGE };
}

/** `owner/repo` of a remote URL on the given GitHub host, or undefined. */
export function repositoryFromRemote(remote: string, githubUrl: string): string | undefined {
  let host: string;
  try {
    host = new URL(githubUrl).host.toLowerCase();
  } catch {
    return undefined;
  }
  const text = remote.trim();
  const match =
    /^(?:https?|ssh|git):\/\/(?:[^@/]+@)?([^/:]+)(?::\d+)?\/([^/]+)\/([^/]+?)(?:\.git)?\/?$/i.exec(text) ?? /^(?:[^@/]+@)?([^/:]+):([^/]+)\/([^/]+?)(?:\.git)?$/.exec(text);
  if (!match || (match[1] ?? '').toLowerCase() !== host.replace(/:\d+$/, '')) return undefined;
  const repository = `${match[2]}/${match[3]}`;
  return /^[A-Za-z0-9-]+\/[A-Za-z0-9._-]+$/.test(repository) ? repository : undefined;
}

export class ConsoleLoader {
  private readonly snapshots = new BoundedMap<string, Promise<ConsoleSnapshot>>(2);
  private readonly histories = new BoundedMap<string, Promise<HistoryView>>(64);
  private readonly remotes = new BoundedMap<string, Promise<string | undefined>>(8);

  /** The snapshot of `bundle`, computed at most once per revision (concurrent callers share it). */
  snapshot(bundle: Bundle, source: SourceRef): Promise<ConsoleSnapshot> {
    const key = `${bundle.digest}\u0000${source.kind}\u0000${source.location}`;
    let snapshot = this.snapshots.get(key);
    if (!snapshot) {
      snapshot = loadRepositoryView(bundle, source).then((result) =>
        'view' in result ? buildSnapshot(bundle, result.view) : buildSnapshot(bundle, undefined, result.missing),
      );
      this.snapshots.set(key, snapshot);
      snapshot.catch(() => this.snapshots.delete(key));
    }
    return snapshot;
  }

  /** History at the revision (all policies, or one following renames), grouped for display. */
  history(bundle: Bundle, source: SourceRef, policy: string | undefined): Promise<HistoryView> {
    if (source.kind !== 'git') {
      return Promise.resolve({
        missing:
          source.kind === 'worktree'
            ? 'History is read from git log: this source directory is not a git repository.'
            : 'History is read from the policy repository\'s git log: this server serves a compiled bundle (file or upstream). Start egressctl serve with --source pointing at the policy repository (a git work tree) to see it.',
      });
    }
    const key = `${bundle.revision}\u0000${source.location}\u0000${policy ?? ''}`;
    let history = this.histories.get(key);
    if (!history) {
      history = readHistory({ dir: source.location, rev: bundle.revision, limit: HISTORY_EVENT_LIMIT, ...(policy === undefined ? {} : { policy }) }).then(
        (events): HistoryView => ({ entries: groupHistory(events), truncatedAt: events.length >= HISTORY_EVENT_LIMIT ? HISTORY_EVENT_LIMIT : undefined }),
        (error: unknown): HistoryView => {
          // Not kept: the next request tries again.
          this.histories.delete(key);
          return { missing: `History cannot be read at revision ${bundle.revision}: ${messageOf(error)}` };
        },
      );
      this.histories.set(key, history);
    }
    return history;
  }

  /** The policy repository on GitHub from the source's `origin` remote, when it is on `githubUrl`. */
  remoteRepository(source: SourceRef, githubUrl: string): Promise<string | undefined> {
    if (source.kind !== 'git') return Promise.resolve(undefined);
    const key = `${source.location}\u0000${githubUrl}`;
    let remote = this.remotes.get(key);
    if (!remote) {
      remote = gitText(source.location, ['remote', 'get-url', 'origin']).then(
        (text) => repositoryFromRemote(text, githubUrl),
        () => undefined,
      );
      this.remotes.set(key, remote);
    }
    return remote;
  }
}
