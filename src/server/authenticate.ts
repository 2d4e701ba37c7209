/**
 * Who is asking GET /v1/policy: the caller's organization, repository, workflow and cluster, from
 * verified credentials only (a GitHub Actions OIDC token or an API key; docs/security.md).
 */
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import { workflowKey, type ResolveQuery } from '../policy/resolve.js';
import { MAX_QUERY_VALUE_LENGTH } from './api.js';
import type { ApiKeyRing } from './auth/api-keys.js';
import type { OidcVerifier } from './auth/oidc.js';
import { HttpError } from './http.js';
import type { ServerMetrics } from './metrics.js';

export interface AuthenticatorOptions {
  oidc: OidcVerifier;
  apiKeys: ApiKeyRing;
  /** When set (lower-case), only callers in these organizations get answers (others 403). */
  organizations: ReadonlySet<string> | undefined;
  metrics: ServerMetrics;
  logger: Logger;
}

export interface Authenticator {
  /** Fast path, no await: a Bearer token verified before (the cache holds it until its exp), of an allowed organization. */
  cached(req: IncomingMessage): ResolveQuery | undefined;
  /** The caller's query, or throws the HttpError to answer with (401, 403, 400, 503). */
  authenticate(req: IncomingMessage, search: string): Promise<ResolveQuery>;
}

export function createAuthenticator({ oidc, apiKeys, organizations, metrics, logger }: AuthenticatorOptions): Authenticator {
  function refusal(req: IncomingMessage, status: number, reason: string, code: string, message: string): HttpError {
    metrics.authFailures.inc({ reason });
    logger.warn({ route: '/v1/policy', status, reason, remote: req.socket.remoteAddress }, `refused: ${message}`);
    return new HttpError(status, code, message, status === 401 ? { 'www-authenticate': 'Bearer realm="egressctl", ApiKey realm="egressctl"' } : {});
  }

  function cached(req: IncomingMessage): ResolveQuery | undefined {
    const header = req.headers.authorization;
    if (header === undefined || header.length <= 7 || header.slice(0, 7).toLowerCase() !== 'bearer ') return undefined;
    const identity = oidc.cached(header.slice(7).trim());
    if (!identity) return undefined;
    if (organizations && !organizations.has(identity.organization.toLowerCase())) return undefined;
    return { organization: identity.organization, repository: identity.repository, workflow: identity.workflowRef };
  }

  async function authenticate(req: IncomingMessage, search: string): Promise<ResolveQuery> {
    const header = req.headers.authorization;
    const refuse = (status: number, reason: string, code: string, message: string): never => {
      throw refusal(req, status, reason, code, message);
    };
    if (!header) return refuse(401, 'missing', 'unauthenticated', 'send Authorization: Bearer <GitHub Actions OIDC token> or ApiKey <key>');
    const space = header.indexOf(' ');
    const scheme = (space === -1 ? header : header.slice(0, space)).toLowerCase();
    const credentials = space === -1 ? '' : header.slice(space + 1).trim();
    if (credentials === '') return refuse(401, 'missing', 'unauthenticated', `the ${scheme} credentials are empty`);

    let query: ResolveQuery;
    if (scheme === 'bearer') {
      const outcome = await oidc.verify(credentials);
      if (!outcome.ok) {
        return refuse(outcome.status, outcome.reason, outcome.status === 503 ? 'unavailable' : 'invalid_token', outcome.message);
      }
      // Query parameters are ignored: who is asking is what the token says.
      query = {
        organization: outcome.identity.organization,
        repository: outcome.identity.repository,
        workflow: outcome.identity.workflowRef,
      };
    } else if (scheme === 'apikey') {
      const params = new URLSearchParams(search);
      const entry = apiKeys.lookup(credentials);
      if (!entry) return refuse(401, 'api_key', 'invalid_api_key', 'the API key is not known to this server');
      const repository = params.get('repository')?.trim() ?? '';
      const workflowParam = params.get('workflow') ?? '';
      if (repository.length > MAX_QUERY_VALUE_LENGTH || workflowParam.length > MAX_QUERY_VALUE_LENGTH) {
        throw new HttpError(400, 'bad_request', `repository and workflow must be at most ${MAX_QUERY_VALUE_LENGTH} characters`);
      }
      if (!/^[A-Za-z0-9][A-Za-z0-9-]*\/[A-Za-z0-9._-]+$/.test(repository)) {
        throw new HttpError(400, 'bad_request', 'with an API key, give ?repository=OWNER/REPO (and &workflow=.github/workflows/F.yml)');
      }
      const organization = repository.split('/')[0]?.toLowerCase() ?? '';
      if (!entry.organizations.includes(organization)) {
        return refuse(403, 'api_key_scope', 'forbidden', `API key "${entry.name}" is not allowed to ask about organization "${organization}"`);
      }
      // The key decides the cluster; a hook that names one must name the key's (catches a mix-up).
      const cluster = params.get('cluster')?.trim().toLowerCase();
      if (cluster && cluster !== entry.cluster) {
        return refuse(403, 'api_key_scope', 'forbidden', `API key "${entry.name}" belongs to cluster "${entry.cluster}", not "${cluster.slice(0, 64)}"`);
      }
      query = { organization, repository, cluster: entry.cluster };
      const workflow = params.get('workflow')?.trim();
      if (workflow) {
        const key = workflowKey(workflow, repository);
        if (!key || !key.startsWith(`${repository.toLowerCase()}/.github/workflows/`) || !/\.ya?ml$/.test(key)) {
          throw new HttpError(400, 'bad_request', `workflow must be .github/workflows/F.yml of ${repository} (or its workflow_ref), not "${workflow.slice(0, 200)}"`);
        }
        query.workflow = key;
      }
    } else {
      return refuse(401, 'scheme', 'unauthenticated', `unsupported authorization scheme "${scheme.slice(0, 20)}": use Bearer or ApiKey`);
    }
    const organization = query.organization?.toLowerCase() ?? '';
    if (organizations && !organizations.has(organization)) {
      return refuse(403, 'organization', 'forbidden', `organization "${organization}" is not served by this server`);
    }
    return query;
  }

  return { cached, authenticate };
}
