import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { mergeObservation } from '../../src/baselines/merge.js';
import { emptyBaselineFile } from '../../src/baselines/model.js';
import { parseBaselineFile } from '../../src/baselines/parse.js';
import { renderBaselineFile } from '../../src/baselines/render.js';
import { repoRoot } from '../support/baselines.js';

const example = readFileSync(path.join(repoRoot, 'baselines/acme/api.yml'), 'utf8');

describe('renderBaselineFile', () => {
  it('writes a canonical file with the schema comment, sorted keys and one line per endpoint', () => {
    const file = mergeObservation(emptyBaselineFile('acme/web'), {
      workflow: 'ci.yml',
      job: 'build',
      runId: '9000000070',
      at: '2026-11-18T07:55:10Z',
      endpoints: ['registry.npmjs.org:443', 'fonts.googleapis.com:443', 'codeload.github.com:443'],
    });
    expect(renderBaselineFile(file)).toBe(
      [
        '# yaml-language-server: $schema=../../schemas/baselines.schema.json',
        '# Observed egress per workflow file and job, written by `egressctl baseline` and the',
        '# GitHub App. endpoints: what `egressctl recommend` allows; implicit: allowed by Harden-Runner',
        '# itself; addresses: reached by IP only (never recommended); blocked: refused in block mode.',
        '',
        'repository: acme/web',
        'workflows:',
        '  .github/workflows/ci.yml:',
        '    build:',
        '      runs: 1',
        '      firstSeen: 2026-11-18T07:55:10Z',
        '      lastSeen: 2026-11-18T07:55:10Z',
        '      lastGrowth: { run: 1, runId: "9000000070", at: 2026-11-18T07:55:10Z }',
        '      endpoints:',
        '        fonts.googleapis.com:443: { runs: 1, firstSeen: 2026-11-18T07:55:10Z, lastSeen: 2026-11-18T07:55:10Z }',
        '        registry.npmjs.org:443: { runs: 1, firstSeen: 2026-11-18T07:55:10Z, lastSeen: 2026-11-18T07:55:10Z }',
        '      implicit:',
        '        codeload.github.com:443: { runs: 1, firstSeen: 2026-11-18T07:55:10Z, lastSeen: 2026-11-18T07:55:10Z }',
        '      recentRuns: [ "9000000070" ]',
        '',
      ].join('\n'),
    );
  });

  it('writes an empty endpoint map as {} so the file says the job reached nothing', () => {
    const file = mergeObservation(emptyBaselineFile('acme/web'), { workflow: 'ci.yml', job: 'lint', runId: '1', at: '2026-11-18', endpoints: [] });
    expect(renderBaselineFile(file)).toContain('      endpoints: {}\n');
  });

  it('re-renders an unchanged file to identical bytes', () => {
    const parsed = parseBaselineFile(example, 'baselines/acme/api.yml').value;
    expect(renderBaselineFile(parsed, example)).toBe(example);
  });

  it('keeps people\'s comments and order when a run is merged, changing only the lines that differ', () => {
    const parsed = parseBaselineFile(example, 'baselines/acme/api.yml').value;
    const merged = mergeObservation(parsed, {
      workflow: 'ci.yml',
      job: 'build',
      runId: '9000000140',
      at: '2026-11-21T10:00:00Z',
      endpoints: ['registry.npmjs.org:443', 'objects.githubusercontent.com:443', 'api.stripe.com:443'],
    });
    const text = renderBaselineFile(merged, example);
    for (const comment of example.split('\n').filter((line) => line.trim().startsWith('#'))) expect(text).toContain(comment);
    const before = example.split('\n');
    const after = text.split('\n');
    const added = after.filter((line) => !before.includes(line));
    expect(added.map((line) => line.trim().split(':')[0])).toEqual(['runs', 'lastSeen', 'lastGrowth', 'api.stripe.com', 'objects.githubusercontent.com', 'registry.npmjs.org', 'recentRuns']);
    expect(parseBaselineFile(text, 'baselines/acme/api.yml').value).toEqual(merged);
  });

  it('adds the schema comment to an existing file that lacks it and replaces an unparsable one', () => {
    const bare = 'repository: acme/api\nworkflows: {}\n';
    const file = parseBaselineFile(bare, 'baselines/acme/api.yml').value;
    expect(renderBaselineFile(file, bare).startsWith('# yaml-language-server: $schema=../../schemas/baselines.schema.json\n')).toBe(true);
    expect(renderBaselineFile(file, 'workflows: [\n')).toBe(renderBaselineFile(file));
  });
});
