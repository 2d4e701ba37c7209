/**
 * Who the CLI talks to GitHub as, and where (docs/architecture.md#github-client): a token
 * (`GITHUB_TOKEN`) or the GitHub App (`APP_ID` + `PRIVATE_KEY`/`PRIVATE_KEY_PATH`: JWT ->
 * installation of the organization -> installation token, refreshed on demand).
 */
import { readFile } from 'node:fs/promises';
import { IoError, UsageError, gitHubStatus } from '../util/errors.js';
import { appClient, installationClient, tokenClient, type ClientTarget, type ClientTuning, type GitHubClient } from './client.js';

export type GitHubCredentials =
  | { kind: 'token'; token: string }
  | { kind: 'app'; appId: string; privateKey: string };

/**
 * Credentials from the environment: `GITHUB_TOKEN` (or `GH_TOKEN`), or `APP_ID` with
 * `PRIVATE_KEY` (PEM text, `\n` escapes allowed) or `PRIVATE_KEY_PATH`.
 */
export async function credentialsFromEnv(env: NodeJS.ProcessEnv): Promise<GitHubCredentials> {
  const appId = env['APP_ID']?.trim();
  if (appId) {
    let privateKey = env['PRIVATE_KEY'];
    const keyPath = env['PRIVATE_KEY_PATH']?.trim();
    if (!privateKey && keyPath) {
      try {
        privateKey = await readFile(keyPath, 'utf8');
      } catch (error) {
        throw new IoError(`cannot read PRIVATE_KEY_PATH ${keyPath}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
      }
    }
    if (!privateKey) throw new UsageError('APP_ID is set: also set PRIVATE_KEY (the PEM text) or PRIVATE_KEY_PATH');
    return { kind: 'app', appId, privateKey: privateKey.replace(/\\n/g, '\n') };
  }
  const token = env['GITHUB_TOKEN']?.trim() || env['GH_TOKEN']?.trim();
  if (token) return { kind: 'token', token };
  throw new UsageError('no GitHub credentials: set APP_ID and PRIVATE_KEY (or PRIVATE_KEY_PATH) for the GitHub App, or GITHUB_TOKEN');
}

/** The installation of the App on an organization (or user) account. */
export async function findInstallationId(app: GitHubClient, account: string): Promise<number> {
  try {
    return (await app.rest.apps.getOrgInstallation({ org: account })).data.id;
  } catch (error) {
    if (gitHubStatus(error) !== 404) throw error;
  }
  try {
    return (await app.rest.apps.getUserInstallation({ username: account })).data.id;
  } catch (error) {
    if (gitHubStatus(error) === 404) throw new UsageError(`the GitHub App is not installed on "${account}": install it there first`);
    throw error;
  }
}

/** A client that can act on `account`'s repositories with these credentials. */
export async function clientForAccount(
  credentials: GitHubCredentials,
  account: string,
  options: ClientTuning & ClientTarget = {},
): Promise<{ client: GitHubClient; installationId?: number }> {
  if (credentials.kind === 'token') return { client: tokenClient(credentials.token, options) };
  const installationId = await findInstallationId(appClient(credentials, options), account);
  return { client: installationClient(credentials, installationId, options), installationId };
}
