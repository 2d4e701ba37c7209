/** editEndpointList and planEndpointChanges: what `policy edit` adds, removes and leaves out, as text edits. */
import { describe, expect, it } from 'vitest';
import { DiagnosticSink } from '../../src/policy/diagnostics.js';
import { editEndpointList, planEndpointChanges } from '../../src/policy/endpoints-edit.js';
import { parsePolicyFile } from '../../src/policy/policy-file.js';

function endpointsOf(text: string): string[] {
  const sink = new DiagnosticSink();
  const policy = parsePolicyFile('policies/p.yml', text, sink);
  expect(sink.items.filter((item) => item.severity === 'error')).toEqual([]);
  return policy?.allowedEndpoints.map((entry) => entry.endpoint) ?? [];
}

describe('editEndpointList', () => {
  it('removes names from a > block (a name alone on its line goes with the line) and from a quoted string', () => {
    const folded = '# why\r\negress-policy: block\r\nallowed-endpoints: >-\r\n  registry.npmjs.org\r\n  github.com:443 ghcr.io\r\n  proxy.golang.org\r\ndisable-sudo: true\r\n';
    const edit = editEndpointList(folded, { add: [{ endpoint: 'nodejs.org:443' }], remove: ['registry.npmjs.org:443', 'ghcr.io:443'] });
    expect(edit.text).toBe('# why\r\negress-policy: block\r\nallowed-endpoints: >-\r\n  github.com:443\r\n  proxy.golang.org\r\n  nodejs.org:443\r\ndisable-sudo: true\r\n');
    expect(endpointsOf(edit.text)).toEqual(['github.com:443', 'proxy.golang.org:443', 'nodejs.org:443']);
    const quoted = editEndpointList('egress-policy: block\nallowed-endpoints: "registry.npmjs.org github.com"\n', { add: [], remove: ['registry.npmjs.org:443'] });
    expect(quoted.text).toBe('egress-policy: block\nallowed-endpoints: "github.com"\n');
  });

  it('empties a block list to [] and keeps the key\'s comment; then adds below it', () => {
    const text = 'egress-policy: block\nallowed-endpoints:   # reviewed\n  - github.com\n  - endpoint: ghcr.io\n    reason: images\ndescription: x\n';
    const emptied = editEndpointList(text, { add: [], remove: ['github.com:443', 'ghcr.io:443'] });
    expect(emptied.text).toBe('egress-policy: block\nallowed-endpoints: []  # reviewed\ndescription: x\n');
    const swapped = editEndpointList(text, { add: [{ endpoint: '*.ghcr.io:443', source: 'from baselines repo:acme/api' }], remove: ['github.com:443', 'ghcr.io:443'] });
    expect(swapped.text).toBe('egress-policy: block\nallowed-endpoints:  # reviewed\n  - "*.ghcr.io:443"  # from baselines repo:acme/api\ndescription: x\n');
  });
});

describe('planEndpointChanges', () => {
  it('adds what no entry matches, removing first; the agent\'s own endpoints and telemetry hosts are never added', () => {
    const plan = planEndpointChanges({
      own: ['*.npmjs.org:443', 'github.com:443'],
      inherited: new Map([['base', ['objects.githubusercontent.com:443']]]),
      candidates: [
        { endpoint: 'registry.npmjs.org:443' },
        { endpoint: 'npmjs.org:443' },
        { endpoint: 'github.com:443' },
        { endpoint: 'objects.githubusercontent.com:443' },
        { endpoint: 'agent.api.stepsecurity.io:443' },
        { endpoint: 'pipelines.actions.githubusercontent.com:443' },
        { endpoint: 'github.com:22' },
      ],
      removals: ['github.com:443'],
    });
    expect(plan.add.map((entry) => entry.endpoint)).toEqual(['github.com:22', 'npmjs.org:443']);
    expect(plan.remove).toEqual(['github.com:443']);
    expect(plan.skipped).toEqual([
      { endpoint: 'agent.api.stepsecurity.io:443', reason: "Harden-Runner's agent allows it by itself (agent.api.stepsecurity.io:443)" },
      { endpoint: 'github.com:443', reason: 'is also being removed (--remove wins)' },
      { endpoint: 'objects.githubusercontent.com:443', reason: 'already allowed through extends: base (objects.githubusercontent.com:443)' },
      { endpoint: 'pipelines.actions.githubusercontent.com:443', reason: "Harden-Runner's agent allows it by itself (*.actions.githubusercontent.com:443)" },
      { endpoint: 'registry.npmjs.org:443', reason: 'already allowed by *.npmjs.org:443' },
    ]);
  });
});

describe('planEndpointChanges and exceptions that expire', () => {
  it('never counts an exception as allowing a candidate for good: adds it, or makes the own exception permanent', () => {
    const plan = planEndpointChanges({
      own: ['*.cdn.example.net:443', 'proxy.golang.org:443', 'ghcr.io:443', 'github.com:443'],
      ownExpiry: { '*.cdn.example.net:443': '2027-01-31', 'proxy.golang.org:443': '2027-01-31', 'ghcr.io:443': '2026-01-01' },
      inherited: new Map([['base', ['fonts.googleapis.com:443', 'objects.githubusercontent.com:443']]]),
      inheritedExpiry: new Map([['base', { 'fonts.googleapis.com:443': '2026-12-31' }]]),
      candidates: [{ endpoint: 'eu.cdn.example.net:443' }, { endpoint: 'proxy.golang.org:443', source: 'from baselines repo:acme/api' }, { endpoint: 'fonts.googleapis.com:443' }, { endpoint: 'github.com:443' }, { endpoint: 'objects.githubusercontent.com:443' }, { endpoint: 'ghcr.io:443' }],
      removals: ['ghcr.io:443'],
    });
    expect(plan.add).toEqual([
      { endpoint: 'eu.cdn.example.net:443', exception: { endpoint: '*.cdn.example.net:443', expires: '2027-01-31' } },
      { endpoint: 'fonts.googleapis.com:443', exception: { endpoint: 'fonts.googleapis.com:443', expires: '2026-12-31', parent: 'base' } },
    ]);
    expect(plan.permanent).toEqual([{ endpoint: 'proxy.golang.org:443', source: 'from baselines repo:acme/api', expires: '2027-01-31' }]);
    expect(plan.remove).toEqual(['ghcr.io:443']);
    expect(plan.skipped.map((entry) => entry.endpoint)).toEqual(['ghcr.io:443', 'github.com:443', 'objects.githubusercontent.com:443']);
  });

  it('drops only the expires line of a block exception, keeping reason, owner and comments', () => {
    const text = 'egress-policy: block\nallowed-endpoints:\n  - endpoint: proxy.golang.org   # modules\n    reason: codegen\n    expires: 2027-01-31  # SEC-1\n    owner: team-go\n  - github.com\n';
    expect(editEndpointList(text, { add: [], remove: [], permanent: [{ endpoint: 'proxy.golang.org:443' }] }).text).toBe(
      'egress-policy: block\nallowed-endpoints:\n  - endpoint: proxy.golang.org   # modules\n    reason: codegen\n    owner: team-go\n  - github.com\n',
    );
  });
});
