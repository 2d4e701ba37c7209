/**
 * The work queue the App's settings name (config.ts `queue`): the journal in the state directory
 * (one replica), or Redis with BullMQ (several replicas). The sync state follows the same
 * setting: `sync-report.json` in the state directory, or the same Redis (sync-state-redis.ts).
 */
import type { AppLogger } from './delivery-guard.js';
import type { QueueConfig } from './config.js';
import { logWorkError, type WorkQueue } from './queue.js';
import { FileWorkQueue } from './queue-file.js';
import { FileSyncStateStore, type SyncStateStore } from '../rollout/sync-state.js';

export async function openWorkQueue(config: QueueConfig, log: Pick<AppLogger, 'warn' | 'info'>): Promise<WorkQueue> {
  const onError = (item: { id: string; kind: string; attempts: number }, error: unknown) => logWorkError(log, item, error);
  if (config.kind === 'redis') {
    const { RedisWorkQueue } = await import('./queue-redis.js');
    return RedisWorkQueue.open({ url: config.url, onError });
  }
  const queue = await FileWorkQueue.open({ dir: config.dir, onError });
  const pending = queue.pendingNow();
  if (pending > 0) log.info({ pending, journal: queue.description }, 'work queue: picking up what the last run journaled');
  return queue;
}

/** Each repository's last sync outcome: in `dir` (one replica), or beside the queue in Redis (several replicas share it). */
export async function openSyncState(config: QueueConfig, dir: string): Promise<SyncStateStore> {
  if (config.kind === 'redis') {
    const { RedisSyncStateStore } = await import('./sync-state-redis.js');
    return RedisSyncStateStore.open({ url: config.url });
  }
  return new FileSyncStateStore(dir);
}
