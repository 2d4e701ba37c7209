import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadPolicyRepository } from '../../src/store/repository.js';
import { flattenPolicies } from '../../src/policy/flatten.js';
import { attachmentMap } from '../../src/policy/model.js';
import { effectivePolicy } from '../../src/policy/resolve.js';
import { hashApiKey, startServer } from '../../src/server/index.js';
import { runCli } from '../support/cli.js';
import { captureLogger, freePort, getJson } from '../support/server.js';
import { followServe } from '../support/serve-process.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const KEY = 'demo-key-0123456789abcdefghijklmnopqrstuv';

describe('serving this repository (what npm start does)', () => {
  it("serves the repository's own example policies from HEAD", async () => {
    const server = await startServer({
      source: repoRoot,
      port: 0,
      logger: captureLogger().logger,
      defaultMetrics: false,
      apiKeys: [{ name: 'demo', sha256: hashApiKey(KEY), cluster: 'arc-prod', organizations: ['acme'] }],
    });
    try {
      const head = spawnSync('git', ['-C', repoRoot, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
      const loaded = await loadPolicyRepository({ dir: repoRoot, rev: head });
      expect(loaded.errors).toEqual([]);
      const query = { repository: 'acme/api', workflow: '.github/workflows/release.yml', cluster: 'arc-prod' };
      const expected = effectivePolicy(attachmentMap(loaded.value.attachments), flattenPolicies(loaded.value), query);
      const { status, body } = await getJson(`${server.url}/v1/policy?repository=acme/api&workflow=.github/workflows/release.yml`, {
        headers: { authorization: `ApiKey ${KEY}` },
      });
      expect(status).toBe(200);
      expect(body.revision).toBe(head);
      expect(body).toMatchObject({ policy: expected.policy, scope: expected.scope, config: expected.config });
    } finally {
      await server.close();
    }
  });
});

/** Spawn the CLI, wait for its startup line, then SIGTERM it. */
async function startAndStop(command: string, args: string[]): Promise<{ code: number | null; stderr: string; readyz: number }> {
  const child = spawn(command, args, {
    cwd: repoRoot,
    env: { ...process.env, EGRESSCTL_PORT: '0', EGRESSCTL_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const serving = followServe(child, 20_000);
  try {
    const url = await serving.url;
    const readyz = (await fetch(`${url}/readyz`)).status;
    child.kill('SIGTERM');
    // A server that ignores SIGTERM is reported as such, not waited for until the test times out.
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      serving.exited,
      new Promise<never>((_resolve, reject) => (timer = setTimeout(() => reject(new Error(`${command} ${args.join(' ')} did not exit within 15 s of SIGTERM: ${serving.stderr()}`)), 15_000))),
    ]).finally(() => clearTimeout(timer));
    return { code, stderr: serving.stderr(), readyz };
  } finally {
    // Never left running behind a failed start or stop.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

describe('egressctl serve as a process', () => {
  it('starts with no settings (EGRESSCTL_PORT=0), prints where to look, and stops cleanly on SIGTERM', async () => {
    const { code, stderr, readyz } = await startAndStop(process.execPath, [
      '--import',
      'tsx',
      '-e',
      "import('./src/cli/main.ts').then((m) => m.main(['serve'])).then((code) => { process.exitCode = code; })",
    ]);
    expect(readyz).toBe(200);
    expect(stderr).toMatch(/source: {3}git work tree/);
    expect(stderr).toMatch(/try: {6}curl -s http:\/\/127\.0\.0\.1:\d+\/readyz/);
    // npm start stays public on loopback, and says so; and says the App is off.
    expect(stderr).toMatch(/read: {5}public \(anyone who reaches this loopback address/);
    expect(stderr).toContain('GitHub App not enabled');
    expect(stderr).toContain('egressctl serve: stopped');
    expect(code).toBe(0);
  });

  it.runIf(existsSync(path.join(repoRoot, 'dist/cli/main.js')))('runs from the built bin (npm start)', async () => {
    const { code, readyz } = await startAndStop(process.execPath, ['bin/egressctl.js', 'serve']);
    expect(readyz).toBe(200);
    expect(code).toBe(0);
  });

  it.runIf(existsSync(path.join(repoRoot, 'dist/cli/main.js')))('stops when SIGTERM is sent to the npm process of `npm start`, freeing its port', async () => {
    // npm (10 and 11) forwards SIGTERM only to its direct child, the script's shell: unless the
    // shell execs node, the server is orphaned and keeps the port.
    const port = await freePort();
    const npm = spawn('npm', ['start', '--silent'], {
      cwd: repoRoot,
      env: { ...process.env, EGRESSCTL_PORT: String(port), EGRESSCTL_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so that a server this test fails to stop is still ended below.
      detached: true,
    });
    try {
      const serving = followServe(npm, 20_000);
      expect(await serving.url).toBe(`http://127.0.0.1:${port}`);
      // Signalled the moment the banner appears, as a script would: the server listens for
      // signals before it prints where to look, so this too is a clean stop.
      const closed = new Promise<boolean>((resolve) => {
        // 'close': every holder of npm's stdio pipes (the server shares them) has closed them;
        // a server left running keeps them open, so this waits a bounded time.
        const timer = setTimeout(() => resolve(false), 15_000);
        npm.on('close', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      npm.kill('SIGTERM');
      await serving.exited;
      expect(await closed, `npm's output pipes still open: the server outlived npm\n${serving.stderr()}`).toBe(true);
      expect(serving.stderr()).toContain('egressctl serve: stopped');
      expect(await portIsFree(port)).toBe(true);
    } finally {
      try {
        process.kill(-(npm.pid ?? 0), 'SIGKILL');
      } catch {
        // The group is gone already: every process in it stopped.
      }
    }
  });

  it('hashes an API key read from stdin', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', '-e', "import('./src/cli/main.ts').then((m) => m.main(['serve', '--hash-api-key'])).then((code) => { process.exitCode = code; })"], {
      cwd: repoRoot,
      input: `${KEY}\n`,
      encoding: 'utf8',
    });
    expect(result.status).toBe(0);
    expect(result.stdout.trim()).toBe(hashApiKey(KEY));
    expect(result.stderr).toContain(`sha256: ${hashApiKey(KEY)}`);
    const weak = spawnSync(process.execPath, ['--import', 'tsx', '-e', "import('./src/cli/main.ts').then((m) => m.main(['serve', '--hash-api-key'])).then((code) => { process.exitCode = code; })"], {
      cwd: repoRoot,
      input: 'short\n',
      encoding: 'utf8',
    });
    expect(weak.status).toBe(1);
    expect(weak.stderr).toMatch(/at least 24/);
  });

  it('rejects bad settings with a usage error', async () => {
    expect(await runCli(['serve', '--port', 'eighty'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--port must be 0\.\.65535/) });
    expect(await runCli(['serve'], { env: { EGRESSCTL_PORT: '99999' } })).toMatchObject({ code: 2 });
    expect(await runCli(['serve', '--oidc-max-age', 'an hour'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--oidc-max-age must be/) });
    expect(await runCli(['serve'], { env: { EGRESSCTL_OIDC_MAX_AGE: '0' } })).toMatchObject({ code: 2, stderr: expect.stringMatching(/--oidc-max-age must be/) });
    expect(await runCli(['serve', '--source', '/nonexistent/place', '--port', '0'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/no such file or directory/),
    });
  });
});

/** Whether a loopback port can be listened on now (nothing, orphaned or not, still holds it). */
async function portIsFree(port: number): Promise<boolean> {
  const probe = createServer();
  return new Promise((resolve) => {
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}
