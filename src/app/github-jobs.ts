/**
 * `workflow_job` webhooks name a job by its display name (`name:`, or the job id, plus
 * ` (a, b)` for a matrix leg), never by the job id that keys baselines. This finds the job id
 * from the workflow file at the run's commit. Pure.
 */
import { isMap, isPair, isScalar, parseDocument } from 'yaml';

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A display-name template with `${{ ... }}` expressions as a pattern: expressions match anything. */
function templatePattern(template: string): RegExp {
  const parts = template.split(/\$\{\{[\s\S]*?\}\}/);
  return new RegExp(`^${parts.map(escapeRegExp).join('.*?')}( \\(.*\\))?$`, 's');
}

/**
 * The job id (key under `jobs:`) whose run is called `displayName`, or undefined when no job or
 * several jobs fit (a reusable workflow's jobs, `caller / callee`, live in another file).
 */
export function jobIdForDisplayName(workflowText: string, displayName: string): string | undefined {
  const doc = parseDocument(workflowText, { uniqueKeys: false });
  const root = doc.contents;
  const jobsNode = isMap(root) ? root.items.find((pair) => isPair(pair) && isScalar(pair.key) && pair.key.value === 'jobs')?.value : undefined;
  if (!isMap(jobsNode)) return undefined;
  const jobs: { id: string; name: string }[] = [];
  for (const pair of jobsNode.items) {
    if (!isPair(pair) || !isScalar(pair.key)) continue;
    const id = String(pair.key.value);
    const nameNode = isMap(pair.value) ? pair.value.items.find((item) => isPair(item) && isScalar(item.key) && item.key.value === 'name')?.value : undefined;
    const name = isScalar(nameNode) && nameNode.value !== null && nameNode.value !== undefined ? String(nameNode.value) : id;
    jobs.push({ id, name });
  }
  const unique = (matches: { id: string }[]): string | undefined => (matches.length === 1 ? matches[0]?.id : undefined);
  const exact = jobs.filter((job) => job.name === displayName);
  if (exact.length > 0) return unique(exact);
  // A matrix leg: `<name> (<values>)`.
  const leg = jobs.filter((job) => displayName.startsWith(`${job.name} (`) && displayName.endsWith(')'));
  if (leg.length > 0) return unique(leg);
  const templated = jobs.filter((job) => job.name.includes('${{') && templatePattern(job.name).test(displayName));
  if (templated.length > 0) return unique(templated);
  return unique(jobs.filter((job) => job.id === displayName));
}
