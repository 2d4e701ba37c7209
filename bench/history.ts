/**
 * Audit log on a long history: builds a policy repository of N commits (default 2,000) with one
 * `git fast-import` (not N `git commit` calls), then times `readHistory` over all of it.
 * Run: `npx tsx bench/history.ts [COMMITS]`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { readHistory } from '../src/history/index.js';

export interface HistoryBenchOptions {
  commits?: number;
  policies?: number;
}

export interface HistoryBenchResult {
  commits: number;
  events: number;
  /** Attachments in the last attachments.yml (its size grows along the history). */
  finalAttachments: number;
  buildMs: number;
  readHistoryMs: number;
  /** A second run of readHistory filtered to one policy. */
  filteredMs: number;
  filteredEvents: number;
}

const BASE_TIME = Date.UTC(2023, 0, 1) / 1000;

function policyText(index: number, endpoints: number, block: boolean): string {
  const lines = [`description: policy ${index}`, `egress-policy: ${block ? 'block' : 'audit'}`, 'allowed-endpoints:'];
  for (let e = 0; e < endpoints; e++) lines.push(`  - svc${e}.p${index}.example.com:443`);
  return `${lines.join('\n')}\n`;
}

function attachmentsText(attachments: Map<string, string>): string {
  const lines = ['repositories:'];
  for (const [repository, policy] of attachments) lines.push(`  ${repository}: ${policy}`);
  return `${lines.join('\n')}\n`;
}

/** The fast-import stream: deterministic, every commit touches policies/ or attachments.yml. */
export function historyStream(commitCount: number, policyCount: number): { stream: string; finalAttachments: number } {
  const parts: string[] = [];
  const endpoints = new Array<number>(policyCount).fill(5);
  const block = new Array<boolean>(policyCount).fill(false);
  const attachments = new Map<string, string>();
  const file = (filePath: string, content: string) => `M 100644 inline ${filePath}\ndata ${Buffer.byteLength(content)}\n${content}\n`;
  for (let i = 0; i < commitCount; i++) {
    const when = BASE_TIME + i * 3600;
    const author = `Engineer ${i % 7} <eng${i % 7}@example.com> ${when} +0000`;
    let message: string;
    let changes: string;
    const p = i % policyCount;
    if (i < policyCount) {
      message = `Add policy p${i} (#${i + 1})`;
      changes = file(`policies/p${i}.yml`, policyText(i, endpoints[i] ?? 5, false));
    } else if (i % 3 === 0) {
      endpoints[p] = (endpoints[p] ?? 5) + 1;
      message = `Merge pull request #${i + 1} from acme/p${p}-endpoints`;
      changes = file(`policies/p${p}.yml`, policyText(p, endpoints[p] ?? 5, block[p] ?? false));
    } else if (i % 3 === 1) {
      const repository = `acme/repo${i % 600}`;
      if (attachments.get(repository) === `p${p}`) attachments.delete(repository);
      else attachments.set(repository, `p${p}`);
      message = `Attach acme/repo${i % 600}`;
      changes = file('attachments.yml', attachmentsText(attachments));
    } else {
      block[p] = !block[p];
      message = `Switch p${p} mode (#${i + 1})`;
      changes = file(`policies/p${p}.yml`, policyText(p, endpoints[p] ?? 5, block[p] ?? false));
    }
    parts.push(`commit refs/heads/main\nauthor ${author}\ncommitter ${author}\ndata ${Buffer.byteLength(message)}\n${message}\n${changes}\n`);
  }
  return { stream: parts.join(''), finalAttachments: attachments.size };
}

export async function runHistoryBench(options: HistoryBenchOptions = {}): Promise<HistoryBenchResult> {
  const commits = options.commits ?? 2000;
  const policies = options.policies ?? 50;
  const dir = mkdtempSync(path.join(tmpdir(), 'egressctl-history-bench-'));
  try {
    const buildStart = performance.now();
    const env = { ...process.env, GIT_CONFIG_NOSYSTEM: '1' };
    execFileSync('git', ['init', '-q', '-b', 'main', dir], { env });
    const { stream, finalAttachments } = historyStream(commits, policies);
    execFileSync('git', ['-C', dir, 'fast-import', '--quiet'], { input: stream, env, maxBuffer: 64 * 1024 * 1024 });
    const buildMs = performance.now() - buildStart;

    const start = performance.now();
    const events = await readHistory({ dir });
    const readHistoryMs = performance.now() - start;
    const filteredStart = performance.now();
    const filtered = await readHistory({ dir, policy: 'p1' });
    const filteredMs = performance.now() - filteredStart;
    return { commits, events: events.length, finalAttachments, buildMs, readHistoryMs, filteredMs, filteredEvents: filtered.length };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const commits = process.argv[2] ? Number(process.argv[2]) : undefined;
  const result = await runHistoryBench(commits === undefined ? {} : { commits });
  console.log(JSON.stringify(result, (_key, value: unknown) => (typeof value === 'number' ? Math.round(value) : value), 2));
}
