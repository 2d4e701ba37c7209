/**
 * Which ARC cluster a job ran on (docs/architecture.md#arc-clusters-in-baselines), from what each
 * source knows: the runner's job-started hook prints its own cluster into the job log ("Set up
 * runner"), and the App maps a `workflow_job` payload's runner group and labels through the
 * `clusters` section of egressctl.yml. Pure.
 */
import type { ClusterMapping } from '../policy/model.js';
import { SCOPE_KEY_PATTERNS } from '../policy/scope-keys.js';
import { cleanLine } from './log.js';

/** What `egressctl hook job-started --cluster NAME` prints; the runner shows it under "Set up runner". */
export const HOOK_CLUSTER_PREFIX = 'egressctl: runner cluster: ';

export function hookClusterLine(cluster: string): string {
  return `${HOOK_CLUSTER_PREFIX}${cluster}`;
}

/**
 * The cluster the job-started hook printed, or undefined. The first such line counts: the hook
 * runs before any step, so a later line printed by a step cannot change it.
 */
export function clusterFromJobLog(text: string): string | undefined {
  for (const raw of text.split('\n')) {
    if (!raw.includes(HOOK_CLUSTER_PREFIX)) continue;
    const { text: line } = cleanLine(raw);
    if (!line.startsWith(HOOK_CLUSTER_PREFIX)) continue;
    const name = line.slice(HOOK_CLUSTER_PREFIX.length).trim().toLowerCase();
    return SCOPE_KEY_PATTERNS.cluster.test(name) ? name : undefined;
  }
  return undefined;
}

/** What a `workflow_job` payload says about the runner. */
export interface RunnerFacts {
  /** `runner_group_name`; null for a job that never got a runner. */
  runnerGroup?: string | null;
  /** `labels`: what the job's `runs-on` asked for. */
  labels?: readonly string[];
}

/**
 * The first cluster (in egressctl.yml order) whose `runner-groups` holds the job's runner group,
 * else the first whose `labels` hold every label the job asked for (GitHub gives a job a runner
 * that has all of its labels). Names compare case-insensitively. Undefined when none matches.
 */
export function clusterForRunner(clusters: readonly ClusterMapping[], runner: RunnerFacts): string | undefined {
  const group = runner.runnerGroup?.trim().toLowerCase();
  if (group) {
    const byGroup = clusters.find((cluster) => cluster.runnerGroups.includes(group));
    if (byGroup) return byGroup.name;
  }
  const labels = (runner.labels ?? []).map((label) => label.trim().toLowerCase()).filter((label) => label !== '');
  if (labels.length === 0) return undefined;
  return clusters.find((cluster) => cluster.labels.length > 0 && labels.every((label) => cluster.labels.includes(label)))?.name;
}
