/**
 * The app outside `egressctl serve` (Probot's own runner): settings from the environment, bundles
 * published to EGRESSCTL_BUNDLE_FILE (servers read it with `--source FILE`).
 */
import path from 'node:path';
import { loadPrivateKey } from '../bundle/keys.js';
import { createEgressctlApp, type EgressctlApp } from './app.js';
import { BUNDLE_FILE_ENV, readAppConfig, signKeyPaths } from './config.js';
import { filePublisher } from './publish.js';

export async function appFromEnv(env: NodeJS.ProcessEnv, cwd: string): Promise<EgressctlApp> {
  const config = readAppConfig(env);
  const signKeys = await Promise.all(signKeyPaths(env, cwd).map((file) => loadPrivateKey(file)));
  const bundleFile = env[BUNDLE_FILE_ENV]?.trim();
  return createEgressctlApp({
    config,
    signKeys,
    ...(bundleFile ? { publisher: filePublisher(path.resolve(cwd, bundleFile)) } : {}),
  });
}
