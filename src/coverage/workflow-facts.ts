/**
 * The facts coverage and the tamper check read from a workflow file, per job: where it runs,
 * whether it calls a reusable workflow or runs in a container, its Harden-Runner step (inputs
 * as written, the managed marker), `EGRESSCTL_POLICY` in an `env:`, and the triggers that let a
 * pull request supply the workflow file. Pure: text in, facts out.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, parseDocument, type Document, type YAMLMap } from 'yaml';
import { POLICY_ENV } from '../policy/delivery.js';
import { readMarker, stepKind } from '../rollout/harden.js';
import { analyzeJob, referencedAnchors } from '../rollout/workflow-jobs.js';
import { LineIndex } from '../rollout/workflow-text.js';
import { keyName, mapValue, rangeOf } from '../rollout/yaml-nodes.js';
import type { JobFacts, StepFacts } from './model.js';

/**
 * Events whose runs use the workflow file as the pull request has it (its merge commit or head),
 * so the pull request's author decides what the step says for those runs. `pull_request_target`
 * and `workflow_run` run the base branch's file and are not listed.
 */
export const PULL_REQUEST_CONTROLLED_EVENTS = ['pull_request', 'pull_request_review', 'pull_request_review_comment'] as const;

export type WorkflowFacts = { jobs: JobFacts[]; error?: undefined } | { jobs: []; error: string };

function resolved(node: unknown, doc: Document): unknown {
  return isAlias(node) ? node.resolve(doc) : node;
}

function stringValue(node: unknown, doc: Document): string | undefined {
  const target = resolved(node, doc);
  if (!isScalar(target) || target.value === null || target.value === undefined) return undefined;
  return typeof target.value === 'object' ? undefined : String(target.value);
}

/** `env:` sets EGRESSCTL_POLICY: its value as written ('' when not a plain value). */
function policyEnvOf(node: unknown, doc: Document): string | undefined {
  const env = resolved(node, doc);
  if (!isMap(env)) return undefined;
  for (const pair of env.items) {
    if (isPair(pair) && keyName(pair) === POLICY_ENV) return stringValue(pair.value, doc) ?? '';
  }
  return undefined;
}

function triggersOf(root: YAMLMap, doc: Document): string[] {
  const on = resolved(mapValue(root, 'on') ?? mapValue(root, 'true'), doc);
  const names: string[] = [];
  if (isScalar(on) && typeof on.value === 'string') names.push(on.value);
  else if (isSeq(on)) for (const item of on.items) { const name = stringValue(item, doc); if (name) names.push(name); }
  else if (isMap(on)) for (const pair of on.items) { if (isPair(pair)) { const name = keyName(pair); if (name) names.push(name); } }
  return names.filter((name) => (PULL_REQUEST_CONTROLLED_EVENTS as readonly string[]).includes(name));
}

function stepFacts(job: YAMLMap, doc: Document, text: string, index: LineIndex): StepFacts | undefined {
  const steps = resolved(mapValue(job, 'steps'), doc);
  if (!isSeq(steps)) return undefined;
  for (const item of steps.items) {
    const step = resolved(item, doc);
    if (!isMap(step)) continue;
    const uses = stringValue(mapValue(step, 'uses'), doc);
    if (uses === undefined || stepKind(uses) !== 'harden-runner') continue;
    const inputs: Record<string, string> = {};
    const withNode = resolved(mapValue(step, 'with'), doc);
    if (isMap(withNode)) {
      for (const pair of withNode.items) {
        const key = isPair(pair) ? keyName(pair) : undefined;
        const value = key !== undefined && isPair(pair) ? stringValue(pair.value, doc) : undefined;
        if (key !== undefined && value !== undefined) inputs[key] = value;
      }
    }
    const range = rangeOf(step);
    const managedBy = range ? readMarker(text.slice(range[0], range[2])) : undefined;
    return {
      uses,
      with: inputs,
      ...(managedBy ? { managedBy } : {}),
      line: range ? index.lineOf(range[0]) + 1 : 0,
      setsPolicyEnv: policyEnvOf(mapValue(step, 'env'), doc) !== undefined,
    };
  }
  return undefined;
}

/** Every job of a workflow file with what enforcement depends on; an error when the text is not a workflow. */
export function workflowFacts(text: string, file: string): WorkflowFacts {
  const doc = parseDocument(text, { keepSourceTokens: true, uniqueKeys: false, prettyErrors: false });
  if (doc.errors.length > 0) return { jobs: [], error: `does not parse as YAML: ${(doc.errors[0]?.message ?? '').split('\n')[0]}` };
  const root = doc.contents;
  if (!isMap(root)) return { jobs: [], error: 'is not a workflow (no mapping at the top)' };
  const jobsNode = resolved(mapValue(root, 'jobs'), doc);
  if (!isMap(jobsNode)) return { jobs: [], error: 'is not a workflow (no jobs: mapping)' };
  const index = new LineIndex(text);
  const anchors = referencedAnchors(doc, text);
  const workflowEnv = policyEnvOf(mapValue(root, 'env'), doc);
  const pullRequestTriggers = triggersOf(root, doc);
  const jobs: JobFacts[] = [];
  for (const pair of jobsNode.items) {
    if (!isPair(pair)) continue;
    const line = index.lineOf(rangeOf(pair.key)?.[0] ?? 0) + 1;
    const analysis = analyzeJob(doc, pair, line, anchors);
    const job = resolved(pair.value, doc);
    const facts: JobFacts = {
      file,
      job: analysis.id,
      line,
      runner: analysis.runner,
      container: analysis.container,
      containerExpression: analysis.containerExpression,
      pullRequestTriggers,
    };
    if (isMap(job)) {
      const calls = stringValue(mapValue(job, 'uses'), doc);
      if (calls !== undefined) facts.calls = calls;
      const step = stepFacts(job, doc, text, index);
      if (step) facts.step = step;
      else if (!isSeq(resolved(mapValue(job, 'steps'), doc)) && calls === undefined) facts.noSteps = 'the job has no steps';
      const jobEnv = policyEnvOf(mapValue(job, 'env'), doc);
      if (jobEnv !== undefined) facts.policyEnv = { level: 'job', value: jobEnv };
      else if (workflowEnv !== undefined) facts.policyEnv = { level: 'workflow', value: workflowEnv };
    } else {
      facts.noSteps = 'the job is not a mapping';
    }
    jobs.push(facts);
  }
  return { jobs };
}
