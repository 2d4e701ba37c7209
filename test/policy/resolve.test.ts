import { describe, expect, it } from 'vitest';
import { flattenPolicies } from '../../src/policy/flatten.js';
import { parsePolicyRepository } from '../../src/store/repository.js';
import { attachmentMap } from '../../src/policy/model.js';
import { effectivePolicy, resolveScopes, workflowKey } from '../../src/policy/resolve.js';

const attachments = {
  clusters: { 'arc-prod': 'cluster' },
  organizations: { acme: 'org' },
  repositories: { 'acme/api': 'repo' },
  workflows: { 'acme/api/.github/workflows/release.yml': 'wf' },
};

describe('precedence', () => {
  it('workflow beats repository beats organization beats cluster, with the shadowed chain', () => {
    const answer = resolveScopes(attachments, { repository: 'acme/api', workflow: '.github/workflows/release.yml', cluster: 'arc-prod' });
    expect(answer).toEqual({
      policy: 'wf',
      scope: { type: 'workflow', key: 'acme/api/.github/workflows/release.yml' },
      shadowed: [
        { type: 'repository', key: 'acme/api', policy: 'repo' },
        { type: 'organization', key: 'acme', policy: 'org' },
        { type: 'cluster', key: 'arc-prod', policy: 'cluster' },
      ],
    });
  });

  it('falls through each level', () => {
    expect(resolveScopes(attachments, { repository: 'acme/api', workflow: '.github/workflows/ci.yml' }).scope).toEqual({ type: 'repository', key: 'acme/api' });
    expect(resolveScopes(attachments, { repository: 'acme/web' }).scope).toEqual({ type: 'organization', key: 'acme' });
    expect(resolveScopes(attachments, { repository: 'other/web', cluster: 'ARC-PROD' }).scope).toEqual({ type: 'cluster', key: 'arc-prod' });
  });

  it('no attachment means no policy', () => {
    expect(resolveScopes(attachments, { repository: 'other/web' })).toEqual({ policy: null, scope: null, shadowed: [] });
  });

  it('compares names case-insensitively and accepts workflow_ref forms', () => {
    expect(resolveScopes(attachments, { repository: 'ACME/Api', workflow: 'Acme/API/.github/workflows/Release.yml@refs/heads/main' }).policy).toBe('wf');
    expect(workflowKey('./.github/workflows/a.yml', 'o/r')).toBe('o/r/.github/workflows/a.yml');
    expect(workflowKey('.github/workflows/a.yml', undefined)).toBeUndefined();
  });

  it('a reusable workflow is resolved by its caller: the caller workflow_ref decides', () => {
    // job_workflow_ref would name acme/shared; the resolver is given only the caller's workflow_ref.
    expect(resolveScopes(attachments, { repository: 'acme/api', workflow: 'acme/api/.github/workflows/release.yml@refs/tags/v1' }).policy).toBe('wf');
  });
});

describe('extends and the with: block', () => {
  const files = new Map(
    Object.entries({
      'policies/base.yml': 'egress-policy: block\nallowed-endpoints: [github.com, a.com]\ndisable-sudo-and-containers: true\n',
      'policies/other.yml': 'egress-policy: audit\nallowed-endpoints: [c.com]\ndisable-file-monitoring: true\ndisable-sudo-and-containers: false\n',
      'policies/child.yml': 'egress-policy: block\nextends: [base, other]\nallowed-endpoints: [b.com, a.com]\ndisable-telemetry: true\n',
      'policies/grandchild.yml': 'egress-policy: audit\nextends: child\n',
      'attachments.yml': 'organizations:\n  acme: grandchild\n',
    }).map(([name, text]) => [name, Buffer.from(text)]),
  );
  const repository = parsePolicyRepository(files);

  it('unions endpoints over the ancestry; child scalars win, later parents over earlier', () => {
    expect(repository.errors).toEqual([]);
    const compiled = flattenPolicies(repository.value);
    expect(compiled['child']).toMatchObject({
      'egress-policy': 'block',
      'allowed-endpoints': ['a.com:443', 'b.com:443', 'c.com:443', 'github.com:443'],
      'disable-sudo-and-containers': false,
      'disable-file-monitoring': true,
      'disable-telemetry': true,
      extends: ['base', 'other'],
    });
    expect(compiled['grandchild']?.['egress-policy']).toBe('audit');
    expect(compiled['grandchild']?.extends).toEqual(['base', 'child', 'other']);
  });

  it('gives Harden-Runner one space-separated line', () => {
    const compiled = flattenPolicies(repository.value);
    const answer = effectivePolicy(attachmentMap(repository.value.attachments), compiled, { repository: 'acme/x' });
    expect(answer.config['allowed-endpoints']).toBe('a.com:443 b.com:443 c.com:443 github.com:443');
    expect(answer.config['egress-policy']).toBe('audit');
    expect(effectivePolicy(attachmentMap([]), compiled, { repository: 'acme/x' }).config).toEqual({});
  });

  it('compile survives cycles (validation reports them)', () => {
    const cyclic = parsePolicyRepository(
      new Map([
        ['policies/a.yml', Buffer.from('egress-policy: block\nextends: b\nallowed-endpoints: a.com\n')],
        ['policies/b.yml', Buffer.from('egress-policy: block\nextends: a\nallowed-endpoints: b.com\n')],
      ]),
    );
    expect(cyclic.errors.some((d) => d.code === 'policy/extends-cycle')).toBe(true);
    expect(Object.keys(flattenPolicies(cyclic.value))).toEqual(['a', 'b']);
  });
});

describe('names that collide with Object.prototype', () => {
  it('resolve "constructor" and "toString" to no policy', () => {
    expect(resolveScopes(attachments, { repository: 'constructor/tostring', cluster: 'hasownproperty' })).toEqual({ policy: null, scope: null, shadowed: [] });
  });
});
