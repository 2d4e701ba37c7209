import { describe, expect, it } from 'vitest';
import { parseEndpointList } from '../../src/baselines/list.js';
import { fixture } from '../support/baselines.js';

describe('parseEndpointList', () => {
  it('reads entries per line or space separated, with comments, into sorted canonical endpoints', () => {
    const result = parseEndpointList(fixture('insights-endpoints.txt'), 'insights-endpoints.txt');
    expect(result.errors).toEqual([]);
    expect(result.warnings).toEqual([]);
    expect(result.value).toEqual([
      '151.101.1.195:443',
      'api.github.com:443',
      'fonts.googleapis.com:443',
      'github.com:443',
      'objects.githubusercontent.com:443',
      'registry.npmjs.org:443',
    ]);
  });

  it('reports each invalid entry at its line and column with parseEndpoint\'s code', () => {
    const result = parseEndpointList(fixture('insights-invalid.txt'), 'insights-invalid.txt');
    expect(result.errors.map(({ code, line, column }) => ({ code, line, column }))).toEqual([
      { code: 'endpoint/scheme', line: 2, column: 1 },
      { code: 'endpoint/port', line: 2, column: 29 },
      { code: 'endpoint/multiple-wildcards', line: 4, column: 28 },
    ]);
    expect(result.errors[0]?.message).toContain('write "registry.npmjs.org"');
    expect(result.value).toEqual(['github.com:443', 'storage.googleapis.com:443']);
  });

  it('accepts CRLF, commas and duplicates; lower-cases and drops trailing dots', () => {
    const result = parseEndpointList('GitHub.com.:443,registry.npmjs.org\r\ngithub.com:443 # again\r\n', 'x');
    expect(result.errors).toEqual([]);
    expect(result.value).toEqual(['github.com:443', 'registry.npmjs.org:443']);
  });

  it('warns about an empty list', () => {
    const result = parseEndpointList('# nothing here\n\n', 'empty.txt');
    expect(result.value).toEqual([]);
    expect(result.warnings.map((item) => item.code)).toEqual(['baseline/empty-list']);
  });
});
