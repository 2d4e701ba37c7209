/**
 * Step 1 of actions/harden (bundled to actions/harden/dist/index.js; node built-ins only):
 * get the job's OIDC token for the audience, ask the egressctl server for the job's effective
 * policy, and write Harden-Runner's inputs as step outputs; step 2 runs Harden-Runner with them.
 * When the server cannot answer: the policy cached for this scope by an earlier job, else
 * `on-error` (audit | block | fail).
 *
 * Inputs come as environment variables set by action.yml: INPUT_SERVER, INPUT_AUDIENCE,
 * INPUT_ON_ERROR.
 */
import { appendGithubFile } from './github-files.js';
import { requestIdToken } from './id-token.js';
import {
  ON_ERROR_VALUES,
  defaultCacheDir,
  describeError,
  fetchPolicy,
  obtainPolicy,
  PolicyFetchError,
  answerTrust,
  type HardenInputs,
  type ObtainedPolicy,
  type OnError,
} from './policy-client.js';

export interface ActionResult {
  exitCode: number;
  outputs?: Record<string, string>;
}

export async function runAction(env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<ActionResult> {
  const server = (env.INPUT_SERVER ?? '').trim();
  const onErrorText = (env.INPUT_ON_ERROR ?? '').trim().toLowerCase() || 'audit';
  if (!ON_ERROR_VALUES.includes(onErrorText as OnError)) {
    log(`::error title=egressctl::on-error must be audit, block or fail, not "${onErrorText}"`);
    return { exitCode: 1 };
  }
  const onError = onErrorText as OnError;
  let serverUrl: URL | undefined;
  try {
    serverUrl = new URL(server);
    if (serverUrl.protocol !== 'https:' && serverUrl.protocol !== 'http:') serverUrl = undefined;
  } catch {
    serverUrl = undefined;
  }
  if (!serverUrl) {
    log(`::error title=egressctl::the server input must be the egressctl server's http(s) URL, not "${server}"`);
    return { exitCode: 1 };
  }
  // Default audience: the server's origin, so a token for one server is not accepted by another.
  const audience = (env.INPUT_AUDIENCE ?? '').trim() || serverUrl.origin;
  const scope = {
    server: serverUrl.toString(),
    ...(env.GITHUB_REPOSITORY ? { repository: env.GITHUB_REPOSITORY } : {}),
    ...(env.GITHUB_WORKFLOW_REF ? { workflow: env.GITHUB_WORKFLOW_REF } : {}),
  };
  const cacheDir = defaultCacheDir(env);
  const trust = answerTrust(env.INPUT_PUBLIC_KEY, { repository: env.GITHUB_REPOSITORY ?? '', ...(env.GITHUB_WORKFLOW_REF ? { workflow: env.GITHUB_WORKFLOW_REF } : {}) });
  if (!trust) log('::warning title=egressctl::no public-key input: the answer and the cache are not verified (anyone who can answer for the server decides this job\'s policy)');

  let obtained: ObtainedPolicy;
  try {
    obtained = await obtainPolicy({
      cacheDir,
      scope,
      onError,
      ...(trust ? { trust: trust.trust } : {}),
      fetch: async () => {
        if (trust?.problem) throw new PolicyFetchError(trust.problem, false);
        const token = await requestIdToken(env, audience);
        // Keep the token out of the job log even if something prints it.
        log(`::add-mask::${token}`);
        return fetchPolicy({
          server: serverUrl.toString(),
          authorization: `Bearer ${token}`,
          userAgent: 'egressctl-action',
          timeoutMs: 5_000,
          attempts: 3,
          ...(trust ? { trust: trust.trust } : {}),
        });
      },
    });
  } catch (error) {
    log(`::error title=egressctl::cannot get the egress policy: ${describeError(error)}`);
    return { exitCode: 1 };
  }

  for (const note of obtained.notes) log(obtained.origin === 'server' ? `egressctl: ${note}` : `::warning title=egressctl::${note}`);
  const outputs = stepOutputs(obtained);
  log(`egressctl: egress-policy=${outputs['egress-policy']} allowed-endpoints=${outputs['allowed-endpoints'] || '(none)'}`);
  const outputFile = env.GITHUB_OUTPUT;
  if (outputFile) {
    await appendGithubFile(outputFile, outputs);
  } else {
    log('::warning title=egressctl::GITHUB_OUTPUT is not set: not running as a GitHub Actions step? outputs not written');
  }
  return { exitCode: 0, outputs };
}

export function stepOutputs(obtained: ObtainedPolicy): Record<string, string> & HardenInputs {
  const answer = obtained.answer;
  return {
    ...obtained.inputs,
    policy: answer?.policy ?? '',
    scope: answer?.scope ? `${answer.scope.type}:${answer.scope.key}` : '',
    revision: answer?.revision ?? '',
    source: obtained.origin,
    'lockdown-mode': answer?.['lockdown-mode'] ? JSON.stringify(answer['lockdown-mode']) : '',
  };
}

