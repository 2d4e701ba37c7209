/**
 * Loopback HTTP servers that misbehave the way a hostile or broken server does: a body that never
 * ends (as fast as the client reads), a body that trickles a byte at a time, a Content-Length far
 * over any cap. For the bounded HTTP clients (src/util/bounded-fetch.ts) and their callers.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type HostileMode = 'forever' | 'trickle' | 'huge-length';

export interface HostileServer {
  url: string;
  /** Bytes written to all clients so far. */
  sent(): number;
  /**
   * Resolves once every answer begun has ended or lost its connection (the client hung up), so
   * `sent()` is final; rejects past `timeoutMs` naming how many are still open.
   */
  settled(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const CHUNK = Buffer.alloc(64 * 1024, 'a');

export interface HostileOptions {
  status?: number;
  contentType?: string;
  trickleMs?: number;
  /**
   * End the body after this many bytes (forever mode): what a client without a cap would read in
   * full, so a test can show it did without exhausting the machine.
   */
  stopAfterBytes?: number;
}

export async function startHostileServer(mode: HostileMode, options: HostileOptions = {}): Promise<HostileServer> {
  let sent = 0;
  const open = new Set<ServerResponse>();
  const server: Server = createServer((_req, res) => {
    open.add(res);
    res.on('close', () => open.delete(res));
    const headers: Record<string, string> = { 'content-type': options.contentType ?? 'application/json' };
    if (mode === 'huge-length') headers['content-length'] = String(10 * 1024 * 1024 * 1024);
    res.writeHead(options.status ?? 200, headers);
    if (mode === 'trickle') {
      res.write('{');
      const timer = setInterval(() => {
        res.write(' ');
        sent += 1;
      }, options.trickleMs ?? 50);
      res.on('close', () => clearInterval(timer));
      return;
    }
    // forever and huge-length: as fast as the client takes it, until it hangs up.
    const stopAt = options.stopAfterBytes ?? Infinity;
    const pump = (): void => {
      while (!res.destroyed && sent < stopAt && res.write(CHUNK)) sent += CHUNK.length;
      if (sent >= stopAt) {
        res.end();
        return;
      }
      if (!res.destroyed) {
        sent += CHUNK.length;
        res.once('drain', pump);
      }
    };
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    sent: () => sent,
    async settled(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (open.size > 0) {
        if (Date.now() > deadline) throw new Error(`hostile server (${mode}) still has ${open.size} answer(s) open after ${timeoutMs / 1000} s: the client did not hang up`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    close: () =>
      new Promise((resolve, reject) => {
        // Bounded, naming what hung: an unbounded close once left a CI run to its 60 s test timeout with no clue.
        const timer = setTimeout(() => reject(new Error(`hostile server (${mode}) did not close within 10 s (${open.size} answer(s) open)`)), 10_000);
        for (const res of open) res.destroy();
        server.closeAllConnections();
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
