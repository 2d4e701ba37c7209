import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { openBundle } from '../../bundle/dsse.js';
import { loadPublicKeys } from '../../bundle/keys.js';
import { flattenPolicies } from '../../policy/flatten.js';
import { attachmentMap, type AttachmentMap, type CompiledPolicy } from '../../policy/model.js';
import { splitEndpointString } from '../../policy/endpoint.js';
import { effectivePolicyAt, policiesAsOf, policyAsOf } from '../../policy/expiry.js';
import { hardenRunnerConfig, type EffectivePolicyAnswer, type HardenRunnerConfig, type ResolveQuery } from '../../policy/resolve.js';
import { resolveThroughCallers, type PolicySource as CallerSource } from '../../policy/callers.js';
import { callGraphFrom } from '../workflow-files.js';
import { IoError, UsageError } from '../../util/errors.js';
import { baselineJobsOf } from '../../rollout/rollout-plan.js';
import { storeStateOf } from '../../rollout/sync-plan.js';
import { FIREWALL_FILE, FIREWALL_FORMAT, renderFirewallFile, repositoryFirewall } from '../../rollout/github-firewall/index.js';
import { asOfFlag, parseCommandArgs, writeJson, type CliIo, type Command } from '../io.js';
import { loadValidRepository, repositoryDir, storeRevision } from '../repository.js';

const usage =
  'egressctl resolve [-C DIR [--rev REV] | --bundle FILE [--public-key FILE]] --repository OWNER/REPO [--workflow F.yml|.github/workflows/F [--workflows-from CHECKOUT]] [--cluster NAME] [--org ORG] [--at YYYY-MM-DD] [--json]\n' +
  '       egressctl resolve [-C DIR [--rev REV]] --repository OWNER/REPO --format github-firewall [--at YYYY-MM-DD] [--json]   (the .github/egress-firewall.yaml the repository should have)';

/** The answer, and for a reusable workflow called in its repository, how its callers decide (src/policy/callers.ts). */
type Answer = EffectivePolicyAnswer & { callers?: { reason: string; warning?: string; sources: CallerSource[] } };

interface PolicySource {
  policies: Record<string, CompiledPolicy>;
  attachments: AttachmentMap;
}

// The command shape (name, summary, usage, run -> parseCommandArgs with its own options) is the same in every
// command on purpose: `duplicates` pairs these by shape; only `-C DIR` is shared and it is one line (issue 13).
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
        at: { type: 'string' },
        'workflows-from': { type: 'string' },
        json: { type: 'boolean', default: false },
        format: { type: 'string' },
      },
      usage,
    );
    if (values.format !== undefined) {
      if (values.format !== 'github-firewall') throw new UsageError(`--format "${values.format}" is not known: the one format is github-firewall\nusage: ${usage}`);
      if (values.bundle !== undefined) throw new UsageError('--format github-firewall reads the policy repository (-C DIR): its baselines and egressctl.yml decide the file');
      if (!values.repository || values.workflow !== undefined || values['workflows-from'] !== undefined || values.cluster !== undefined || values.org !== undefined || positionals.length > 0) {
        throw new UsageError(`--format github-firewall takes --repository OWNER/REPO only: the file serves every workflow of the repository\nusage: ${usage}`);
      }
      if (!/^[^/\s]+\/[^/\s]+$/.test(values.repository)) throw new UsageError(`--repository must be OWNER/REPO, not "${values.repository}"`);
      const asOf = asOfFlag(values.at);
      return resolveFirewall(io, { repository: values.repository, json: values.json === true, at: asOf, ...(values.C !== undefined ? { dir: values.C } : {}), ...(values.rev !== undefined ? { rev: values.rev } : {}) });
    }
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
    const workflow = values.workflow === undefined ? undefined : workflowArgument(values.workflow);
    if (workflow !== undefined && !values.repository && !/^[^/]+\/[^/]+\/\.github\/workflows\//.test(workflow)) {
      throw new UsageError('--workflow .github/workflows/F needs --repository OWNER/REPO');
    }

    // Expiring exceptions are evaluated as of --at (the start of that UTC day), or now.
    const at = asOfFlag(values.at);
    const source = values.bundle !== undefined ? await fromBundle(io, values.bundle, values['public-key'] ?? []) : await fromRepository(io, values.C, values.rev);
    const query: ResolveQuery = {};
    if (values.repository) query.repository = values.repository;
    if (workflow) query.workflow = workflow;
    if (values.cluster) query.cluster = values.cluster;
    if (values.org) query.organization = values.org;
    let answer: Answer = effectivePolicyAt(source.attachments, source.policies, query, at);
    if (values['workflows-from'] !== undefined) {
      if (!values.repository || workflow === undefined) throw new UsageError(`--workflows-from needs --repository and --workflow\nusage: ${usage}`);
      // A reusable workflow's jobs follow the workflows of its repository that call it.
      const graph = await callGraphFrom(path.resolve(io.cwd, values['workflows-from']), values.repository);
      const through = resolveThroughCallers(source.attachments, policiesAsOf(source.policies, at), values.repository, workflow, graph);
      if (through) {
        const single = through.differ ? undefined : through.sources[0];
        answer = {
          policy: through.policy?.name ?? null,
          scope: single?.scope ?? null,
          shadowed: [],
          config: hardenRunnerConfig(through.policy ?? undefined),
          callers: { reason: through.reason, ...(through.warning ? { warning: through.warning } : {}), sources: through.sources },
        };
      }
    }

    if (values.json) writeJson(io, answer);
    else {
      io.stdout(describe(answer));
      const winner = answer.policy === null || !Object.hasOwn(source.policies, answer.policy) ? undefined : source.policies[answer.policy];
      const left = Object.entries((winner && policyAsOf(winner, at)['endpoint-expiry']) ?? {});
      // The exceptions that still count, so "what happens on the 1st" has an answer.
      for (const [endpoint, date] of left.sort(([a, x], [b, y]) => (x !== y ? (x < y ? -1 : 1) : a < b ? -1 : 1))) io.stdout(`exception: ${endpoint} until ${date} (UTC)\n`);
    }
    return 0;
  },
};

/**
 * `--format github-firewall` (docs/github-firewall.md): the file on stdout, what it cannot express
 * on stderr; `--json`: both as data.
 */
async function resolveFirewall(io: CliIo, options: { repository: string; json: boolean; at: Date; dir?: string; rev?: string }): Promise<number> {
  const dir = repositoryDir(io, options.dir);
  const { repository, snapshot } = await loadValidRepository(io, dir, options.rev);
  const { revision, label, uncommitted } = await storeRevision(io, dir, snapshot, 'resolve');
  // Exceptions that expire count as of `--at` (default now), as in sync.
  const store = storeStateOf(repository, options.at);
  const seen = baselineJobsOf(repository.baselines, options.repository).flatMap((job) => job.endpoints);
  const answer = repositoryFirewall(store, options.repository, seen);
  if (answer.firewall === null) {
    if (options.json) writeJson(io, { repository: options.repository.toLowerCase(), file: FIREWALL_FILE, content: null, reason: answer.reason, findings: [] });
    else io.stderr(`egressctl: ${answer.reason}\n`);
    return 0;
  }
  const firewall = answer.firewall;
  const content = renderFirewallFile(firewall, label);
  if (options.json) {
    writeJson(io, {
      repository: firewall.repository,
      file: FIREWALL_FILE,
      format: FIREWALL_FORMAT,
      ...(revision ? { revision } : {}),
      ...(uncommitted.length > 0 ? { uncommitted } : {}),
      mode: firewall.mode,
      allow: firewall.allow,
      'no-default-urls': firewall.noDefaultUrls,
      policies: firewall.policies,
      content,
      findings: firewall.findings,
    });
    return 0;
  }
  io.stdout(content);
  for (const finding of firewall.findings) io.stderr(`${finding.severity}: ${finding.message}\n`);
  return 0;
}

async function fromRepository(io: CliIo, dirFlag: string | undefined, rev: string | undefined): Promise<PolicySource> {
  const { repository } = await loadValidRepository(io, repositoryDir(io, dirFlag), rev);
  return { policies: flattenPolicies(repository), attachments: attachmentMap(repository.attachments) };
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

/**
 * `--workflow` as `.github/workflows/F` or `OWNER/REPO/.github/workflows/F`; a bare file name
 * (`release.yml`) means `.github/workflows/release.yml`. Anything else would silently match no
 * workflow attachment, so it is refused with the forms that work.
 */
export function workflowArgument(value: string): string {
  const trimmed = value.trim().replace(/^\.\//, '');
  if (/^[^/]+\.ya?ml$/i.test(trimmed)) return `.github/workflows/${trimmed}`;
  if (/^(?:[^/]+\/[^/]+\/)?\.github\/workflows\/[^/]+$/i.test(trimmed.replace(/@.*$/, ''))) return trimmed;
  throw new UsageError(
    `--workflow "${value}" is not a workflow file: write release.yml, .github/workflows/release.yml or OWNER/REPO/.github/workflows/release.yml`,
  );
}

/**
 * The `with:` block exactly as a workflow takes it. The endpoint list is folded (`>-`, one
 * endpoint a line, read back as one space-separated line) as `harden` writes it: a plain scalar
 * starting with `*` would be a YAML alias.
 */
export function withBlockLines(config: HardenRunnerConfig, indent: string): string[] {
  const lines: string[] = [];
  for (const [key, value] of Object.entries(config)) {
    if (key === 'allowed-endpoints' && typeof value === 'string' && value !== '') {
      lines.push(`${indent}${key}: >-`, ...splitEndpointString(value).map((endpoint) => `${indent}  ${endpoint}`));
    } else {
      lines.push(`${indent}${key}: ${value === '' ? "''" : String(value)}`);
    }
  }
  return lines;
}

function describe(answer: Answer): string {
  const why = answer.callers ? [`why: ${answer.callers.reason}`, ...(answer.callers.warning ? [`warning: ${answer.callers.warning}`] : [])] : [];
  if (answer.policy === null) {
    return [...why, 'no policy applies: Harden-Runner runs with its own defaults'].join('\n') + '\n';
  }
  if (answer.scope === null && !answer.callers) return 'no policy applies: Harden-Runner runs with its own defaults\n';
  const lines = [answer.scope ? `policy: ${answer.policy} (attached to ${answer.scope.type} ${answer.scope.key})` : `policy: ${answer.policy} (the widest of the callers' policies)`, ...why];
  for (const shadowed of answer.shadowed) lines.push(`shadows: ${shadowed.type} ${shadowed.key} -> ${shadowed.policy}`);
  lines.push('with:', ...withBlockLines(answer.config, '  '));
  if (answer['lockdown-mode']) {
    lines.push(`lockdown-mode: ${answer['lockdown-mode'].enabled ? 'enabled' : 'disabled'} (${answer['lockdown-mode'].detections.join(', ') || 'no detections'})`);
  }
  return `${lines.join('\n')}\n`;
}
