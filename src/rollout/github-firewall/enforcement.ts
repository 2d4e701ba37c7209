/**
 * The firewall's answers for coverage and the tamper check (docs/github-firewall.md, "Coverage
 * and the tamper check"), as pure functions shaped for those consumers: for one job, what the
 * firewall enforces and why not; for a pull request's change to `.github/egress-firewall.yaml`,
 * what it widens. The firewall reads the file from the ref the workflow runs on, so a pull request
 * can widen its own allow list: that is what the tamper check must catch.
 */
import type { EgressMode } from '../../policy/model.js';
import type { RunnerInfo } from '../workflow-jobs.js';
import { coveredBy, firewallFileLines, readFirewallFile, type ExistingFirewallFile, type FirewallFileContent } from './file.js';
import { FIREWALL_FILE, FIREWALL_KEYS, MANAGED_MARKER, runsBehindFirewall } from './format.js';

export interface FirewallJobAnswer {
  /** `block` for enforce, `audit` for log (enforced outside the VM either way); null: the firewall does nothing for the job. */
  mode: EgressMode | null;
  reasons: string[];
  caveats: string[];
}


/**
 * What the firewall enforces for a job: `runner` from its `runs-on`, `calls` when it calls a
 * reusable workflow, `fileText` the repository's firewall file (undefined: none), and whether a
 * pull request's own copy of the files decides (`pull_request` triggers). `largerRunners`: the
 * organization's larger runners on the firewall image (egressctl.yml `github-firewall.larger-runners`).
 */
export function firewallJobAnswer(
  job: { runner: RunnerInfo; calls?: string; pullRequestTriggers?: readonly string[] },
  fileText: string | undefined,
  largerRunners: readonly string[] = [],
): FirewallJobAnswer {
  const nothing = (reason: string): FirewallJobAnswer => ({ mode: null, reasons: [reason], caveats: [] });
  if (job.calls) return nothing(`calls ${job.calls}: the called workflow's jobs choose their runner`);
  if (!job.runner.resolved) return nothing('runs-on is an expression: whether the job runs behind the firewall is only known at run time');
  const candidates = job.runner.candidates;
  const behind = candidates.filter((candidate) => runsBehindFirewall(candidate.labels, largerRunners));
  if (behind.length === 0) return nothing(`not on the firewall runner (runs-on: ${candidates.map((candidate) => candidate.labels.join(', ')).join(' | ') || 'none'})`);
  if (fileText === undefined) return nothing(`on the firewall runner, but the repository has no ${FIREWALL_FILE}: no policy is enforced`);
  const file = readFirewallFile(fileText);
  if (file.problems.length > 0 || file.mode === undefined) return nothing(`${FIREWALL_FILE} does not read as the firewall format: ${file.problems.join('; ')}`);
  const caveats: string[] = [];
  if (behind.length < candidates.length) caveats.push(`only some legs run on the firewall runner (${candidates.filter((candidate) => !behind.includes(candidate)).map((candidate) => candidate.labels.join(', ')).join(' | ')} do not)`);
  if ((job.pullRequestTriggers?.length ?? 0) > 0) caveats.push(`${FIREWALL_FILE} is read from the ref the workflow runs on: a pull request can widen it for its own runs (the tamper check flags that)`);
  const reasons = file.mode === 'log' ? ['the firewall file says mode: log: it records, blocks nothing'] : [];
  return { mode: file.mode === 'enforce' ? 'block' : 'audit', reasons, caveats };
}

export interface FirewallTamperFinding {
  /** `mode`, `allow`, `no-default-urls`, `marker`, `file`. */
  input: string;
  /** The base's value as written (null: no file there, or the key absent). */
  from: string | null;
  to: string | null;
  why: string;
  /** 1-based line in the head's file, when the field is there. */
  line?: number;
}

/** A file's text read as the format, or undefined when it does not read as one (or is absent). */
function contentOf(file: ExistingFirewallFile | undefined): FirewallFileContent | undefined {
  return file && file.problems.length === 0 && file.mode !== undefined ? (file as FirewallFileContent) : undefined;
}

function hostList(hosts: readonly string[] | undefined): string | null {
  if (hosts === undefined) return null;
  return hosts.length === 0 ? '(none)' : hosts.join(' ');
}

/**
 * What a pull request's `.github/egress-firewall.yaml` allows beyond the store (docs/github-firewall.md,
 * "The tamper check"): the head file (undefined: deleted) is judged against `desired`, the file the
 * store wants for the repository (`repositoryFirewall`; null: no policy applies, nothing to judge).
 * Against the store, not the base, so egressctl's own sync pull request that widens the file
 * because the store did passes, and one that matches or narrows the store passes. A person's file
 * (no marker) that was already wider in the base is drift that sync reports, not this change's
 * doing: a field the base already allowed as much is not a finding. Empty: as strict as the store
 * or stricter (or no stricter than a person's base).
 */
export function firewallTamperFindings(before: string | undefined, after: string | undefined, desired: FirewallFileContent | null): FirewallTamperFinding[] {
  if (desired === null) return [];
  const base = before === undefined ? undefined : readFirewallFile(before);
  const baseContent = contentOf(base);
  const enforced = desired.mode === 'enforce';
  // What a person's base file already allowed: one in log mode (or unreadable) blocked nothing, so allowed everything.
  const persons = base !== undefined && !base.managed;
  const alreadyOpen = persons && (baseContent === undefined || baseContent.mode === 'log');
  const already = persons ? baseContent : undefined;
  if (after === undefined) {
    if (base?.managed) return [{ input: 'file', from: `${FIREWALL_FILE} (managed, mode ${base.mode ?? 'unreadable'})`, to: null, why: `deleted while the store has github-firewall enabled: jobs on the firewall runner run with no policy (change the store, not this file)` }];
    if (enforced && baseContent?.mode === 'enforce') return [{ input: 'file', from: `${FIREWALL_FILE} (mode enforce)`, to: null, why: `deleted: jobs on the firewall runner run with no policy where the store says enforce (to hand the file to egressctl, add the line "${MANAGED_MARKER}" instead)` }];
    return [];
  }
  const head = readFirewallFile(after);
  const lines = firewallFileLines(after);
  const findings: FirewallTamperFinding[] = [];
  if (base?.managed && !head.managed) findings.push({ input: 'marker', from: MANAGED_MARKER, to: null, why: 'the managed marker was removed: sync would leave the file as a person\'s and no longer restore it', line: 1 });
  const headContent = contentOf(head);
  if (headContent === undefined) {
    // GitHub's firewall may enforce nothing with a file it cannot read.
    const lost = base?.managed === true || head.managed || (enforced && !alreadyOpen);
    if (lost) findings.push({ input: 'file', from: base === undefined ? null : `mode ${base.mode ?? 'unreadable'}`, to: null, why: `no longer reads as the firewall format (${head.problems.join('; ')}): the firewall may enforce nothing`, line: 1 });
    return findings;
  }
  // The store's file in log mode blocks nothing: no readable head allows more than it.
  if (!enforced || alreadyOpen) return findings;
  if (headContent.mode === 'log') {
    findings.push({ input: 'mode', from: base?.mode ?? null, to: 'log', why: 'log blocks nothing: the store says enforce (block)', line: lines.keys[FIREWALL_KEYS.mode] ?? 1 });
  }
  if (desired.noDefaultUrls && !headContent.noDefaultUrls && already?.noDefaultUrls !== false) {
    const from = base === undefined ? null : baseContent?.noDefaultUrls === true ? 'true' : 'false';
    findings.push({ input: FIREWALL_KEYS.noDefaultUrls, from, to: 'false', why: "GitHub's default hosts are allowed: the store says no-default-urls: true", line: lines.keys[FIREWALL_KEYS.noDefaultUrls] ?? lines.keys[FIREWALL_KEYS.mode] ?? 1 });
  }
  const extra = headContent.allow.filter((host) => !coveredBy(desired, host) && !(already && coveredBy(already, host)));
  if (extra.length > 0) {
    const line = extra.map((host) => lines.hosts[host]).find((value) => value !== undefined);
    findings.push({ input: FIREWALL_KEYS.allow, from: hostList(baseContent?.allow), to: hostList(headContent.allow), why: `allows hosts the store does not: ${extra.join(', ')}`, ...(line !== undefined ? { line } : {}) });
  }
  return findings;
}
