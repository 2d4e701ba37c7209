/**
 * The store's desired state as GitHub's firewall file for one repository (docs/github-firewall.md,
 * "Mapping"): audit -> log, block -> enforce, `host:443`/`host:80` -> `host`; what the file cannot
 * express (other ports, IP addresses, wildcards without concrete hosts in the baselines,
 * `disable-*`, lockdown) is reported, never silently dropped. One file serves every workflow of the
 * repository, so workflow-level attachments are united (block only if all block). Pure.
 */
import { endpointFromText, hostMatches } from '../../policy/endpoint.js';
import { effectivePolicy, workflowKey, type ScopeRef } from '../../policy/resolve.js';
import { PASSTHROUGH_FLAGS } from '../../policy/model.js';
import { workflowAttachmentsOf } from '../sync-plan.js';
import type { StoreState } from '../desired-state.js';
import { FIREWALL_DEFAULT_HOSTS, HARDEN_RUNNER_DOWNLOAD_HOST, HARDEN_RUNNER_HOSTS, type FirewallMode } from './format.js';

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
/** Ports the firewall's host rules cover: it inspects HTTPS and HTTP. */
const HOST_PORTS = new Set([443, 80]);

export type FirewallFindingCode =
  /** A port other than 443/80: host rules cannot say it. */
  | 'port'
  /** An IP address: the file takes host names. */
  | 'ip'
  /** A wildcard replaced by the concrete hosts the repository's baselines saw. */
  | 'wildcard-expanded'
  /** A wildcard with no concrete host in the baselines: dropped. */
  | 'wildcard-dropped'
  /** Allowed by GitHub's defaults already: left out of `allow`. */
  | 'default'
  /** `disable-*`: no counterpart (the firewall runs outside the VM, root cannot turn it off). */
  | 'flag'
  /** `lockdown-mode`: no counterpart. */
  | 'lockdown'
  /** Several workflow-level policies united into the one file. */
  | 'united'
  /** Hosts Harden-Runner itself needs, added because a job runs both. */
  | 'harden-runner';

export interface FirewallFinding {
  code: FirewallFindingCode;
  /** `warning`: the file allows less (or more) than the store says; `info`: nothing lost. */
  severity: 'warning' | 'info';
  message: string;
  policy?: string;
  endpoint?: string;
}

/** One workflow (or the repository's own attachment) whose policy feeds the file. */
export interface FirewallSource {
  /** `owner/repo/.github/workflows/F`, or null for the repository-level answer. */
  workflow: string | null;
  policy: string | null;
  scope: ScopeRef | null;
  /** Jobs of it run Harden-Runner too (sync: from the planned workflow). */
  runsHardenRunner: boolean;
}

export interface DesiredFirewall {
  repository: string;
  mode: FirewallMode;
  /** Host names, sorted, unique. */
  allow: string[];
  noDefaultUrls: boolean;
  /** Policies the file comes from, sorted. */
  policies: string[];
  sources: FirewallSource[];
  findings: FirewallFinding[];
}

export interface FirewallInput {
  store: StoreState;
  /** `owner/repo` */
  repository: string;
  /**
   * The repository's workflow files (`.github/workflows/F`). Absent: the repository-level
   * answer plus every workflow attachment of the repository (what `resolve` knows).
   */
  workflows?: readonly string[];
  /** Does a job of this workflow run Harden-Runner too? Default: wherever a policy applies (sync puts it there). */
  runsHardenRunner?: (workflowPath: string | null) => boolean;
  /** `host:port` the repository's baselines saw (any job): concrete hosts for wildcards. */
  seen?: readonly string[];
  /**
   * egressctl.yml `github-firewall.no-default-urls`: the organization-wide default. A policy's own
   * `no-default-urls` wins where set; the file gets it only when every workflow's answer is true.
   */
  noDefaultUrls: boolean;
}

export type FirewallAnswer = { firewall: DesiredFirewall } | { firewall: null; reason: string };

function isDefaultHost(host: string): boolean {
  return FIREWALL_DEFAULT_HOSTS.some((pattern) => hostMatches(pattern, host));
}

/** A wildcard fully inside GitHub's defaults (e.g. `*.actions.githubusercontent.com`): every host it matches is a default. */
function wildcardInDefaults(pattern: string): boolean {
  const star = pattern.indexOf('*');
  const suffix = pattern.slice(star + 1);
  return FIREWALL_DEFAULT_HOSTS.some((host) => host.startsWith('*') && suffix.endsWith(host.slice(1)));
}

function sourcesOf(input: FirewallInput): FirewallSource[] {
  const { store, repository } = input;
  const runs = input.runsHardenRunner ?? (() => true);
  const source = (workflow: string | null, answer: ReturnType<typeof effectivePolicy>): FirewallSource => {
    const policy = answer.policy !== null && Object.hasOwn(store.policies, answer.policy) ? answer.policy : null;
    return { workflow, policy, scope: policy === null ? null : answer.scope, runsHardenRunner: policy !== null && runs(workflow) };
  };
  if (input.workflows) {
    return input.workflows.map((path) => {
      const workflow = workflowKey(path, repository) ?? path.toLowerCase();
      return source(workflow, effectivePolicy(store.attachments, store.policies, { repository, workflow }));
    });
  }
  const sources = [source(null, effectivePolicy(store.attachments, store.policies, { repository }))];
  for (const [workflow] of workflowAttachmentsOf(store.attachments, repository)) {
    sources.push(source(workflow, effectivePolicy(store.attachments, store.policies, { repository, workflow })));
  }
  return sources;
}

function sourceName(source: FirewallSource): string {
  return source.workflow === null ? `repository default` : source.workflow.slice(source.workflow.indexOf('/.github/') + 1);
}

/** The file one repository should have, or why it should have none. */
export function desiredFirewall(input: FirewallInput): FirewallAnswer {
  const repository = input.repository.toLowerCase();
  const sources = sourcesOf({ ...input, repository });
  const withPolicy = sources.filter((source) => source.policy !== null);
  if (withPolicy.length === 0) return { firewall: null, reason: `no policy applies to ${repository}: no firewall file (GitHub's firewall would run with nothing to enforce)` };
  const policies = [...new Set(withPolicy.map((source) => source.policy!))].sort();
  const compiled = policies.map((name) => input.store.policies[name]!);
  const findings: FirewallFinding[] = [];

  // Block only if every workflow (with a policy or not) is block: one file serves them all.
  const modeOf = (source: FirewallSource) => (source.policy === null ? 'audit' : input.store.policies[source.policy]!['egress-policy']);
  const mode: FirewallMode = sources.every((source) => modeOf(source) === 'block') ? 'enforce' : 'log';
  // The same for no-default-urls: the policy's key when present, else the setting; true only if true for all.
  const noDefaultsOf = (source: FirewallSource) => (source.policy === null ? undefined : input.store.policies[source.policy]!['no-default-urls']) ?? input.noDefaultUrls;
  const noDefaultUrls = sources.every(noDefaultsOf);
  if (policies.length > 1 || withPolicy.length < sources.length) {
    const named = sources.map((source) => `${sourceName(source)}: ${source.policy ?? 'no policy'} (${modeOf(source)})`).join('; ');
    findings.push({
      code: 'united',
      severity: 'warning',
      message: `one firewall file serves every workflow of ${repository}: ${named}; united into mode ${mode}${mode === 'log' ? ' (enforce only when every workflow follows a block policy)' : ''}${!noDefaultUrls && sources.some(noDefaultsOf) ? ", GitHub's default hosts allowed (no-default-urls only when every workflow's policy sets it)" : ''} and the union of their endpoints, so no workflow breaks`,
    });
  }

  const allow = new Set<string>();
  const seen = (input.seen ?? []).map(endpointFromText);
  for (const policy of compiled) {
    for (const text of policy['allowed-endpoints']) mapEndpoint(text, policy.name, noDefaultUrls, seen, allow, findings);
    for (const flag of PASSTHROUGH_FLAGS) {
      if (policy[flag] === true) {
        findings.push({ code: 'flag', severity: 'info', policy: policy.name, message: `policy ${policy.name}: ${flag} has no counterpart in the firewall file (it applies to Harden-Runner only; the firewall runs outside the VM, root in the job cannot turn it off)` });
      }
    }
    if (policy['lockdown-mode']?.enabled) {
      findings.push({ code: 'lockdown', severity: 'info', policy: policy.name, message: `policy ${policy.name}: lockdown-mode has no counterpart in the firewall file (it acts on ARC clusters only)` });
    }
  }
  addHardenRunnerHosts(sources, input, noDefaultUrls, allow, findings);
  return { firewall: { repository, mode, allow: [...allow].sort(), noDefaultUrls, policies, sources, findings } };
}

/**
 * The file the store wants for a repository as a whole: what `egressctl resolve --format
 * github-firewall` prints and what the tamper check judges a pull request's file against. It is the
 * repository-level answer united with every workflow attachment of the repository, Harden-Runner's
 * own hosts included, so it allows at least what sync writes (sync unites only the workflows the
 * repository has, and adds Harden-Runner's hosts only where a job runs it). `seen`: the
 * repository's baselines (`host:port`), for wildcards.
 */
export function repositoryFirewall(store: StoreState, repository: string, seen: readonly string[]): FirewallAnswer {
  return desiredFirewall({ store, repository, seen, noDefaultUrls: store.settings.githubFirewall?.noDefaultUrls === true });
}

function mapEndpoint(text: string, policy: string, noDefaultUrls: boolean, seen: readonly ReturnType<typeof endpointFromText>[], allow: Set<string>, findings: FirewallFinding[]): void {
  const { host, port } = endpointFromText(text);
  if (!HOST_PORTS.has(port)) {
    findings.push({ code: 'port', severity: 'warning', policy, endpoint: text, message: `policy ${policy}: ${text}: the firewall file takes host names for HTTPS (443) and HTTP (80) only; port ${port} cannot be expressed: dropped` });
    return;
  }
  if (IPV4.test(host)) {
    findings.push({ code: 'ip', severity: 'warning', policy, endpoint: text, message: `policy ${policy}: ${text}: an IP address; the firewall file takes host names only: dropped` });
    return;
  }
  if (host.includes('*')) {
    if (!noDefaultUrls && wildcardInDefaults(host)) {
      findings.push({ code: 'default', severity: 'info', policy, endpoint: text, message: `policy ${policy}: ${text}: within GitHub's default hosts, which the firewall allows by itself` });
      return;
    }
    const concrete = [...new Set(seen.filter((item) => HOST_PORTS.has(item.port) && !item.host.includes('*') && !IPV4.test(item.host) && hostMatches(host, item.host)).map((item) => item.host))]
      .filter((name) => noDefaultUrls || !isDefaultHost(name))
      .sort();
    if (concrete.length > 0) {
      for (const name of concrete) allow.add(name);
      findings.push({ code: 'wildcard-expanded', severity: 'warning', policy, endpoint: text, message: `policy ${policy}: ${text}: the firewall file takes no wildcards; replaced by the hosts the repository's baselines saw: ${concrete.join(', ')} (others it matches are not allowed)` });
    } else {
      findings.push({ code: 'wildcard-dropped', severity: 'warning', policy, endpoint: text, message: `policy ${policy}: ${text}: the firewall file takes no wildcards and the repository's baselines show no host it matches: dropped (collect baselines, or list the hosts in the policy)` });
    }
    return;
  }
  if (!noDefaultUrls && isDefaultHost(host)) {
    findings.push({ code: 'default', severity: 'info', policy, endpoint: text, message: `policy ${policy}: ${text}: one of GitHub's default hosts, which the firewall allows by itself` });
    return;
  }
  allow.add(host);
}

function addHardenRunnerHosts(sources: readonly FirewallSource[], input: FirewallInput, noDefaultUrls: boolean, allow: Set<string>, findings: FirewallFinding[]): void {
  const running = sources.filter((source) => source.runsHardenRunner && source.policy !== null);
  if (running.length === 0) return;
  const telemetry = running.some((source) => input.store.policies[source.policy!]?.['disable-telemetry'] !== true);
  const hosts = HARDEN_RUNNER_HOSTS.filter((entry) => telemetry || !entry.telemetry).map((entry) => entry.host);
  if (noDefaultUrls) hosts.push(HARDEN_RUNNER_DOWNLOAD_HOST);
  const added = hosts.filter((host) => !allow.has(host)).sort();
  for (const host of hosts) allow.add(host);
  if (added.length > 0) {
    findings.push({ code: 'harden-runner', severity: 'info', message: `jobs here run Harden-Runner too: allowed what it reaches itself: ${added.join(', ')}` });
  }
}
