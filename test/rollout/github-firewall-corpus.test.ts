/**
 * The runs-on rewrite (docs/github-firewall.md, "Runner labels") on every workflow of our
 * fixtures and, with EGRESSCTL_CORPUS set, of the shared corpus of real workflows: only the moved
 * jobs' runs-on lines change (same line count, same line endings), each changed line differs only
 * in its label, GitHub's parser finds nothing new, every job left alone has a reason, and a second
 * run moves nothing.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { moveToFirewallRunner } from '../../src/rollout/github-firewall/index.js';
import { newWorkflowErrors } from '../../src/rollout/workflow-check.js';
import { CORPUS_SKIPPED, corpusWorkflowsDir, FIXTURE_WORKFLOWS, workflowFiles } from '../support/workflow-corpus.js';

const LABEL = /(["']?)(ubuntu-latest|ubuntu-24\.04|ubuntu-22\.04)\1/i;

async function checkDir(dir: string): Promise<{ files: number; moved: number; left: number; imageChanges: number }> {
  const totals = { files: 0, moved: 0, left: 0, imageChanges: 0 };
  for (const file of workflowFiles(dir)) {
    const text = readFileSync(path.join(dir, file), 'utf8');
    const result = moveToFirewallRunner(text, () => true);
    totals.files++;
    const before = text.split('\n');
    const after = result.output.split('\n');
    expect(after.length, file).toBe(before.length);
    const changed = before.map((line, index) => [line, after[index]!] as const).filter(([a, b]) => a !== b);
    const moved = result.jobs.filter((job) => job.action === 'moved');
    // A job moves by its own line (a flow list may hold its label on the key's line): never more lines than moves.
    expect(changed.length, file).toBeLessThanOrEqual(moved.length);
    for (const [a, b] of changed) expect(b.replace('ubuntu-24.04-firewall', 'X'), file).toBe(a.replace(LABEL, (_match, quote: string) => `${quote}X${quote}`));
    for (const job of result.jobs.filter((item) => item.action === 'left')) expect(job.reason, `${file} ${job.job}`).toBeTruthy();
    if (result.output !== text) expect(await newWorkflowErrors(file, text, result.output), file).toEqual([]);
    expect(moveToFirewallRunner(result.output, () => true).jobs.filter((job) => job.action === 'moved'), file).toEqual([]);
    totals.moved += moved.length;
    totals.left += result.jobs.length - moved.length;
    totals.imageChanges += moved.filter((job) => job.reason).length;
  }
  return totals;
}

describe('runs-on rewrite over real workflows', () => {
  it('our fixture workflows', async () => {
    const totals = await checkDir(FIXTURE_WORKFLOWS);
    expect(totals.files).toBeGreaterThan(0);
  }, 120_000);

  const corpus = corpusWorkflowsDir();
  it.skipIf(!corpus)(`the shared corpus (${corpus ? 'EGRESSCTL_CORPUS' : CORPUS_SKIPPED})`, async () => {
    const totals = await checkDir(corpus!);
    console.log(`runs-on rewrite over the corpus: ${JSON.stringify(totals)}`);
    expect(totals.moved).toBeGreaterThan(100);
  }, 600_000);
});
