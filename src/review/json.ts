/** `--format json`: the Review itself, without anything a loader attached to it. */
import type { Review } from './model.js';

export function renderJson(review: Review): string {
  const { base, head, at, summary, policies, attachments, scopes, scopeGroups, breakage, breakageLater, risks, firewall } = review;
  return `${JSON.stringify({ base, head, at, summary, policies, attachments, scopes, scopeGroups, breakage, breakageLater, risks, ...(firewall ? { firewall } : {}) }, null, 2)}\n`;
}
