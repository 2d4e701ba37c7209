/** A changed end date is a described change (history and review say it, and whether it keeps an exception longer). */
import { describe, expect, it } from 'vitest';
import { describePolicyChange, keyChangeText } from '../../src/policy/change.js';
import type { PolicyContent } from '../../src/policy/normalize.js';

const policy = (expiry: Record<string, string> | undefined, endpoints = ['a.example.com:443', 'b.example.com:443']): PolicyContent => ({
  'egress-policy': 'block',
  'allowed-endpoints': endpoints,
  ...(expiry ? { 'endpoint-expiry': expiry } : {}),
});

describe('expiry in policy changes', () => {
  it('describes a later date and a dropped date as weakening, an earlier date and a new date as not', () => {
    const before = policy({ 'a.example.com:443': '2026-03-31', 'b.example.com:443': '2026-03-31' });
    const after = policy({ 'a.example.com:443': '2026-04-30' });
    const { changed } = describePolicyChange(before, after);
    expect(changed.map((change) => [keyChangeText(change), change.weakens])).toEqual([
      ['expires a.example.com:443: 2026-03-31 → 2026-04-30', true],
      ['expires b.example.com:443: 2026-03-31 → unset', true],
    ]);
    expect(describePolicyChange(after, before).changed.map((change) => change.weakens)).toEqual([false, false]);
  });

  it('says nothing about dates of endpoints the change adds or removes', () => {
    const { changed, endpointsRemoved } = describePolicyChange(policy({ 'b.example.com:443': '2026-03-31' }), policy(undefined, ['a.example.com:443']));
    expect(endpointsRemoved).toEqual(['b.example.com:443']);
    expect(changed).toEqual([]);
  });
});
