/**
 * `harden` benchmarks: in-process throughput over a corpus of real workflows, planned from the
 * example store (storePlanner), with and without GitHub's parser gate, beside the floor every
 * YAML tool pays (`yaml.parseDocument` of the same files, same run); and the CLI's cold start
 * (`--help`, `validate`, `harden` of one file) beside `node -e 0`. The corpus is
 * `$EGRESSCTL_CORPUS/workflows`, as for the corpus tests (the default is where CI puts it); the
 * CLI runs from dist/ (`npm run build` first).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { flattenPolicies } from '../src/policy/flatten.js';
import { loadPolicyRepository } from '../src/store/repository.js';
import { attachmentMap } from '../src/policy/model.js';
import { storePlanner, type StoreState } from '../src/rollout/desired-state.js';
import { hardenWorkflow } from '../src/rollout/harden.js';
import { newWorkflowErrors } from '../src/rollout/workflow-check.js';
import { workflowFiles } from '../test/support/workflow-corpus.js';
import { runWhenInvokedDirectly, type BenchSection } from './types.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const corpusRoot = process.env['EGRESSCTL_CORPUS'] || path.resolve(repoRoot, '..', 'shared', 'corpus');

function best(runs: number, work: () => void): number {
  let fastest = Infinity;
  for (let run = 0; run < runs; run++) {
    const started = performance.now();
    work();
    fastest = Math.min(fastest, performance.now() - started);
  }
  return fastest;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

async function throughput(store: StoreState): Promise<string[]> {
  const corpusDir = path.resolve(corpusRoot, 'workflows');
  const corpus = workflowFiles(corpusDir).map((name) => ({ name, text: readFileSync(path.join(corpusDir, name), 'utf8') }));
  const runs = Number(process.env['BENCH_RUNS'] ?? 10);
  // acme/api: api-block, a block policy with endpoints and a flag: every job is planned, most get a step.
  const planner = storePlanner({ store, repository: 'acme/api', workflowPath: '.github/workflows/ci.yml' });
  const hardenAll = () => corpus.map((file) => hardenWorkflow(file.text, { plan: planner, file: file.name }));
  hardenAll(); // warm up (JIT, module init)
  const parseMs = best(runs, () => {
    for (const file of corpus) parseDocument(file.text, { keepSourceTokens: true });
  });
  const hardenMs = best(runs, () => void hardenAll());
  const results = hardenAll();
  const changed = results.filter((result) => result.changed).length;
  // With the gate: what `harden FILE...` does per file (GitHub's parser on input and output of changed files).
  await newWorkflowErrors('warm.yml', 'on: push\njobs: {}\n', 'on: push\njobs: {}\n'); // loads the parser once
  const gateRuns = Math.max(1, Math.floor(runs / 3));
  let gatedMs = Infinity;
  for (let run = 0; run < gateRuns; run++) {
    const started = performance.now();
    for (const file of corpus) {
      const result = hardenWorkflow(file.text, { plan: planner, file: file.name });
      if (result.changed) await newWorkflowErrors(file.name, file.text, result.output);
    }
    gatedMs = Math.min(gatedMs, performance.now() - started);
  }
  const rate = (ms: number) => corpus.length / (ms / 1000);
  const bytes = corpus.reduce((sum, file) => sum + file.text.length, 0);
  return [
    `${corpus.length} workflows (${(bytes / 1024).toFixed(0)} KiB) planned from the example store (acme/api -> api-block), ${changed} changed; best of ${runs} (gate: best of ${gateRuns}).`,
    '',
    '| step | time | files / s | files / s as a ratio to the baseline | target |',
    '|---|---|---|---|---|',
    `| baseline: \`yaml.parseDocument\` (keepSourceTokens) | ${parseMs.toFixed(1)} ms | ${rate(parseMs).toFixed(0)} | 1.00 | |`,
    `| \`hardenWorkflow\` + storePlanner (parse, plan, never-weaken merge, splice, self-check) | ${hardenMs.toFixed(1)} ms | ${rate(hardenMs).toFixed(0)} | ${(parseMs / hardenMs).toFixed(2)} | >= 500 files/s |`,
    `| the same + GitHub's parser gate on changed files (\`newWorkflowErrors\`: the output, the input only when the output has errors) | ${gatedMs.toFixed(0)} ms | ${rate(gatedMs).toFixed(0)} | ${(parseMs / gatedMs).toFixed(2)} | >= 150 files/s |`,
  ];
}

function coldStart(): string[] {
  const runs = Number(process.env['BENCH_COLD_RUNS'] ?? 9);
  const bin = path.join(repoRoot, 'bin', 'egressctl.js');
  const workflow = path.join(repoRoot, 'test', 'rollout', 'fixtures', 'workflows', 'ci-linux.yml');
  const cases: Array<[string, string[]]> = [
    ['baseline: `node -e 0`', ['-e', '0']],
    ['`egressctl --help`', [bin, '--help']],
    ['`egressctl validate` (example policies)', [bin, 'validate']],
    ['`egressctl harden FILE` (flags, one file, parser gate)', [bin, 'harden', workflow, '--mode', 'audit']],
    ['`egressctl harden FILE --policy-from . --repository acme/api`', [bin, 'harden', workflow, '--policy-from', '.', '--repository', 'acme/api', '--workflow', '.github/workflows/ci.yml']],
  ];
  const times = cases.map(([label, args]) => {
    const samples: number[] = [];
    for (let run = 0; run < runs; run++) {
      const started = performance.now();
      const child = spawnSync(process.execPath, args, { cwd: repoRoot, encoding: 'utf8' });
      samples.push(performance.now() - started);
      if (child.status !== 0 && child.status !== 2) throw new Error(`${label} exited ${child.status}: ${child.stderr}`);
    }
    return { label, ms: median(samples) };
  });
  const base = times[0]?.ms ?? 1;
  return [
    `Median of ${runs} spawns each, from dist/ (\`npm run build\`).`,
    '',
    '| command | median | ratio to `node -e 0` |',
    '|---|---|---|',
    ...times.map((row) => `| ${row.label} | ${row.ms.toFixed(0)} ms | ${(row.ms / base).toFixed(2)} |`),
  ];
}

export async function runHardenBench(): Promise<BenchSection> {
  const loaded = await loadPolicyRepository({ dir: repoRoot });
  if (loaded.errors.length > 0) throw new Error('the example policy repository is invalid');
  const repository = loaded.value;
  const store: StoreState = { policies: flattenPolicies(repository), attachments: attachmentMap(repository.attachments), settings: repository.settings };
  const inProcess = await throughput(store);
  const cold = coldStart();
  return {
    title: 'harden: in-process throughput and CLI cold start',
    markdown: ['### In-process throughput', '', ...inProcess, '', '### CLI cold start', '', ...cold].join('\n'),
  };
}

runWhenInvokedDirectly(import.meta.url, runHardenBench);
