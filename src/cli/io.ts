/** What a command needs from the outside world, injectable so tests run commands in-process. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseAsOf } from '../policy/expiry.js';
import { UsageError, messageOf } from '../util/errors.js';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** stderr is a terminal: progress can be a redrawn bar instead of one line per item. */
  stderrIsTty?: boolean;
}

export const processIo = (): CliIo => ({
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  cwd: process.cwd(),
  env: process.env,
  stderrIsTty: process.stderr.isTTY === true,
});

export interface Command {
  name: string;
  summary: string;
  usage: string;
  run(args: string[], io: CliIo): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** node:util parseArgs with usage errors instead of TypeErrors. */
export function parseCommandArgs<O extends Options>(args: string[], options: O, usage: string) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    const message = messageOf(error);
    throw new UsageError(`${message}\nusage: ${usage}`);
  }
}

export function writeJson(io: CliIo, value: unknown): void {
  io.stdout(`${JSON.stringify(value, null, 2)}\n`);
}

/** A progress bar on a terminal (one line, redrawn with `\r`); `total` unknown: a count. */
export function progressBar(done: number, total: number | undefined, item: string): string {
  if (!total) return `\r${done} repositories… ${item}`.padEnd(80);
  const width = 30;
  const filled = Math.round((done / total) * width);
  return `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${item}`.padEnd(100);
}

/**
 * `--at` as every command reads it (docs/architecture.md#expiring-exceptions): `YYYY-MM-DD` is the
 * start of that UTC day, or an ISO 8601 date-time with a time zone; now when absent.
 */
export function asOfFlag(text: string | undefined): Date {
  if (text === undefined) return new Date();
  const at = parseAsOf(text);
  if (at === undefined) throw new UsageError(`--at must be a date (YYYY-MM-DD) or an ISO 8601 date-time with a time zone, not "${text}"`);
  return at;
}
