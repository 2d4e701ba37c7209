/** A repository's managed steps and variables as an older egressctl left them (a retained repository-level EGRESSCTL_POLICY), and a person's edit that makes a job fail open through it. */
import type { GitHubStandin } from './github/index.js';

const WORKFLOWS = '.github/workflows';

/** release-block: the block policy release.yml has of its own. */
export const RELEASE_BLOCK_POLICY = 'egress-policy: block\nallowed-endpoints:\n  - github.com:443\n  - fulcio.sigstore.dev:443\n';

/**
 * The policy store the fail-open tests start from (`delivery: variables`): acme/api's ci.yml gets
 * the repository's audit policy, its release.yml a block policy of its own, over an organization block.
 */
export const FAILS_OPEN_STORE: Readonly<Record<string, string>> = {
  'egressctl.yml': 'organizations: [acme]\ndelivery: variables\n',
  'policies/org-block.yml': 'egress-policy: block\nallowed-endpoints:\n  - github.com:443\n',
  'policies/api-audit.yml': 'egress-policy: audit\n',
  'policies/release-block.yml': RELEASE_BLOCK_POLICY,
  'attachments.yml': 'organizations:\n  acme: org-block\nrepositories:\n  acme/api: api-audit\nworkflows:\n  acme/api/.github/workflows/release.yml: release-block\n',
};

async function onDefault(standin: GitHubStandin, repository: string, file: string): Promise<string> {
  return (await standin.readFile(repository, `${WORKFLOWS}/${file}`)) ?? '';
}

/**
 * `repository`'s managed steps (on its default branch, written by a sync with `delivery:
 * variables`) as an egressctl before EGRESSCTL_REPO_POLICY left them: every chain reads the
 * repository-level EGRESSCTL_POLICY, which holds what EGRESSCTL_REPO_POLICY held. The next sync
 * keeps that variable (`retained`) while a managed step falls back through it.
 */
export async function olderChains(standin: GitHubStandin, repository: string, files: readonly string[]): Promise<void> {
  const old = (text: string) =>
    text
      .replaceAll('vars.EGRESSCTL_REPO_POLICY', 'vars.EGRESSCTL_POLICY')
      // A workflow attachment's chain went on to EGRESSCTL_POLICY too.
      .replace(/(vars\.EGRESSCTL_WF_[A-Z0-9_]+) \|\| '/g, "$1 || vars.EGRESSCTL_POLICY || '");
  const texts: Record<string, string> = {};
  for (const file of files) texts[`${WORKFLOWS}/${file}`] = old(await onDefault(standin, repository, file));
  await standin.commitFiles(repository, { files: texts, message: 'older egressctl' });
  const variables = standin.variables('repository', repository);
  const value = variables.get('EGRESSCTL_REPO_POLICY')?.value ?? '';
  variables.delete('EGRESSCTL_REPO_POLICY');
  standin.setVariable('repository', repository, 'EGRESSCTL_POLICY', value);
}

/**
 * A person edits `file`'s managed step (the marker stays) so that its chain no longer reads the
 * workflow's own variable first: it falls back through the retained EGRESSCTL_POLICY, which holds
 * the repository's policy, not the workflow's. Returns the commit.
 */
export async function skipOwnVariable(standin: GitHubStandin, repository: string, file: string): Promise<string> {
  const text = await onDefault(standin, repository, file);
  const edited = text.replace(/vars\.EGRESSCTL_WF_[A-Z0-9_]+ \|\| /g, '');
  if (edited === text) throw new Error(`${repository} ${file}: no chain reads a workflow variable`);
  return standin.commitFiles(repository, { files: { [`${WORKFLOWS}/${file}`]: edited }, message: 'read the repository policy' });
}
