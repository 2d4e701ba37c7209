/**
 * `egressctl keygen --out PREFIX`: a new ed25519 key pair for signing bundles: PREFIX.key
 * (PKCS#8 PEM, mode 0600) and PREFIX.pub (SPKI PEM). Never overwrites without --force. A missing
 * folder in PREFIX is created, mode 0700.
 */
import { access, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { FileExistsError, writeFileAtomic } from '../../util/fs.js';
import { generateKeyPair } from '../../bundle/keys.js';
import { IoError, messageOf, UsageError } from '../../util/errors.js';
import { parseCommandArgs, type CliIo, type Command } from '../io.js';

const USAGE = 'egressctl keygen --out PREFIX [--force]    (writes PREFIX.key and PREFIX.pub; makes a missing folder, mode 0700)';

// The command shape (name, summary, usage, run -> parseCommandArgs with its own options) is the same in every
// command on purpose: `duplicates` pairs these by shape; only `-C DIR` is shared and it is one line (issue 13).
export const command: Command = {
  name: 'keygen',
  summary: 'create an ed25519 key pair for signing bundles',
  usage: USAGE,
  async run(args: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs(
      args,
      { out: { type: 'string', short: 'o' }, force: { type: 'boolean' } },
      USAGE,
    );
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"\nusage: ${USAGE}`);
    if (values.out === undefined || values.out === '') throw new UsageError(`say where to write the keys with --out PREFIX\nusage: ${USAGE}`);
    const prefix = path.resolve(io.cwd, values.out);
    const privatePath = `${prefix}.key`;
    const publicPath = `${prefix}.pub`;
    const force = values.force === true;

    if (!force) {
      // Both are checked before either is written, so a refusal leaves nothing half done.
      const existing = [];
      for (const file of [privatePath, publicPath]) if (await exists(file)) existing.push(file);
      if (existing.length > 0) {
        throw new FileExistsError(
          existing.join(' and '),
          "pass --force to replace (bundles signed by the old key then no longer verify against the new .pub)",
        );
      }
    }
    const pair = generateKeyPair();
    // A folder named in --out is made for the keys (0700: it holds a private key); one that
    // exists keeps its mode.
    const folder = path.dirname(prefix);
    const created = await mkdir(folder, { recursive: true, mode: 0o700 }).catch((error: unknown) => {
      const code = (error as NodeJS.ErrnoException).code;
      const why = code === 'EEXIST' || code === 'ENOTDIR' ? 'a file is in the way' : messageOf(error);
      throw new IoError(`cannot make the folder ${folder} for the keys: ${why}`, { cause: error });
    });
    if (created !== undefined) io.stderr(`created the folder ${folder} (mode 0700) for the keys\n`);
    await writeFileAtomic(privatePath, pair.privateKeyPem, { mode: 0o600, overwrite: force });
    await writeFileAtomic(publicPath, pair.publicKeyPem, { mode: 0o644, overwrite: force });
    io.stdout(`${pair.keyid}\n`);
    io.stderr(
      `wrote ${privatePath} (private, mode 0600: keep it secret) and ${publicPath} (public: give it to servers and verify)\n`,
    );
    return 0;
  },
};

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}
