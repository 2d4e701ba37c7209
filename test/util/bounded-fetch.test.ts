/** The bounded HTTP client against loopback servers that stream forever, trickle, or announce 10 GB. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { boundedFetch, fetchBoundedText, FetchLimitError } from '../../src/util/bounded-fetch.js';
import { startHostileServer, type HostileServer } from '../support/hostile-server.js';

let server: HostileServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function failure(promise: Promise<unknown>): Promise<FetchLimitError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(FetchLimitError);
  return error as FetchLimitError;
}

describe('fetchBoundedText', () => {
  it('stops a body that never ends at the byte cap, quickly, with a message naming the cap', async () => {
    server = await startHostileServer('forever');
    const started = performance.now();
    const error = await failure(fetchBoundedText(`${server.url}/v1/bundle?token=secret`, {}, { maxBytes: 1024 * 1024, timeoutMs: 10_000 }));
    expect(error.limit).toBe('too-large');
    expect(error.message).toBe(`${server.url}/v1/bundle sent more than 1 MiB: answers are limited to 1 MiB`);
    expect(performance.now() - started).toBeLessThan(10_000);
    // The client stopped reading and hung up: the server could not push much more than the cap
    // (socket buffers aside). Counted once the connection is gone, so the count is final.
    await server.settled();
    expect(server.sent()).toBeLessThan(32 * 1024 * 1024);
  });

  it('ends a trickling body at the deadline, although bytes keep coming', async () => {
    server = await startHostileServer('trickle', { trickleMs: 20 });
    const started = performance.now();
    const error = await failure(fetchBoundedText(server.url, {}, { maxBytes: 1024 * 1024, timeoutMs: 500 }));
    expect(error.limit).toBe('timeout');
    expect(error.message).toMatch(/did not answer completely within 0\.5 s \(body included\)/);
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(5_000);
  });

  it('refuses an announced Content-Length over the cap before reading the body', async () => {
    server = await startHostileServer('huge-length');
    const error = await failure(fetchBoundedText(server.url, {}, { maxBytes: 1024, timeoutMs: 5_000 }));
    expect(error.limit).toBe('too-large');
    expect(error.message).toMatch(/sent more than 1 KiB/);
  });

  it('reads a normal answer, and passes a 304 through without a body', async () => {
    const plain = createServer((req, res) => {
      if (req.headers['if-none-match'] === '"x"') {
        res.writeHead(304, { etag: '"x"' });
        res.end();
        return;
      }
      res.writeHead(200, { etag: '"x"', 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(plain.address() as AddressInfo).port}/`;
    try {
      const bounds = { maxBytes: 64, timeoutMs: 2_000 };
      expect(await fetchBoundedText(url, {}, bounds)).toMatchObject({ status: 200, text: '{"ok":true}' });
      const notModified = await boundedFetch(bounds)(url, { headers: { 'if-none-match': '"x"' } });
      expect(notModified.status).toBe(304);
      expect(notModified.headers.get('etag')).toBe('"x"');
      expect(await notModified.text()).toBe('');
      expect(notModified.url).toBe(url);
    } finally {
      await new Promise((resolve) => plain.close(resolve));
    }
  });

  it('keeps the caller\'s own abort signal working', async () => {
    server = await startHostileServer('trickle');
    const abort = new AbortController();
    setTimeout(() => abort.abort(new Error('shutting down')), 100);
    const error = await fetchBoundedText(server.url, { signal: abort.signal }, { maxBytes: 1024, timeoutMs: 10_000 }).catch((caught: unknown) => caught);
    expect(error).not.toBeInstanceOf(FetchLimitError);
    expect(String(error)).toMatch(/shutting down|abort/i);
  });

  // A fetch whose body ignores abort and whose cancel never settles: the bounds must not rely on the
  // platform settling a pending read (a CI run hung 60 s in the hook test before they stopped doing so).
  function stubbornFetch(chunks: number): typeof fetch {
    return async () => {
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent < chunks) {
            sent += 1;
            controller.enqueue(new Uint8Array(64 * 1024));
            return undefined;
          }
          return new Promise<void>(() => undefined);
        },
        cancel: () => new Promise<void>(() => undefined),
      });
      return new Response(body, { status: 200 });
    };
  }

  it('ends at the deadline even when the underlying read never settles', async () => {
    const started = performance.now();
    const error = await failure(fetchBoundedText('http://127.0.0.1:9/', {}, { maxBytes: 1024 * 1024, timeoutMs: 300 }, stubbornFetch(1)));
    expect(error.limit).toBe('timeout');
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('stops at the byte cap even when cancelling the underlying body never settles', async () => {
    const error = await failure(fetchBoundedText('http://127.0.0.1:9/', {}, { maxBytes: 256 * 1024, timeoutMs: 60_000 }, stubbornFetch(100)));
    expect(error.limit).toBe('too-large');
  }, 10_000);
});
