/** Building review inputs for tests: from files (the real parser) or in memory (for size). */
import { buildBaselineIndex, emptyBaselineFile, emptyJobBaseline, type BaselineFile, type BaselineIndex } from '../../src/baselines/index.js';
import { parsePolicyRepository } from '../../src/store/repository.js';
import type { Attachment, EgressMode, Policy, ScopeType } from '../../src/policy/model.js';
import type { PolicyRepository } from '../../src/store/repository.js';
import { prepareReviewInput } from '../../src/review/index.js';
import type { ReviewInput } from '../../src/review/index.js';

export function repositoryFromFiles(files: Record<string, string>): PolicyRepository {
  const result = parsePolicyRepository(new Map(Object.entries(files).map(([path, text]) => [path, Buffer.from(text)])));
  if (result.errors.length > 0) throw new Error(`test repository is invalid:\n${result.errors.map((error) => `${error.file}:${error.line} ${error.message}`).join('\n')}`);
  return result.value;
}

export function inputFromFiles(files: Record<string, string>, label: string): ReviewInput {
  return prepareReviewInput(repositoryFromFiles(files), { label });
}

export interface PolicySpec {
  mode?: EgressMode;
  endpoints?: string[];
  extends?: string[];
  description?: string;
  flags?: Policy['flags'];
}

/** `policies/<name>.yml` text. */
export function policyFile(spec: PolicySpec): string {
  const lines: string[] = [];
  if (spec.description !== undefined) lines.push(`description: ${JSON.stringify(spec.description)}`);
  lines.push(`egress-policy: ${spec.mode ?? 'block'}`);
  if (spec.extends && spec.extends.length > 0) lines.push(`extends: [${spec.extends.join(', ')}]`);
  if (spec.endpoints && spec.endpoints.length > 0) lines.push('allowed-endpoints:', ...spec.endpoints.map((endpoint) => `  - "${endpoint}"`));
  for (const [flag, value] of Object.entries(spec.flags ?? {})) lines.push(`${flag}: ${String(value)}`);
  return `${lines.join('\n')}\n`;
}

export type AttachmentSpec = Partial<Record<'clusters' | 'organizations' | 'repositories' | 'workflows', Record<string, string>>>;

export function attachmentsFile(spec: AttachmentSpec): string {
  const lines: string[] = [];
  for (const [section, entries] of Object.entries(spec)) {
    lines.push(`${section}:`);
    for (const [key, policy] of Object.entries(entries ?? {})) lines.push(`  ${JSON.stringify(key)}: ${policy}`);
  }
  return `${lines.join('\n')}\n`;
}

/** repository -> workflow path -> job -> { runs, endpoints: endpoint -> runs }. */
export type BaselineSpec = Record<string, Record<string, Record<string, { runs: number; endpoints: Record<string, number> }>>>;

/** `baselines/<owner>/<repo>.yml` texts for the spec. */
export function baselineFiles(spec: BaselineSpec): Record<string, string> {
  const files: Record<string, string> = {};
  const time = '2026-11-20T10:00:00Z';
  for (const [repository, workflows] of Object.entries(spec)) {
    const lines = [`repository: ${repository}`, 'workflows:'];
    for (const [workflow, jobs] of Object.entries(workflows)) {
      lines.push(`  ${workflow}:`);
      for (const [job, data] of Object.entries(jobs)) {
        lines.push(`    ${job}:`, `      runs: ${data.runs}`, `      firstSeen: ${time}`, `      lastSeen: ${time}`, '      endpoints:');
        for (const [endpoint, runs] of Object.entries(data.endpoints)) lines.push(`        ${endpoint}: { runs: ${runs}, firstSeen: ${time}, lastSeen: ${time} }`);
      }
    }
    files[`baselines/${repository}.yml`] = `${lines.join('\n')}\n`;
  }
  return files;
}

// In-memory builders, for inputs too big to parse quickly.

const AT = { file: 'memory', line: 1, column: 1 };

export function memoryPolicy(name: string, spec: PolicySpec): Policy {
  const policy: Policy = {
    name,
    file: `policies/${name}.yml`,
    at: AT,
    egressPolicy: spec.mode ?? 'block',
    allowedEndpoints: (spec.endpoints ?? []).map((endpoint) => ({ endpoint, at: AT })),
    flags: spec.flags ?? {},
    extends: (spec.extends ?? []).map((parent) => ({ name: parent, at: AT })),
  };
  if (spec.description !== undefined) policy.description = spec.description;
  return policy;
}

export function memoryAttachment(type: ScopeType, key: string, policy: string): Attachment {
  return { type, key, policy, at: AT };
}

export function memoryBaselines(spec: BaselineSpec): BaselineIndex {
  const files: BaselineFile[] = [];
  const time = '2026-11-20T10:00:00Z';
  for (const [repository, workflows] of Object.entries(spec)) {
    const file = emptyBaselineFile(repository);
    for (const [workflow, jobs] of Object.entries(workflows)) {
      const byJob = new Map();
      for (const [job, data] of Object.entries(jobs)) {
        const baseline = emptyJobBaseline();
        baseline.runs = data.runs;
        for (const [endpoint, runs] of Object.entries(data.endpoints)) baseline.endpoints.set(endpoint, { runs, firstSeen: time, lastSeen: time });
        byJob.set(job, baseline);
      }
      file.workflows.set(workflow, byJob);
    }
    files.push(file);
  }
  return buildBaselineIndex(files);
}

/**
 * Markdown structure checks: every table has a header, a separator and rows with the same number
 * of cells and ends before a blank line; `<details>` and code fences are balanced. Returns problems.
 */
export function markdownProblems(markdown: string): string[] {
  const problems: string[] = [];
  const lines = markdown.split('\n');
  const cells = (line: string) => line.replace(/\\\|/g, '').split('|').length;
  let fence = false;
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index] ?? '';
    if (line.startsWith('```')) fence = !fence;
    if (fence || !line.startsWith('|')) continue;
    const previous = lines[index - 1] ?? '';
    if (previous.startsWith('|')) continue;
    if (previous.trim() !== '') problems.push(`line ${index + 1}: table does not start after a blank line`);
    const header = cells(line);
    const separator = lines[index + 1] ?? '';
    if (!/^\|(---\|)+$/.test(separator) || cells(separator) !== header) problems.push(`line ${index + 2}: table without a matching separator row`);
    let end = index + 2;
    while (end < lines.length && (lines[end] ?? '').startsWith('|')) {
      if (cells(lines[end] ?? '') !== header) problems.push(`line ${end + 1}: row has ${cells(lines[end] ?? '')} cells, header ${header}`);
      end++;
    }
    if (end < lines.length && (lines[end] ?? '').trim() !== '') problems.push(`line ${end + 1}: table not followed by a blank line`);
  }
  if (fence) problems.push('unclosed code fence');
  const opened = (markdown.match(/<details[\s>]/g) ?? []).length;
  const closed = (markdown.match(/<\/details>/g) ?? []).length;
  if (opened !== closed) problems.push(`${opened} <details> but ${closed} </details>`);
  const tablesOpened = (markdown.match(/<table[\s>]/g) ?? []).length;
  const tablesClosed = (markdown.match(/<\/table>/g) ?? []).length;
  if (tablesOpened !== tablesClosed) problems.push(`${tablesOpened} <table> but ${tablesClosed} </table>`);
  return problems;
}
