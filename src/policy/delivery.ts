/**
 * Names and values of the Actions variables that carry policies to GitHub-hosted runners with
 * `delivery: variables` (docs/reconciliation.md, "Variables"). Pure and small: sync, the rules
 * and the console all use these, so one workflow file maps to one name everywhere.
 */
import type { CompiledPolicy } from './model.js';

/** Organization and repository variable (and the `env` name the job-started hook writes). */
export const POLICY_VARIABLE = 'EGRESSCTL_POLICY';
/** Prefix of a workflow file's own variable. */
export const WORKFLOW_VARIABLE_PREFIX = 'EGRESSCTL_WF_';

/** GitHub's limits on Actions variables (docs.github.com, "Variables reference": limits for configuration variables). */
export const VARIABLE_LIMITS = {
  /** Bytes of one value (48 KB). */
  valueBytes: 48 * 1024,
  perRepository: 500,
  perOrganization: 1000,
} as const;

/** Letters, digits and `_`, not starting with a digit nor with `GITHUB_` (case-insensitive). */
export function isValidVariableName(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !/^GITHUB_/i.test(name);
}

/** `release.yml` (or `.github/workflows/release.yml`) -> `EGRESSCTL_WF_RELEASE_YML`. */
export function workflowVariableName(file: string): string {
  const base = file.slice(file.lastIndexOf('/') + 1);
  return `${WORKFLOW_VARIABLE_PREFIX}${base.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** The value every variable-reading step understands: compact JSON, every key always present. */
export interface VariableValue {
  'egress-policy': 'audit' | 'block';
  'allowed-endpoints': string;
  'disable-sudo-and-containers': boolean;
  'disable-file-monitoring': boolean;
  'disable-telemetry': boolean;
  policy?: string;
}

/** What a step reads when no variable is set: audit, every input valid. */
export const AUDIT_DEFAULT_VALUE =
  '{"egress-policy":"audit","allowed-endpoints":"","disable-sudo-and-containers":false,"disable-file-monitoring":false,"disable-telemetry":false}';

/** The variable's value for a compiled policy (key order fixed, so equal policies give equal text). */
export function variableValue(policy: CompiledPolicy): string {
  const value: VariableValue = {
    'egress-policy': policy['egress-policy'],
    'allowed-endpoints': policy['egress-policy'] === 'block' ? policy['allowed-endpoints'].join(' ') : '',
    'disable-sudo-and-containers': policy['disable-sudo-and-containers'] === true,
    'disable-file-monitoring': policy['disable-file-monitoring'] === true,
    'disable-telemetry': policy['disable-telemetry'] === true,
    policy: policy.name,
  };
  return JSON.stringify(value);
}

/** Size of a value as GitHub counts it (UTF-8 bytes). */
export function valueBytes(value: string): number {
  return Buffer.byteLength(value, 'utf8');
}
