/**
 * A job that visibly needs what the policy takes away (issue 23): Harden-Runner's
 * `disable-sudo-and-containers` empties the runner's sudoers and takes the Docker and containerd
 * sockets from the runner user (step-security/agent, sudo.go), `disable-sudo` only empties sudoers.
 * A step after Harden-Runner that runs `sudo` or `docker`, or a Docker action, then fails: say
 * so per job, at the step's line, instead of adding the setting without a word.
 * Pure: the job's YAML node and the text in, warnings out.
 */
import { isMap, isScalar, isSeq, type YAMLMap } from 'yaml';
import type { HardenRunnerFlags } from '../policy/model.js';

/** Commands that need sudo, and those that need the Docker or containerd socket. */
const SUDO_COMMANDS = ['sudo'];
const CONTAINER_COMMANDS = ['docker', 'docker-compose', 'nerdctl', 'ctr'];

/**
 * A command at a command position of a shell line: the line's start, or after `;`, `&`, `|`,
 * `(`, `$(`, a backtick, `then`, `do` or `else`, past any `VAR=value` assignments. Quoted text and words inside
 * paths (`./docker/build.sh`) are not commands.
 */
function commandPattern(commands: readonly string[]): RegExp {
  const names = commands.map((name) => name.replace(/[-]/g, '\\-')).join('|');
  return new RegExp(String.raw`(?:^["']?|[;&|(\`]|\$\(|\b(?:then|do|else)(?=[ \t]))[ \t]*(?:[A-Za-z_][A-Za-z0-9_]*=\S*[ \t]+)*(${names})(?=[ \t]|$)`, 'gm');
}

const SUDO = commandPattern(SUDO_COMMANDS);
const CONTAINERS = commandPattern(CONTAINER_COMMANDS);

/** `uses:` values that run through Docker: container actions and Docker's own actions. */
function usesContainers(uses: string): boolean {
  return uses.startsWith('docker://') || /^docker\/[^/]+/i.test(uses);
}

interface Need {
  line: number;
  what: string;
  needs: 'sudo' | 'containers';
}

/** Each step's first visible use of sudo and of containers, with its 1-based line. */
function needsOf(job: YAMLMap, text: string, lineOf: (offset: number) => number): Need[] {
  const steps = job.get('steps', true);
  if (!isSeq(steps)) return [];
  const needs: Need[] = [];
  for (const step of steps.items) {
    if (!isMap(step)) continue;
    const uses = step.get('uses', true);
    if (isScalar(uses) && typeof uses.value === 'string' && usesContainers(uses.value) && uses.range) {
      needs.push({ line: lineOf(uses.range[0]), what: `uses ${uses.value}`, needs: 'containers' });
    }
    const run = step.get('run', true);
    if (!isScalar(run) || typeof run.value !== 'string' || !run.range) continue;
    // The script as written (block scalars keep their lines), shell comment lines blanked.
    const start = run.range[0];
    const source = text.slice(start, run.range[1]).replace(/^([ \t]*)#.*$/gm, (line) => ' '.repeat(line.length));
    for (const [pattern, kind] of [
      [SUDO, 'sudo'],
      [CONTAINERS, 'containers'],
    ] as const) {
      pattern.lastIndex = 0;
      const match = pattern.exec(source);
      if (!match?.[1]) continue;
      const offset = start + match.index + match[0].length - match[1].length;
      needs.push({ line: lineOf(offset), what: `runs \`${match[1]}\``, needs: kind });
    }
  }
  return needs;
}

/**
 * Warnings for a job whose steps use sudo or containers that the plan's flags disable. `lineOf`
 * gives the 1-based line of an offset in `text`.
 */
export function privilegeWarnings(job: YAMLMap, flags: HardenRunnerFlags | undefined, text: string, lineOf: (offset: number) => number): string[] {
  const both = flags?.['disable-sudo-and-containers'] === true;
  const sudoOnly = flags?.['disable-sudo'] === true;
  if (!both && !sudoOnly) return [];
  const warnings: string[] = [];
  for (const need of needsOf(job, text, lineOf)) {
    if (need.needs === 'containers' && !both) continue;
    const setting = both ? 'disable-sudo-and-containers' : 'disable-sudo';
    const taken = need.needs === 'sudo' ? 'sudo' : 'Docker and containerd access';
    warnings.push(
      `line ${need.line}: the step ${need.what}, but the policy sets ${setting}: true, so Harden-Runner takes ${taken} away first and the step will fail; run it without ${need.needs === 'sudo' ? 'sudo' : 'containers'} or use a policy without ${setting}`,
    );
  }
  return warnings;
}
