/**
 * The runner side's shared core (the composite action and `egressctl hook job-started`): ask the
 * server for the effective policy with retries and a short timeout, keep the last answer per
 * scope in a cache, fall back to it, and then to the configured on-error behaviour.
 *
 * Node built-ins only: this is bundled into actions/harden/dist/index.js, which runs with no
 * `npm install` at job time.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { KeyObject } from 'node:crypto';
import { AnswerVerificationError, parseAnswerKeys, verifySignedAnswer, type ExpectedSubject } from './signed-answer.js';
// The wire API: types and constants only, no imports (the bundled action stays dependency-free).
import { SIGNED_ANSWER_MEDIA_TYPE, type PolicyAnswer } from '../server/api.js';
import { messageOf } from '../util/errors.js';
import { envSetting } from '../util/env-names.js';
import { fetchBoundedText, FetchLimitError } from '../util/bounded-fetch.js';

export type OnError = 'audit' | 'block' | 'fail';
export const ON_ERROR_VALUES: readonly OnError[] = ['audit', 'block', 'fail'];

/** The server's /v1/policy answer (docs/architecture.md#server). */
export type { PolicyAnswer };

/** Harden-Runner's `with:` inputs, every one a string as the action's inputs are. */
export interface HardenInputs {
  'egress-policy': 'audit' | 'block';
  'allowed-endpoints': string;
  'disable-sudo': 'true' | 'false';
  'disable-sudo-and-containers': 'true' | 'false';
  'disable-file-monitoring': 'true' | 'false';
  'disable-telemetry': 'true' | 'false';
}

export type PolicyOrigin = 'server' | 'cache' | 'on-error';

export interface ObtainedPolicy {
  origin: PolicyOrigin;
  /** The answer used (from the server or the cache); absent for on-error. */
  answer?: PolicyAnswer;
  inputs: HardenInputs;
  /** When the answer was fetched (for the cache: its age). */
  fetchedAt?: string;
  /** Why the server's answer was not used. */
  error?: string;
  /** Human-readable lines for the job log. */
  notes: string[];
}

export class PolicyFetchError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'PolicyFetchError';
  }
}

export interface FetchPolicyOptions {
  /** Base URL of the egressctl server (its /v1/policy is asked). */
  server: string;
  /** Full Authorization header value: `Bearer <token>` or `ApiKey <key>`. */
  authorization: string;
  query?: Record<string, string | undefined>;
  /** Per attempt (default 5 s). */
  timeoutMs?: number;
  /** Default 3. */
  attempts?: number;
  /** First retry delay, doubled each time (default 500 ms). */
  backoffMs?: number;
  userAgent?: string;
  /** Ask for a signed answer and verify it (docs/architecture.md, "Runner side: signed answers"). */
  trust?: AnswerTrust;
}

/** The bundle's public keys and the job's own identity, which a signed answer must name. */
export interface AnswerTrust {
  keys: readonly KeyObject[];
  expected: ExpectedSubject;
}

/** An answer, with the envelope it came in when it was signed (that is what gets cached). */
export interface FetchedAnswer {
  answer: PolicyAnswer;
  envelope?: string;
}

export function policyUrl(server: string, query: Record<string, string | undefined> = {}): URL {
  const base = server.replace(/\/+$/, '');
  const url = new URL(`${base}/v1/policy`);
  for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== '') url.searchParams.set(key, value);
  return url;
}

/** GET /v1/policy; retries network errors, timeouts, 429 and 5xx; never retries other 4xx. */
export async function fetchPolicy(options: FetchPolicyOptions): Promise<FetchedAnswer> {
  const url = policyUrl(options.server, options.query);
  const attempts = Math.max(1, options.attempts ?? 3);
  let delay = options.backoffMs ?? 500;
  let last: PolicyFetchError | undefined;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      return await fetchOnce(url, options);
    } catch (error) {
      last = error instanceof PolicyFetchError ? error : new PolicyFetchError(describeError(error), true);
      if (!last.retryable || attempt === attempts) break;
      await sleep(delay);
      delay *= 2;
    }
  }
  throw last ?? new PolicyFetchError('no attempt was made', false);
}

/**
 * Most bytes of a /v1/policy answer read (a signed envelope of the largest policy is far smaller):
 * a server that streams without end costs this much, not the runner's memory.
 */
export const MAX_ANSWER_BYTES = 1024 * 1024;

async function fetchOnce(url: URL, options: FetchPolicyOptions): Promise<FetchedAnswer> {
  let status: number;
  let text: string;
  try {
    // One deadline for the whole exchange, body included: a trickling server cannot hold the job.
    ({ status, text } = await fetchBoundedText(
      url,
      {
        headers: {
          authorization: options.authorization,
          accept: options.trust ? SIGNED_ANSWER_MEDIA_TYPE : 'application/json',
          'user-agent': options.userAgent ?? 'egressctl-runner',
        },
        redirect: 'error',
      },
      { maxBytes: MAX_ANSWER_BYTES, timeoutMs: options.timeoutMs ?? 5_000 },
    ));
  } catch (error) {
    if (error instanceof FetchLimitError) throw new PolicyFetchError(error.message, true);
    throw new PolicyFetchError(`cannot reach ${url.origin}: ${describeError(error)}`, true);
  }
  if (status !== 200) {
    const retryable = status === 429 || status >= 500;
    throw new PolicyFetchError(`${url.origin}${url.pathname} answered ${status}: ${errorMessageOf(text)}`, retryable, status);
  }
  if (options.trust) {
    const answer = verifiedAnswer(text, options.trust);
    if (typeof answer === 'string') throw new PolicyFetchError(`${url.origin}${url.pathname}: ${answer}`, false, 200);
    return { answer, envelope: text };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new PolicyFetchError(`${url.origin}${url.pathname} answered 200 with something that is not JSON`, true, 200);
  }
  const problem = policyAnswerProblem(value);
  if (problem) throw new PolicyFetchError(`${url.origin}${url.pathname} answered 200 with an unexpected body: ${problem}`, false, 200);
  return { answer: value as PolicyAnswer };
}

/** The answer inside a signed envelope, or why it is not acceptable. */
export function verifiedAnswer(text: string, trust: AnswerTrust, nowMs: number = Date.now()): PolicyAnswer | string {
  try {
    const statement = verifySignedAnswer(text, trust.keys, trust.expected, nowMs);
    const problem = policyAnswerProblem(statement.answer);
    return problem ? `the signed answer is not a policy answer: ${problem}` : statement.answer;
  } catch (error) {
    if (error instanceof AnswerVerificationError) return error.message;
    throw error;
  }
}

/** Why `value` is not a /v1/policy answer, or undefined when it is one. Used for the cache too. */
export function policyAnswerProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not an object';
  const answer = value as Record<string, unknown>;
  if (typeof answer.revision !== 'string' || answer.revision === '') return 'no revision';
  if (answer.policy !== null && typeof answer.policy !== 'string') return 'policy is not a string or null';
  if (typeof answer.config !== 'object' || answer.config === null || Array.isArray(answer.config)) return 'config is not an object';
  const config = answer.config as Record<string, unknown>;
  const mode = config['egress-policy'];
  if (mode !== undefined && mode !== 'audit' && mode !== 'block') return 'config.egress-policy is not audit or block';
  const endpoints = config['allowed-endpoints'];
  if (endpoints !== undefined && (typeof endpoints !== 'string' || /[\r\n]/.test(endpoints))) return 'config.allowed-endpoints is not a one-line string';
  for (const flag of ['disable-sudo', 'disable-sudo-and-containers', 'disable-file-monitoring', 'disable-telemetry']) {
    if (config[flag] !== undefined && typeof config[flag] !== 'boolean') return `config.${flag} is not a boolean`;
  }
  if (answer.policy !== null && mode === undefined) return 'a policy without config.egress-policy';
  return undefined;
}

/**
 * Harden-Runner inputs for an answer. No policy attached anywhere: audit, which collects the
 * baseline a policy is later made from (Harden-Runner's own default, block with no endpoints,
 * would stop a job before it could even fetch its code).
 */
export function hardenInputs(answer: PolicyAnswer | undefined, onError: Exclude<OnError, 'fail'> = 'audit'): HardenInputs {
  const flag = (name: string): 'true' | 'false' => (answer?.config[name] === true ? 'true' : 'false');
  if (!answer) {
    return {
      'egress-policy': onError,
      'allowed-endpoints': '',
      'disable-sudo': 'false',
      'disable-sudo-and-containers': 'false',
      'disable-file-monitoring': 'false',
      'disable-telemetry': 'false',
    };
  }
  const mode = answer.config['egress-policy'] === 'block' ? 'block' : 'audit';
  const endpoints = answer.config['allowed-endpoints'];
  return {
    'egress-policy': mode,
    'allowed-endpoints': typeof endpoints === 'string' ? endpoints : '',
    'disable-sudo': flag('disable-sudo'),
    'disable-sudo-and-containers': flag('disable-sudo-and-containers'),
    'disable-file-monitoring': flag('disable-file-monitoring'),
    // Harden-Runner accepts disable-telemetry only with block.
    'disable-telemetry': mode === 'block' ? flag('disable-telemetry') : 'false',
  };
}

/**
 * The JSON the managed step reads through `fromJSON(env.EGRESSCTL_POLICY || vars.EGRESSCTL_... )`:
 * exactly the keys of docs/reconciliation.md ("Variables"), always all present, compact.
 */
export function policyVariableValue(inputs: HardenInputs, policy: string | null): string {
  return JSON.stringify({
    'egress-policy': inputs['egress-policy'],
    'allowed-endpoints': inputs['allowed-endpoints'],
    'disable-sudo-and-containers': inputs['disable-sudo-and-containers'] === 'true',
    'disable-file-monitoring': inputs['disable-file-monitoring'] === 'true',
    'disable-telemetry': inputs['disable-telemetry'] === 'true',
    policy: policy ?? '',
  });
}

// ---------------------------------------------------------------------------------------------
// Cache: one small JSON file per scope. On a self-hosted runner RUNNER_TOOL_CACHE (the runner's
// _work/_tool) outlives the job, while RUNNER_TEMP is emptied after every job; so the tool cache
// is preferred, then RUNNER_TEMP (GitHub-hosted runners keep nothing anyway), then the OS temp.

export interface CacheScope {
  server: string;
  repository?: string;
  workflow?: string;
  cluster?: string;
}

export function defaultCacheDir(env: NodeJS.ProcessEnv): string {
  const configured = envSetting(env, 'cache-dir');
  if (configured) return configured;
  if (env.RUNNER_TOOL_CACHE) return path.join(env.RUNNER_TOOL_CACHE, 'egressctl', 'policy-cache');
  if (env.RUNNER_TEMP) return path.join(env.RUNNER_TEMP, 'egressctl', 'policy-cache');
  return path.join(tmpdir(), 'egressctl-policy-cache');
}

/** File name for a scope: the workflow's `@ref` is dropped (the policy does not depend on it). */
export function cacheFileName(scope: CacheScope): string {
  const workflow = scope.workflow?.replace(/@.*$/, '').toLowerCase() ?? '';
  const key = JSON.stringify([scope.server.replace(/\/+$/, ''), scope.repository?.toLowerCase() ?? '', workflow, scope.cluster?.toLowerCase() ?? '']);
  return `${createHash('sha256').update(key).digest('hex').slice(0, 32)}.json`;
}

/** A signed answer is cached as its envelope (verified again on use); an unsigned one as the answer. */
interface CacheRecord {
  fetchedAt: string;
  scope: CacheScope;
  answer?: PolicyAnswer;
  envelope?: string;
}

export type CachedPolicy = { answer: PolicyAnswer; fetchedAt: string } | { refused: string };

/**
 * The cached answer for a scope. With `trust`, only a signed envelope that verifies now (key,
 * subject, expiry) is used: a planted or edited cache file is refused with the reason.
 */
export async function readCachedPolicy(dir: string, scope: CacheScope, trust?: AnswerTrust): Promise<CachedPolicy | undefined> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(path.join(dir, cacheFileName(scope)), 'utf8'));
  } catch {
    return undefined;
  }
  const record = value as Partial<CacheRecord> | null;
  if (!record || typeof record.fetchedAt !== 'string') return undefined;
  if (trust) {
    if (typeof record.envelope !== 'string') return { refused: 'the cached policy is not signed' };
    const answer = verifiedAnswer(record.envelope, trust);
    return typeof answer === 'string' ? { refused: `the cached policy does not verify: ${answer}` } : { answer, fetchedAt: record.fetchedAt };
  }
  if (policyAnswerProblem(record.answer) !== undefined) return undefined;
  return { answer: record.answer as PolicyAnswer, fetchedAt: record.fetchedAt };
}

/** Atomic (temp file, fsync, rename): a job killed mid-write never leaves half a policy. */
export async function writeCachedPolicy(dir: string, scope: CacheScope, fetched: FetchedAnswer, now: Date = new Date()): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const target = path.join(dir, cacheFileName(scope));
  const temp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
  const record: CacheRecord = { fetchedAt: now.toISOString(), scope: { ...scope }, ...(fetched.envelope ? { envelope: fetched.envelope } : { answer: fetched.answer }) };
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(record)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, target);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

export interface ObtainOptions {
  /** How to ask the server; throwing here (no token, say) counts as the server failing. */
  fetch: () => Promise<FetchedAnswer>;
  cacheDir: string;
  scope: CacheScope;
  onError: OnError;
  /** When set, the cache is used only through a signed envelope that verifies. */
  trust?: AnswerTrust;
}

/** Server, else the cached answer for this scope, else on-error (`fail` throws PolicyFetchError). */
export async function obtainPolicy(options: ObtainOptions): Promise<ObtainedPolicy> {
  const fallbackMode: Exclude<OnError, 'fail'> = options.onError === 'block' ? 'block' : 'audit';
  let failure: string;
  try {
    const fetched = await options.fetch();
    const answer = fetched.answer;
    const notes = [describeAnswer(answer)];
    if (fetched.envelope) notes.push('the answer is signed by a trusted key and bound to this job\'s repository and workflow');
    try {
      await writeCachedPolicy(options.cacheDir, options.scope, fetched);
    } catch (error) {
      notes.push(`could not cache the policy in ${options.cacheDir}: ${describeError(error)}`);
    }
    return { origin: 'server', answer, inputs: hardenInputs(answer, fallbackMode), fetchedAt: new Date().toISOString(), notes };
  } catch (error) {
    failure = describeError(error);
  }
  const cached = await readCachedPolicy(options.cacheDir, options.scope, options.trust);
  if (cached && 'refused' in cached) failure = `${failure}; ${cached.refused}`;
  else if (cached) {
    return {
      origin: 'cache',
      answer: cached.answer,
      inputs: hardenInputs(cached.answer, fallbackMode),
      fetchedAt: cached.fetchedAt,
      error: failure,
      notes: [`the server failed (${failure}); using the policy cached at ${cached.fetchedAt}`, describeAnswer(cached.answer)],
    };
  }
  if (options.onError === 'fail') throw new PolicyFetchError(`${failure}; no cached policy for this scope, and on-error is fail`, false);
  return {
    origin: 'on-error',
    inputs: hardenInputs(undefined, fallbackMode),
    error: failure,
    notes: [`the server failed (${failure}) and no policy is cached for this scope: on-error=${options.onError}, so egress-policy ${fallbackMode}`],
  };
}

export function describeAnswer(answer: PolicyAnswer): string {
  if (answer.policy === null) return `no policy is attached for this job (revision ${answer.revision}): audit mode`;
  const scope = answer.scope ? ` (${answer.scope.type} ${answer.scope.key})` : '';
  const mode = answer.config['egress-policy'] ?? 'audit';
  const endpoints = typeof answer.config['allowed-endpoints'] === 'string' && answer.config['allowed-endpoints'] !== '' ? answer.config['allowed-endpoints'].split(' ').length : 0;
  const shadowed = answer.shadowed.length > 0 ? `; shadows ${answer.shadowed.map((item) => `${item.type} ${item.key} -> ${item.policy}`).join(', ')}` : '';
  return `policy ${answer.policy}${scope} at revision ${answer.revision}: ${mode}, ${endpoints} allowed endpoint(s)${shadowed}`;
}

export function describeError(error: unknown): string {
  if (error instanceof PolicyFetchError) return error.message;
  const cause = (error as { cause?: { code?: string; message?: string } } | undefined)?.cause;
  if (cause?.code) return cause.code;
  if ((error as { name?: string } | undefined)?.name === 'TimeoutError') return 'timed out';
  return messageOf(error);
}

function errorMessageOf(text: string): string {
  try {
    const value = JSON.parse(text) as { error?: { message?: unknown } };
    if (typeof value.error?.message === 'string') return value.error.message.slice(0, 300);
  } catch {
    // not JSON: show the start of it
  }
  return text.slice(0, 200) || '(empty body)';
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The trust for a PEM public key (input or file text); undefined when none is given. A key that
 * does not parse gives a trust with no keys and the problem: the fetch fails with it and no cache
 * verifies, so the job gets on-error (never an unverified answer).
 */
export function answerTrust(pem: string | undefined, expected: ExpectedSubject): { trust: AnswerTrust; problem?: string } | undefined {
  if (pem === undefined || pem.trim() === '') return undefined;
  try {
    return { trust: { keys: parseAnswerKeys(pem), expected } };
  } catch (error) {
    return { trust: { keys: [], expected }, problem: `the public key cannot be used: ${describeError(error)}` };
  }
}
