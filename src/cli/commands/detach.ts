import { removeAttachment } from '../../policy/edit.js';
import { ATTACHMENTS_FILE } from '../../policy/model.js';
import { UsageError } from '../../util/errors.js';
import { applyChanges, openWorkTree, SCOPE_FLAG_OPTIONS, scopeFromFlags } from '../edit.js';
import { parseCommandArgs, type CliIo, type Command } from '../io.js';
import { repositoryDir } from '../repository.js';

const usage = 'egressctl detach (--org O | --repository O/R | --workflow O/R/.github/workflows/F | --cluster C) [-C DIR]';

// The command shape (name, summary, usage, run -> parseCommandArgs with its own options) is the same in every
// command on purpose: `duplicates` pairs these by shape; only `-C DIR` is shared and it is one line (issue 13).
export const command: Command = {
  name: 'detach',
  summary: 'detach whatever policy is attached to a scope',
  usage,
  async run(args: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs(args, { C: { type: 'string', short: 'C' }, ...SCOPE_FLAG_OPTIONS }, usage);
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"\nusage: ${usage}`);
    const scope = scopeFromFlags(values, usage);
    const tree = await openWorkTree(repositoryDir(io, values.C));
    const edit = removeAttachment(tree.text(ATTACHMENTS_FILE) ?? '', scope.type, scope.key);
    if (edit.previous === undefined) {
      io.stdout(`${scope.type} ${scope.key} has no policy attached: nothing to do\n`);
      return 0;
    }
    await applyChanges(io, tree, new Map([[ATTACHMENTS_FILE, edit.text]]));
    io.stdout(`detached ${edit.previous} from ${scope.type} ${scope.key}\n`);
    return 0;
  },
};
