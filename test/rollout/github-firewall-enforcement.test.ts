/**
 * The firewall's answers for coverage (per job: what it enforces, why not) and for the tamper
 * check (what a pull request's change to `.github/egress-firewall.yaml` widens), on the files of
 * adopters (curl/curl, aio-libs/aiohttp) and ours.
 */
import { describe, expect, it } from 'vitest';
import { analyzeRunsOn } from '../../src/rollout/workflow-jobs.js';
import { firewallJobAnswer, firewallTamperFindings } from '../../src/rollout/github-firewall/index.js';

const CURL = '# https://github.com/github-early-access/actions-native-egress-firewall\n\nmode: enforce\nallow:\n  - api.github.com\n';
const AIOHTTP = 'mode: enforce\n';
const OURS = "# GitHub's native egress firewall.\n# managed-by: egressctl: written by egressctl sync\nmode: enforce\nno-default-urls: true\nallow:\n  - github.com\n  - registry.npmjs.org\n";

describe('firewallJobAnswer (coverage)', () => {
  const job = (runsOn: unknown, matrix?: unknown) => ({ runner: analyzeRunsOn(runsOn as never, matrix as never) });

  it('a job on the firewall runner with an enforce file is block, enforced outside the VM', () => {
    expect(firewallJobAnswer(job('ubuntu-24.04-firewall'), CURL)).toEqual({ mode: 'block', reasons: [], caveats: [] });
    expect(firewallJobAnswer(job('ubuntu-24.04-firewall'), 'mode: log\n')).toMatchObject({ mode: 'audit', reasons: [expect.stringContaining('mode: log')] });
  });

  it('says why not: another runner, no file, an unreadable file, an expression, a reusable workflow', () => {
    expect(firewallJobAnswer(job('ubuntu-latest'), CURL)).toMatchObject({ mode: null, reasons: ['not on the firewall runner (runs-on: ubuntu-latest)'] });
    expect(firewallJobAnswer(job('ubuntu-24.04-firewall'), undefined).reasons[0]).toMatch(/no \.github\/egress-firewall\.yaml: no policy is enforced/);
    expect(firewallJobAnswer(job('ubuntu-24.04-firewall'), 'mode: block\n').reasons[0]).toMatch(/does not read as the firewall format/);
    expect(firewallJobAnswer(job('${{ inputs.runner }}'), CURL).reasons[0]).toMatch(/expression/);
    expect(firewallJobAnswer({ ...job('ubuntu-latest'), calls: './.github/workflows/x.yml' }, CURL).reasons[0]).toMatch(/calls/);
  });

  it('caveats: matrix legs off the firewall; pull requests read their own copy of the file', () => {
    const answer = firewallJobAnswer({ ...job('${{ matrix.os }}', { os: ['ubuntu-24.04-firewall', 'windows-latest'] }), pullRequestTriggers: ['pull_request'] }, AIOHTTP);
    expect(answer.mode).toBe('block');
    expect(answer.caveats).toEqual([expect.stringContaining('windows-latest do not'), expect.stringContaining('a pull request can widen it')]);
  });
});

describe('firewallTamperFindings (a pull request that widens the file)', () => {
  it('enforce -> log, an added host, defaults turned back on, the marker removed', () => {
    const widened = OURS.replace('# managed-by: egressctl: written by egressctl sync\n', '').replace('mode: enforce', 'mode: log').replace('no-default-urls: true\n', '').replace('  - registry.npmjs.org\n', '  - registry.npmjs.org\n  - pastebin.com\n');
    expect(firewallTamperFindings(OURS, widened).map((finding) => [finding.input, finding.from, finding.to])).toEqual([
      ['marker', '# managed-by: egressctl', null],
      ['mode', 'enforce', 'log'],
      ['no-default-urls', 'true', 'false'],
      ['allow', null, 'pastebin.com'],
    ]);
  });

  it('deleting the file or breaking it is a finding; narrowing it or adding one is not', () => {
    expect(firewallTamperFindings(CURL, undefined)).toEqual([expect.objectContaining({ input: 'file', to: null })]);
    expect(firewallTamperFindings(CURL, 'mode: [\n')).toEqual([expect.objectContaining({ input: 'file' })]);
    expect(firewallTamperFindings(CURL, AIOHTTP)).toEqual([]);
    expect(firewallTamperFindings(undefined, CURL)).toEqual([]);
    // A host GitHub allows by default adds nothing.
    expect(firewallTamperFindings(CURL, `${CURL}  - codeload.github.com\n`)).toEqual([]);
  });
});
