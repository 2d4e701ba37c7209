/**
 * The sync state's two backends (issue 21, docs/github-app.md "Sync state"): the same table of
 * records runs against sync-report.json and against Redis (Debian's redis-server, started here on
 * a free loopback port) and must read back the same report; two Redis stores recording different
 * repositories at once keep every one of them.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisSyncStateStore } from '../../src/app/sync-state-redis.js';
import type { RepositoryCoverage } from '../../src/coverage/model.js';
import { SYNC_REPORT_FILE, type OrganizationSync, type SyncEntry, type SyncReportFile, type SyncStatus, type VariableEntry } from '../../src/rollout/sync-report.js';
import { FileSyncStateStore, type SyncStateStore } from '../../src/rollout/sync-state.js';
import { redisMissing, startRedis, type RunningRedis } from '../support/redis.js';
import { freePort } from '../support/server.js';

function repo(repository: string, status: SyncStatus = 'synced', reason?: string): SyncEntry {
  return { repository, status, pr: status === 'pr-open' ? { number: 7, url: `https://github.example/${repository}/pull/7` } : null, files: status === 'synced' ? [] : ['.github/workflows/ci.yml'], reasons: reason ? [reason] : [] };
}

function variable(level: VariableEntry['level'], target: string, name: string, value: string | null, status: VariableEntry['status'] = 'written'): VariableEntry {
  return { level, target, name, value, status, ...(status === 'error' ? { reason: 'HTTP 403' } : {}) };
}

function coverage(repository: string, mode: 'block' | 'audit' | 'none'): RepositoryCoverage {
  return { at: 't0', problems: [], jobs: [{ repository, file: '.github/workflows/ci.yml', job: 'build', line: 4, enforcedBy: mode === 'none' ? [] : ['harden-runner (inline)'], mode, reason: mode === 'block' ? null : mode, policy: 'api', targets: [] }] };
}

function run(organization: string, at: string, repositories: SyncEntry[], variables: VariableEntry[] = [], extra: Partial<OrganizationSync> = {}): OrganizationSync {
  return { organization, at, dryRun: false, repositories, variables, ...extra };
}

/**
 * A record (a unit's write, `generation`: the listing generation the unit was queued at; `dropped`:
 * the repositories whose rows it must not write), or a complete listing of an organization (prune).
 */
type Step = { run: OrganizationSync; merge?: boolean; generation?: number; dropped?: string[] } | { prune: string; listed: string[] };

interface Case {
  name: string;
  records: Step[];
  /** Per organization key: repositories (name:status), variables (level:target:name=value/status), coverage (repository:mode) or none, at, dryRun. */
  expected: Record<string, { organization: string; at: string; dryRun?: boolean; repositories: string[]; variables?: string[]; coverage?: Record<string, string> }>;
}

const CASES: Case[] = [
  {
    name: 'a full sync on nothing: its entries',
    records: [{ run: run('acme', 't1', [repo('acme/web', 'pr-open'), repo('acme/api')], [variable('organization', 'acme', 'EGRESS_BASE', 'a')]) }],
    expected: { acme: { organization: 'acme', at: 't1', repositories: ['acme/api:synced', 'acme/web:pr-open'], variables: ['organization:acme:EGRESS_BASE=a/written'] } },
  },
  {
    name: 'a merge on nothing: what it names',
    records: [{ run: run('acme', 't1', [repo('acme/api', 'error', 'HTTP 502')]), merge: true }],
    expected: { acme: { organization: 'acme', at: 't1', repositories: ['acme/api:error'] } },
  },
  {
    name: 'a merge replaces the repositories and variables it names and keeps the others; the run metadata is its own',
    records: [
      { run: run('acme', 't1', [repo('acme/api'), repo('acme/web'), repo('acme/docs')], [variable('organization', 'acme', 'EGRESS_BASE', 'a'), variable('repository', 'acme/api', 'EGRESS_API', 'x')]) },
      { run: run('acme', 't2', [repo('acme/web', 'error', 'HTTP 403'), repo('acme/new', 'pr-open')], [variable('repository', 'acme/api', 'EGRESS_API', 'y', 'error'), variable('repository', 'acme/new', 'EGRESS_API', 'z')], { dryRun: false }), merge: true },
    ],
    expected: {
      acme: {
        organization: 'acme',
        at: 't2',
        repositories: ['acme/api:synced', 'acme/docs:synced', 'acme/new:pr-open', 'acme/web:error'],
        variables: ['organization:acme:EGRESS_BASE=a/written', 'repository:acme/api:EGRESS_API=y/error', 'repository:acme/new:EGRESS_API=z/written'],
      },
    },
  },
  {
    name: 'without merge a run replaces its organization: repositories and variables it does not name are gone',
    records: [
      { run: run('acme', 't1', [repo('acme/api'), repo('acme/web')], [variable('organization', 'acme', 'EGRESS_BASE', 'a'), variable('repository', 'acme/web', 'EGRESS_WEB', 'w')]) },
      { run: run('acme', 't2', [repo('acme/web', 'out-of-sync')], [variable('repository', 'acme/web', 'EGRESS_WEB', 'v')]) },
    ],
    expected: { acme: { organization: 'acme', at: 't2', repositories: ['acme/web:out-of-sync'], variables: ['repository:acme/web:EGRESS_WEB=v/written'] } },
  },
  {
    name: 'organizations are independent; the key is the lower-cased name, the spelling the last run',
    records: [
      { run: run('Acme', 't1', [repo('Acme/api')]) },
      { run: run('globex', 't1', [repo('globex/site', 'error', 'HTTP 500')]) },
      { run: run('acme', 't2', [repo('Acme/web')]), merge: true },
      { run: run('GLOBEX', 't3', [repo('globex/other')]) },
    ],
    expected: {
      acme: { organization: 'acme', at: 't2', repositories: ['Acme/api:synced', 'Acme/web:synced'] },
      globex: { organization: 'GLOBEX', at: 't3', repositories: ['globex/other:synced'] },
    },
  },
  {
    name: 'variables are keyed by level, target and name: the same name at two levels is two entries; a deletion is kept as null',
    records: [
      { run: run('acme', 't1', [], [variable('organization', 'acme', 'EGRESS_P', 'org'), variable('repository', 'acme/api', 'EGRESS_P', 'repo')]) },
      { run: run('acme', 't2', [], [variable('repository', 'acme/api', 'EGRESS_P', null, 'deleted')]), merge: true },
    ],
    expected: { acme: { organization: 'acme', at: 't2', repositories: [], variables: ['organization:acme:EGRESS_P=org/written', 'repository:acme/api:EGRESS_P=null/deleted'] } },
  },
  {
    name: 'a dry run replaces like a full sync and says so',
    records: [
      { run: run('acme', 't1', [repo('acme/api'), repo('acme/web')]) },
      { run: run('acme', 't2', [repo('acme/api', 'out-of-sync')], [], { dryRun: true }) },
    ],
    expected: { acme: { organization: 'acme', at: 't2', dryRun: true, repositories: ['acme/api:out-of-sync'] } },
  },
  {
    name: 'coverage: kept for repositories still synced, replaced where the run read files, dropped for the rest; a merge keeps it for all',
    records: [
      { run: run('acme', 't1', [repo('acme/api'), repo('acme/web'), repo('acme/old')], [], { coverage: { 'acme/api': coverage('acme/api', 'none'), 'acme/web': coverage('acme/web', 'none'), 'acme/old': coverage('acme/old', 'none') } }) },
      { run: run('acme', 't2', [repo('acme/api'), repo('acme/web')], [], { coverage: { 'acme/web': coverage('acme/web', 'block') } }) },
      { run: run('acme', 't3', [repo('acme/api')], [], { coverage: { 'acme/api': coverage('acme/api', 'audit') } }), merge: true },
    ],
    expected: { acme: { organization: 'acme', at: 't3', repositories: ['acme/api:synced', 'acme/web:synced'], coverage: { 'acme/api': 'audit', 'acme/web': 'block' } } },
  },
  {
    name: 'coverage: a run that read no files keeps what was recorded for the repositories it names',
    records: [
      { run: run('acme', 't1', [repo('acme/api'), repo('acme/web')], [], { coverage: { 'acme/api': coverage('acme/api', 'block'), 'acme/web': coverage('acme/web', 'none') } }) },
      { run: run('acme', 't2', [repo('acme/api', 'error', 'HTTP 502')]) },
    ],
    expected: { acme: { organization: 'acme', at: 't2', repositories: ['acme/api:error'], coverage: { 'acme/api': 'block' } } },
  },
  {
    name: 'coverage: recorded once, an empty run keeps an empty coverage; never recorded, none',
    records: [
      { run: run('acme', 't1', [repo('acme/api')], [], { coverage: { 'acme/api': coverage('acme/api', 'block') } }) },
      { run: run('acme', 't2', []) },
      { run: run('globex', 't1', [repo('globex/site')]) },
      { run: run('globex', 't2', [repo('globex/web')]), merge: true },
    ],
    expected: {
      acme: { organization: 'acme', at: 't2', repositories: [], coverage: {} },
      globex: { organization: 'globex', at: 't2', repositories: ['globex/site:synced', 'globex/web:synced'] },
    },
  },
  {
    name: 'a unit queued before a listing that dropped its repository does not write it back (row, repository variables, coverage)',
    records: [
      { run: run('acme', 't1', [repo('acme/api'), repo('acme/gone')], [variable('organization', 'acme', 'EGRESS_BASE', 'a'), variable('repository', 'acme/gone', 'P', 'y')], { coverage: { 'acme/api': coverage('acme/api', 'block'), 'acme/gone': coverage('acme/gone', 'none') } }) },
      { prune: 'acme', listed: ['acme/api'] },
      // Still running when the listing came (queued at generation 0): its outcome for acme/gone is not written.
      { run: run('acme', 't2', [repo('acme/gone', 'error', 'HTTP 404')], [variable('repository', 'acme/gone', 'P', 'z')], { coverage: { 'acme/gone': coverage('acme/gone', 'audit') } }), merge: true, generation: 0, dropped: ['acme/gone'] },
      // A repository the listing has keeps being written by a unit of the same age.
      { run: run('acme', 't3', [repo('acme/api', 'pr-open')]), merge: true, generation: 0, dropped: [] },
    ],
    expected: { acme: { organization: 'acme', at: 't3', repositories: ['acme/api:pr-open'], variables: ['organization:acme:EGRESS_BASE=a/written'], coverage: { 'acme/api': 'block' } } },
  },
  {
    name: 'a repository with no row yet, not in the listing: an older unit does not create one either',
    records: [
      { run: run('acme', 't1', [repo('acme/api')]) },
      { prune: 'acme', listed: ['acme/api'] },
      { run: run('acme', 't2', [repo('acme/new-and-gone', 'error', 'HTTP 404')]), merge: true, generation: 0, dropped: ['acme/new-and-gone'] },
    ],
    // A write left with nothing to write is not made: the run's time stays the last one written.
    expected: { acme: { organization: 'acme', at: 't1', repositories: ['acme/api:synced'] } },
  },
  {
    name: 'a unit queued at or after the listing, and a write without a generation (the CLI, a closed PR), are written',
    records: [
      { run: run('acme', 't1', [repo('acme/api'), repo('acme/gone')]) },
      { prune: 'acme', listed: ['acme/API'] },
      // Named by the store itself (queued after the listing, generation 1): its error row says what is wrong.
      { run: run('acme', 't2', [repo('acme/named', 'error', 'HTTP 404')]), merge: true, generation: 1, dropped: [] },
      { run: run('acme', 't3', [repo('acme/gone', 'pr-closed')]), merge: true, dropped: [] },
    ],
    expected: { acme: { organization: 'acme', at: 't3', repositories: ['acme/api:synced', 'acme/gone:pr-closed', 'acme/named:error'] } },
  },
  {
    name: 'a repository added back to the installation gets rows again (the next listing has it), also from a unit queued before',
    records: [
      { run: run('acme', 't1', [repo('acme/api'), repo('acme/web')]) },
      { prune: 'acme', listed: ['acme/api'] },
      { run: run('acme', 't2', [repo('acme/web', 'error', 'HTTP 404')]), merge: true, generation: 0, dropped: ['acme/web'] },
      { prune: 'acme', listed: ['acme/api', 'acme/web'] },
      { run: run('acme', 't3', [repo('acme/web', 'pr-open')]), merge: true, generation: 2, dropped: [] },
      { run: run('acme', 't4', [repo('acme/web', 'error', 'HTTP 502')]), merge: true, generation: 0, dropped: [] },
    ],
    expected: { acme: { organization: 'acme', at: 't4', repositories: ['acme/api:synced', 'acme/web:error'] } },
  },
  {
    name: 'listings are per organization: a listing of one leaves the other\'s writes alone',
    records: [
      { run: run('acme', 't1', [repo('acme/api')]) },
      { prune: 'globex', listed: [] },
      { run: run('acme', 't2', [repo('acme/web')]), merge: true, generation: 0, dropped: [] },
      { run: run('globex', 't2', [repo('globex/site')]), merge: true, generation: 0, dropped: ['globex/site'] },
    ],
    expected: { acme: { organization: 'acme', at: 't2', repositories: ['acme/api:synced', 'acme/web:synced'] } },
  },
];

/** Apply the steps; returns a check of what each record said it dropped (run it after the report's). */
async function apply(store: SyncStateStore, steps: readonly Step[]): Promise<() => void> {
  const said: { expected: string[]; got: unknown }[] = [];
  for (const step of steps) {
    if ('prune' in step) {
      await store.prune(step.prune, step.listed);
      continue;
    }
    const dropped = await store.record(step.run, { merge: step.merge ?? false, ...(step.generation === undefined ? {} : { generation: step.generation }) });
    if (step.dropped) said.push({ expected: step.dropped, got: dropped });
  }
  return () => expect(said.map((entry) => entry.got)).toEqual(said.map((entry) => entry.expected));
}

/** The report in the table's terms (order-free: the file keeps a run's order, Redis reads by name). */
function summary(report: SyncReportFile): Case['expected'] {
  const out: Case['expected'] = {};
  for (const [key, value] of Object.entries(report.organizations)) {
    out[key] = {
      organization: value.organization,
      at: value.at,
      ...(value.dryRun ? { dryRun: true } : {}),
      repositories: value.repositories.map((entry) => `${entry.repository}:${entry.status}`).sort(),
      ...(value.variables.length > 0 ? { variables: value.variables.map((entry) => `${entry.level}:${entry.target}:${entry.name}=${entry.value}/${entry.status}`).sort() } : {}),
      ...(value.coverage ? { coverage: Object.fromEntries(Object.entries(value.coverage).map(([repository, entry]) => [repository, entry.jobs[0]!.mode])) } : {}),
    };
  }
  return out;
}

/** The report with repositories and variables in one order, for comparing two backends entry by entry. */
function canonical(report: SyncReportFile): SyncReportFile {
  const organizations = Object.fromEntries(
    Object.entries(report.organizations).map(([key, value]) => [
      key,
      {
        ...value,
        repositories: [...value.repositories].sort((a, b) => (a.repository < b.repository ? -1 : 1)),
        variables: [...value.variables].sort((a, b) => (`${a.level}:${a.target}:${a.name}` < `${b.level}:${b.target}:${b.name}` ? -1 : 1)),
      },
    ]),
  );
  return { version: 1, organizations };
}

const missing = redisMissing();
if (missing) console.log(missing);

let redis: RunningRedis | undefined;
let scratch: string;
const stores: SyncStateStore[] = [];
let prefixes = 0;

beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'egressctl-sync-state-'));
  if (!missing) redis = await startRedis();
});
afterAll(async () => {
  await redis?.close();
  await rm(scratch, { recursive: true, force: true });
});
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
});

async function fileStore(): Promise<FileSyncStateStore> {
  const store = new FileSyncStateStore(await mkdtemp(path.join(scratch, 'file-')));
  stores.push(store);
  return store;
}

/** A Redis store under a prefix of its own (each case starts empty); `prefix` shares one. */
async function redisStore(prefix = `test${++prefixes}`): Promise<RedisSyncStateStore> {
  const store = await RedisSyncStateStore.open({ url: redis!.url, prefix });
  stores.push(store);
  return store;
}

describe('the same records read back the same on both backends', () => {
  it.each(CASES)('file: $name', async ({ records, expected }) => {
    const store = await fileStore();
    const droppedAsSaid = await apply(store, records);
    expect(summary(await store.read())).toEqual(expected);
    droppedAsSaid();
  });

  it.skipIf(missing !== undefined).each(CASES)('redis: $name', async ({ records, expected }) => {
    const store = await redisStore();
    const droppedAsSaid = await apply(store, records);
    const report = await store.read();
    expect(summary(report)).toEqual(expected);
    droppedAsSaid();
    // Entry for entry (reasons, PRs, values, coverage), not only the table's summary.
    const file = await fileStore();
    await apply(file, records);
    expect(report).toEqual(canonical(await file.read()));
  });
});

describe('prune: rows of repositories no longer listed are dropped', () => {
  const prunes = async (store: SyncStateStore): Promise<void> => {
    const withCoverage = { coverage: { 'acme/api': coverage('acme/api', 'block'), 'acme/Gone': coverage('acme/Gone', 'none') } };
    await store.record(run('acme', 't1', [repo('acme/api'), repo('acme/Gone', 'error', 'HTTP 404')], [variable('organization', 'acme', 'EGRESS_BASE', 'a'), variable('repository', 'acme/api', 'P', 'x'), variable('repository', 'acme/Gone', 'P', 'y')], withCoverage));
    await store.record(run('other', 't1', [repo('other/x')]));
    // Listed as GitHub spells it (case differs from the row): kept.
    expect(await store.prune('ACME', ['acme/API'])).toEqual(['acme/Gone']);
    expect(summary(await store.read())).toEqual({
      acme: { organization: 'acme', at: 't1', repositories: ['acme/api:synced'], variables: ['organization:acme:EGRESS_BASE=a/written', 'repository:acme/api:P=x/written'], coverage: { 'acme/api': 'block' } },
      other: { organization: 'other', at: 't1', repositories: ['other/x:synced'] },
    });
    expect(await store.prune('acme', ['acme/api'])).toEqual([]);
    expect(await store.prune('nobody', [])).toEqual([]);
  };
  it('file', async () => prunes(await fileStore()));
  it.skipIf(missing !== undefined)('redis', async () => prunes(await redisStore()));
});

describe('the file backend', () => {
  it('keeps the format: sync-report.json, version 1, pretty JSON a person can read', async () => {
    const store = await fileStore();
    await store.record(run('acme', 't1', [repo('acme/api')]));
    const text = await readFile(path.join(store.dir, SYNC_REPORT_FILE), 'utf8');
    expect(JSON.parse(text)).toEqual({ version: 1, organizations: { acme: run('acme', 't1', [repo('acme/api')]) } });
    expect(text).toMatch(/^\{\n {2}"version": 1,/);
    expect(store.description).toBe(path.join(store.dir, SYNC_REPORT_FILE));
  });
});

describe.skipIf(missing !== undefined)('the Redis backend', () => {
  it('two stores on one Redis (two replicas) recording different repositories at once: every entry is kept', async () => {
    const [a, b] = await Promise.all([redisStore('shared'), redisStore('shared')]);
    const names = Array.from({ length: 60 }, (_, index) => `acme/repo-${String(index).padStart(2, '0')}`);
    // Interleaved merges from both, all in flight together, each naming one repository and its variable.
    await Promise.all(
      names.map((name, index) =>
        (index % 2 === 0 ? a : b).record(run('acme', `t${index}`, [repo(name, index % 3 === 0 ? 'error' : 'pr-open', index % 3 === 0 ? 'HTTP 502' : undefined)], [variable('repository', name, 'EGRESS_P', String(index))]), { merge: true }),
      ),
    );
    const [fromA, fromB] = await Promise.all([a.read(), b.read()]);
    expect(fromA).toEqual(fromB);
    const acme = fromA.organizations['acme']!;
    expect(acme.repositories.map((entry) => entry.repository)).toEqual(names);
    expect(acme.variables.map((entry) => entry.target)).toEqual(names);
    expect(acme.repositories.filter((entry) => entry.status === 'error')).toHaveLength(20);
  });

  it('what one replica records, another reads; a full sync on one replaces what both merged', async () => {
    const [a, b] = [await redisStore('replicas'), await redisStore('replicas')];
    await a.record(run('acme', 't1', [repo('acme/api', 'pr-open')]), { merge: true });
    await b.record(run('acme', 't2', [repo('acme/web', 'pr-closed')]), { merge: true });
    expect(summary(await a.read())).toEqual({ acme: { organization: 'acme', at: 't2', repositories: ['acme/api:pr-open', 'acme/web:pr-closed'] } });
    await a.record(run('acme', 't3', [repo('acme/web')]));
    expect(summary(await b.read())).toEqual({ acme: { organization: 'acme', at: 't3', repositories: ['acme/web:synced'] } });
  });

  it('keeps to its prefix: an App on another prefix sees nothing of it', async () => {
    const [a, b] = [await redisStore('one-app'), await redisStore('another-app')];
    await a.record(run('acme', 't1', [repo('acme/api')]));
    expect(await b.read()).toEqual({ version: 1, organizations: {} });
    expect(a.description).toBe(`redis ${new URL(redis!.url).host}`);
  });

  it('an unreachable Redis fails at open, with its address', async () => {
    const port = await freePort();
    await expect(RedisSyncStateStore.open({ url: `redis://127.0.0.1:${port}` })).rejects.toThrow(`cannot reach Redis at 127.0.0.1:${port} for the sync state`);
  });
});
