/** addEndpoints: entries added as text, everything else byte for byte. */
import { describe, expect, it } from 'vitest';
import { DiagnosticSink } from '../../src/policy/diagnostics.js';
import { addEndpoints } from '../../src/policy/edit.js';
import { parsePolicyFile } from '../../src/policy/policy-file.js';

function endpointsOf(text: string): string[] {
  const sink = new DiagnosticSink();
  const policy = parsePolicyFile('policies/p.yml', text, sink);
  return policy?.allowedEndpoints.map((entry) => entry.endpoint) ?? [];
}

describe('addEndpoints', () => {
  it('appends after the last item at its indentation, keeping comments and CRLF', () => {
    const text = '# keep me\r\negress-policy: block\r\nallowed-endpoints:\r\n    - github.com:443 # why\r\n    - "ghcr.io"\r\ndisable-sudo: true\r\n';
    const edit = addEndpoints(text, [{ endpoint: 'a.example.com:443', comment: 'blocked in 2 runs' }]);
    expect(edit.text).toBe('# keep me\r\negress-policy: block\r\nallowed-endpoints:\r\n    - github.com:443 # why\r\n    - "ghcr.io"\r\n    - a.example.com:443  # blocked in 2 runs\r\ndisable-sudo: true\r\n');
    expect(edit.line).toBe(6);
    expect(endpointsOf(edit.text)).toEqual(['github.com:443', 'ghcr.io:443', 'a.example.com:443']);
  });

  it('adds the list when there is none, or fills an empty one', () => {
    const none = addEndpoints('egress-policy: block\n', [{ endpoint: 'a.example.com:443' }]);
    expect(none).toEqual({ text: 'egress-policy: block\nallowed-endpoints:\n  - a.example.com:443\n', line: 3 });
    const empty = addEndpoints('egress-policy: block\nallowed-endpoints: []  # none yet\nextends: base\n', [{ endpoint: 'a.example.com:443' }]);
    expect(empty.text).toBe('egress-policy: block\nallowed-endpoints:  # none yet\n  - a.example.com:443\nextends: base\n');
    expect(empty.line).toBe(3);
    expect(endpointsOf(empty.text)).toEqual(['a.example.com:443']);
  });

  it('keeps a string list a string, losing none of its names (plain, quoted and > block)', () => {
    const plain = addEndpoints('egress-policy: block\nallowed-endpoints: registry.npmjs.org github.com  # npm\nextends: base\n', [{ endpoint: 'a.example.com:443', comment: 'blocked' }]);
    expect(plain.text).toBe('egress-policy: block\nallowed-endpoints: registry.npmjs.org github.com a.example.com:443  # npm\nextends: base\n');
    expect(plain.line).toBe(2);
    const quoted = addEndpoints('egress-policy: block\nallowed-endpoints: "registry.npmjs.org"\n', [{ endpoint: 'a.example.com:443' }, { endpoint: 'b.example.com:443' }]);
    expect(quoted.text).toBe('egress-policy: block\nallowed-endpoints: "registry.npmjs.org a.example.com:443 b.example.com:443"\n');
    const folded = 'egress-policy: block\nallowed-endpoints: >-\n  registry.npmjs.org\n  github.com:443\n\ndescription: d\n';
    const block = addEndpoints(folded, [{ endpoint: 'a.example.com:443' }]);
    expect(block.text).toBe('egress-policy: block\nallowed-endpoints: >-\n  registry.npmjs.org\n  github.com:443\n  a.example.com:443\n\ndescription: d\n');
    expect(block.line).toBe(5);
    for (const edit of [plain, quoted, block]) expect(endpointsOf(edit.text)).toContain('a.example.com:443');
    expect(endpointsOf(block.text)).toEqual(['registry.npmjs.org:443', 'github.com:443', 'a.example.com:443']);
  });

  it('quotes an added wildcard that starts with "*" in a block list (else YAML reads an alias)', () => {
    const edit = addEndpoints('egress-policy: block\nallowed-endpoints:\n  - github.com\n', [{ endpoint: '*.docker.io:443' }]);
    expect(edit.text).toBe('egress-policy: block\nallowed-endpoints:\n  - github.com\n  - "*.docker.io:443"\n');
    expect(endpointsOf(edit.text)).toEqual(['github.com:443', '*.docker.io:443']);
  });

  it('refuses a flow list rather than rewrite it', () => {
    expect(() => addEndpoints('egress-policy: block\nallowed-endpoints: [github.com]\n', [{ endpoint: 'a.example.com:443' }])).toThrow(/flow list/);
  });
});
