import { scopeKeyProblem } from '../../policy/attachments-file.js';
import { setAttachment } from '../../policy/edit.js';
import { ATTACHMENTS_FILE } from '../../policy/model.js';
import { InvalidInputError, UsageError } from '../../util/errors.js';
import { applyChanges, openWorkTree, SCOPE_FLAG_OPTIONS, scopeFromFlags } from '../edit.js';
import { parseCommandArgs, type CliIo, type Command } from '../io.js';
import { repositoryDir } from '../repository.js';

const usage = 'egressctl attach POLICY (--org O | --repository O/R | --workflow O/R/.github/workflows/F | --cluster C) [-C DIR]';

// The command shape (name, summary, usage, run -> parseCommandArgs with its own options) is the same in every
// command on purpose: `duplicates` pairs these by shape; only `-C DIR` is shared and it is one line (issue 13).
export const command: Command = {
  name: 'attach',
  summary: 'attach a policy to a scope',
  usage,
  async run(args: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs(args, { C: { type: 'string', short: 'C' }, ...SCOPE_FLAG_OPTIONS }, usage);
    const [policy, ...extra] = positionals;
    if (!policy || extra.length > 0) throw new UsageError(`name one policy\nusage: ${usage}`);
    const scope = scopeFromFlags(values, usage);
    const problem = scopeKeyProblem(scope.type, scope.key);
    if (problem) throw new UsageError(problem);
    const tree = await openWorkTree(repositoryDir(io, values.C));
    if (!tree.repository.policies.has(policy)) {
      throw new InvalidInputError(`there is no policy "${policy}" under policies/: create it first (egressctl policy create ${policy})`);
    }
    const edit = setAttachment(tree.text(ATTACHMENTS_FILE) ?? '', scope.type, scope.key, policy);
    if (edit.previous === policy) {
      io.stdout(`${scope.type} ${scope.key} is already attached to ${policy}: nothing to do\n`);
      return 0;
    }
    await applyChanges(io, tree, new Map([[ATTACHMENTS_FILE, edit.text]]));
    io.stdout(
      edit.previous === undefined
        ? `attached ${policy} to ${scope.type} ${scope.key}\n`
        : `attached ${policy} to ${scope.type} ${scope.key} (was ${edit.previous})\n`,
    );
    return 0;
  },
};
