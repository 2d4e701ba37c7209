/**
 * The files of a new policy repository, as text: pure, so tests and `egressctl init` agree on
 * what a fresh scaffold holds. The I/O (never overwriting, git init) is in commands/init.ts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { renderPolicyFile } from '../policy/edit.js';
import { ATTACHMENTS_FILE, DEFAULT_SETTINGS, POLICIES_DIR, SETTINGS_FILE, type HardenRunnerPin } from '../policy/model.js';
import { POLICY_TESTS_DIR, exampleTestFile } from '../policy/policy-tests.js';
import { SCHEMAS_DIR } from '../policy/schema.js';

/** Where the check installs egressctl from: a GitHub repository at a full commit SHA. */
export interface EgressctlSource {
  repository: string;
  sha: string;
}

export interface ScaffoldOptions {
  /** GitHub organization login the starter policy is attached to (lower-cased). */
  organization: string;
  /** Without it the validation workflow is left out: it must be pinned by commit. */
  egressctl?: EgressctlSource | undefined;
  hardenRunner?: HardenRunnerPin;
}

export const STARTER_POLICY = 'org-audit';
export const VALIDATE_WORKFLOW = '.github/workflows/validate-policies.yml';

/** Pinned as in this project's own workflows; Dependabot or `harden --repin` keep them current. */
const CHECKOUT = 'actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1';
const SETUP_NODE = 'actions/setup-node@820762786026740c76f36085b0efc47a31fe5020 # v7.0.0';

/** Repository-relative path -> content, in the order they are written. */
export function scaffoldFiles(options: ScaffoldOptions): Map<string, string> {
  const organization = options.organization.toLowerCase();
  const pin = options.hardenRunner ?? DEFAULT_SETTINGS.hardenRunner;
  const files = new Map<string, string>();
  files.set(
    `${POLICIES_DIR}/${STARTER_POLICY}.yml`,
    renderPolicyFile({
      mode: 'audit',
      endpoints: [],
      description: 'Organization default while baselines are collected',
      comment: 'Audit mode records what jobs reach; switch scopes to block policies once their baselines are stable.',
    }),
  );
  files.set(
    ATTACHMENTS_FILE,
    [
      '# yaml-language-server: $schema=./schemas/attachments.schema.json',
      '# Scope -> policy. The most specific attachment wins whole:',
      '# workflows > repositories > organizations > clusters.',
      'organizations:',
      `  ${organization}: ${STARTER_POLICY}`,
      '',
    ].join('\n'),
  );
  files.set(
    SETTINGS_FILE,
    [
      '# yaml-language-server: $schema=./schemas/egressctl.schema.json',
      `organizations: [${organization}]`,
      `default-branch: ${DEFAULT_SETTINGS.defaultBranch}`,
      'harden-runner:',
      `  uses: ${pin.repository}@${pin.sha}`,
      `  version: ${pin.version}`,
      '',
    ].join('\n'),
  );
  files.set(`${POLICY_TESTS_DIR}/${STARTER_POLICY}.yml`, exampleTestFile(organization));
  for (const [name, text] of schemaFiles()) files.set(`schemas/${name}`, text);
  if (options.egressctl) files.set(VALIDATE_WORKFLOW, validateWorkflow(options.egressctl, pin));
  files.set('README.md', readme(organization));
  return files;
}

/** The JSON Schemas this version of egressctl validates with, so editors check the same rules. */
function schemaFiles(): [string, string][] {
  return readdirSync(SCHEMAS_DIR)
    .filter((name) => name.endsWith('.schema.json'))
    .sort()
    .map((name) => [name, readFileSync(new URL(name, SCHEMAS_DIR), 'utf8')]);
}

function validateWorkflow(source: EgressctlSource, pin: HardenRunnerPin): string {
  return `# Validates this policy repository on every pull request, with or without the GitHub App:
# each finding becomes an annotation at its file and line.
name: validate-policies
on:
  pull_request:
  push:
    branches: [${DEFAULT_SETTINGS.defaultBranch}]

permissions:
  contents: read

jobs:
  validate:
    runs-on: ubuntu-latest
    steps:
      - uses: ${pin.repository}@${pin.sha} # ${pin.version}
        with:
          egress-policy: block
          allowed-endpoints: api.github.com:443 github.com:443 registry.npmjs.org:443
      - uses: ${CHECKOUT}
      - uses: ${SETUP_NODE}
        with:
          node-version: 20
      # egressctl from git, pinned by commit (npm builds it on install).
      - run: npx --yes github:${source.repository}#${source.sha} validate --format github
      # The policy tests in tests/*.yml: each failure names its file and line.
      - run: npx --yes github:${source.repository}#${source.sha} test
`;
}

function readme(organization: string): string {
  return `# Runner egress policies for ${organization}

Harden-Runner egress policies as code, managed with egressctl.

- \`policies/<name>.yml\`: one policy per file (\`egress-policy\`, \`allowed-endpoints\`, ...).
- \`attachments.yml\`: which policy applies to which organization, repository, workflow or ARC
  cluster; the most specific attachment wins.
- \`egressctl.yml\`: settings (managed organizations, default branch, the Harden-Runner pin).
- \`tests/\`: policy tests (\`egressctl test\`): scopes and the endpoints their policy must allow or block.
- \`baselines/\`: endpoints jobs were seen using, written by \`egressctl baseline\` and the GitHub App.
- \`schemas/\`: JSON Schemas; editors with yaml-language-server check files as you type.

Everyday commands:

\`\`\`sh
egressctl validate                          # every finding with file:line:column
egressctl test                              # the policy tests in tests/*.yml
egressctl policy create NAME --mode block --endpoints "github.com registry.npmjs.org"
egressctl attach NAME --repository ${organization}/REPO
egressctl resolve --repository ${organization}/REPO   # the effective policy and its with: block
egressctl compile --unsigned -o bundle.json   # the bundle of HEAD (commit first)
\`\`\`

Git history is the audit log: \`egressctl history\`.
`;
}

/** `OWNER/REPO@SHA` (40 hex). */
export function parseEgressctlSource(text: string): EgressctlSource | undefined {
  const match = /^([A-Za-z0-9-]+\/[A-Za-z0-9._-]+)@([0-9a-f]{40})$/.exec(text.trim());
  return match ? { repository: match[1] ?? '', sha: match[2] ?? '' } : undefined;
}

/** `https://github.com/OWNER/REPO(.git)` or `git@github.com:OWNER/REPO(.git)` -> `OWNER/REPO`. */
export function githubRepositoryOfRemote(url: string): string | undefined {
  const match = /^(?:https:\/\/(?:[^@/]+@)?github\.com\/|git@github\.com:|ssh:\/\/git@github\.com\/)([A-Za-z0-9-]+\/[A-Za-z0-9._-]+?)(?:\.git)?\/?$/.exec(url.trim());
  return match?.[1];
}
