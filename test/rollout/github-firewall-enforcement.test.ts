/**
 * The firewall's answers for coverage (per job: what it enforces, why not) and for the tamper
 * check (what a pull request's `.github/egress-firewall.yaml` allows beyond the store), on the files of
 * adopters (curl/curl, aio-libs/aiohttp) and ours.
 */
import { describe, expect, it } from 'vitest';
import { analyzeRunsOn } from '../../src/rollout/workflow-jobs.js';
import { firewallJobAnswer, firewallTamperFindings, type FirewallFileContent } from '../../src/rollout/github-firewall/index.js';

const CURL = '# https://github.com/github-early-access/actions-native-egress-firewall\n\nmode: enforce\nallow:\n  - api.github.com\n';
const AIOHTTP = 'mode: enforce\n';
const OURS = "# GitHub's native egress firewall.\n# managed-by: egressctl: written by egressctl sync\nmode: enforce\nno-default-urls: true\nallow:\n  - github.com\n  - registry.npmjs.org\n";

describe('firewallJobAnswer (coverage)', () => {
  const job = (runsOn: unknown, matrix?: unknown) => ({ runner: analyzeRunsOn(runsOn as never, matrix as never) });

  it("a larger runner on the firewall image, named in github-firewall.larger-runners, by label or in a runs-on object", () => {
    const larger = ['acme-firewall-16core'];
    expect(firewallJobAnswer(job('acme-firewall-16core'), CURL).mode).toBeNull();
    expect(firewallJobAnswer(job('ACME-Firewall-16core'), CURL, larger)).toEqual({ mode: 'block', reasons: [], caveats: [] });
    expect(firewallJobAnswer(job({ group: 'big-runners', labels: ['acme-firewall-16core'] }), CURL, larger).mode).toBe('block');
    expect(firewallJobAnswer(job('acme-linux-16core'), CURL, larger).mode).toBeNull();
  });

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

describe('firewallTamperFindings (a pull request\'s file against the store\'s)', () => {
  /** The store wants enforce, no-default-urls, and two hosts (what OURS says). */
  const STORE: FirewallFileContent = { mode: 'enforce', allow: ['github.com', 'registry.npmjs.org'], noDefaultUrls: true };

  it('enforce -> log, an added host, defaults turned back on, the marker removed: old -> new with the line', () => {
    const widened = OURS.replace('# managed-by: egressctl: written by egressctl sync\n', '').replace('mode: enforce', 'mode: log').replace('no-default-urls: true\n', '').replace('  - registry.npmjs.org\n', '  - registry.npmjs.org\n  - pastebin.com\n');
    expect(firewallTamperFindings(OURS, widened, STORE).map((finding) => [finding.input, finding.from, finding.to, finding.line])).toEqual([
      ['marker', '# managed-by: egressctl', null, 1],
      ['mode', 'enforce', 'log', 2],
      ['no-default-urls', 'true', 'false', 2],
      ['allow', 'github.com registry.npmjs.org', 'github.com pastebin.com registry.npmjs.org', 6],
    ]);
  });

  it('judged against the store, not the base: a file the store widened passes, one wider than the store fails', () => {
    const storeWidened: FirewallFileContent = { ...STORE, allow: [...STORE.allow, 'ghcr.io'] };
    const synced = `${OURS}  - ghcr.io\n`;
    expect(firewallTamperFindings(OURS, synced, storeWidened)).toEqual([]);
    expect(firewallTamperFindings(OURS, synced, STORE)).toEqual([expect.objectContaining({ input: 'allow', why: 'allows hosts the store does not: ghcr.io' })]);
    // The store wants none (no policy applies): nothing to judge.
    expect(firewallTamperFindings(OURS, undefined, null)).toEqual([]);
  });

  it("deleting or breaking egressctl's file is a finding; narrowing it, or adding a file as strict as the store, is not", () => {
    expect(firewallTamperFindings(OURS, undefined, STORE)).toEqual([expect.objectContaining({ input: 'file', to: null })]);
    expect(firewallTamperFindings(OURS, 'mode: [\n', STORE)).toEqual([expect.objectContaining({ input: 'marker' }), expect.objectContaining({ input: 'file' })]);
    expect(firewallTamperFindings(OURS, OURS.replace('  - registry.npmjs.org\n', ''), STORE)).toEqual([]);
    expect(firewallTamperFindings(undefined, AIOHTTP.replace('\n', '\nno-default-urls: true\n'), STORE)).toEqual([]);
  });

  it("adopters' hand-written files (curl, aiohttp): a host GitHub allows by default adds nothing; what was already theirs stays theirs", () => {
    const curlStore: FirewallFileContent = { mode: 'enforce', allow: [], noDefaultUrls: false };
    expect(firewallTamperFindings(CURL, `${CURL}  - codeload.github.com\n`, curlStore)).toEqual([]);
    // api.github.com was in curl's file before the store said otherwise: drift, not this change.
    expect(firewallTamperFindings(CURL, CURL.replace('# https', '# see https'), curlStore)).toEqual([]);
    expect(firewallTamperFindings(CURL, `${CURL}  - uploads.github.com\n`, curlStore)).toEqual([expect.objectContaining({ input: 'allow', why: 'allows hosts the store does not: uploads.github.com', line: 6 })]);
    expect(firewallTamperFindings(AIOHTTP, undefined, curlStore)).toEqual([expect.objectContaining({ input: 'file' })]);
  });
});
