/**
 * `github-firewall.runs-on: rewrite` (docs/github-firewall.md, "Runner labels"): jobs that follow
 * a block policy and run on a standard Linux GitHub-hosted label move to the firewall runner, by
 * replacing that one scalar in place (its quoting kept; every other byte stays). Everything else
 * is left alone and reported with the reason: Windows, macOS, self-hosted and larger-runner
 * labels, expressions, `ubuntu-slim`, ARM, jobs that call a reusable workflow. Pure; the caller
 * runs GitHub's workflow parser on the result (workflow-check.ts).
 */
import { isMap, isPair, isScalar, isSeq, parseDocument, type Scalar } from 'yaml';
import { applyEdits, LineIndex, type TextEdit } from '../workflow-text.js';
import { keyName, mapValue, pairOf, rangeOf } from '../yaml-nodes.js';
import { FIREWALL_MOVABLE_LABELS, FIREWALL_RUNNER_LABEL, isFirewallRunnerLabel } from './format.js';

export interface RunnerMove {
  job: string;
  /** 1-based line of the job's key. */
  line: number;
  /** `moved`: relabelled; `already`: on the firewall runner; `left`: not moved (see reason). */
  action: 'moved' | 'already' | 'left';
  from?: string;
  to?: string;
  reason?: string;
}

export interface RunsOnResult {
  output: string;
  jobs: RunnerMove[];
}

/** Why a label is not moved, or undefined when it can be. */
export function labelRefusal(label: string): string | undefined {
  const lower = label.toLowerCase();
  if (isFirewallRunnerLabel(lower)) return undefined;
  if (Object.hasOwn(FIREWALL_MOVABLE_LABELS, lower)) return undefined;
  if (lower.includes('${{')) return 'runs-on is an expression: its value is only known at run time';
  if (lower.startsWith('windows')) return 'Windows runner: the firewall runs on Linux only';
  if (lower.startsWith('macos')) return 'macOS runner: the firewall runs on Linux only';
  if (lower === 'ubuntu-slim') return 'ubuntu-slim: a container-based runner; the firewall image is Ubuntu 24.04 (leave it, or move it by hand)';
  if (lower === 'self-hosted') return 'self-hosted runner: GitHub\'s firewall serves GitHub-hosted runners only';
  if (/^ubuntu-.*-arm$/.test(lower)) return 'ARM runner: the firewall label is x64 (ubuntu-24.04-firewall)';
  if (/^ubuntu-\d/.test(lower)) return `${label}: not an image the firewall runner replaces (ubuntu-latest, ubuntu-24.04, ubuntu-22.04)`;
  return `${label}: not a standard GitHub-hosted Linux label (a larger or self-hosted runner: use a larger runner built on the "Ubuntu 24.04 with Firewall" image)`;
}

function quoted(node: Scalar, label: string): string {
  if (node.type === 'QUOTE_DOUBLE') return JSON.stringify(label);
  if (node.type === 'QUOTE_SINGLE') return `'${label}'`;
  return label;
}

/**
 * Move the jobs `shouldMove` selects (by job id; it says why not otherwise) to the firewall runner.
 * `shouldMove` returning a string: the job is not moved, for that reason.
 */
export function moveToFirewallRunner(text: string, shouldMove: (job: string) => true | string): RunsOnResult {
  const doc = parseDocument(text, { keepSourceTokens: false });
  const index = new LineIndex(text);
  const jobs: RunnerMove[] = [];
  const edits: TextEdit[] = [];
  if (doc.errors.length > 0 || !isMap(doc.contents)) return { output: text, jobs };
  const jobsNode = mapValue(doc.contents, 'jobs');
  if (!isMap(jobsNode)) return { output: text, jobs };
  for (const pair of jobsNode.items) {
    if (!isPair(pair)) continue;
    const id = keyName(pair);
    if (id === undefined) continue;
    const line = index.position(rangeOf(pair.key)?.[0] ?? 0).line;
    const job = pair.value;
    if (!isMap(job)) continue;
    if (pairOf(job, 'uses')) {
      jobs.push({ job: id, line, action: 'left', reason: 'calls a reusable workflow: the called workflow\'s jobs choose their runner' });
      continue;
    }
    const runsOn = mapValue(job, 'runs-on');
    // A one-label list is the same runner: `[ubuntu-latest]` moves like `ubuntu-latest`.
    const scalar = isScalar(runsOn) ? runsOn : isSeq(runsOn) && runsOn.items.length === 1 && isScalar(runsOn.items[0]) ? (runsOn.items[0] as Scalar) : undefined;
    if (!scalar || typeof scalar.value !== 'string') {
      const reason = runsOn === undefined ? 'no runs-on' : isMap(runsOn) ? 'runs-on names a runner group or labels: not a standard GitHub-hosted label' : 'runs-on lists several labels: a self-hosted or larger runner';
      jobs.push({ job: id, line, action: 'left', reason });
      continue;
    }
    const label = scalar.value;
    const lower = label.toLowerCase();
    if (isFirewallRunnerLabel(lower)) {
      jobs.push({ job: id, line, action: 'already', from: label });
      continue;
    }
    const refusal = labelRefusal(label);
    if (refusal) {
      jobs.push({ job: id, line, action: 'left', from: label, reason: refusal });
      continue;
    }
    const decision = shouldMove(id);
    if (decision !== true) {
      jobs.push({ job: id, line, action: 'left', from: label, reason: decision });
      continue;
    }
    const range = rangeOf(scalar);
    if (!range) continue;
    edits.push({ start: range[0], end: range[1], text: quoted(scalar, FIREWALL_RUNNER_LABEL) });
    const imageChange = FIREWALL_MOVABLE_LABELS[lower];
    jobs.push({ job: id, line, action: 'moved', from: label, to: FIREWALL_RUNNER_LABEL, ...(imageChange ? { reason: imageChange } : {}) });
  }
  return { output: edits.length > 0 ? applyEdits(text, edits) : text, jobs };
}
