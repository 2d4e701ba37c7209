/**
 * The review engine behind `egressctl diff` and the GitHub App's pull request comment: what a
 * change to the policy repository does to policies, attachments, effective policies per scope
 * and jobs seen in baselines. The public API.
 */
// This export list names the same model types review.ts imports (`duplicates` pairs them by shape): the public API, kept.
export {
  RISK_KINDS,
  RISK_TITLES,
  WORK_TREE_LABEL,
  type AttachmentChange,
  type AttachmentChangeKind,
  type EffectiveRef,
  type JobBreakage,
  type JobExpiryBreakage,
  type KeyChange,
  type OrganizationCount,
  type PolicyChange,
  type PolicyChangeKind,
  type Review,
  type ReviewInput,
  type ReviewSummary,
  type RiskKind,
  type RiskSummary,
  type ScopeChange,
  type ScopeGroup,
  type ScopeRef,
  type ScopeWhy,
  type WhyKind,
} from './model.js';
export { diffAttachments, prepareReviewInput, reviewChange, type ReviewOptions } from './review.js';
export { reviewRevisions, type LoadedRevision, type ReviewRevisionsOptions } from './revisions.js';
export { GITHUB_COMMENT_LIMIT, defaultCommand, renderMarkdown, type MarkdownOptions } from './markdown.js';
export { renderText, type TextOptions } from './text.js';
export { renderJson } from './json.js';
export { escapeHtml, escapeMarkdown } from './escape.js';
export { EndpointMatcher, covers, widenedWildcards } from './endpoints.js';
