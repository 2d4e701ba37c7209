/**
 * One policy change, two readers: the audit log (events, `egressctl history` text, the console's
 * history page) and the review (Review data, the pull request comment, `egressctl diff` text)
 * describe it with the same endpoints, keys, values, weakenings and words.
 */
import { describe, expect, it } from 'vitest';
import { historyFromCommits } from '../../src/history/events.js';
import { renderHistoryText } from '../../src/history/render.js';
import type { HistoryCommit, HistoryEvent } from '../../src/history/model.js';
import { ENDPOINT_LABELS, describePolicyChange, keyChangeText, type KeyChange } from '../../src/policy/change.js';
import { normalizePolicy } from '../../src/policy/normalize.js';
import { renderMarkdown, renderText, reviewChange, type PolicyChange } from '../../src/review/index.js';
import { groupHistory } from '../../src/server/console/model.js';
import { renderHistory } from '../../src/server/console/render-history.js';
import { attachmentsFile, inputFromFiles, memoryPolicy } from '../support/review.js';

const BEFORE = `egress-policy: block
allowed-endpoints:
  - github.com:443
disable-sudo: true
lockdown-mode:
  enabled: true
  detections: [Reverse-Shell, Privileged-Container]
`;

// Endpoints added (one listed twice, out of order), disable-sudo true -> false, a detection dropped.
const AFTER = `egress-policy: block
allowed-endpoints:
  - objects.githubusercontent.com:443
  - github.com:443
  - api.github.com:443
  - api.github.com
disable-sudo: false
lockdown-mode:
  enabled: true
  detections: [Privileged-Container]
`;

const EXPECTED: { endpointsAdded: string[]; endpointsRemoved: string[]; changed: KeyChange[] } = {
  endpointsAdded: ['api.github.com:443', 'objects.githubusercontent.com:443'],
  endpointsRemoved: [],
  changed: [
    { key: 'disable-sudo', before: true, after: false, weakens: true },
    { key: 'lockdown-mode.detections', before: ['Privileged-Container', 'Reverse-Shell'], after: ['Privileged-Container'], weakens: true },
  ],
};
const LINES = ['disable-sudo: true → false', 'lockdown detections: Reverse-Shell removed'];

function historyEvent(): HistoryEvent {
  const commit = (sha: string, date: string, message: string, change: HistoryCommit['changes'][number]): HistoryCommit => ({
    sha: sha.repeat(40),
    author: 'Alice',
    authorEmail: 'alice@example.com',
    date,
    message,
    changes: [change],
  });
  const commits = [
    commit('b', '2024-05-02T10:00:00Z', 'Loosen api (#7)', { status: 'M', path: 'policies/api.yml', oldBlob: '1'.repeat(40), newBlob: '2'.repeat(40) }),
    commit('a', '2024-05-01T10:00:00Z', 'Add api', { status: 'A', path: 'policies/api.yml', newBlob: '1'.repeat(40) }),
  ];
  const blobs = new Map([
    ['1'.repeat(40), BEFORE],
    ['2'.repeat(40), AFTER],
  ]);
  const updated = historyFromCommits(commits, blobs, {}).find((event) => event.type === 'updated');
  if (!updated) throw new Error('no updated event');
  return updated;
}

function reviewedPolicy(): { policy: PolicyChange; markdown: string; text: string } {
  const attachments = attachmentsFile({ repositories: { 'acme/api': 'api' } });
  const review = reviewChange(
    inputFromFiles({ 'policies/api.yml': BEFORE, 'attachments.yml': attachments }, 'main'),
    inputFromFiles({ 'policies/api.yml': AFTER, 'attachments.yml': attachments }, 'head'),
  );
  const policy = review.policies.find((change) => change.name === 'api');
  if (!policy) throw new Error('no policy change for api');
  return { policy, markdown: renderMarkdown(review), text: renderText(review) };
}

describe('one policy change, described once', () => {
  it('gives the history and the review the same endpoints, keys and weakenings', () => {
    const diff = historyEvent().diff;
    const { policy } = reviewedPolicy();
    expect({ endpointsAdded: diff?.endpointsAdded, endpointsRemoved: diff?.endpointsRemoved, changed: diff?.changed }).toEqual(EXPECTED);
    expect({ endpointsAdded: policy.endpointsAdded, endpointsRemoved: policy.endpointsRemoved, changed: policy.changed }).toEqual(EXPECTED);
    // The review's risks come from the same weakening flags.
    expect(policy.risks).toEqual(expect.arrayContaining(['hardening-weakened', 'lockdown-weakened']));
  });

  it('words it the same in the history text, the console, the comment and the diff text', () => {
    const event = historyEvent();
    const historyText = renderHistoryText([event]);
    const console = renderHistory({
      history: { entries: groupHistory([event]), truncatedAt: undefined },
      policy: 'api',
      policyExists: true,
      page: 1,
      links: { githubUrl: 'https://github.com', repository: undefined },
      now: new Date('2024-05-03T00:00:00Z'),
    }).content.value;
    const { markdown, text } = reviewedPolicy();
    expect((event.diff?.changed ?? []).map(keyChangeText)).toEqual(LINES);
    for (const line of LINES) {
      expect(historyText).toContain(`! ${line}`);
      expect(console).toContain(`⚠️ ${line}`);
      expect(markdown).toContain(`⚠️ ${line}`);
      expect(text).toContain(`! ${line}`);
    }
    for (const endpoint of EXPECTED.endpointsAdded) {
      expect(historyText).toContain(`${ENDPOINT_LABELS.added} ${endpoint}`);
      expect(console).toContain(`${ENDPOINT_LABELS.added} <code>${endpoint}</code>`);
      expect(markdown).toContain(`${ENDPOINT_LABELS.added} ${endpoint}`);
      expect(text).toContain(`${ENDPOINT_LABELS.added} ${endpoint}`);
    }
  });
});

describe('normalizePolicy', () => {
  it('ignores entry order and repeats, keeps extends as written', () => {
    const a = memoryPolicy('api', { endpoints: ['b.com:443', 'a.com:443', 'b.com:443'], extends: ['core', 'base'] });
    const b = memoryPolicy('api', { endpoints: ['a.com:443', 'b.com:443'], extends: ['core', 'base'] });
    expect(normalizePolicy(a)).toEqual(normalizePolicy(b));
    expect(normalizePolicy(a)).toMatchObject({ 'allowed-endpoints': ['a.com:443', 'b.com:443'], extends: ['core', 'base'] });
  });
});

describe('describePolicyChange', () => {
  it('marks block -> audit and turning lockdown off as weakenings, and lists a reordered extends', () => {
    const before = { 'egress-policy': 'block' as const, 'allowed-endpoints': [], extends: ['a', 'b'], 'lockdown-mode': { enabled: true, detections: ['Reverse-Shell' as const] } };
    const after = { 'egress-policy': 'audit' as const, 'allowed-endpoints': [], extends: ['b', 'a'] };
    expect(describePolicyChange(before, after).changed).toEqual([
      { key: 'egress-policy', before: 'block', after: 'audit', weakens: true },
      { key: 'extends', before: ['a', 'b'], after: ['b', 'a'], weakens: false },
      { key: 'lockdown-mode', before: true, after: null, weakens: true },
    ]);
  });

  it('no-default-urls (GitHub\'s firewall only): turning it off or unsetting it weakens, turning it on does not', () => {
    const on = { 'egress-policy': 'block' as const, 'allowed-endpoints': [], 'no-default-urls': true };
    const off = { 'egress-policy': 'block' as const, 'allowed-endpoints': [], 'no-default-urls': false };
    const unset = { 'egress-policy': 'block' as const, 'allowed-endpoints': [] };
    expect(describePolicyChange(on, off).changed).toEqual([{ key: 'no-default-urls', before: true, after: false, weakens: true }]);
    expect(describePolicyChange(on, unset).changed).toEqual([{ key: 'no-default-urls', before: true, after: null, weakens: true }]);
    expect(describePolicyChange(unset, on).changed).toEqual([{ key: 'no-default-urls', before: null, after: true, weakens: false }]);
    expect(keyChangeText(describePolicyChange(on, off).changed[0]!)).toBe('no-default-urls: true → false');
  });

  it('describes a created policy by its endpoints alone', () => {
    expect(describePolicyChange(undefined, { 'egress-policy': 'block', 'allowed-endpoints': ['a.com:443'], 'disable-sudo': true })).toEqual({
      endpointsAdded: ['a.com:443'],
      endpointsRemoved: [],
      changed: [],
    });
  });
});
