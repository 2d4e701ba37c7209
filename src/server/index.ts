/** Public API of the server (for `egressctl serve`, the GitHub App and the web console). */
export {
  WEBHOOK_PATH,
  DEFAULT_HOST,
  DEFAULT_PORT,
  MAX_WAIT_SECONDS,
  type PolicyAnswer,
  type PublishOptions,
  type ReadinessReport,
} from './api.js';
export { etagMatches } from './http.js';
export { type HistoryProvider } from './routes.js';
export {
  startServer,
  type ConsoleHandler,
  type RunningServer,
  type ServerState,
  type StartServerOptions,
} from './server.js';
export { type OfferResult, type Problem, type ServedBundle, type SourceStatus, STATE_BUNDLE_FILE } from './store.js';
export { hashApiKey, checkNewApiKey, loadApiKeyFile, parseApiKeyFile, type ApiKeyEntry } from './auth/api-keys.js';
export { GITHUB_OIDC_ISSUER, type OidcOptions } from './auth/oidc.js';
