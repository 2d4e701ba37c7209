/**
 * What a policy pull request's check adds to validation (docs/architecture.md#policy-tests,
 * #expiring-exceptions): the policy tests run at the head revision, each failure located at the
 * endpoint that failed, and the exceptions that expired or expire soon. Pure: a loaded revision
 * and a time in, located findings out.
 */
import { compareDiagnostics, type Diagnostic } from '../policy/diagnostics.js';
import { expiringEntries, expiryFindings, type ExpiringEntry } from '../policy/expiry.js';
import { flattenPolicies } from '../policy/flatten.js';
import { attachmentMap } from '../policy/model.js';
import { failureDiagnostics, isPolicyTestFile, parsePolicyTests, runPolicyTests, summarize, type CaseOutcome, type TestSummary } from '../policy/policy-tests.js';
import type { PolicyRepository } from '../store/repository.js';

/** How far ahead a pull request's comment lists expiries. */
export const UPCOMING_EXPIRY_DAYS = 30;

export interface PolicyChecks {
  /** Test files that do not parse, and failed cases (one per failing endpoint). */
  errors: Diagnostic[];
  /** Test files' warnings and expired exceptions. */
  warnings: Diagnostic[];
  /** Exceptions that expire within EXPIRY_NOTICE_DAYS days. */
  notices: Diagnostic[];
  /** Undefined when the repository has no test files. */
  tests?: TestSummary;
  outcomes: CaseOutcome[];
  /** Exceptions that expired or expire within UPCOMING_EXPIRY_DAYS days, soonest first. */
  upcoming: ExpiringEntry[];
}

export function policyChecks(head: { value: PolicyRepository }, now: Date): PolicyChecks {
  const repository = head.value;
  const parsed = parsePolicyTests(repository.files);
  const outcomes = parsed.errors.length > 0 ? [] : runPolicyTests({ attachments: attachmentMap(repository.attachments), policies: flattenPolicies(repository) }, parsed.value, now);
  const expiry = expiryFindings(repository.policies.values(), now);
  const checks: PolicyChecks = {
    errors: [...parsed.errors, ...failureDiagnostics(outcomes)].sort(compareDiagnostics),
    warnings: [...parsed.warnings, ...expiry.warnings].sort(compareDiagnostics),
    notices: expiry.notices,
    outcomes,
    upcoming: expiringEntries(repository.policies.values(), now).filter((entry) => entry.daysLeft < UPCOMING_EXPIRY_DAYS),
  };
  if ([...repository.files.keys()].some(isPolicyTestFile)) checks.tests = summarize(outcomes);
  return checks;
}

