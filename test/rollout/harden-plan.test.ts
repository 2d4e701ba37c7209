import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../src/policy/model.js';
import { baselinePlanner, uniformPlanner } from '../../src/rollout/harden-plan.js';
import { hardenWorkflow, type JobInfo } from '../../src/rollout/harden.js';

const pin = DEFAULT_SETTINGS.hardenRunner;
const info = (id: string): JobInfo => ({ id, line: 1, runner: { candidates: [], resolved: true, os: ['linux'], githubHosted: true }, container: false });

describe('baselinePlanner', () => {
  const baselines = {
    stable: { endpoints: ['github.com:443', 'registry.npmjs.org:443'], stable: true, runs: 7, lastSeen: '2026-01-02T03:04:05Z' },
    young: { endpoints: ['github.com:443'], stable: false, runs: 1, stableAfter: 3 },
  };
  const planner = baselinePlanner({ pin, baselineOf: (job) => baselines[job.id as keyof typeof baselines] });

  it('blocks with the endpoints of a stable baseline', () => {
    expect(planner(info('stable'))).toEqual({
      kind: 'harden-runner',
      pin,
      mode: 'block',
      endpoints: ['github.com:443', 'registry.npmjs.org:443'],
      note: 'stable baseline: 2 endpoints from 7 runs, last seen 2026-01-02T03:04:05Z',
    });
  });

  it('audits jobs without a stable baseline, saying why', () => {
    expect(planner(info('young'))).toMatchObject({ mode: 'audit', note: 'baseline not stable yet after 1 run (3 runs without a new endpoint needed): audit mode' });
    expect(planner(info('none'))).toMatchObject({ mode: 'audit', note: 'no baseline yet: audit mode to start collecting one' });
    expect(baselinePlanner({ pin, mode: 'audit', baselineOf: () => baselines.stable })(info('stable'))).toMatchObject({ mode: 'audit' });
    expect(baselinePlanner({ pin, repin: true, baselineOf: () => undefined })(info('x'))).toMatchObject({ repin: true });
  });

  it("puts the plan's note into the job's outcome", () => {
    const text = 'jobs:\n  stable:\n    runs-on: ubuntu-latest\n    steps:\n      - run: x\n  young:\n    runs-on: ubuntu-latest\n    steps:\n      - run: y\n';
    const result = hardenWorkflow(text, { plan: planner });
    expect(result.jobs.map((job) => [job.job, job.action, job.reason])).toEqual([
      ['stable', 'inserted', 'stable baseline: 2 endpoints from 7 runs, last seen 2026-01-02T03:04:05Z'],
      ['young', 'inserted', 'baseline not stable yet after 1 run (3 runs without a new endpoint needed): audit mode'],
    ]);
    expect(result.output).toContain('egress-policy: block');
    expect(result.output).toContain('egress-policy: audit');
  });

  it('uniformPlanner gives every job the same plan', () => {
    const plan = { kind: 'harden-runner' as const, pin, mode: 'audit' as const };
    expect(uniformPlanner(plan)(info('a'))).toBe(plan);
  });
});
