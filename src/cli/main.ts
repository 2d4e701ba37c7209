/**
 * `egressctl` entry point: dispatches to one module per command (src/cli/commands/*), loaded
 * lazily so `egressctl validate` does not pay for the server's or the app's imports.
 */
import { EgressctlError, UsageError, gitHubMessageOf } from '../util/errors.js';
import { processIo, type CliIo, type Command } from './io.js';

type CommandLoader = () => Promise<{ command: Command }>;

/** Each command's module exports `command`. Keep sorted by name. */
const COMMANDS: Record<string, { summary: string; load: CommandLoader }> = {
  attach: { summary: 'attach a policy to a scope', load: () => import('./commands/attach.js') },
  baseline: { summary: 'merge a Harden-Runner job log, an endpoint list or a firewall decisions artifact into baselines/', load: () => import('./commands/baseline.js') },
  compile: { summary: 'compile the policy repository into a (signed) bundle', load: () => import('./commands/compile.js') },
  coverage: { summary: 'per job: what enforces its egress policy, in which mode, and why not; totals per organization', load: () => import('./commands/coverage.js') },
  detach: { summary: 'detach whatever policy is attached to a scope', load: () => import('./commands/detach.js') },
  diff: { summary: 'review a change between two revisions: policy diffs, precedence preview, breakage forecast', load: () => import('./commands/diff.js') },
  harden: { summary: 'put Harden-Runner first in each job of a workflow file, keeping the rest of the text', load: () => import('./commands/harden.js') },
  history: { summary: 'the audit log from git: policies created, updated, attached, detached, deleted', load: () => import('./commands/history.js') },
  hook: { summary: 'self-hosted runner job-started hook: fetch the policy and hand it to the job', load: () => import('./commands/hook.js') },
  init: { summary: 'start a policy repository: policies/, attachments.yml, egressctl.yml, schemas/, a validation workflow', load: () => import('./commands/init.js') },
  keygen: { summary: 'create an ed25519 key pair for signing bundles', load: () => import('./commands/keygen.js') },
  policy: { summary: 'create, export or delete a policy', load: () => import('./commands/policy.js') },
  recommend: { summary: 'recommend allowed-endpoints per job from baselines', load: () => import('./commands/recommend.js') },
  resolve: { summary: 'show the effective policy for a repository, workflow or cluster', load: () => import('./commands/resolve.js') },
  rollout: { summary: 'alias of sync (the store decides; --source baselines plans from baselines)', load: () => import('./commands/rollout.js') },
  serve: { summary: 'serve effective policies and signed bundles to runners (HTTP)', load: () => import('./commands/serve.js') },
  sync: { summary: 'reconcile repositories to the policy store (pull requests; Actions variables with delivery: variables)', load: () => import('./commands/sync.js') },
  test: { summary: 'run the policy tests in tests/*.yml; --baselines replays observed endpoints', load: () => import('./commands/test.js') },
  validate: { summary: 'validate policies, attachments, baselines and settings', load: () => import('./commands/validate.js') },
  verify: { summary: 'verify a signed bundle against a public key', load: () => import('./commands/verify.js') },
};

function helpText(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const lines = Object.entries(COMMANDS).map(([name, entry]) => `  ${name.padEnd(width)}  ${entry.summary}`);
  return [
    'egressctl: runner egress policy as code for GitHub Actions',
    '',
    'usage: egressctl <command> [options]    (egressctl <command> --help for its options)',
    '',
    'commands:',
    ...lines,
    '',
    'global options: --debug (print stack traces)',
    '',
  ].join('\n');
}

export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const debug = argv.includes('--debug');
  const args = argv.filter((arg) => arg !== '--debug');
  const [name, ...rest] = args;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(helpText());
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-V') {
    io.stdout('egressctl 0.1.0\n');
    return 0;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    io.stderr(`egressctl: unknown command "${name}"\n\n${helpText()}`);
    return 2;
  }
  try {
    const { command } = await entry.load();
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout(`usage: ${command.usage}\n`);
      return 0;
    }
    return await command.run(rest, io);
  } catch (error) {
    return reportError(error, io, debug);
  }
}

/** One clear line; a stack trace only with --debug. */
export function reportError(error: unknown, io: CliIo, debug: boolean): number {
  // A GitHub request that got no answer says what could not be reached, not a bare errno.
  const message = gitHubMessageOf(error);
  io.stderr(`egressctl: ${message}\n`);
  if (debug && error instanceof Error && error.stack) io.stderr(`${error.stack}\n`);
  if (error instanceof EgressctlError) return error.exitCode;
  if (!debug) io.stderr('(run with --debug for details)\n');
  return 2;
}

export { UsageError };
