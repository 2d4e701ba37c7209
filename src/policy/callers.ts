/**
 * Reusable workflows follow their callers (docs/architecture.md#precedence): when a workflow runs
 * through `workflow_call`, the calling workflow's attachment decides (the OIDC `workflow_ref` is
 * the caller's). For the called workflow's own jobs in the same repository that means: one
 * caller, its policy; callers that differ, the widest of them (endpoints united, block only if
 * every caller blocks), with a warning naming them. A workflow that also runs on events of its
 * own counts as one of its sources. Pure: attachments, policies and the call graph in, data out.
 */
import { PASSTHROUGH_FLAGS, type AttachmentMap, type CompiledPolicy, type LockdownMode } from './model.js';
import { effectivePolicy, workflowKey, type ScopeRef } from './resolve.js';

/** How a workflow file of a repository is started. */
export interface CalledWorkflow {
  /** `.github/workflows/F` (lower-case) of each workflow in the same repository with a job that calls it. */
  callers: readonly string[];
  /** It also runs on events of its own (`on:` names more than `workflow_call`). */
  ownEvents: boolean;
}

/** Same-repository calls: called `.github/workflows/F` (lower-case) -> its callers. */
export type CallGraph = ReadonlyMap<string, CalledWorkflow>;

/** One workflow whose runs start the called workflow's jobs, and the policy it gets. */
export interface PolicySource {
  /** `.github/workflows/F` (lower-case). */
  workflow: string;
  /** Callers in between, outermost first (empty: it calls the workflow directly, or is the workflow itself). */
  via: string[];
  policy: string | null;
  scope: ScopeRef | null;
}

export interface CallerResolution {
  /** Every workflow whose runs decide, sorted by workflow. */
  sources: PolicySource[];
  /** The policy the called workflow's jobs get: the one of all sources, or the widest of several (named `a+b`). */
  policy: CompiledPolicy | null;
  /** The sources name different policies (or some none). */
  differ: boolean;
  /** Why, in one line: `called by release.yml (policy release-block)`. */
  reason: string;
  /** Set when the sources differ: names them. */
  warning?: string;
}

/** `.github/workflows/F` of a workflow key or path, lower-case. */
function pathOf(workflow: string): string {
  const at = workflow.indexOf('.github/workflows/');
  return (at === -1 ? workflow : workflow.slice(at)).toLowerCase();
}

/**
 * The workflows whose runs start `workflowPath`'s jobs: its callers (followed up through callers
 * of callers), plus itself when it runs on events of its own. Undefined when no workflow of the
 * repository calls it (its own attachment decides, as usual).
 */
export function policySources(attachments: AttachmentMap, policies: Readonly<Record<string, CompiledPolicy>>, repository: string, workflowPath: string, graph: CallGraph): PolicySource[] | undefined {
  const start = pathOf(workflowPath);
  if ((graph.get(start)?.callers.length ?? 0) === 0) return undefined;
  const sources = new Map<string, PolicySource>();
  const visit = (workflow: string, via: string[], seen: ReadonlySet<string>): void => {
    const called = graph.get(workflow);
    const callers = (called?.callers ?? []).filter((caller) => !seen.has(caller));
    // Its own runs count when it has events of its own, or when nothing (else) calls it.
    if (called === undefined || called.ownEvents || callers.length === 0) {
      if (!sources.has(workflow)) {
        const answer = effectivePolicy(attachments, policies, { repository, workflow: workflowKey(workflow, repository) });
        sources.set(workflow, { workflow, via, policy: answer.policy, scope: answer.scope });
      }
    }
    for (const caller of callers) visit(caller, [workflow, ...via], new Set([...seen, caller]));
  };
  const called = graph.get(start);
  for (const caller of called?.callers ?? []) visit(caller, [], new Set([start, caller]));
  if (called?.ownEvents) {
    const answer = effectivePolicy(attachments, policies, { repository, workflow: workflowKey(start, repository) });
    sources.set(start, { workflow: start, via: [], policy: answer.policy, scope: answer.scope });
  }
  return [...sources.values()].sort((a, b) => (a.workflow < b.workflow ? -1 : a.workflow > b.workflow ? 1 : 0));
}

/**
 * The widest of several policies: block only if every one blocks (then the endpoints united),
 * a `disable-*` flag, `no-default-urls` and lockdown only if every one sets them. Named after
 * its members, `a+b`.
 */
export function widestPolicy(members: readonly CompiledPolicy[]): CompiledPolicy {
  const names = [...new Set(members.map((member) => member.name))].sort();
  const block = members.length > 0 && members.every((member) => member['egress-policy'] === 'block');
  const result: CompiledPolicy = {
    name: names.join('+'),
    'egress-policy': block ? 'block' : 'audit',
    'allowed-endpoints': block ? [...new Set(members.flatMap((member) => member['allowed-endpoints']))].sort() : [],
  };
  for (const flag of PASSTHROUGH_FLAGS) {
    if (members.every((member) => member[flag] === true)) result[flag] = true;
  }
  if (!block) delete result['disable-telemetry'];
  // Keys only some targets read keep what every caller says, never less (lockdown: the detections all share).
  if (members.length > 0 && members.every((member) => member['no-default-urls'] === true)) result['no-default-urls'] = true;
  const lockdowns = members.map((member) => member['lockdown-mode']);
  if (members.length > 0 && lockdowns.every((mode) => mode?.enabled === true)) {
    const [first, ...rest] = lockdowns as LockdownMode[];
    result['lockdown-mode'] = { enabled: true, detections: first!.detections.filter((detection) => rest.every((mode) => mode.detections.includes(detection))) };
  }
  return result;
}

function fileName(workflow: string): string {
  return workflow.slice(workflow.lastIndexOf('/') + 1);
}

function describeSource(source: PolicySource): string {
  const how = source.via.length > 0 ? ` through ${source.via.map(fileName).join(' -> ')}` : '';
  return `${fileName(source.workflow)}${how} (${source.policy === null ? 'no policy attached' : `policy ${source.policy}`})`;
}

/**
 * What a called workflow's jobs get from its sources, or undefined when nothing in the
 * repository calls it. A source with no policy attached counts as audit when others have one.
 */
export function resolveThroughCallers(
  attachments: AttachmentMap,
  policies: Readonly<Record<string, CompiledPolicy>>,
  repository: string,
  workflowPath: string,
  graph: CallGraph,
): CallerResolution | undefined {
  const sources = policySources(attachments, policies, repository, workflowPath, graph);
  if (!sources || sources.length === 0) return undefined;
  const start = pathOf(workflowPath);
  const names = new Set(sources.map((source) => source.policy));
  const listed = sources.map((source) => (source.workflow === start ? `its own runs (${source.policy === null ? 'no policy attached' : `policy ${source.policy}`})` : describeSource(source)));
  const callers = sources.filter((source) => source.workflow !== start);
  const what = `${fileName(start)} is a reusable workflow called by ${callers.map((source) => fileName(source.workflow)).join(', ')}`;
  if (names.size === 1) {
    const only = sources[0]?.policy ?? null;
    const policy = only === null ? null : (policies[only] ?? null);
    return { sources, policy, differ: false, reason: `${what}: its jobs follow ${listed.join(', ')}` };
  }
  const members = sources.map((source) => (source.policy === null ? undefined : policies[source.policy]));
  // No policy attached counts as audit: the widest of anything and audit is audit.
  const known = members.filter((member): member is CompiledPolicy => member !== undefined);
  const unattached = members.some((member) => member === undefined);
  const widest: CompiledPolicy = unattached ? { name: widestPolicy(known).name, 'egress-policy': 'audit', 'allowed-endpoints': [] } : widestPolicy(known);
  const mode = widest['egress-policy'] === 'block' ? `block with the endpoints of all of them united` : 'audit (not every one blocks)';
  return {
    sources,
    policy: widest,
    differ: true,
    reason: `${what}: its jobs get the widest of ${listed.join(', ')}: ${mode}`,
    warning: `${fileName(start)} is called by workflows with different policies (${listed.join(', ')}): its jobs get the widest, ${mode}; attach one policy to all of them, or split the workflow`,
  };
}
