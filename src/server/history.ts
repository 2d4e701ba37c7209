/**
 * /v1/history for a git source: the git log of the policy repository (src/history), newest
 * first, cached per HEAD commit and policy so that a console refresh does not rerun git log.
 */
import { readHistory } from '../history/index.js';
import { isGitWorkTree, resolveCommit } from '../util/git.js';
import { BoundedMap } from '../util/bounded-map.js';
import type { HistoryProvider } from './routes.js';

/** At most this many events per answer (the newest). */
export const HISTORY_LIMIT = 1000;

/** A provider reading `dir`'s git log, or undefined when `dir` is not in a git work tree. */
export async function gitHistoryProvider(dir: string): Promise<HistoryProvider | undefined> {
  if (!(await isGitWorkTree(dir))) return undefined;
  const cache = new BoundedMap<string, Promise<unknown[]>>(64);
  return async (policy) => {
    const head = await resolveCommit(dir, 'HEAD');
    const key = `${head}\u0000${policy ?? ''}`;
    let events = cache.get(key);
    if (!events) {
      events = readHistory({ dir, rev: head, limit: HISTORY_LIMIT, ...(policy === undefined ? {} : { policy }) });
      cache.set(key, events);
      // A failed read is not cached: the next request tries again.
      events.catch(() => cache.delete(key));
    }
    return events;
  };
}
