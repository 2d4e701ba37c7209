import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { openBundle } from '../../bundle/dsse.js';
import { loadPublicKeys } from '../../bundle/keys.js';
import { compilePolicies } from '../../policy/flatten.js';
import { attachmentMap, type AttachmentMap, type CompiledPolicy } from '../../policy/model.js';
import { effectivePolicy, type EffectivePolicyAnswer, type ResolveQuery } from '../../policy/resolve.js';
import { IoError, UsageError } from '../../util/errors.js';
import { parseCommandArgs, writeJson, type CliIo, type Command } from '../io.js';
import { loadValidRepository, repositoryDir } from '../repository.js';

const usage =
  'egressctl resolve [-C DIR [--rev REV] | --bundle FILE [--public-key FILE]] --repository OWNER/REPO [--workflow .github/workflows/F] [--cluster NAME] [--org ORG] [--json]';

interface PolicySource {
  policies: Record<string, CompiledPolicy>;
  attachments: AttachmentMap;
}

export const command: Command = {
  name: 'resolve',
  summary: 'show the effective policy for a repository, workflow or cluster',
  usage,
  async run(args: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs(
      args,
      {
        C: { type: 'string', short: 'C' },
        rev: { type: 'string' },
        bundle: { type: 'string' },
        'public-key': { type: 'string', multiple: true },
        repository: { type: 'string' },
        workflow: { type: 'string' },
        cluster: { type: 'string' },
        org: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
      usage,
    );
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"\nusage: ${usage}`);
    if (values.bundle !== undefined && (values.C !== undefined || values.rev !== undefined)) {
      throw new UsageError(`use either -C DIR or --bundle FILE, not both\nusage: ${usage}`);
    }
    if (!values.repository && !values.org && !values.cluster) {
      throw new UsageError(`say whose policy to resolve: --repository OWNER/REPO (or --org / --cluster)\nusage: ${usage}`);
    }
    if (values.repository !== undefined && !/^[^/\s]+\/[^/\s]+$/.test(values.repository)) {
      throw new UsageError(`--repository must be OWNER/REPO, not "${values.repository}"`);
    }
    if (values.workflow !== undefined && !values.repository && !/^[^/]+\/[^/]+\/\.github\/workflows\//.test(values.workflow)) {
      throw new UsageError('--workflow .github/workflows/F needs --repository OWNER/REPO');
    }

    const source = values.bundle !== undefined ? await fromBundle(io, values.bundle, values['public-key'] ?? []) : await fromRepository(io, values.C, values.rev);
    const query: ResolveQuery = {};
    if (values.repository) query.repository = values.repository;
    if (values.workflow) query.workflow = values.workflow;
    if (values.cluster) query.cluster = values.cluster;
    if (values.org) query.organization = values.org;
    const answer = effectivePolicy(source.attachments, source.policies, query);

    if (values.json) writeJson(io, answer);
    else io.stdout(describe(answer));
    return 0;
  },
};

async function fromRepository(io: CliIo, dirFlag: string | undefined, rev: string | undefined): Promise<PolicySource> {
  const { repository } = await loadValidRepository(io, repositoryDir(io, dirFlag), rev);
  return { policies: compilePolicies(repository), attachments: attachmentMap(repository.attachments) };
}

async function fromBundle(io: CliIo, file: string, keyFiles: string[]): Promise<PolicySource> {
  const bundlePath = path.resolve(io.cwd, file);
  let text: string;
  try {
    text = await readFile(bundlePath, 'utf8');
  } catch (error) {
    throw new IoError(`cannot read bundle ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  const publicKeys = keyFiles.length > 0 ? await loadPublicKeys(keyFiles.map((keyFile) => path.resolve(io.cwd, keyFile))) : [];
  const { bundle } = openBundle(text, { publicKeys });
  return { policies: bundle.policies, attachments: bundle.attachments };
}

function describe(answer: EffectivePolicyAnswer): string {
  if (answer.policy === null || answer.scope === null) {
    return 'no policy applies: Harden-Runner runs with its own defaults\n';
  }
  const lines = [`policy: ${answer.policy} (attached to ${answer.scope.type} ${answer.scope.key})`];
  for (const shadowed of answer.shadowed) lines.push(`shadows: ${shadowed.type} ${shadowed.key} -> ${shadowed.policy}`);
  lines.push('with:');
  for (const [key, value] of Object.entries(answer.config)) lines.push(`  ${key}: ${value === '' ? "''" : String(value)}`);
  if (answer['lockdown-mode']) {
    lines.push(`lockdown-mode: ${answer['lockdown-mode'].enabled ? 'enabled' : 'disabled'} (${answer['lockdown-mode'].detections.join(', ') || 'no detections'})`);
  }
  return `${lines.join('\n')}\n`;
}
