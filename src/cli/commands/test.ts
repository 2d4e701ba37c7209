import { flattenPolicies } from '../../policy/flatten.js';
import { formatDiagnostic } from '../../policy/diagnostics.js';
import { attachmentMap } from '../../policy/model.js';
import {
  explainOutcome,
  failureMessage,
  parsePolicyTests,
  runPolicyTests,
  summarize,
  type CaseOutcome,
  type PolicyStore,
} from '../../policy/policy-tests.js';
import { replayBaselines, type BaselineReplay } from '../../review/replay.js';
import { InvalidInputError, UsageError } from '../../util/errors.js';
import { asOfFlag, parseCommandArgs, writeJson, type CliIo, type Command } from '../io.js';
import { loadValidRepository, repositoryDir } from '../repository.js';

const usage = 'egressctl test [-C DIR] [--rev REV] [--at YYYY-MM-DD] [--baselines [--fail-on-breakage]] [--json]';

/** How many blocked endpoints of one job the text report lists before "and N more". */
const BLOCKED_SHOWN = 10;

// The command shape (name, summary, usage, run -> parseCommandArgs with its own options) is the same in every
// command on purpose: `duplicates` pairs these by shape; only `-C DIR` is shared and it is one line (issue 13).
export const command: Command = {
  name: 'test',
  summary: 'run the policy tests in tests/*.yml (and, with --baselines, replay observed endpoints)',
  usage,
  async run(args: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs(
      args,
      {
        C: { type: 'string', short: 'C' },
        rev: { type: 'string' },
        at: { type: 'string' },
        baselines: { type: 'boolean', default: false },
        'fail-on-breakage': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
      },
      usage,
    );
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"\nusage: ${usage}`);
    if (values['fail-on-breakage'] && !values.baselines) throw new UsageError(`--fail-on-breakage needs --baselines\nusage: ${usage}`);
    const now = asOfFlag(values.at);

    const { repository, snapshot } = await loadValidRepository(io, repositoryDir(io, values.C), values.rev);
    const parsed = parsePolicyTests(repository.files);
    for (const diagnostic of parsed.warnings) io.stderr(`${formatDiagnostic(diagnostic)}\n`);
    if (parsed.errors.length > 0) {
      for (const diagnostic of parsed.errors) io.stderr(`${formatDiagnostic(diagnostic)}\n`);
      throw new InvalidInputError(`${parsed.errors.length} error${parsed.errors.length === 1 ? '' : 's'} in tests/: fix them (egressctl validate shows them too)`);
    }

    const store: PolicyStore = { attachments: attachmentMap(repository.attachments), policies: flattenPolicies(repository) };
    const outcomes = runPolicyTests(store, parsed.value, now);
    const summary = summarize(outcomes);
    const replay = values.baselines ? replayBaselines(repository.baselines, store, now) : undefined;
    const breaks = replay !== undefined && values['fail-on-breakage'] && replay.breaking.length > 0;
    const ok = summary.failed === 0 && !breaks;

    if (values.json) {
      writeJson(io, {
        ok,
        ...(snapshot.revision === undefined ? {} : { revision: snapshot.revision }),
        at: now.toISOString(),
        summary,
        cases: outcomes.map(caseJson),
        ...(replay === undefined ? {} : { baselines: replayJson(replay) }),
      });
    } else {
      if (outcomes.length === 0) io.stdout('no policy tests: add tests/*.yml (egressctl init writes an example)\n');
      for (const outcome of outcomes) io.stdout(caseText(outcome));
      if (replay !== undefined) io.stdout(replayText(replay, values['fail-on-breakage']));
      const breakage = breaks ? `; ${replay.breaking.length} baseline job${replay.breaking.length === 1 ? '' : 's'} would break (--fail-on-breakage)` : '';
      io.stdout(
        `${ok ? 'ok' : 'FAILED'}: ${summary.passed} of ${summary.cases} case${summary.cases === 1 ? '' : 's'} passed (${summary.endpoints} endpoint${
          summary.endpoints === 1 ? '' : 's'
        } checked, as of ${now.toISOString()})${breakage}\n`,
      );
    }
    return ok ? 0 : 1;
  },
};

function caseText(outcome: CaseOutcome): string {
  const lines = [`${outcome.passed ? 'pass' : 'FAIL'}  ${outcome.name}  (${outcome.file}:${outcome.at.line})`];
  for (const endpoint of outcome.endpoints.filter((item) => !item.passed)) {
    lines.push(`  ${endpoint.at.file}:${endpoint.at.line}:${endpoint.at.column}: ${failureMessage(outcome, endpoint)}`);
  }
  return `${lines.join('\n')}\n`;
}

function caseJson(outcome: CaseOutcome) {
  return {
    name: outcome.name,
    file: outcome.file,
    line: outcome.at.line,
    passed: outcome.passed,
    query: outcome.query,
    evaluatedAt: outcome.evaluatedAt,
    decision: outcome.decision,
    endpoints: outcome.endpoints.map((endpoint) => ({
      endpoint: endpoint.endpoint,
      expected: endpoint.expected,
      actual: endpoint.actual,
      passed: endpoint.passed,
      file: endpoint.at.file,
      line: endpoint.at.line,
      column: endpoint.at.column,
      ...(endpoint.allowedBy === undefined ? {} : { allowedBy: endpoint.allowedBy }),
      ...(endpoint.implicit ? { implicit: true } : {}),
      why: explainOutcome(outcome.decision, endpoint),
    })),
  };
}

function replayText(replay: BaselineReplay, failOnBreakage: boolean): string {
  const lines = [
    `baselines: ${replay.jobs.length} job${replay.jobs.length === 1 ? '' : 's'}, ${replay.endpointsChecked} observed endpoint${replay.endpointsChecked === 1 ? '' : 's'} replayed`,
  ];
  if (replay.breaking.length === 0) lines.push('  nothing observed would be blocked');
  for (const job of replay.breaking) {
    const scope = job.decision.scope === null ? '' : ` (${job.decision.scope.type} ${job.decision.scope.key})`;
    lines.push(`  ${failOnBreakage ? 'BREAKS' : 'would block'}  ${job.key}: policy "${job.decision.policy}"${scope} blocks ${job.blocked.length} of ${job.observed}:`);
    for (const item of job.blocked.slice(0, BLOCKED_SHOWN)) lines.push(`    ${item.endpoint} (seen in ${item.runs} run${item.runs === 1 ? '' : 's'})`);
    if (job.blocked.length > BLOCKED_SHOWN) lines.push(`    ... and ${job.blocked.length - BLOCKED_SHOWN} more (--json lists all)`);
  }
  return `${lines.join('\n')}\n`;
}

function replayJson(replay: BaselineReplay) {
  return {
    jobs: replay.jobs.length,
    endpointsChecked: replay.endpointsChecked,
    endpointsBlocked: replay.endpointsBlocked,
    breaking: replay.breaking.map((job) => ({ key: job.key, repository: job.repository, workflow: job.workflow, job: job.job, decision: job.decision, observed: job.observed, blocked: job.blocked })),
  };
}
