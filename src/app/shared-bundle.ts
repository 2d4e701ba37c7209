/**
 * The bundle the App's replicas share (docs/github-app.md, "Durable work"): in the Redis of
 * their work queue (EGRESSCTL_QUEUE), so that a push delivered to one replica is served by all
 * of them within seconds (src/server/peers.ts adopts it on each):
 *
 *   PREFIX:bundle:current    hash: envelope (exactly as published), revision, committedAt, committedAtMs
 *   PREFIX:bundle:published  pub/sub channel: the revision just stored
 *
 * A bundle is stored by one Lua script (atomic in Redis) that refuses to go back: the same
 * revision changes nothing, and an older `committedAt` than the stored one is refused, unless
 * the caller showed (by the publish's own ordering: git ancestry) that it descends from exactly
 * the revision stored now. Two replicas publishing at once never leave the older one stored.
 */
import { Redis } from 'ioredis';
import { stepsBack, type Ordering, type RevisionPoint } from '../bundle/revision-order.js';
import type { BundlePeers, ShareResult } from '../server/peers.js';

export interface RedisBundlePeersOptions {
  /** redis://[user:password@]HOST:PORT[/DB] (rediss:// for TLS): the work queue's. */
  url: string;
  /** Key prefix; replicas of one App share it. Default `egressctl`, as the work queue's. */
  prefix?: string;
}

/**
 * KEYS: the current bundle's hash. ARGV: envelope, revision, committedAt, committedAtMs,
 * the stored revision the caller's ordering accepted going forward from ('' for none), channel.
 */
const SHARE_LUA = `
local stored = redis.call('HMGET', KEYS[1], 'revision', 'committedAtMs')
local revision, storedMs = stored[1], stored[2]
if revision == ARGV[2] then return {'unchanged', revision, ''} end
if revision and revision ~= ARGV[5] and tonumber(storedMs) > tonumber(ARGV[4]) then
  return {'newer', revision, redis.call('HGET', KEYS[1], 'committedAt') or ''}
end
redis.call('HSET', KEYS[1], 'envelope', ARGV[1], 'revision', ARGV[2], 'committedAt', ARGV[3], 'committedAtMs', ARGV[4])
redis.call('PUBLISH', ARGV[6], ARGV[2])
return {'stored', ARGV[2], ''}
`;

type ScriptedRedis = Redis & { egressctlShareBundle(...args: string[]): Promise<[string, string, string]> };

export class RedisBundlePeers implements BundlePeers {
  readonly description: string;
  private readonly key: string;
  private readonly channel: string;
  private subscriber: Redis | undefined;

  private constructor(private readonly client: ScriptedRedis, options: RedisBundlePeersOptions) {
    const prefix = options.prefix ?? 'egressctl';
    this.key = `${prefix}:bundle:current`;
    this.channel = `${prefix}:bundle:published`;
    this.description = `redis ${new URL(options.url).host}`;
  }

  /** Connected when this resolves: an unreachable Redis fails at start, with its address. */
  static async open(options: RedisBundlePeersOptions): Promise<RedisBundlePeers> {
    const client = new Redis(options.url, { lazyConnect: true, maxRetriesPerRequest: 2, commandTimeout: 10_000, connectTimeout: 10_000 }) as ScriptedRedis;
    // Reconnection is ioredis's; its errors surface on the commands that fail (peers.ts logs them).
    client.on('error', () => undefined);
    client.defineCommand('egressctlShareBundle', { numberOfKeys: 1, lua: SHARE_LUA });
    const peers = new RedisBundlePeers(client, options);
    try {
      await client.connect();
    } catch (error) {
      client.disconnect();
      throw new Error(`cannot reach Redis at ${peers.description.slice('redis '.length)} for the shared bundle: ${error instanceof Error ? error.message : String(error)}`);
    }
    return peers;
  }

  async latest(): Promise<string | undefined> {
    return (await this.client.hget(this.key, 'envelope')) ?? undefined;
  }

  async share(bundle: RevisionPoint & { text: string }, ordering: Ordering, replaceable?: string): Promise<ShareResult> {
    const committedAtMs = Date.parse(bundle.committedAt);
    if (!Number.isFinite(committedAtMs)) throw new Error(`bundle ${bundle.revision} has no valid committedAt ("${bundle.committedAt}")`);
    const [storedRevision, storedCommittedAt] = await this.client.hmget(this.key, 'revision', 'committedAt');
    let forwardFrom = '';
    if (storedRevision && storedRevision === replaceable && storedRevision !== bundle.revision) {
      // One this replica refused (a signature it does not trust): its order means nothing.
      forwardFrom = storedRevision;
    } else if (storedRevision && storedCommittedAt && storedRevision !== bundle.revision) {
      // The ordering the server's store applies to this publish (ancestry when the App can tell, else commit dates).
      const stepBack = await stepsBack({ revision: storedRevision, committedAt: storedCommittedAt }, bundle, ordering, 'published');
      if (stepBack) return { status: 'newer', revision: storedRevision, reason: stepBack };
      forwardFrom = storedRevision;
    }
    // Stored meanwhile by another replica: the script compares with that one by date.
    const [status, revision, committedAt] = await this.client.egressctlShareBundle(
      this.key,
      bundle.text,
      bundle.revision,
      bundle.committedAt,
      String(committedAtMs),
      forwardFrom,
      this.channel,
    );
    if (status === 'newer') {
      return { status, revision, reason: `revision ${bundle.revision} (committed ${bundle.committedAt}) is older than the published ${revision} (committed ${committedAt})` };
    }
    return { status: status === 'stored' ? 'stored' : 'unchanged', revision };
  }

  async subscribe(onShared: () => void): Promise<void> {
    // A connection in subscriber mode takes no other command: its own. ioredis subscribes again
    // after a reconnect; what was published meanwhile is caught by the re-check on 'ready'.
    const subscriber = this.client.duplicate({ lazyConnect: true });
    subscriber.on('error', () => undefined);
    let first = true;
    subscriber.on('ready', () => {
      if (!first) onShared();
      first = false;
    });
    subscriber.on('message', (channel: string) => {
      if (channel === this.channel) onShared();
    });
    this.subscriber = subscriber;
    await subscriber.connect();
    await subscriber.subscribe(this.channel);
  }

  async close(): Promise<void> {
    await Promise.all([this.subscriber, this.client].map((client) => client?.quit().catch(() => client.disconnect())));
  }
}
