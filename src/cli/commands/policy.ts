import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { endpointsFromSelector, parseEndpointList } from '../../baselines/index.js';
import { formatDiagnostic } from '../../policy/diagnostics.js';
import { expiringEntries, isExpired, policyAsOf } from '../../policy/expiry.js';
import { flattenPolicies } from '../../policy/flatten.js';
import { parseEndpoint, splitEndpointString } from '../../policy/endpoint.js';
import { removeAttachmentsOf, renderPolicyFile } from '../../policy/edit.js';
import { editEndpointList, planEndpointChanges, type EndpointCandidate } from '../../policy/endpoints-edit.js';
import { ATTACHMENTS_FILE, POLICIES_DIR, POLICY_NAME_PATTERN, type EgressMode } from '../../policy/model.js';
import { InvalidInputError, IoError, UsageError } from '../../util/errors.js';
import { applyChanges, openWorkTree, type FileChanges, type WorkTree } from '../edit.js';
import { scopeLines } from './detach.js';
import { asOfFlag, parseCommandArgs, type CliIo, type Command } from '../io.js';
import { loadValidRepository, repositoryDir } from '../repository.js';

const usage = [
  'egressctl policy create NAME [--mode audit|block] [--endpoints "host[:port] ..."] [--from-baseline cluster:NAME|org:O|repo:O/R|workflow:O/R/.github/workflows/F|job:O/R/.github/workflows/F#J|file:PATH] [--extends NAME] [--description TEXT] [-C DIR]',
  '       egressctl policy edit NAME [--add-from-baseline SOURCE] [--endpoints "host[:port] ..."] [--remove "host[:port] ..."] [-C DIR]',
  '       egressctl policy export NAME [--rev REV] [--at YYYY-MM-DD] [-C DIR]',
  '       egressctl policy delete NAME [--detach] [-C DIR]',
].join('\n');

export const command: Command = {
  name: 'policy',
  summary: 'create, edit (import endpoints), export or delete a policy',
  usage,
  async run(args: string[], io: CliIo): Promise<number> {
    const [action, ...rest] = args;
    switch (action) {
      case 'create':
        return createPolicy(rest, io);
      case 'edit':
        return editPolicy(rest, io);
      case 'export':
        return exportPolicy(rest, io);
      case 'delete':
        return deletePolicy(rest, io);
      default:
        throw new UsageError(`${action ? `unknown action "${action}"` : 'name an action'}\nusage: ${usage}`);
    }
  },
};

function oneName(positionals: string[]): string {
  const [name, ...extra] = positionals;
  if (!name || extra.length > 0) throw new UsageError(`name one policy\nusage: ${usage}`);
  return name;
}

async function createPolicy(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    args,
    {
      C: { type: 'string', short: 'C' },
      mode: { type: 'string' },
      endpoints: { type: 'string', multiple: true },
      'from-baseline': { type: 'string' },
      extends: { type: 'string', multiple: true },
      description: { type: 'string' },
    },
    usage,
  );
  const name = oneName(positionals);
  if (!POLICY_NAME_PATTERN.test(name)) {
    throw new UsageError(`policy name "${name}" must match ${POLICY_NAME_PATTERN.source} (lower-case letters, digits, ".", "_", "-")`);
  }
  if (values.mode !== undefined && values.mode !== 'audit' && values.mode !== 'block') {
    throw new UsageError(`--mode must be audit or block, not "${values.mode}"`);
  }
  const endpoints = endpointsFlag('--endpoints', values.endpoints);
  const tree = await openWorkTree(repositoryDir(io, values.C));
  let comment: string | undefined;
  if (values['from-baseline'] !== undefined) {
    const source = await endpointsFromBaselineSource(io, tree, values['from-baseline']);
    endpoints.push(...source.endpoints);
    comment = source.comment;
  }
  // Observed endpoints exist to be enforced: block unless told otherwise.
  const mode: EgressMode = (values.mode as EgressMode | undefined) ?? (values['from-baseline'] !== undefined ? 'block' : 'audit');
  const file = `${POLICIES_DIR}/${name}.yml`;
  if (tree.files.has(file) || tree.repository.policies.has(name)) {
    throw new InvalidInputError(`policy "${name}" already exists (${file}): edit that file or pick another name`);
  }
  const policy: Parameters<typeof renderPolicyFile>[0] = { mode, endpoints };
  if (comment !== undefined) policy.comment = comment;
  if (values.description !== undefined) policy.description = values.description;
  if (values.extends) policy.extends = values.extends;
  await applyChanges(io, tree, new Map([[file, renderPolicyFile(policy)]]));
  io.stdout(`created ${file} (${mode}, ${new Set(endpoints).size} endpoint${endpoints.length === 1 ? '' : 's'}): attach it with egressctl attach ${name} --org|--repository|--workflow|--cluster ...\n`);
  return 0;
}

/** Canonical endpoints of a repeatable flag whose values are space-separated lists. */
function endpointsFlag(flag: string, values: readonly string[] | undefined): string[] {
  const endpoints: string[] = [];
  for (const raw of (values ?? []).flatMap(splitEndpointString)) {
    const parsed = parseEndpoint(raw);
    const error = parsed.issues.find((issue) => issue.severity === 'error');
    if (!parsed.endpoint || error) throw new UsageError(`${flag}: ${error?.message ?? `"${raw}" is not an endpoint`}`);
    endpoints.push(parsed.endpoint.text);
  }
  return endpoints;
}

/**
 * `policy edit NAME`: the Policy Store's "Import Endpoints from Baseline", plus adding and removing
 * by hand. Edits the file in place (docs/architecture.md#editing-a-policy-in-place): only new
 * endpoints are appended, the rest of the file keeps its bytes; the repository is validated with
 * the new text before anything is written.
 */
async function editPolicy(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    args,
    {
      C: { type: 'string', short: 'C' },
      'add-from-baseline': { type: 'string', multiple: true },
      endpoints: { type: 'string', multiple: true },
      remove: { type: 'string', multiple: true },
    },
    usage,
  );
  const name = oneName(positionals);
  const byHand = endpointsFlag('--endpoints', values.endpoints);
  const removals = endpointsFlag('--remove', values.remove);
  const sources = values['add-from-baseline'] ?? [];
  if (sources.length === 0 && byHand.length === 0 && removals.length === 0) {
    throw new UsageError(`say what to change: --add-from-baseline SOURCE, --endpoints "..." or --remove "..."\nusage: ${usage}`);
  }
  const tree = await openWorkTree(repositoryDir(io, values.C));
  const policy = tree.repository.policies.get(name);
  const text = policy ? tree.text(policy.file) : undefined;
  if (!policy || text === undefined) throw new InvalidInputError(`there is no policy "${name}" under policies/: create it with egressctl policy create ${name}`);

  const candidates: EndpointCandidate[] = byHand.map((endpoint) => ({ endpoint }));
  for (const source of sources) {
    const found = await endpointsFromBaselineSource(io, tree, source);
    candidates.push(...found.endpoints.map((endpoint) => ({ endpoint, source: `from ${source.startsWith('file:') ? path.basename(source.slice('file:'.length)) : `baselines ${source}`}` })));
  }
  const flattened = flattenPolicies(tree.repository);
  const inherited = new Map(policy.extends.map((parent) => [parent.name, flattened[parent.name]?.['allowed-endpoints'] ?? []] as const));
  // Exceptions (docs/architecture.md#expiring-exceptions) do not allow a candidate for good.
  const inheritedExpiry = new Map(policy.extends.map((parent) => [parent.name, flattened[parent.name]?.['endpoint-expiry'] ?? {}] as const));
  const ownExceptions: Record<string, string> = {};
  for (const entry of policy.allowedEndpoints) {
    if (entry.expires === undefined || policy.allowedEndpoints.some((other) => other.endpoint === entry.endpoint && other.expires === undefined)) continue;
    // Listed twice with dates, it counts until the later one.
    if ((ownExceptions[entry.endpoint] ?? '') < entry.expires) ownExceptions[entry.endpoint] = entry.expires;
  }
  const plan = planEndpointChanges({ own: policy.allowedEndpoints.map((entry) => entry.endpoint), ownExpiry: ownExceptions, inherited, inheritedExpiry, candidates, removals });

  const now = Date.now();
  const until = (expires: string) => (isExpired(expires, now) ? `that expired on ${expires}` : `until ${expires}`);
  const from = (entry: EndpointCandidate) => `${entry.endpoint}${entry.source ? `  (${entry.source})` : ''}`;
  const lines: string[] = [];
  for (const entry of plan.add) {
    const exception = entry.exception;
    const note = exception ? `: only an exception allowed it, ${exception.endpoint}${exception.parent === undefined ? '' : ` of extends: ${exception.parent}`} ${until(exception.expires)}` : '';
    lines.push(`  + ${from(entry)}${note}`);
  }
  for (const entry of plan.permanent) lines.push(`  ~ ${from(entry)}: made permanent (was an exception ${until(entry.expires)})`);
  for (const endpoint of plan.remove) lines.push(`  - ${endpoint}${Object.hasOwn(ownExceptions, endpoint) ? `  (an exception ${until(ownExceptions[endpoint] as string)})` : ''}`);
  for (const entry of plan.skipped) lines.push(`  = ${entry.endpoint}: not added, ${entry.reason}`);
  for (const entry of plan.notRemoved) lines.push(`  ! ${entry.endpoint}: not removed, it ${entry.reason}`);
  const counts = `${plan.add.length} added, ${plan.permanent.length > 0 ? `${plan.permanent.length} made permanent, ` : ''}${plan.remove.length} removed, ${plan.skipped.length} not added`;
  if (plan.notRemoved.length > 0) {
    // A removal that names nothing is a mistake in the request: change nothing rather than half of it.
    io.stderr(`${lines.join('\n')}\n`);
    throw new InvalidInputError(`${policy.file}: ${plan.notRemoved.map((entry) => `${entry.endpoint} ${entry.reason}`).join('; ')}: nothing was written`);
  }
  if (plan.add.length === 0 && plan.remove.length === 0 && plan.permanent.length === 0) {
    io.stdout(`${policy.file}: nothing to change (${counts})\n${lines.join('\n')}${lines.length > 0 ? '\n' : ''}`);
    return 0;
  }
  let edited: string;
  try {
    edited = editEndpointList(text, { add: plan.add, remove: plan.remove, permanent: plan.permanent }).text;
  } catch (error) {
    throw new InvalidInputError(`${policy.file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  await applyChanges(io, tree, new Map([[policy.file, edited]]));
  io.stdout(`edited ${policy.file} (${counts}):\n${lines.join('\n')}\n`);
  return 0;
}

/** `file:PATH` reads an endpoint list (insights export); the rest select jobs in baselines/. */
async function endpointsFromBaselineSource(io: CliIo, tree: WorkTree, source: string): Promise<{ endpoints: string[]; comment: string }> {
  if (source.startsWith('file:')) {
    const listPath = path.resolve(io.cwd, source.slice('file:'.length));
    let text: string;
    try {
      text = await readFile(listPath, 'utf8');
    } catch (error) {
      throw new IoError(`cannot read ${listPath}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
    const list = parseEndpointList(text, path.relative(io.cwd, listPath));
    if (list.errors.length > 0) {
      for (const diagnostic of list.errors) io.stderr(`${formatDiagnostic(diagnostic)}\n`);
      throw new InvalidInputError(`${listPath} has invalid endpoints: fix them or remove them from the list`);
    }
    return { endpoints: list.value, comment: `Endpoints imported from ${path.basename(listPath)}.` };
  }
  const endpoints = endpointsFromSelector(tree.repository.baselines, source);
  if (endpoints.length === 0) {
    throw new InvalidInputError(`baselines/ has no observed endpoints for ${source}: collect baselines first (egressctl baseline from-log)`);
  }
  return { endpoints, comment: `Endpoints observed in baselines for ${source}.` };
}

/**
 * One endpoint per line, as Harden-Runner's insights page exports them: what is in force at the
 * time of export (now, or `--at` as `resolve --at`), so an exception that expired is left out
 * (docs/architecture.md#expiring-exceptions) and named on stderr.
 */
async function exportPolicy(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, { C: { type: 'string', short: 'C' }, rev: { type: 'string' }, at: { type: 'string' } }, usage);
  const name = oneName(positionals);
  const at = asOfFlag(values.at);
  const { repository } = await loadValidRepository(io, repositoryDir(io, values.C), values.rev);
  const flattened = flattenPolicies(repository);
  const compiled = Object.hasOwn(flattened, name) ? flattened[name] : undefined;
  if (!compiled) throw new InvalidInputError(`there is no policy "${name}" under policies/`);
  const inForce = policyAsOf(compiled, at);
  for (const endpoint of inForce['allowed-endpoints']) io.stdout(`${endpoint}\n`);
  const kept = new Set(inForce['allowed-endpoints']);
  const expiry = compiled['endpoint-expiry'] ?? {};
  const ancestry = new Set([name, ...(compiled.extends ?? [])]);
  const written = expiringEntries([...repository.policies.values()].filter((policy) => ancestry.has(policy.name)), at);
  for (const endpoint of compiled['allowed-endpoints'].filter((endpoint) => !kept.has(endpoint))) {
    const expires = expiry[endpoint] as string;
    const entry = written.find((item) => item.endpoint === endpoint && item.expires === expires);
    const where = entry ? ` (${entry.at.file}:${entry.at.line}${entry.owner === undefined ? '' : `, owner: ${entry.owner}`})` : '';
    io.stderr(`left out ${endpoint}: its exception expired on ${expires}${where}\n`);
  }
  return 0;
}

async function deletePolicy(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, { C: { type: 'string', short: 'C' }, detach: { type: 'boolean', default: false } }, usage);
  const name = oneName(positionals);
  const tree = await openWorkTree(repositoryDir(io, values.C));
  const policy = tree.repository.policies.get(name);
  if (!policy) throw new InvalidInputError(`there is no policy "${name}" under policies/`);
  const children = [...tree.repository.policies.values()].filter((other) => other.extends.some((parent) => parent.name === name));
  if (children.length > 0) {
    throw new InvalidInputError(`policy "${name}" is extended by ${children.map((child) => child.name).join(', ')}: remove those extends first`);
  }
  const attachedTo = tree.repository.attachments.filter((attachment) => attachment.policy === name);
  const changes: FileChanges = new Map([[policy.file, null]]);
  if (attachedTo.length > 0) {
    if (!values.detach) {
      const scopes = attachedTo.map((attachment) => `${attachment.type} ${attachment.key} (${ATTACHMENTS_FILE}:${attachment.at.line})`);
      throw new InvalidInputError(`policy "${name}" is attached to ${scopes.join(', ')}: detach it first or pass --detach`);
    }
    changes.set(ATTACHMENTS_FILE, removeAttachmentsOf(tree.text(ATTACHMENTS_FILE) ?? '', name).text);
  }
  await applyChanges(io, tree, changes);
  io.stdout(
    `deleted ${policy.file}${attachedTo.length > 0 ? ` and detached it from ${attachedTo.length} scope${attachedTo.length === 1 ? '' : 's'}:\n${scopeLines(attachedTo)}` : '\n'}`,
  );
  return 0;
}
