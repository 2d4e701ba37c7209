/**
 * GitHub's native egress firewall as an enforcement target (docs/github-firewall.md), on a
 * realistic store (test/rollout/fixtures/github-firewall/store), real workflows and a decisions
 * artifact: every mapping case, the managed file, the runs-on rewrite and the decisions parser.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildBaselineIndex } from '../../src/baselines/index.js';
import { formatDiagnostic } from '../../src/policy/diagnostics.js';
import { parsePolicyRepository, type PolicyRepository } from '../../src/store/repository.js';
import { planRepository, type RolloutConfig } from '../../src/rollout/rollout-plan.js';
import { storeStateOf } from '../../src/rollout/sync-plan.js';
import { workflowProblems } from '../../src/rollout/workflow-check.js';
import {
  decideFirewallFile,
  desiredFirewall,
  FIREWALL_FILE,
  moveToFirewallRunner,
  parseFirewallDecisions,
  planFirewallTarget,
  readFirewallFile,
  renderFirewallFile,
  repositoryFirewall,
  type DesiredFirewall,
} from '../../src/rollout/github-firewall/index.js';
import { DECISIONS_FIXTURE, firewallStoreFiles, firewallWorkflows } from '../support/github-firewall.js';

function loadStore(extraSettings = ''): PolicyRepository {
  const files = new Map(Object.entries(firewallStoreFiles()).map(([name, text]) => [name, Buffer.from(name === 'egressctl.yml' ? `${text}${extraSettings}` : text)]));
  const result = parsePolicyRepository(files);
  expect(result.errors.map(formatDiagnostic)).toEqual([]);
  return result.value;
}

function storeFiles(): Map<string, Uint8Array> {
  return new Map(Object.entries(firewallStoreFiles()).map(([name, text]) => [name, Buffer.from(text)]));
}

const decisionsText = readFileSync(DECISIONS_FIXTURE, 'utf8');

/** What the firewall saw in one run of acme/api's CI (the decisions artifact), as `host:port`. */
function seenFromArtifact(): string[] {
  const parsed = parseFirewallDecisions(decisionsText, 'firewall-decisions-test.json');
  expect(parsed.errors).toEqual([]);
  return parsed.value.endpoints;
}

const workflowsOf = firewallWorkflows;

function firewallOf(answer: ReturnType<typeof desiredFirewall>): DesiredFirewall {
  if (answer.firewall === null) throw new Error(answer.reason);
  return answer.firewall;
}

describe('egressctl.yml github-firewall', () => {
  it('reads enabled and runs-on; a bad value is a located error', () => {
    expect(loadStore().settings.githubFirewall).toEqual({ enabled: true, runsOn: 'rewrite', noDefaultUrls: false });
    const files = storeFiles();
    files.set('egressctl.yml', Buffer.from('github-firewall:\n  enabled: true\n  runs-on: always\n'));
    const result = parsePolicyRepository(files);
    expect(result.errors.map(formatDiagnostic).join('\n')).toMatch(/^egressctl\.yml:3:\d+: .*(rewrite|leave)/m);
  });

  it('larger-runners: the labels of larger runners on the firewall image, lower-cased; a label with a space is a located error', () => {
    const files = storeFiles();
    files.set('egressctl.yml', Buffer.from('github-firewall:\n  larger-runners: [Acme-Firewall-16core, acme-firewall-4core]\n'));
    const result = parsePolicyRepository(files);
    expect(result.errors).toEqual([]);
    // Independent of enabled: reading decisions and counting coverage need no firewall file written.
    expect(result.warnings.filter((warning) => warning.file === 'egressctl.yml')).toEqual([]);
    expect(result.value?.settings.githubFirewall.largerRunners).toEqual(['acme-firewall-16core', 'acme-firewall-4core']);
    files.set('egressctl.yml', Buffer.from('github-firewall:\n  larger-runners:\n    - "two words"\n'));
    expect(parsePolicyRepository(files).errors.map(formatDiagnostic).join('\n')).toMatch(/^egressctl\.yml:3:\d+: /m);
  });

  it('runs-on or no-default-urls without enabled: a located warning', () => {
    const files = storeFiles();
    files.set('egressctl.yml', Buffer.from('organizations: [acme]\ngithub-firewall:\n  runs-on: rewrite\n'));
    const result = parsePolicyRepository(files);
    expect(result.errors).toEqual([]);
    expect(result.warnings.map(formatDiagnostic)).toContainEqual(expect.stringMatching(/^egressctl\.yml:3:3: warning settings\/github-firewall-disabled: github-firewall settings have no effect while enabled is not true/));
  });

  it('defaults to off (leave)', () => {
    const files = storeFiles();
    files.delete('egressctl.yml');
    expect(parsePolicyRepository(files).value.settings.githubFirewall).toEqual({ enabled: false, runsOn: 'leave', noDefaultUrls: false });
  });
});

describe('mapping the store to the firewall file', () => {
  it('two block policies (repository + workflow) unite into enforce, naming each workflow; ports, IPs, wildcards, flags and lockdown reported', () => {
    const store = storeStateOf(loadStore());
    const firewall = firewallOf(desiredFirewall({ store, repository: 'acme/web', workflows: ['.github/workflows/ci.yml', '.github/workflows/deploy.yml'], seen: seenFromArtifact(), noDefaultUrls: false }));
    expect(firewall.mode).toBe('enforce');
    expect(firewall.policies).toEqual(['ci-block', 'release-block']);
    expect(firewall.allow).toEqual([
      'agent.api.stepsecurity.io',
      'api.github.com',
      'archive.ubuntu.com',
      'cloudflare-dns.com',
      'dns.google',
      'files.pythonhosted.org',
      'fulcio.sigstore.dev',
      'objects.githubusercontent.com',
      'prod.app-api.stepsecurity.io',
      'pypi.org',
      'registry.npmjs.org',
      'rekor.sigstore.dev',
      'release-assets.githubusercontent.com',
      'uploads.github.com',
    ]);
    const byCode = (code: string) => firewall.findings.filter((finding) => finding.code === code).map((finding) => finding.message);
    expect(byCode('united')).toEqual([expect.stringMatching(/\.github\/workflows\/ci\.yml: ci-block \(block\); \.github\/workflows\/deploy\.yml: release-block \(block\); united into mode enforce/)]);
    expect(byCode('port')).toEqual([expect.stringContaining('proxy.acme.example:8443: the firewall file takes host names for HTTPS (443) and HTTP (80) only; port 8443 cannot be expressed: dropped')]);
    expect(byCode('ip')).toEqual([expect.stringContaining('140.82.112.3:443: an IP address')]);
    expect(byCode('wildcard-expanded')).toEqual([expect.stringContaining('*.pythonhosted.org:443: the firewall file takes no wildcards; replaced by the hosts the repository\'s baselines saw: files.pythonhosted.org')]);
    expect(byCode('wildcard-dropped')).toEqual([expect.stringContaining('*.s3.amazonaws.com:443')]);
    expect(byCode('default')).toEqual(
      expect.arrayContaining([
        "policy ci-block: github.com:443: one of GitHub's default hosts, which the firewall allows by itself",
        "policy ci-block: *.actions.githubusercontent.com:443: within GitHub's default hosts, which the firewall allows by itself",
      ]),
    );
    expect(byCode('flag')).toEqual([expect.stringContaining('policy ci-block: disable-sudo-and-containers has no counterpart')]);
    expect(byCode('lockdown')).toEqual([expect.stringContaining('policy release-block: lockdown-mode has no counterpart')]);
    expect(byCode('harden-runner')).toHaveLength(1);
  });

  it('a wildcard without baselines is dropped with a warning', () => {
    const store = storeStateOf(loadStore());
    const firewall = firewallOf(desiredFirewall({ store, repository: 'acme/web', seen: [], noDefaultUrls: false }));
    expect(firewall.allow).not.toContain('files.pythonhosted.org');
    expect(firewall.findings.filter((finding) => finding.code === 'wildcard-dropped').map((finding) => finding.endpoint)).toEqual(['*.pythonhosted.org:443', '*.s3.amazonaws.com:443']);
  });

  it('a repository with a block policy and two workflow-level policies (block and audit) gets log, with a warning naming each workflow', () => {
    const store = storeStateOf(loadStore());
    const workflows = workflowsOf('api').map((file) => file.path);
    const firewall = firewallOf(desiredFirewall({ store, repository: 'acme/api', workflows, seen: seenFromArtifact(), noDefaultUrls: false }));
    expect(firewall.mode).toBe('log');
    expect(firewall.policies).toEqual(['ci-block', 'nightly-audit', 'release-block']);
    const united = firewall.findings.find((finding) => finding.code === 'united')!;
    expect(united.severity).toBe('warning');
    for (const named of ['ci.yml: ci-block (block)', 'nightly.yml: nightly-audit (audit)', 'release.yml: release-block (block)', 'reusable.yml: ci-block (block)']) expect(united.message).toContain(named);
    expect(united.message).toContain('enforce only when every workflow follows a block policy');
    // The audit policy's endpoints are in the union too: the switch to enforce changes only the mode.
    expect(firewall.allow).toContain('storage.googleapis.com');
    // Without the workflow list (resolve): the repository's answer plus its workflow attachments.
    const resolved = firewallOf(desiredFirewall({ store, repository: 'acme/api', seen: seenFromArtifact(), noDefaultUrls: false }));
    expect(resolved.mode).toBe('log');
    expect(resolved.allow).toEqual(firewall.allow);
  });

  it('no-default-urls lists GitHub hosts itself: github.com, and concrete Actions hosts from baselines', () => {
    const store = storeStateOf(loadStore());
    const seen = [...seenFromArtifact(), 'pipelines.actions.githubusercontent.com:443'];
    const firewall = firewallOf(desiredFirewall({ store, repository: 'acme/web', workflows: ['.github/workflows/ci.yml'], seen, noDefaultUrls: true }));
    expect(firewall.noDefaultUrls).toBe(true);
    expect(firewall.allow).toEqual(expect.arrayContaining(['github.com', 'pipelines.actions.githubusercontent.com']));
    expect(renderFirewallFile(firewall)).toContain('\nno-default-urls: true\n');
  });

  it('no Harden-Runner hosts where no job runs it; telemetry host only while telemetry is on', () => {
    const store = storeStateOf(loadStore());
    const firewall = firewallOf(desiredFirewall({ store, repository: 'acme/web', workflows: ['.github/workflows/ci.yml'], runsHardenRunner: () => false, noDefaultUrls: false }));
    expect(firewall.allow).not.toContain('agent.api.stepsecurity.io');
    const quiet = { ...store, policies: { ...store.policies, 'ci-block': { ...store.policies['ci-block']!, 'disable-telemetry': true } } };
    const withoutTelemetry = firewallOf(desiredFirewall({ store: quiet, repository: 'acme/web', workflows: ['.github/workflows/ci.yml'], noDefaultUrls: false }));
    expect(withoutTelemetry.allow).toContain('agent.api.stepsecurity.io');
    expect(withoutTelemetry.allow).not.toContain('prod.app-api.stepsecurity.io');
  });

  it('no policy applies: no file, and why', () => {
    const store = storeStateOf(loadStore());
    const answer = desiredFirewall({ store, repository: 'acme/docs', workflows: ['.github/workflows/ci.yml'], noDefaultUrls: false });
    expect(answer.firewall).toBeNull();
    expect('reason' in answer && answer.reason).toMatch(/no policy applies to acme\/docs/);
  });
});

describe('no-default-urls in a policy (GitHub\'s firewall only)', () => {
  /** The fixture store with policy files added or replaced (`null` leaves the store as it is). */
  function storeWith(policies: Record<string, string>, settings = ''): PolicyRepository {
    const files = storeFiles();
    for (const [name, text] of Object.entries(policies)) files.set(`policies/${name}.yml`, Buffer.from(text));
    if (settings) files.set('egressctl.yml', Buffer.from(`${firewallStoreFiles()['egressctl.yml']}${settings}`));
    const result = parsePolicyRepository(files);
    expect(result.errors.map(formatDiagnostic)).toEqual([]);
    return result.value;
  }
  const policyText = (name: string) => firewallStoreFiles()[`policies/${name}.yml`]!;
  const web = (repository: PolicyRepository, workflows: string[]) =>
    firewallOf(desiredFirewall({ store: storeStateOf(repository), repository: 'acme/web', workflows, seen: seenFromArtifact(), noDefaultUrls: repository.settings.githubFirewall.noDefaultUrls }));

  it('a policy with the key: the file says no-default-urls and lists GitHub\'s hosts itself, the setting off', () => {
    const repository = storeWith({ 'release-block': `${policyText('release-block')}no-default-urls: true\n` });
    expect(repository.policies.get('release-block')?.noDefaultUrls).toBe(true);
    expect(storeStateOf(repository).policies['release-block']?.['no-default-urls']).toBe(true);
    const firewall = web(repository, ['.github/workflows/deploy.yml']);
    expect(repository.settings.githubFirewall.noDefaultUrls).toBe(false);
    expect(firewall.noDefaultUrls).toBe(true);
    // release-block lists github.com; Harden-Runner's download starts there too.
    expect(firewall.allow).toContain('github.com');
    expect(firewall.findings.filter((finding) => finding.code === 'default')).toEqual([]);
    expect(renderFirewallFile(firewall)).toContain('\nno-default-urls: true\n');
    // Without the key, the same repository leaves GitHub's hosts to the firewall.
    const without = web(storeWith({}), ['.github/workflows/deploy.yml']);
    expect(without.noDefaultUrls).toBe(false);
    expect(without.allow).not.toContain('github.com');
  });

  it('two workflow policies of which one lacks it: the union allows GitHub\'s defaults, and the warning says why', () => {
    const repository = storeWith({ 'release-block': `${policyText('release-block')}no-default-urls: true\n` });
    const firewall = web(repository, ['.github/workflows/ci.yml', '.github/workflows/deploy.yml']);
    expect(firewall.noDefaultUrls).toBe(false);
    expect(firewall.allow).not.toContain('github.com');
    expect(renderFirewallFile(firewall)).not.toContain('no-default-urls');
    const united = firewall.findings.find((finding) => finding.code === 'united')!;
    expect(united.message).toContain("GitHub's default hosts allowed (no-default-urls only when every workflow's policy sets it)");
    // Both set it: the file does too.
    const both = storeWith({ 'release-block': `${policyText('release-block')}no-default-urls: true\n`, 'ci-block': `${policyText('ci-block')}no-default-urls: true\n` });
    const strict = web(both, ['.github/workflows/ci.yml', '.github/workflows/deploy.yml']);
    expect(strict.noDefaultUrls).toBe(true);
    expect(strict.findings.find((finding) => finding.code === 'united')!.message).not.toContain('default hosts allowed');
  });

  it('precedence: the policy key when present, else the egressctl.yml setting', () => {
    const settings = '  no-default-urls: true\n';
    // The setting alone: every workflow gets it.
    expect(web(storeWith({}, settings), ['.github/workflows/ci.yml', '.github/workflows/deploy.yml']).noDefaultUrls).toBe(true);
    // A policy that says false wins over the setting, and the union follows it.
    const loose = storeWith({ 'ci-block': `${policyText('ci-block')}no-default-urls: false\n` }, settings);
    expect(web(loose, ['.github/workflows/deploy.yml']).noDefaultUrls).toBe(true);
    expect(web(loose, ['.github/workflows/ci.yml', '.github/workflows/deploy.yml']).noDefaultUrls).toBe(false);
  });

  it('inherited through extends; this file\'s key wins', () => {
    const repository = storeWith({
      'ci-block': `${policyText('ci-block')}no-default-urls: true\n`,
      'ci-strict': 'description: ci-block, nothing more\negress-policy: block\nextends: ci-block\n',
      'ci-loose': 'description: ci-block with GitHub\'s defaults\negress-policy: block\nextends: [ci-block]\nno-default-urls: false\n',
    });
    const compiled = storeStateOf(repository).policies;
    expect(compiled['ci-strict']?.['no-default-urls']).toBe(true);
    expect(compiled['ci-loose']?.['no-default-urls']).toBe(false);
    expect(compiled['nightly-audit']?.['no-default-urls']).toBeUndefined();
    const attached = (policy: string) => {
      const files = storeFiles();
      for (const [name, text] of Object.entries({ 'ci-block': `${policyText('ci-block')}no-default-urls: true\n`, 'ci-strict': 'egress-policy: block\nextends: ci-block\n', 'ci-loose': 'egress-policy: block\nextends: ci-block\nno-default-urls: false\n' })) files.set(`policies/${name}.yml`, Buffer.from(text));
      files.set('attachments.yml', Buffer.from(`repositories:\n  acme/web: ${policy}\n`));
      const result = parsePolicyRepository(files);
      expect(result.errors.map(formatDiagnostic)).toEqual([]);
      return web(result.value, ['.github/workflows/ci.yml']);
    };
    expect(attached('ci-strict').noDefaultUrls).toBe(true);
    expect(attached('ci-strict').allow).toContain('github.com');
    expect(attached('ci-loose').noDefaultUrls).toBe(false);
  });

  it('a value other than true or false is an error located at its line', () => {
    const files = storeFiles();
    files.set('policies/release-block.yml', Buffer.from(`${policyText('release-block')}no-default-urls: "yes"\n`));
    const result = parsePolicyRepository(files);
    const line = policyText('release-block').split('\n').length;
    expect(result.errors.map(formatDiagnostic)).toEqual([`policies/release-block.yml:${line}:18: error policy/invalid-type: "no-default-urls" must be true or false, not string "yes"`]);
  });

  it('in a sync plan: the file gets no-default-urls only when every workflow\'s policy sets it; the repository-wide file agrees', async () => {
    const withKey = (name: string) => `${policyText(name)}no-default-urls: true\n`;
    const plan = async (repository: PolicyRepository) => {
      const store = storeStateOf(repository);
      const config: RolloutConfig = { mode: 'inline', pin: repository.settings.hardenRunner, baselines: buildBaselineIndex([]), store };
      const planned = await planRepository('acme/api', workflowsOf('api'), config);
      const { files } = await planFirewallTarget({ store, repository: 'acme/api', plan: planned, seen: seenFromArtifact() });
      return { file: readFirewallFile(files.find((file) => file.path === FIREWALL_FILE)!.after), whole: firewallOf(repositoryFirewall(store, 'acme/api', seenFromArtifact())) };
    };
    const all = await plan(storeWith({ 'ci-block': withKey('ci-block'), 'release-block': withKey('release-block'), 'nightly-audit': withKey('nightly-audit') }));
    expect(all.file).toMatchObject({ managed: true, noDefaultUrls: true });
    expect(all.file.allow).toContain('github.com');
    expect(all.whole.noDefaultUrls).toBe(true);
    const allButNightly = await plan(storeWith({ 'ci-block': withKey('ci-block'), 'release-block': withKey('release-block') }));
    expect(allButNightly.file).toMatchObject({ managed: true, noDefaultUrls: false });
    expect(allButNightly.whole.noDefaultUrls).toBe(false);
  });
});

describe('the managed file', () => {
  const store = () => storeStateOf(loadStore());
  const web = () => firewallOf(desiredFirewall({ store: store(), repository: 'acme/web', workflows: ['.github/workflows/ci.yml', '.github/workflows/deploy.yml'], seen: seenFromArtifact(), noDefaultUrls: false }));

  it('renders mode, allow and a header naming the policies and the store commit, and reads back', () => {
    const text = renderFirewallFile(web(), '0123456789abcdef0123456789abcdef01234567');
    expect(text.split('\n').slice(0, 5)).toEqual([
      "# GitHub's native egress firewall (actions-native-egress-firewall, technical-preview-2026-08-31).",
      '# managed-by: egressctl: written by egressctl sync from the policy store; change the store, not this file.',
      '# policies: ci-block, release-block (store commit 0123456789ab)',
      'mode: enforce',
      'allow:',
    ]);
    expect(readFirewallFile(text)).toEqual({ managed: true, problems: [], mode: 'enforce', allow: web().allow, noDefaultUrls: false });
  });

  it('sync decisions: create, unchanged whatever the header says, update ours, never write a person\'s file', () => {
    const desired = web();
    expect(decideFirewallFile(undefined, desired).action).toBe('create');
    const ours = renderFirewallFile(desired, 'aaaa');
    expect(decideFirewallFile(ours, desired, 'bbbb')).toEqual({ action: 'unchanged', reasons: [] });
    const stale = ours.replace('  - uploads.github.com\n', '').replace('  - pypi.org\n', '  - pypi.org\n  - evil.example\n');
    const update = decideFirewallFile(stale, desired);
    expect(update.action).toBe('update');
    expect(update.reasons).toEqual([`${FIREWALL_FILE}: allow added: uploads.github.com`, `${FIREWALL_FILE}: allow dropped: evil.example`]);
    // curl/curl's file (enforce, api.github.com only): stricter than the store: left alone, not narrowed or widened.
    const curl = '# https://github.com/github-early-access/actions-native-egress-firewall\n\nmode: enforce\nallow:\n  - api.github.com\n';
    expect(decideFirewallFile(curl, desired)).toEqual({ action: 'left-alone', reasons: [] });
    // A person's file that allows more (log mode, an extra host): drift, reported, not written.
    const weaker = 'mode: log\nallow:\n  - api.github.com\n  - pastebin.com\n';
    const drift = decideFirewallFile(weaker, desired);
    expect(drift.action).toBe('drift');
    expect(drift.after).toBeUndefined();
    expect(drift.reasons[0]).toMatch(/written by a person \(no egressctl marker\) and weaker than the store: mode log, the store says enforce \(block\); allows hosts the store does not: pastebin\.com/);
    // aio-libs/aiohttp's file: enforce with GitHub's defaults only.
    expect(decideFirewallFile('mode: enforce\n', desired).action).toBe('left-alone');
  });

  it('a person\'s file that does not read as the format is left alone with located problems', () => {
    const decision = decideFirewallFile('mode: block\nallow: pastebin.com\n', web());
    expect(decision.action).toBe('left-alone');
    expect(decision.reasons[0]).toContain(`${FIREWALL_FILE}:1:7: mode must be log or enforce`);
    expect(decision.reasons[0]).toContain(`${FIREWALL_FILE}:2:8: allow must be a list of host names`);
  });
});

describe('runs-on: rewrite', () => {
  it('moves Linux GitHub-hosted jobs of block workflows in place, reports the rest', () => {
    const text = workflowsOf('api').find((file) => file.path.endsWith('/ci.yml'))!.text;
    const result = moveToFirewallRunner(text, () => true);
    const byJob = Object.fromEntries(result.jobs.map((job) => [job.job, job]));
    expect(byJob['test']).toMatchObject({ action: 'moved', from: 'ubuntu-latest', to: 'ubuntu-24.04-firewall' });
    expect(byJob['lint']).toMatchObject({ action: 'moved', from: 'ubuntu-22.04', reason: expect.stringContaining('a change of image') });
    expect(byJob['windows']).toMatchObject({ action: 'left', reason: expect.stringContaining('Windows') });
    expect(byJob['matrix']).toMatchObject({ action: 'left', reason: expect.stringContaining('expression') });
    expect(byJob['slim']).toMatchObject({ action: 'left', reason: expect.stringContaining('ubuntu-slim') });
    expect(byJob['gpu']).toMatchObject({ action: 'left', reason: expect.stringContaining('several labels') });
    expect(byJob['shared']).toMatchObject({ action: 'left', reason: expect.stringContaining('reusable workflow') });
    // Only the two scalars changed; the quotes and the comment stay.
    const expected = text.replace('    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - run: npm ci', '    runs-on: ubuntu-24.04-firewall\n    steps:\n      - uses: actions/checkout@v4\n      - run: npm ci').replace('"ubuntu-22.04"   # pinned', '"ubuntu-24.04-firewall"   # pinned');
    expect(result.output).toBe(expected);
    expect(moveToFirewallRunner(result.output, () => true).jobs.filter((job) => job.action === 'moved')).toEqual([]);
  });

  it('in a sync plan: block workflows move, the audit one stays, every file passes GitHub\'s parser, the firewall file is added', async () => {
    const repository = loadStore();
    const store = storeStateOf(repository);
    const config: RolloutConfig = { mode: 'inline', pin: repository.settings.hardenRunner, baselines: buildBaselineIndex([]), store };
    const plan = await planRepository('acme/api', workflowsOf('api'), config);
    const seen = seenFromArtifact();
    const { files, report } = await planFirewallTarget({ store, repository: 'acme/api', plan, seen });
    const after = Object.fromEntries(files.map((file) => [file.path, file]));
    expect(after['.github/workflows/release.yml']!.after).toContain('runs-on: ubuntu-24.04-firewall');
    expect(after['.github/workflows/nightly.yml']!.after).toContain('runs-on: ubuntu-latest');
    expect(after['.github/workflows/reusable.yml']!.after).toContain("runs-on: 'ubuntu-24.04-firewall'");
    for (const file of files.filter((item) => item.path.startsWith('.github/workflows/'))) expect(await workflowProblems(file.path, file.after)).toEqual([]);
    expect(after[FIREWALL_FILE]).toMatchObject({ status: 'changed', before: '' });
    expect(readFirewallFile(after[FIREWALL_FILE]!.after)).toMatchObject({ managed: true, mode: 'log' });
    expect(report.action).toBe('create');
    expect(report.reasons).toEqual(
      expect.arrayContaining([
        '.github/workflows/ci.yml job lint: runs-on ubuntu-22.04 -> ubuntu-24.04-firewall (Ubuntu 22.04 -> 24.04: a change of image (tool versions differ); check the job on the new image)',
        '.github/workflows/ci.yml job windows: runs-on left as it is: Windows runner: the firewall runs on Linux only',
        '.github/workflows/ci.yml job slim: runs-on left as it is: ubuntu-slim: a container-based runner; the firewall image is Ubuntu 24.04 (leave it, or move it by hand)',
      ]),
    );
    expect(report.reasons.some((reason) => reason.includes('nightly.yml job fuzz'))).toBe(false);
  });
});

describe('the decisions artifact', () => {
  it('reads decision[].url: https -> 443, http keeps 80, explicit ports kept, unknown fields ignored', () => {
    const parsed = parseFirewallDecisions(decisionsText, 'firewall-decisions-test.json');
    expect(parsed.value.endpoints).toEqual([
      'api.github.com:443',
      'archive.ubuntu.com:80',
      'deb.debian.org:80',
      'files.pythonhosted.org:443',
      'github.com:443',
      'productionresultssa3.blob.core.windows.net:443',
      'proxy.acme.example:8443',
      'pypi.org:443',
      'registry.npmjs.org:443',
    ]);
    expect(parsed.value.decisions).toBe(9);
    expect(parsed.warnings.map(formatDiagnostic)).toEqual(['firewall-decisions-test.json:14:5: warning firewall-decisions/no-url: decision[9] has no "url": skipped']);
  });

  it('other shapes are errors located at their line and column', () => {
    const located = (text: string) => parseFirewallDecisions(text, 'f.json').errors.map(formatDiagnostic);
    expect(located('[{"url": "https://a.example"}]')[0]).toMatch(/^f\.json:1:1: error firewall-decisions\/shape: not the decisions artifact's shape/);
    expect(located('{\n  "decisions": []\n}')[0]).toMatch(/^f\.json:1:1: error firewall-decisions\/shape: "decision" is missing/);
    expect(located('{\n  "decision": [\n    {"url": 42}\n  ]\n}')[0]).toMatch(/^f\.json:3:13: error firewall-decisions\/shape: decision\[0\]\.url is not a string/);
    expect(located('{\n  "decision": [\n    "https://a.example"\n  ]\n}')[0]).toMatch(/^f\.json:3:5: .*decision\[0\] is not an object/);
    expect(located('{\n  "decision": [,]\n}')[0]).toMatch(/^f\.json:2:\d+: error firewall-decisions\/json: not JSON/);
  });
});
