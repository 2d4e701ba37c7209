import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { attachmentMap, type ScopeType } from '../../src/policy/model.js';
import { resolveScopes } from '../../src/policy/resolve.js';
import { endpointFromText } from '../../src/policy/endpoint.js';
import { EndpointMatcher, covers, diffAttachments, reviewChange, widenedWildcards, type Review } from '../../src/review/index.js';
import { attachmentsFile, baselineFiles, inputFromFiles, memoryAttachment, memoryBaselines, memoryPolicy, policyFile } from '../support/review.js';

const CORE = ['objects.githubusercontent.com:443', 'ghcr.io:443'];

function review(base: Record<string, string>, head: Record<string, string>, at?: Date): Review {
  return at === undefined ? reviewChange(inputFromFiles(base, 'main'), inputFromFiles(head, 'feature')) : reviewChange(inputFromFiles(base, 'main'), inputFromFiles(head, 'feature'), { at });
}

function scope(result: Review, type: ScopeType, key: string) {
  return result.scopes.find((change) => change.type === type && change.key === key);
}

describe('policy changes', () => {
  const base = {
    'policies/core.yml': policyFile({ endpoints: CORE }),
    'policies/api.yml': policyFile({ mode: 'audit', endpoints: ['proxy.golang.org:443', 'sum.golang.org:443'], description: 'Go builds' }),
    'policies/old.yml': policyFile({ endpoints: ['old.example.com:443'] }),
    'attachments.yml': attachmentsFile({ repositories: { 'acme/api': 'api' } }),
  };

  it('reports created, deleted and changed with endpoints, mode and other keys', () => {
    const head = {
      ...base,
      'policies/old.yml': '',
      'policies/api.yml': policyFile({
        mode: 'block',
        endpoints: ['proxy.golang.org:443', 'storage.googleapis.com:443'],
        description: 'Go builds and toolchains',
        flags: { 'disable-sudo-and-containers': true },
      }),
      'policies/new.yml': policyFile({ endpoints: ['new.example.com:443'] }),
    };
    delete (head as Record<string, string>)['policies/old.yml'];
    const result = review(base, head);
    expect(result.policies.map((policy) => [policy.name, policy.change])).toEqual([
      ['api', 'changed'],
      ['new', 'created'],
      ['old', 'deleted'],
    ]);
    const api = result.policies[0];
    expect(api).toMatchObject({
      endpointsAdded: ['storage.googleapis.com:443'],
      endpointsRemoved: ['sum.golang.org:443'],
      modeBefore: 'audit',
      modeAfter: 'block',
      enforcementChanged: true,
      inheritedOnly: false,
    });
    expect(api?.changed).toEqual([
      { key: 'egress-policy', before: 'audit', after: 'block', weakens: false },
      { key: 'description', before: 'Go builds', after: 'Go builds and toolchains', weakens: false },
      { key: 'disable-sudo-and-containers', before: null, after: true, weakens: false },
    ]);
    expect(api?.risks).toEqual(['audit-to-block', 'endpoints-removed']);
    expect(api?.delta).toBeDefined();
    expect(result.policies[1]).toMatchObject({ endpointsAdded: ['new.example.com:443'], modeBefore: null, modeAfter: 'block' });
    expect(result.policies[2]).toMatchObject({ endpointsRemoved: ['old.example.com:443'], modeBefore: 'block', modeAfter: null });
    expect(result.summary).toMatchObject({ policiesCreated: 1, policiesChanged: 1, policiesDeleted: 1 });
    expect(result.summary.text.startsWith('3 policies (1 created, 1 changed, 1 deleted)')).toBe(true);

    // The repository attached to api changes effective policy.
    expect(scope(result, 'repository', 'acme/api')).toMatchObject({
      before: { policy: 'api', mode: 'audit' },
      after: { policy: 'api', mode: 'block' },
      added: ['storage.googleapis.com:443'],
      removed: ['sum.golang.org:443'],
      why: { kind: 'policy-changed', text: 'policy api changed' },
      risks: ['audit-to-block', 'endpoints-removed'],
    });
  });

  it('lists a description-only change without changing any scope', () => {
    const result = review(base, { ...base, 'policies/api.yml': policyFile({ mode: 'audit', endpoints: ['sum.golang.org:443', 'proxy.golang.org:443'], description: 'new words' }) });
    expect(result.policies).toHaveLength(1);
    expect(result.policies[0]).toMatchObject({ change: 'changed', enforcementChanged: false, endpointsAdded: [], endpointsRemoved: [] });
    expect(result.scopes).toEqual([]);
  });

  it('reports nothing for a reformatted but equal repository', () => {
    const reordered = { ...base, 'policies/api.yml': `# comment\n${policyFile({ mode: 'audit', endpoints: ['sum.golang.org', 'proxy.golang.org:443'], description: 'Go builds' })}` };
    const result = review(base, reordered);
    expect(result.policies).toEqual([]);
    expect(result.attachments).toEqual([]);
    expect(result.scopes).toEqual([]);
    expect(result.summary.text).toBe('no policy changes, 0 scopes change effective policy, no baselines to forecast breakage');
  });
});

describe('extends', () => {
  const base = {
    'policies/core.yml': policyFile({ endpoints: CORE }),
    'policies/node.yml': policyFile({ extends: ['core'], endpoints: ['registry.npmjs.org:443'] }),
    'policies/go.yml': policyFile({ endpoints: ['proxy.golang.org:443'] }),
    'attachments.yml': attachmentsFile({ repositories: { 'acme/web': 'node', 'acme/api': 'go' } }),
  };

  it('propagates a parent change to its children and their scopes', () => {
    const head = { ...base, 'policies/core.yml': policyFile({ endpoints: ['ghcr.io:443', 'uploads.github.com:443'] }) };
    const result = review(base, head);
    const node = result.policies.find((policy) => policy.name === 'node');
    expect(node).toMatchObject({
      change: 'changed',
      inheritedOnly: true,
      changedAncestors: ['core'],
      endpointsAdded: ['uploads.github.com:443'],
      endpointsRemoved: ['objects.githubusercontent.com:443'],
      ownEndpointsAdded: [],
      ownEndpointsRemoved: [],
    });
    expect(node?.delta).toBeUndefined();
    expect(scope(result, 'repository', 'acme/web')?.why.text).toBe('policy node changed through extends core');
    expect(scope(result, 'repository', 'acme/api')).toBeUndefined();
  });

  it('shows an extends edit by its effect on the flattened endpoints', () => {
    const head = { ...base, 'policies/go.yml': policyFile({ extends: ['core'], endpoints: ['proxy.golang.org:443'] }) };
    const result = review(base, head);
    expect(result.policies).toHaveLength(1);
    expect(result.policies[0]).toMatchObject({
      name: 'go',
      extendsBefore: [],
      extendsAfter: ['core'],
      endpointsAdded: CORE.slice().sort(),
      ownEndpointsAdded: [],
      inheritedOnly: false,
    });
    expect(scope(result, 'repository', 'acme/api')?.added).toEqual(CORE.slice().sort());
  });
});

describe('attachments and precedence preview', () => {
  const base = {
    'policies/org.yml': policyFile({ mode: 'audit' }),
    'policies/api.yml': policyFile({ endpoints: ['proxy.golang.org:443'] }),
    'policies/release.yml': policyFile({ endpoints: ['proxy.golang.org:443', 'fulcio.sigstore.dev:443'] }),
    'policies/arc.yml': policyFile({ mode: 'audit' }),
    'attachments.yml': attachmentsFile({ clusters: { 'arc-prod': 'arc' }, organizations: { acme: 'org' }, repositories: { 'acme/api': 'api', 'acme/web': 'api' } }),
  };

  it('reports attached, detached and moved per scope', () => {
    const head = {
      ...base,
      'attachments.yml': attachmentsFile({
        organizations: { acme: 'org', globex: 'org' },
        repositories: { 'acme/api': 'release' },
        workflows: { 'acme/api/.github/workflows/release.yml': 'release' },
      }),
    };
    const result = review(base, head);
    expect(result.attachments).toEqual([
      { type: 'workflow', key: 'acme/api/.github/workflows/release.yml', before: null, after: 'release', change: 'attached' },
      { type: 'repository', key: 'acme/api', before: 'api', after: 'release', change: 'moved' },
      { type: 'repository', key: 'acme/web', before: 'api', after: null, change: 'detached' },
      { type: 'organization', key: 'globex', before: null, after: 'org', change: 'attached' },
      { type: 'cluster', key: 'arc-prod', before: 'arc', after: null, change: 'detached' },
    ]);
    expect(scope(result, 'repository', 'acme/api')?.why).toEqual({
      kind: 'moved',
      text: 'its attachment moved from api to release',
      cause: { type: 'repository', key: 'acme/api' },
    });
    expect(scope(result, 'repository', 'acme/web')).toMatchObject({
      before: { policy: 'api', mode: 'block' },
      after: { policy: 'org', mode: 'audit', scope: { type: 'organization', key: 'acme' } },
      why: { kind: 'unshadowed', text: 'its attachment (api) was removed: organization acme (org) applies now' },
      risks: ['block-to-audit'],
    });
    expect(scope(result, 'organization', 'globex')?.why).toMatchObject({ kind: 'attached', text: 'newly attached to org' });
    expect(scope(result, 'cluster', 'arc-prod')).toMatchObject({ after: null, organization: null, risks: ['policy-lost'] });
    // The new workflow attachment gives release to a workflow that was under acme/api's (now also release) policy.
    expect(scope(result, 'workflow', 'acme/api/.github/workflows/release.yml')?.why.kind).toBe('shadowed');
  });

  it('says a new workflow attachment shadows the repository', () => {
    const head = { ...base, 'attachments.yml': attachmentsFile({ organizations: { acme: 'org' }, repositories: { 'acme/api': 'api', 'acme/web': 'api' }, workflows: { 'acme/api/.github/workflows/release.yml': 'release' }, clusters: { 'arc-prod': 'arc' } }) };
    const result = review(base, head);
    expect(result.scopes).toHaveLength(1);
    expect(result.scopes[0]).toMatchObject({
      type: 'workflow',
      key: 'acme/api/.github/workflows/release.yml',
      before: { policy: 'api', scope: { type: 'repository', key: 'acme/api' } },
      after: { policy: 'release', scope: { type: 'workflow', key: 'acme/api/.github/workflows/release.yml' } },
      added: ['fulcio.sigstore.dev:443'],
      removed: [],
      why: { kind: 'shadowed', text: 'its new attachment (release) now shadows repository acme/api (api)' },
    });
    expect(result.scopeGroups[0]?.title).toBe('new workflow attachments shadow api (block) with release (block)');
  });

  it('flags repositories that lose their policy when an organization attachment is detached', () => {
    const repositories = Object.fromEntries(['acme/a', 'acme/b', 'acme/c'].map((repository) => [repository, { '.github/workflows/ci.yml': { build: { runs: 3, endpoints: { 'registry.npmjs.org:443': 3 } } } }]));
    const withBaselines = { ...base, ...baselineFiles(repositories) };
    const head = { ...withBaselines, 'attachments.yml': attachmentsFile({ repositories: { 'acme/api': 'api', 'acme/web': 'api' }, clusters: { 'arc-prod': 'arc' } }) };
    const result = review(withBaselines, head);
    const lost = result.scopes.filter((change) => change.risks.includes('policy-lost'));
    expect(lost.map((change) => `${change.type} ${change.key}`)).toEqual([
      'organization acme',
      'repository acme/a',
      'repository acme/b',
      'repository acme/c',
      'workflow acme/a/.github/workflows/ci.yml',
      'workflow acme/b/.github/workflows/ci.yml',
      'workflow acme/c/.github/workflows/ci.yml',
    ]);
    expect(lost[1]?.why.text).toBe('the organization acme attachment (org) was removed: no policy applies any more');
    expect(result.risks).toEqual([expect.objectContaining({ kind: 'policy-lost', scopes: 7, policies: [] })]);
    expect(result.scopeGroups).toEqual([
      expect.objectContaining({ kind: 'detached', causeType: 'organization', count: 7, byOrganization: [{ organization: 'acme', count: 7 }], byType: { organization: 1, repository: 3, workflow: 3 } }),
    ]);
    // Audit to nothing breaks no job.
    expect(result.breakage).toEqual([]);
  });

  it('resolves every scope as resolveScopes does and lists every one that differs (random attachments)', () => {
    const orgs = ['o1', 'o2'];
    const repos = ['o1/r1', 'o1/r2', 'o2/r1'];
    const workflows = repos.flatMap((repo) => [`${repo}/.github/workflows/a.yml`, `${repo}/.github/workflows/b.yml`]);
    const names = ['p1', 'p2', 'p3'];
    const policies = new Map(names.map((name) => [name, memoryPolicy(name, { mode: name === 'p1' ? 'audit' : 'block', endpoints: [`${name}.example.com:443`] })]));
    const choice = fc.option(fc.constantFrom(...names), { nil: undefined });
    const section = (keys: string[]) => fc.tuple(...keys.map(() => choice)).map((picked) => keys.flatMap((key, index) => (picked[index] ? [[key, picked[index]] as const] : [])));
    const side = fc.tuple(section(orgs), section(repos), section(workflows)).map(([org, repo, workflow]) => [
      ...org.map(([key, policy]) => memoryAttachment('organization', key, policy)),
      ...repo.map(([key, policy]) => memoryAttachment('repository', key, policy)),
      ...workflow.map(([key, policy]) => memoryAttachment('workflow', key, policy)),
    ]);
    const queryOf = (type: ScopeType, key: string) =>
      type === 'organization' ? { organization: key } : type === 'repository' ? { repository: key } : { repository: key.split('/').slice(0, 2).join('/'), workflow: key };
    fc.assert(
      fc.property(side, side, (baseAttachments, headAttachments) => {
        // Baselines are not needed: every scope is a key of the attachments or implied by one.
        const result = reviewChange({ policies, attachments: baseAttachments }, { policies, attachments: headAttachments });
        const baseMap = attachmentMap(baseAttachments);
        const headMap = attachmentMap(headAttachments);
        expect(result.attachments).toEqual(diffAttachments(baseMap, headMap));
        for (const change of result.scopes) {
          const query = queryOf(change.type, change.key);
          expect(change.before?.policy ?? null).toBe(resolveScopes(baseMap, query).policy);
          expect(change.after?.policy ?? null).toBe(resolveScopes(headMap, query).policy);
          expect(change.after?.scope ?? null).toEqual(resolveScopes(headMap, query).scope);
          expect(change.before?.policy).not.toBe(change.after?.policy);
        }
        // Every scope whose answer differs is listed.
        const listed = new Set(result.scopes.map((change) => `${change.type} ${change.key}`));
        for (const [type, keys] of [['organization', orgs], ['repository', repos], ['workflow', workflows]] as const) {
          for (const key of keys) {
            const known = [...baseAttachments, ...headAttachments].some((attachment) => attachment.key === key || (type === 'repository' && attachment.key.startsWith(`${key}/`)));
            const differs = resolveScopes(baseMap, queryOf(type, key)).policy !== resolveScopes(headMap, queryOf(type, key)).policy;
            if (known && differs) expect(listed.has(`${type} ${key}`)).toBe(true);
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it('groups many scopes by transition and organization', () => {
    const repositories = Object.fromEntries(
      Array.from({ length: 30 }, (_, index) => [`${index < 20 ? 'acme' : 'globex'}/repo-${index}`, 'api']),
    );
    const files = { ...base, 'attachments.yml': attachmentsFile({ repositories }) };
    const head = { ...files, 'attachments.yml': attachmentsFile({ repositories: Object.fromEntries(Object.keys(repositories).map((key) => [key, 'release'])) }) };
    const result = review(files, head);
    expect(result.scopes).toHaveLength(30);
    expect(result.scopeGroups).toHaveLength(1);
    expect(result.scopeGroups[0]).toMatchObject({
      kind: 'moved',
      causeType: 'repository',
      count: 30,
      title: 'repository attachments moved: api (block) → release (block)',
      byOrganization: [
        { organization: 'acme', count: 20 },
        { organization: 'globex', count: 10 },
      ],
      added: ['fulcio.sigstore.dev:443'],
    });
    expect(result.scopes.every((change) => change.group === 0)).toBe(true);
  });
});

describe('wildcards', () => {
  const files = (endpoints: string[]) => ({ 'policies/p.yml': policyFile({ endpoints }), 'attachments.yml': attachmentsFile({ organizations: { acme: 'p' } }) });

  it('flags a new wildcard and one that now covers more, not a narrowed one', () => {
    expect(review(files(['a.example.com:443']), files(['a.example.com:443', '*.cdn.example.net:443'])).policies[0]?.wildcardsWidened).toEqual(['*.cdn.example.net:443']);
    const widened = review(files(['*.api.example.com:443']), files(['*.example.com:443']));
    expect(widened.policies[0]).toMatchObject({ wildcardsWidened: ['*.example.com:443'], risks: ['endpoints-removed', 'wildcard-widened'] });
    expect(widened.scopes[0]?.risks).toContain('wildcard-widened');
    expect(review(files(['*.example.com:443']), files(['*example.com:443'])).policies[0]?.wildcardsWidened).toEqual(['*example.com:443']);
    expect(review(files(['*.example.com:443']), files(['*.api.example.com:443'])).policies[0]?.wildcardsWidened).toEqual([]);
    // Another port is another endpoint.
    expect(review(files(['*.example.com:443']), files(['*.example.com:443', '*.example.com:8443'])).policies[0]?.wildcardsWidened).toEqual(['*.example.com:8443']);
  });
});

describe('breakage forecast', () => {
  const baselines = baselineFiles({
    'acme/api': {
      '.github/workflows/ci.yml': {
        build: {
          runs: 6,
          endpoints: {
            'proxy.golang.org:443': 6,
            'eu.cdn.example.net:443': 4, // allowed by *.cdn.example.net after
            'evilcdn.example.net:443': 2, // not matched by *.cdn.example.net
            'codeload.github.com:443': 6, // implicit: moved to implicit by the parser, never blocked
            'github.com:443': 6, // NOT implicit in the agent: a block policy that leaves it out breaks checkout
            'sum.golang.org:443': 5,
          },
        },
        lint: { runs: 2, endpoints: { 'proxy.golang.org:443': 2 } },
      },
      '.github/workflows/release.yml': { publish: { runs: 3, endpoints: { 'uploads.github.com:443': 3, 'fulcio.sigstore.dev:443': 1 } } },
    },
    'acme/web': { '.github/workflows/ci.yml': { test: { runs: 4, endpoints: { 'registry.npmjs.org:443': 4 } } } },
  });
  const base = {
    'policies/org.yml': policyFile({ mode: 'audit', endpoints: ['proxy.golang.org:443', 'sum.golang.org:443'] }),
    'policies/release.yml': policyFile({ endpoints: ['proxy.golang.org:443', 'uploads.github.com:443'] }),
    'attachments.yml': attachmentsFile({ organizations: { acme: 'org' }, workflows: { 'acme/api/.github/workflows/release.yml': 'release' } }),
    ...baselines,
  };

  it('forecasts endpoints newly blocked, with wildcards and implicit endpoints applied', () => {
    const head = { ...base, 'policies/org.yml': policyFile({ mode: 'block', endpoints: ['proxy.golang.org:443', '*.cdn.example.net:443'] }) };
    const result = review(base, head);
    expect(result.breakage).toEqual([
      expect.objectContaining({
        repository: 'acme/api',
        workflow: '.github/workflows/ci.yml',
        job: 'build',
        key: 'acme/api/.github/workflows/ci.yml#build',
        endpoints: ['evilcdn.example.net:443', 'github.com:443', 'sum.golang.org:443'],
        runs: 6,
        endpointRuns: { 'evilcdn.example.net:443': 2, 'github.com:443': 6, 'sum.golang.org:443': 5 },
        observedRuns: 6,
        alreadyBlocked: [],
        before: { policy: 'org', mode: 'audit' },
        after: { policy: 'org', mode: 'block' },
        why: 'policy org changed',
      }),
      expect.objectContaining({ repository: 'acme/web', job: 'test', endpoints: ['registry.npmjs.org:443'], runs: 4 }),
    ]);
    expect(result.summary).toMatchObject({ jobsObserved: 4, jobsBreaking: 2, endpointsNewlyBlocked: 4, alreadyBlocked: { jobs: 0, endpoints: 0 } });
    expect(result.summary.text).toContain('2 jobs would break');
    // The release workflow's own attachment shadows the organization: untouched.
    expect(result.breakage.some((job) => job.workflow === '.github/workflows/release.yml')).toBe(false);
  });

  it('counts endpoints blocked before apart and reports only what the change adds', () => {
    const head = { ...base, 'policies/release.yml': policyFile({ endpoints: ['proxy.golang.org:443'] }) };
    const result = review(base, head);
    expect(result.breakage).toEqual([
      expect.objectContaining({ job: 'publish', endpoints: ['uploads.github.com:443'], runs: 3, alreadyBlocked: ['fulcio.sigstore.dev:443'] }),
    ]);
    expect(result.summary.alreadyBlocked).toEqual({ jobs: 1, endpoints: 1 });
  });

  it('forecasts nothing for a change to audit mode', () => {
    const head = { ...base, 'policies/release.yml': policyFile({ mode: 'audit' }) };
    const result = review(base, head);
    expect(result.scopes).toHaveLength(1);
    expect(result.breakage).toEqual([]);
    // Endpoints removed in audit mode block nothing: not flagged.
    expect(result.risks.map((risk) => risk.kind)).toEqual(['block-to-audit']);
  });
});

describe('breakage forecast and expiring exceptions', () => {
  // The forecast is about one instant; an exception counts until the end of its day (UTC).
  const AT = new Date('2026-12-06T12:00:00Z');
  const baselines = baselineFiles({
    'acme/api': {
      '.github/workflows/ci.yml': {
        build: { runs: 6, endpoints: { 'proxy.golang.org:443': 6, 'github.com:443': 6, 'sum.golang.org:443': 5, 'eu.cdn.example.net:443': 4 } },
      },
      '.github/workflows/release.yml': { publish: { runs: 3, endpoints: { 'uploads.github.com:443': 3, 'fulcio.sigstore.dev:443': 1 } } },
    },
  });
  /** A block policy file whose entries may carry an end date. */
  const withExceptions = (entries: (string | [string, string])[], extra = ''): string =>
    `egress-policy: block\n${extra}allowed-endpoints:\n${entries
      .map((entry) => (typeof entry === 'string' ? `  - "${entry}"\n` : `  - endpoint: "${entry[0]}"\n    reason: temporary\n    expires: ${entry[1]}\n`))
      .join('')}`;
  const base = {
    'policies/org.yml': policyFile({ mode: 'audit' }),
    'policies/release.yml': withExceptions(['fulcio.sigstore.dev:443', ['uploads.github.com:443', '2027-06-30']]),
    'attachments.yml': attachmentsFile({ organizations: { acme: 'org' }, workflows: { 'acme/api/.github/workflows/release.yml': 'release' } }),
    ...baselines,
  };

  it('treats an exception that expired before the forecast\'s time as absent', () => {
    const head = { ...base, 'policies/org.yml': withExceptions(['proxy.golang.org:443', 'github.com:443', '*.cdn.example.net:443', ['sum.golang.org:443', '2026-11-30']]) };
    const result = review(base, head, AT);
    expect(result.breakage).toEqual([expect.objectContaining({ key: 'acme/api/.github/workflows/ci.yml#build', endpoints: ['sum.golang.org:443'], runs: 5 })]);
    expect(result.breakageLater).toEqual([]);
    expect(result.summary).toMatchObject({ jobsBreaking: 1, jobsBreakingLater: 0, endpointsNewlyBlocked: 1 });
  });

  it('says which jobs break when an exception expires, and on which day; the last day still counts', () => {
    const head = {
      ...base,
      'policies/org.yml': withExceptions(['proxy.golang.org:443', ['github.com:443', '2026-12-20'], ['sum.golang.org:443', '2026-12-31'], ['*.cdn.example.net:443', '2026-12-20'], ['eu.cdn.example.net:443', '2027-01-31']]),
    };
    const result = review(base, head, AT);
    expect(result.breakage).toEqual([]);
    expect(result.breakageLater).toEqual([
      {
        repository: 'acme/api',
        workflow: '.github/workflows/ci.yml',
        job: 'build',
        key: 'acme/api/.github/workflows/ci.yml#build',
        // Allowed by two exceptions, it breaks when the later one ends.
        endpoints: [
          { endpoint: 'github.com:443', expires: '2026-12-20', runs: 6 },
          { endpoint: 'sum.golang.org:443', expires: '2026-12-31', runs: 5 },
          { endpoint: 'eu.cdn.example.net:443', expires: '2027-01-31', runs: 4 },
        ],
        expires: '2026-12-20',
        observedRuns: 6,
        before: { policy: 'org', mode: 'audit' },
        after: { policy: 'org', mode: 'block' },
        why: 'policy org changed',
      },
    ]);
    expect(result.summary).toMatchObject({ jobsBreaking: 0, jobsBreakingLater: 1 });
    expect(result.summary.text).toContain('0 jobs would break, 1 job when exceptions expire (first after 2026-12-20)');
    // On the last day github.com still counts; from the next UTC midnight it is blocked now.
    const lastDay = review(base, head, new Date('2026-12-20T23:59:59.999Z'));
    expect(lastDay.breakage).toEqual([]);
    expect(lastDay.breakageLater[0]?.endpoints.map((item) => item.endpoint)).toEqual(['github.com:443', 'sum.golang.org:443', 'eu.cdn.example.net:443']);
    const nextDay = review(base, head, new Date('2026-12-21T00:00:00Z'));
    expect(nextDay.breakage).toEqual([expect.objectContaining({ job: 'build', endpoints: ['github.com:443'] })]);
    expect(nextDay.breakageLater[0]?.endpoints.map((item) => item.endpoint)).toEqual(['sum.golang.org:443', 'eu.cdn.example.net:443']);
  });

  it('does not blame the change for an exception that had expired at the base (the clean-up pull request)', () => {
    const expiredBase = { ...base, 'policies/release.yml': withExceptions(['fulcio.sigstore.dev:443', ['uploads.github.com:443', '2026-11-30']]) };
    const cleaned = { ...base, 'policies/release.yml': withExceptions(['fulcio.sigstore.dev:443']) };
    const result = review(expiredBase, cleaned, AT);
    expect(result.breakage).toEqual([]);
    expect(result.summary.alreadyBlocked).toEqual({ jobs: 1, endpoints: 1 });
  });

  it('forecasts a change of an end date alone: sooner is future breakage, a past date breaks now, the same date is not the change\'s', () => {
    const sooner = review(base, { ...base, 'policies/release.yml': withExceptions(['fulcio.sigstore.dev:443', ['uploads.github.com:443', '2026-12-15']]) }, AT);
    expect(sooner.breakage).toEqual([]);
    expect(sooner.breakageLater).toEqual([
      expect.objectContaining({
        key: 'acme/api/.github/workflows/release.yml#publish',
        endpoints: [{ endpoint: 'uploads.github.com:443', expires: '2026-12-15', runs: 3 }],
        before: { policy: 'release', mode: 'block' },
        after: { policy: 'release', mode: 'block' },
        why: 'policy release changed: an exception\'s end date',
      }),
    ]);
    const past = review(base, { ...base, 'policies/release.yml': withExceptions(['fulcio.sigstore.dev:443', ['uploads.github.com:443', '2026-12-01']]) }, AT);
    expect(past.breakage).toEqual([expect.objectContaining({ job: 'publish', endpoints: ['uploads.github.com:443'] })]);
    const later = review(base, { ...base, 'policies/release.yml': withExceptions(['fulcio.sigstore.dev:443', ['uploads.github.com:443', '2027-12-31']]) }, AT);
    expect([later.breakage, later.breakageLater]).toEqual([[], []]);
    // An unrelated edit of a policy whose exception ends on the same day at both sides.
    const unrelated = review(base, { ...base, 'policies/release.yml': withExceptions(['fulcio.sigstore.dev:443', 'rekor.sigstore.dev:443', ['uploads.github.com:443', '2027-06-30']]) }, AT);
    expect(unrelated.scopes.length).toBeGreaterThan(0);
    expect([unrelated.breakage, unrelated.breakageLater]).toEqual([[], []]);
  });
});

describe('EndpointMatcher and coverage', () => {
  it('applies the agent wildcard rule, ports and Harden-Runner implicit endpoints', () => {
    const matcher = new EndpointMatcher(['*.cdn.example.net:443', '*example.org:443', 'exact.example.com:8443']);
    expect(matcher.allows('a.b.cdn.example.net:443')).toBe(true);
    expect(matcher.allows('cdn.example.net:443')).toBe(false);
    expect(matcher.allows('evilcdn.example.net:443')).toBe(false);
    expect(matcher.allows('a.cdn.example.net:80')).toBe(false);
    expect(matcher.allows('badexample.org:443')).toBe(true); // loose wildcard, as the agent does
    expect(matcher.allows('exact.example.com:8443')).toBe(true);
    expect(matcher.allows('exact.example.com:443')).toBe(false);
    // The agent's own list (step-security/agent addImplicitEndpoints), nothing more.
    for (const implicit of [
      'pipelines.actions.githubusercontent.com:443',
      'codeload.github.com:443',
      'actions-results-receiver-production.githubapp.com:443',
      'productionresultssa7.blob.core.windows.net:443',
      'agent.api.stepsecurity.io:443',
      'prod.app-api.stepsecurity.io:443',
    ]) {
      expect(new EndpointMatcher([]).allows(implicit)).toBe(true);
    }
    for (const listed of ['github.com:443', 'api.github.com:443', 'results-receiver.actions.githubusercontent.com:80']) {
      expect(new EndpointMatcher([]).allows(listed)).toBe(false);
    }
    // The telemetry hosts only while telemetry is on.
    expect(new EndpointMatcher([], { disableTelemetry: true }).allows('agent.api.stepsecurity.io:443')).toBe(false);
    expect(new EndpointMatcher([], { disableTelemetry: true }).allows('codeload.github.com:443')).toBe(true);
  });

  it('never forecasts breakage on implicit endpoints, even when a baseline lists them as used', () => {
    const policies = new Map([['p', memoryPolicy('p', { mode: 'audit' })]]);
    const headPolicies = new Map([['p', memoryPolicy('p', { mode: 'block', endpoints: ['registry.npmjs.org:443'] })]]);
    const attachments = [memoryAttachment('organization', 'acme', 'p')];
    const baselines = memoryBaselines({
      'acme/web': {
        '.github/workflows/ci.yml': {
          test: { runs: 3, endpoints: { 'registry.npmjs.org:443': 3, 'pipelines.actions.githubusercontent.com:443': 3, 'productionresultssa1.blob.core.windows.net:443': 3, 'nodejs.org:443': 1 } },
        },
      },
    });
    const result = reviewChange({ policies, attachments, baselines }, { policies: headPolicies, attachments, baselines });
    expect(result.breakage).toEqual([expect.objectContaining({ endpoints: ['nodejs.org:443'], runs: 1, observedRuns: 3 })]);
  });

  it('knows which wildcard covers which', () => {
    const e = endpointFromText;
    expect(covers(e('*.example.com:443'), e('*.api.example.com:443'))).toBe(true);
    expect(covers(e('*.api.example.com:443'), e('*.example.com:443'))).toBe(false);
    expect(covers(e('*example.com:443'), e('*.example.com:443'))).toBe(true);
    expect(covers(e('*.example.com:443'), e('a.example.com:443'))).toBe(true);
    expect(covers(e('a.example.com:443'), e('*.example.com:443'))).toBe(false);
    expect(covers(e('*.example.com:443'), e('*.example.com:8443'))).toBe(false);
    expect(widenedWildcards(['*.example.com:443'], ['*.example.com:443', '*.a.example.com:443', 'x.example.com:443'])).toEqual([]);
  });
});
