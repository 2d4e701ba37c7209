/**
 * Feedback from block mode (docs/github-app.md, "Blocked endpoints"): after baselines with
 * blocked names are committed, one pull request in the policy repository proposes those names
 * for the jobs' effective policies. The pull request is opened once and then updated (branch
 * rewritten from the current default branch, body refreshed); the App never merges it.
 *
 * Reads only what it needs through the contents API: attachments.yml, the baselines of the
 * repositories that reported blocked names, the effective policies and their `extends` chain.
 */
import { parseBaselineFile, baselinePath, type BaselineFile } from '../baselines/index.js';
import { blockedProposals, type BlockedProposal } from '../baselines/blocked.js';
import { addEndpoints } from '../policy/edit.js';
import { flattenPolicies } from '../policy/flatten.js';
import { parsePolicyRepository } from '../store/repository.js';
import { resolveScopes } from '../policy/resolve.js';
import { ATTACHMENTS_FILE, POLICIES_DIR, attachmentMap } from '../policy/model.js';
import type { GitHubClient } from '../github/client.js';
import { gitHubStatus } from '../util/errors.js';

export const FEEDBACK_BRANCH = 'egressctl/blocked-endpoints';
export const FEEDBACK_MARKER = '<!-- egressctl:blocked-endpoints -->';

/** The Octokit calls this makes (Probot's installation Octokit fits). */
export interface FeedbackClient {
  rest: {
    repos: Pick<GitHubClient['rest']['repos'], 'getContent' | 'getBranch'>;
    git: Pick<GitHubClient['rest']['git'], 'createTree' | 'createCommit' | 'createRef' | 'updateRef' | 'getRef' | 'getCommit'>;
    pulls: Pick<GitHubClient['rest']['pulls'], 'list' | 'create' | 'update'>;
  };
}

export interface FeedbackTarget {
  owner: string;
  repo: string;
  /** The policy repository's default branch (where baselines are committed). */
  branch: string;
}

export interface FeedbackResult {
  action: 'none' | 'opened' | 'updated' | 'unchanged';
  pullRequest?: number;
  proposals: BlockedProposal[];
}

/** A proposal placed in its file: where the entries go, for the body. */
interface PlacedProposal extends BlockedProposal {
  file: string;
  line: number;
}


async function readText(client: FeedbackClient, target: FeedbackTarget, path: string, ref: string): Promise<string | undefined> {
  try {
    const response = await client.rest.repos.getContent({ owner: target.owner, repo: target.repo, path, ref, mediaType: { format: 'raw' } });
    const data: unknown = response.data;
    // With the raw media type the body is the file's text.
    return typeof data === 'string' ? data : Buffer.from(data as ArrayBuffer).toString('utf8');
  } catch (error) {
    if (gitHubStatus(error) === 404) return undefined;
    throw error;
  }
}

/**
 * Open or update the blocked-endpoints pull request from the baselines of `repositories` at the
 * head of `target.branch`. Does nothing when no job of those repositories had a name blocked
 * that its policy does not allow yet.
 */
export async function proposeBlockedEndpoints(client: FeedbackClient, target: FeedbackTarget, repositories: readonly string[]): Promise<FeedbackResult> {
  const head = (await client.rest.repos.getBranch({ owner: target.owner, repo: target.repo, branch: target.branch })).data.commit;
  const baselines: BaselineFile[] = [];
  for (const repository of [...new Set(repositories.map((name) => name.toLowerCase()))].sort()) {
    const text = await readText(client, target, baselinePath(repository), head.sha);
    if (text === undefined) continue;
    const parsed = parseBaselineFile(text, baselinePath(repository));
    if (parsed.value.workflows.size > 0) baselines.push(parsed.value);
  }
  if (!baselines.some((file) => [...file.workflows.values()].some((jobs) => [...jobs.values()].some((job) => job.blocked.size > 0)))) {
    return { action: 'none', proposals: [] };
  }

  // attachments.yml and the policies it names, with their `extends` chains.
  const files = new Map<string, Uint8Array>();
  const attachmentsText = await readText(client, target, ATTACHMENTS_FILE, head.sha);
  if (attachmentsText === undefined) return { action: 'none', proposals: [] };
  files.set(ATTACHMENTS_FILE, Buffer.from(attachmentsText));
  const texts = new Map<string, string>();
  // Only the policies in effect for jobs that had something blocked (a large repository has hundreds).
  const attachments = attachmentMap(parsePolicyRepository(files).value.attachments);
  const wanted: string[] = [];
  for (const file of baselines) {
    for (const [workflowPath, jobs] of file.workflows) {
      if (![...jobs.values()].some((job) => job.blocked.size > 0)) continue;
      const { policy } = resolveScopes(attachments, { repository: file.repository, workflow: `${file.repository}/${workflowPath}` });
      if (policy !== null && !wanted.includes(policy)) wanted.push(policy);
    }
  }
  while (wanted.length > 0) {
    const name = wanted.pop() as string;
    const path = `${POLICIES_DIR}/${name}.yml`;
    if (texts.has(path)) continue;
    const text = await readText(client, target, path, head.sha);
    if (text === undefined) continue;
    texts.set(path, text);
    files.set(path, Buffer.from(text));
    const parsed = parsePolicyRepository(new Map([[path, Buffer.from(text)]])).value.policies.get(name);
    for (const parent of parsed?.extends ?? []) wanted.push(parent.name);
  }
  const repository = parsePolicyRepository(files).value;
  const proposals = blockedProposals(baselines, attachmentMap(repository.attachments), flattenPolicies(repository));
  if (proposals.length === 0) return { action: 'none', proposals };

  const placed: PlacedProposal[] = [];
  const tree: { path: string; mode: '100644'; type: 'blob'; content: string }[] = [];
  for (const proposal of proposals) {
    const file = repository.policies.get(proposal.policy)?.file ?? `${POLICIES_DIR}/${proposal.policy}.yml`;
    const text = texts.get(file);
    if (text === undefined) continue;
    const edit = addEndpoints(
      text,
      proposal.endpoints.map((entry) => ({ endpoint: entry.endpoint, comment: `blocked in ${entry.runs} run${entry.runs === 1 ? '' : 's'}, last ${entry.lastSeen}` })),
    );
    tree.push({ path: file, mode: '100644', type: 'blob', content: edit.text });
    placed.push({ ...proposal, file, line: edit.line ?? 1 });
  }
  if (placed.length === 0) return { action: 'none', proposals };

  const base = await client.rest.git.getCommit({ owner: target.owner, repo: target.repo, commit_sha: head.sha });
  const newTree = (await client.rest.git.createTree({ owner: target.owner, repo: target.repo, base_tree: base.data.tree.sha, tree })).data.sha;
  const body = pullRequestBody(placed);
  const title = pullRequestTitle(placed);

  // The branch: kept when it already holds exactly this change on this base, else rewritten.
  let branchSha: string | undefined;
  try {
    branchSha = (await client.rest.git.getRef({ owner: target.owner, repo: target.repo, ref: `heads/${FEEDBACK_BRANCH}` })).data.object.sha;
  } catch (error) {
    if (gitHubStatus(error) !== 404) throw error;
  }
  let branchCurrent = false;
  if (branchSha !== undefined) {
    const current = (await client.rest.git.getCommit({ owner: target.owner, repo: target.repo, commit_sha: branchSha })).data;
    branchCurrent = current.tree.sha === newTree && current.parents.length === 1 && current.parents[0]?.sha === head.sha;
  }
  if (!branchCurrent) {
    const message = `${title}\n\nProposed by egressctl from blocked-domain evidence in baselines/. Review before merging.\n`;
    const commit = (await client.rest.git.createCommit({ owner: target.owner, repo: target.repo, message, tree: newTree, parents: [head.sha] })).data.sha;
    if (branchSha === undefined) await client.rest.git.createRef({ owner: target.owner, repo: target.repo, ref: `refs/heads/${FEEDBACK_BRANCH}`, sha: commit });
    // Rewritten from the default branch each time: the proposal is the current evidence, not a pile of edits.
    else await client.rest.git.updateRef({ owner: target.owner, repo: target.repo, ref: `heads/${FEEDBACK_BRANCH}`, sha: commit, force: true });
  }

  const { data: open } = await client.rest.pulls.list({ owner: target.owner, repo: target.repo, state: 'open', head: `${target.owner}:${FEEDBACK_BRANCH}`, per_page: 10 });
  const existing = open[0];
  if (existing) {
    if (existing.body === body && existing.title === title) return { action: branchCurrent ? 'unchanged' : 'updated', pullRequest: existing.number, proposals };
    await client.rest.pulls.update({ owner: target.owner, repo: target.repo, pull_number: existing.number, title, body });
    return { action: 'updated', pullRequest: existing.number, proposals };
  }
  const { data: created } = await client.rest.pulls.create({ owner: target.owner, repo: target.repo, head: FEEDBACK_BRANCH, base: target.branch, title, body });
  return { action: 'opened', pullRequest: created.number, proposals };
}

function pullRequestTitle(placed: readonly PlacedProposal[]): string {
  const count = placed.reduce((sum, proposal) => sum + proposal.endpoints.length, 0);
  const policies = placed.map((proposal) => proposal.policy);
  return `Allow ${count} blocked endpoint${count === 1 ? '' : 's'} in ${policies.length === 1 ? `policy ${policies[0]}` : `${policies.length} policies`}`;
}

/** Plain text in table cells: no pipes or newlines from names (they come from logs). */
function cell(text: string): string {
  return text.replace(/[|\r\n`]/g, ' ');
}

export function pullRequestBody(placed: readonly PlacedProposal[]): string {
  const lines = [
    FEEDBACK_MARKER,
    'Harden-Runner **blocked** these names in jobs whose effective policy runs in block mode (`domain not allowed` in the job logs, kept in `baselines/`). If the jobs need them, merge to allow them; if not, close this pull request and find out why the jobs call them.',
    '',
    'egressctl opened this pull request and updates it as new evidence arrives; it never merges it.',
  ];
  for (const proposal of placed) {
    lines.push('', `### Policy \`${proposal.policy}\`: \`${proposal.file}\` line ${proposal.line}`, '', '| Endpoint | Runs blocked | Jobs | First seen | Last seen |', '|---|---|---|---|---|');
    for (const entry of proposal.endpoints) {
      const jobs = entry.jobs.slice(0, 5).map((job) => `\`${cell(job)}\``).join('<br>') + (entry.jobs.length > 5 ? `<br>and ${entry.jobs.length - 5} more` : '');
      lines.push(`| \`${cell(entry.endpoint)}\` | ${entry.runs} | ${jobs} | ${entry.firstSeen} | ${entry.lastSeen} |`);
    }
  }
  return `${lines.join('\n')}\n`;
}
