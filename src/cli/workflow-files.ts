/**
 * The workflow files of a repository on disk, for the call graph that lets a reusable
 * workflow's jobs follow their callers (src/policy/callers.ts): `harden --policy-from` reads the
 * folder of the files it is given, `resolve --workflows-from` a checkout.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { CallGraph } from '../policy/callers.js';
import { workflowCalls, type WorkflowFile } from '../rollout/workflow-calls.js';
import { IoError, messageOf } from '../util/errors.js';

/** `*.yml` / `*.yaml` directly in `dir` (a `.github/workflows` folder), as `.github/workflows/F`. */
export async function readWorkflowFolder(dir: string): Promise<WorkflowFile[]> {
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true })).filter((entry) => entry.isFile() && /\.ya?ml$/i.test(entry.name)).map((entry) => entry.name).sort();
  } catch (error) {
    throw new IoError(`cannot read the workflow folder ${dir}: ${messageOf(error)}`, { cause: error });
  }
  const files: WorkflowFile[] = [];
  for (const name of names) files.push({ path: `.github/workflows/${name}`, text: await readFile(path.join(dir, name), 'utf8') });
  return files;
}

/** The call graph of the workflows of a checkout (`DIR/.github/workflows`) or of a workflow folder itself. */
export async function callGraphFrom(dir: string, repository: string): Promise<CallGraph> {
  const normalized = dir.replace(/\\/g, '/').replace(/\/+$/, '');
  const folder = /(^|\/)\.github\/workflows$/.test(normalized) ? dir : path.join(dir, '.github', 'workflows');
  return workflowCalls(repository, await readWorkflowFolder(folder));
}
