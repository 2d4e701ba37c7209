/** Deleting expired exceptions from policy files as text: only their lines go; comments, blank lines and CRLF stay. */
import { describe, expect, it } from 'vitest';
import { DiagnosticSink } from '../../src/policy/diagnostics.js';
import { planExpiredRemovals, removeExpiredEntries } from '../../src/policy/expiry-edit.js';
import { parsePolicyFile } from '../../src/policy/policy-file.js';
import { parsePolicyRepository } from '../../src/store/repository.js';
import { exceptionsStoreFiles } from '../support/policy-tests.js';

const APRIL = new Date('2026-04-01T00:00:00Z');

function valid(file: string, text: string): boolean {
  const sink = new DiagnosticSink();
  parsePolicyFile(file, text, sink);
  return !sink.hasErrors;
}

describe('removeExpiredEntries', () => {
  it('cuts the expired items of the fixture policy and keeps every other byte', () => {
    const text = exceptionsStoreFiles()['policies/node-build.yml']!;
    const { text: edited, removed } = removeExpiredEntries(text, APRIL);
    expect(removed).toEqual([
      { endpoint: 'sandbox.payments.example.com', expires: '2026-03-31', reason: 'payment provider sandbox until the contract tests use the mock', owner: 'team-payments', line: 9 },
      { endpoint: 'api.github.com', expires: '2026-01-15', reason: 'release notes script', line: 13 },
    ]);
    const lines = text.split('\n');
    expect(edited).toBe([...lines.slice(0, 8), ...lines.slice(15)].join('\n'));
    expect(edited).toContain('  - "*.docker.io"                     # registry-1, auth, index\n');
    expect(edited).toContain("  # Temporary: contract tests still call the provider's sandbox (SEC-1412).\n");
    expect(valid('policies/node-build.yml', edited)).toBe(true);
  });

  it('changes nothing before the day is over, and keeps CRLF line endings', () => {
    const text = 'egress-policy: block\r\nallowed-endpoints:\r\n  - github.com\r\n  - endpoint: x.example.com\r\n    reason: r\r\n    expires: 2026-03-31\r\n  - y.example.com # stays\r\n';
    expect(removeExpiredEntries(text, new Date('2026-03-31T23:59:59Z'))).toEqual({ text, removed: [] });
    const { text: edited } = removeExpiredEntries(text, APRIL);
    expect(edited).toBe('egress-policy: block\r\nallowed-endpoints:\r\n  - github.com\r\n  - y.example.com # stays\r\n');
  });

  it('writes [] when every entry expired, so the file stays valid', () => {
    const text = 'egress-policy: block\nallowed-endpoints:  # temporary access only\n  - endpoint: x.example.com\n    reason: r\n    expires: 2026-03-01\ndisable-sudo-and-containers: true\n';
    const { text: edited } = removeExpiredEntries(text, APRIL);
    expect(edited).toBe('egress-policy: block\nallowed-endpoints: []  # temporary access only\ndisable-sudo-and-containers: true\n');
    expect(valid('policies/p.yml', edited)).toBe(true);
  });

  it('leaves a flow list or a broken file alone', () => {
    const flow = 'egress-policy: block\nallowed-endpoints: [{endpoint: x.example.com, reason: r, expires: 2026-03-01}]\n';
    expect(removeExpiredEntries(flow, APRIL).removed).toEqual([]);
    expect(removeExpiredEntries('egress-policy: [\n', APRIL).removed).toEqual([]);
  });
});

describe('planExpiredRemovals', () => {
  it('plans one edit per policy file with expired entries, sorted by file', () => {
    const { value } = parsePolicyRepository(new Map(Object.entries(exceptionsStoreFiles()).map(([path, text]) => [path, new TextEncoder().encode(text)])));
    const plans = planExpiredRemovals(value.policies.values(), value.files, new Date('2026-07-01T00:00:00Z'), valid);
    expect(plans.map((plan) => [plan.file, plan.removed.map((entry) => entry.endpoint)])).toEqual([
      ['policies/node-build.yml', ['sandbox.payments.example.com', 'api.github.com']],
      ['policies/release.yml', ['uploads.github.com']],
    ]);
    expect(planExpiredRemovals(value.policies.values(), value.files, new Date('2026-01-01T00:00:00Z'), valid)).toEqual([]);
  });
});
