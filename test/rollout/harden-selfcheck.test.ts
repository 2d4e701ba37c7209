/**
 * The `harden/internal` safety net: a rewrite that goes wrong (simulated by corrupting the
 * spliced text) must be caught, reported and the file left as it was, whether the damage is
 * inside the edited steps (the span check) or anywhere else in the file.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { HardenRunnerPin } from '../../src/policy/model.js';
import { hardenWorkflow, type HardenRunnerPlan } from '../../src/rollout/harden.js';

let corrupt: ((output: string) => string) | undefined;

vi.mock('../../src/rollout/workflow-text.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/rollout/workflow-text.js')>();
  return {
    ...actual,
    // Only the whole-file splice (it starts with `on:`); moved step blocks are spliced too.
    applyEdits: (text: string, edits: Parameters<typeof actual.applyEdits>[1]) => {
      const output = actual.applyEdits(text, edits);
      return corrupt && text.startsWith('on:') ? corrupt(output) : output;
    },
  };
});

afterEach(() => {
  corrupt = undefined;
});

const PIN: HardenRunnerPin = { repository: 'step-security/harden-runner', sha: '05e31511f85b41b11d1cf0ef85d0992719546e2c', version: 'v2.21.0' };
const plan: HardenRunnerPlan = { kind: 'harden-runner', pin: PIN, mode: 'block', endpoints: ['github.com:443', 'registry.npmjs.org:443'] };

const WORKFLOW = [
  'on: push',
  'jobs:',
  '  build:',
  '    runs-on: ubuntu-latest',
  '    steps:',
  '      - uses: actions/checkout@v4',
  '      # then build',
  '      - run: make',
  '  test:',
  '    runs-on: ubuntu-latest',
  '    steps:',
  '      - name: Harden-Runner',
  '        uses: step-security/harden-runner@05e31511f85b41b11d1cf0ef85d0992719546e2c # v2.21.0',
  '        with:',
  '          egress-policy: audit',
  '      - run: make test',
  '',
].join('\n');

function harden() {
  return hardenWorkflow(WORKFLOW, { file: 'ci.yml', plan: () => plan });
}

function expectCaught(result: ReturnType<typeof harden>, message: RegExp): void {
  expect(result.changed).toBe(false);
  expect(result.output).toBe(WORKFLOW);
  expect(result.errors.length).toBeGreaterThan(0);
  expect(result.errors.every((error) => error.code === 'harden/internal')).toBe(true);
  expect(result.errors.map((error) => error.message).join('\n')).toMatch(message);
}

describe('harden/internal safety net', () => {
  it('accepts the uncorrupted rewrite', () => {
    const result = harden();
    expect(result.errors).toEqual([]);
    expect(result.changed).toBe(true);
    expect(result.jobs.map((job) => job.action)).toEqual(['inserted', 'updated']);
  });

  it('catches an inserted step at the wrong indentation', () => {
    corrupt = (output) => output.replace('      - name: Harden-Runner\n        uses: step-security/harden-runner@05e3', '        - name: Harden-Runner\n          uses: step-security/harden-runner@05e3');
    expectCaught(harden(), /does not parse|does not start with the planned step/);
  });

  it('catches an endpoint that does not read back', () => {
    let first = true;
    corrupt = (output) =>
      output.replace(/ {12}registry\.npmjs\.org:443\n/g, (line) => {
        if (!first) return line;
        first = false;
        return '';
      });
    expectCaught(harden(), /with\.allowed-endpoints does not read back/);
  });

  it('catches a new step glued to the next one', () => {
    corrupt = (output) => output.replace('registry.npmjs.org:443\n      - uses: actions/checkout@v4', 'registry.npmjs.org:443      - uses: actions/checkout@v4');
    expectCaught(harden(), /with\.allowed-endpoints does not read back|does not parse/);
  });

  it('catches damage outside the edited steps', () => {
    corrupt = (output) => output.replace('on: push', 'on: [push');
    expectCaught(harden(), /does not parse/);
  });

  it('catches a job whose first step is not the planned one', () => {
    corrupt = (output) => output.replace('      - run: make test\n', '').replace('    steps:\n      - name: Harden-Runner\n        uses: step-security/harden-runner@05e31511f85b41b11d1cf0ef85d0992719546e2c # v2.21.0\n        with:\n          egress-policy: block', '    steps:\n      - run: make test\n      - name: Harden-Runner\n        uses: step-security/harden-runner@05e31511f85b41b11d1cf0ef85d0992719546e2c # v2.21.0\n        with:\n          egress-policy: block');
    expectCaught(harden(), /job build does not start with the planned step/);
  });
});
