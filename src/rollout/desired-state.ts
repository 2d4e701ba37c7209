/**
 * The desired state of a workflow's jobs, from the policy store (docs/reconciliation.md): the
 * effective policy of the workflow (workflow > repository > organization) decides each job's
 * Harden-Runner step; baselines are evidence only. Pure: store data in, plans out.
 */
import { AUDIT_DEFAULT_VALUE, deliveryFits, MAX_EXPRESSION_LENGTH, variableChain, variableValue } from '../policy/delivery.js';
import { endpointFromText, IMPLICIT_ENDPOINT_PATTERNS, isAllowed, type Endpoint } from '../policy/endpoint.js';
import { resolveThroughCallers, type CallGraph } from '../policy/callers.js';
import { effectivePolicy, workflowKey, type ScopeRef } from '../policy/resolve.js';
import {
  PASSTHROUGH_FLAGS,
  type AttachmentMap,
  type CompiledPolicy,
  type EgressMode,
  type HardenRunnerFlags,
  type Settings,
} from '../policy/model.js';
import { baselinePlanner, type BaselineEvidence, type SeenEndpoint } from './harden-plan.js';
import type { HardenRunnerPlan, JobInfo, JobOutcome, JobPlanner, JobSkip } from './harden.js';

/** What the store holds, as the bundle has it: flattened policies and attachments by section. */
export interface StoreState {
  attachments: AttachmentMap;
  policies: Readonly<Record<string, CompiledPolicy>>;
  settings: Pick<Settings, 'hardenRunner' | 'unattached' | 'delivery'> & Partial<Pick<Settings, 'githubFirewall'>>;
}

/** The desired state of one workflow file (every job of it follows the same policy). */
export interface DesiredWorkflowState {
  /** `owner/repo/.github/workflows/F`, lower-cased. */
  workflow: string;
  /** The policy that applies, or null (nothing attached). */
  policy: string | null;
  /** The scope whose attachment won. */
  scope: ScopeRef | null;
  /** `skip`: leave the workflow alone (`unattached: skip`); `baseline`: decided per job from baselines. */
  mode: EgressMode | 'skip' | 'baseline';
  /** Canonical `host:port`, sorted (block mode only). */
  endpoints: string[];
  flags: HardenRunnerFlags;
  /**
   * The value a policy variable holds for this state (`variableValue`): with `delivery:
   * variables`, the literal at the end of the managed step's `||` chain (docs/reconciliation.md).
   */
  delivered: string;
  /**
   * A reusable workflow's jobs follow its callers in the same repository (src/policy/callers.ts):
   * why, which workflow's variables carry its policy (undefined: none can, the step gets literals),
   * and a warning when the callers' policies differ.
   */
  callers?: { reason: string; variablesOf?: string; warning?: string };
}

/**
 * The effective policy of one workflow of a repository, or what `unattached` says when none
 * applies. With `callers` (the repository's call graph), a workflow other workflows call
 * follows them instead of its own attachment.
 */
export function desiredWorkflowState(store: StoreState, repository: string, workflowPath: string, callers?: CallGraph): DesiredWorkflowState {
  const workflow = workflowKey(workflowPath, repository) ?? workflowPath.toLowerCase();
  const through = callers ? resolveThroughCallers(store.attachments, store.policies, repository, workflowPath, callers) : undefined;
  const answer = through ? undefined : effectivePolicy(store.attachments, store.policies, { repository, workflow });
  const policy = through ? (through.policy ?? undefined) : answer?.policy === null || answer === undefined ? undefined : store.policies[answer.policy];
  const callerState = through && {
    reason: through.reason,
    // One source: the step reads that workflow's variables. Several: no one variable holds their widest.
    ...(through.sources.length === 1 && through.sources[0] ? { variablesOf: through.sources[0].workflow } : {}),
    ...(through.warning ? { warning: through.warning } : {}),
  };
  if (!policy) {
    const unattached = store.settings.unattached;
    return { workflow, policy: null, scope: null, mode: unattached, endpoints: [], flags: {}, delivered: AUDIT_DEFAULT_VALUE, ...(callerState ? { callers: callerState } : {}) };
  }
  return {
    workflow,
    policy: policy.name,
    scope: through ? (through.differ ? null : (through.sources[0]?.scope ?? null)) : (answer?.scope ?? null),
    ...stepInputsOf(policy),
    delivered: variableValue(policy),
    ...(callerState ? { callers: callerState } : {}),
  };
}

/** What a policy puts in a step it manages with literals: mode, endpoints (block only, sorted), flags. */
export function stepInputsOf(policy: CompiledPolicy): { mode: EgressMode; endpoints: string[]; flags: HardenRunnerFlags } {
  const flags: HardenRunnerFlags = {};
  for (const flag of PASSTHROUGH_FLAGS) {
    const value = policy[flag];
    if (value !== undefined) flags[flag] = value;
  }
  return { mode: policy['egress-policy'], endpoints: policy['egress-policy'] === 'block' ? [...policy['allowed-endpoints']].sort() : [], flags };
}

/** Endpoints a job was seen using that `allowed` (plus what the agent allows by itself) would block. */
export function wouldBlock(seen: readonly SeenEndpoint[], allowed: readonly string[]): SeenEndpoint[] {
  const patterns: Endpoint[] = [...allowed.map(endpointFromText), ...IMPLICIT_ENDPOINT_PATTERNS];
  return seen.filter((item) => {
    const endpoint = endpointFromText(item.endpoint);
    return !isAllowed(patterns, endpoint.host, endpoint.port);
  });
}

/** A sync PR with evidence of endpoints the desired state would block opens as a draft. */
export function needsDraft(outcomes: readonly JobOutcome[]): boolean {
  return outcomes.some((outcome) => outcome.plan?.kind === 'harden-runner' && (outcome.plan.wouldBlock?.length ?? 0) > 0 && outcome.mode === 'block');
}

export interface StorePlannerOptions {
  store: StoreState;
  /** `owner/repo` */
  repository: string;
  /** `.github/workflows/F` */
  workflowPath: string;
  /** Re-pin a step the job already has. */
  repin?: boolean;
  /** The baseline of a job of this workflow: evidence for the report, and the source for `unattached: baseline`. */
  baselineOf?: (job: JobInfo) => BaselineEvidence | undefined;
  /** The repository's call graph (rollout/workflow-calls.ts): a called workflow follows its callers. */
  callers?: CallGraph;
}

/** Plans each job of a workflow from the store's desired state. */
export function storePlanner(options: StorePlannerOptions): JobPlanner {
  const desired = desiredWorkflowState(options.store, options.repository, options.workflowPath, options.callers);
  const pin = options.store.settings.hardenRunner;
  const baselineOf = options.baselineOf ?? (() => undefined);
  if (desired.mode === 'skip') {
    const skip: JobSkip = { skip: 'no policy attached and egressctl.yml says unattached: skip' };
    return () => skip;
  }
  if (desired.mode === 'baseline') {
    const fromBaseline = baselinePlanner({ pin, ...(options.repin ? { repin: true } : {}), baselineOf });
    return (job) => {
      const plan = fromBaseline(job);
      return 'kind' in plan && plan.kind === 'harden-runner' ? { ...plan, managedBy: { policy: null } } : plan;
    };
  }
  const scope = desired.scope ? `${desired.scope.type} ${desired.scope.key}` : 'no attachment';
  const note = desired.callers
    ? desired.callers.reason
    : desired.policy === null
      ? 'no policy attached: audit (egressctl.yml unattached: audit)'
      : `policy ${desired.policy} (${scope})`;
  // With variables delivery the step reads the variables of the workflow whose runs decide;
  // a called workflow whose callers differ gets literals (no one variable holds their widest).
  const variablesOf = desired.callers ? desired.callers.variablesOf : options.workflowPath;
  // The chain reads only the deciding scope's variable (and the workflow's): with it missing the
  // step falls to this literal, never to a broader scope's variable (a workflow attachment, the
  // workflow's own or its one caller's: only the workflow's; a repository's: EGRESSCTL_REPO_POLICY).
  const scopeType = desired.scope?.type;
  const chainScope = scopeType === 'workflow' || scopeType === 'repository' ? scopeType : 'organization';
  const chain = options.store.settings.delivery === 'variables' && variablesOf !== undefined ? variableChain(variablesOf, desired.delivered, { scope: chainScope }) : undefined;
  // A policy too large for GitHub's expression limit as the chain's fallback is written as literals.
  const variables = chain && deliveryFits(chain) ? chain : undefined;
  const tooLarge = chain !== undefined && variables === undefined;
  const mode: EgressMode = desired.mode;
  const plan: HardenRunnerPlan = {
    kind: 'harden-runner',
    pin,
    ...(options.repin ? { repin: true } : {}),
    mode,
    ...(mode === 'block' ? { endpoints: desired.endpoints } : {}),
    ...(Object.keys(desired.flags).length > 0 ? { flags: desired.flags } : {}),
    managedBy: { policy: desired.policy },
    // Variables override the store's answer as of this sync; they never stand in for it.
    ...(variables ? { variables } : {}),
    ...(desired.callers?.warning ? { warnings: [desired.callers.warning] } : {}),
    // The store is the desired state: when it says audit or fewer endpoints, that is the request.
    ...(desired.policy !== null ? { mayWeaken: true } : {}),
    note: tooLarge ? `${note}; written as literals: the policy does not fit GitHub's expression limit (${MAX_EXPRESSION_LENGTH.toLocaleString('en-US')} characters) as the variables' fallback, so a later change of it needs a sync PR` : note,
  };
  if (mode !== 'block') return () => plan;
  return (job) => {
    const seen = baselineOf(job)?.seen ?? [];
    const blocked = wouldBlock(seen, desired.endpoints);
    return blocked.length > 0 ? { ...plan, wouldBlock: blocked } : plan;
  };
}
