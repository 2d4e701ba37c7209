import { describe, expect, it } from 'vitest';
import { analyzeRunsOn, candidateFor, expressionValues, labelOs, matrixValues, type Json } from '../../src/rollout/workflow-jobs.js';

describe('labelOs', () => {
  it('reads the OS from runner labels', () => {
    expect(labelOs('windows-2022')).toBe('windows');
    expect(labelOs('macOS')).toBe('macos');
    expect(labelOs('ubuntu-24.04-arm')).toBe('linux');
    expect(labelOs('runner=2cpu-linux-x64')).toBe('linux');
    expect(labelOs('self-hosted')).toBe('neutral');
    expect(labelOs('${{ inputs.runner }}')).toBe('unknown');
  });

  it('takes an explicit OS over neutral and unknown labels, and Linux for plain self-hosted labels', () => {
    expect(candidateFor(['self-hosted', 'Windows'])).toMatchObject({ os: 'windows', githubHosted: false });
    expect(candidateFor(['runs-on=${{ github.run_id }}', 'runner=2cpu-linux-x64'])).toMatchObject({ os: 'linux' });
    expect(candidateFor(['oracle-vm-4cpu'])).toMatchObject({ os: 'linux', githubHosted: false });
    expect(candidateFor(['${{ inputs.runner }}']).os).toBeUndefined();
    expect(candidateFor(['ubuntu-latest'])).toMatchObject({ os: 'linux', githubHosted: true });
    expect(candidateFor(['ubuntu-latest'], 'larger')).toMatchObject({ githubHosted: false, group: 'larger' });
  });
});

describe('matrix and expression values', () => {
  const matrix: Json = {
    os: ['ubuntu-latest', 'windows-latest'],
    platform: [{ runner: 'ubuntu-22.04' }, { runner: 'macos-14' }, { name: 'no runner' }],
    include: [{ os: 'macos-14', extra: true }, { runner: 'ubuntu-24.04' }],
  };

  it('collects axis values and include entries, navigating nested keys', () => {
    expect(matrixValues(matrix, ['os'])).toEqual(['ubuntu-latest', 'windows-latest', 'macos-14']);
    expect(matrixValues(matrix, ['platform', 'runner'])).toEqual(['ubuntu-22.04', 'macos-14']);
    expect(matrixValues(matrix, ['runner'])).toEqual(['ubuntu-24.04']);
    expect(matrixValues({ os: '${{ fromJSON(inputs.os) }}' }, ['os'])).toBeUndefined();
    expect(matrixValues('${{ fromJSON(x) }}', ['os'])).toBeUndefined();
  });

  it('evaluates literals, matrix paths and && / || chains', () => {
    expect(expressionValues(" matrix.os || 'windows-2022' ", matrix)).toEqual(['ubuntu-latest', 'windows-latest', 'macos-14', 'windows-2022']);
    expect(expressionValues("github.repository == 'a/b' && 'big-runner' || 'macos-15'", matrix)).toEqual(['big-runner', 'macos-15']);
    expect(expressionValues("matrix['os']", matrix)).toEqual(['ubuntu-latest', 'windows-latest', 'macos-14']);
    expect(expressionValues('inputs.runner', matrix)).toBeUndefined();
    expect(expressionValues('fromJSON(matrix.os)', matrix)).toBeUndefined();
  });
});

describe('analyzeRunsOn', () => {
  it('expands a matrix reference into candidates', () => {
    const info = analyzeRunsOn('${{ matrix.os }}', { os: ['ubuntu-latest', 'windows-latest'] });
    expect(info).toMatchObject({ resolved: true, os: ['linux', 'windows'], githubHosted: true });
    expect(info.candidates.map((candidate) => candidate.labels)).toEqual([['ubuntu-latest'], ['windows-latest']]);
  });

  it('expands templates inside a label and label lists from the matrix', () => {
    expect(analyzeRunsOn('${{ matrix.os }}-latest', { os: ['ubuntu', 'macos'] }).os).toEqual(['linux', 'macos']);
    const lists = analyzeRunsOn('${{ matrix.labels }}', { labels: [['self-hosted', 'linux', 'gpu']] });
    expect(lists.candidates[0]).toMatchObject({ labels: ['self-hosted', 'linux', 'gpu'], os: 'linux', githubHosted: false });
  });

  it('handles lists, runner groups and unresolvable runners', () => {
    expect(analyzeRunsOn(['self-hosted', 'macOS', 'ARM64'], undefined)).toMatchObject({ resolved: true, os: ['macos'] });
    expect(analyzeRunsOn({ group: 'gpu', labels: 'linux-large' }, undefined)).toMatchObject({ resolved: true, os: ['linux'], githubHosted: false });
    expect(analyzeRunsOn({ group: '${{ inputs.group }}' }, undefined).resolved).toBe(false);
    expect(analyzeRunsOn('${{ inputs.runner }}', undefined)).toMatchObject({ resolved: false, os: [] });
    expect(analyzeRunsOn(undefined, undefined).resolved).toBe(false);
  });
});
