import { formatDiagnostic } from '../../policy/diagnostics.js';
import { GITHUB_COMMENT_LIMIT, renderJson, renderMarkdown, renderText, reviewRevisions } from '../../review/index.js';
import { UsageError } from '../../util/errors.js';
import { asOfFlag, parseCommandArgs, type CliIo, type Command } from '../io.js';
import { repositoryDir } from '../repository.js';

const usage = 'egressctl diff [-C DIR] BASE [HEAD] [--format text|markdown|json] [--all] [--max-length N] [--at YYYY-MM-DD]';
const FORMATS = ['text', 'markdown', 'json'] as const;
type Format = (typeof FORMATS)[number];

// The command shape (name, summary, usage, run -> parseCommandArgs with its own options) is the same in every
// command on purpose: `duplicates` pairs these by shape; only `-C DIR` is shared and it is one line (issue 13).
export const command: Command = {
  name: 'diff',
  summary: 'review a change: policy diffs, precedence preview and breakage forecast between two revisions',
  usage,
  async run(args: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs(
      args,
      {
        C: { type: 'string', short: 'C' },
        format: { type: 'string', default: 'text' },
        all: { type: 'boolean', default: false },
        'max-length': { type: 'string' },
        at: { type: 'string' },
      },
      usage,
    );
    const [base, head, extra] = positionals;
    if (base === undefined) throw new UsageError(`name the base revision (e.g. main)\nusage: ${usage}`);
    if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}": give BASE and at most one HEAD\nusage: ${usage}`);
    const format = values.format as Format;
    if (!FORMATS.includes(format)) throw new UsageError(`--format must be one of ${FORMATS.join(', ')}, not "${values.format}"`);
    let maxLength = GITHUB_COMMENT_LIMIT;
    if (values['max-length'] !== undefined) {
      maxLength = Number(values['max-length']);
      if (!Number.isInteger(maxLength) || maxLength < 1) throw new UsageError(`--max-length must be a positive whole number, not "${values['max-length']}"`);
    }

    // The breakage forecast is about now, or --at (as resolve --at): expired exceptions count as absent.
    const at = asOfFlag(values.at);

    const dir = repositoryDir(io, values.C);
    const review = await reviewRevisions(head === undefined ? { dir, base, at } : { dir, base, head, at });
    for (const [name, result] of [
      ['base', review.baseResult],
      ['head', review.headResult],
    ] as const) {
      if (result.errors.length === 0) continue;
      if (name === 'head') for (const diagnostic of result.errors) io.stderr(`${formatDiagnostic(diagnostic)}\n`);
      io.stderr(
        `egressctl: the ${name} (${name === 'base' ? review.base.label : review.head.label}) has ${result.errors.length} error${result.errors.length === 1 ? '' : 's'}: the review below covers what could be read (egressctl validate shows them all)\n`,
      );
    }

    const command = `egressctl diff ${base}${head === undefined ? '' : ` ${head}`}${values.at === undefined ? '' : ` --at ${values.at}`} --format json`;
    if (format === 'json') io.stdout(renderJson(review));
    else if (format === 'markdown') io.stdout(renderMarkdown(review, { maxLength, command }));
    else io.stdout(renderText(review, { maxRows: values.all ? 0 : 20 }));
    // The head is what would be merged: it must be valid. A broken base is only reported.
    return review.headResult.errors.length > 0 ? 1 : 0;
  },
};
