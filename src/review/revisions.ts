/**
 * The I/O edge of the review: load two revisions of a policy repository (git objects, or the work
 * tree for the head) and review them. Loading problems are returned, not thrown, so a caller can
 * show the diff next to the errors.
 */
import type { Result } from '../policy/diagnostics.js';
import { loadPolicyRepository, type Snapshot } from '../store/repository.js';
import type { PolicyRepository } from '../store/repository.js';
import { WORK_TREE_LABEL, type Review } from './model.js';
import { prepareReviewInput, reviewChange } from './review.js';

export type LoadedRevision = Result<PolicyRepository> & { snapshot: Snapshot };

export interface ReviewRevisionsOptions {
  /** The policy repository's directory (inside a git work tree). */
  dir: string;
  /** Base revision (branch, tag, SHA, `HEAD~1`, ...). */
  base: string;
  /** Head revision; the work tree when omitted. */
  head?: string;
  /** The instant the breakage forecast is about (expiring exceptions); now when omitted. */
  at?: Date | number;
}

export async function reviewRevisions(options: ReviewRevisionsOptions): Promise<Review & { baseResult: LoadedRevision; headResult: LoadedRevision }> {
  const [baseResult, headResult] = await Promise.all([
    loadPolicyRepository({ dir: options.dir, rev: options.base }),
    options.head === undefined ? loadPolicyRepository({ dir: options.dir }) : loadPolicyRepository({ dir: options.dir, rev: options.head }),
  ]);
  const base = prepareReviewInput(baseResult.value, withRevision(options.base, baseResult.snapshot));
  const head = prepareReviewInput(headResult.value, withRevision(options.head ?? WORK_TREE_LABEL, headResult.snapshot));
  if (headResult.errors.length > 0) head.invalidFiles = new Set(headResult.errors.map((error) => error.file));
  return { ...reviewChange(base, head, { at: options.at ?? Date.now() }), baseResult, headResult };
}

function withRevision(label: string, snapshot: Snapshot): { label: string; revision?: string } {
  return snapshot.revision === undefined ? { label } : { label, revision: snapshot.revision };
}
