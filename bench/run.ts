/**
 * `npm run bench`: every benchmark, each beside its baseline measured in the same invocation,
 * written to BENCHMARKS.md (and printed). `BENCH_ONLY=core,server` runs a subset.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import type { BenchSection } from './types.js';

type SectionRunner = () => Promise<BenchSection>;

const SECTIONS: Record<string, SectionRunner> = {
  core: async () => (await import('./core.js')).runCoreBench(),
  review: async () => {
    const { runReviewBench } = await import('./review.js');
    const rows = await runReviewBench();
    return {
      title: 'PR review engine: organization-level change touching 5,000 scopes',
      markdown: [
        '| step | time | detail |',
        '|---|---|---|',
        ...rows.map((row) => `| ${row.step} | ${row.ms.toFixed(0)} ms | ${row.detail} |`),
      ].join('\n'),
    };
  },
  history: async () => {
    const { runHistoryBench } = await import('./history.js');
    const result = await runHistoryBench();
    return {
      title: 'Audit log: history over a long git log',
      markdown: [
        '| commits | events | attachments at the end | build repo (git fast-import, baseline) | readHistory | per commit | filtered to one policy |',
        '|---|---|---|---|---|---|---|',
        `| ${result.commits.toLocaleString('en')} | ${result.events.toLocaleString('en')} | ${result.finalAttachments.toLocaleString('en')} | ${result.buildMs.toFixed(0)} ms | ${result.readHistoryMs.toFixed(0)} ms (${(result.readHistoryMs / result.buildMs).toFixed(2)}x baseline) | ${(result.readHistoryMs / result.commits).toFixed(2)} ms | ${result.filteredMs.toFixed(0)} ms (${result.filteredEvents} events) |`,
      ].join('\n'),
    };
  },
  'baselines-merge': async () => {
    const { runMergeBench } = await import('./baselines-merge.js');
    const result = await runMergeBench({ files: 24, namesPerFile: 1500 });
    return {
      title: 'Baselines: 24 large baseline files merged at once (worker pool)',
      markdown: [
        '| files | names per run | workers at most | in-process, one after another (baseline) | off-thread, all at once (x baseline) | threads (before -> peak) | RSS (before -> peak) | same as in-process |',
        '|---|---|---|---|---|---|---|---|',
        `| ${result.files} | ${result.namesPerFile} | ${result.workerBound} | ${result.inProcessMs.toFixed(0)} ms | ${result.wallMs.toFixed(0)} ms (${(result.wallMs / result.inProcessMs).toFixed(2)}x) | ${result.baseThreads} -> ${result.peakThreads} | ${result.baseRssMb.toFixed(0)} -> ${result.peakRssMb.toFixed(0)} MiB | ${result.identical ? 'yes' : 'NO'} |`,
      ].join('\n'),
    };
  },
  server: async () => (await import('./server.js')).runServerBench(),
  rollout: async () => (await import('./rollout.js')).runRolloutBench(),
  harden: async () => (await import('./harden.js')).runHardenBench(),
  sync: async () => (await import('./sync.js')).runSyncBench(),
  controller: async () => (await import('./controller.js')).runControllerBench(),
};

async function main(): Promise<void> {
  const only = process.env['BENCH_ONLY']?.split(',').filter(Boolean);
  const names = Object.keys(SECTIONS).filter((name) => !only || only.includes(name));
  const parts: string[] = [];
  for (const name of names) {
    const runner = SECTIONS[name];
    if (!runner) continue;
    process.stderr.write(`bench: ${name}...\n`);
    const started = performance.now();
    try {
      const section = await runner();
      parts.push(`## ${section.title}\n\n${section.markdown}\n\n_${name}: ${((performance.now() - started) / 1000).toFixed(0)} s_`);
    } catch (error) {
      parts.push(`## ${name}\n\nFAILED: ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = 1;
    }
  }
  const header = [
    '# Benchmarks',
    '',
    `Latest \`npm run bench\` (${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB).`,
    'Every figure sits beside a baseline measured in the same invocation; ratios are what to compare across machines.',
    '',
  ].join('\n');
  const text = `${header}\n${parts.join('\n\n')}\n`;
  if (!only) writeFileSync(new URL('../BENCHMARKS.md', import.meta.url), text);
  process.stdout.write(text);
}

await main();
