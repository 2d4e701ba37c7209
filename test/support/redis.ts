/** `startRedis()`: Debian's redis-server on a free loopback port, for the App's Redis queue tests (skipped, with one line, when the binary is missing). */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { freePort } from './server.js';

export const REDIS_SERVER = process.env.EGRESSCTL_REDIS_SERVER ?? '/usr/bin/redis-server';

/** How long redis-server may take to say it is ready, and to exit once killed (a loaded machine). */
const START_TIMEOUT_MS = 30_000;
const EXIT_TIMEOUT_MS = 10_000;

/** Why Redis tests cannot run here, or undefined when they can. */
export function redisMissing(): string | undefined {
  return existsSync(REDIS_SERVER) ? undefined : `${REDIS_SERVER} is not installed (Debian package redis-server): Redis queue tests skipped`;
}

export interface RunningRedis {
  url: string;
  close(): Promise<void>;
}

/** SIGKILL, then its exit, at most EXIT_TIMEOUT_MS (an error naming the process past that). */
function killAndWait(child: ChildProcess, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    // Killed by a signal, exitCode stays null: a second close() must not wait for an exit that came already.
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => reject(new Error(`redis-server (pid ${child.pid}, port ${port}) did not exit within ${EXIT_TIMEOUT_MS / 1000} s of SIGKILL`)), EXIT_TIMEOUT_MS);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGKILL');
  });
}

/**
 * Up once the server itself logs that it accepts connections. Not "something answers on the port":
 * a port taken meanwhile by another process (freePort only probes) would pass that check while
 * this redis-server failed to bind and exited.
 */
function ready(child: ChildProcess, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let output = '';
    const fail = (why: string): void => {
      clearTimeout(timer);
      reject(new Error(`redis-server on port ${port} ${why}: ${output.trim() || '(no output)'}`));
    };
    const timer = setTimeout(() => fail(`did not report ready within ${START_TIMEOUT_MS / 1000} s`), START_TIMEOUT_MS);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (/Ready to accept connections/i.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.once('error', (error) => fail(`could not be started (${error.message})`));
    child.once('exit', (code, signal) => fail(`exited before it was ready (${signal ?? `code ${code}`})`));
  });
}

/** A throwaway redis-server (no persistence, loopback only), up when this resolves; on `port` when given. */
export async function startRedis(options: { port?: number } = {}): Promise<RunningRedis> {
  // A free port can be taken by another process before redis-server binds it: try another one
  // (only when the caller did not ask for this port).
  for (let attempt = 1; ; attempt++) {
    // A given port: the same server again after close() (Redis away for a while, then back).
    const port = options.port ?? (await freePort());
    const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      await ready(child, port);
    } catch (error) {
      // Never left running behind a failed start.
      await killAndWait(child, port).catch(() => undefined);
      if (options.port === undefined && attempt < 3 && /exited before it was ready/.test(String(error))) continue;
      throw error;
    }
    // Its output is no longer read: keep the pipes flowing so it never blocks on a full one.
    child.stdout?.resume();
    child.stderr?.resume();
    return {
      url: `redis://127.0.0.1:${port}`,
      close: () => killAndWait(child, port),
    };
  }
}
