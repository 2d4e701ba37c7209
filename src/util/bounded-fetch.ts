/**
 * HTTP clients with bounds (docs/security.md, "Hostile servers"): every answer egressctl reads
 * from the network (a policy server, an upstream replica, a JWKS, GitHub's OAuth and job logs)
 * has a byte cap and one deadline that covers the whole exchange, connection, headers and the
 * whole body. A server that streams forever or trickles a byte a second then costs at most the
 * cap in memory and the deadline in time, and the caller gets an error that says which.
 *
 * Node built-ins only (global fetch, streams): the runner's action bundles this file.
 */

export type FetchLimit = 'too-large' | 'timeout';

/** The answer broke a bound; `limit` says which. */
export class FetchLimitError extends Error {
  constructor(
    readonly limit: FetchLimit,
    message: string,
  ) {
    super(message);
    this.name = 'FetchLimitError';
  }
}

export interface FetchBounds {
  /** Most body bytes read; more is a FetchLimitError('too-large'). */
  maxBytes: number;
  /** Deadline for the whole exchange, body included; past it a FetchLimitError('timeout'). */
  timeoutMs: number;
}

type Fetch = typeof fetch;

/** Statuses whose Response must have no body (the constructor refuses one). */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

function describeTarget(input: Parameters<Fetch>[0]): string {
  const text = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  try {
    const url = new URL(text);
    // Origin and path only: a query may carry a token.
    return `${url.origin}${url.pathname}`;
  } catch {
    return 'the server';
  }
}

function bytesText(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${Math.round((bytes / 1024 / 1024) * 10) / 10} MiB` : bytes >= 1024 ? `${Math.round(bytes / 1024)} KiB` : `${bytes} bytes`;
}

/**
 * A fetch whose answers are bounded: for code that reads the body itself and for libraries that
 * take a fetch (Octokit's `request.fetch`, jose's `customFetch`). The returned Response's body
 * errors with a FetchLimitError past `maxBytes` (or at once when Content-Length says so) and when
 * the deadline passes, whichever part of the exchange is under way.
 */
export function boundedFetch(bounds: FetchBounds, base: Fetch = fetch): Fetch {
  return async (input, init = {}) => {
    const target = describeTarget(input);
    const deadline = new AbortController();
    const timeout = new FetchLimitError('timeout', `${target} did not answer completely within ${bounds.timeoutMs / 1000} s (body included)`);
    const timer = setTimeout(() => deadline.abort(timeout), bounds.timeoutMs);
    timer.unref?.();
    const signal = init.signal ? AbortSignal.any([deadline.signal, init.signal]) : deadline.signal; // AbortSignal.any: the combinator, not the `any` type
    const failure = (error: unknown): unknown => (deadline.signal.aborted ? deadline.signal.reason : error);

    let response: Response;
    try {
      response = await base(input, { ...init, signal });
    } catch (error) {
      clearTimeout(timer);
      throw failure(error);
    }
    const tooLarge = (bytes: number): FetchLimitError =>
      new FetchLimitError('too-large', `${target} sent ${bytes > bounds.maxBytes ? `more than ${bytesText(bounds.maxBytes)}` : bytesText(bytes)}: answers are limited to ${bytesText(bounds.maxBytes)}`);
    const declared = Number(response.headers.get('content-length') ?? Number.NaN);
    if (Number.isFinite(declared) && declared > bounds.maxBytes) {
      clearTimeout(timer);
      const error = tooLarge(declared);
      deadline.abort(error);
      response.body?.cancel(error).catch(() => undefined);
      throw error;
    }
    if (!response.body || NULL_BODY_STATUSES.has(response.status)) {
      clearTimeout(timer);
      await response.body?.cancel().catch(() => undefined);
      return response.body ? copyResponse(response, null) : response;
    }

    const reader = response.body.getReader();
    // A read pending when the signal aborts is not always settled by the platform's fetch (seen as a
    // test that hung past its deadline under load), so each read races the abort itself.
    const aborted = new Promise<never>((_resolve, reject) => {
      if (signal.aborted) reject(signal.reason);
      else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
    aborted.catch(() => undefined);
    let received = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { done, value } = await Promise.race([reader.read(), aborted]);
          if (done) {
            clearTimeout(timer);
            controller.close();
            return;
          }
          received += value.byteLength;
          if (received > bounds.maxBytes) {
            clearTimeout(timer);
            const error = tooLarge(received);
            // Error first: the caller learns at once, whether or not the cancel below ever settles.
            controller.error(error);
            deadline.abort(error);
            reader.cancel(error).catch(() => undefined);
            return;
          }
          controller.enqueue(value);
        } catch (error) {
          clearTimeout(timer);
          controller.error(failure(error));
          reader.cancel(error).catch(() => undefined);
        }
      },
      async cancel(reason) {
        clearTimeout(timer);
        deadline.abort(reason);
        reader.cancel(reason).catch(() => undefined);
      },
    });
    return copyResponse(response, body);
  };
}

/** The same status, headers and URL with another body (a Response's body cannot be swapped). */
function copyResponse(response: Response, body: ReadableStream<Uint8Array> | null): Response {
  const copy = new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  // Octokit reads `url` (errors, redirects followed); the constructor leaves it empty.
  Object.defineProperty(copy, 'url', { value: response.url });
  Object.defineProperty(copy, 'redirected', { value: response.redirected });
  return copy;
}

export interface BoundedText {
  status: number;
  headers: Headers;
  text: string;
}

/** One request with bounds, the whole body read as UTF-8 text. Throws FetchLimitError past a bound. */
export async function fetchBoundedText(input: string | URL, init: RequestInit, bounds: FetchBounds, base: Fetch = fetch): Promise<BoundedText> {
  const response = await boundedFetch(bounds, base)(input, init);
  return { status: response.status, headers: response.headers, text: await response.text() };
}
