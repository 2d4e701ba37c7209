import { describe, expect, it } from 'vitest';
import { SINKHOLE_ADDRESS, parseHardenRunnerLog } from '../../src/baselines/log.js';
import { fixture } from '../support/baselines.js';

describe('parseHardenRunnerLog', () => {
  it('extracts named endpoints, IP-only evidence and processes from an audit-mode job log', () => {
    const result = parseHardenRunnerLog(fixture('audit-job.txt'), 'audit-job.txt');
    expect(result.errors).toEqual([]);
    expect(result.warnings).toEqual([]);
    expect(result.value.endpoints).toEqual([
      'codeload.github.com:443',
      'github.com:443',
      'objects.githubusercontent.com:443',
      'postgres.test.internal.acme.example:5432',
      'productionresultssa18.blob.core.windows.net:443',
      'registry.npmjs.org:443',
      'results-receiver.actions.githubusercontent.com:443',
    ]);
    // DNS servers are called by IP with no name: evidence only.
    expect(result.value.addresses).toEqual(['168.63.129.16:53', '8.8.8.8:53']);
    expect(result.value.blocked).toEqual([]);
    // The call had an empty domain; the earlier `domain resolved` line for its IP names it.
    expect(result.value.namedFromResolution).toEqual(['objects.githubusercontent.com:443']);
    expect(result.value.processes['github.com:443']).toEqual(['git-remote-https']);
    expect(result.value.processes['168.63.129.16:53']).toEqual(['systemd-resolved']);
    // The agent's own timestamps, not the time the post step printed them.
    expect(result.value.startedAt).toBe('2026-11-20T10:02:04Z');
    expect(result.value.endedAt).toBe('2026-11-20T10:03:11Z');
  });

  it('reads a colored agent line (ANSI codes) like any other', () => {
    const text = fixture('audit-job.txt');
    expect(text).toContain('\u001b[32mFri, 20 Nov 2026 10:02:09 GMT:domain resolved: registry.npmjs.org.');
    const withoutColor = parseHardenRunnerLog(text.replaceAll('\u001b[32m', '').replaceAll('\u001b[36;1m', '').replaceAll('\u001b[0m', ''), 'x');
    expect(parseHardenRunnerLog(text, 'x').value).toEqual(withoutColor.value);
  });

  it('gives the same result for CRLF line endings', () => {
    const text = fixture('audit-job.txt');
    expect(parseHardenRunnerLog(text.replace(/\n/g, '\r\n'), 'x').value).toEqual(parseHardenRunnerLog(text, 'x').value);
  });

  it('reads the raw agent.log (agent timestamps only, no GitHub prefix) and workflow-command markers', () => {
    const text = [
      'Fri, 20 Nov 2026 10:02:09 GMT:domain resolved: registry.npmjs.org., ip address: 104.16.24.35, TTL: 300',
      'Fri, 20 Nov 2026 10:02:09 GMT:endpoint called ip address:port 104.16.24.35:443, domain: registry.npmjs.org., pid: 2301, process: node',
      '##[debug]Fri, 20 Nov 2026 10:02:10 GMT:endpoint called ip address:port 140.82.121.6:443, domain: API.GitHub.com., pid: 2302, process: gh',
      '##[group]Run something else',
      'endpoint called ip address:port 52.1.2.3:8443, domain: hooks.example.com., pid: 1, process: curl',
    ].join('\n');
    const result = parseHardenRunnerLog(text, 'agent.log');
    expect(result.errors).toEqual([]);
    expect(result.value.endpoints).toEqual(['api.github.com:443', 'hooks.example.com:8443', 'registry.npmjs.org:443']);
    expect(result.value.agentLines).toBe(4);
    expect(result.value.startedAt).toBe('2026-11-20T10:02:09Z');
    expect(result.value.endedAt).toBe('2026-11-20T10:02:10Z');
  });

  it('reads the mode the job ran in from the configuration Harden-Runner prints, else from blocked names (issue 23)', () => {
    // The pre step prints `[!] Current Configuration:` and the configuration as one JSON line
    // (step-security/harden-runner, after its fallback to audit when the policy store fails).
    const configuration = (mode: string) =>
      `2026-11-21T08:15:01.0000000Z [!] Current Configuration: \n2026-11-21T08:15:01.0000001Z {"repo":"acme/api","egress_policy":"${mode}","allowed_endpoints":"github.com:443"}\n`;
    expect(parseHardenRunnerLog(configuration('block') + fixture('audit-job.txt')).value.mode).toBe('block');
    expect(parseHardenRunnerLog(configuration('audit') + fixture('audit-job.txt')).value.mode).toBe('audit');
    // No configuration line: names the agent blocked mean block mode; otherwise the log does not say.
    expect(parseHardenRunnerLog(fixture('block-job.txt')).value.mode).toBe('block');
    expect(parseHardenRunnerLog(fixture('audit-job.txt')).value.mode).toBeUndefined();
    // A step printing look-alike JSON elsewhere does not count.
    expect(parseHardenRunnerLog(`{"egress_policy":"block"}\n${fixture('audit-job.txt')}`).value.mode).toBeUndefined();
  });

  it('takes the mode of the first Harden-Runner step (the one that starts the agent) and warns when a later step prints another', () => {
    // two-harden-steps.txt: a block step, then a composite action's audit step, which prints its
    // configuration and "Agent already installed, skipping installation" (step-security/harden-runner
    // src/setup.ts); the agent.log printed by the post step says EgressPolicy:block.
    const result = parseHardenRunnerLog(fixture('two-harden-steps.txt'), 'two.txt');
    expect(result.errors).toEqual([]);
    expect(result.value.mode).toBe('block');
    expect(result.value.endpoints).toEqual(['registry.npmjs.org:443']);
    expect(result.value.blocked).toEqual(['telemetry.example-analytics.io']);
    const warning = result.warnings.find((item) => item.code === 'baseline/configuration-differs');
    expect(warning).toBeDefined();
    expect(warning!.line).toBe(24);
    expect(warning!.message).toMatch(/egress_policy "audit".*line 10.*"block"/);
    // The same configuration printed twice is no warning.
    const twice = fixture('two-harden-steps.txt').replace('"allowed_endpoints":"","egress_policy":"audit"', '"allowed_endpoints":"","egress_policy":"block"');
    const same = parseHardenRunnerLog(twice, 'two.txt');
    expect(same.value.mode).toBe('block');
    expect(same.warnings.filter((item) => item.code === 'baseline/configuration-differs')).toEqual([]);
  });

  it('a first step that falls back to audit after printing its configuration ran in audit mode', () => {
    // setup.ts prints the configuration, then in block mode reads the cache service's URL; when that
    // fails it says "Switching egress-policy to audit mode" and installs the agent in audit mode.
    const log = fixture('two-harden-steps.txt').replace(
      '2026-11-22T09:00:01.1000000Z RUNNER_NAME',
      '2026-11-22T09:00:01.0100000Z cache version: v2\n2026-11-22T09:00:01.0200000Z Unable to fetch cacheURL Error: connect ECONNREFUSED\n2026-11-22T09:00:01.0300000Z Switching egress-policy to audit mode\n2026-11-22T09:00:01.1000000Z RUNNER_NAME',
    );
    const result = parseHardenRunnerLog(log, 'two.txt');
    expect(result.value.mode).toBe('audit');
    // The later (audit) step then agrees with what the agent ran: no warning.
    expect(result.warnings.filter((item) => item.code === 'baseline/configuration-differs')).toEqual([]);
    // A later step's own fallback does not change the mode the agent was started with.
    const later = fixture('two-harden-steps.txt').replace('Agent already installed', 'Switching egress-policy to audit mode\n2026-11-22T09:00:02.6500000Z Agent already installed');
    expect(parseHardenRunnerLog(later, 'two.txt').value.mode).toBe('block');
  });

  it('records block-mode refusals as blocked and never as endpoints (sinkhole calls included)', () => {
    const result = parseHardenRunnerLog(fixture('block-job.txt'), 'block-job.txt');
    expect(result.errors).toEqual([]);
    expect(result.value.endpoints).toEqual(['github.com:443', 'registry.npmjs.org:443']);
    expect(result.value.blocked).toEqual(['203.0.113.50', 'telemetry.example-analytics.io', 'uploads.evil-mirror.net']);
    expect(result.value.addresses).toEqual([]);
    expect(result.value.blocked).not.toContain(SINKHOLE_ADDRESS);
  });

  it('treats a call to the sinkhole address as blocked even before its "domain not allowed" line (the agent logs asynchronously)', () => {
    const text = [
      `endpoint called ip address:port ${SINKHOLE_ADDRESS}:443, domain: exfil.example.org., pid: 77, process: curl`,
      'domain not allowed: exfil.example.org.',
    ].join('\n');
    const result = parseHardenRunnerLog(text, 'x');
    expect(result.value.endpoints).toEqual([]);
    expect(result.value.addresses).toEqual([]);
    expect(result.value.blocked).toEqual(['exfil.example.org']);
  });

  it('keeps an IP-only call as evidence when no earlier resolution names it (a later one does not count)', () => {
    const text = [
      '2026-11-20T10:00:00.0000000Z Fri, 20 Nov 2026 10:00:00 GMT:endpoint called ip address:port 93.184.216.34:443, domain: , pid: 10, process: curl',
      '2026-11-20T10:00:01.0000000Z Fri, 20 Nov 2026 10:00:01 GMT:domain resolved: example.com., ip address: 93.184.216.34, TTL: 30',
    ].join('\n');
    const result = parseHardenRunnerLog(text, 'x');
    expect(result.value.endpoints).toEqual([]);
    expect(result.value.addresses).toEqual(['93.184.216.34:443']);
  });

  it('warns about a name no allow-list can hold and keeps the call as IP-only evidence', () => {
    const text = 'endpoint called ip address:port 10.0.0.7:80, domain: _http._tcp.local., pid: 5, process: avahi\n';
    const result = parseHardenRunnerLog(text, 'job.txt');
    expect(result.errors).toEqual([]);
    expect(result.warnings).toMatchObject([{ code: 'baseline/unusable-domain', file: 'job.txt', line: 1, column: 1 }]);
    expect(result.value.addresses).toEqual(['10.0.0.7:80']);
  });

  it('says clearly when a log holds no agent output', () => {
    const result = parseHardenRunnerLog(fixture('no-agent.txt'), 'no-agent.txt');
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]).toMatchObject({ code: 'baseline/no-agent-log', file: 'no-agent.txt', line: 1, column: 1 });
    expect(result.errors[0]?.message).toMatch(/no Harden-Runner agent log found/);
    expect(parseHardenRunnerLog('', 'empty').errors[0]?.code).toBe('baseline/no-agent-log');
  });

  it('ignores look-alike text that is not an agent line', () => {
    const text = '2026-11-20T10:00:00.0000000Z echo "Post Harden runner: endpoint called ip address:port 140.82.114.4:443"\n';
    expect(parseHardenRunnerLog(text, 'x').errors[0]?.code).toBe('baseline/no-agent-log');
  });
});
