/**
 * The webhook route as `egressctl serve` mounts it (createWebhookHandler + startServer, real
 * Probot): bodies over the limit refused before buffering, nothing of a payload or signature in
 * the log, validly signed non-events answered 400 with a generic message (docs/security.md).
 */
import { createHmac } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebhookHandler, type WebhookMount } from '../../src/app/server-mount.js';
import { DEFAULT_WEBHOOK_MAX_BYTES } from '../../src/app/webhook-intake.js';
import { startServer, WEBHOOK_PATH, type RunningServer } from '../../src/server/index.js';
import { startGitHubStandin, type GitHubStandin } from '../support/github/index.js';
import { captureLogger, type CapturedLogger } from '../support/server.js';

let standin: GitHubStandin;
let mount: WebhookMount;
let server: RunningServer;
let log: CapturedLogger;
const MARKER = 'PAYLOAD-MARKER-7f3a';

beforeAll(async () => {
  standin = await startGitHubStandin();
  log = captureLogger();
  const found = await createWebhookHandler(
    { APP_ID: String(standin.app.id), PRIVATE_KEY: standin.app.privateKey, WEBHOOK_SECRET: standin.webhookSecret, GHE_HOST: new URL(standin.url).host, GHE_PROTOCOL: 'http' },
    { logger: log.logger },
  );
  if (!found) throw new Error('no webhook handler');
  mount = found;
  server = await startServer({ source: null, port: 0, webhookHandler: mount.handler, logger: log.logger, defaultMetrics: false });
  mount.attach(server);
});

afterAll(async () => {
  await server?.close();
  await mount?.close();
  await standin?.close();
});

interface Sent {
  status: number;
  body: string;
  ms: number;
}

/** POST `size` bytes (a JSON string full of MARKERs) in 1 MB chunks; resolves on the answer, however early. */
function post(options: { size?: number; body?: string; chunked?: boolean; signature?: string; event?: string }): Promise<Sent> {
  const url = new URL(`${server.url}${WEBHOOK_PATH}`);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const body = options.body === undefined ? undefined : Buffer.from(options.body);
    const size = body?.length ?? options.size ?? 0;
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'x-github-event': options.event ?? 'push',
      'x-github-delivery': `d-${Math.random()}`,
      'x-hub-signature-256': options.signature ?? `sha256=${'0'.repeat(64)}`,
    };
    if (!options.chunked) headers['content-length'] = String(size);
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, ms: performance.now() - started }));
      res.on('error', reject);
    });
    // The server may close the connection while we are still sending: that is the point.
    req.on('error', () => undefined);
    if (body) {
      req.end(body);
      return;
    }
    const chunk = Buffer.from(`"${MARKER.repeat(Math.ceil((1024 * 1024) / MARKER.length))}`.slice(0, 1024 * 1024));
    let sent = 0;
    const pump = (): void => {
      while (sent < size) {
        const piece = chunk.subarray(0, Math.min(chunk.length, size - sent));
        sent += piece.length;
        if (!req.write(piece)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

function sign(body: string): string {
  return `sha256=${createHmac('sha256', standin.webhookSecret).update(body).digest('hex')}`;
}

describe('webhook bodies', () => {
  it('refuses a 30 MB body with 413 before buffering it, and logs neither payload nor signature', async () => {
    const before = log.text().length;
    const answer = await post({ size: 30 * 1024 * 1024, signature: `sha256=${'ab'.repeat(32)}` });
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body)).toEqual({ error: { code: 'payload_too_large', message: expect.stringContaining(String(DEFAULT_WEBHOOK_MAX_BYTES)) } });
    const logged = log.text().slice(before);
    expect(logged.length).toBeLessThan(2_000);
    expect(logged).not.toContain(MARKER);
    expect(logged).not.toContain('ab'.repeat(32));
  });

  it('refuses a chunked body once it passes the limit', async () => {
    const answer = await post({ size: 30 * 1024 * 1024, chunked: true });
    expect(answer.status).toBe(413);
    expect(log.text()).not.toContain(MARKER);
  });

  it('answers a wrong signature with 401, without logging the payload or the signature', async () => {
    const before = log.text().length;
    const body = JSON.stringify({ ref: 'refs/heads/main', note: MARKER });
    const answer = await post({ body, signature: `sha256=${'cd'.repeat(32)}` });
    expect(answer.status).toBe(401);
    const logged = log.text().slice(before);
    expect(logged).not.toContain(MARKER);
    expect(logged).not.toContain('cd'.repeat(32));
  });

  for (const body of ['{}', '[1,2]', '"text"']) {
    it(`answers a validly signed ${body} with 400 and a generic message`, async () => {
      for (const event of ['push', 'pull_request', 'workflow_job', 'installation']) {
        const answer = await post({ body, signature: sign(body), event });
        expect(answer.status, `${event} ${body}`).toBe(400);
        const parsed = JSON.parse(answer.body) as { error: { code: string; message: string } };
        expect(parsed.error.code).toBe('bad_payload');
        expect(parsed.error.message).not.toMatch(/TypeError|undefined|reading|at /);
      }
    });
  }

  it('answers 400 to a validly signed event whose repository has no owner (or a job without ids), never 200', async () => {
    const job = { id: 1, run_id: 2, name: 'build', head_sha: 'a'.repeat(40), completed_at: null, steps: [] };
    const bodies: [string, Record<string, unknown>][] = [
      ['workflow_job', { action: 'completed', workflow_job: job, repository: { full_name: 'acme/api', name: 'api' } }],
      ['workflow_job', { action: 'completed', workflow_job: job, repository: { full_name: 'acme/api', name: 'api', owner: null } }],
      ['workflow_job', { action: 'completed', workflow_job: job, repository: { full_name: 'acme/api', name: 'api', owner: { login: 7 } } }],
      ['workflow_job', { action: 'completed', workflow_job: { ...job, id: 'x' }, repository: { full_name: 'acme/api', name: 'api', owner: { login: 'acme' } } }],
      ['push', { ref: 'refs/heads/main', repository: { full_name: 'acme/api', name: 'api' } }],
    ];
    for (const [event, payload] of bodies) {
      const body = JSON.stringify(payload);
      const answer = await post({ body, signature: sign(body), event });
      expect(answer.status, body).toBe(400);
      expect((JSON.parse(answer.body) as { error: { code: string } }).error.code).toBe('bad_payload');
    }
  });
});
