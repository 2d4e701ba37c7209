/**
 * The tamper check's rule for GitHub's egress firewall (src/coverage/tamper.ts,
 * `githubFirewallTamperRule`) on the firewall fixtures' store (test/rollout/fixtures/github-firewall):
 * the head's `.github/egress-firewall.yaml` is judged against the file the store wants, so
 * egressctl's own sync pull request passes when the store widened, and a person's widening fails
 * with old -> new per field. The managed files here are written by the real sync planner.
 */
import { describe, expect, it } from 'vitest';
import { coverageStoreOf } from '../../src/coverage/coverage.js';
import { tamperFindings, tamperReport, watchedPaths, type ChangedFile } from '../../src/coverage/tamper.js';
import { formatDiagnostic } from '../../src/policy/diagnostics.js';
import { planRepository, type RolloutConfig } from '../../src/rollout/rollout-plan.js';
import { storeStateOf } from '../../src/rollout/sync-plan.js';
import { FIREWALL_FILE, MANAGED_MARKER, planFirewallTarget, readFirewallFile } from '../../src/rollout/github-firewall/index.js';
import { parsePolicyRepository, type PolicyRepository } from '../../src/store/repository.js';
import { firewallStoreFiles, firewallWorkflows } from '../support/github-firewall.js';

/** The deploy job's bucket, seen by the firewall: sync turns release-block's `*.s3.amazonaws.com` into it. */
const WEB_BASELINE = `repository: acme/web
workflows:
  .github/workflows/deploy.yml:
    deploy:
      runs: 4
      endpoints:
        acme-releases.s3.amazonaws.com:443: { runs: 4, firstSeen: "2026-10-01T10:00:00Z", lastSeen: "2026-11-20T10:00:00Z" }
        fulcio.sigstore.dev:443: { runs: 4, firstSeen: "2026-10-01T10:00:00Z", lastSeen: "2026-11-20T10:00:00Z" }
`;

/** A person's file (no marker) in acme/legacy, already wider than the store: log mode and pastebin.com. */
const PERSONS_LOG_FILE = '# ours, hand-written\nmode: log\nallow:\n  - api.github.com\n  - pastebin.com\n';

interface StoreEdit {
  settings?: string;
  files?: Record<string, string | null>;
}

function loadStore(edit: StoreEdit = {}): PolicyRepository {
  const files: Record<string, string | null> = { ...firewallStoreFiles(), 'baselines/acme/web.yml': WEB_BASELINE, ...edit.files };
  files['attachments.yml'] = files['attachments.yml']!.replace('  acme/web: ci-block\n', '  acme/web: ci-block\n  acme/legacy: ci-block\n');
  if (edit.settings !== undefined) files['egressctl.yml'] = `${files['egressctl.yml']!}${edit.settings}`;
  const bytes = new Map(Object.entries(files).flatMap(([name, text]) => (text === null ? [] : [[name, Buffer.from(text)] as const])));
  const result = parsePolicyRepository(bytes);
  expect(result.errors.map(formatDiagnostic)).toEqual([]);
  return result.value;
}

/** The file egressctl's sync writes for a repository with the fixture workflows of acme/web (the real planner). */
async function syncedFile(repository: PolicyRepository, existing?: string): Promise<string> {
  const store = storeStateOf(repository, Date.now());
  const config: RolloutConfig = { mode: 'inline', pin: repository.settings.hardenRunner, baselines: repository.baselines, store };
  const plan = await planRepository('acme/web', firewallWorkflows('web'), config);
  const seen = repository.baselines.jobs.filter((job) => job.repository === 'acme/web').flatMap((job) => job.endpoints);
  const { files } = await planFirewallTarget({ store, repository: 'acme/web', plan, seen, revision: 'a1b2c3d4e5f6a7b8', ...(existing !== undefined ? { existing } : {}) });
  const file = files.find((entry) => entry.path === FIREWALL_FILE);
  if (!file) throw new Error('sync wrote no firewall file');
  return file.after;
}

function check(repository: PolicyRepository, before: string | undefined, after: string | undefined, options: { path?: string; previousPath?: string; in?: string } = {}) {
  const file: ChangedFile = { path: options.path ?? FIREWALL_FILE, before, after, ...(options.previousPath ? { previousPath: options.previousPath } : {}) };
  return tamperFindings([file], options.in ?? 'acme/web', coverageStoreOf(repository, Date.now()));
}

/** ci-block allows one more host: the store widens. */
const WIDENED_POLICY = (): Record<string, string> => ({ 'policies/ci-block.yml': firewallStoreFiles()['policies/ci-block.yml']!.replace('  - pypi.org:443\n', '  - pypi.org:443\n  - ghcr.io:443\n') });

describe("egressctl's own sync pull request passes", () => {
  it('after the store widened (judged base to head alone, it would fail)', async () => {
    const before = loadStore();
    const merged = await syncedFile(before);
    const widened = loadStore({ files: WIDENED_POLICY() });
    const proposed = await syncedFile(widened, merged);
    expect(proposed).toContain('  - ghcr.io\n');
    expect(check(widened, merged, proposed)).toEqual([]);
    // The same change judged against the store before the widening: a host it does not allow.
    expect(check(before, merged, proposed)).toEqual([expect.objectContaining({ input: 'allow', why: 'allows hosts the store does not: ghcr.io' })]);
  });

  it("with the store's wildcard turned into the host the baselines saw, and its first file", async () => {
    const store = loadStore();
    const first = await syncedFile(store);
    expect(first).toContain('  - acme-releases.s3.amazonaws.com\n');
    expect(readFirewallFile(first)).toMatchObject({ managed: true, mode: 'enforce' });
    expect(check(store, undefined, first)).toEqual([]);
  });

  it('after the store narrowed, and with no-default-urls', async () => {
    const store = loadStore({ settings: '  no-default-urls: true\n' });
    const merged = await syncedFile(loadStore());
    const proposed = await syncedFile(store, merged);
    expect(proposed).toContain('no-default-urls: true');
    expect(check(store, merged, proposed)).toEqual([]);
  });
});

describe('a pull request that widens the file fails, old -> new per field', () => {
  it('enforce -> log, defaults back on, a host the store does not allow, the marker removed', async () => {
    const store = loadStore({ settings: '  no-default-urls: true\n' });
    const merged = await syncedFile(store);
    const widened = merged
      .replace(`${MANAGED_MARKER}: written by egressctl sync from the policy store; change the store, not this file.\n`, '')
      .replace('mode: enforce', 'mode: log')
      .replace('no-default-urls: true\n', '')
      .replace('  - pypi.org\n', '  - pypi.org\n  - pastebin.com\n');
    const lines = widened.split('\n');
    const findings = check(store, merged, widened);
    expect(findings.map(({ input, from, to, line }) => ({ input, from, to, line }))).toEqual([
      { input: 'marker', from: MANAGED_MARKER, to: null, line: 1 },
      { input: 'mode', from: 'enforce', to: 'log', line: lines.indexOf('mode: log') + 1 },
      { input: 'no-default-urls', from: 'true', to: 'false', line: lines.indexOf('mode: log') + 1 },
      { input: 'allow', from: readFirewallFile(merged).allow!.join(' '), to: readFirewallFile(widened).allow!.join(' '), line: lines.indexOf('  - pastebin.com') + 1 },
    ]);
    expect(findings.every((finding) => finding.file === FIREWALL_FILE && finding.job === '*' && finding.policy === 'ci-block, release-block')).toBe(true);
    expect(findings.find((finding) => finding.input === 'allow')!.why).toBe('allows hosts the store does not: pastebin.com');
  });

  it('no-default-urls dropped where the policies (not egressctl.yml) set it', async () => {
    const fixtures = firewallStoreFiles();
    const withKey = (name: string) => ({ [`policies/${name}.yml`]: `${fixtures[`policies/${name}.yml`]!}no-default-urls: true\n` });
    const store = loadStore({ files: { ...withKey('ci-block'), ...withKey('release-block') } });
    expect(store.settings.githubFirewall.noDefaultUrls).toBe(false);
    const merged = await syncedFile(store);
    expect(merged).toContain('\nno-default-urls: true\n');
    expect(check(store, undefined, merged)).toEqual([]);
    const dropped = merged.replace('no-default-urls: true\n', '');
    expect(check(store, merged, dropped).map(({ input, from, to }) => ({ input, from, to }))).toEqual([{ input: 'no-default-urls', from: 'true', to: 'false' }]);
    // Only one of acme/web's policies sets it: the store's file allows GitHub's defaults, so dropping it widens nothing.
    const one = loadStore({ files: withKey('release-block') });
    expect(check(one, merged, dropped)).toEqual([]);
  });

  it('deleting the managed file, renaming it away, or breaking it', async () => {
    const store = loadStore();
    const merged = await syncedFile(store);
    expect(check(store, merged, undefined)).toEqual([expect.objectContaining({ input: 'file', to: null, why: expect.stringContaining('deleted while the store has github-firewall enabled') })]);
    expect(check(store, merged, merged, { path: '.github/egress-firewall.yaml.off', previousPath: FIREWALL_FILE })).toEqual([expect.objectContaining({ input: 'file', to: null })]);
    expect(check(store, merged, merged.replace('mode: enforce', 'mode: block'))).toEqual([expect.objectContaining({ input: 'file', why: expect.stringContaining('mode must be log or enforce') })]);
  });

  it('a new hand-written file wider than the store (sync would have to leave it alone)', () => {
    const findings = check(loadStore(), undefined, 'mode: enforce\nallow:\n  - github.com\n  - pastebin.com\n');
    expect(findings.map(({ input, from, to }) => [input, from, to])).toEqual([['allow', null, 'github.com pastebin.com']]);
  });
});

describe('what passes', () => {
  it('a narrowing: fewer hosts, or no-default-urls turned on', async () => {
    const store = loadStore();
    const merged = await syncedFile(store);
    expect(check(store, merged, merged.replace('  - pypi.org\n', ''))).toEqual([]);
    expect(check(store, merged, merged.replace('mode: enforce\n', 'mode: enforce\nno-default-urls: true\n'))).toEqual([]);
    // A host GitHub allows by default adds nothing.
    expect(check(store, merged, merged.replace('  - pypi.org\n', '  - pypi.org\n  - codeload.github.com\n'))).toEqual([]);
  });

  it("a person's file that was already wider in the base is drift, not this change's doing", () => {
    const store = loadStore();
    // Log mode blocks nothing: any readable edit of it allows no more than it did.
    expect(check(store, PERSONS_LOG_FILE, `${PERSONS_LOG_FILE}  - gist.github.com\n`, { in: 'acme/legacy' })).toEqual([]);
    expect(check(store, PERSONS_LOG_FILE, PERSONS_LOG_FILE.replace('mode: log', 'mode: enforce'), { in: 'acme/legacy' })).toEqual([]);
    // In enforce mode the host it already allowed stays its own; a new one is this change's.
    const enforcing = PERSONS_LOG_FILE.replace('mode: log', 'mode: enforce');
    expect(check(store, enforcing, enforcing.replace('# ours', '# still ours'), { in: 'acme/legacy' })).toEqual([]);
    expect(check(store, enforcing, `${enforcing}  - evil.example\n`, { in: 'acme/legacy' })).toEqual([expect.objectContaining({ input: 'allow', why: 'allows hosts the store does not: evil.example' })]);
    expect(check(store, enforcing, enforcing.replace('mode: enforce', 'mode: log'), { in: 'acme/legacy' })).toEqual([expect.objectContaining({ input: 'mode', from: 'enforce', to: 'log' })]);
    // Handing it to egressctl with the marker, or deleting a log-mode file, passes; deleting an enforcing one does not.
    expect(check(store, PERSONS_LOG_FILE, `${MANAGED_MARKER}\n${PERSONS_LOG_FILE}`, { in: 'acme/legacy' })).toEqual([]);
    expect(check(store, PERSONS_LOG_FILE, undefined, { in: 'acme/legacy' })).toEqual([]);
    expect(check(store, enforcing, undefined, { in: 'acme/legacy' })).toEqual([expect.objectContaining({ input: 'file', why: expect.stringContaining('add the line') })]);
  });

  it('a store in audit (log) is widened by no readable file; its marker still counts', () => {
    // acme/api unites ci-block with nightly-audit: one file for every workflow, so log.
    const store = loadStore();
    const ours = `${MANAGED_MARKER}\nmode: log\nallow:\n  - api.github.com\n`;
    expect(check(store, ours, `${ours}  - pastebin.com\n`, { in: 'acme/api' })).toEqual([]);
    expect(check(store, ours, ours.replace(`${MANAGED_MARKER}\n`, ''), { in: 'acme/api' })).toEqual([expect.objectContaining({ input: 'marker' })]);
  });

  it('with github-firewall off, or no policy for the repository, nothing is judged', async () => {
    const merged = await syncedFile(loadStore());
    const off = loadStore({ files: { 'egressctl.yml': 'organizations: [acme]\nunattached: skip\n' } });
    expect(check(off, merged, merged.replace('mode: enforce', 'mode: log'))).toEqual([]);
    expect(check(loadStore(), merged, undefined, { in: 'acme/docs' })).toEqual([]);
  });
});

describe('the check run', () => {
  it('watches the firewall file; a failing row links each policy the file unites', async () => {
    expect(watchedPaths(['README.md', FIREWALL_FILE, '.github/workflows/ci.yml'])).toEqual([FIREWALL_FILE, '.github/workflows/ci.yml']);
    const store = loadStore();
    const merged = await syncedFile(store);
    const findings = check(store, merged, merged.replace('mode: enforce', 'mode: log'));
    const report = tamperReport(findings, [FIREWALL_FILE], (name) => `https://github.example/acme/policies/blob/HEAD/policies/${name}.yml`);
    expect(report.conclusion).toBe('failure');
    expect(report.summary).toContain(
      '| `.github/egress-firewall.yaml` | `*` | `mode` | `enforce` -> `log` | log blocks nothing: the store says enforce (block) | [ci-block](https://github.example/acme/policies/blob/HEAD/policies/ci-block.yml), [release-block](https://github.example/acme/policies/blob/HEAD/policies/release-block.yml) |',
    );
    expect(report.annotations).toEqual([{ path: FIREWALL_FILE, line: merged.split('\n').indexOf('mode: enforce') + 1, message: 'mode: enforce -> log: log blocks nothing: the store says enforce (block)' }]);
  });
});
