/**
 * `delivery: variables` (docs/reconciliation.md, "Variables"): the names of the Actions
 * variables that carry a job's effective policy, their value, and the `with:` expression a
 * managed Harden-Runner step reads each input through. Pure: shared by `harden` (writing the
 * step) and `sync` (writing the variables), so both agree on every name and byte.
 */
import type { CompiledPolicy } from './model.js';

/** Organization or repository variable holding the organization's / repository's policy. */
export const POLICY_VARIABLE = 'EGRESSCTL_POLICY';
/** Read first, as `env.<name>`: the job-started hook of self-hosted runners writes it. */
export const POLICY_ENV = 'EGRESSCTL_POLICY';
/** Prefix of the repository variable of a workflow-scoped attachment. */
export const WORKFLOW_VARIABLE_PREFIX = 'EGRESSCTL_WF_';
/** GitHub's limits on Actions variables (docs.github.com, "Variables reference": limits for configuration variables). */
export const VARIABLE_LIMITS = {
  /** Bytes of one value (48 KB). */
  valueBytes: 48 * 1024,
  perRepository: 500,
  perOrganization: 1000,
} as const;
/** GitHub's limit on one variable's value. */
export const VARIABLE_VALUE_MAX_BYTES = VARIABLE_LIMITS.valueBytes;

/** Size of a value as GitHub counts it (UTF-8 bytes). */
export function valueBytes(value: string): number {
  return Buffer.byteLength(value, 'utf8');
}

/** The Harden-Runner inputs a variable carries, in the order of its JSON. */
export const DELIVERED_INPUTS = ['egress-policy', 'allowed-endpoints', 'disable-sudo-and-containers', 'disable-file-monitoring', 'disable-telemetry'] as const;
export type DeliveredInput = (typeof DELIVERED_INPUTS)[number];

/** The parsed value of a policy variable. */
export interface DeliveredPolicy {
  'egress-policy': 'audit' | 'block';
  /** One space-separated line (a newline breaks the agent's parser). */
  'allowed-endpoints': string;
  'disable-sudo-and-containers': boolean;
  'disable-file-monitoring': boolean;
  'disable-telemetry': boolean;
  /** The policy's name; absent in the fallback. */
  policy?: string;
}

/** The value every input falls back to when no variable is set: audit, every input valid. */
export const AUDIT_DEFAULT_VALUE =
  '{"egress-policy":"audit","allowed-endpoints":"","disable-sudo-and-containers":false,"disable-file-monitoring":false,"disable-telemetry":false}';

/**
 * `EGRESSCTL_WF_<FILE>` for a workflow file (`release.yml` or `.github/workflows/release.yml`):
 * the file name with its extension, upper-cased, every character other than `A-Z0-9` as `_`.
 */
export function workflowVariableName(file: string): string {
  const name = file.replace(/\\/g, '/').split('/').pop() ?? file;
  return `${WORKFLOW_VARIABLE_PREFIX}${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** GitHub's rules for a variable name: letters, digits and `_`, not starting with a digit or `GITHUB_`. */
export function isValidVariableName(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !/^GITHUB_/i.test(name);
}

/** A compiled policy as the compact JSON a variable holds (keys always all present, in a fixed order). */
export function deliveredPolicy(policy: CompiledPolicy): DeliveredPolicy {
  const block = policy['egress-policy'] === 'block';
  return {
    'egress-policy': policy['egress-policy'],
    'allowed-endpoints': block ? [...policy['allowed-endpoints']].sort().join(' ') : '',
    'disable-sudo-and-containers': policy['disable-sudo-and-containers'] === true || policy['disable-sudo'] === true,
    'disable-file-monitoring': policy['disable-file-monitoring'] === true,
    // Harden-Runner accepts disable-telemetry only in block mode.
    'disable-telemetry': block && policy['disable-telemetry'] === true,
    policy: policy.name,
  };
}

/** The variable's value for a compiled policy: compact JSON, byte-stable. */
export function variableValue(policy: CompiledPolicy): string {
  const value = deliveredPolicy(policy);
  return JSON.stringify({
    'egress-policy': value['egress-policy'],
    'allowed-endpoints': value['allowed-endpoints'],
    'disable-sudo-and-containers': value['disable-sudo-and-containers'],
    'disable-file-monitoring': value['disable-file-monitoring'],
    'disable-telemetry': value['disable-telemetry'],
    policy: value.policy,
  });
}

/** Which variables a managed step of a workflow reads, most specific first. */
export interface VariableChain {
  /** Read as `vars.<name>`, in order. */
  vars: readonly string[];
  /** Read first as `env.<name>`. */
  env?: string;
}

/** The chain for a workflow file: the hook's env, the workflow's variable, the repository's (or organization's). */
export function variableChain(workflowFile: string): VariableChain {
  return { env: POLICY_ENV, vars: [workflowVariableName(workflowFile), POLICY_VARIABLE] };
}

/** A GitHub expression string literal. */
function expressionString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/**
 * The `with:` value of one input: `${{ fromJSON(env.X || vars.A || vars.B || '<audit default>')['key'] }}`.
 * One `||` chain per step, so every input of a job comes from the same variable.
 */
export function deliveryExpression(input: DeliveredInput, chain: VariableChain): string {
  const sources = [...(chain.env ? [`env.${chain.env}`] : []), ...chain.vars.map((name) => `vars.${name}`), expressionString(AUDIT_DEFAULT_VALUE)];
  return `\${{ fromJSON(${sources.join(' || ')})['${input}'] }}`;
}
