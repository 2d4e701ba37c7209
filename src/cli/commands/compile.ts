/**
 * `egressctl compile`: the policy repository at a revision -> a DSSE envelope around the
 * canonical bundle (docs/architecture.md#bundle). Signed with every `--sign-key`; without one the envelope is
 * unsigned (`"signatures": []`), which servers that have a public key configured refuse, and a
 * note on stderr says so unless `--unsigned` states that this is intended.
 *
 * Deterministic: in a git repository the default is `--rev HEAD` (the committed content, not
 * the work tree, which `validate` reads; uncommitted policy files get a warning) and `committedAt` is the committer date in UTC, so a commit compiles to the
 * same bytes on every machine (ed25519 signatures are deterministic too). A directory that is
 * not a git repository compiles its files with revision `worktree-<content hash>` and
 * `committedAt` from SOURCE_DATE_EPOCH when set, else the current time.
 */
import path from 'node:path';
import type { KeyObject } from 'node:crypto';
import { formatDiagnostic } from '../../policy/diagnostics.js';
import { loadPolicyRepository, uncommittedPolicyFiles } from '../../store/repository.js';
import { openBundle } from '../../bundle/dsse.js';
import { sealRevision } from '../../bundle/seal.js';
import { writeFileAtomic } from '../../util/fs.js';
import { keyIdOf, loadPrivateKey } from '../../bundle/keys.js';
import { GitError, UsageError } from '../../util/errors.js';
import { isGitWorkTree } from '../../util/git.js';
import { parseCommandArgs, type CliIo, type Command } from '../io.js';

const USAGE = 'egressctl compile [-C DIR] [--rev REV] [-o FILE] [--sign-key FILE ...] [--unsigned]';

// The command shape (name, summary, usage, run -> parseCommandArgs with its own options) is the same in every
// command on purpose: `duplicates` pairs these by shape; only `-C DIR` is shared and it is one line (issue 13).
export const command: Command = {
  name: 'compile',
  summary: 'compile the policy repository into a (signed) bundle',
  usage: USAGE,
  async run(args: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs(
      args,
      {
        directory: { type: 'string', short: 'C' },
        rev: { type: 'string' },
        output: { type: 'string', short: 'o' },
        'sign-key': { type: 'string', multiple: true },
        unsigned: { type: 'boolean' },
      },
      USAGE,
    );
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"\nusage: ${USAGE}`);
    const signKeyPaths = (values['sign-key'] ?? []).map((file) => path.resolve(io.cwd, file));
    if (values.unsigned && signKeyPaths.length > 0) throw new UsageError(`--unsigned and --sign-key exclude each other\nusage: ${USAGE}`);
    const dir = path.resolve(io.cwd, values.directory ?? '.');

    // Keys first: a missing key should fail before the (slower) compile, and never after output.
    const signKeys: KeyObject[] = [];
    for (const file of signKeyPaths) signKeys.push(await loadPrivateKey(file));

    const isGit = await isGitWorkTree(dir);
    const rev = values.rev ?? (isGit ? 'HEAD' : undefined);
    const loaded = await loadPolicyRepository(rev === undefined ? { dir } : { dir, rev }).catch((error: unknown) => {
      if (error instanceof GitError && values.rev === undefined) {
        throw new GitError(`${error.message}\n(compile reads the committed policies at HEAD: commit them first, or pass --rev)`, { cause: error });
      }
      throw error;
    });
    for (const warning of loaded.warnings) io.stderr(`${formatDiagnostic(warning)}\n`);
    // validate reads the work tree, compile the commit: say when the two differ.
    if (isGit && values.rev === undefined) {
      const pending = await uncommittedPolicyFiles(dir);
      if (pending.length > 0) {
        const shown = pending.slice(0, 5).join(', ') + (pending.length > 5 ? ` and ${pending.length - 5} more` : '');
        io.stderr(`warning: compile builds HEAD; uncommitted changes are not in this bundle: ${shown} (commit them, or pass --rev)\n`);
      }
    }
    if (loaded.errors.length > 0) {
      for (const error of loaded.errors) io.stderr(`${formatDiagnostic(error)}\n`);
      io.stderr(`egressctl: ${loaded.errors.length} error(s): no bundle written\n`);
      return 1;
    }

    const sealed = sealRevision(loaded.value, loaded.snapshot, signKeys, () => buildTime(io.env));
    const { bundle } = sealed;
    const text = `${sealed.text}\n`;
    // The same checks every consumer runs: never hand out a bundle a server would refuse.
    openBundle(text, { publicKeys: signKeys });

    const keyids = signKeys.map(keyIdOf);
    if (values.output !== undefined) {
      const outputPath = path.resolve(io.cwd, values.output);
      await writeFileAtomic(outputPath, text, { mkdirs: true });
      const signed = keyids.length > 0 ? `signed by ${keyids.join(', ')}` : 'unsigned';
      io.stderr(`compiled ${bundle.revision} (${bundle.committedAt}) ${bundle.digest} -> ${values.output} (${signed})\n`);
    } else {
      io.stdout(text);
    }
    if (keyids.length === 0 && !values.unsigned) {
      io.stderr('note: the bundle is unsigned; servers with a public key configured refuse it (sign with --sign-key FILE, or pass --unsigned)\n');
    }
    return 0;
  },
};

/** Reproducible-builds convention for content without a commit date. */
function buildTime(env: NodeJS.ProcessEnv): string {
  const epoch = env.SOURCE_DATE_EPOCH;
  if (epoch !== undefined && epoch !== '') {
    if (!/^\d+$/.test(epoch)) throw new UsageError(`SOURCE_DATE_EPOCH="${epoch}" is not a number of seconds since 1970`);
    return new Date(Number(epoch) * 1000).toISOString();
  }
  return new Date(Math.floor(Date.now() / 1000) * 1000).toISOString();
}
