// Records which commit of which GitHub repository this build came from (dist/build-info.json), so
// `egressctl init` can pin the validation workflow to it. Best effort: outside a git checkout, or
// without a GitHub origin, nothing is written and init asks for --egressctl instead.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

function git(...args) {
  return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
}

try {
  const commit = git('rev-parse', 'HEAD');
  const remote = git('remote', 'get-url', 'origin');
  const match = /github\.com[/:]([A-Za-z0-9-]+\/[A-Za-z0-9._-]+?)(?:\.git)?\/?$/.exec(remote);
  if (/^[0-9a-f]{40}$/.test(commit) && match) {
    writeFileSync(new URL('../dist/build-info.json', import.meta.url), `${JSON.stringify({ repository: match[1], commit }, null, 2)}\n`);
  }
} catch {
  // Not a git checkout (a tarball build): nothing to record.
}
