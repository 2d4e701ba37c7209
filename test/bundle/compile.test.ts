import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildBundle,
  bundleDigest,
  buildRepositoryBundle,
  contentRevision,
  serializeBundle,
  utcTimestamp,
  type BuildBundleInput,
} from '../../src/bundle/build.js';
import { bundleProblems } from '../../src/bundle/validate.js';
import { parsePolicyRepository } from '../../src/store/repository.js';
import { emptyAttachmentMap, type AttachmentMap, type CompiledPolicy } from '../../src/policy/model.js';
import { InvalidInputError } from '../../src/util/errors.js';
import { SAMPLE_FILES } from '../support/policy-repo.js';

const SHA = 'a'.repeat(40);

function sampleInput(): BuildBundleInput {
  return {
    revision: SHA,
    committedAt: '2026-03-01T10:00:00+09:00',
    policies: {
      base: { name: 'base', 'egress-policy': 'block', 'allowed-endpoints': ['github.com:443'] },
      api: {
        name: 'api',
        'egress-policy': 'block',
        'allowed-endpoints': ['registry.npmjs.org:443', 'github.com:443', 'github.com:443'],
        extends: ['base'],
        'disable-sudo-and-containers': true,
        'lockdown-mode': { enabled: true, detections: ['Reverse-Shell', 'Privileged-Container'] },
        description: undefined,
      },
    },
    attachments: {
      workflows: { 'acme/api/.github/workflows/release.yml': 'base' },
      repositories: { 'acme/api': 'api' },
      organizations: {},
      clusters: { 'arc-prod': 'base' },
    },
  };
}

describe('buildBundle', () => {
  it('produces the documented shape, normalized, with a digest over the canonical payload', () => {
    const bundle = buildBundle(sampleInput());
    const expectedPayload =
      '{"attachments":{"clusters":{"arc-prod":"base"},"organizations":{},"repositories":{"acme/api":"api"},' +
      '"workflows":{"acme/api/.github/workflows/release.yml":"base"}},"committedAt":"2026-03-01T01:00:00Z",' +
      '"policies":{"api":{"allowed-endpoints":["github.com:443","registry.npmjs.org:443"],"disable-sudo-and-containers":true,' +
      '"egress-policy":"block","extends":["base"],"lockdown-mode":{"detections":["Privileged-Container","Reverse-Shell"],"enabled":true},' +
      '"name":"api"},"base":{"allowed-endpoints":["github.com:443"],"egress-policy":"block","name":"base"}},' +
      `"revision":"${SHA}","schemaVersion":1}`;
    const digest = `sha256:${createHash('sha256').update(expectedPayload).digest('hex')}`;
    expect(bundle.digest).toBe(digest);
    expect(bundleDigest(bundle)).toBe(digest);
    // Members sorted: digest lands between committedAt and policies.
    expect(serializeBundle(bundle)).toBe(expectedPayload.replace('"policies":', `"digest":"${digest}","policies":`));
    expect(bundleProblems(JSON.parse(serializeBundle(bundle)))).toEqual([]);
  });

  it('drops an empty extends and keeps no undefined members', () => {
    const bundle = buildBundle({
      revision: SHA,
      committedAt: '2026-01-01T00:00:00Z',
      policies: { solo: { name: 'solo', 'egress-policy': 'audit', 'allowed-endpoints': [], extends: [] } },
      attachments: emptyAttachmentMap(),
    });
    expect(bundle.policies.solo).toEqual({ name: 'solo', 'egress-policy': 'audit', 'allowed-endpoints': [] });
    expect(Object.keys(bundle.policies.solo ?? {})).not.toContain('extends');
  });

  it('writes committedAt in UTC and refuses a date without a time zone', () => {
    expect(utcTimestamp('2026-03-01T10:00:00+09:00')).toBe('2026-03-01T01:00:00Z');
    expect(utcTimestamp('2026-03-01T01:00:00.000Z')).toBe('2026-03-01T01:00:00Z');
    expect(utcTimestamp('2026-03-01T01:00:00.250Z')).toBe('2026-03-01T01:00:00.250Z');
    expect(() => utcTimestamp('2026-03-01T10:00:00')).toThrow(/with a time zone/);
    expect(() => utcTimestamp('yesterday')).toThrow(InvalidInputError);
  });

  it('refuses input that does not hang together', () => {
    const unknownAttached = sampleInput();
    unknownAttached.attachments.organizations.acme = 'missing';
    expect(() => buildBundle(unknownAttached)).toThrow('organization "acme" is attached to "missing", which is not in the bundle');

    const unknownParent = sampleInput();
    (unknownParent.policies.api as CompiledPolicy).extends = ['ghost'];
    expect(() => buildBundle(unknownParent)).toThrow('policy "api" extends "ghost"');

    const misnamed = sampleInput();
    (misnamed.policies.base as CompiledPolicy).name = 'other';
    expect(() => buildBundle(misnamed)).toThrow('policy stored under "base" is named "other"');

    expect(() => buildBundle({ ...sampleInput(), revision: '  ' })).toThrow('the revision is empty');
  });

  it('gives the same bytes for the same content in any insertion order (property)', () => {
    const name = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,8}$/);
    const endpoint = fc
      .tuple(fc.stringMatching(/^[a-z]([a-z0-9-]{0,5}[a-z0-9])?$/), fc.constantFrom('com', 'io', 'org'), fc.integer({ min: 1, max: 65535 }))
      .map(([label, tld, port]) => `${label}.${tld}:${port}`);
    const policyBody = fc.record(
      {
        'egress-policy': fc.constantFrom('audit' as const, 'block' as const),
        'allowed-endpoints': fc.array(endpoint, { maxLength: 6 }),
        description: fc.string(),
        'disable-telemetry': fc.boolean(),
        'lockdown-mode': fc.record({
          enabled: fc.boolean(),
          detections: fc.subarray(['Privileged-Container', 'Runner-Worker-Memory-Read', 'Reverse-Shell'] as const),
        }),
      },
      { requiredKeys: ['egress-policy', 'allowed-endpoints'] },
    );
    const content = fc
      .uniqueArray(fc.tuple(name, policyBody), { minLength: 1, maxLength: 5, selector: ([policyName]) => policyName })
      .chain((entries) => {
        const names = entries.map(([policyName]) => policyName);
        // Keys as the scope-key grammar allows them (organization logins and cluster names).
        const scope = fc.stringMatching(/^[a-z0-9]{1,4}(-[a-z0-9]{1,3})?$/);
        return fc.record({
          entries: fc.constant(entries),
          organizations: fc.dictionary(scope, fc.constantFrom(...names), { maxKeys: 5 }),
          clusters: fc.dictionary(scope, fc.constantFrom(...names), { maxKeys: 5 }),
          extendsOf: fc.array(fc.subarray(names), { minLength: entries.length, maxLength: entries.length }),
          seed: fc.integer(),
        });
      });

    fc.assert(
      fc.property(content, ({ entries, organizations, clusters, extendsOf, seed }) => {
        const policies = (order: 'as-is' | 'shuffled'): Record<string, CompiledPolicy> => {
          const list = entries.map(([policyName, body], index) => {
            const parents = (extendsOf[index] ?? []).filter((parent) => parent !== policyName);
            const policy: CompiledPolicy = { name: policyName, ...body, 'allowed-endpoints': [...body['allowed-endpoints']] };
            if (parents.length > 0) policy.extends = parents;
            if (order === 'shuffled') {
              policy['allowed-endpoints'] = shuffle([...policy['allowed-endpoints'], ...policy['allowed-endpoints']], seed);
              if (policy.extends) policy.extends = shuffle(policy.extends, seed + 1);
              if (policy['lockdown-mode']) {
                policy['lockdown-mode'] = { ...policy['lockdown-mode'], detections: shuffle(policy['lockdown-mode'].detections, seed) };
              }
              return Object.fromEntries(shuffle(Object.entries(policy), seed)) as unknown as CompiledPolicy;
            }
            return policy;
          });
          const ordered = order === 'shuffled' ? shuffle(list, seed + 2) : list;
          return Object.fromEntries(ordered.map((policy) => [policy.name, policy]));
        };
        const attachments = (order: 'as-is' | 'shuffled'): AttachmentMap => {
          const reorder = (section: Record<string, string>) =>
            order === 'shuffled' ? Object.fromEntries(shuffle(Object.entries(section), seed)) : { ...section };
          const map: AttachmentMap = { ...emptyAttachmentMap(), organizations: reorder(organizations), clusters: reorder(clusters) };
          return order === 'shuffled' ? (Object.fromEntries(shuffle(Object.entries(map), seed)) as unknown as AttachmentMap) : map;
        };
        const meta = { revision: SHA, committedAt: '2026-03-01T10:00:00+09:00' };
        const first = buildBundle({ ...meta, policies: policies('as-is'), attachments: attachments('as-is') });
        const second = buildBundle({ ...meta, policies: policies('shuffled'), attachments: attachments('shuffled') });
        expect(serializeBundle(second)).toBe(serializeBundle(first));
        expect(bundleProblems(JSON.parse(serializeBundle(first)))).toEqual([]);
      }),
      { numRuns: 150 },
    );
  });
});

describe('buildRepositoryBundle and contentRevision', () => {
  it('compiles a loaded repository with extends flattened and attachments by section', () => {
    const files = new Map(Object.entries(SAMPLE_FILES).map(([file, text]) => [file, Buffer.from(text)]));
    const loaded = parsePolicyRepository(files);
    expect(loaded.errors).toEqual([]);
    const bundle = buildRepositoryBundle(loaded.value, { revision: SHA, committedAt: '2026-03-01T01:00:00Z' });
    expect(bundle.policies.api).toEqual({
      name: 'api',
      'egress-policy': 'block',
      'allowed-endpoints': ['github.com:443', 'objects.githubusercontent.com:443', 'proxy.golang.org:443', 'registry.npmjs.org:443'],
      extends: ['base'],
    });
    expect(bundle.attachments).toEqual({
      clusters: { 'arc-prod': 'audit' },
      organizations: { acme: 'audit' },
      repositories: { 'acme/api': 'api' },
      workflows: { 'acme/api/.github/workflows/release.yml': 'base' },
    });
    expect(bundleProblems(JSON.parse(serializeBundle(bundle)))).toEqual([]);

    // Files read in another order: same bytes.
    const reversed = parsePolicyRepository(new Map([...files.entries()].reverse()));
    expect(serializeBundle(buildRepositoryBundle(reversed.value, { revision: SHA, committedAt: '2026-03-01T10:00:00+09:00' }))).toBe(
      serializeBundle(bundle),
    );
  });

  it('carries a policy\'s no-default-urls (own or inherited), valid against the bundle schema, same bytes in any order', () => {
    const files = new Map(Object.entries({ ...SAMPLE_FILES, 'policies/strict.yml': 'egress-policy: block\nextends: api\nno-default-urls: true\n', 'policies/stricter.yml': 'egress-policy: block\nextends: strict\n' }).map(([file, text]) => [file, Buffer.from(text)]));
    const loaded = parsePolicyRepository(files);
    expect(loaded.errors).toEqual([]);
    const bundle = buildRepositoryBundle(loaded.value, { revision: SHA, committedAt: '2026-03-01T01:00:00Z' });
    expect(bundle.policies.strict?.['no-default-urls']).toBe(true);
    expect(bundle.policies.stricter?.['no-default-urls']).toBe(true);
    expect(Object.keys(bundle.policies.api ?? {})).not.toContain('no-default-urls');
    expect(bundleProblems(JSON.parse(serializeBundle(bundle)))).toEqual([]);
    const reversed = parsePolicyRepository(new Map([...files.entries()].reverse()));
    expect(serializeBundle(buildRepositoryBundle(reversed.value, { revision: SHA, committedAt: '2026-03-01T01:00:00Z' }))).toBe(serializeBundle(bundle));
    // A value the schema does not allow is a problem, not passed through.
    const broken = JSON.parse(serializeBundle(bundle)) as { policies: Record<string, Record<string, unknown>> };
    broken.policies.strict!['no-default-urls'] = 'yes';
    expect(bundleProblems(broken)).not.toEqual([]);
  });

  it('names content without a commit by its hash', () => {
    const { policies, attachments } = sampleInput();
    const revision = contentRevision(policies, attachments);
    expect(revision).toMatch(/^worktree-[0-9a-f]{16}$/);
    expect(contentRevision(Object.fromEntries(Object.entries(policies).reverse()), attachments)).toBe(revision);
    expect(contentRevision(policies, { ...attachments, organizations: { acme: 'api' } })).not.toBe(revision);
  });
});

/** Deterministic Fisher-Yates from a seed, so a failing case reproduces. */
function shuffle<T>(items: readonly T[], seed: number): T[] {
  const result = [...items];
  let state = seed >>> 0 || 1;
  for (let index = result.length - 1; index > 0; index--) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    const other = state % (index + 1);
    [result[index], result[other]] = [result[other] as T, result[index] as T];
  }
  return result;
}
