/**
 * The firewall's answers for coverage and the tamper check (docs/github-firewall.md, "Coverage
 * and the tamper check"), as pure functions shaped for those consumers: for one job, what the
 * firewall enforces and why not; for a pull request's change to `.github/egress-firewall.yaml`,
 * what it widens. The firewall reads the file from the ref the workflow runs on, so a pull request
 * can widen its own allow list: that is what the tamper check must catch.
 */
import type { EgressMode } from '../../policy/model.js';
import type { RunnerInfo } from '../workflow-jobs.js';
import { readFirewallFile, weakerThan, type FirewallFileContent } from './file.js';
import { FIREWALL_FILE, isFirewallRunnerLabel, MANAGED_MARKER } from './format.js';

export interface FirewallJobAnswer {
  /** `block` for enforce, `audit` for log (enforced outside the VM either way); null: the firewall does nothing for the job. */
  mode: EgressMode | null;
  reasons: string[];
  caveats: string[];
}

function onFirewall(labels: readonly string[]): boolean {
  return labels.some(isFirewallRunnerLabel);
}

/**
 * What the firewall enforces for a job: `runner` from its `runs-on`, `calls` when it calls a
 * reusable workflow, `fileText` the repository's firewall file (undefined: none), and whether a
 * pull request's own copy of the files decides (`pull_request` triggers).
 */
export function firewallJobAnswer(job: { runner: RunnerInfo; calls?: string; pullRequestTriggers?: readonly string[] }, fileText: string | undefined): FirewallJobAnswer {
  const nothing = (reason: string): FirewallJobAnswer => ({ mode: null, reasons: [reason], caveats: [] });
  if (job.calls) return nothing(`calls ${job.calls}: the called workflow's jobs choose their runner`);
  if (!job.runner.resolved) return nothing('runs-on is an expression: whether the job runs behind the firewall is only known at run time');
  const candidates = job.runner.candidates;
  const behind = candidates.filter((candidate) => onFirewall(candidate.labels));
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
  from: string | null;
  to: string | null;
  why: string;
}

/** What a pull request's change to the firewall file widens (base text -> head text; undefined: absent). Empty: as strict or stricter. */
export function firewallTamperFindings(before: string | undefined, after: string | undefined): FirewallTamperFinding[] {
  if (before === undefined) return [];
  const base = readFirewallFile(before);
  if (base.problems.length > 0 || base.mode === undefined) return [];
  if (after === undefined) return [{ input: 'file', from: `mode ${base.mode}`, to: null, why: `${FIREWALL_FILE} deleted: jobs on the firewall runner run with no policy` }];
  const head = readFirewallFile(after);
  const findings: FirewallTamperFinding[] = [];
  if (base.managed && !head.managed) findings.push({ input: 'marker', from: MANAGED_MARKER, to: null, why: 'the managed marker was removed: sync would no longer restore the file' });
  if (head.problems.length > 0 || head.mode === undefined) {
    findings.push({ input: 'file', from: `mode ${base.mode}`, to: null, why: `${FIREWALL_FILE} no longer reads as the firewall format (${head.problems.join('; ')}): the firewall may enforce nothing` });
    return findings;
  }
  const baseContent = base as FirewallFileContent;
  const headContent = head as FirewallFileContent;
  if (baseContent.mode === 'enforce' && headContent.mode === 'log') findings.push({ input: 'mode', from: 'enforce', to: 'log', why: 'enforce -> log: nothing is blocked any more' });
  if (baseContent.noDefaultUrls && !headContent.noDefaultUrls) findings.push({ input: 'no-default-urls', from: 'true', to: 'false', why: "GitHub's default hosts are allowed again" });
  const widened = weakerThan(headContent, baseContent).find((reason) => reason.startsWith('allows hosts'));
  if (widened) {
    const added = headContent.allow.filter((host) => !baseContent.allow.includes(host));
    findings.push({ input: 'allow', from: null, to: added.join(' '), why: `${widened.replace('the store does not', 'the base branch does not')}` });
  }
  return findings;
}
