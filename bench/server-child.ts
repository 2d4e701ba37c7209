/**
 * The server under load, in its own process so the load generator (autocannon, in the parent)
 * does not share its event loop. Started by bench/server.ts with fork(); options come as JSON
 * in argv[2]; answers {url} once listening and {rss} when asked.
 */
import { pino } from 'pino';
import { startServer, type StartServerOptions } from '../src/server/index.js';

const options = JSON.parse(process.argv[2] ?? '{}') as StartServerOptions;
const server = await startServer({ ...options, port: 0, logger: pino({ level: 'warn' }, pino.destination(2)) });
process.on('message', (message: { type: string }) => {
  if (message.type === 'rss') process.send?.({ type: 'rss', rss: process.memoryUsage().rss });
  if (message.type === 'close') void server.close().then(() => process.exit(0));
});
process.send?.({ type: 'ready', url: server.url });
