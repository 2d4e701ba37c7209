/**
 * Fencing of GitHub writes (docs/architecture.md#races-the-controller-closes): a unit of the App's work that
 * may have lost its job to another replica (its lock expired while its event loop was blocked or
 * Redis was out of reach) must not go on writing. A unit runs inside `withWriteFence`; every
 * client it uses is `fenceWrites`-ed, so that before each content-changing request (create ref,
 * file PUT, pulls/create, variable writes, check updates) the fence asks whether the unit still
 * holds its job. Once it does not, that request and every later one of the unit are refused
 * with LostOwnershipError, and the unit stops, leaving the work to the replica that holds it.
 *
 * GitHub takes no fencing token, so this is check-then-write: a pause between the check and the
 * request leaving is not covered (milliseconds, against the whole unit before). The writes
 * themselves are conditional where GitHub allows it (a ref created once, a file PUT against its
 * blob sha, one open pull request per head), and the repository sync looks for its branch and
 * pull request before creating them, so a second writer converges on the same branch and PR.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** The unit no longer holds its job: it stopped before this write; another replica does the work. */
export class LostOwnershipError extends Error {
  override readonly name = 'LostOwnershipError';
}

export class WriteFence {
  /** Set once a check found the job taken: every later write is refused without asking again. */
  lost: LostOwnershipError | undefined;

  /**
   * `owned`: true while the unit holds its job (the queue's lease; throws when it cannot tell,
   * which fails the write like any GitHub error). `unit`: named in the error.
   */
  constructor(
    private readonly owned: () => Promise<boolean>,
    private readonly unit: string,
  ) {}

  /** Resolves when the unit still holds its job; else throws LostOwnershipError (and keeps throwing). */
  async confirm(before: string): Promise<void> {
    if (this.lost) throw this.lost;
    if (await this.owned()) return;
    this.lost = new LostOwnershipError(`${this.unit}: stopped before ${before}: this replica no longer holds the job (its lock expired, e.g. the event loop was blocked longer than the lock); the replica that holds it now does the work`);
    throw this.lost;
  }
}

const current = new AsyncLocalStorage<WriteFence>();

/** Run `work` with `fence` guarding every write of a fenced client it makes (and of what it starts). */
export function withWriteFence<T>(fence: WriteFence, work: () => Promise<T>): Promise<T> {
  return current.run(fence, work);
}

/** Confirm the current unit's fence before a write that is not a GitHub request (the sync state); nothing outside a fence. */
export async function confirmFence(before: string): Promise<void> {
  await current.getStore()?.confirm(before);
}

interface HookedClient {
  hook: { before(name: 'request', hook: (options: { method?: string; url?: string }) => Promise<void>): void };
}

const fenced = new WeakSet<object>();

/**
 * Make `client`'s writes ask the fence of the unit that makes them (read at the call, so a client
 * shared by several units asks the right one; outside a fence nothing is asked). Once per client.
 * The hook wraps the whole request: a refused write never reaches the retry or throttling plugins.
 */
export function fenceWrites<C extends HookedClient>(client: C): C {
  if (fenced.has(client)) return client;
  fenced.add(client);
  client.hook.before('request', async (options) => {
    const method = (options.method ?? 'GET').toUpperCase();
    if (method === 'GET' || method === 'HEAD') return;
    await current.getStore()?.confirm(`${method} ${options.url ?? ''}`);
  });
  return client;
}

/**
 * Run one attempt of a unit under a fence on its lease (`owned`: the queue's WorkLease.owned):
 * once it no longer holds its item, its fenced writes are refused and the attempt ends with
 * LostOwnershipError, which the queue neither records as a failure nor retries. A refused write
 * that the unit turned into a result on the way (a failed rollout, a logged and swallowed error)
 * still ends the attempt as lost.
 */
export async function runFenced<T>(owned: () => Promise<boolean>, unit: string, work: (fence: WriteFence) => Promise<T>): Promise<T> {
  const fence = new WriteFence(owned, unit);
  try {
    const result = await withWriteFence(fence, () => work(fence));
    if (fence.lost) throw fence.lost;
    return result;
  } catch (error) {
    throw fence.lost ?? error;
  }
}
