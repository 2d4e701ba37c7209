/**
 * Webhook deliveries shaped like GitHub's: payloads start from `@octokit/webhooks-examples`,
 * bodies are signed with HMAC-SHA256 of the raw bytes, sent over real HTTP.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

export type JsonObject = Record<string, unknown>;

interface ExampleGroup {
  name: string;
  examples: JsonObject[];
}

let examples: Map<string, JsonObject[]> | undefined;

function loadExamples(): Map<string, JsonObject[]> {
  if (examples) return examples;
  const require = createRequire(import.meta.url);
  const file = require.resolve('@octokit/webhooks-examples/api.github.com/index.json');
  const groups = JSON.parse(readFileSync(file, 'utf8')) as ExampleGroup[];
  examples = new Map(groups.map((g) => [g.name, g.examples]));
  return examples;
}

/**
 * A deep copy of an example payload for `event` (and `action` when given; an action without
 * its own example borrows the event's first example with `action` replaced).
 */
export function webhookExample(event: string, action?: string): JsonObject {
  const list = loadExamples().get(event);
  if (!list || list.length === 0) throw new Error(`no example payload for webhook event "${event}"`);
  const chosen = (action && list.find((e) => e.action === action)) || list[0]!;
  const copy = structuredClone(chosen);
  if (action) copy.action = action;
  return copy;
}

/** `sha256=<hex>` of HMAC-SHA256(secret, body): the `X-Hub-Signature-256` value. */
export function signWebhookBody(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export interface WebhookRequest {
  /** Where to POST (e.g. the app's `/api/github/webhooks`). */
  readonly url: string;
  /** `X-GitHub-Event`. */
  readonly event: string;
  readonly payload: JsonObject;
  readonly secret: string;
  /** `X-GitHub-Delivery`; a fresh UUID when omitted. Pass the same id twice to redeliver. */
  readonly deliveryId?: string;
  /** 'valid' (default), 'invalid' (signed with another secret) or 'none' (header omitted). */
  readonly signature?: 'valid' | 'invalid' | 'none';
  /** Extra or overriding headers. */
  readonly headers?: Record<string, string>;
}

export interface WebhookResponse {
  readonly status: number;
  readonly body: string;
  readonly deliveryId: string;
  /** The exact bytes sent. */
  readonly rawBody: string;
  readonly requestHeaders: Record<string, string>;
}

/** POSTs one delivery the way GitHub does and returns the receiver's answer. */
export async function deliverWebhook(request: WebhookRequest): Promise<WebhookResponse> {
  const deliveryId = request.deliveryId ?? randomUUID();
  const rawBody = JSON.stringify(request.payload);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'GitHub-Hookshot/standin',
    'x-github-event': request.event,
    'x-github-delivery': deliveryId,
    'x-github-hook-id': '1',
    'x-github-hook-installation-target-type': 'integration',
  };
  const installation = request.payload.installation as { id?: number } | undefined;
  if (installation?.id !== undefined) headers['x-github-hook-installation-target-id'] = String(installation.id);
  const mode = request.signature ?? 'valid';
  if (mode !== 'none') {
    const secret = mode === 'valid' ? request.secret : `${request.secret}-wrong`;
    headers['x-hub-signature-256'] = signWebhookBody(secret, rawBody);
    headers['x-hub-signature'] = `sha1=${createHmac('sha1', secret).update(rawBody).digest('hex')}`;
  }
  Object.assign(headers, request.headers);
  const response = await fetch(request.url, { method: 'POST', headers, body: rawBody });
  return { status: response.status, body: await response.text(), deliveryId, rawBody, requestHeaders: headers };
}

/** Deep merge of plain objects; arrays and scalars in `patch` replace. */
export function deepMerge(target: JsonObject, patch: JsonObject): JsonObject {
  for (const [key, value] of Object.entries(patch)) {
    const current = target[key];
    if (isPlainObject(value) && isPlainObject(current)) deepMerge(current, value);
    else target[key] = value;
  }
  return target;
}

function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
