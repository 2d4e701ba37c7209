/**
 * Which workflow files of a repository call which (job-level `uses:` of a reusable workflow in
 * the same repository), and which also run on events of their own: the call graph that lets a
 * called workflow's jobs follow their callers' policy (src/policy/callers.ts). Pure: texts in.
 */
import { parse } from 'yaml';
import type { CallGraph, CalledWorkflow } from '../policy/callers.js';

export interface WorkflowFile {
  /** `.github/workflows/F` as in the repository. */
  path: string;
  text: string;
}

const LOCAL_CALL = /^\.\/(\.github\/workflows\/[^/@\s]+\.ya?ml)$/i;
const REMOTE_CALL = /^([^/\s]+\/[^/\s]+)\/(\.github\/workflows\/[^/@\s]+\.ya?ml)@\S+$/i;

/** `.github/workflows/F` (lower-case) a job-level `uses:` names in `repository`, if it is one of its own. */
export function calledWorkflowPath(uses: string, repository: string): string | undefined {
  const value = uses.trim();
  const local = LOCAL_CALL.exec(value);
  if (local?.[1]) return local[1].toLowerCase();
  const remote = REMOTE_CALL.exec(value);
  if (remote?.[1] && remote[2] && remote[1].toLowerCase() === repository.toLowerCase()) return remote[2].toLowerCase();
  return undefined;
}

/** The events a workflow's `on:` names (string, list or mapping). */
export function workflowEvents(on: unknown): string[] {
  if (typeof on === 'string') return [on];
  if (Array.isArray(on)) return on.filter((event): event is string => typeof event === 'string');
  if (on !== null && typeof on === 'object') return Object.keys(on);
  return [];
}

/** The call graph of a repository's workflow files; files that do not parse call nothing. */
export function workflowCalls(repository: string, files: readonly WorkflowFile[]): CallGraph {
  const callers = new Map<string, Set<string>>();
  const ownEvents = new Map<string, boolean>();
  for (const file of files) {
    let doc: unknown;
    try {
      doc = parse(file.text, { maxAliasCount: 100, prettyErrors: false });
    } catch {
      continue;
    }
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) continue;
    const workflow = doc as { on?: unknown; true?: unknown; jobs?: unknown };
    const path = file.path.replace(/\\/g, '/').replace(/^\.\//, '').toLowerCase();
    // YAML 1.1 readers turn a bare `on` key into `true`; the `yaml` library (1.2) keeps "on".
    ownEvents.set(path, workflowEvents(workflow.on ?? workflow.true).some((event) => event !== 'workflow_call'));
    const jobs = workflow.jobs;
    if (jobs === null || typeof jobs !== 'object' || Array.isArray(jobs)) continue;
    for (const job of Object.values(jobs as Record<string, unknown>)) {
      const uses = job !== null && typeof job === 'object' ? (job as { uses?: unknown }).uses : undefined;
      if (typeof uses !== 'string') continue;
      const called = calledWorkflowPath(uses, repository);
      if (called === undefined || called === path) continue;
      const set = callers.get(called) ?? new Set<string>();
      set.add(path);
      callers.set(called, set);
    }
  }
  const graph = new Map<string, CalledWorkflow>();
  for (const [called, set] of callers) graph.set(called, { callers: [...set].sort(), ownEvents: ownEvents.get(called) ?? false });
  return graph;
}
