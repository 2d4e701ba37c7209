import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/bundle/canonical.js';
import { parseEnvelope, serializeEnvelope } from '../../src/bundle/dsse.js';
import { runCli } from '../support/cli.js';
import { makeTempRepo, SAMPLE_FILES, type TempRepo } from '../support/policy-repo.js';

let repo: TempRepo | undefined;
afterEach(() => repo?.cleanup());

/** keygen -> compile -> the paths and keyid, all through the CLI. */
async function compiledRepository(): Promise<{ bundlePath: string; publicPath: string; keyid: string; sha: string }> {
  repo = makeTempRepo(SAMPLE_FILES, { git: true });
  const sha = repo.commit('policies');
  const keygen = await runCli(['keygen', '--out', 'ci'], { cwd: repo.dir });
  expect(keygen.code).toBe(0);
  const compile = await runCli(['compile', '--sign-key', 'ci.key', '-o', 'bundle.dsse.json'], { cwd: repo.dir });
  expect(compile.code).toBe(0);
  return {
    bundlePath: path.join(repo.dir, 'bundle.dsse.json'),
    publicPath: path.join(repo.dir, 'ci.pub'),
    keyid: keygen.stdout.trim(),
    sha,
  };
}

describe('egressctl verify', () => {
  it('round trip: keygen, compile, verify prints revision, digest and keyid', async () => {
    const { bundlePath, publicPath, keyid, sha } = await compiledRepository();
    const run = await runCli(['verify', bundlePath, '--public-key', publicPath]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`revision:    ${sha}`);
    expect(run.stdout).toMatch(/^digest: {6}sha256:[0-9a-f]{64}$/m);
    expect(run.stdout).toContain(`signed by:   ${keyid}`);
    expect(run.stdout).toContain('attachments: 1 workflows, 1 repositories, 1 organizations, 1 clusters');

    const json = await runCli(['verify', bundlePath, '--public-key', publicPath, '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({
      ok: true,
      file: bundlePath,
      revision: sha,
      committedAt: expect.stringMatching(/Z$/),
      digest: expect.stringMatching(/^sha256:/),
      keyids: [keyid],
      policies: 3,
      attachments: { workflows: 1, repositories: 1, organizations: 1, clusters: 1 },
    });
  });

  it('exit 1 with a clear message for a tampered payload, a wrong key or no signature', async () => {
    const { bundlePath, publicPath, keyid } = await compiledRepository();
    const original = readFileSync(bundlePath, 'utf8');
    const envelope = parseEnvelope(original);

    const payload = JSON.parse(Buffer.from(envelope.payload, 'base64').toString()) as { policies: Record<string, { 'egress-policy': string }> };
    (payload.policies.base as { 'egress-policy': string })['egress-policy'] = 'audit';
    writeFileSync(bundlePath, serializeEnvelope({ ...envelope, payload: Buffer.from(canonicalJson(payload)).toString('base64') }));
    const tampered = await runCli(['verify', bundlePath, '--public-key', publicPath]);
    expect(tampered.code).toBe(1);
    expect(tampered.stderr).toContain(`verification failed: the signature by trusted key ${keyid} does not verify`);

    writeFileSync(bundlePath, serializeEnvelope({ ...envelope, signatures: [] }));
    const unsigned = await runCli(['verify', bundlePath, '--public-key', publicPath, '--json']);
    expect(unsigned.code).toBe(1);
    expect(JSON.parse(unsigned.stdout)).toEqual({ ok: false, file: bundlePath, error: expect.stringContaining('the bundle is not signed') });

    writeFileSync(bundlePath, original);
    expect((await runCli(['keygen', '--out', 'other'], { cwd: repo!.dir })).code).toBe(0);
    const wrongKey = await runCli(['verify', 'bundle.dsse.json', '--public-key', 'other.pub'], { cwd: repo!.dir });
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toContain(`no signature by a trusted key (trusted: sha256:`);
    expect(wrongKey.stderr).toContain(`found: ${keyid})`);

    // Trusting both the old and a new key (rotation) verifies.
    const both = await runCli(['verify', 'bundle.dsse.json', '--public-key', 'other.pub', '--public-key', 'ci.pub'], { cwd: repo!.dir });
    expect(both.code).toBe(0);
  });

  it('usage errors: no file, no key, unreadable file', async () => {
    const noFile = await runCli(['verify', '--public-key', 'x.pub']);
    expect(noFile.code).toBe(2);
    expect(noFile.stderr).toContain('name the bundle file to verify');
    const noKey = await runCli(['verify', 'bundle.json']);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain('--public-key FILE');
    const { publicPath } = await compiledRepository();
    const missing = await runCli(['verify', 'missing.json', '--public-key', publicPath], { cwd: repo!.dir });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('cannot read missing.json: ENOENT');
  });
});
