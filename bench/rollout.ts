/**
 * Rollout benchmark: a 200-repository organization on the GitHub stand-in (real workflows from
 * the shared corpus, one or two per repository, baselines stable for half of the jobs we
 * observe), rolled out twice: the first run opens the PRs, the second finds nothing new.
 * Reports REST requests per repository for each (targets: <= 8 for a new PR, 1-2 for a no-op)
 * and `hardenWorkflow` over the whole corpus in files per second beside the floor every YAML
 * tool pays: `yaml.parseDocument` of the same files.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseDocument } from 'yaml';
import { buildBaselineIndex, emptyBaselineFile, mergeObservations, type BaselineFile, type Observation } from '../src/baselines/index.js';
import { DEFAULT_SETTINGS } from '../src/policy/model.js';
import { hardenWorkflow } from '../src/rollout/harden.js';
import { baselinePlanner } from '../src/rollout/harden-plan.js';
import { tokenClient } from '../src/github/client.js';
import type { RolloutConfig } from '../src/rollout/rollout-plan.js';
import { runRollout, type RolloutReport } from '../src/rollout/rollout.js';
import { newWorkflowErrors } from '../src/rollout/workflow-check.js';
import { startGitHubStandin } from '../test/support/github/index.js';
import { runWhenInvokedDirectly, type BenchSection } from './types.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const corpusDir = path.resolve(repoRoot, '../shared/corpus/workflows');
const REPOSITORIES = Number(process.env['BENCH_ROLLOUT_REPOS'] ?? 200);
const ORG = 'bench';

interface CorpusFile {
  name: string;
  text: string;
  jobs: string[];
}

function readCorpus(): CorpusFile[] {
  return readdirSync(corpusDir)
    .filter((name) => /\.ya?ml$/.test(name))
    .sort()
    .map((file) => {
      const text = readFileSync(path.join(corpusDir, file), 'utf8');
      const jobs = Object.keys((parse(text) as { jobs?: Record<string, unknown> }).jobs ?? {});
      return { name: file.split('__').pop() ?? file, text, jobs };
    });
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

function mean(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((sum, value) => sum + value, 0) / values.length;
}

function requestsRow(label: string, report: RolloutReport, statuses: readonly string[], byRepository: Record<string, { total: number; writes: number }>, ms: number): string {
  const picked = report.repositories.filter((result) => statuses.includes(result.status));
  const totals = picked.map((result) => byRepository[result.repository]?.total ?? 0);
  const writes = picked.map((result) => byRepository[result.repository]?.writes ?? 0);
  return `| ${label} | ${picked.length} ${statuses.join('/')} | ${mean(totals).toFixed(2)} | ${percentile(totals, 50)} / ${percentile(totals, 95)} / ${Math.max(0, ...totals)} | ${mean(writes).toFixed(2)} | ${(ms / 1000).toFixed(1)} s |`;
}

async function rolloutSection(corpus: readonly CorpusFile[]): Promise<string[]> {
  const standin = await startGitHubStandin();
  try {
    const installation = standin.createInstallation({ account: ORG });
    const baselines: BaselineFile[] = [];
    for (let index = 0; index < REPOSITORIES; index++) {
      const name = `svc-${String(index).padStart(3, '0')}`;
      const picks = [corpus[index % corpus.length]!];
      if (index % 3 === 0) picks.push(corpus[(index + 7) % corpus.length]!);
      const files: Record<string, string> = { 'README.md': `# ${name}\n` };
      for (const pick of picks) files[`.github/workflows/${pick.name}`] = pick.text;
      await standin.createRepository(`${ORG}/${name}`, { files });
      const observations: Observation[] = picks.flatMap((pick) =>
        pick.jobs.slice(0, 2).flatMap((job, jobIndex) =>
          Array.from({ length: (index + jobIndex) % 2 === 0 ? 4 : 1 }, (_, run) => ({
            workflow: `.github/workflows/${pick.name}`,
            job,
            runId: `${jobIndex}-${run}`,
            at: `2026-11-${String(run + 10).padStart(2, '0')}T00:00:00Z`,
            endpoints: ['registry.npmjs.org:443', 'objects.githubusercontent.com:443'],
          })),
        ),
      );
      baselines.push(mergeObservations(emptyBaselineFile(`${ORG}/${name}`), observations).file);
    }
    const config: RolloutConfig = { mode: 'inline', pin: DEFAULT_SETTINGS.hardenRunner, baselines: buildBaselineIndex(baselines, { stableAfterRuns: 3 }) };
    // GitHub asks for >= 1 s between writes of one installation; the bench measures requests, not that wait.
    const client = tokenClient(standin.createInstallationToken(installation.id), { baseUrl: standin.url, writeSpacingMs: 0, notificationSpacingMs: 0 });

    standin.resetStats();
    let started = performance.now();
    const first = await runRollout({ client, organization: ORG, config });
    const firstMs = performance.now() - started;
    const firstStats = standin.stats();

    standin.resetStats();
    started = performance.now();
    const second = await runRollout({ client, organization: ORG, config });
    const secondMs = performance.now() - started;
    const secondStats = standin.stats();
    standin.assertNoViolations();

    const counts = (report: RolloutReport) => {
      const byStatus: Record<string, number> = {};
      for (const result of report.repositories) byStatus[result.status] = (byStatus[result.status] ?? 0) + 1;
      return Object.entries(byStatus).map(([status, count]) => `${count} ${status}`).join(', ');
    };
    const singleFile = first.repositories.filter((result) => result.status === 'created' && result.files.filter((file) => file.status === 'changed').length === 1);
    const multiFile = first.repositories.filter((result) => result.status === 'created' && result.files.filter((file) => file.status === 'changed').length > 1);
    const perRepo = (list: typeof singleFile) => mean(list.map((result) => firstStats.byRepository[result.repository]?.total ?? 0)).toFixed(2);
    return [
      `${REPOSITORIES} repositories, ${first.repositories.reduce((sum, result) => sum + result.files.length, 0)} workflow files from the corpus; REST requests counted by the stand-in (every one checked against GitHub's OpenAPI description).`,
      '',
      '| run | repositories | requests / repository (mean) | p50 / p95 / max | writes / repository | wall time |',
      '|---|---|---|---|---|---|',
      requestsRow('first (opens PRs)', first, ['created'], firstStats.byRepository, firstMs),
      requestsRow('first (nothing to propose)', first, ['up-to-date', 'no-workflows'], firstStats.byRepository, firstMs),
      requestsRow('re-run, nothing new', second, ['unchanged'], secondStats.byRepository, secondMs),
      requestsRow('re-run, nothing new', second, ['up-to-date', 'no-workflows'], secondStats.byRepository, secondMs),
      '',
      `First run: ${counts(first)}; ${firstStats.total} requests, ${firstStats.writes} writes. New PR with one changed file: ${perRepo(singleFile)} requests (${singleFile.length} repositories; target <= 8); with two: ${perRepo(multiFile)} (${multiFile.length}).`,
      `Re-run: ${counts(second)}; ${secondStats.total} requests (organization listing included), **${secondStats.writes} writes** (target 0; 1-2 requests per repository with a PR).`,
      '',
      'Writes are not spaced here; with GitHub\'s recommended 1 s between writes per installation (the default), a first run costs about 3-4 s per new PR, serialized per installation.',
    ];
  } finally {
    await standin.close();
  }
}

function best(runs: number, work: () => void): number {
  let fastest = Number.POSITIVE_INFINITY;
  for (let run = 0; run < runs; run++) {
    const start = performance.now();
    work();
    fastest = Math.min(fastest, performance.now() - start);
  }
  return fastest;
}

async function hardenSection(corpus: readonly CorpusFile[]): Promise<string[]> {
  const runs = Number(process.env['BENCH_RUNS'] ?? 10);
  const planner = baselinePlanner({
    pin: DEFAULT_SETTINGS.hardenRunner,
    baselineOf: (job) => (job.id.length % 2 === 0 ? { endpoints: ['registry.npmjs.org:443', 'github.com:443'], stable: true, runs: 5, lastSeen: '2026-11-20T00:00:00Z' } : undefined),
  });
  // Warm up (JIT, module init).
  for (const file of corpus) hardenWorkflow(file.text, { plan: planner, file: file.name });
  const parseMs = best(runs, () => {
    for (const file of corpus) parseDocument(file.text, { keepSourceTokens: true });
  });
  let changed = 0;
  const hardenMs = best(runs, () => {
    changed = 0;
    for (const file of corpus) if (hardenWorkflow(file.text, { plan: planner, file: file.name }).changed) changed++;
  });
  const outputs = corpus.map((file) => hardenWorkflow(file.text, { plan: planner, file: file.name }).output);
  let started = performance.now();
  for (const [index, file] of corpus.entries()) await newWorkflowErrors(file.name, file.text, outputs[index]!);
  const gateMs = performance.now() - started;
  started = performance.now();
  for (const [index, file] of corpus.entries()) await newWorkflowErrors(file.name, file.text, outputs[index]!);
  const gateWarmMs = performance.now() - started;
  const bytes = corpus.reduce((sum, file) => sum + file.text.length, 0);
  const rate = (ms: number) => (corpus.length / (ms / 1000)).toFixed(0);
  return [
    `${corpus.length} corpus files (${(bytes / 1024).toFixed(0)} KiB), ${changed} changed; best of ${runs}.`,
    '',
    '| step | time | files / s | vs. baseline |',
    '|---|---|---|---|',
    `| baseline: \`yaml.parseDocument\` (keepSourceTokens) | ${parseMs.toFixed(1)} ms | ${rate(parseMs)} | 1.00x |`,
    `| \`hardenWorkflow\` (parse, plan, splice, self-check) | ${hardenMs.toFixed(1)} ms | ${rate(hardenMs)} (target >= 200) | ${(hardenMs / parseMs).toFixed(2)}x |`,
    `| GitHub's parser gate (\`newWorkflowErrors\`, before + after), warm | ${gateWarmMs.toFixed(0)} ms | ${rate(gateWarmMs)} | ${(gateWarmMs / parseMs).toFixed(2)}x |`,
    `| the same, first call (loads the parser) | ${gateMs.toFixed(0)} ms | ${rate(gateMs)} | |`,
  ];
}

export async function runRolloutBench(): Promise<BenchSection> {
  const corpus = readCorpus();
  const harden = await hardenSection(corpus);
  const rollout = await rolloutSection(corpus);
  return {
    title: `Policy-based PRs: ${REPOSITORIES}-repository rollout and corpus hardening`,
    markdown: ['### API requests', '', ...rollout, '', '### Hardening throughput', '', ...harden].join('\n'),
  };
}

runWhenInvokedDirectly(import.meta.url, runRolloutBench);
