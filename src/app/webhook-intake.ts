/**
 * The App's webhook route, in front of Probot's event handlers (docs/security.md, "Webhooks"):
 * - a body over the limit is refused with 413 before it is buffered (Content-Length), or as soon
 *   as it passes the limit (chunked); all bodies being read at once share a byte budget (503);
 * - the signature (X-Hub-Signature-256, HMAC-SHA256 with the webhook secret) is checked here,
 *   in constant time, before the body is parsed;
 * - a validly signed body that is not a JSON object, or that a handler cannot read (a TypeError),
 *   gets 400 with a generic message; any other failure 500 with a generic message;
 * - nothing here logs a payload or a signature: only the event name, delivery id and outcome.
 *
 * Probot's own middleware is not used for POSTs: it buffers without a limit and logs the whole
 * event (payload included) at error level when a signature does not match.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { DeliveryFailure } from './failure.js';
import { gitHubStatus } from '../util/errors.js';

/** GitHub caps webhook payloads at 25 MB and does not deliver larger ones. */
export const GITHUB_WEBHOOK_CAP_BYTES = 25 * 1024 * 1024;
/** Default limit: the events the App subscribes to are far smaller (see docs/security.md). */
export const DEFAULT_WEBHOOK_MAX_BYTES = 10 * 1024 * 1024;
/** Bytes of webhook bodies buffered at once, across requests. */
export const DEFAULT_WEBHOOK_BUFFER_BUDGET = 64 * 1024 * 1024;
/** Answer 202 when the handlers take longer than this (GitHub gives up after 10 s). */
const ANSWER_WITHIN_MS = 9_000;

/** What the intake needs of Probot's Webhooks instance. */
export interface WebhookReceiver {
  receive(event: { id: string; name: string; payload: unknown }): Promise<void>;
}

export interface WebhookIntakeOptions {
  secret: string;
  receiver: WebhookReceiver;
  logger?: Logger;
  maxBytes?: number;
  bufferBudget?: number;
  /** Non-POST requests (Probot's middleware answers them). */
  fallback: (req: IncomingMessage, res: ServerResponse) => void;
}

export function createWebhookIntake(options: WebhookIntakeOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const maxBytes = Math.min(options.maxBytes ?? DEFAULT_WEBHOOK_MAX_BYTES, GITHUB_WEBHOOK_CAP_BYTES);
  const budget = options.bufferBudget ?? DEFAULT_WEBHOOK_BUFFER_BUDGET;
  const log = options.logger;
  let buffering = 0;

  // The rest of a refused body is read and dropped by node (never buffered) until the request
  // ends or the server's request timeout: closing the socket with unread data instead would reset
  // the connection and could lose the answer.
  const answer = (res: ServerResponse, status: number, code: string, message: string): void => {
    if (res.headersSent) return;
    const body = JSON.stringify({ error: { code, message } });
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
      'cache-control': 'no-store',
    });
    res.end(body);
  };

  return (req, res) => {
    if (req.method !== 'POST') {
      options.fallback(req, res);
      return;
    }
    const event = headerOf(req, 'x-github-event');
    const delivery = headerOf(req, 'x-github-delivery');
    const signature = headerOf(req, 'x-hub-signature-256');
    const where = { event: event?.slice(0, 64), delivery: delivery?.slice(0, 64) };
    if (!/^\s*application\/json\s*(;|$)/i.test(headerOf(req, 'content-type') ?? '')) {
      answer(res, 415, 'unsupported_media_type', 'webhooks must be sent as application/json');
      return;
    }
    if (!event || !delivery || !signature) {
      answer(res, 400, 'bad_request', 'X-GitHub-Event, X-GitHub-Delivery and X-Hub-Signature-256 are required');
      return;
    }
    const declared = Number(headerOf(req, 'content-length') ?? Number.NaN);
    if (Number.isFinite(declared) && declared > maxBytes) {
      log?.warn({ ...where, bytes: declared, limit: maxBytes }, 'webhook refused: body over the limit');
      answer(res, 413, 'payload_too_large', `webhook bodies are limited to ${maxBytes} bytes`);
      return;
    }
    const reserve = Number.isFinite(declared) ? declared : maxBytes;
    if (buffering + reserve > budget) {
      log?.warn({ ...where, buffering, budget }, 'webhook refused: too many bodies being read at once');
      res.setHeader('retry-after', '5');
      answer(res, 503, 'busy', 'too many webhook bodies are being read at once; retry');
      return;
    }
    buffering += reserve;
    let released = false;
    const release = (): void => {
      if (!released) buffering -= reserve;
      released = true;
    };
    void readLimited(req, maxBytes).then(
      async (body) => {
        release();
        if (body === undefined) {
          log?.warn({ ...where, limit: maxBytes }, 'webhook refused: body over the limit');
          answer(res, 413, 'payload_too_large', `webhook bodies are limited to ${maxBytes} bytes`);
          return;
        }
        if (!signatureMatches(options.secret, body, signature)) {
          log?.warn(where, 'webhook refused: the signature does not match');
          answer(res, 401, 'bad_signature', 'the X-Hub-Signature-256 signature does not match this App\'s webhook secret');
          return;
        }
        let payload: unknown;
        try {
          payload = JSON.parse(body.toString('utf8'));
        } catch {
          answer(res, 400, 'bad_payload', 'the payload is not JSON');
          return;
        }
        if (!hasEventShape(event, payload)) {
          log?.warn(where, 'webhook refused: the payload does not have the event\'s shape');
          answer(res, 400, 'bad_payload', `the payload is not a GitHub "${where.event ?? ''}" event`);
          return;
        }
        await receive(res, { id: delivery, name: event, payload }, where);
      },
      () => {
        release();
        answer(res, 400, 'bad_request', 'the request body could not be read');
      },
    );
  };

  async function receive(res: ServerResponse, event: { id: string; name: string; payload: unknown }, where: Record<string, unknown>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), ANSWER_WITHIN_MS);
      timer.unref();
    });
    const done = options.receiver.receive(event).then(
      () => 'ok' as const,
      (error: unknown) => error,
    );
    const outcome = await Promise.race([done, late]);
    clearTimeout(timer);
    if (outcome === 'late') {
      res.writeHead(202, { 'content-type': 'text/plain' });
      res.end('still processing\n');
      void done.then((value) => {
        if (value !== 'ok') log?.error({ ...where, errors: describe(value) }, 'webhook handler failed');
      });
      return;
    }
    if (outcome === 'ok') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
      return;
    }
    const errors = errorsOf(outcome);
    // A handler that cannot read a field of a validly signed payload: the payload is not the event it claims.
    if (errors.some((error) => error instanceof TypeError)) {
      log?.warn({ ...where, errors: describe(outcome) }, 'webhook refused: the payload does not have the event\'s shape');
      answer(res, 400, 'bad_payload', `the payload is not a GitHub "${String(where.event ?? '')}" event`);
      return;
    }
    log?.error({ ...where, errors: describe(outcome) }, 'webhook handler failed');
    // A GitHub request that failed passes its status on (as @octokit/webhooks does), so the delivery shows as failed.
    const status = errors.map((error) => gitHubStatus(error)).find((value): value is number => value !== undefined && value >= 400 && value <= 599);
    // A DeliveryFailure carries a message written for the outside (what failed, no local paths).
    const failure = errors.find((error): error is DeliveryFailure => error instanceof DeliveryFailure);
    answer(res, status ?? 500, 'handler_failed', failure?.message ?? 'the webhook could not be handled (see the server log)');
  }
}

/**
 * The objects each event the App handles always carries (GitHub's webhook payload reference):
 * a payload without them is not that event, whatever its signature. Other events: every object passes.
 */
const EVENT_SHAPES: Record<string, readonly string[]> = {
  push: ['repository'],
  pull_request: ['pull_request', 'repository'],
  workflow_job: ['workflow_job', 'repository'],
  workflow_run: ['workflow_run', 'repository'],
  check_run: ['check_run', 'repository'],
  check_suite: ['check_suite', 'repository'],
  installation: ['installation'],
  installation_repositories: ['installation'],
};

export function hasEventShape(event: string, payload: unknown): payload is Record<string, unknown> {
  if (!isObject(payload)) return false;
  if (payload.installation !== undefined && !(isObject(payload.installation) && typeof payload.installation.id === 'number')) return false;
  if (payload.repository !== undefined && !isRepository(payload.repository)) return false;
  if (!(EVENT_SHAPES[event] ?? []).every((key) => isObject(payload[key]))) return false;
  // The handlers read these of a job before anything else (src/app/workflow-job.ts).
  if (event === 'workflow_job') {
    const job = payload.workflow_job as Record<string, unknown>;
    return typeof job.id === 'number' && typeof job.run_id === 'number' && typeof job.name === 'string' && typeof job.head_sha === 'string';
  }
  return true;
}

/** Every repository GitHub sends has a name and an owner with a login: handlers build `owner/repo` from them. */
function isRepository(value: unknown): boolean {
  return isObject(value) && typeof value.full_name === 'string' && typeof value.name === 'string' && isObject(value.owner) && typeof value.owner.login === 'string';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The body, or undefined once it passes `limit` (reading stops there). */
function readLimited(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        chunks.length = 0;
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks, size)));
    req.once('error', reject);
  });
}

export function signatureMatches(secret: string, body: Buffer, header: string): boolean {
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`, 'utf8');
  const given = Buffer.from(header.trim(), 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function errorsOf(error: unknown): unknown[] {
  const nested = (error as { errors?: unknown } | null)?.errors;
  if (nested && typeof (nested as Iterable<unknown>)[Symbol.iterator] === 'function') return [...(nested as Iterable<unknown>)];
  return [error];
}

/** Names and first lines of the errors: never the event (Octokit attaches the payload to it). */
function describe(error: unknown): string[] {
  return errorsOf(error).map((item) => (item instanceof Error ? `${item.name}: ${item.message.split('\n')[0]?.slice(0, 300) ?? ''}` : 'unknown error'));
}
