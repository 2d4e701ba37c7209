/**
 * Validate + compile on the synthetic enterprise (base and 2x), each beside a baseline run in the
 * same process: parsing the same bytes with `yaml.parse` alone (the floor any YAML tool pays).
 * Each size runs in its own child process so peak RSS belongs to that size alone.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { generateKeyPairSync } from 'node:crypto';
import { parse } from 'yaml';
import { buildRepositoryBundle, serializeBundle } from '../src/bundle/build.js';
import { sealBundle, serializeEnvelope } from '../src/bundle/dsse.js';
import { parsePolicyRepository } from '../src/store/repository.js';
import { BASE_ENTERPRISE, generateEnterprise, scaled } from './enterprise.js';
import type { BenchSection } from './types.js';

interface SizeResult {
  factor: number;
  files: number;
  mebibytes: number;
  attachments: number;
  baselineMs: number;
  validateMs: number;
  compileMs: number;
  errors: number;
  bundleBytes: number;
  peakRssMiB: number;
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

function measureSize(factor: number): SizeResult {
  const enterprise = generateEnterprise(scaled(BASE_ENTERPRISE, factor));
  const runs = Number(process.env['BENCH_RUNS'] ?? 3);
  const baselineMs = best(runs, () => {
    for (const bytes of enterprise.files.values()) parse(bytes.toString('utf8'), { uniqueKeys: false });
  });
  let result = parsePolicyRepository(enterprise.files);
  const validateMs = best(runs, () => {
    result = parsePolicyRepository(enterprise.files);
  });
  const { privateKey } = generateKeyPairSync('ed25519');
  let bundleBytes = 0;
  const compileMs = best(runs, () => {
    const bundle = buildRepositoryBundle(result.value, { revision: 'a'.repeat(40), committedAt: '2026-01-01T00:00:00Z' });
    bundleBytes = serializeEnvelope(sealBundle(serializeBundle(bundle), [privateKey])).length;
  });
  return {
    factor,
    files: enterprise.files.size,
    mebibytes: enterprise.bytes / 1024 / 1024,
    attachments: result.value.attachments.length,
    baselineMs,
    validateMs,
    compileMs,
    errors: result.errors.length,
    bundleBytes,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  };
}

function inChild(factor: number): Promise<SizeResult> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--child', String(factor)], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.once('message', (message) => resolve(message as SizeResult));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`core bench child exited with ${code}`));
    });
  });
}

export async function runCoreBench(): Promise<BenchSection> {
  const base = await inChild(1);
  const double = await inChild(2);
  const rows = [base, double].map((size) => {
    const total = size.validateMs + size.compileMs;
    return `| ${size.factor}x | ${size.files.toLocaleString('en')} files, ${size.attachments.toLocaleString('en')} attachments, ${size.mebibytes.toFixed(1)} MiB | ${size.baselineMs.toFixed(0)} ms | ${size.validateMs.toFixed(0)} ms | ${size.compileMs.toFixed(0)} ms | ${(total / 1000).toFixed(2)} s | ${(total / size.baselineMs).toFixed(2)}x | ${size.peakRssMiB.toFixed(0)} MiB | ${size.errors} |`;
  });
  const growth = (double.validateMs + double.compileMs) / (base.validateMs + base.compileMs);
  const markdown = [
    'Validate (parse, schema, every rule) and compile (flatten, canonical bundle, ed25519 DSSE) the synthetic enterprise:',
    '20 organizations, 5,000 repositories, 20,000 workflow attachments, 2,000 policies of 40 endpoints (1x), and twice that (2x).',
    'Baseline: `yaml.parse` of the same files in the same process (its duplicate-key check off: ours runs its own, located). Best of 3 runs; peak RSS of the process that ran that size.',
    '',
    '| size | input | baseline yaml.parse | validate | compile + sign | total | total / baseline | peak RSS | errors |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    `Growth 1x -> 2x: ${growth.toFixed(2)}x time for 2x input (target <= 2.3x). Targets for 1x: total < 3 s, peak < 1 GiB.`,
  ].join('\n');
  return { title: 'Policy repository: validate + compile', markdown };
}

if (process.argv[2] === '--child') {
  const result = measureSize(Number(process.argv[3] ?? 1));
  process.send?.(result, () => process.exit(0));
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  runCoreBench().then((section) => console.log(`## ${section.title}\n\n${section.markdown}`));
}
