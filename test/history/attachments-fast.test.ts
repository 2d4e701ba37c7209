import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fastAttachments } from '../../src/history/attachments-fast.js';
import { parseAttachmentsFile } from '../../src/policy/attachments-file.js';
import { DiagnosticSink } from '../../src/policy/diagnostics.js';

function fullParse(text: string) {
  const sink = new DiagnosticSink();
  const attachments = parseAttachmentsFile('attachments.yml', text, sink).map(({ type, key, policy }) => ({ type, key, policy }));
  return { attachments, errors: sink.items.filter((item) => item.severity === 'error') };
}

const SECTION_LINES = ['repositories:', 'organizations:', 'clusters:', 'workflows:', 'repositories:  # prod', 'teams:', 'repositories: {}', 'clusters:#x'];
const ENTRY_LINES = [
  '  acme/api: api',
  '  ACME/Api: web',
  '  acme/web: web # owner: web team',
  '  acme: org-audit',
  '  arc-prod: cluster-baseline',
  '  acme/api/.github/workflows/release.yml: release-block',
  '  1password: base',
  '  123: base',
  '  acme/api: 123',
  '  acme/api: null',
  '  acme/api: "api"',
  '  acme/api: api#x',
  '  acme/api: [api]',
  '    acme/deep: api',
  '  acme/api:api',
  '  true: base',
  '  acme/api: Api',
  '\tacme/api: api',
  '  acme/api: &a api',
];
const OTHER_LINES = ['', '# comment', '   # indented comment', '---', '  '];

describe('fastAttachments', () => {
  it('reads the canonical form', () => {
    const text = 'repositories:\n  acme/api: api\n  ACME/Web: web # case-insensitive\n\norganizations:\n  acme: org-audit\r\n';
    expect(fastAttachments(text)).toEqual([
      { type: 'repository', key: 'acme/api', policy: 'api' },
      { type: 'repository', key: 'acme/web', policy: 'web' },
      { type: 'organization', key: 'acme', policy: 'org-audit' },
    ]);
    expect(fastAttachments(text)).toEqual(fullParse(text).attachments);
  });

  it('agrees with the full parser whenever it answers, and answers only for error-free files', () => {
    let answeredWithEntries = 0;
    // Mostly well-formed sections with an odd line here and there, so both paths are exercised.
    const validEntries: Record<string, string[]> = {
      'repositories:': ['  acme/api: api', '  ACME/Web: web # team web', '  acme/tools: base', '  other/api: api'],
      'organizations:': ['  acme: org-audit', '  Other: base', '  third: base # audit first'],
      'clusters:': ['  arc-prod: cluster-baseline', '  arc-dev: base'],
      'workflows:': ['  acme/api/.github/workflows/release.yml: release-block', '  acme/api/.github/workflows/ci.yaml: base'],
    };
    const section = fc
      .constantFrom(...Object.keys(validEntries))
      .chain((name) =>
        fc.tuple(
          fc.oneof({ arbitrary: fc.constant(name), weight: 12 }, { arbitrary: fc.constantFrom(...SECTION_LINES), weight: 1 }),
          fc.array(
            fc.oneof(
              { arbitrary: fc.constantFrom(...(validEntries[name] ?? [])), weight: 16 },
              { arbitrary: fc.constantFrom(...ENTRY_LINES), weight: 1 },
              { arbitrary: fc.constantFrom(...OTHER_LINES), weight: 1 },
            ),
            { minLength: 1, maxLength: 4 },
          ),
        ),
      )
      .map(([first, rest]) => [first, ...rest]);
    fc.assert(
      fc.property(fc.array(section, { maxLength: 3 }), (sections) => {
        const text = `${sections.flat().join('\n')}\n`;
        const fast = fastAttachments(text);
        if (fast === undefined) return;
        const full = fullParse(text);
        expect(full.errors).toEqual([]);
        expect(fast).toEqual(full.attachments);
        if (fast.length > 0) answeredWithEntries++;
      }),
      { numRuns: 3000 },
    );
    // The property is not vacuous: the fast path answers for many generated files.
    expect(answeredWithEntries).toBeGreaterThan(100);
  });

  it('leaves anything unusual to the full parser', () => {
    for (const text of ['repositories:\n  acme/api: api\n  acme/API: web\n', 'repositories:\n  acme/api: 123\n', 'repositories:\n  acme/api: api\nrepositories:\n  acme/web: web\n', 'repositories:\n']) {
      expect(fastAttachments(text)).toBeUndefined();
    }
  });
});
