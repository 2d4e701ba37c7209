/**
 * One grammar: whatever `validate` accepts, `compile` (and every bundle consumer) accepts, so a
 * green pull-request check never produces a commit the server refuses.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { openBundle } from '../../src/bundle/dsse.js';
import { sealRevision } from '../../src/bundle/seal.js';
import { parsePolicyRepository } from '../../src/store/repository.js';
import { SCOPE_SECTIONS, SCOPE_TYPES, type ScopeType } from '../../src/policy/model.js';
import { SCOPE_KEY_PATTERN_TEXTS, scopeKeyProblem } from '../../src/policy/scope-keys.js';
import { runCli } from '../support/cli.js';
import { makeTempRepo } from '../support/policy-repo.js';

const REVISION = { revision: 'a'.repeat(40), committedAt: '2026-12-01T00:00:00Z' };

/** Characters that have broken scope keys and endpoints before, plus ordinary ones. */
const TRICKY = [...'abcxyz019', '.', '-', '_', '/', ' ', '\t', '@', ':', '*', 'A', 'Z', 'é', '#', '~', '%', '\u00a0'];
const trickyText = (max: number) => fc.array(fc.constantFrom(...TRICKY), { minLength: 0, maxLength: max }).map((chars) => chars.join(''));
const oddSegment = fc.oneof(fc.constantFrom('a-b', 'x.y', 'x_y', '..', '.', '-x', 'x-', 'A'), trickyText(8));
const login = fc.oneof({ arbitrary: fc.stringMatching(/^[a-z0-9]{1,4}(-[a-z0-9]{1,3})?$/), weight: 4 }, { arbitrary: oddSegment, weight: 1 });
const name = fc.oneof({ arbitrary: fc.stringMatching(/^[a-z0-9._-]{1,6}$/), weight: 4 }, { arbitrary: oddSegment, weight: 1 });
/** Workflow file names GitHub allows but a workflow_ref cannot be matched against, among ordinary ones. */
const fileName = fc.oneof(
  { arbitrary: name, weight: 3 },
  { arbitrary: fc.constantFrom('my release', 'a@b', 'tab\tx', 'nbsp\u00a0x', 'ü', 'x.y'), weight: 2 },
  { arbitrary: trickyText(8), weight: 1 },
);

const scopeKey: fc.Arbitrary<[ScopeType, string]> = fc.oneof(
  fc.tuple(fc.constant<ScopeType>('organization'), login),
  fc.tuple(fc.constant<ScopeType>('repository'), fc.tuple(login, name).map(([o, r]) => `${o}/${r}`)),
  fc.tuple(
    fc.constant<ScopeType>('workflow'),
    fc.tuple(login, name, fileName, fc.constantFrom('.yml', '.yml', '.yaml', '.YML', '', '.txt')).map(([o, r, f, ext]) => `${o}/${r}/.github/workflows/${f}${ext}`),
  ),
  fc.tuple(fc.constant<ScopeType>('cluster'), name),
);

const endpoint = fc.oneof(
  { arbitrary: fc.stringMatching(/^[a-z0-9*][a-z0-9.*-]{0,10}(:[0-9]{1,5})?$/), weight: 3 },
  {
    arbitrary: fc.constantFrom('github.com', '*.github.com', 'api.*', '-', '-foo.com', 'foo-.com', 'a..b', '10.0.0.1:53', 'x.com:0', 'x.com:65535', 'foo.*.com'),
    weight: 2,
  },
  { arbitrary: fc.tuple(trickyText(12), fc.constantFrom('', ':443', ':8080', ':', ':99999')).map(([host, port]) => `${host}${port}`), weight: 1 },
);

function repositoryFiles(keys: readonly [ScopeType, string][], endpoints: readonly string[]): Map<string, Uint8Array> {
  const sections = new Map<string, string[]>();
  for (const [type, key] of keys) {
    const section = SCOPE_SECTIONS[type];
    sections.set(section, [...(sections.get(section) ?? []), `  ${JSON.stringify(key)}: p`]);
  }
  const attachments = [...sections].map(([section, lines]) => `${section}:\n${lines.join('\n')}\n`).join('');
  const policy = `egress-policy: block\nallowed-endpoints:\n${endpoints.map((entry) => `  - ${JSON.stringify(entry)}\n`).join('')}`;
  return new Map([
    ['policies/p.yml', Buffer.from(endpoints.length > 0 ? policy : 'egress-policy: audit\n')],
    ['attachments.yml', Buffer.from(attachments)],
  ]);
}

describe('validate and compile share one grammar', () => {
  it('property: whatever validate accepts, compile accepts (scope keys and endpoints)', () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.array(scopeKey, { minLength: 1, maxLength: 3 }), fc.array(endpoint, { maxLength: 3 }), (keys, endpoints) => {
        const loaded = parsePolicyRepository(repositoryFiles(keys, endpoints));
        if (loaded.errors.length > 0) return;
        accepted++;
        const sealed = sealRevision(loaded.value, REVISION, [], () => REVISION.committedAt);
        expect(() => openBundle(sealed.text)).not.toThrow();
      }),
      { numRuns: 300 },
    );
    // The generators must reach the accepting side too, or the property says nothing.
    expect(accepted).toBeGreaterThan(20);
  });

  it('the bundle schema repeats the scope key patterns exactly', () => {
    const schema = JSON.parse(readFileSync(new URL('../../schemas/bundle.schema.json', import.meta.url), 'utf8')) as {
      properties: { attachments: { properties: Record<string, { propertyNames: { pattern: string } }> } };
    };
    for (const type of SCOPE_TYPES) {
      expect(schema.properties.attachments.properties[SCOPE_SECTIONS[type]]?.propertyNames.pattern).toBe(SCOPE_KEY_PATTERN_TEXTS[type]);
    }
  });

  it.each([
    'acme/api/.github/workflows/my release.yml',
    'acme/api/.github/workflows/release.yml@refs/heads/main',
    'acme/api/.github/workflows/tab\there.yml',
  ])('refuses the workflow key %j in validate, with a located error', (key) => {
    expect(scopeKeyProblem('workflow', key)).toBeDefined();
    const loaded = parsePolicyRepository(repositoryFiles([['workflow', key]], []));
    expect(loaded.errors.map((error) => `${error.file}:${error.line}:${error.column} ${error.code}`)).toEqual(['attachments.yml:2:3 attachment/invalid-key']);
  });

  it('a key with a space fails egressctl validate (exit 1), so compile never sees it', async () => {
    const repo = makeTempRepo({
      'policies/p.yml': 'egress-policy: audit\n',
      'attachments.yml': 'workflows:\n  "acme/api/.github/workflows/my release.yml": p\n',
    });
    try {
      const run = await runCli(['validate', '-C', repo.dir]);
      expect(run.code).toBe(1);
      expect(run.stdout).toContain('attachments.yml:2:3: error attachment/invalid-key');
    } finally {
      repo.cleanup();
    }
  });
});
