/**
 * `egressctl verify`: the checks a server runs before it serves a bundle (openBundle), from the
 * command line: a signature by one of the given public keys, schema, references and digest.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { openBundle } from '../../bundle/dsse.js';
import { loadPublicKeys } from '../../bundle/keys.js';
import { SCOPE_SECTIONS, SCOPE_TYPES } from '../../policy/model.js';
import { IoError, UsageError, VerificationError } from '../../util/errors.js';
import { parseCommandArgs, writeJson, type CliIo, type Command } from '../io.js';

const USAGE = 'egressctl verify FILE --public-key FILE ... [--json]    (repeat the flag for more keys)';

// The command shape (name, summary, usage, run -> parseCommandArgs with its own options) is the same in every
// command on purpose: `duplicates` pairs these by shape; only `-C DIR` is shared and it is one line (issue 13).
export const command: Command = {
  name: 'verify',
  summary: 'verify a signed bundle against a public key',
  usage: USAGE,
  async run(args: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs(
      args,
      { 'public-key': { type: 'string', multiple: true }, json: { type: 'boolean' } },
      USAGE,
    );
    if (positionals.length !== 1) {
      throw new UsageError(`${positionals.length === 0 ? 'name the bundle file to verify' : 'verify takes one bundle file'}\nusage: ${USAGE}`);
    }
    const keyFiles = values['public-key'] ?? [];
    if (keyFiles.length === 0) {
      throw new UsageError(`give the public key(s) to trust with --public-key FILE (the .pub file from egressctl keygen)\nusage: ${USAGE}`);
    }
    const file = positionals[0] as string;
    const publicKeys = await loadPublicKeys(keyFiles.map((keyFile) => path.resolve(io.cwd, keyFile)));
    let text: string;
    try {
      text = await readFile(path.resolve(io.cwd, file), 'utf8');
    } catch (error) {
      throw new IoError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
    }

    let opened;
    try {
      opened = openBundle(text, { publicKeys });
    } catch (error) {
      if (!(error instanceof VerificationError)) throw error;
      if (values.json) {
        writeJson(io, { ok: false, file, error: error.message });
        return error.exitCode;
      }
      throw new VerificationError(`${file}: verification failed: ${error.message}`);
    }

    const { bundle, keyids } = opened;
    const attachments = Object.fromEntries(
      SCOPE_TYPES.map((type) => [SCOPE_SECTIONS[type], Object.keys(bundle.attachments[SCOPE_SECTIONS[type]]).length]),
    );
    if (values.json) {
      writeJson(io, {
        ok: true,
        file,
        revision: bundle.revision,
        committedAt: bundle.committedAt,
        digest: bundle.digest,
        keyids,
        policies: Object.keys(bundle.policies).length,
        attachments,
      });
      return 0;
    }
    const counts = Object.entries(attachments)
      .map(([section, count]) => `${count} ${section}`)
      .join(', ');
    io.stdout(
      [
        `${file}: OK`,
        `revision:    ${bundle.revision}`,
        `committedAt: ${bundle.committedAt}`,
        `digest:      ${bundle.digest}`,
        ...keyids.map((keyid, index) => `${index === 0 ? 'signed by:  ' : '            '} ${keyid}`),
        `policies:    ${Object.keys(bundle.policies).length}`,
        `attachments: ${counts}`,
        '',
      ].join('\n'),
    );
    return 0;
  },
};
