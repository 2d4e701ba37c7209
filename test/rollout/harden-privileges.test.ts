/**
 * harden warns, per job and at the step's line, when a job visibly uses sudo or containers and
 * the policy disables them (issue 23: `disable-sudo-and-containers: true` was added to a job
 * running `docker build` without a word).
 */
import { describe, expect, it } from 'vitest';
import type { HardenRunnerFlags, HardenRunnerPin } from '../../src/policy/model.js';
import { hardenWorkflow, type HardenRunnerPlan } from '../../src/rollout/harden.js';
import { runCli } from '../support/cli.js';
import { makeTempRepo } from '../support/policy-repo.js';

const PIN: HardenRunnerPin = { repository: 'step-security/harden-runner', sha: '05e31511f85b41b11d1cf0ef85d0992719546e2c', version: 'v2.21.0' };
const plan = (flags: HardenRunnerFlags): HardenRunnerPlan => ({ kind: 'harden-runner', pin: PIN, mode: 'audit', flags });

const WORKFLOW = [
  'on: push', //                                     1
  'jobs:', //                                        2
  '  image:', //                                     3
  '    runs-on: ubuntu-latest', //                   4
  '    steps:', //                                   5
  '      - uses: actions/checkout@v4', //            6
  '      - run: |', //                               7
  '          # docker is not this comment', //       8
  '          echo "sudo and docker in quotes"', //   9
  '          make image && docker build -t app .', // 10
  '      - uses: docker/build-push-action@v6', //    11
  '  setup:', //                                     12
  '    runs-on: ubuntu-latest', //                   13
  '    steps:', //                                   14
  '      - run: sudo apt-get install -y jq', //      15
  '  plain:', //                                     16
  '    runs-on: ubuntu-latest', //                   17
  '    steps:', //                                   18
  '      - run: ./docker/build.sh --no-sudo', //     19
  '',
].join('\n');

const warningsOf = (flags: HardenRunnerFlags) => {
  const result = hardenWorkflow(WORKFLOW, { plan: () => plan(flags), file: 'ci.yml' });
  expect(result.errors).toEqual([]);
  return Object.fromEntries(result.jobs.map((job) => [job.job, job.warnings ?? []]));
};

describe('harden: sudo and containers the policy disables', () => {
  it('disable-sudo-and-containers: each job that runs docker or sudo, or uses a Docker action, at its line', () => {
    const warnings = warningsOf({ 'disable-sudo-and-containers': true });
    expect(warnings['image']).toEqual([
      expect.stringMatching(/^line 10: the step runs `docker`, but the policy sets disable-sudo-and-containers: true, so Harden-Runner takes Docker and containerd access away first/),
      expect.stringMatching(/^line 11: the step uses docker\/build-push-action@v6, but the policy sets disable-sudo-and-containers: true/),
    ]);
    expect(warnings['setup']).toEqual([expect.stringMatching(/^line 15: the step runs `sudo`, but the policy sets disable-sudo-and-containers: true, so Harden-Runner takes sudo away first/)]);
    // Paths and flags that merely contain the words are not uses.
    expect(warnings['plain']).toEqual([]);
  });

  it('disable-sudo: only sudo is taken away', () => {
    const warnings = warningsOf({ 'disable-sudo': true });
    expect(warnings['image']).toEqual([]);
    expect(warnings['setup']).toEqual([expect.stringMatching(/^line 15: the step runs `sudo`, but the policy sets disable-sudo: true/)]);
  });

  it('no such setting: no warning', () => {
    expect(Object.values(warningsOf({ 'disable-file-monitoring': true })).flat()).toEqual([]);
  });

  it('egressctl harden --policy-from prints the warning under the job', async () => {
    const store = makeTempRepo({
      'policies/builds.yml': 'egress-policy: audit\ndisable-sudo-and-containers: true\n',
      'attachments.yml': 'repositories:\n  acme/api: builds\n',
    });
    try {
      store.write({ 'ci.yml': WORKFLOW });
      const run = await runCli(['harden', 'ci.yml', '--workflow', '.github/workflows/ci.yml', '--repository', 'acme/api', '--policy-from', store.dir], { cwd: store.dir });
      expect(run.code).toBe(0);
      expect(run.stdout + run.stderr).toMatch(/image: inserted[^\n]*\n {2}warning: line 10: the step runs `docker`/);
      expect(run.stdout + run.stderr).toMatch(/setup: inserted[^\n]*\n {2}warning: line 15: the step runs `sudo`/);
    } finally {
      store.cleanup();
    }
  });
});
