/**
 * "Never serve an older bundle" (docs/security.md): how a candidate bundle is ordered against the
 * one served or published now. Used by the server's bundle store (every source, and publish) and
 * by the GitHub App's bundle-file publisher, so both refuse the same things with the same words.
 */

/** What ordering needs of a bundle. */
export interface RevisionPoint {
  revision: string;
  committedAt: string;
}

export type Relation = 'descendant' | 'not-descendant' | 'unknown';

/** How a candidate is ordered against the served bundle. */
export type Ordering =
  /** Files, upstreams, publish: an older `committedAt` is refused. */
  | { kind: 'committed-at' }
  /** A plain directory: whatever content differs replaces (there is no history to compare with). */
  | { kind: 'content' }
  /**
   * A git source: the candidate commit must descend from the served one. `relation` answers
   * `unknown` when the served revision is not a commit of this repository (gc'd, a fresh clone
   * started with an old state directory): `onUnknown` says whether that refuses (a git source:
   * rewritten history must not slip through on commit dates; docs/security.md) or falls back to
   * committedAt (publish, whose caller already compared what it could).
   */
  | {
      kind: 'git';
      allowRewind: boolean;
      onUnknown?: 'refuse' | 'committed-at';
      relation(served: string, candidate: string): Promise<Relation>;
    };

/**
 * The ordering of a publish (the GitHub App): by ancestry when the publisher can tell
 * (`isDescendant(servedRevision)`, undefined when it cannot), else by committedAt.
 */
export function publishOrdering(isDescendant?: (servedRevision: string) => Promise<boolean | undefined>): Ordering {
  if (!isDescendant) return { kind: 'committed-at' };
  return {
    kind: 'git',
    allowRewind: false,
    relation: async (served) => {
      const answer = await isDescendant(served);
      return answer === undefined ? 'unknown' : answer ? 'descendant' : 'not-descendant';
    },
  };
}

/**
 * Why replacing `from` with `to` would step back, or undefined when it does not. `role` names
 * `from` in the message: the server's `served` bundle (whose refusals a restart with
 * --allow-rewind overrides) or a `published` bundle file.
 */
export async function stepsBack(from: RevisionPoint, to: RevisionPoint, ordering: Ordering, role: 'served' | 'published' = 'served'): Promise<string | undefined> {
  const rewind = role === 'served' ? '; start with --allow-rewind to accept it' : '';
  const olderByDate = (): string | undefined =>
    Date.parse(to.committedAt) < Date.parse(from.committedAt)
      ? `revision ${to.revision} (committed ${to.committedAt}) is older than the ${role} ${from.revision} (committed ${from.committedAt})`
      : undefined;
  switch (ordering.kind) {
    case 'content':
      return undefined;
    case 'committed-at':
      return olderByDate();
    case 'git': {
      if (ordering.allowRewind) return undefined;
      const relation = await ordering.relation(from.revision, to.revision);
      if (relation === 'descendant') return undefined;
      if (relation === 'unknown') {
        if (ordering.onUnknown !== 'refuse') return olderByDate();
        return `the ${role} commit ${from.revision} is not in this repository (garbage-collected, or a fresh clone started with an old state directory), so commit ${to.revision} cannot be shown to descend from it${rewind}`;
      }
      return `commit ${to.revision} does not descend from the ${role} ${from.revision} (history rewritten or another branch checked out)${rewind}`;
    }
  }
}
