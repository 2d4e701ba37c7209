/** `--format json`: the Review itself, without anything a loader attached to it. */
import type { Review } from './model.js';

export function renderJson(review: Review): string {
  const { base, head, summary, policies, attachments, scopes, scopeGroups, breakage, risks, firewall } = review;
  return `${JSON.stringify({ base, head, summary, policies, attachments, scopes, scopeGroups, breakage, risks, ...(firewall ? { firewall } : {}) }, null, 2)}\n`;
}
