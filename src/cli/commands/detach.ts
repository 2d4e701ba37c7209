import { closest } from 'fastest-levenshtein';
import { removeAttachment, removeAttachmentsOf } from '../../policy/edit.js';
import { ATTACHMENTS_FILE, SCOPE_TYPES, type Attachment } from '../../policy/model.js';
import { InvalidInputError, UsageError } from '../../util/errors.js';
import { applyChanges, openWorkTree, SCOPE_FLAG_OPTIONS, scopeFromFlags, type WorkTree } from '../edit.js';
import { parseCommandArgs, type CliIo, type Command } from '../io.js';
import { repositoryDir } from '../repository.js';

const usage = [
  'egressctl detach (--org O | --repository O/R | --workflow O/R/.github/workflows/F | --cluster C) [-C DIR]',
  '       egressctl detach --policy NAME [-C DIR]   every scope the policy is attached to; the policy file stays',
].join('\n');

/** `  repository acme/api (attachments.yml:12)`, one line per scope, most specific first. */
export function scopeLines(attachments: readonly Attachment[]): string {
  const rank = (attachment: Attachment) => SCOPE_TYPES.indexOf(attachment.type);
  return [...attachments]
    .sort((a, b) => rank(a) - rank(b) || a.at.line - b.at.line)
    .map((attachment) => `  ${attachment.type} ${attachment.key} (${ATTACHMENTS_FILE}:${attachment.at.line})\n`).join('');
}

/**
 * The Policy Store's "Detach policy": every attachment of `name` leaves attachments.yml (its other
 * lines and comments stay byte for byte); the policy is kept, attached nowhere.
 */
async function detachPolicy(io: CliIo, tree: WorkTree, name: string): Promise<number> {
  const policy = tree.repository.policies.get(name);
  if (!policy) {
    const names = [...tree.repository.policies.keys()];
    throw new InvalidInputError(`there is no policy "${name}" under policies/${names.length > 0 ? `; did you mean "${closest(name, names)}"?` : ''}`);
  }
  const attached = tree.repository.attachments.filter((attachment) => attachment.policy === name);
  if (attached.length === 0) {
    io.stdout(`${name} is attached nowhere: nothing to do\n`);
    return 0;
  }
  const edit = removeAttachmentsOf(tree.text(ATTACHMENTS_FILE) ?? '', name);
  await applyChanges(io, tree, new Map([[ATTACHMENTS_FILE, edit.text]]));
  io.stdout(`detached ${name} from ${attached.length} scope${attached.length === 1 ? '' : 's'} (${policy.file} is kept; it is attached nowhere now):\n${scopeLines(attached)}`);
  return 0;
}

// The command shape (name, summary, usage, run -> parseCommandArgs with its own options) is the same in every
// command on purpose: `duplicates` pairs these by shape; only `-C DIR` is shared and it is one line (issue 13).
export const command: Command = {
  name: 'detach',
  summary: 'detach whatever policy is attached to a scope, or a policy from every scope',
  usage,
  async run(args: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs(args, { C: { type: 'string', short: 'C' }, policy: { type: 'string' }, ...SCOPE_FLAG_OPTIONS }, usage);
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"\nusage: ${usage}`);
    if (values.policy !== undefined) {
      if ([values.org, values.repository, values.workflow, values.cluster].some((value) => value !== undefined)) {
        throw new UsageError(`--policy detaches the policy from every scope: give no scope flag with it\nusage: ${usage}`);
      }
      return detachPolicy(io, await openWorkTree(repositoryDir(io, values.C)), values.policy.trim());
    }
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
