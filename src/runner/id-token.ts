/**
 * The job's GitHub Actions OIDC token, as actions/core's getIDToken gets it: GET
 * $ACTIONS_ID_TOKEN_REQUEST_URL&audience=AUD with the request token, answer `{"value": jwt}`.
 * The two variables exist only when the job has `permissions: id-token: write`.
 */
import { PolicyFetchError } from './policy-client.js';
import { messageOf } from '../util/errors.js';
import { fetchBoundedText } from '../util/bounded-fetch.js';

export async function requestIdToken(env: NodeJS.ProcessEnv, audience: string, timeoutMs = 5_000): Promise<string> {
  const requestUrl = env.ACTIONS_ID_TOKEN_REQUEST_URL;
  const requestToken = env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
  if (!requestUrl || !requestToken) {
    throw new PolicyFetchError('no OIDC token available: give the job `permissions: id-token: write`', false);
  }
  const url = new URL(requestUrl);
  if (audience) url.searchParams.set('audience', audience);
  let lastError = '';
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      // A token answer is a few KiB: cap it, and let the deadline cover the body too.
      const response = await fetchBoundedText(
        url,
        { headers: { authorization: `Bearer ${requestToken}`, accept: 'application/json; api-version=2.0' } },
        { maxBytes: 64 * 1024, timeoutMs },
      );
      const text = response.text;
      if (response.status === 200) {
        const value = (JSON.parse(text) as { value?: unknown }).value;
        if (typeof value === 'string' && value.split('.').length === 3) return value;
        throw new PolicyFetchError('the OIDC token endpoint answered without a token', false);
      }
      lastError = `the OIDC token endpoint answered ${response.status}`;
      if (response.status < 500 && response.status !== 429) break;
    } catch (error) {
      if (error instanceof PolicyFetchError) throw error;
      lastError = `cannot get an OIDC token: ${messageOf(error)}`;
    }
    if (attempt < 3) await new Promise((resolve) => setTimeout(resolve, 300 * attempt));
  }
  throw new PolicyFetchError(lastError, true);
}
