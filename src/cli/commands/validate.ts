import path from 'node:path';
import { compareDiagnostics, formatDiagnostic, type Diagnostic } from '../../policy/diagnostics.js';
import { expiryFindings } from '../../policy/expiry.js';
import { parsePolicyTests } from '../../policy/policy-tests.js';
import { loadPolicyRepository } from '../../store/repository.js';
import { UsageError } from '../../util/errors.js';
import { parseCommandArgs, writeJson, type CliIo, type Command } from '../io.js';
import { repositoryDir } from '../repository.js';

const usage = 'egressctl validate [-C DIR] [--rev REV] [--format text|json|github]';

/** GitHub workflow command escaping (data and property values differ). */
function escapeData(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}
function escapeProperty(text: string): string {
  return escapeData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

export function githubAnnotation(diagnostic: Diagnostic, file: string): string {
  const level = diagnostic.severity;
  return `::${level} file=${escapeProperty(file)},line=${diagnostic.line},col=${diagnostic.column},title=${escapeProperty(
    diagnostic.code,
  )}::${escapeData(diagnostic.message)}`;
}

// The command shape (name, summary, usage, run -> parseCommandArgs with its own options) is the same in every
// command on purpose: `duplicates` pairs these by shape; only `-C DIR` is shared and it is one line (issue 13).
export const command: Command = {
  name: 'validate',
  summary: 'validate policies, attachments, baselines and settings',
  usage,
  async run(args: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs(
      args,
      { C: { type: 'string', short: 'C' }, rev: { type: 'string' }, format: { type: 'string', default: 'text' } },
      usage,
    );
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"\nusage: ${usage}`);
    const format = values.format;
    if (format !== 'text' && format !== 'json' && format !== 'github') {
      throw new UsageError(`--format must be text, json or github, not "${format}"`);
    }
    const dir = repositoryDir(io, values.C);
    const loaded = await loadPolicyRepository(values.rev === undefined ? { dir } : { dir, rev: values.rev });
    // The policy tests' syntax, and exceptions that expired or expire soon (as of now: warnings and
    // notices, never errors, so an old date cannot block an unrelated change).
    const tests = parsePolicyTests(loaded.value.files);
    const expiry = expiryFindings(loaded.value.policies.values(), new Date());
    const result = {
      value: loaded.value,
      errors: [...loaded.errors, ...tests.errors].sort(compareDiagnostics),
      warnings: [...loaded.warnings, ...tests.warnings, ...expiry.warnings].sort(compareDiagnostics),
      notices: expiry.notices,
    };
    const ok = result.errors.length === 0;
    if (format === 'json') {
      const strip = ({ file, line, column, code, message }: Diagnostic) => ({ file, line, column, code, message });
      writeJson(io, { ok, errors: result.errors.map(strip), warnings: result.warnings.map(strip), notices: result.notices.map(strip) });
    } else if (format === 'github') {
      // Annotations need paths relative to the workspace, where the workflow runs us.
      const workspace = io.env['GITHUB_WORKSPACE'] ?? io.cwd;
      for (const diagnostic of [...result.errors, ...result.warnings, ...result.notices]) {
        const file = path.relative(workspace, path.join(dir, diagnostic.file)).split(path.sep).join('/');
        io.stdout(`${githubAnnotation(diagnostic, file)}\n`);
      }
      io.stdout(summaryLine(result.value.policies.size, result.value.attachments.length, result.errors.length, result.warnings.length));
    } else {
      for (const diagnostic of [...result.errors, ...result.warnings, ...result.notices]) io.stdout(`${formatDiagnostic(diagnostic)}\n`);
      io.stdout(summaryLine(result.value.policies.size, result.value.attachments.length, result.errors.length, result.warnings.length));
    }
    return ok ? 0 : 1;
  },
};

function summaryLine(policies: number, attachments: number, errors: number, warnings: number): string {
  const verdict = errors === 0 ? 'valid' : 'invalid';
  return `${verdict}: ${policies} polic${policies === 1 ? 'y' : 'ies'}, ${attachments} attachment${attachments === 1 ? '' : 's'}, ${errors} error${
    errors === 1 ? '' : 's'
  }, ${warnings} warning${warnings === 1 ? '' : 's'}\n`;
}
