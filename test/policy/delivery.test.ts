/**
 * `delivery: variables` (docs/reconciliation.md): the names and value of the variables, and the
 * `with:` expressions a managed step reads them through, evaluated by GitHub's own expression
 * engine for every combination of present and missing env and vars.
 */
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  AUDIT_DEFAULT_VALUE,
  DELIVERED_INPUTS,
  deliveryExpression,
  deliveryFits,
  fallbackTightening,
  MAX_EXPRESSION_LENGTH,
  POLICY_VARIABLE,
  REPOSITORY_POLICY_VARIABLE,
  variableChain,
  variableValue,
  workflowVariableName,
  writtenChainOf,
} from '../../src/policy/delivery.js';
import { DEFAULT_SETTINGS, type CompiledPolicy } from '../../src/policy/model.js';
import { hardenWorkflow } from '../../src/rollout/harden.js';
import { newWorkflowErrors } from '../../src/rollout/workflow-check.js';
import { evaluateInput } from '../support/expressions.js';

const apiBlock: CompiledPolicy = {
  name: 'api-block',
  'egress-policy': 'block',
  'allowed-endpoints': ['github.com:443', 'api.github.com:443'],
  'disable-sudo-and-containers': true,
};
const releaseBlock: CompiledPolicy = { name: 'release-block', 'egress-policy': 'block', 'allowed-endpoints': ['fulcio.sigstore.dev:443'], 'disable-telemetry': true };
const orgAudit: CompiledPolicy = { name: 'org-audit', 'egress-policy': 'audit', 'allowed-endpoints': [] };

describe('variable names and values', () => {
  it('names a workflow variable after its file', () => {
    expect(workflowVariableName('release.yml')).toBe('EGRESSCTL_WF_RELEASE_YML');
    expect(workflowVariableName('.github/workflows/build-and-test.v2.yaml')).toBe('EGRESSCTL_WF_BUILD_AND_TEST_V2_YAML');
    expect(POLICY_VARIABLE).toBe('EGRESSCTL_POLICY');
  });

  it('holds compact JSON with every key, in the documented order', () => {
    expect(variableValue(apiBlock)).toBe(
      '{"egress-policy":"block","allowed-endpoints":"api.github.com:443 github.com:443","disable-sudo-and-containers":true,"disable-file-monitoring":false,"disable-telemetry":false,"policy":"api-block"}',
    );
    expect(JSON.parse(AUDIT_DEFAULT_VALUE)).toEqual({
      'egress-policy': 'audit',
      'allowed-endpoints': '',
      'disable-sudo-and-containers': false,
      'disable-file-monitoring': false,
      'disable-telemetry': false,
    });
  });
});

type Context = Record<string, string>;

describe('the managed step reads its inputs from variables', () => {
  const text = 'on: push\njobs:\n  release:\n    runs-on: ubuntu-latest\n    steps:\n      - run: make\n';
  const desired = variableValue(releaseBlock);
  const chain = variableChain('.github/workflows/release.yml', desired);
  const plan = { kind: 'harden-runner' as const, pin: DEFAULT_SETTINGS.hardenRunner, mode: 'block' as const, endpoints: ['fulcio.sigstore.dev:443'], variables: chain, managedBy: { policy: 'release-block' } };
  const result = hardenWorkflow(text, { file: 'release.yml', plan: () => plan });
  const inputs = (parse(result.output) as { jobs: { release: { steps: Array<{ with: Record<string, string> }> } } }).jobs.release.steps[0]?.with ?? {};

  it("writes one expression per input, exactly as documented, which GitHub's parser accepts", async () => {
    expect(result.errors).toEqual([]);
    expect(Object.keys(inputs)).toEqual([...DELIVERED_INPUTS]);
    expect(inputs['egress-policy']).toBe(
      `\${{ fromJSON(runner.environment == 'self-hosted' && env.EGRESSCTL_POLICY || vars.EGRESSCTL_WF_RELEASE_YML || vars.EGRESSCTL_REPO_POLICY || vars.EGRESSCTL_POLICY || '${desired}')['egress-policy'] }}`,
    );
    expect(await newWorkflowErrors('release.yml', text, result.output)).toEqual([]);
    // Idempotent.
    const again = hardenWorkflow(result.output, { file: 'release.yml', plan: () => plan });
    expect(again.output).toBe(result.output);
  });

  // Every combination: the hook's env, the workflow's variable, the repository/organization variable, on both kinds of runner.
  const sources = [
    { name: 'env', value: variableValue(apiBlock) },
    { name: 'workflow var', value: variableValue(orgAudit) },
    { name: 'policy var', value: variableValue(apiBlock) },
  ];
  for (const environment of ['github-hosted', 'self-hosted']) {
    for (let mask = 0; mask < 8; mask++) {
      const present = sources.filter((_, bit) => (mask & (1 << bit)) !== 0 && (bit !== 0 || environment === 'self-hosted'));
      it(`gives Harden-Runner valid inputs on a ${environment} runner with ${sources.filter((_, bit) => (mask & (1 << bit)) !== 0).map((source) => source.name).join(' + ') || 'nothing set'}`, () => {
        const env: Context = mask & 1 ? { EGRESSCTL_POLICY: sources[0]!.value } : {};
        const vars: Context = {
          ...(mask & 2 ? { EGRESSCTL_WF_RELEASE_YML: sources[1]!.value } : {}),
          ...(mask & 4 ? { EGRESSCTL_POLICY: sources[2]!.value } : {}),
        };
        // env counts only where the hook writes it; with nothing set, the desired policy (never audit by default).
        const winner = JSON.parse(present[0]?.value ?? desired) as Record<string, string | boolean>;
        for (const input of DELIVERED_INPUTS) {
          const got = evaluateInput(inputs[input] ?? '', { env, vars, runner: { os: 'Linux', environment } });
          expect(got, input).toBe(String(winner[input]));
          // What Harden-Runner accepts: egress-policy audit|block, booleans as getBooleanInput reads them.
          if (input === 'egress-policy') expect(['audit', 'block']).toContain(got);
          else if (input !== 'allowed-endpoints') expect(['true', 'false']).toContain(got);
        }
      });
    }
  }

  it('a chain without a fallback (nothing attached) still ends in the audit default', () => {
    const bare = variableChain('.github/workflows/ci.yml');
    const value = `\${{ fromJSON(vars.EGRESSCTL_WF_CI_YML || vars.EGRESSCTL_POLICY || '${AUDIT_DEFAULT_VALUE}')['egress-policy'] }}`;
    expect(evaluateInput(value)).toBe('audit');
    expect(bare.fallback).toBeUndefined();
    expect(POLICY_VARIABLE).toBe('EGRESSCTL_POLICY');
  });
});

describe('the chain per deciding scope', () => {
  const fallback = variableValue(apiBlock);
  it('workflow: its variable only; repository: then EGRESSCTL_REPO_POLICY; organization: then both, EGRESSCTL_POLICY last', () => {
    expect(variableChain('release.yml', fallback, { scope: 'workflow' }).vars).toEqual(['EGRESSCTL_WF_RELEASE_YML']);
    expect(variableChain('release.yml', fallback, { scope: 'repository' }).vars).toEqual(['EGRESSCTL_WF_RELEASE_YML', REPOSITORY_POLICY_VARIABLE]);
    expect(variableChain('release.yml', fallback, { scope: 'organization' }).vars).toEqual(['EGRESSCTL_WF_RELEASE_YML', REPOSITORY_POLICY_VARIABLE, POLICY_VARIABLE]);
    expect(REPOSITORY_POLICY_VARIABLE).toBe('EGRESSCTL_REPO_POLICY');
  });

  it('the expression length limit is judged on the chain written: the organization chain, with both broader names, is the longest', () => {
    // A fallback just short enough for a repository's chain is too long by `vars.EGRESSCTL_POLICY || ` for the organization chain.
    const base = variableChain('ci.yml', '', { scope: 'repository' });
    const room = MAX_EXPRESSION_LENGTH - (deliveryExpression('egress-policy', base, 'by-runner-os').length - '${{  }}'.length);
    const filler = `{"egress-policy":"block","allowed-endpoints":"${'a'.repeat(room - 140)}"`;
    const padded = `${filler}${' '.repeat(room - filler.length - 1)}}`;
    expect(padded.length).toBe(room);
    expect(deliveryFits(variableChain('ci.yml', padded, { scope: 'repository' }))).toBe(true);
    expect(deliveryFits(variableChain('ci.yml', padded, { scope: 'workflow' }))).toBe(true);
    expect(deliveryFits(variableChain('ci.yml', padded, { scope: 'organization' }))).toBe(false);
  });

  it('writtenChainOf reads back the names and the literal of a written expression', () => {
    const chain = variableChain('ci.yml', variableValue(orgAudit), { scope: 'repository' });
    expect(writtenChainOf(deliveryExpression('egress-policy', chain, 'by-runner-os'))).toEqual({ vars: ['EGRESSCTL_WF_CI_YML', REPOSITORY_POLICY_VARIABLE], fallback: variableValue(orgAudit) });
    expect(writtenChainOf('block')).toBeUndefined();
  });
});

describe('fallbackTightening: how a new fallback enforces more than the one written', () => {
  const value = (policy: Partial<CompiledPolicy>) => variableValue({ name: 'p', 'egress-policy': 'block', 'allowed-endpoints': ['github.com:443', 'registry.npmjs.org:443'], ...policy });
  it('names each stricter input, and nothing for a looser or same change (a name alone does not count)', () => {
    expect(fallbackTightening(value({ 'egress-policy': 'audit' }), value({}))).toEqual(['egress-policy audit -> block']);
    expect(fallbackTightening(value({}), value({ 'allowed-endpoints': ['github.com:443'] }))).toEqual(['allowed-endpoints drops registry.npmjs.org:443']);
    expect(fallbackTightening(value({ 'disable-file-monitoring': true }), value({}))).toEqual(['disable-file-monitoring true -> false']);
    expect(fallbackTightening(value({}), value({ 'egress-policy': 'audit' }))).toEqual([]);
    expect(fallbackTightening(value({}), value({ 'allowed-endpoints': ['github.com:443', 'registry.npmjs.org:443', 'x.example.com:443'] }))).toEqual([]);
    expect(fallbackTightening(value({}), value({ name: 'renamed' }))).toEqual([]);
    expect(fallbackTightening(AUDIT_DEFAULT_VALUE, value({ 'egress-policy': 'audit' }))).toEqual([]);
  });
  it('a value that does not read as ours counts as stricter (write rather than wait)', () => {
    expect(fallbackTightening('{"egress-policy":"off"}', value({}))).toHaveLength(1);
  });
});
