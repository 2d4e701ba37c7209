/**
 * hardenWorkflow on every workflow of our fixtures and, with EGRESSCTL_CORPUS set, of the
 * shared corpus of real workflows: GitHub's parser finds nothing new, only Harden-Runner lines
 * of reported updates change, eligible jobs start with the step, nothing is weakened, skips
 * carry reasons, a second run changes nothing, line endings stay as they were.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isMap, isPair, isScalar, isSeq, parseDocument, type YAMLMap } from 'yaml';
import { DEFAULT_SETTINGS } from '../../src/policy/model.js';
import { variableChain } from '../../src/policy/delivery.js';
import { BLOCK_ON_LINUX, hardenWorkflow, type HardenRunnerPlan, type JobOutcome } from '../../src/rollout/harden.js';
import { newWorkflowErrors } from '../../src/rollout/workflow-check.js';
import { evaluateInput } from '../support/expressions.js';
import { CORPUS_SKIPPED, corpusForSuite, FIXTURE_WORKFLOWS, workflowFiles } from '../support/workflow-corpus.js';

const ENDPOINTS = ['*.docker.io:443', 'github.com:443', 'registry.npmjs.org:443'];
const blockPlan: HardenRunnerPlan = { kind: 'harden-runner', pin: DEFAULT_SETTINGS.hardenRunner, mode: 'block', endpoints: ENDPOINTS };
const auditPlan: HardenRunnerPlan = { kind: 'harden-runner', pin: DEFAULT_SETTINGS.hardenRunner, mode: 'audit' };
/** What storePlanner gives for a block policy with flags: managed, may bring a managed step back to the store. */
const managedPlan: HardenRunnerPlan = {
  ...blockPlan,
  flags: { 'disable-telemetry': true, 'disable-sudo-and-containers': true },
  managedBy: { policy: 'api-block' },
  mayWeaken: true,
};
/** `delivery: variables`. */
const variablesPlan: HardenRunnerPlan = {
  ...managedPlan,
  // Fail closed: the chain ends in the desired policy (what storePlanner writes for api-block).
  variables: variableChain('.github/workflows/ci.yml', JSON.stringify({ 'egress-policy': 'block', 'allowed-endpoints': ENDPOINTS.join(' '), 'disable-sudo-and-containers': true, 'disable-file-monitoring': false, 'disable-telemetry': true, policy: 'api-block' })),
};
const PLANS = [blockPlan, auditPlan, managedPlan, variablesPlan];

/** Lines with their line break removed except a `\r` (so CRLF stays visible). */
function lines(text: string): string[] {
  const parts = text.split('\n');
  if (parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/** Longest-common-subsequence line diff: original lines removed, output lines added (0-based). */
function lineDiff(before: string[], after: string[]): { removed: number[]; added: number[] } {
  const rows = before.length + 1;
  const cols = after.length + 1;
  const table = new Uint32Array(rows * cols);
  for (let i = before.length - 1; i >= 0; i--) {
    for (let j = after.length - 1; j >= 0; j--) {
      table[i * cols + j] =
        before[i] === after[j] ? (table[(i + 1) * cols + j + 1] ?? 0) + 1 : Math.max(table[(i + 1) * cols + j] ?? 0, table[i * cols + j + 1] ?? 0);
    }
  }
  const removed: number[] = [];
  const added: number[] = [];
  let i = 0;
  let j = 0;
  while (i < before.length && j < after.length) {
    if (before[i] === after[j]) {
      i++;
      j++;
    } else if ((table[(i + 1) * cols + j] ?? 0) >= (table[i * cols + j + 1] ?? 0)) removed.push(i++);
    else added.push(j++);
  }
  while (i < before.length) removed.push(i++);
  while (j < after.length) added.push(j++);
  return { removed, added };
}

function lineOf(text: string, offset: number): number {
  let line = 0;
  for (let index = 0; index < offset && index < text.length; index++) if (text.charCodeAt(index) === 10) line++;
  return line;
}

interface StepLines {
  job: string;
  first: number;
  last: number;
}

/** 0-based line ranges of every Harden-Runner step (or, with `firstOnly`, of each job's first step). */
function hardenStepLines(text: string, firstOnly: boolean): StepLines[] {
  const doc = parseDocument(text);
  const jobs = doc.get('jobs');
  const ranges: StepLines[] = [];
  if (!isMap(jobs)) return ranges;
  for (const pair of jobs.items) {
    if (!isPair(pair) || !isMap(pair.value)) continue;
    const steps = (pair.value as YAMLMap).get('steps', true);
    if (!isSeq(steps)) continue;
    steps.items.forEach((step, position) => {
      if (!isMap(step) || !step.range) return;
      const uses = step.get('uses');
      if (firstOnly ? position !== 0 : !(typeof uses === 'string' && uses.toLowerCase().startsWith('step-security/harden-runner@'))) return;
      let end = step.range[1] - 1;
      while (end > step.range[0] && /\s/.test(text[end] ?? '')) end--;
      // The `-` sits on the line of the step's first key, or on a line of its own above an anchor.
      let first = lineOf(text, step.range[0]);
      while (first > 0 && !/^\s*-/.test(lines(text)[first] ?? '')) first--;
      ranges.push({ job: String(isScalar(pair.key) ? pair.key.value : pair.key), first, last: lineOf(text, end) });
    });
  }
  return ranges;
}

function within(line: number, ranges: StepLines[]): boolean {
  return ranges.some((range) => line >= range.first && line <= range.last);
}

function jobIds(text: string): string[] {
  const jobs = parseDocument(text).get('jobs');
  return isMap(jobs) ? jobs.items.map((pair) => String(isScalar(pair.key) ? pair.key.value : pair.key)) : [];
}

function firstStep(output: string, job: string): Record<string, unknown> | undefined {
  const value = parseDocument(output).toJS({ maxAliasCount: -1 }) as { jobs: Record<string, { steps?: Array<Record<string, unknown>> }> };
  return value.jobs[job]?.steps?.[0];
}

function checkOutcomes(file: string, text: string, output: string, jobs: JobOutcome[], plan: HardenRunnerPlan): void {
  expect(jobs.map((job) => job.job).sort(), file).toEqual(jobIds(text).sort());
  for (const job of jobs) {
    if (job.action === 'skipped') {
      expect(job.reason, `${file} ${job.job}`).toMatch(/\S/);
      expect(job.skipCode, `${file} ${job.job}`).toBeDefined();
      continue;
    }
    const step = firstStep(output, job.job);
    expect(String(step?.uses), `${file} ${job.job}`).toMatch(/^step-security\/harden-runner@/);
    const inputs = (step?.with ?? {}) as Record<string, unknown>;
    // Every edit of an existing step is reported.
    if (job.action === 'updated') expect(job.changes?.length, `${file} ${job.job}: updated without changes`).toBeGreaterThan(0);
    if (plan.variables) {
      if (job.action === 'inserted') {
        const egress = String(inputs['egress-policy']);
        expect(egress, `${file} ${job.job}`).toContain("fromJSON(runner.environment == 'self-hosted' && env.EGRESSCTL_POLICY");
        // A fork's pull request (no vars, no env) gets the store's block on Linux, audit on Windows/macOS legs.
        expect(evaluateInput(egress, { runner: { os: 'Linux', environment: 'github-hosted' } }), `${file} ${job.job}`).toBe('block');
        expect(evaluateInput(String(inputs['allowed-endpoints']), { runner: { os: 'Linux', environment: 'github-hosted' } })).toBe(ENDPOINTS.join(' '));
        if (egress.includes("runner.os == 'Linux'")) expect(evaluateInput(egress, { runner: { os: 'Windows', environment: 'github-hosted' } })).toBe('audit');
      }
      continue;
    }
    const mode = inputs['egress-policy'];
    const expression = typeof mode === 'string' && mode.includes('${{') && mode !== BLOCK_ON_LINUX;
    if (job.action === 'inserted') {
      expect(step?.if, `${file} ${job.job}`).toBeUndefined();
      expect(step?.uses).toBe(`${DEFAULT_SETTINGS.hardenRunner.repository}@${DEFAULT_SETTINGS.hardenRunner.sha}`);
      expect([plan.mode, 'audit', BLOCK_ON_LINUX], `${file} ${job.job}`).toContain(mode);
    } else if (plan.mode === 'audit' || expression) {
      // Never lowered: what was block stays block.
      expect(['audit', 'block', undefined, BLOCK_ON_LINUX].includes(mode as string) || expression, `${file} ${job.job}`).toBe(true);
    }
    if (plan.mode === 'block' && (mode === 'block' || mode === BLOCK_ON_LINUX) && !String(inputs['allowed-endpoints'] ?? '').includes('${{')) {
      const endpoints = String(inputs['allowed-endpoints']);
      expect(endpoints.trim(), `${file} ${job.job}`).not.toContain('\n');
      // Union: the plan's endpoints are all there, and none that was there went missing.
      for (const endpoint of ENDPOINTS) expect(endpoints.split(/\s+/), `${file} ${job.job}`).toContain(endpoint);
      if (job.action === 'inserted') expect(endpoints).toBe(ENDPOINTS.join(' '));
    }
  }
}

function checkDiff(file: string, text: string, output: string, jobs: JobOutcome[]): void {
  const before = lines(text);
  const after = lines(output);
  const { removed, added } = lineDiff(before, after);
  // Every removed or changed original line belongs to a Harden-Runner step that was edited.
  const edited = new Set(jobs.filter((job) => job.action === 'updated').map((job) => job.job));
  const editable = hardenStepLines(text, false).filter((range) => edited.has(range.job));
  for (const line of removed) {
    // A blank separator taken along with a moved step is fine.
    // A line that moved (an edited step moved to the top, or what it was moved over) reappears as added.
    const ok =
      within(line, editable) ||
      (/^\s*\r?$/.test(before[line] ?? '') && (within(line - 1, editable) || within(line + 1, editable))) ||
      added.some((index) => after[index] === before[line]);
    expect(ok, `${file}: original line ${line + 1} changed: ${before[line]}`).toBe(true);
  }
  // Every added line belongs to a hardened job's first step (or is the blank line after it).
  const hardened = new Set(jobs.filter((job) => job.action !== 'skipped').map((job) => job.job));
  const firstSteps = hardenStepLines(output, true).filter((range) => hardened.has(range.job));
  for (const line of added) {
    const ok =
      within(line, firstSteps) ||
      (/^\s*\r?$/.test(after[line] ?? '') && (within(line - 1, firstSteps) || within(line + 1, firstSteps))) ||
      removed.some((index) => before[index] === after[line]);
    expect(ok, `${file}: output line ${line + 1} added outside a Harden-Runner step: ${after[line]}`).toBe(true);
  }
  // Line endings: added lines use the file's own.
  const crlf = /\r\n/.test(text.slice(0, text.indexOf('\n') + 1));
  for (const line of added) expect((after[line] ?? '').endsWith('\r'), `${file}: line ending of output line ${line + 1}`).toBe(crlf);
}

function hardenSuite(dir: string, minFiles: number): void {
  const files = workflowFiles(dir);
  it('has workflows to work on', () => {
    expect(files.length).toBeGreaterThanOrEqual(minFiles);
  });

  for (const file of files) {
    it(`hardens ${file} (block, audit, managed with flags, variables)`, async () => {
      const text = readFileSync(path.join(dir, file), 'utf8');
      for (const plan of PLANS) {
        const result = hardenWorkflow(text, { file, plan: () => plan });
        expect(result.errors).toEqual([]);
        checkOutcomes(file, text, result.output, result.jobs, plan);
        checkDiff(file, text, result.output, result.jobs);
        expect(await newWorkflowErrors(file, text, result.output)).toEqual([]);

        const again = hardenWorkflow(result.output, { file, plan: () => plan });
        expect(again.output === result.output, `${file}: second run changed the text`).toBe(true);
        expect(again.changed).toBe(false);
        for (const job of again.jobs) expect(['unchanged', 'skipped'], `${file} ${job.job}`).toContain(job.action);
      }
      // The store changing over time: block, then managed with flags, then lowered to audit, then variables.
      let current = text;
      for (const plan of [blockPlan, managedPlan, { ...auditPlan, managedBy: { policy: 'org-audit' }, mayWeaken: true }, variablesPlan]) {
        const step = hardenWorkflow(current, { file, plan: () => plan });
        expect(step.errors).toEqual([]);
        for (const job of step.jobs) if (job.action === 'updated') expect(job.changes?.length, `${file} ${job.job}`).toBeGreaterThan(0);
        expect(hardenWorkflow(step.output, { file, plan: () => plan }).output === step.output, `${file}: not idempotent`).toBe(true);
        current = step.output;
      }
      expect(await newWorkflowErrors(file, text, current)).toEqual([]);
    });
  }

  it('leaves CRLF files CRLF', () => {
    const crlfFiles = files.filter((file) => readFileSync(path.join(dir, file), 'utf8').includes('\r\n'));
    expect(crlfFiles.length).toBeGreaterThan(0);
    for (const file of crlfFiles) {
      const text = readFileSync(path.join(dir, file), 'utf8');
      const output = hardenWorkflow(text, { file, plan: () => blockPlan }).output;
      const count = (value: string, pattern: RegExp) => (value.match(pattern) ?? []).length;
      // LF-only line breaks of the original stay as they are; every new line break is CRLF.
      expect(count(output, /(?<!\r)\n/g), file).toBe(count(text, /(?<!\r)\n/g));
      expect(count(output, /\r\n/g), file).toBeGreaterThanOrEqual(count(text, /\r\n/g));
    }
  });
}

describe('hardenWorkflow on our fixtures', () => {
  hardenSuite(FIXTURE_WORKFLOWS, 7);
});

const corpusDir = corpusForSuite('hardenWorkflow on the shared corpus');
// Without EGRESSCTL_CORPUS: one visible skipped line; the fixture suite above covers the same features.
describe.skipIf(!corpusDir)(corpusDir ? `hardenWorkflow on the shared corpus (${corpusDir})` : CORPUS_SKIPPED, () => {
  if (corpusDir) hardenSuite(corpusDir, 50);
  else it('hardens every corpus workflow', () => undefined);
});
