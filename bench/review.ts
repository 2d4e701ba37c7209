/**
 * Review engine benchmark (docs/architecture.md#scale: "preview a PR that touches 5,000 scopes in about a second").
 * The enterprise of bench/enterprise.ts (20 orgs, 5,000 repositories, 20,000 workflow attachments,
 * 2,000 policies of ~40 endpoints) with baselines for 5,000 workflow scopes, and a change at
 * organization level: the shared base policy goes audit -> block, loses endpoints and gains a
 * wildcard (reaching the 200 policies that extend it), every organization is re-attached to it and
 * seven organizations' repository attachments are removed: over 5,000 scopes change. Timed: the engine (reviewChange) and the
 * comment (renderMarkdown), after loading; loading and preparing are reported apart.
 */
import { buildBaselineIndex, emptyBaselineFile, emptyJobBaseline, type BaselineFile, type BaselineIndex } from '../src/baselines/index.js';
import { flattenPolicies } from '../src/policy/flatten.js';
import { parsePolicyRepository } from '../src/store/repository.js';
import { attachmentMap, type Attachment, type Policy } from '../src/policy/model.js';
import type { PolicyRepository } from '../src/store/repository.js';
import { resolveScopes } from '../src/policy/resolve.js';
import { GITHUB_COMMENT_LIMIT, renderJson, renderMarkdown, reviewChange, type Review, type ReviewInput } from '../src/review/index.js';
import { BASE_ENTERPRISE, generateEnterprise, type EnterpriseShape } from './enterprise.js';

export interface ReviewBenchRow {
  step: string;
  ms: number;
  detail: string;
}

export interface ReviewScenario {
  base: ReviewInput;
  head: ReviewInput;
  /** Workflow scopes with baselines. */
  baselineScopes: number;
}

const SHARED_BASE = 'policy-0';

function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** Head = base with the organization-level change described above, built in memory. */
export function changeAtOrganizationLevel(base: PolicyRepository): Pick<PolicyRepository, 'policies' | 'attachments'> {
  const shared = base.policies.get(SHARED_BASE);
  if (!shared) throw new Error(`the enterprise has no ${SHARED_BASE}`);
  const at = shared.at;
  const changed: Policy = {
    ...shared,
    egressPolicy: 'block',
    allowedEndpoints: [...shared.allowedEndpoints.slice(5), { endpoint: '*.corp-0.example.com:443', at }],
  };
  const policies = new Map(base.policies);
  policies.set(SHARED_BASE, changed);
  const detachedOrganizations = new Set(['org-0', 'org-1', 'org-2', 'org-3', 'org-4', 'org-5', 'org-6']);
  const attachments: Attachment[] = [];
  for (const attachment of base.attachments) {
    if (attachment.type === 'organization') attachments.push({ ...attachment, policy: SHARED_BASE });
    else if (attachment.type === 'repository' && detachedOrganizations.has(attachment.key.split('/')[0] ?? '')) continue;
    else attachments.push(attachment);
  }
  return { policies, attachments };
}

/**
 * Baselines for `scopes` workflow scopes (two per repository: one attached workflow, one not),
 * each job using most of its current effective policy's endpoints plus two it never allowed.
 */
export function syntheticBaselines(repository: Pick<PolicyRepository, 'policies' | 'attachments'>, repositories: readonly string[], scopes: number): BaselineIndex {
  const random = prng(7);
  const compiled = flattenPolicies(repository);
  const map = attachmentMap(repository.attachments);
  const time = '2026-11-20T10:00:00Z';
  const files: BaselineFile[] = [];
  for (let index = 0; index < scopes / 2 && index < repositories.length; index++) {
    const name = repositories[index] as string;
    const file = emptyBaselineFile(name);
    for (const workflowPath of ['.github/workflows/wf-0.yml', '.github/workflows/unattached.yml']) {
      const policy = resolveScopes(map, { repository: name, workflow: workflowPath }).policy;
      const allowed = (policy && compiled[policy]?.['allowed-endpoints']) || [];
      const job = emptyJobBaseline();
      job.runs = 5 + Math.floor(random() * 20);
      const used = allowed.filter((endpoint) => !endpoint.includes('*')).slice(0, 25);
      used.push(`telemetry-${index % 97}.example.org:443`, `eu.corp-0.example.com:443`);
      for (const endpoint of used) job.endpoints.set(endpoint, { runs: 1 + Math.floor(random() * job.runs), firstSeen: time, lastSeen: time });
      file.workflows.set(workflowPath, new Map([['build', job]]));
    }
    files.push(file);
  }
  return buildBaselineIndex(files);
}

export function buildReviewScenario(shape: EnterpriseShape = BASE_ENTERPRISE, baselineScopes = 5_000): ReviewScenario & { loadMs: number } {
  const started = performance.now();
  const enterprise = generateEnterprise(shape);
  const parsed = parsePolicyRepository(enterprise.files);
  if (parsed.errors.length > 0) throw new Error(`the synthetic enterprise is invalid: ${parsed.errors[0]?.message}`);
  const loadMs = performance.now() - started;
  const baseRepository = parsed.value;
  const headRepository = changeAtOrganizationLevel(baseRepository);
  const baselines = syntheticBaselines(baseRepository, enterprise.repositories, baselineScopes);
  return {
    base: prepared('main', baseRepository, baselines),
    head: prepared('org-change', headRepository, baselines),
    baselineScopes,
    loadMs,
  };
}

/** What prepareReviewInput computes, with baselines built in memory instead of parsed. */
function prepared(label: string, repository: Pick<PolicyRepository, 'policies' | 'attachments'>, baselines: BaselineIndex): ReviewInput {
  return { label, policies: repository.policies, attachments: repository.attachments, compiled: flattenPolicies(repository), attachmentMap: attachmentMap(repository.attachments), baselines };
}

/** Wall and CPU time: on a shared 2-core machine the CPU time says what the engine itself costs. */
function time<T>(run: () => T): { value: T; ms: number; cpuMs: number } {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const value = run();
  const used = process.cpuUsage(cpu);
  return { value, ms: performance.now() - started, cpuMs: (used.user + used.system) / 1000 };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

export async function runReviewBench(options: { shape?: EnterpriseShape; repeats?: number } = {}): Promise<ReviewBenchRow[]> {
  const scenario = buildReviewScenario(options.shape ?? BASE_ENTERPRISE);
  const repeats = options.repeats ?? 3;
  const round = (ms: number) => Math.round(ms * 10) / 10;

  let review: Review | undefined;
  const engineTimes: number[] = [];
  const engineCpu: number[] = [];
  const markdownTimes: number[] = [];
  const markdownCpu: number[] = [];
  let markdown = '';
  let firstMs = 0;
  for (let attempt = 0; attempt < repeats; attempt++) {
    const engine = time(() => reviewChange(scenario.base, scenario.head));
    review = engine.value;
    engineTimes.push(engine.ms);
    engineCpu.push(engine.cpuMs);
    const rendered = time(() => renderMarkdown(engine.value, { maxLength: GITHUB_COMMENT_LIMIT }));
    markdown = rendered.value;
    markdownTimes.push(rendered.ms);
    markdownCpu.push(rendered.cpuMs);
    if (attempt === 0) firstMs = engine.ms + rendered.ms;
  }
  if (!review) throw new Error('no review ran');
  const json = time(() => renderJson(review as Review));
  const summary = review.summary;
  const engineMs = median(engineTimes);
  const markdownMs = median(markdownTimes);
  const cpu = (values: number[]) => `CPU ${Math.round(median(values))} ms`;
  const count = (value: number) => value.toLocaleString('en-US');
  return [
    { step: 'review: load synthetic enterprise (parse, not timed below)', ms: round(scenario.loadMs), detail: `${count((options.shape ?? BASE_ENTERPRISE).repositories)} repositories, ${count(scenario.base.policies.size)} policies, ${count(scenario.baselineScopes)} workflow scopes in baselines` },
    {
      step: `review: reviewChange (engine, median of ${repeats})`,
      ms: round(engineMs),
      detail: `${cpu(engineCpu)}; ${count(summary.scopesConsidered)} scopes considered, ${count(summary.scopesChanged)} changed, ${summary.policiesChanged} policies changed, ${count(summary.jobsBreaking)} of ${count(summary.jobsObserved)} jobs break`,
    },
    { step: `review: renderMarkdown (comment, median of ${repeats})`, ms: round(markdownMs), detail: `${cpu(markdownCpu)}; ${count(markdown.length)} of ${count(GITHUB_COMMENT_LIMIT)} characters` },
    {
      step: 'review: engine + comment, first (cold) run (target < 1,000 ms)',
      ms: round(firstMs),
      detail: `median ${Math.round(engineMs + markdownMs)} ms; ${engineMs + markdownMs < 1000 && markdown.length <= GITHUB_COMMENT_LIMIT ? 'ok' : 'OVER TARGET'}`,
    },
    { step: 'review: renderJson (--format json)', ms: round(json.ms), detail: `${(json.value.length / 1e6).toFixed(1)} MB` },
  ];
}
