/**
 * Coverage and the tamper check on every workflow of our fixtures and, with EGRESSCTL_CORPUS
 * set, the shared corpus of real workflows: every job gets a row, every row short of block says
 * why; a sync PR written from the store passes the tamper check, and lowering its steps fails it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { coverageTotals, coverWorkflow, type CoverageStore } from '../../src/coverage/coverage.js';
import type { CoverageTotals } from '../../src/coverage/model.js';
import { tamperFindings } from '../../src/coverage/tamper.js';
import { workflowFacts } from '../../src/coverage/workflow-facts.js';
import { DEFAULT_SETTINGS, emptyAttachmentMap, type DeliveryMode } from '../../src/policy/model.js';
import { storePlanner } from '../../src/rollout/desired-state.js';
import { hardenWorkflow } from '../../src/rollout/harden.js';
import { CORPUS_SKIPPED, corpusWorkflowsDir, FIXTURE_WORKFLOWS, workflowFiles } from '../support/workflow-corpus.js';

function store(delivery: DeliveryMode): CoverageStore {
  const attachments = emptyAttachmentMap();
  attachments.repositories['acme/api'] = 'api-block';
  return {
    state: { attachments, policies: { 'api-block': { name: 'api-block', 'egress-policy': 'block', 'allowed-endpoints': ['github.com:443'] } }, settings: { ...DEFAULT_SETTINGS, delivery } },
    hookRunners: [],
  };
}

function run(dir: string): { files: number; totals: CoverageTotals; weakened: number } {
  const all: { mode: 'block' | 'audit' | 'none' }[] = [];
  let files = 0;
  let weakened = 0;
  for (const name of workflowFiles(dir)) {
    const text = readFileSync(path.join(dir, name), 'utf8');
    const file = `.github/workflows/${name}`;
    for (const delivery of ['pull-request', 'variables'] as const) {
      const s = store(delivery);
      const hardened = hardenWorkflow(text, { file, plan: storePlanner({ store: s.state, repository: 'acme/api', workflowPath: file }) });
      if (hardened.errors.length > 0) continue;
      const covered = coverWorkflow(hardened.output, file, 'acme/api', s);
      expect(covered.problems, name).toEqual([]);
      for (const job of covered.jobs) {
        if (job.mode !== 'block') expect(job.reason, `${name} ${job.job}`).not.toBeNull();
        // Every job the sync gave a managed step on a hosted Linux runner is in block.
        const outcome = hardened.jobs.find((item) => item.job === job.job);
        if (outcome && outcome.action !== 'skipped' && job.enforcedBy.length > 0) expect(job.targets[0]?.mode, `${name} ${job.job}`).not.toBeNull();
      }
      // The sync's own pull request matches the store: it passes.
      expect(tamperFindings([{ path: file, before: text, after: hardened.output }], 'acme/api', s), name).toEqual([]);
      if (delivery === 'pull-request') {
        files++;
        all.push(...covered.jobs);
        const lowered = hardened.output.replaceAll('egress-policy: block', 'egress-policy: audit');
        // Steps a person wrote stay theirs (no marker): only managed block steps count as weakened.
        const managedBlock = workflowFacts(hardened.output, file).jobs.some((job) => job.step?.managedBy && job.step.with['egress-policy'] === 'block');
        if (managedBlock) {
          const findings = tamperFindings([{ path: file, before: hardened.output, after: lowered }], 'acme/api', s);
          expect(findings.length, name).toBeGreaterThan(0);
          expect(new Set(findings.map((item) => item.input)), name).toEqual(new Set(['egress-policy']));
          weakened++;
        }
      }
    }
  }
  return { files, totals: coverageTotals(all), weakened };
}

describe('coverage over real workflows', () => {
  it('our fixtures', () => {
    const result = run(FIXTURE_WORKFLOWS);
    expect(result.files).toBeGreaterThan(0);
    expect(result.weakened).toBeGreaterThan(0);
  });

  const corpus = corpusWorkflowsDir();
  it.skipIf(!corpus)(corpus ? 'the shared corpus' : CORPUS_SKIPPED, () => {
    const result = run(corpus!);
    console.log(`coverage corpus: ${result.files} files, ${JSON.stringify(result.totals)}, ${result.weakened} files whose lowered steps the tamper check fails`);
    expect(result.files).toBeGreaterThanOrEqual(50);
  }, 300_000);
});
