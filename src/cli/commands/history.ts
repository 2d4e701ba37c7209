import { closest } from 'fastest-levenshtein';
import { parseSince, policyNamesInHistory, readHistory, renderHistoryText, type ReadHistoryOptions } from '../../history/index.js';
import { POLICY_NAME_PATTERN } from '../../policy/model.js';
import { InvalidInputError, UsageError } from '../../util/errors.js';
import { parseCommandArgs, writeJson, type CliIo, type Command } from '../io.js';
import { repositoryDir } from '../repository.js';

const usage = 'egressctl history [-C DIR] [POLICY] [--json] [--since DATE|30d|2w|12h] [--limit N] [--rev REV]';

// The command shape (name, summary, usage, run -> parseCommandArgs with its own options) is the same in every
// command on purpose: `duplicates` pairs these by shape; only `-C DIR` is shared and it is one line (issue 13).
export const command: Command = {
  name: 'history',
  summary: 'the audit log from git: policies created, updated, attached, detached, deleted',
  usage,
  async run(args: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs(
      args,
      {
        C: { type: 'string', short: 'C' },
        json: { type: 'boolean', default: false },
        since: { type: 'string' },
        limit: { type: 'string' },
        rev: { type: 'string' },
      },
      usage,
    );
    if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}": give at most one policy\nusage: ${usage}`);
    const options: ReadHistoryOptions = { dir: repositoryDir(io, values.C) };
    const [policyArgument] = positionals;
    if (policyArgument !== undefined) options.policy = policyName(policyArgument);
    if (values.since !== undefined) {
      const since = parseSince(values.since);
      if (since === undefined) {
        throw new UsageError(`--since "${values.since}" is not a date: write 2024-05-01, 2024-05-01T12:00:00Z (no zone means UTC) or 30d, 2w, 12h`);
      }
      options.since = since;
    }
    if (values.limit !== undefined) {
      if (!/^\d+$/.test(values.limit) || Number(values.limit) < 1) throw new UsageError(`--limit must be a positive whole number, not "${values.limit}"`);
      options.limit = Number(values.limit);
    }
    if (values.rev !== undefined) options.rev = values.rev;

    const events = await readHistory(options);
    // No events for a name that never existed is a typo, not an empty log.
    if (policyArgument !== undefined && events.length === 0) await requireKnownPolicy(options, policyArgument);
    if (values.json) writeJson(io, events);
    else io.stdout(renderHistoryText(events));
    return 0;
  },
};

/**
 * A policy name; `policies/<name>.yml` is accepted too, since that is what people tab-complete.
 * Lower-cased: names are lower-case, and a shouted name is a name that does not exist.
 */
function policyName(argument: string): string {
  const name = argument.replace(/^(?:\.\/)?policies\//, '').replace(/\.ya?ml$/, '').toLowerCase();
  if (!POLICY_NAME_PATTERN.test(name)) {
    throw new UsageError(`"${argument}" is not a policy name: policy names match ${POLICY_NAME_PATTERN.source} (the file stem under policies/)`);
  }
  return name;
}

async function requireKnownPolicy(options: ReadHistoryOptions, argument: string): Promise<void> {
  const name = options.policy ?? argument;
  const known = await policyNamesInHistory(options.rev === undefined ? { dir: options.dir } : { dir: options.dir, rev: options.rev });
  if (known.includes(name)) return;
  const hint = known.length > 0 ? `did you mean "${closest(name, known)}"?` : 'this history has no policies yet';
  throw new InvalidInputError(`no policy "${argument}" in this repository's history: ${hint}`);
}
