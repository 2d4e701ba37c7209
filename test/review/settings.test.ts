/**
 * Settings other than mode and endpoints (passthrough flags, lockdown mode and its detections)
 * are part of every scope's transition, and each weakening is a risk: in the Review, in the
 * comment, and in `egressctl diff --format json`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderMarkdown, reviewChange, type Review, type ScopeChange } from '../../src/review/index.js';
import { runCli } from '../support/cli.js';
import { makeTempRepo, type TempRepo } from '../support/policy-repo.js';
import { attachmentsFile, inputFromFiles, markdownProblems, policyFile } from '../support/review.js';

const LOCKDOWN_ALL = 'lockdown-mode:\n  enabled: true\n  detections: [Privileged-Container, Reverse-Shell]\n';
const LOCKDOWN_ONE = 'lockdown-mode:\n  enabled: true\n  detections: [Privileged-Container]\n';

/** Base: hardened and locked-down policies. Head: workflows moved off them, a detection dropped. */
const BASE_FILES: Record<string, string> = {
  'policies/hardened.yml': policyFile({ endpoints: ['github.com:443'], flags: { 'disable-sudo-and-containers': true, 'disable-sudo': true } }),
  'policies/plain.yml': policyFile({ endpoints: ['github.com:443'] }),
  'policies/quiet.yml': policyFile({ endpoints: ['github.com:443'], flags: { 'disable-file-monitoring': true, 'disable-telemetry': true } }),
  'policies/locked.yml': `${policyFile({ endpoints: ['github.com:443'] })}${LOCKDOWN_ALL}`,
  'attachments.yml': attachmentsFile({
    workflows: {
      'acme/api/.github/workflows/sudo.yml': 'hardened',
      'acme/api/.github/workflows/monitor.yml': 'plain',
      'acme/api/.github/workflows/exempt.yml': 'locked',
      'acme/api/.github/workflows/detections.yml': 'locked',
    },
  }),
};
const HEAD_FILES: Record<string, string> = {
  ...BASE_FILES,
  'policies/locked.yml': `${policyFile({ endpoints: ['github.com:443'] })}${LOCKDOWN_ONE}`,
  'attachments.yml': attachmentsFile({
    workflows: {
      'acme/api/.github/workflows/sudo.yml': 'plain',
      'acme/api/.github/workflows/monitor.yml': 'quiet',
      'acme/api/.github/workflows/exempt.yml': 'plain',
      'acme/api/.github/workflows/detections.yml': 'locked',
    },
  }),
};

function byWorkflow(review: { scopes: ScopeChange[] }, file: string): ScopeChange {
  const scope = review.scopes.find((change) => change.key === `acme/api/.github/workflows/${file}`);
  if (!scope) throw new Error(`no scope change for ${file}`);
  return scope;
}

describe('settings in the transition', () => {
  let review: Review;
  beforeAll(() => {
    review = reviewChange(inputFromFiles(BASE_FILES, 'main'), inputFromFiles(HEAD_FILES, 'head'));
  });

  it('lists every flag that differs and flags the weakening ones', () => {
    // Same mode and endpoints: only the flags differ, and the scope still changes.
    const sudo = byWorkflow(review, 'sudo.yml');
    expect(sudo.added).toEqual([]);
    expect(sudo.removed).toEqual([]);
    expect(sudo.settings).toEqual([
      { key: 'disable-sudo-and-containers', before: true, after: null, weakens: true },
      { key: 'disable-sudo', before: true, after: null, weakens: true },
    ]);
    expect(sudo.risks).toEqual(['hardening-weakened']);
    const monitor = byWorkflow(review, 'monitor.yml');
    expect(monitor.settings).toEqual([
      { key: 'disable-file-monitoring', before: null, after: true, weakens: true },
      { key: 'disable-telemetry', before: null, after: true, weakens: true },
    ]);
    expect(monitor.risks).toEqual(['hardening-weakened']);
  });

  it('flags a scope exempted from lockdown and a removed detection', () => {
    const exempt = byWorkflow(review, 'exempt.yml');
    expect(exempt.settings).toEqual([{ key: 'lockdown-mode', before: true, after: null, weakens: true }]);
    expect(exempt.risks).toEqual(['lockdown-weakened']);
    const detections = byWorkflow(review, 'detections.yml');
    expect(detections.settings).toEqual([
      { key: 'lockdown-mode.detections', before: ['Privileged-Container', 'Reverse-Shell'], after: ['Privileged-Container'], weakens: true },
    ]);
    expect(detections.risks).toEqual(['lockdown-weakened']);
    expect(review.policies.find((policy) => policy.name === 'locked')?.risks).toEqual(['lockdown-weakened']);
    expect(review.risks.map((risk) => [risk.kind, risk.scopes])).toEqual([
      ['lockdown-weakened', 2],
      ['hardening-weakened', 2],
    ]);
  });

  it('does not call a strengthening a risk', () => {
    const reverse = reviewChange(inputFromFiles(HEAD_FILES, 'main'), inputFromFiles(BASE_FILES, 'head'));
    const sudo = byWorkflow(reverse, 'sudo.yml');
    expect(sudo.settings.map((change) => [change.key, change.weakens])).toEqual([
      ['disable-sudo-and-containers', false],
      ['disable-sudo', false],
    ]);
    expect(reverse.risks).toEqual([]);
  });

  it('shows the settings and the risks in the comment', () => {
    const markdown = renderMarkdown(review);
    expect(markdownProblems(markdown)).toEqual([]);
    expect(markdown).toContain('- ⚠️ **hardening weakened**: 2 scopes');
    expect(markdown).toContain('- ⚠️ **lockdown weakened**: policy `locked`; 2 scopes');
    const transitions = markdown.split('\n').filter((line) => line.startsWith('| ') && /^\| \d+ \|/.test(line));
    expect(transitions.join('\n')).toContain('⚠️ disable-sudo-and-containers: true → unset<br>⚠️ disable-sudo: true → unset');
    expect(transitions.join('\n')).toContain('⚠️ lockdown-mode: true → unset');
    expect(transitions.join('\n')).toContain('⚠️ lockdown detections: Reverse-Shell removed');
  });
});

describe('egressctl diff --format json', () => {
  let repo: TempRepo;
  let base: string;
  let head: string;
  beforeAll(() => {
    repo = makeTempRepo(BASE_FILES, { git: true });
    base = repo.commit('base');
    repo.write(HEAD_FILES);
    head = repo.commit('head');
  });
  afterAll(() => repo.cleanup());

  it('carries the settings of each transition and the weakening risks', async () => {
    const run = await runCli(['diff', '-C', repo.dir, base, head, '--format', 'json']);
    expect(run.stderr).toBe('');
    const json = JSON.parse(run.stdout) as Review;
    expect(byWorkflow(json, 'sudo.yml').settings).toEqual([
      { key: 'disable-sudo-and-containers', before: true, after: null, weakens: true },
      { key: 'disable-sudo', before: true, after: null, weakens: true },
    ]);
    expect(byWorkflow(json, 'exempt.yml').risks).toEqual(['lockdown-weakened']);
    expect(json.scopeGroups.every((group) => Array.isArray(group.settings))).toBe(true);
    expect(json.risks.map((risk) => risk.kind)).toEqual(['lockdown-weakened', 'hardening-weakened']);
    expect(json.summary.risks).toEqual({ 'lockdown-weakened': { policies: 1, scopes: 2 }, 'hardening-weakened': { policies: 0, scopes: 2 } });
  });
});
