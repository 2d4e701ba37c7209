import { describe, expect, it } from 'vitest';
import { checkWorkflowText, newWorkflowErrors, workflowProblems } from '../../src/rollout/workflow-check.js';

const valid = 'on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n';

describe("GitHub's workflow parser as a gate", () => {
  it('accepts a valid workflow', async () => {
    expect(await checkWorkflowText('ci.yml', valid)).toEqual([]);
  });

  it('reports errors with file, line and column', async () => {
    const errors = await checkWorkflowText('ci.yml', 'on: push\njobs:\n  a:\n    runs-on: x\n    steps: 5\n');
    expect(errors).toEqual(["ci.yml:5:12: Unexpected value '5'"]);
  });

  it('finds conversion errors too (needs of an unknown job)', async () => {
    const text = `${valid.replace('  a:\n', '  a:\n    needs: nope\n')}  b:\n    runs-on: ubuntu-latest\n    steps:\n      - run: y\n`;
    expect(await workflowProblems('ci.yml', text)).toEqual([{ message: "Job 'a' depends on unknown job 'nope'.", line: 4, column: 12 }]);
  });

  it('reports only errors the original did not have, wherever they moved', async () => {
    const broken = 'on: push\njobs:\n  a:\n    runs-on: x\n    steps: 5\n';
    const shifted = 'on: push\njobs:\n  a:\n    runs-on: x\n\n\n    steps: 5\n';
    expect(await newWorkflowErrors('ci.yml', broken, shifted)).toEqual([]);
    const worse = valid.replace('- run: echo hi', '- ru: echo hi');
    const added = await newWorkflowErrors('ci.yml', valid, worse);
    expect(added.length).toBeGreaterThan(0);
    expect(added[0]).toMatch(/^ci\.yml:6:\d+: Unexpected value 'ru'/);
  });
});
