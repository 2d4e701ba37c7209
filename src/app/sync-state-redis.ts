/**
 * The sync state several App replicas share (docs/github-app.md, "Sync state"): in the Redis of
 * their work queue (EGRESSCTL_QUEUE), one entry per repository, so that two replicas recording
 * different repositories at once never lose one another's, and every replica's `/sync` page and
 * `egressctl_sync_repositories` show the same thing. Per organization (lower-cased):
 *
 *   PREFIX:sync:ORG:run           hash: organization, at, dryRun, coverage (whether the run keeps coverage)
 *   PREFIX:sync:ORG:repositories  hash: owner/repo -> SyncEntry (JSON)
 *   PREFIX:sync:ORG:variables     hash: level:target:name -> VariableEntry (JSON)
 *   PREFIX:sync:ORG:coverage      hash: owner/repo -> RepositoryCoverage (JSON)
 *   PREFIX:sync:ORG:listed        set: the organization's last complete listing (lower-cased)
 *   PREFIX:sync:ORG:generation    how many listings there were: a unit queued before the last writes no row it lacks
 *   PREFIX:sync:organizations     set of ORG
 *
 * A record is one Lua script (atomic in Redis): the merge rules of sync-report.ts applied field by
 * field, never a read-modify-write of the whole report. Reads return repositories by name and
 * variables by where they are (organization first); the file keeps a run's own order.
 */
import { Redis } from 'ioredis';
import type { RepositoryCoverage } from '../coverage/model.js';
import type { OrganizationSync, RecordOptions, SyncEntry, SyncReportFile, VariableEntry } from '../rollout/sync-report.js';
import type { SyncStateStore } from '../rollout/sync-state.js';

export interface RedisSyncStateOptions {
  /** redis://[user:password@]HOST:PORT[/DB] (rediss:// for TLS): the work queue's. */
  url: string;
  /** Key prefix; replicas of one App share it. Default `egressctl`, as the work queue's. */
  prefix?: string;
}

/**
 * KEYS: run, repositories, variables, coverage, organizations, listed, generation.
 * ARGV: org key, merge (1/0), organization, at, dryRun (1/0), run has coverage (1/0), the writer's
 * listing generation ('' for none), then three lists, each a count followed by field/value pairs:
 * repositories, variables, coverage. Returns the repositories whose rows were not written: the
 * writer was queued before the organization's last listing, which does not name them.
 */
const RECORD_LUA = `
local at = 8
local function list()
  local count = tonumber(ARGV[at])
  at = at + 1
  local entries = {}
  for _ = 1, count do
    table.insert(entries, { ARGV[at], ARGV[at + 1] })
    at = at + 2
  end
  return entries
end
local repositories, variables, coverage = list(), list(), list()
local writerGeneration = tonumber(ARGV[7])
local outdated = writerGeneration ~= nil and writerGeneration < tonumber(redis.call('GET', KEYS[7]) or '0')
local dropped = {}
local function kept(entries, targetOf, report)
  if not outdated then return entries end
  local out = {}
  for _, entry in ipairs(entries) do
    local target = targetOf(entry[1])
    if target and redis.call('SISMEMBER', KEYS[6], string.lower(target)) == 0 then
      if report then table.insert(dropped, entry[1]) end
    else
      table.insert(out, entry)
    end
  end
  return out
end
local keptRepositories = kept(repositories, function(field) return field end, true)
local keptVariables = kept(variables, function(field) return string.match(field, '^repository:([^:]+):') end, false)
local keptCoverage = kept(coverage, function(field) return field end, false)
-- A write the listing left with nothing to write is not made (not even its time).
if #repositories + #variables > 0 and #keptRepositories + #keptVariables == 0 then return dropped end
local existed = redis.call('EXISTS', KEYS[1]) == 1
local hadCoverage = existed and redis.call('HGET', KEYS[1], 'coverage') == '1'
-- Without merge (or nothing before) the run replaces its organization's entries.
if not (ARGV[2] == '1' and existed) then redis.call('DEL', KEYS[2], KEYS[3]) end
local function put(key, entries)
  for _, entry in ipairs(entries) do redis.call('HSET', key, entry[1], entry[2]) end
end
put(KEYS[2], keptRepositories)
put(KEYS[3], keptVariables)
local keepsCoverage = ARGV[6] == '1' or hadCoverage
if keepsCoverage then
  -- Coverage recorded before stays for the repositories still synced; this run's replaces it.
  for _, repository in ipairs(redis.call('HKEYS', KEYS[4])) do
    if redis.call('HEXISTS', KEYS[2], repository) == 0 then redis.call('HDEL', KEYS[4], repository) end
  end
  put(KEYS[4], keptCoverage)
else
  redis.call('DEL', KEYS[4])
end
redis.call('HSET', KEYS[1], 'organization', ARGV[3], 'at', ARGV[4], 'dryRun', ARGV[5], 'coverage', keepsCoverage and '1' or '0')
redis.call('SADD', KEYS[5], ARGV[1])
return dropped
`;

/**
 * KEYS: repositories, variables, coverage, listed, generation. ARGV: the listed repositories, lower-cased.
 * Drops each repository row (its coverage, its repository variables) not listed; keeps the listing
 * as the organization's next generation; returns the names dropped.
 */
const PRUNE_LUA = `
local keep = {}
for _, name in ipairs(ARGV) do keep[name] = true end
redis.call('DEL', KEYS[4])
for first = 1, #ARGV, 1000 do redis.call('SADD', KEYS[4], unpack(ARGV, first, math.min(first + 999, #ARGV))) end
redis.call('INCR', KEYS[5])
local dropped = {}
for _, repository in ipairs(redis.call('HKEYS', KEYS[1])) do
  if not keep[string.lower(repository)] then
    redis.call('HDEL', KEYS[1], repository)
    redis.call('HDEL', KEYS[3], repository)
    table.insert(dropped, repository)
  end
end
if #dropped > 0 then
  for _, field in ipairs(redis.call('HKEYS', KEYS[2])) do
    local target = string.match(field, '^repository:([^:]+):')
    if target and not keep[string.lower(target)] then redis.call('HDEL', KEYS[2], field) end
  end
end
return dropped
`;

/** The client with our scripts defined on it (ioredis adds defined commands at run time). */
type ScriptedRedis = Redis & { egressctlSyncRecord(...args: string[]): Promise<string[]>; egressctlSyncPrune(...args: string[]): Promise<string[]> };

const variableKey = (entry: Pick<VariableEntry, 'level' | 'target' | 'name'>): string => `${entry.level}:${entry.target}:${entry.name}`;
const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function pairs<T>(entries: readonly T[], fieldOf: (entry: T) => string): string[] {
  return [String(entries.length), ...entries.flatMap((entry) => [fieldOf(entry), JSON.stringify(entry)])];
}

export class RedisSyncStateStore implements SyncStateStore {
  readonly description: string;
  private readonly prefix: string;

  private constructor(private readonly client: ScriptedRedis, options: RedisSyncStateOptions) {
    this.prefix = `${options.prefix ?? 'egressctl'}:sync`;
    const shown = new URL(options.url);
    this.description = `redis ${shown.host}`;
  }

  /** Connected when this resolves: an unreachable Redis fails at start, with its address, not at the first sync. */
  static async open(options: RedisSyncStateOptions): Promise<RedisSyncStateStore> {
    const client = new Redis(options.url, {
      lazyConnect: true,
      // A console page or a metrics scrape must not hang while Redis is away: fail, and try again next time.
      maxRetriesPerRequest: 2,
      commandTimeout: 10_000,
      connectTimeout: 10_000,
    }) as ScriptedRedis;
    // Reconnection is ioredis's; its errors surface on the commands that fail.
    client.on('error', () => undefined);
    client.defineCommand('egressctlSyncRecord', { numberOfKeys: 7, lua: RECORD_LUA });
    client.defineCommand('egressctlSyncPrune', { numberOfKeys: 5, lua: PRUNE_LUA });
    const store = new RedisSyncStateStore(client, options);
    try {
      await client.connect();
    } catch (error) {
      client.disconnect();
      throw new Error(`cannot reach Redis at ${store.description.slice('redis '.length)} for the sync state: ${error instanceof Error ? error.message : String(error)}`);
    }
    return store;
  }

  private keys(organization: string): { run: string; repositories: string; variables: string; coverage: string; listed: string; generation: string } {
    const base = `${this.prefix}:${organization}`;
    return { run: `${base}:run`, repositories: `${base}:repositories`, variables: `${base}:variables`, coverage: `${base}:coverage`, listed: `${base}:listed`, generation: `${base}:generation` };
  }

  async record(run: OrganizationSync, options: RecordOptions = {}): Promise<string[]> {
    const organization = run.organization.toLowerCase();
    const keys = this.keys(organization);
    const coverage = Object.entries(run.coverage ?? {});
    return this.client.egressctlSyncRecord(
      keys.run,
      keys.repositories,
      keys.variables,
      keys.coverage,
      `${this.prefix}:organizations`,
      keys.listed,
      keys.generation,
      organization,
      options.merge ? '1' : '0',
      run.organization,
      run.at,
      run.dryRun ? '1' : '0',
      run.coverage ? '1' : '0',
      options.generation === undefined ? '' : String(options.generation),
      ...pairs(run.repositories, (entry) => entry.repository),
      ...pairs(run.variables, variableKey),
      String(coverage.length),
      ...coverage.flatMap(([repository, entry]) => [repository, JSON.stringify(entry)]),
    );
  }

  /** One script: a repository recorded by another replica meanwhile is either listed (kept) or gone from GitHub. */
  async prune(organization: string, listed: readonly string[]): Promise<string[]> {
    const keys = this.keys(organization.toLowerCase());
    return this.client.egressctlSyncPrune(keys.repositories, keys.variables, keys.coverage, keys.listed, keys.generation, ...listed.map((name) => name.toLowerCase()));
  }

  async generation(organization: string): Promise<number> {
    return Number((await this.client.get(this.keys(organization.toLowerCase()).generation)) ?? 0);
  }

  async read(): Promise<SyncReportFile> {
    const organizations = (await this.client.smembers(`${this.prefix}:organizations`)).sort(byText);
    const report: SyncReportFile = { version: 1, organizations: {} };
    if (organizations.length === 0) return report;
    // One transaction: every organization as of one moment.
    const multi = this.client.multi();
    for (const organization of organizations) {
      const keys = this.keys(organization);
      multi.hgetall(keys.run).hgetall(keys.repositories).hgetall(keys.variables).hgetall(keys.coverage);
    }
    const replies = (await multi.exec()) ?? [];
    organizations.forEach((organization, index) => {
      const [run, repositories, variables, coverage] = replies.slice(index * 4, index * 4 + 4).map(([error, value]) => {
        if (error) throw error;
        return value as Record<string, string>;
      });
      if (!run || run.organization === undefined) return;
      const entries = Object.values(repositories ?? {}).map((text) => JSON.parse(text) as SyncEntry);
      const variableEntries = Object.values(variables ?? {}).map((text) => JSON.parse(text) as VariableEntry);
      const levelOrder = (entry: VariableEntry): number => (entry.level === 'organization' ? 0 : 1);
      report.organizations[organization] = {
        organization: run.organization,
        at: run.at ?? '',
        dryRun: run.dryRun === '1',
        repositories: entries.sort((a, b) => byText(a.repository, b.repository)),
        variables: variableEntries.sort((a, b) => levelOrder(a) - levelOrder(b) || byText(variableKey(a), variableKey(b))),
        ...(run.coverage === '1'
          ? { coverage: Object.fromEntries(Object.entries(coverage ?? {}).sort(([a], [b]) => byText(a, b)).map(([repository, text]) => [repository, JSON.parse(text) as RepositoryCoverage])) }
          : {}),
      };
    });
    return report;
  }

  async close(): Promise<void> {
    await this.client.quit().catch(() => this.client.disconnect());
  }
}
