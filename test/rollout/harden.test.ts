import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { HardenRunnerPin } from '../../src/policy/model.js';
import {
  BLOCK_ON_LINUX,
  hardenWorkflow,
  stepKind,
  type CompositePlan,
  type HardenOptions,
  type HardenRunnerPlan,
  type JobInfo,
  type JobPlan,
} from '../../src/rollout/harden.js';

const PIN: HardenRunnerPin = { repository: 'step-security/harden-runner', sha: '05e31511f85b41b11d1cf0ef85d0992719546e2c', version: 'v2.21.0' };
const NEW_PIN: HardenRunnerPin = { repository: 'step-security/harden-runner', sha: 'a'.repeat(40), version: 'v2.22.0' };
const USES = `step-security/harden-runner@${PIN.sha} # v2.21.0`;

const block = (endpoints: string[], extra: Partial<HardenRunnerPlan> = {}): HardenRunnerPlan => ({ kind: 'harden-runner', pin: PIN, mode: 'block', endpoints, ...extra });
const audit: HardenRunnerPlan = { kind: 'harden-runner', pin: PIN, mode: 'audit' };
const composite: CompositePlan = {
  kind: 'composite',
  uses: 'acme/egressctl/actions/harden@v1',
  with: { server: 'https://egress.acme.example', audience: 'egressctl' },
};

function isJobPlan(plan: JobPlan | HardenOptions['plan']): plan is JobPlan {
  return typeof plan !== 'function' && 'kind' in plan && (plan.kind === 'harden-runner' || plan.kind === 'composite');
}

function harden(text: string, plan: JobPlan | HardenOptions['plan']) {
  return hardenWorkflow(text, { file: 'ci.yml', plan: isJobPlan(plan) ? () => plan : plan });
}

/** Hardens, checks idempotence, returns the first result. */
function hardenTwice(text: string, plan: JobPlan) {
  const first = harden(text, plan);
  expect(first.errors).toEqual([]);
  const second = harden(first.output, plan);
  expect(second.output).toBe(first.output);
  for (const job of second.jobs) expect(['unchanged', 'skipped']).toContain(job.action);
  return first;
}

function job(result: ReturnType<typeof harden>, id: string) {
  const found = result.jobs.find((outcome) => outcome.job === id);
  if (!found) throw new Error(`no outcome for ${id}`);
  return found;
}

describe('inserting the step', () => {
  it('inserts a pinned step first, with a folded endpoint list, matching the file indentation', () => {
    const text = [
      'on: push',
      'jobs:',
      '  build:',
      '    runs-on: ubuntu-latest',
      '    steps:',
      '      # check out first',
      '      - uses: actions/checkout@v4',
      '      - run: make   # build',
      '',
    ].join('\n');
    const result = hardenTwice(text, block(['github.com:443', '*.docker.io:443']));
    expect(result.output).toBe(
      [
        'on: push',
        'jobs:',
        '  build:',
        '    runs-on: ubuntu-latest',
        '    steps:',
        '      - name: Harden-Runner',
        `        uses: ${USES}`,
        '        with:',
        '          egress-policy: block',
        '          allowed-endpoints: >-',
        '            *.docker.io:443',
        '            github.com:443',
        '      # check out first',
        '      - uses: actions/checkout@v4',
        '      - run: make   # build',
        '',
      ].join('\n'),
    );
    expect(result.jobs).toEqual([
      { job: 'build', line: 3, action: 'inserted', plan: block(['github.com:443', '*.docker.io:443']), mode: 'block', endpoints: ['*.docker.io:443', 'github.com:443'], changes: [] },
    ]);
    expect(result.changed).toBe(true);
  });

  it('reads the endpoints back as one space-separated line', () => {
    const text = 'on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: x\n';
    const endpoints = ['z.example.com:8443', '*.github.com:443', 'a.example.com:443', 'a.example.com:443'];
    const output = harden(text, block(endpoints)).output;
    const value = (parse(output) as { jobs: { a: { steps: Array<{ with: Record<string, string> }> } } }).jobs.a.steps[0]?.with['allowed-endpoints'];
    expect(value).toBe('*.github.com:443 a.example.com:443 z.example.com:8443');
    expect(output).not.toMatch(/allowed-endpoints: \|/);
  });

  it('follows a non-indented sequence and 4-space indentation', () => {
    const text = ['on: push', 'jobs:', '    build:', '        runs-on: ubuntu-latest', '        steps:', '        -   name: x', '            run: y', ''].join('\n');
    const result = hardenTwice(text, audit);
    expect(result.output).toBe(
      [
        'on: push',
        'jobs:',
        '    build:',
        '        runs-on: ubuntu-latest',
        '        steps:',
        '        -   name: Harden-Runner',
        `            uses: ${USES}`,
        '            with:',
        '                egress-policy: audit',
        '        -   name: x',
        '            run: y',
        '',
      ].join('\n'),
    );
  });

  it('takes the nested indentation from existing with: blocks', () => {
    const text = ['jobs:', '  a:', '    runs-on: ubuntu-latest', '    steps:', '    - uses: actions/checkout@v4', '      with:', '         fetch-depth: 0', ''].join('\n');
    const output = harden(text, audit).output;
    expect(output).toContain(['    - name: Harden-Runner', `      uses: ${USES}`, '      with:', '         egress-policy: audit', '    - uses: actions/checkout@v4'].join('\n'));
  });

  it('keeps blank lines between steps when the file separates them', () => {
    const text = ['jobs:', '  a:', '    runs-on: ubuntu-latest', '    steps:', '      - run: one', '', '      - run: two', ''].join('\n');
    const output = hardenTwice(text, audit).output;
    expect(output).toContain(['          egress-policy: audit', '', '      - run: one', '', '      - run: two'].join('\n'));
  });

  it('writes CRLF into CRLF files', () => {
    const text = 'on: push\r\njobs:\r\n  a:\r\n    runs-on: ubuntu-latest\r\n    steps:\r\n      - run: x\r\n';
    const output = hardenTwice(text, block(['github.com:443'])).output;
    expect(output.replace(/\r\n/g, '')).not.toContain('\n');
    expect(output).toContain('\r\n          allowed-endpoints: >-\r\n            github.com:443\r\n      - run: x\r\n');
  });

  it('keeps quoting, comments, anchors and trailing content byte for byte', () => {
    const text = [
      '# top',
      'name: "CI"',
      "on: { push: { branches: ['main'] } }",
      'env: &env',
      "  A: 'x'   # trailing",
      'jobs:',
      '  a:',
      '    runs-on: "ubuntu-latest"',
      '    env: *env',
      '    steps:',
      '      - &co',
      '        uses: actions/checkout@v4',
      '  b:',
      '    runs-on: ubuntu-22.04',
      '    steps:',
      '      - *co',
      '...',
      '',
    ].join('\n');
    const result = hardenTwice(text, audit);
    const step = ['      - name: Harden-Runner', `        uses: ${USES}`, '        with:', '          egress-policy: audit'].join('\n');
    expect(result.output.split(`${step}\n`)).toHaveLength(3);
    expect(result.output.split(`${step}\n`).join('')).toBe(text);
    expect(result.jobs.map((outcome) => outcome.action)).toEqual(['inserted', 'inserted']);
  });

  it('quotes a step name that would not read back as plain text', () => {
    const text = 'jobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: x\n';
    const output = hardenWorkflow(text, { plan: () => audit, stepName: 'Harden: egress #1' }).output;
    expect(output).toContain('- name: "Harden: egress #1"\n');
    expect((parse(output) as { jobs: { a: { steps: Array<{ name: string }> } } }).jobs.a.steps[0]?.name).toBe('Harden: egress #1');
  });

  it('inserts the composite action with its inputs', () => {
    const text = 'jobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: x\n';
    const output = hardenTwice(text, composite).output;
    expect(output).toBe(
      [
        'jobs:',
        '  a:',
        '    runs-on: ubuntu-latest',
        '    steps:',
        '      - name: Harden-Runner',
        '        uses: acme/egressctl/actions/harden@v1',
        '        with:',
        '          server: https://egress.acme.example',
        '          audience: egressctl',
        '      - run: x',
        '',
      ].join('\n'),
    );
  });

  it('handles a file without a final newline', () => {
    const text = 'jobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: x';
    const output = hardenTwice(text, audit).output;
    expect(output.endsWith('      - run: x')).toBe(true);
  });
});

describe('skips, each with its reason', () => {
  const cases: Array<[string, string, string]> = [
    ['reusable-workflow', '  a:\n    uses: ./.github/workflows/build.yml\n    with:\n      x: 1\n', 'reusable workflow'],
    ['steps-not-block-sequence', '  a:\n    runs-on: ubuntu-latest\n    steps: [{run: x}]\n', 'block sequence'],
    ['no-steps', '  a:\n    runs-on: ubuntu-latest\n', 'no steps'],
    ['no-steps', '  a:\n    runs-on: ubuntu-latest\n    steps:\n', 'no steps'],
    ['merge-key', '  a:\n    <<: {runs-on: ubuntu-latest}\n    steps:\n      - run: x\n', 'merge key'],
    ['not-a-mapping', '  a: {runs-on: ubuntu-latest, steps: [{run: x}]}\n', 'block mapping'],
  ];
  for (const [code, jobText, reason] of cases) {
    it(`${code}: ${JSON.stringify(jobText.split('\n')[1])}`, () => {
      const text = `on: push\njobs:\n${jobText}`;
      const result = harden(text, block(['github.com:443']));
      expect(result.errors).toEqual([]);
      expect(result.output).toBe(text);
      expect(result.jobs).toHaveLength(1);
      expect(job(result, 'a')).toMatchObject({ action: 'skipped', skipCode: code });
      expect(job(result, 'a').reason).toContain(reason);
    });
  }

  it('skips steps shared through an alias, and jobs whose steps are an alias', () => {
    const text = [
      'jobs:',
      '  a:',
      '    runs-on: ubuntu-latest',
      '    steps: &steps',
      '      - run: x',
      '  b:',
      '    runs-on: ubuntu-latest',
      '    steps: *steps',
      '',
    ].join('\n');
    const result = harden(text, audit);
    expect(result.output).toBe(text);
    expect(job(result, 'a')).toMatchObject({ action: 'skipped', skipCode: 'shared-by-alias' });
    expect(job(result, 'b')).toMatchObject({ action: 'skipped', skipCode: 'steps-not-block-sequence' });
  });

  it('hardens a container job on a self-hosted runner', () => {
    const text = 'jobs:\n  a:\n    runs-on: [self-hosted, linux]\n    container: node:22\n    steps:\n      - run: x\n';
    expect(job(harden(text, audit), 'a').action).toBe('inserted');
  });

  it('skips what the planner declines, and jobs missing from a plan map', () => {
    const text = 'jobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: x\n  b:\n    runs-on: ubuntu-latest\n    steps:\n      - run: y\n';
    const byMap = harden(text, { a: { skip: 'excluded by the operator' } });
    expect(byMap.jobs).toEqual([
      { job: 'a', line: 2, action: 'skipped', reason: 'excluded by the operator', skipCode: 'planner' },
      { job: 'b', line: 6, action: 'skipped', reason: 'no plan for this job', skipCode: 'planner' },
    ]);
    expect(byMap.output).toBe(text);
    const seen: JobInfo[] = [];
    harden(text, (info) => {
      seen.push(info);
      return audit;
    });
    expect(seen.map((info) => [info.id, info.line, info.runner.os])).toEqual([
      ['a', 2, ['linux']],
      ['b', 6, ['linux']],
    ]);
  });
});

describe('operating-system matrices', () => {
  const mixed = [
    'jobs:',
    '  test:',
    '    strategy:',
    '      matrix:',
    '        os: [ubuntu-latest, windows-latest]',
    '        include:',
    '          - os: macos-latest',
    '    runs-on: ${{ matrix.os }}',
    '    steps:',
    '      - run: npm test',
    '',
  ].join('\n');

  it('blocks on the Linux legs of a mixed matrix and audits on the others, without a guard', () => {
    const result = hardenTwice(mixed, block(['registry.npmjs.org:443']));
    expect(result.output).toContain([`        uses: ${USES}`, '        with:', `          egress-policy: ${BLOCK_ON_LINUX}`].join('\n'));
    expect(result.output).not.toContain('if:');
    expect(job(result, 'test')).toMatchObject({ action: 'inserted', mode: 'block' });
    expect(job(result, 'test').reason).toContain('block on Linux, audit elsewhere');
  });

  it('audits on every OS with no guard', () => {
    const result = hardenTwice(mixed, audit);
    expect(result.output).toContain('          egress-policy: audit\n');
    expect(result.output).not.toContain('if:');
  });

  it('blocks on Linux only when the runner cannot be known statically', () => {
    const text = 'jobs:\n  t:\n    runs-on: ${{ inputs.runner }}\n    steps:\n      - run: x\n';
    const result = harden(text, block(['github.com:443']));
    expect(result.output).toContain(`egress-policy: ${BLOCK_ON_LINUX}`);
    expect(job(result, 't').reason).toContain('not known statically');
  });

  it('leaves a step someone else wrote without a guard, and keeps a step\'s own if:', () => {
    const text = [
      'jobs:',
      '  t:',
      '    strategy:',
      '      matrix:',
      '        os: [ubuntu-latest, windows-latest]',
      '    runs-on: ${{ matrix.os }}',
      '    steps:',
      '      - uses: step-security/harden-runner@v2',
      "        if: github.event_name == 'push'",
      '        with:',
      '          egress-policy: audit',
      '',
    ].join('\n');
    const result = hardenTwice(text, audit);
    expect(result.output).toBe(text);
    expect(job(result, 't').action).toBe('unchanged');
  });
});

describe('updating an existing Harden-Runner step in place', () => {
  const existing = [
    'jobs:',
    '  build:',
    '    runs-on: ubuntu-latest',
    '    steps:',
    '      - name: Harden Runner',
    '        uses: step-security/harden-runner@rc',
    '        with:',
    '          disable-sudo: true',
    '          egress-policy: audit # TODO: block',
    '',
    '      - run: make',
    '',
  ].join('\n');

  it('switches audit to block, keeping its pin, its other inputs and the comment', () => {
    const result = hardenTwice(existing, block(['github.com:443']));
    expect(result.output).toBe(
      existing.replace(
        '          egress-policy: audit # TODO: block\n',
        '          egress-policy: block # TODO: block\n          allowed-endpoints: >-\n            github.com:443\n',
      ),
    );
    expect(job(result, 'build')).toMatchObject({ action: 'updated' });
  });

  it('re-pins only when asked', () => {
    const result = hardenTwice(existing, block(['github.com:443'], { pin: NEW_PIN, repin: true }));
    expect(result.output).toContain(`        uses: step-security/harden-runner@${NEW_PIN.sha} # v2.22.0\n`);
    expect(job(result, 'build').reason).toContain('uses: step-security/harden-runner@rc -> ');
    expect(harden(existing, block(['github.com:443'], { pin: NEW_PIN })).output).toContain('@rc\n');
  });

  it('reports unchanged when the step already says the same, whatever the scalar style', () => {
    const text = [
      'jobs:',
      '  a:',
      '    runs-on: ubuntu-latest',
      '    steps:',
      `      - uses: step-security/harden-runner@${PIN.sha}  # v2.21.0`,
      '        with:',
      '          egress-policy: block',
      '          allowed-endpoints: >',
      '            github.com:443',
      '            api.github.com',
      '',
    ].join('\n');
    const result = harden(text, block(['api.github.com:443', 'github.com:443']));
    expect(result.output).toBe(text);
    expect(result.changed).toBe(false);
    expect(job(result, 'a').action).toBe('unchanged');
  });

  it('rewrites a literal block list (newlines break the agent) and a changed list', () => {
    const text = [
      'jobs:',
      '  a:',
      '    runs-on: ubuntu-latest',
      '    steps:',
      '      - uses: step-security/harden-runner@v2',
      '        with:',
      '          allowed-endpoints: |',
      '            github.com:443',
      '            api.github.com:443',
      '          disable-file-monitoring: true',
      '      - run: x',
      '',
    ].join('\n');
    const result = hardenTwice(text, block(['api.github.com:443', 'github.com:443']));
    expect(result.output).toBe(
      [
        'jobs:',
        '  a:',
        '    runs-on: ubuntu-latest',
        '    steps:',
        '      - uses: step-security/harden-runner@v2',
        '        with:',
        '          allowed-endpoints: >-',
        '            github.com:443',
        '            api.github.com:443',
        '          disable-file-monitoring: true',
        '      - run: x',
        '',
      ].join('\n'),
    );
  });

  it('keeps a person-written endpoint list in its order and appends what the plan adds (issue 19, defect 7)', () => {
    const text = ['jobs:', '  a:', '    runs-on: ubuntu-latest', '    steps:', '      - uses: step-security/harden-runner@v2', '        with:', '          egress-policy: block', '          allowed-endpoints: z.example.com:443 a.example.com:443', '      - run: x', ''].join('\n');
    const result = hardenTwice(text, block(['github.com:443', 'a.example.com:443', 'api.github.com:443']));
    expect(result.output).toContain(['          allowed-endpoints: >-', '            z.example.com:443', '            a.example.com:443', '            api.github.com:443', '            github.com:443', ''].join('\n'));
    expect(job(result, 'a').changes).toEqual([
      { field: 'with.allowed-endpoints', from: 'z.example.com:443 a.example.com:443', to: 'z.example.com:443 a.example.com:443 api.github.com:443 github.com:443', added: ['api.github.com:443', 'github.com:443'], dropped: [] },
    ]);
  });

  it('does not warn "no allowed endpoints" on a step that keeps its own (issue 19, defect 7)', () => {
    const text = ['jobs:', '  a:', '    runs-on: ubuntu-latest', '    steps:', '      - uses: step-security/harden-runner@v2', '        with:', '          egress-policy: block', '          allowed-endpoints: github.com:443', '      - run: x', ''].join('\n');
    const result = hardenTwice(text, block([]));
    expect(result.output).toBe(text);
    expect(job(result, 'a').warnings ?? []).toEqual([]);
    // A step left with nothing allowed still gets the warning.
    const bare = ['jobs:', '  a:', '    runs-on: ubuntu-latest', '    steps:', '      - uses: step-security/harden-runner@v2', '        with:', '          egress-policy: block', '      - run: x', ''].join('\n');
    expect(job(hardenTwice(bare, block([])), 'a').warnings).toEqual(['block mode with no allowed endpoints: every outbound connection of the job will be blocked']);
  });

  it('adds a with: block to a step without one (which is block: Harden-Runner\'s default)', () => {
    const text = 'jobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: step-security/harden-runner@v2\n      - run: x\n';
    const output = hardenTwice(text, block(['github.com:443'])).output;
    expect(output).toBe('jobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: step-security/harden-runner@v2\n        with:\n          allowed-endpoints: >-\n            github.com:443\n      - run: x\n');
    const kept = harden(text, audit);
    expect(kept.output).toBe(text);
    expect(job(kept, 'a').reason).toContain("kept egress-policy: block (Harden-Runner's default");
  });

  it('moves a step that is not first to the top', () => {
    const text = [
      'jobs:',
      '  a:',
      '    runs-on: ubuntu-latest',
      '    steps:',
      '      - uses: actions/checkout@v4',
      '      - uses: step-security/harden-runner@v2',
      '        with:',
      '          egress-policy: audit',
      '      - run: x',
      '',
    ].join('\n');
    const result = hardenTwice(text, audit);
    expect(result.output).toBe(
      [
        'jobs:',
        '  a:',
        '    runs-on: ubuntu-latest',
        '    steps:',
        '      - uses: step-security/harden-runner@v2',
        '        with:',
        '          egress-policy: audit',
        '      - uses: actions/checkout@v4',
        '      - run: x',
        '',
      ].join('\n'),
    );
    expect(job(result, 'a')).toMatchObject({ action: 'updated', reason: 'moved from position 2 to the first step' });
  });

  it('replaces an audit Harden-Runner step by the composite action when the plan says so, reporting every input', () => {
    const auditOnly = existing.replace('          disable-sudo: true\n', '          disable-sudo: false\n');
    const result = hardenTwice(auditOnly, composite);
    expect(result.output).toBe(
      auditOnly.replace(
        '      - name: Harden Runner\n        uses: step-security/harden-runner@rc\n        with:\n          disable-sudo: false\n          egress-policy: audit # TODO: block\n',
        '      - name: Harden-Runner\n        uses: acme/egressctl/actions/harden@v1\n        with:\n          server: https://egress.acme.example\n          audience: egressctl\n',
      ),
    );
    expect(job(result, 'build').reason).toContain('replaced the Harden-Runner step');
    expect(job(result, 'build').changes).toEqual([
      { field: 'uses', from: 'step-security/harden-runner@rc', to: 'acme/egressctl/actions/harden@v1' },
      { field: 'with.disable-sudo', from: 'false', to: null },
      { field: 'with.egress-policy', from: 'audit', to: null },
    ]);
  });

  it('never replaces a step the composite action cannot carry: block, endpoints, disable-* (issue 19, defect 5)', () => {
    const strong = [
      'jobs:',
      '  build:',
      '    runs-on: ubuntu-latest',
      '    steps:',
      '      - uses: step-security/harden-runner@rc',
      '        with:',
      '          egress-policy: block',
      '          disable-sudo-and-containers: true',
      '          allowed-endpoints: github.com:443 api.github.com:443',
      '      - run: make',
      '',
    ].join('\n');
    const result = hardenTwice(strong, composite);
    expect(result.output).toBe(strong);
    expect(job(result, 'build')).toMatchObject({ action: 'skipped', skipCode: 'would-drop-inputs' });
    expect(job(result, 'build').reason).toContain('egress-policy: block, disable-sudo-and-containers: true, allowed-endpoints (2)');
    // The old behaviour's trap too: the step of the other tests keeps disable-sudo: true.
    expect(job(hardenTwice(existing, composite), 'build').reason).toContain('disable-sudo: true');
  });

  it('tells the planner about the existing step', () => {
    let info: JobInfo | undefined;
    harden(existing, (job) => {
      info = job;
      return audit;
    });
    expect(info?.existing).toEqual({ kind: 'harden-runner', uses: 'step-security/harden-runner@rc', index: 0, with: { 'disable-sudo': 'true', 'egress-policy': 'audit' } });
  });
});

describe('input that is not an editable workflow', () => {
  it('reports YAML errors at their line and column and leaves the text alone', () => {
    const text = 'on: push\njobs:\n  a:\n    runs-on: x\n    runs-on: y\n';
    const result = harden(text, audit);
    expect(result.output).toBe(text);
    expect(result.changed).toBe(false);
    expect(result.errors).toEqual([expect.objectContaining({ file: 'ci.yml', line: 5, column: 5, code: 'workflow/yaml', severity: 'error' })]);
  });

  it('reports a workflow without jobs', () => {
    const result = harden('on: push\n', audit);
    expect(result.errors).toEqual([expect.objectContaining({ line: 1, column: 1, code: 'workflow/no-jobs' })]);
    expect(harden('- a\n', audit).errors[0]?.code).toBe('workflow/not-a-mapping');
    expect(harden('jobs: {a: {}}\n', audit).errors[0]?.code).toBe('workflow/jobs-not-block-mapping');
  });
});

describe('stepKind', () => {
  it('recognizes Harden-Runner at any ref and composite actions', () => {
    expect(stepKind('step-security/harden-runner@rc')).toBe('harden-runner');
    expect(stepKind(`Step-Security/Harden-Runner@${PIN.sha}`)).toBe('harden-runner');
    expect(stepKind('acme/egressctl/actions/harden@main')).toBe('composite');
    expect(stepKind('actions/checkout@v4')).toBeUndefined();
    expect(stepKind('fork/harden-runner@v1', block([], { pin: { ...PIN, repository: 'fork/harden-runner' } }))).toBe('harden-runner');
  });
});

describe('steps recognized through the plan', () => {
  it('updates a step of a forked Harden-Runner repository named by the pin', () => {
    const text = 'jobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: acme/harden-runner-fork@v1\n        with:\n          egress-policy: audit\n';
    const plan = block(['github.com:443'], { pin: { ...PIN, repository: 'acme/harden-runner-fork' } });
    const result = hardenTwice(text, plan);
    expect(job(result, 'a').action).toBe('updated');
    expect(result.output).toBe(text.replace('egress-policy: audit\n', 'egress-policy: block\n          allowed-endpoints: >-\n            github.com:443\n'));
  });
});
