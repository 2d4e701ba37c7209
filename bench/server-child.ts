/**
 * The server under load, in its own process so the load generator (autocannon, in the parent)
 * does not share its event loop. Started by bench/server.ts with fork(); options come as JSON
 * in argv[2]; answers {url} once listening, {rss} when asked, and {loop} (event-loop delay
 * since the last `loop-reset`: max and p99 in ms) when asked.
 */
import { createPrivateKey } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pino } from 'pino';
import { startServer, type StartServerOptions } from '../src/server/index.js';

const { signKeyPem, ...options } = JSON.parse(process.argv[2] ?? '{}') as StartServerOptions & { signKeyPem?: string };
const server = await startServer({
  ...options,
  ...(signKeyPem ? { signKeys: [createPrivateKey(signKeyPem)] } : {}),
  port: 0,
  logger: pino({ level: 'warn' }, pino.destination(2)),
});
const loopDelay = monitorEventLoopDelay({ resolution: 5 });
loopDelay.enable();
process.on('message', (message: { type: string }) => {
  if (message.type === 'rss') process.send?.({ type: 'rss', rss: process.memoryUsage().rss });
  if (message.type === 'loop-reset') loopDelay.reset();
  if (message.type === 'loop') process.send?.({ type: 'loop', max: loopDelay.max / 1e6, p99: loopDelay.percentile(99) / 1e6 });
  if (message.type === 'close') void server.close().then(() => process.exit(0));
});
process.send?.({ type: 'ready', url: server.url });
