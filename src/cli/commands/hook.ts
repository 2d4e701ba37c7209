/**
 * `egressctl hook job-started`: for a self-hosted or ARC runner's ACTIONS_RUNNER_HOOK_JOB_STARTED.
 * Asks the server for the job's policy with the runner's API key (the key decides the cluster;
 * GITHUB_REPOSITORY and GITHUB_WORKFLOW_REF say which job); with --public-key the answer must be
 * a signed envelope bound to this job (docs/architecture.md, "Runner side: signed answers").
 * Caches it per scope, falls back to the cache when the server cannot be reached, and hands the
 * policy to the job: printed in the job log, written as JSON to --output (lockdown mode
 * included), and exported through GITHUB_ENV (EGRESSCTL_POLICY as the managed step's JSON,
 * EGRESSCTL_LOCKDOWN_MODE, EGRESS_POLICY, ALLOWED_ENDPOINTS, ...) before any `pre:` step runs.
 *
 * Exits non-zero only with --fail-closed, and then only when no policy could be had at all
 * (a failing job-started hook fails the job).
 */
import { mkdir } from 'node:fs/promises';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../../util/fs.js';
import { appendGithubFile } from '../../runner/github-files.js';
// The same client as the composite action (src/runner/action.ts), hence the same imports.
import {
  answerTrust,
  defaultCacheDir,
  describeError,
  fetchPolicy,
  obtainPolicy,
  ON_ERROR_VALUES,
  PolicyFetchError,
  policyVariableValue,
  type ObtainedPolicy,
  type OnError,
} from '../../runner/policy-client.js';
import { hookClusterLine } from '../../baselines/cluster.js';
import { envSetting } from '../../util/env-names.js';
import { UsageError } from '../../util/errors.js';
import { parseCommandArgs, type CliIo, type Command } from '../io.js';

const USAGE = [
  'egressctl hook job-started [--server URL] [--cluster NAME] [--api-key-file FILE] [--output FILE]',
  '                           [--public-key FILE] [--on-error audit|block] [--fail-closed] [--timeout SECONDS]',
  '',
  'Environment: EGRESSCTL_SERVER, EGRESSCTL_CLUSTER, EGRESSCTL_API_KEY (or EGRESSCTL_API_KEY_FILE),',
  'EGRESSCTL_PUBLIC_KEY (a file: the bundle\'s public key; answers and the cache must verify with it),',
  'GITHUB_REPOSITORY, GITHUB_WORKFLOW_REF (set by the runner), RUNNER_TEMP, GITHUB_ENV.',
].join('\n');

// Every command has this shape (name, summary, usage, run parsing its flags): alike by design.
export const command: Command = {
  name: 'hook',
  summary: 'self-hosted runner job-started hook: fetch the policy and hand it to the job',
  usage: USAGE,
  async run(args: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs(
      args,
      {
        server: { type: 'string' },
        cluster: { type: 'string' },
        'api-key': { type: 'string' },
        'api-key-file': { type: 'string' },
        output: { type: 'string' },
        'on-error': { type: 'string' },
        'fail-closed': { type: 'boolean' },
        timeout: { type: 'string' },
        'public-key': { type: 'string' },
      },
      USAGE,
    );
    const [event, ...extra] = positionals;
    if (event !== 'job-started') throw new UsageError(`say which hook: egressctl hook job-started\nusage: ${USAGE}`);
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"\nusage: ${USAGE}`);
    const env = io.env;
    const failClosed = values['fail-closed'] === true || /^(1|true|yes)$/i.test(envSetting(env, 'fail-closed') ?? '');
    const onErrorText = (values['on-error'] ?? envSetting(env, 'on-error') ?? 'audit').toLowerCase();
    if (onErrorText === 'fail' || !ON_ERROR_VALUES.includes(onErrorText as OnError)) {
      throw new UsageError(`--on-error must be audit or block (use --fail-closed to fail the job), not "${onErrorText}"`);
    }
    const onError = onErrorText as Exclude<OnError, 'fail'>;
    const timeoutText = values.timeout ?? envSetting(env, 'timeout');
    const timeoutMs = timeoutText === undefined ? 5_000 : Number(timeoutText) * 1000;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > 120_000) throw new UsageError(`--timeout must be 1..120 seconds, not "${timeoutText}"`);

    const outputFile = path.resolve(io.cwd, values.output ?? envSetting(env, 'output') ?? path.join(env.RUNNER_TEMP || tmpdir(), 'egressctl', 'policy.json'));
    const fail = async (message: string): Promise<number> => {
      io.stderr(`egressctl hook: ${message}\n`);
      if (failClosed) return 1;
      // Fail open: hand the job the on-error mode so that what happened is visible in its env.
      const obtained: ObtainedPolicy = {
        origin: 'on-error',
        inputs: { 'egress-policy': onError, 'allowed-endpoints': '', 'disable-sudo': 'false', 'disable-sudo-and-containers': 'false', 'disable-file-monitoring': 'false', 'disable-telemetry': 'false' },
        error: message,
        notes: [],
      };
      await handOver(io, obtained, outputFile);
      return 0;
    };

    const server = values.server ?? envSetting(env, 'server');
    if (!server || !/^https?:\/\/\S+$/.test(server)) return fail(`set EGRESSCTL_SERVER (or --server) to the egressctl server's URL${server ? `, not "${server}"` : ''}`);
    const repository = env.GITHUB_REPOSITORY;
    if (!repository) return fail('GITHUB_REPOSITORY is not set: run this as the runner\'s ACTIONS_RUNNER_HOOK_JOB_STARTED hook');
    const workflowRef = env.GITHUB_WORKFLOW_REF;
    const cluster = values.cluster ?? envSetting(env, 'cluster');
    // In the job log ("Set up runner"), where `baseline from-log` and the App read which cluster ran the job.
    if (cluster) io.stdout(`${hookClusterLine(cluster.trim().toLowerCase())}\n`);
    let apiKey = values['api-key'] ?? envSetting(env, 'api-key');
    const keyFile = values['api-key-file'] ?? envSetting(env, 'api-key-file');
    if (!apiKey && keyFile) {
      try {
        apiKey = (await readFile(path.resolve(io.cwd, keyFile), 'utf8')).trim();
      } catch (error) {
        return fail(`cannot read the API key file ${keyFile}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
      }
    }
    if (!apiKey) return fail('no API key: set EGRESSCTL_API_KEY or EGRESSCTL_API_KEY_FILE');

    const scope = { server, repository, ...(workflowRef ? { workflow: workflowRef } : {}), ...(cluster ? { cluster } : {}) };
    const publicKeyFile = values['public-key'] ?? envSetting(env, 'public-key');
    let keyText: string | undefined;
    let keyProblem: string | undefined;
    if (publicKeyFile) {
      try {
        keyText = await readFile(path.resolve(io.cwd, publicKeyFile), 'utf8');
      } catch (error) {
        // Unreadable key: nothing can verify, so neither the server nor the cache is trusted (on-error).
        keyText = 'unreadable';
        keyProblem = `cannot read the public key ${publicKeyFile}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`;
      }
    } else {
      io.stderr('egressctl hook: warning: no --public-key: answers and the cache are not verified (anyone who can answer for the server decides the job\'s policy)\n');
    }
    const expected = { repository, ...(workflowRef ? { workflow: workflowRef } : {}), ...(cluster ? { cluster } : {}) };
    const trusted = answerTrust(keyText, expected);
    const problem = keyProblem ?? trusted?.problem;
    let obtained: ObtainedPolicy;
    try {
      obtained = await obtainPolicy({
        cacheDir: defaultCacheDir(env),
        scope,
        onError: failClosed ? 'fail' : onError,
        ...(trusted ? { trust: trusted.trust } : {}),
        fetch: () => {
          if (problem) throw new PolicyFetchError(problem, false);
          return fetchPolicy({
            server,
            authorization: `ApiKey ${apiKey}`,
            query: { repository, workflow: workflowRef, cluster },
            timeoutMs,
            userAgent: 'egressctl-hook',
            ...(trusted ? { trust: trusted.trust } : {}),
          });
        },
      });
    } catch (error) {
      io.stderr(`egressctl hook: cannot get the egress policy: ${describeError(error)}\n`);
      return 1;
    }
    for (const note of obtained.notes) io.stdout(`egressctl: ${note}\n`);
    await handOver(io, obtained, outputFile);
    return 0;
  },
};

/** Print, write --output, export GITHUB_ENV. */
async function handOver(io: CliIo, obtained: ObtainedPolicy, outputFile: string): Promise<void> {
  const { inputs, answer } = obtained;
  const document = {
    source: obtained.origin,
    revision: answer?.revision ?? null,
    policy: answer?.policy ?? null,
    scope: answer?.scope ?? null,
    fetchedAt: obtained.fetchedAt ?? null,
    error: obtained.error ?? null,
    config: {
      'egress-policy': inputs['egress-policy'],
      'allowed-endpoints': inputs['allowed-endpoints'],
      'disable-sudo': inputs['disable-sudo'] === 'true',
      'disable-sudo-and-containers': inputs['disable-sudo-and-containers'] === 'true',
      'disable-file-monitoring': inputs['disable-file-monitoring'] === 'true',
      'disable-telemetry': inputs['disable-telemetry'] === 'true',
    },
    'lockdown-mode': answer?.['lockdown-mode'] ?? null,
  };
  io.stdout(`egressctl: egress-policy=${inputs['egress-policy']} allowed-endpoints=${inputs['allowed-endpoints'] || '(none)'} (source: ${obtained.origin})\n`);
  await mkdir(path.dirname(outputFile), { recursive: true });
  await writeFileAtomic(outputFile, `${JSON.stringify(document, null, 2)}\n`);
  io.stdout(`egressctl: policy written to ${outputFile}\n`);
  const envFile = io.env.GITHUB_ENV;
  if (envFile) {
    const lockdown = answer?.['lockdown-mode'] ?? null;
    await appendGithubFile(envFile, {
      EGRESS_POLICY: inputs['egress-policy'],
      ALLOWED_ENDPOINTS: inputs['allowed-endpoints'],
      DISABLE_SUDO: inputs['disable-sudo'],
      DISABLE_SUDO_AND_CONTAINERS: inputs['disable-sudo-and-containers'],
      DISABLE_FILE_MONITORING: inputs['disable-file-monitoring'],
      DISABLE_TELEMETRY: inputs['disable-telemetry'],
      // The managed step's first choice, `fromJSON(env.EGRESSCTL_POLICY || vars...)` (docs/reconciliation.md).
      EGRESSCTL_POLICY: policyVariableValue(inputs, answer?.policy ?? null),
      EGRESSCTL_POLICY_NAME: answer?.policy ?? '',
      EGRESSCTL_REVISION: answer?.revision ?? '',
      EGRESSCTL_POLICY_SOURCE: obtained.origin,
      EGRESSCTL_POLICY_FILE: outputFile,
      EGRESSCTL_LOCKDOWN_MODE: lockdown?.enabled ? 'true' : 'false',
      EGRESSCTL_LOCKDOWN_DETECTIONS: lockdown?.enabled ? lockdown.detections.join(',') : '',
    });
  }
}
