/**
 * `egressctl init [DIR] --org ORG`: start a policy repository. Writes each scaffold file that is
 * missing and refuses, file by file, to touch one that exists; runs `git init` when DIR is not in
 * a git work tree yet.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { scopeKeyProblem } from '../../policy/scope-keys.js';
import { InvalidInputError, IoError, UsageError } from '../../util/errors.js';
import { FileExistsError, symlinkOnPath, writeFileAtomic } from '../../util/fs.js';
import { gitText, isGitWorkTree } from '../../util/git.js';
import { githubRepositoryOfRemote, parseEgressctlSource, scaffoldFiles, VALIDATE_WORKFLOW, type EgressctlSource } from '../init.js';
import { parseCommandArgs, type CliIo, type Command } from '../io.js';

const usage = 'egressctl init [DIR] --org ORG [--egressctl OWNER/REPO@SHA]';

/** src/cli/commands and dist/cli/commands are three levels below the package root. */
const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export const command: Command = {
  name: 'init',
  summary: 'start a policy repository: policies/, attachments.yml, egressctl.yml, schemas/, a validation workflow',
  usage,
  async run(args: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs(args, { org: { type: 'string' }, egressctl: { type: 'string' } }, usage);
    if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}": give at most one directory\nusage: ${usage}`);
    if (values.org === undefined) throw new UsageError(`name the GitHub organization whose runners the policies are for: --org ORG\nusage: ${usage}`);
    const organization = values.org.trim().toLowerCase();
    const problem = scopeKeyProblem('organization', organization);
    if (problem) throw new UsageError(`--org: ${problem}`);
    let egressctl: EgressctlSource | undefined;
    if (values.egressctl !== undefined) {
      egressctl = parseEgressctlSource(values.egressctl);
      if (!egressctl) throw new UsageError(`--egressctl must be OWNER/REPO@<full 40-hex commit SHA> (the workflow pins egressctl by commit), not "${values.egressctl}"`);
    } else {
      egressctl = await ownSource();
    }

    const dir = path.resolve(io.cwd, positionals[0] ?? '.');
    try {
      await mkdir(dir, { recursive: true });
    } catch (error) {
      throw new IoError(`cannot create ${dir}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
    }
    const files = scaffoldFiles({ organization, egressctl });
    // Checked for every file before any is written: a refusal leaves the folder as it was.
    const links = new Set<string>();
    for (const relativePath of files.keys()) {
      const link = await symlinkOnPath(dir, relativePath);
      if (link !== undefined) links.add(link);
    }
    if (links.size > 0) {
      throw new InvalidInputError(
        `refused to write through symbolic links (init writes only inside ${dir}): ${[...links].map((link) => path.join(dir, link)).join(', ')}; remove or replace them with real files or directories, then run init again`,
      );
    }

    if (!(await isGitWorkTree(dir))) {
      await gitText(dir, ['init', '-q', `--initial-branch=main`]);
      io.stdout(`initialized an empty git repository in ${dir}\n`);
    }

    let created = 0;
    const kept: string[] = [];
    for (const [relativePath, text] of files) {
      try {
        await writeFileAtomic(path.join(dir, relativePath), text, { overwrite: false, mkdirs: true });
        created++;
        io.stdout(`created ${relativePath}\n`);
      } catch (error) {
        if (!(error instanceof FileExistsError)) throw error;
        kept.push(relativePath);
        io.stderr(`refused ${relativePath}: it already exists and init never overwrites a file (compare it with a fresh "egressctl init" elsewhere)\n`);
      }
    }
    if (!egressctl) {
      io.stderr(
        `note: no ${VALIDATE_WORKFLOW}: the check pins egressctl by commit and this copy does not know its own; run init again with --egressctl OWNER/REPO@SHA to add just that file\n`,
      );
    }
    if (created === 0) throw new InvalidInputError(`${dir} already has every file init writes: nothing was changed`);
    io.stdout(
      `\nnext: egressctl validate -C ${displayPath(io.cwd, dir)}, then commit; attach block policies as baselines become stable (egressctl recommend)\n`,
    );
    return 0;
  },
};

/**
 * This package's own GitHub repository and commit: recorded at build time (dist/build-info.json,
 * written when it was built from a git checkout, as npm does for git installs), else read from
 * the git checkout it runs from.
 */
async function ownSource(): Promise<EgressctlSource | undefined> {
  try {
    const info = JSON.parse(await readFile(path.join(PACKAGE_ROOT, 'dist/build-info.json'), 'utf8')) as { repository?: unknown; commit?: unknown };
    const recorded = typeof info.repository === 'string' && typeof info.commit === 'string' ? parseEgressctlSource(`${info.repository}@${info.commit}`) : undefined;
    if (recorded) return recorded;
  } catch {
    // No build record: fall back to git.
  }
  try {
    const top = (await gitText(PACKAGE_ROOT, ['rev-parse', '--show-toplevel'])).trim();
    if (path.resolve(top) !== path.resolve(PACKAGE_ROOT)) return undefined;
    const repository = githubRepositoryOfRemote((await gitText(PACKAGE_ROOT, ['remote', 'get-url', 'origin'])).trim());
    const sha = (await gitText(PACKAGE_ROOT, ['rev-parse', 'HEAD'])).trim();
    return repository && /^[0-9a-f]{40}$/.test(sha) ? { repository, sha } : undefined;
  } catch {
    return undefined;
  }
}

function displayPath(cwd: string, dir: string): string {
  const relative = path.relative(cwd, dir);
  return relative === '' ? '.' : relative.startsWith('..') ? dir : relative;
}
