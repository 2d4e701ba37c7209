/** The GitHub stand-in for tests: documented in test/support/README.md. */
export {
  startGitHubStandin,
  GitHubStandin,
  type StandinOptions,
  type Violation,
  type ViolationKind,
  type RequestRecord,
  type RequestStats,
  type FaultRule,
  type DelayRule,
  type WebhookPayloadOptions,
  type StandinDelivery,
  type WorkflowJobInput,
} from './standin.js';
export { deliverWebhook, signWebhookBody, webhookExample, type WebhookRequest, type WebhookResponse } from './webhooks.js';
export { loadGitHubOpenApi, type OpenApiRoutes, type Operation } from './openapi.js';
export { MAX_COMMENT_LENGTH } from './handlers.js';
export { startOAuthWeb, type OAuthWeb } from './oauth-web.js';
export {
  DEFAULT_INSTALLATION_PERMISSIONS,
  type Permissions,
  type InstallationRecord,
  type RepositoryRecord,
  type PullRequestRecord,
  type CommentRecord,
  type CheckRunRecord,
  type AnnotationRecord,
  type StatusRecord,
  type WorkflowJobRecord,
  type Actor,
} from './world.js';
export { type VariableRecord } from './variables.js';
