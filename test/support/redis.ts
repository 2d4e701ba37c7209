/** `startRedis()`: Debian's redis-server on a free loopback port, for the App's Redis queue tests (skipped, with one line, when the binary is missing). */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { freePort } from './server.js';

export const REDIS_SERVER = process.env.EGRESSCTL_REDIS_SERVER ?? '/usr/bin/redis-server';

/** Why Redis tests cannot run here, or undefined when they can. */
export function redisMissing(): string | undefined {
  return existsSync(REDIS_SERVER) ? undefined : `${REDIS_SERVER} is not installed (Debian package redis-server): Redis queue tests skipped`;
}

export interface RunningRedis {
  url: string;
  close(): Promise<void>;
}

/** A throwaway redis-server (no persistence, loopback only), up when this resolves; on `port` when given. */
export async function startRedis(options: { port?: number } = {}): Promise<RunningRedis> {
  // A given port: the same server again after close() (Redis away for a while, then back).
  const port = options.port ?? (await freePort());
  const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => {
        socket.end();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`redis-server did not start: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        // Killed by a signal, exitCode stays null: a second close() must not wait for an exit that came already.
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}
