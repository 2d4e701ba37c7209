/** The GitHub firewall target's fixtures (test/rollout/fixtures/github-firewall): a store, workflows of two repositories and a decisions artifact. */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const FIREWALL_FIXTURES = path.join(import.meta.dirname, '..', 'rollout', 'fixtures', 'github-firewall');

/** The decisions artifact of one run (`firewall-decisions-test.json`). */
export const DECISIONS_FIXTURE = path.join(FIREWALL_FIXTURES, 'firewall-decisions-test.json');

function readTree(dir: string, prefix = ''): Record<string, string> {
  const files: Record<string, string> = {};
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const relative = `${prefix}${entry.name}`;
    if (entry.isDirectory()) Object.assign(files, readTree(path.join(dir, entry.name), `${relative}/`));
    else files[relative] = readFileSync(path.join(dir, entry.name), 'utf8');
  }
  return files;
}

/** The policy store: ci-block (repositories acme/api, acme/web), release-block and nightly-audit (workflow attachments), `github-firewall` on with `runs-on: rewrite`. */
export function firewallStoreFiles(): Record<string, string> {
  return readTree(path.join(FIREWALL_FIXTURES, 'store'));
}

/** A repository's workflow files as `.github/workflows/<name>` -> text, sorted by path. */
export function firewallWorkflows(repository: 'api' | 'web'): { path: string; text: string }[] {
  const dir = path.join(FIREWALL_FIXTURES, 'workflows', repository);
  return readdirSync(dir)
    .sort()
    .map((name) => ({ path: `.github/workflows/${name}`, text: readFileSync(path.join(dir, name), 'utf8') }));
}
