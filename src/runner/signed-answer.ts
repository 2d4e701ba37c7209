/**
 * Signed /v1/policy answers (docs/architecture.md, "Runner side: signed answers"): a DSSE
 * envelope, signed by the server with the bundle key, whose payload binds the answer to who it is
 * for (organization, repository, workflow or cluster), the bundle revision and an expiry. The
 * runner (composite action and job-started hook) verifies it with the bundle's public key; the
 * cache stores the envelope and verifies it again on use.
 *
 * Node built-ins only: bundled into actions/harden/dist/index.js. DSSE is re-implemented here (PAE
 * and ed25519, a few lines) rather than imported from src/bundle, which pulls in the compiler.
 */
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
// The wire API: types and constants only, no imports (safe to bundle into the action).
import { ANSWER_CLOCK_SKEW_SECONDS, ANSWER_PAYLOAD_TYPE, type AnswerStatement } from '../server/api.js';

export class AnswerVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AnswerVerificationError';
  }
}

/** Workflow as bound in a subject: `@ref` dropped, lower-case. */
export function normalizeWorkflow(workflow: string | null | undefined): string | null {
  if (!workflow) return null;
  return workflow.replace(/@.*$/, '').toLowerCase();
}

function pae(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `, 'utf8'), type, Buffer.from(` ${payload.length} `, 'utf8'), payload]);
}

export function keyIdOfPublic(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return `sha256:${createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex')}`;
}

/** The envelope text (compact JSON, fixed key order) for a statement, signed by each key. */
export function signAnswer(statement: AnswerStatement, privateKeys: readonly KeyObject[]): string {
  const payload = Buffer.from(JSON.stringify(statement), 'utf8');
  const message = pae(ANSWER_PAYLOAD_TYPE, payload);
  const signatures = privateKeys.map((key) => ({ keyid: keyIdOfPublic(key), sig: sign(null, message, key).toString('base64') }));
  return JSON.stringify({ payloadType: ANSWER_PAYLOAD_TYPE, payload: payload.toString('base64'), signatures });
}

/** Every PUBLIC KEY block of a PEM text (the bundle's .pub file). */
export function parseAnswerKeys(pem: string): KeyObject[] {
  const blocks = pem.match(/-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g) ?? [];
  if (blocks.length === 0) throw new AnswerVerificationError('the public key holds no PEM PUBLIC KEY block');
  return blocks.map((block) => {
    const key = createPublicKey({ key: block, format: 'pem' });
    if (key.asymmetricKeyType !== 'ed25519') throw new AnswerVerificationError(`the public key is ${key.asymmetricKeyType ?? 'unknown'}, not ed25519`);
    return key;
  });
}

export interface ExpectedSubject {
  repository: string;
  /** The job's workflow (GITHUB_WORKFLOW_REF); checked when given. */
  workflow?: string;
  /** Checked when given (a hook that names its cluster). */
  cluster?: string;
}

/**
 * The statement inside a signed answer, after checking: an ed25519 signature by one of `keys`
 * over DSSE's PAE, the payload type, the subject against the job's own identity, and the expiry.
 * Throws AnswerVerificationError saying what failed (never the envelope's content).
 */
export function verifySignedAnswer(text: string, keys: readonly KeyObject[], expected: ExpectedSubject, nowMs: number = Date.now()): AnswerStatement {
  if (keys.length === 0) throw new AnswerVerificationError('no public key to verify the answer with');
  let envelope: { payloadType?: unknown; payload?: unknown; signatures?: unknown };
  try {
    envelope = JSON.parse(text) as typeof envelope;
  } catch {
    throw new AnswerVerificationError('the answer is not a signed envelope (not JSON)');
  }
  if (typeof envelope !== 'object' || envelope === null || envelope.payloadType !== ANSWER_PAYLOAD_TYPE || typeof envelope.payload !== 'string' || !Array.isArray(envelope.signatures)) {
    throw new AnswerVerificationError(`the answer is not a signed envelope of type ${ANSWER_PAYLOAD_TYPE}`);
  }
  const payload = Buffer.from(envelope.payload, 'base64');
  const message = pae(ANSWER_PAYLOAD_TYPE, payload);
  const verified = (envelope.signatures as unknown[]).some((entry) => {
    const sig = (entry as { sig?: unknown } | null)?.sig;
    if (typeof sig !== 'string') return false;
    const bytes = Buffer.from(sig, 'base64');
    return keys.some((key) => {
      try {
        return verify(null, message, key, bytes);
      } catch {
        return false;
      }
    });
  });
  if (!verified) throw new AnswerVerificationError('the answer is not signed by a trusted key (forged, tampered, or signed with another key)');
  let statement: AnswerStatement;
  try {
    statement = JSON.parse(payload.toString('utf8')) as AnswerStatement;
  } catch {
    throw new AnswerVerificationError('the signed answer\'s payload is not JSON');
  }
  if (statement?._type !== 'egressctl.answer/v1' || typeof statement.subject !== 'object' || statement.subject === null || typeof statement.answer !== 'object') {
    throw new AnswerVerificationError('the signed answer\'s payload is not an egressctl answer statement');
  }
  const subject = statement.subject;
  if (typeof subject.repository !== 'string' || subject.repository.toLowerCase() !== expected.repository.toLowerCase()) {
    throw new AnswerVerificationError(`the signed answer is for repository ${String(subject.repository)}, not ${expected.repository}`);
  }
  const workflow = normalizeWorkflow(expected.workflow);
  if (workflow !== null && subject.workflow !== workflow) {
    throw new AnswerVerificationError(`the signed answer is for workflow ${String(subject.workflow)}, not ${workflow}`);
  }
  if (expected.cluster && (subject.cluster ?? '').toLowerCase() !== expected.cluster.toLowerCase()) {
    throw new AnswerVerificationError(`the signed answer is for cluster ${String(subject.cluster)}, not ${expected.cluster}`);
  }
  const expires = Date.parse(statement.expiresAt);
  const issued = Date.parse(statement.issuedAt);
  if (!Number.isFinite(expires) || !Number.isFinite(issued)) throw new AnswerVerificationError('the signed answer has no valid issuedAt/expiresAt');
  if (expires + ANSWER_CLOCK_SKEW_SECONDS * 1000 < nowMs) throw new AnswerVerificationError(`the signed answer expired at ${statement.expiresAt}`);
  if (issued - ANSWER_CLOCK_SKEW_SECONDS * 1000 > nowMs) throw new AnswerVerificationError(`the signed answer was issued in the future (${statement.issuedAt})`);
  if (statement.answer?.revision !== statement.bundle?.revision) throw new AnswerVerificationError('the signed answer\'s revision does not match its bundle revision');
  return statement;
}
