/**
 * Baselines: an import of many job logs into many large baseline files at once, merged off the
 * event loop (src/baselines/merge-thread.ts). Every file's merge is asked for at once, as a caller
 * importing a big batch does; reports wall time, the peak of threads of the process (each merge
 * worker is one) and the peak resident memory.
 * Run: `npx tsx bench/baselines-merge.ts [FILES] [NAMES_PER_FILE]`; with BENCH_DIST=1 the compiled
 * dist/ (what production runs: workers start without tsx's loader).
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import type { Observation } from '../src/baselines/index.js';

type BaselinesModule = typeof import('../src/baselines/index.js');

export interface MergeBenchResult {
  files: number;
  namesPerFile: number;
  workerBound: string;
  wallMs: number;
  /** The baseline: the same merges one after another on the main thread. */
  inProcessMs: number;
  peakThreads: number;
  baseThreads: number;
  peakRssMb: number;
  baseRssMb: number;
  /** The outcomes in input order equal the in-process merge's. */
  identical: boolean;
}

function threads(): number {
  try {
    return Number(/Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** A job log's worth of names per run, `runs` runs: a file of the size the App sends to a worker. */
function observations(file: number, runs: number, namesPerRun: number, offset: number): Observation[] {
  return Array.from({ length: runs }, (_, run) => ({
    workflow: '.github/workflows/ci.yml',
    job: 'build',
    runId: String(offset + run),
    at: `2026-01-0${1 + (run % 9)}T00:00:00Z`,
    endpoints: Array.from({ length: namesPerRun }, (_, name) => `h${name}.r${run % 3}.f${file}.example.com:443`),
    blocked: [],
  }));
}

export async function runMergeBench(options: { files?: number; namesPerFile?: number; dist?: boolean } = {}): Promise<MergeBenchResult> {
  const files = options.files ?? 48;
  const namesPerFile = options.namesPerFile ?? 1500;
  const baselines: BaselinesModule = options.dist ? await import(pathToFileURL(new URL('../dist/baselines/index.js', import.meta.url).pathname).href) : await import('../src/baselines/index.js');
  const inputs = Array.from({ length: files }, (_, file) => {
    const repository = `acme/repo${file}`;
    const previous = baselines.renderBaselineFile(baselines.mergeObservations(baselines.emptyBaselineFile(repository), observations(file, 3, namesPerFile, 1)).file);
    return { repository, path: `baselines/acme/repo${file}.yml`, previous, observations: observations(file, 2, namesPerFile, 100) };
  });
  const inProcessStarted = performance.now();
  const expected = inputs.map((input) => baselines.mergeBaselineText(input));
  const inProcessMs = performance.now() - inProcessStarted;

  const baseThreads = threads();
  const baseRss = process.memoryUsage().rss;
  let peakThreads = baseThreads;
  let peakRss = baseRss;
  const sampler = setInterval(() => {
    peakThreads = Math.max(peakThreads, threads());
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 5);
  const started = performance.now();
  const outcomes = await Promise.all(inputs.map((input) => baselines.mergeBaselineTextOffThread(input, { thresholdBytes: 0 })));
  const wallMs = performance.now() - started;
  clearInterval(sampler);
  const bound = (baselines as { mergeWorkerLimit?: () => number }).mergeWorkerLimit;
  return {
    files,
    namesPerFile,
    workerBound: bound ? String(bound()) : 'none',
    wallMs,
    inProcessMs,
    peakThreads,
    baseThreads,
    peakRssMb: peakRss / 2 ** 20,
    baseRssMb: baseRss / 2 ** 20,
    identical: JSON.stringify(outcomes) === JSON.stringify(expected),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await runMergeBench({ files: Number(process.argv[2] ?? 48), namesPerFile: Number(process.argv[3] ?? 1500), dist: process.env.BENCH_DIST === '1' });
  console.log(`cores ${os.availableParallelism()}, ${result.files} files x ${result.namesPerFile} names, worker bound ${result.workerBound}`);
  console.log(`wall ${result.wallMs.toFixed(0)} ms (in-process baseline ${result.inProcessMs.toFixed(0)} ms); threads ${result.baseThreads} -> peak ${result.peakThreads}; rss ${result.baseRssMb.toFixed(0)} MiB -> peak ${result.peakRssMb.toFixed(0)} MiB; identical ${result.identical}`);
  process.exit(0);
}
