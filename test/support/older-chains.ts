/** A repository's managed steps and variables as an older egressctl left them (a retained repository-level EGRESSCTL_POLICY), and a person's edit that makes a job fail open through it. */
import type { GitHubStandin } from './github/index.js';

const WORKFLOWS = '.github/workflows';

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
