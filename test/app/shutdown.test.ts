/**
 * SIGTERM while a webhook's GitHub call hangs (GitHub unreachable: a loopback socket that accepts
 * and never answers): `egressctl serve` aborts the call and exits within its grace period.
 */
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { deliverWebhook, webhookExample } from '../support/github/index.js';
import { repoRoot } from '../support/app.js';
import { followServe } from '../support/serve-process.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('egressctl serve shutdown', () => {
  it('exits within the grace period with a GitHub call in flight', async () => {
    const sockets = new Set<Socket>();
    const blackHole = createServer((socket) => {
      sockets.add(socket);
      socket.on('data', () => undefined);
    });
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const socket of sockets) socket.destroy();
          blackHole.close(() => resolve());
        }),
    );
    const githubPort = (blackHole.address() as AddressInfo).port;
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const secret = 'shutdown-test-secret';
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', "import('./src/cli/main.ts').then((m) => m.main(['serve'])).then((code) => { process.exitCode = code; })"], {
      cwd: repoRoot,
      env: {
        ...process.env,
        EGRESSCTL_PORT: '0',
        EGRESSCTL_LOG_LEVEL: 'silent',
        EGRESSCTL_SHUTDOWN_GRACE: '3',
        APP_ID: '4242',
        PRIVATE_KEY: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
        WEBHOOK_SECRET: secret,
        GHE_HOST: `127.0.0.1:${githubPort}`,
        GHE_PROTOCOL: 'http',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanups.push(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    const serving = followServe(child);
    const exited = serving.exited;
    const url = await serving.url;
    expect(serving.stderr()).toContain('GitHub App enabled (APP_ID 4242)');

    const payload = {
      ...webhookExample('push'),
      ref: 'refs/heads/main',
      deleted: false,
      after: 'a'.repeat(40),
      installation: { id: 1 },
    } as Record<string, unknown>;
    (payload.repository as Record<string, unknown>).default_branch = 'main';
    // The payload names the GitHub it comes from (here the black hole, as GHE_HOST says).
    (payload.repository as Record<string, unknown>).url = `http://127.0.0.1:${githubPort}/api/v3/repos/octocat/Hello-World`;
    // In flight: the app asks GitHub (the black hole) whether this is the policy repository.
    const delivery = deliverWebhook({ url: `${url}/api/github/webhooks`, event: 'push', payload, secret }).catch(() => undefined);
    const deadline = Date.now() + 10_000;
    while (sockets.size === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(sockets.size, 'the app never called GitHub').toBeGreaterThan(0);

    const started = Date.now();
    child.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 20_000))]);
    const elapsed = Date.now() - started;
    expect(code).toBe(0);
    // The 3 s grace, not the 10 s default nor the black hole's forever (20 s here); the rest is room
    // for a loaded machine.
    expect(elapsed).toBeLessThan(9_500);
    await delivery;
  }, 60_000);
});
