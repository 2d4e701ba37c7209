/**
 * `delivery: variables` (docs/reconciliation.md, "Variables"): the names of the Actions
 * variables that carry a job's effective policy, their value, and the `with:` expression a
 * managed Harden-Runner step reads each input through. Pure: shared by `harden` (writing the
 * step) and `sync` (writing the variables), so both agree on every name and byte.
 */
import type { CompiledPolicy } from './model.js';

/** Organization variable holding the organization's policy. */
export const POLICY_VARIABLE = 'EGRESSCTL_POLICY';
/**
 * Repository variable holding a repository attachment's policy. A name of its own, not
 * `EGRESSCTL_POLICY`: GitHub resolves a repository and an organization variable of one name into
 * one `vars.X`, so with the repository's deleted the organization's (maybe weaker) would apply.
 */
export const REPOSITORY_POLICY_VARIABLE = 'EGRESSCTL_REPO_POLICY';
/** Read first, as `env.<name>`: the job-started hook of self-hosted runners writes it. */
export const POLICY_ENV = 'EGRESSCTL_POLICY';
/** Prefix of the repository variable of a workflow-scoped attachment. */
export const WORKFLOW_VARIABLE_PREFIX = 'EGRESSCTL_WF_';
/** One of the names egressctl's variables have (`EGRESSCTL_POLICY`, `EGRESSCTL_REPO_POLICY`, `EGRESSCTL_WF_*`), whatever the case. */
export function isOwnedVariableName(name: string): boolean {
  const upper = name.toUpperCase();
  return upper === POLICY_VARIABLE || upper === REPOSITORY_POLICY_VARIABLE || upper.startsWith(WORKFLOW_VARIABLE_PREFIX);
}

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
  /**
   * Read first as `env.<name>`, on self-hosted runners only: the job-started hook writes it there.
   * On GitHub-hosted runners nothing trusted writes it, and a workflow's own `env:` must not
   * override the store (docs/reconciliation.md, "Variables").
   */
  env?: string;
  /**
   * The last literal of the chain: the job's desired policy as of the sync that wrote the step,
   * as `variableValue` gives it (docs/reconciliation.md, "Fail closed"). Variables only override
   * it; runs that get no variables (pull requests from forks, a deleted variable) get this.
   * Absent: `AUDIT_DEFAULT_VALUE` (nothing attached).
   */
  fallback?: string;
}

/** Which scope's attachment decides the workflow: its own, its repository's, or else the organization's (or none). */
export type ChainScope = 'workflow' | 'repository' | 'organization';

/**
 * The chain for a workflow file: the hook's env (self-hosted), the variables from the narrowest
 * scope down to the one that decides, then `fallback`, the desired policy when the step is
 * written. A chain never reads a scope broader than the one that decides, so a missing variable
 * (deleted on GitHub, a failed write) falls to `fallback`, never to a broader scope's variable,
 * which may be weaker (docs/reconciliation.md, "Variables"):
 * - `workflow`: the workflow's variable only;
 * - `repository`: the workflow's, then `EGRESSCTL_REPO_POLICY` (never `EGRESSCTL_POLICY`, which
 *   the organization's variable of that name would answer);
 * - `organization` (also nothing attached): the workflow's, the repository's, then `EGRESSCTL_POLICY`.
 * The narrower variables come first so that an attachment added later reaches the step through
 * its variable at once; the sync PR that follows shortens the chain.
 */
export function variableChain(workflowFile: string, fallback?: string, options: { scope?: ChainScope } = {}): VariableChain {
  const own = workflowVariableName(workflowFile);
  const scope = options.scope ?? 'organization';
  const vars = scope === 'workflow' ? [own] : scope === 'repository' ? [own, REPOSITORY_POLICY_VARIABLE] : [own, REPOSITORY_POLICY_VARIABLE, POLICY_VARIABLE];
  return { env: POLICY_ENV, vars, ...(fallback === undefined ? {} : { fallback }) };
}

/** A GitHub expression string literal. */
function expressionString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** `linux`: the job runs on Linux only; `by-runner-os`: block on Linux legs only (hosted Windows and macOS support audit only). */
export type DeliveryOsRule = 'linux' | 'by-runner-os';

/** The `||` chain a step's inputs read: `runner.environment == 'self-hosted' && env.X || vars.A || vars.B || '<desired>'`. */
export function deliverySource(chain: VariableChain): string {
  return [
    ...(chain.env ? [`runner.environment == 'self-hosted' && env.${chain.env}`] : []),
    ...chain.vars.map((name) => `vars.${name}`),
    expressionString(chain.fallback ?? AUDIT_DEFAULT_VALUE),
  ].join(' || ');
}

/**
 * The `with:` value of one input: `${{ fromJSON(<chain>)['key'] }}`. One `||` chain per step, so
 * every input of a job comes from the same variable. With `by-runner-os`, `egress-policy` is
 * `audit` and `disable-telemetry` false off Linux whatever the variable says.
 */
export function deliveryExpression(input: DeliveredInput, chain: VariableChain, os: DeliveryOsRule = 'linux'): string {
  const read = `fromJSON(${deliverySource(chain)})['${input}']`;
  if (os === 'by-runner-os' && input === 'egress-policy') return `\${{ runner.os == 'Linux' && ${read} || 'audit' }}`;
  if (os === 'by-runner-os' && input === 'disable-telemetry') return `\${{ runner.os == 'Linux' && ${read} }}`;
  return `\${{ ${read} }}`;
}

/**
 * The text with the fallback literal of every delivery expression blanked: two texts that are
 * equal this way differ only in what runs without variables fall back to.
 */
export function withoutDeliveryFallbacks(text: string): string {
  return text.replace(/(\|\|\s*'+)\{"egress-policy":[^}]*\}('+\)\[')/g, '$1{}$2');
}

/** GitHub's limit on the length of one expression (`MAX_EXPRESSION_LENGTH` of @actions/expressions, errors.ts). */
export const MAX_EXPRESSION_LENGTH = 21000;

/** Whether every input's expression for this chain stays within GitHub's expression length limit. */
export function deliveryFits(chain: VariableChain): boolean {
  return DELIVERED_INPUTS.every((input) => {
    const written = deliveryExpression(input, chain, 'by-runner-os');
    // The runner measures what is inside `${{ }}`.
    return written.length - '${{  }}'.length <= MAX_EXPRESSION_LENGTH;
  });
}

/** A policy variable's value (or a fallback literal) as data, or undefined when it is not one. */
function parseDelivered(value: string): DeliveredPolicy | undefined {
  try {
    const parsed = JSON.parse(value) as Partial<Record<DeliveredInput, unknown>>;
    const mode = parsed['egress-policy'];
    if ((mode !== 'audit' && mode !== 'block') || typeof parsed['allowed-endpoints'] !== 'string') return undefined;
    return {
      'egress-policy': mode,
      'allowed-endpoints': parsed['allowed-endpoints'],
      'disable-sudo-and-containers': parsed['disable-sudo-and-containers'] === true,
      'disable-file-monitoring': parsed['disable-file-monitoring'] === true,
      'disable-telemetry': parsed['disable-telemetry'] === true,
    };
  } catch {
    return undefined;
  }
}

/**
 * How `after` enforces more than `before` (two fallback literals, or variable values), one
 * phrase per input: `egress-policy audit -> block`, `allowed-endpoints drops x:443`, a
 * `disable-*` flag that closes something (sudo, telemetry) or file monitoring back on. Empty:
 * `after` is looser or the same in what it enforces (a name alone does not count). A value that
 * does not read as ours counts as stricter (fail closed: the caller writes rather than waits).
 */
export function fallbackTightening(before: string, after: string): string[] {
  const old = parseDelivered(before);
  const now = parseDelivered(after);
  if (!old || !now) return [`the fallback ${old ? 'the store wants' : 'written before'} does not read as a policy value`];
  const reasons: string[] = [];
  if (old['egress-policy'] === 'audit' && now['egress-policy'] === 'block') reasons.push('egress-policy audit -> block');
  if (old['egress-policy'] === 'block' && now['egress-policy'] === 'block') {
    const kept = new Set(now['allowed-endpoints'].split(' ').filter((endpoint) => endpoint !== ''));
    const dropped = old['allowed-endpoints'].split(' ').filter((endpoint) => endpoint !== '' && !kept.has(endpoint));
    if (dropped.length > 0) reasons.push(`allowed-endpoints drops ${dropped.join(' ')}`);
  }
  if (!old['disable-sudo-and-containers'] && now['disable-sudo-and-containers']) reasons.push('disable-sudo-and-containers false -> true');
  if (old['disable-file-monitoring'] && !now['disable-file-monitoring']) reasons.push('disable-file-monitoring true -> false');
  // Telemetry off closes one more destination (StepSecurity's telemetry API).
  if (!old['disable-telemetry'] && now['disable-telemetry']) reasons.push('disable-telemetry false -> true');
  return reasons;
}

/**
 * The text with `vars.EGRESSCTL_REPO_POLICY || ` taken out of every chain that goes on to
 * `vars.EGRESSCTL_POLICY`: a chain written before EGRESSCTL_REPO_POLICY existed, where no
 * repository attachment applies, reads what the store says just as well (the organization's
 * variable, then its literal); only a repository attachment added later would not reach it at
 * once. Two texts equal this way need no pull request for that alone.
 */
export function withoutRepositoryLink(text: string): string {
  return text.replace(/vars\.EGRESSCTL_REPO_POLICY \|\| (?=vars\.EGRESSCTL_POLICY \|\|)/g, '');
}

/** Every fallback literal of a delivery expression in a workflow text, in order (as `withoutDeliveryFallbacks` finds them). */
export function deliveryFallbacksIn(text: string): string[] {
  return [...text.matchAll(/\|\|\s*'+(\{"egress-policy":[^}]*\})'+\)\['/g)].map((match) => match[1] ?? '');
}

/** What a written step's `||` chain reads: its `vars.*` names (upper-cased, in order) and the literal it ends in. */
export interface WrittenChain {
  vars: string[];
  fallback: string;
}

/**
 * The chain a written delivery expression (one `with:` value) reads, or undefined when the value
 * is not one (a literal, an expression of someone else's).
 */
export function writtenChainOf(value: string): WrittenChain | undefined {
  const fallback = deliveryFallbackOf(value);
  if (fallback === undefined) return undefined;
  const start = value.indexOf('fromJSON(');
  const end = value.lastIndexOf("|| '");
  if (start < 0 || end < start) return undefined;
  // Names only from before the literal: an endpoint in it may look like `vars.x`.
  const vars = [...value.slice(start, end).matchAll(/\bvars\.([A-Za-z_][A-Za-z0-9_]*)/g)].map((match) => (match[1] ?? '').toUpperCase());
  return { vars, fallback };
}

/** The fallback literal a written delivery expression ends in, or undefined when it is not one of ours. */
export function deliveryFallbackOf(value: string): string | undefined {
  const match = /\|\| '((?:[^']|'')*)'\)\['[a-z-]+'\]/.exec(value);
  return match?.[1]?.replace(/''/g, "'");
}
