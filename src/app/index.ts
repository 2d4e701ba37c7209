/**
 * The egressctl GitHub App (docs/architecture.md#github-app). Public API, and the default export Probot's runner loads:
 * `probot run ./dist/app/index.js` (settings from the environment; see docs/github-app.md).
 * Inside `egressctl serve`, src/app/server-mount.ts mounts the same app on the server's port.
 */
import type { ApplicationFunction } from 'probot';
import { appFromEnv } from './standalone.js';

export { createEgressctlApp, type EgressctlApp, type EgressctlAppOptions } from './app.js';
export { guardDeliveries, type WebhookApp } from './delivery-guard.js';
export {
  BUNDLE_FILE_ENV,
  CACHE_DIR_ENV,
  GIT_URL_TEMPLATE_ENV,
  POLICY_REPOSITORY_ENV,
  SIGN_KEY_ENV,
  gitUrl,
  readAppConfig,
  type AppConfig,
} from './config.js';
export { GitMirrors, MissingCommitError, authEnv, type FetchSource } from './git-mirror.js';
export { handlePullRequest, handlePush, type HandlerDeps } from './handlers.js';
export { gitHubClientClass, type ClientTuning } from '../github/client.js';
export { filePublisher, serverPublisher, type BundlePublisher } from './publish.js';
export { DeliveryLog, KeyedQueue } from './queue.js';
export { PUBLISH_CHECK_NAME, REVIEW_MARKER, VALIDATE_CHECK_NAME } from './render.js';
export { appCredentials, createWebhookHandler, type WebhookMount, type WebhookMountOptions } from './server-mount.js';
export { appFromEnv } from './standalone.js';

const egressctlApp: ApplicationFunction = async (app, options) => {
  const egressctl = await appFromEnv(process.env, process.cwd());
  await egressctl.appFn(app, options);
};
export default egressctlApp;
