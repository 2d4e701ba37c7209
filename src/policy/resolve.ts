/**
 * Precedence (docs/architecture.md#precedence): workflow > repository > organization > cluster; the most specific
 * attachment wins whole. Pure over an attachment map, so the server resolves from a bundle and
 * the CLI from a work tree with the same code.
 */
import {
  SCOPE_SECTIONS,
  type AttachmentMap,
  type CompiledPolicy,
  type EgressMode,
  type LockdownMode,
  type ScopeType,
} from './model.js';
import { joinEndpoints } from './endpoint.js';

export interface ResolveQuery {
  /** Defaults to the owner part of `repository`. */
  organization?: string;
  /** `owner/repo`. */
  repository?: string;
  /** `.github/workflows/F`, `owner/repo/.github/workflows/F` or a `workflow_ref` with `@ref`. */
  workflow?: string;
  cluster?: string;
}

export interface ScopeRef {
  type: ScopeType;
  key: string;
}

export interface ShadowedScope extends ScopeRef {
  policy: string;
}

export interface Resolution {
  policy: string | null;
  scope: ScopeRef | null;
  /** Less specific attachments that also matched, most specific first. */
  shadowed: ShadowedScope[];
}

/** What Harden-Runner's `with:` block gets. Empty when no policy applies (its defaults). */
export interface HardenRunnerConfig {
  'egress-policy'?: EgressMode;
  /** One space-separated line; never a newline (the agent's parser breaks on a `|` block). */
  'allowed-endpoints'?: string;
  'disable-sudo-and-containers'?: boolean;
  'disable-file-monitoring'?: boolean;
  'disable-telemetry'?: boolean;
  'disable-sudo'?: boolean;
}

/** The scope keys a query names, in precedence order, lower-cased. */
export function scopeKeys(query: ResolveQuery): ScopeRef[] {
  const repository = query.repository?.trim().toLowerCase() || undefined;
  const organization = (query.organization?.trim() || repository?.split('/')[0])?.toLowerCase() || undefined;
  const workflow = workflowKey(query.workflow, repository);
  const keys: ScopeRef[] = [];
  if (workflow) keys.push({ type: 'workflow', key: workflow });
  if (repository) keys.push({ type: 'repository', key: repository });
  if (organization) keys.push({ type: 'organization', key: organization });
  const cluster = query.cluster?.trim().toLowerCase();
  if (cluster) keys.push({ type: 'cluster', key: cluster });
  return keys;
}

/**
 * Full workflow key `owner/repo/.github/workflows/F`, from any of the forms callers have:
 * an OIDC `workflow_ref` (`owner/repo/.github/workflows/F@refs/heads/main`), a full key, or a
 * path relative to `repository`.
 */
export function workflowKey(workflow: string | undefined, repository: string | undefined): string | undefined {
  if (!workflow) return undefined;
  let path = workflow.trim();
  const at = path.indexOf('@');
  if (at !== -1) path = path.slice(0, at);
  path = path.replace(/^\.\//, '').toLowerCase();
  if (path.startsWith('.github/workflows/')) return repository ? `${repository.toLowerCase()}/${path}` : undefined;
  return path;
}

export function resolveScopes(attachments: AttachmentMap, query: ResolveQuery): Resolution {
  const matches: ShadowedScope[] = [];
  for (const scope of scopeKeys(query)) {
    const section = attachments[SCOPE_SECTIONS[scope.type]];
    // Own keys only: an organization named "constructor" must not find Object.prototype's.
    if (Object.hasOwn(section, scope.key)) matches.push({ ...scope, policy: section[scope.key] as string });
  }
  const [winner, ...shadowed] = matches;
  if (!winner) return { policy: null, scope: null, shadowed: [] };
  return { policy: winner.policy, scope: { type: winner.type, key: winner.key }, shadowed };
}

export function hardenRunnerConfig(policy: CompiledPolicy | undefined): HardenRunnerConfig {
  if (!policy) return {};
  const config: HardenRunnerConfig = {
    'egress-policy': policy['egress-policy'],
    'allowed-endpoints': joinEndpoints(policy['allowed-endpoints']),
  };
  for (const flag of ['disable-sudo-and-containers', 'disable-file-monitoring', 'disable-telemetry', 'disable-sudo'] as const) {
    const value = policy[flag];
    if (value !== undefined) config[flag] = value;
  }
  return config;
}

export interface EffectivePolicyAnswer extends Resolution {
  config: HardenRunnerConfig;
  'lockdown-mode'?: LockdownMode;
}

/** Resolution plus the `with:` block, as `resolve --json` and `/v1/policy` answer. */
export function effectivePolicy(
  attachments: AttachmentMap,
  policies: Readonly<Record<string, CompiledPolicy>>,
  query: ResolveQuery,
): EffectivePolicyAnswer {
  const resolution = resolveScopes(attachments, query);
  return answerOf(resolution, winningPolicy(resolution, policies));
}

/** The compiled policy a resolution names, when the policies hold it (own keys only). */
export function winningPolicy(resolution: Resolution, policies: Readonly<Record<string, CompiledPolicy>>): CompiledPolicy | undefined {
  return resolution.policy === null || !Object.hasOwn(policies, resolution.policy) ? undefined : policies[resolution.policy];
}

/** The answer for a resolution already made and the policy it names (for callers that adjust the policy first). */
export function answerOf(resolution: Resolution, policy: CompiledPolicy | undefined): EffectivePolicyAnswer {
  const answer: EffectivePolicyAnswer = { ...resolution, config: hardenRunnerConfig(policy) };
  if (policy?.['lockdown-mode']) answer['lockdown-mode'] = policy['lockdown-mode'];
  return answer;
}

