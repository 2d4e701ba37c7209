/**
 * Standalone entry: `node dist/app/main.js` runs the app on Probot's own server (PORT, default
 * 3000), with the app's throttling bounds (src/app/octokit.ts). Equivalent to
 * `probot run ./dist/app/index.js`, which uses Probot's default Octokit.
 */
import { run } from 'probot';
import { appOctokit } from './octokit.js';
import { appFromEnv } from './standalone.js';

const app = await appFromEnv(process.env, process.cwd());
await run(app.appFn, { Octokit: appOctokit() });
