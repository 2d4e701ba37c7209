/**
 * Where Harden-Runner cannot enforce (src/rollout/harden-runner-support.ts), per job, from the
 * labels and job kinds its setup.ts skips (step-security/harden-runner): one case per rule.
 */
import { describe, expect, it } from 'vitest';
import { parseDocument, isMap, isPair } from 'yaml';
import { classifyJob } from '../../src/rollout/harden-runner-support.js';
import { analyzeJob } from '../../src/rollout/workflow-jobs.js';

/** Classify the one job of a workflow given as `jobs.j` lines. */
function classify(job: string[], mode?: 'audit' | 'block') {
  const doc = parseDocument(['on: push', 'jobs:', '  j:', ...job.map((line) => `    ${line}`), '    steps:', '      - run: x', ''].join('\n'), { keepSourceTokens: true });
  const jobs = isMap(doc.contents) ? doc.contents.get('jobs', true) : undefined;
  const pair = isMap(jobs) ? jobs.items[0] : undefined;
  if (!isPair(pair)) throw new Error('no job');
  return classifyJob(analyzeJob(doc, pair, 3, new Set()), mode);
}

describe('classifyJob', () => {
  it('a hosted Linux job can block, with nothing to report', () => {
    expect(classify(['runs-on: ubuntu-latest'], 'block')).toEqual({ level: 'block', gaps: [] });
  });

  it('ubuntu-slim: Harden-Runner does not run there', () => {
    expect(classify(['runs-on: ubuntu-slim'])).toMatchObject({ level: 'none', gaps: [{ code: 'ubuntu-slim', partial: false, labels: ['ubuntu-slim'] }] });
  });

  it('hosted ARM runners: no community agent for Linux ARM, none at all for Windows ARM', () => {
    expect(classify(['runs-on: ubuntu-24.04-arm'])).toMatchObject({ level: 'none', gaps: [{ code: 'linux-arm64' }] });
    expect(classify(['runs-on: windows-11-arm'])).toMatchObject({ level: 'none', gaps: [{ code: 'windows-arm64' }] });
  });

  it('a matrix with one ubuntu-slim leg is partial', () => {
    const support = classify(['strategy:', '  matrix:', '    os: [ubuntu-latest, ubuntu-slim]', 'runs-on: ${{ matrix.os }}']);
    expect(support).toMatchObject({ level: 'partial', gaps: [{ code: 'ubuntu-slim', partial: true }] });
  });

  it('containers on hosted runners are unprotected; an expression container is partial', () => {
    expect(classify(['runs-on: ubuntu-latest', 'container: node:20'])).toMatchObject({ level: 'none', gaps: [{ code: 'container', partial: false }] });
    expect(classify(['runs-on: ubuntu-latest', 'container: ${{ inputs.image }}'])).toMatchObject({ level: 'partial', gaps: [{ code: 'container', partial: true }] });
  });

  it('hosted Windows/macOS: audit only, reported when the job should block', () => {
    expect(classify(['runs-on: windows-2022'], 'audit')).toEqual({ level: 'audit', gaps: [] });
    expect(classify(['runs-on: macos-14'], 'block')).toMatchObject({ level: 'audit', gaps: [{ code: 'audit-only-os' }] });
  });

  it('self-hosted: only the job-started hook enforces; a reusable-workflow call has no steps of its own', () => {
    expect(classify(['runs-on: [self-hosted, linux]'])).toMatchObject({ level: 'hook', gaps: [{ code: 'self-hosted' }] });
    const doc = parseDocument('on: push\njobs:\n  j:\n    uses: ./.github/workflows/build.yml\n', { keepSourceTokens: true });
    const jobs = isMap(doc.contents) ? doc.contents.get('jobs', true) : undefined;
    const pair = isMap(jobs) ? jobs.items[0] : undefined;
    if (!isPair(pair)) throw new Error('no job');
    expect(classifyJob(analyzeJob(doc, pair, 3, new Set()))).toMatchObject({ level: 'none', gaps: [{ code: 'reusable-workflow' }] });
  });

  it('a runner it cannot resolve is partial, not silently fine', () => {
    expect(classify(['runs-on: ${{ inputs.runner }}'])).toMatchObject({ level: 'partial', gaps: [{ code: 'unknown-runner' }] });
  });
});
