/**
 * Standalone entry: `node dist/app/main.js` runs the app on Probot's own server (PORT, default
 * 3000), with egressctl's GitHub client (src/github/client.ts). Equivalent to
 * `probot run ./dist/app/index.js`, which uses Probot's default Octokit. Without a local policy
 * repository the App reaches GitHub Enterprise Server through GHE_HOST (docs/github-app.md).
 */
import { run } from 'probot';
import { gitHubClientClass } from '../github/client.js';
import { appFromEnv } from './standalone.js';

const app = await appFromEnv(process.env, process.cwd());
await run(app.appFn, { Octokit: gitHubClientClass() });
