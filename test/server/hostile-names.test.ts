/**
 * Names that are also Object.prototype's keys (`__proto__`, `constructor`, `toString`,
 * `hasOwnProperty`) as organization, repository, workflow and policy in every console page and
 * API route that looks something up by what the caller typed: a lookup must find nothing, never
 * answer 500 (issue 24.6).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey } from '../../src/server/auth/api-keys.js';
import { createConsoleHandler } from '../../src/server/console/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { makeConsoleRepo, type ConsoleRepo } from '../support/console-repo.js';
import { makeTempRepo } from '../support/policy-repo.js';
import { captureLogger } from '../support/server.js';

const NAMES = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'prototype', 'valueOf'];
const KEY = 'hostile-names-key-0123456789abcdefghijkl';
let fixture: ConsoleRepo;
let server: RunningServer;

beforeAll(async () => {
  fixture = makeConsoleRepo();
  server = await startServer({
    source: fixture.repo.dir,
    port: 0,
    logger: captureLogger().logger,
    defaultMetrics: false,
    consoleHandler: createConsoleHandler(),
    apiKeys: [{ name: 'reader', sha256: hashApiKey(KEY), cluster: 'ops', organizations: ['acme', ...NAMES.map((name) => name.toLowerCase())] }],
  });
});

afterAll(async () => {
  await server?.close();
  fixture?.repo.cleanup();
});

async function status(path: string, headers: Record<string, string> = {}): Promise<{ path: string; status: number; body: string }> {
  const response = await fetch(`${server.url}${path}`, { headers: { accept: 'text/html', ...headers } });
  return { path, status: response.status, body: (await response.text()).slice(0, 300) };
}

function paths(): string[] {
  const out: string[] = [];
  for (const name of NAMES) {
    const q = encodeURIComponent;
    out.push(
      `/lookup?org=${q(name)}`,
      `/lookup?repository=${q(`${name}/${name}`)}`,
      `/lookup?repository=${q(`acme/${name}`)}`,
      `/lookup?repository=${q(`${name}/prototype`)}`,
      `/lookup?workflow=${q(`acme/api/.github/workflows/${name}.yml`)}&repository=acme/api`,
      `/lookup?workflow=${q(`${name}/${name}/.github/workflows/${name}.yml`)}`,
      `/lookup?cluster=${q(name)}`,
      `/policies/${q(name)}`,
      `/policies/${q(name)}/export.txt`,
      `/policies/${q(name)}/history`,
      `/baselines/${q(name)}/${q(name)}`,
      `/baselines/acme/${q(name)}`,
      `/baselines/${q(name)}/${q(name)}/export`,
      `/baselines/acme/api/export?workflow=${q(name)}&job=${q(name)}`,
      `/?q=${q(name)}&scope=${q(name)}&mode=${q(name)}`,
      `/sync?status=${q(name)}`,
      `/v1/history?policy=${q(name)}`,
    );
  }
  return out;
}

describe('prototype names in the console', () => {
  it('never answers 500 for a name that is a key of Object.prototype', async () => {
    const results = await Promise.all(paths().map((path) => status(path)));
    const failures = results.filter((result) => result.status >= 500 && result.status !== 503);
    expect(failures).toEqual([]);
    // And the ones that name nothing say so.
    for (const result of results.filter((item) => item.path.startsWith('/policies/') && !item.path.endsWith('/history'))) expect(result.status, result.path).toBe(404);
  });
});

describe('prototype names in the API', () => {
  it('answers /v1/policy for such organizations, repositories and workflows with no policy (or 400), never 500', async () => {
    for (const name of NAMES) {
      for (const [repository, workflow] of [
        [`${name}/${name}`, `.github/workflows/${name}.yml`],
        [`acme/${name}`, '.github/workflows/ci.yml'],
        [`${name}/prototype`, ''],
      ] as const) {
        const query = new URLSearchParams({ repository, ...(workflow ? { workflow } : {}) });
        const response = await fetch(`${server.url}/v1/policy?${query}`, { headers: { authorization: `ApiKey ${KEY}` } });
        const text = await response.text();
        expect([200, 400, 403], `${query} -> ${response.status} ${text}`).toContain(response.status);
        if (response.status === 200 && !repository.startsWith('acme/')) {
          expect((JSON.parse(text) as { policy: string | null }).policy, String(query)).toBeNull();
        }
      }
    }
  });
});

describe('prototype names that are real names', () => {
  it('finds a policy named "constructor" attached to organization "constructor" and repository "tostring/hasownproperty"', async () => {
    const repo = makeTempRepo(
      {
        'policies/constructor.yml': 'egress-policy: block\nallowed-endpoints: proto.example.com\n',
        'policies/valueof.yml': 'egress-policy: audit\n',
        'attachments.yml': ['organizations:', '  constructor: constructor', 'repositories:', '  tostring/hasownproperty: valueof', 'workflows:', '  constructor/prototype/.github/workflows/tostring.yml: valueof', ''].join('\n'),
      },
      { git: true },
    );
    repo.commit('prototype names');
    const own = await startServer({
      source: repo.dir,
      port: 0,
      logger: captureLogger().logger,
      defaultMetrics: false,
      consoleHandler: createConsoleHandler(),
      apiKeys: [{ name: 'reader', sha256: hashApiKey(KEY), cluster: 'ops', organizations: ['constructor', 'tostring'] }],
    });
    try {
      const page = async (path: string) => (await fetch(`${own.url}${path}`, { headers: { accept: 'text/html' } })).text();
      expect(await page('/lookup?org=constructor')).toMatch(/href="\/policies\/constructor"[\s\S]*wins/);
      expect(await page('/policies/constructor')).toContain('proto.example.com:443');
      const answer = async (query: string) =>
        (await fetch(`${own.url}/v1/policy?${query}`, { headers: { authorization: `ApiKey ${KEY}` } }).then((response) => response.json())) as { policy: string | null };
      expect((await answer('repository=constructor/prototype')).policy).toBe('constructor');
      expect((await answer('repository=constructor/prototype&workflow=.github/workflows/tostring.yml')).policy).toBe('valueof');
      expect((await answer('repository=tostring/hasownproperty')).policy).toBe('valueof');
      expect((await answer('repository=tostring/constructor')).policy).toBeNull();
    } finally {
      await own.close();
      repo.cleanup();
    }
  });
});
