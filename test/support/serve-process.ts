/** A spawned `egressctl serve`, followed until it prints the address it listens on. */
import type { ChildProcess } from 'node:child_process';

export interface FollowedServe {
  /** The URL of its "listening on" line; rejects when it exits first or stays silent too long. */
  url: Promise<string>;
  /** Its exit code. */
  exited: Promise<number | null>;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  /** Everything it wrote to stdout so far (the App's JSON log lines), the last 1 MiB. */
  stdout(): string;
}

export function followServe(child: ChildProcess, timeoutMs = 30_000): FollowedServe {
  let stderr = '';
  let stdout = '';
  // Read (never left to fill the pipe), the tail kept for tests that look for a log line.
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout = (stdout + chunk.toString('utf8')).slice(-1024 * 1024);
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no startup line: ${stderr}`)), timeoutMs);
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      const match = /listening on (http:\/\/\S+)/.exec(stderr);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    // Settling after the URL is a no-op: this only reports an exit before listening.
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`exited before listening: ${stderr}`));
    });
  });
  return { url, exited, stderr: () => stderr, stdout: () => stdout };
}
