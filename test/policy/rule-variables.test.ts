import { describe, expect, it } from 'vitest';
import type { Diagnostic } from '../../src/policy/diagnostics.js';
import { parsePolicyRepository } from '../../src/store/repository.js';

function check(files: Record<string, string>) {
  return parsePolicyRepository(new Map(Object.entries(files).map(([name, content]) => [name, Buffer.from(content)])));
}

const at = (d: Diagnostic | undefined) => d && `${d.file}:${d.line}:${d.column}`;
const VARIABLES = { 'egressctl.yml': 'delivery: variables\n' };

describe('delivery: variables rules', () => {
  it('attachment/variable-too-large: a policy over 48 KB, located at the attachment', () => {
    const endpoints = Array.from({ length: 2500 }, (_, index) => `  - host-${index}.registry.example.com\n`).join('');
    const files = { ...VARIABLES, 'policies/big.yml': `egress-policy: block\nallowed-endpoints:\n${endpoints}`, 'attachments.yml': 'organizations:\n  acme: small\nrepositories:\n  acme/api: big\n', 'policies/small.yml': 'egress-policy: audit\n' };
    const errors = check(files).errors.filter((d) => d.code === 'attachment/variable-too-large');
    expect(errors).toHaveLength(1);
    expect(at(errors[0])).toMatch(/^attachments\.yml:4:/);
    expect(errors[0]!.message).toMatch(/GitHub allows 49,152/);
    // The same store delivered by pull request is fine.
    expect(check({ ...files, 'egressctl.yml': 'delivery: pull-request\n' }).errors).toEqual([]);
  });

  it('attachment/variable-collision: two workflow files of one repository with the same variable name', () => {
    const result = check({
      ...VARIABLES,
      'policies/p.yml': 'egress-policy: audit\n',
      'attachments.yml': 'workflows:\n  acme/api/.github/workflows/release-x.yml: p\n  acme/api/.github/workflows/release_x.yml: p\n  acme/web/.github/workflows/release-x.yml: p\n',
    });
    const errors = result.errors.filter((d) => d.code === 'attachment/variable-collision');
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toContain('EGRESSCTL_WF_RELEASE_X_YML');
    expect(at(errors[0])).toMatch(/^attachments\.yml:3:/);
  });
});
