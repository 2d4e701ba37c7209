import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { mergeObservation } from '../../src/baselines/merge.js';
import { emptyBaselineFile } from '../../src/baselines/model.js';
import { parseBaselineFile } from '../../src/baselines/parse.js';
import { renderBaselineFile } from '../../src/baselines/render.js';
import { repoRoot } from '../support/baselines.js';

const where = (items: { code: string; line: number; column: number }[]) => items.map(({ code, line, column }) => `${line}:${column} ${code}`);

describe('parseBaselineFile', () => {
  it.each(['baselines/acme/api.yml', 'baselines/acme/web.yml'])('reads the example %s without findings', (file) => {
    const result = parseBaselineFile(readFileSync(path.join(repoRoot, file), 'utf8'), file);
    expect(result.errors).toEqual([]);
    expect(result.warnings).toEqual([]);
    expect(result.value.workflows.size).toBeGreaterThan(0);
  });

  it('reads what render writes (round trip)', () => {
    let file = emptyBaselineFile('acme/api');
    file = mergeObservation(file, {
      workflow: 'ci.yml',
      job: 'build',
      runId: '42',
      at: '2026-11-18T10:00:00Z',
      endpoints: ['registry.npmjs.org:443', 'github.com:443', '8.8.8.8:53'],
      blocked: ['evil.example.net'],
    });
    const text = renderBaselineFile(file);
    const result = parseBaselineFile(text, 'baselines/acme/api.yml');
    expect(result.errors).toEqual([]);
    expect(result.warnings).toEqual([]);
    expect(result.value).toEqual(file);
  });

  it('locates structural errors and names the closest known key', () => {
    const lines = [
      'repository: acme/api', // 1
      'workflows:', // 2
      '  .github/workflows/ci.yml:', // 3
      '    build:', // 4
      '      runs: 2', // 5
      '      lastseen: 2026-11-18T10:00:00Z', // 6
      '      endpoints:', // 7
      '        a.example.com:443: { runs: 1, firstSeen: 2026-11-18T10:00:00Z, lastSeen: last tuesday }', // 8
      '  ci.yml:', // 9
      '    "bad job": { runs: 1 }', // 10
      '',
    ];
    const result = parseBaselineFile(lines.join('\n'), 'baselines/acme/api.yml');
    const column = (line: number, token: string) => (lines[line - 1] ?? '').indexOf(token) + 1;
    expect(where(result.errors)).toEqual([
      '6:7 baseline/schema',
      `8:${column(8, 'last tuesday')} baseline/schema`,
      '9:3 baseline/schema',
      '10:5 baseline/schema',
    ]);
    expect(result.errors[0]?.message).toContain('did you mean "lastSeen"');
    expect(result.errors[1]?.message).toContain('ISO-8601');
    expect(result.errors[2]?.message).toContain('.github/workflows/ci.yml');
  });

  it('checks endpoint keys with parseEndpoint and sorts misplaced ones where merge would put them', () => {
    const stats = '{ runs: 1, firstSeen: 2026-11-18T10:00:00Z, lastSeen: 2026-11-18T10:00:00Z }';
    const text = [
      'repository: acme/api',
      'workflows:',
      '  .github/workflows/ci.yml:',
      '    build:',
      '      runs: 1',
      '      endpoints:',
      `        "https://registry.npmjs.org": ${stats}`, // 7
      `        1.2.3.4:443: ${stats}`, // 8
      `        codeload.github.com:443: ${stats}`, // 9
      `        Nodejs.org: ${stats}`, // 10
      '      addresses:',
      `        dns.google:53: ${stats}`, // 12
      '',
    ].join('\n');
    const result = parseBaselineFile(text, 'baselines/acme/api.yml');
    expect(where(result.errors)).toEqual(['7:9 baseline/invalid-endpoint', '12:9 baseline/invalid-endpoint']);
    expect(where(result.warnings)).toEqual(['8:9 baseline/misplaced-endpoint', '9:9 baseline/misplaced-endpoint', '10:9 baseline/misplaced-endpoint']);
    const build = result.value.workflows.get('.github/workflows/ci.yml')?.get('build');
    expect([...(build?.endpoints.keys() ?? [])]).toEqual(['nodejs.org:443']);
    expect([...(build?.addresses.keys() ?? [])]).toEqual(['1.2.3.4:443']);
    expect([...(build?.implicit.keys() ?? [])]).toEqual(['codeload.github.com:443']);
  });

  it('moves entries an older implicit list put under implicit to where the agent puts them', () => {
    const seen = (runs: number, first: string, last: string) => `{ runs: ${runs}, firstSeen: ${first}, lastSeen: ${last} }`;
    const text = [
      'repository: acme/api',
      'workflows:',
      '  .github/workflows/ci.yml:',
      '    build:',
      '      runs: 4',
      '      endpoints:',
      `        registry.npmjs.org:443: ${seen(4, '2026-11-01T00:00:00Z', '2026-11-04T00:00:00Z')}`,
      '      implicit:',
      `        github.com:443: ${seen(4, '2026-11-01T00:00:00Z', '2026-11-04T00:00:00Z')}`, // 9
      `        api.github.com:443: ${seen(2, '2026-11-02T00:00:00Z', '2026-11-03T00:00:00Z')}`, // 10
      `        results-receiver.actions.githubusercontent.com:443: ${seen(3, '2026-11-02T00:00:00Z', '2026-11-04T00:00:00Z')}`,
      `        "*.actions.githubusercontent.com:443": ${seen(2, '2026-11-01T00:00:00Z', '2026-11-03T00:00:00Z')}`,
      `        agent.api.stepsecurity.io:443: ${seen(4, '2026-11-01T00:00:00Z', '2026-11-04T00:00:00Z')}`,
      '',
    ].join('\n');
    const result = parseBaselineFile(text, 'baselines/acme/api.yml');
    expect(result.errors).toEqual([]);
    expect(where(result.warnings)).toEqual(['9:9 baseline/misplaced-endpoint', '10:9 baseline/misplaced-endpoint']);
    expect(result.warnings[0]?.message).toContain('belongs under endpoints');
    const build = result.value.workflows.get('.github/workflows/ci.yml')?.get('build');
    expect([...(build?.endpoints.keys() ?? [])].sort()).toEqual(['api.github.com:443', 'github.com:443', 'registry.npmjs.org:443']);
    expect(Object.fromEntries(build?.implicit ?? [])).toEqual({
      '*.actions.githubusercontent.com:443': { runs: 3, firstSeen: '2026-11-01T00:00:00Z', lastSeen: '2026-11-04T00:00:00Z' },
      'agent.api.stepsecurity.io:443': { runs: 4, firstSeen: '2026-11-01T00:00:00Z', lastSeen: '2026-11-04T00:00:00Z' },
    });
  });

  it('requires the repository to match the file path', () => {
    const result = parseBaselineFile('repository: acme/web\nworkflows: {}\n', 'baselines/acme/api.yml');
    expect(where(result.errors)).toEqual(['1:13 baseline/repository-mismatch']);
    expect(result.value.repository).toBe('acme/api');
  });

  it('warns about counts that do not add up', () => {
    const lines = [
      'repository: acme/api',
      'workflows:',
      '  .github/workflows/ci.yml:',
      '    build:',
      '      runs: 2',
      '      lastGrowth: { run: 5, runId: "9", at: 2026-11-18T10:00:00Z }',
      '      endpoints:',
      '        a.example.com:443: { runs: 3, firstSeen: 2026-11-19T10:00:00Z, lastSeen: 2026-11-18T10:00:00Z }',
      '',
    ];
    const result = parseBaselineFile(lines.join('\n'), 'baselines/acme/api.yml');
    const column = (line: number, token: string) => (lines[line - 1] ?? '').indexOf(token) + 1;
    expect(result.errors).toEqual([]);
    // lastGrowth.run beyond runs; an endpoint seen in more runs than the job; firstSeen after lastSeen.
    expect(where(result.warnings)).toEqual([
      `6:${column(6, '5,')} baseline/inconsistent-runs`,
      `8:${column(8, '3,')} baseline/inconsistent-runs`,
      `8:${column(8, '2026-11-19')} baseline/inconsistent-runs`,
    ]);
  });

  it('reports YAML syntax errors and empty files at a position', () => {
    expect(where(parseBaselineFile('repository: acme/api\nworkflows: {\n', 'baselines/acme/api.yml').errors)[0]).toMatch(/^\d+:\d+ baseline\/yaml$/);
    expect(where(parseBaselineFile('repository: a\nrepository: b\n', 'baselines/acme/api.yml').errors)).toEqual(['2:1 baseline/yaml']);
    expect(where(parseBaselineFile('', 'baselines/acme/api.yml').errors)).toEqual(['1:1 baseline/empty']);
  });

  it('reads numeric run ids as strings', () => {
    const text = 'repository: acme/api\nworkflows:\n  .github/workflows/ci.yml:\n    build:\n      runs: 1\n      recentRuns: [9000000123]\n';
    const result = parseBaselineFile(text, 'baselines/acme/api.yml');
    expect(result.errors).toEqual([]);
    expect(result.value.workflows.get('.github/workflows/ci.yml')?.get('build')?.recentRuns).toEqual(['9000000123']);
  });
});
