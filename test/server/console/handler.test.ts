import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { buildRepositoryBundle, serializeBundle } from '../../../src/bundle/build.js';
import { sealBundle, serializeEnvelope } from '../../../src/bundle/dsse.js';
import { loadPolicyRepository } from '../../../src/store/repository.js';
import { CONSOLE_CSS_VERSION, createConsoleHandler, SECURITY_HEADERS } from '../../../src/server/console/index.js';
import { startServer, type RunningServer } from '../../../src/server/server.js';
import { makeConsoleRepo, POLICY_REPOSITORY, type ConsoleRepo } from '../../support/console-repo.js';

const CSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const quiet = () => pino({ level: 'silent' });

let fixture: ConsoleRepo;
let server: RunningServer;

async function get(path: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; text: string }> {
  const response = await fetch(`${server.url}${path}`, init);
  return { status: response.status, headers: response.headers, text: await response.text() };
}

beforeAll(async () => {
  fixture = makeConsoleRepo();
  server = await startServer({ source: fixture.repo.dir, port: 0, logger: quiet(), defaultMetrics: false, consoleHandler: createConsoleHandler() });
});

afterAll(async () => {
  await server?.close();
  fixture?.repo.cleanup();
});

describe('console over a git source', () => {
  it('serves the policy store with the security headers and the served revision', async () => {
    const page = await get('/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toBe(CSP);
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    expect(SECURITY_HEADERS['content-security-policy']).toBe(CSP);
    const head = fixture.commits.at(-1)!;
    expect(page.headers.get('x-egressctl-revision')).toBe(head);
    expect(page.text).toContain(`href="https://github.com/${POLICY_REPOSITORY}/commit/${head}"`);
    expect(page.text).toContain('2024-04-25 10:00:00 UTC');
    for (const name of ['api', 'audit', 'base', 'lonely']) expect(page.text).toContain(`href="/policies/${name}"`);
    expect(page.text).toMatch(/href="\/policies\/lonely">lonely<\/a>[\s\S]*?Not attached/);
    expect(page.text).not.toContain('<script');
  });

  it('filters the store by query parameters', async () => {
    const page = await get('/?mode=audit');
    expect(page.text).toContain('href="/policies/audit"');
    expect(page.text).not.toContain('href="/policies/base"');
    const none = await get('/?scope=none');
    expect(none.text).toContain('href="/policies/lonely"');
    expect(none.text).not.toContain('href="/policies/api"');
  });

  it('answers HEAD with the headers and no body', async () => {
    const response = await fetch(`${server.url}/policies/base`, { method: 'HEAD' });
    expect(response.status).toBe(200);
    expect(Number(response.headers.get('content-length'))).toBeGreaterThan(500);
    expect(response.headers.get('content-security-policy')).toBe(CSP);
    expect(await response.text()).toBe('');
  });

  it('shows a policy: YAML as written with <script> as text, endpoints and attachments', async () => {
    const page = await get('/policies/base');
    expect(page.status).toBe(200);
    expect(page.text).not.toContain('<script');
    expect(page.text).toContain('description: &quot;Shared base &lt;script&gt;alert(\\&quot;xss\\&quot;)&lt;/script&gt;&quot;');
    expect(page.text).toContain('<p class="description">Shared base &lt;script&gt;alert(&quot;xss&quot;)&lt;/script&gt;</p>');
    expect(page.text).toContain('<code>objects.githubusercontent.com:443</code>');
    expect(page.text).toContain('Wins for this workflow');
    const api = await get('/policies/api');
    expect(api.text).toContain('proxy.golang.org # go modules');
    expect(api.text).toContain('<code>github.com:443</code> <span class="muted">from base</span>');
    expect(api.text).toContain('except 1 more specific attachment.');
  });

  it('404s an unknown policy with an HTML page', async () => {
    const page = await get('/policies/nope');
    expect(page.status).toBe(404);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.text).toContain('There is no policy &quot;nope&quot;');
    expect((await get('/policies/%3Cscript%3E')).text).not.toContain('<script');
    expect((await get('/policies/%E0%A4%A')).status).toBe(400);
  });

  it('leaves unknown non-console paths to the server (JSON 404) unless a browser asks', async () => {
    const api = await get('/v2/nothing');
    expect(api.status).toBe(404);
    expect(api.headers.get('content-type')).toMatch(/application\/json/);
    const browser = await get('/v2/nothing', { headers: { accept: 'text/html' } });
    expect(browser.status).toBe(404);
    expect(browser.headers.get('content-type')).toBe('text/html; charset=utf-8');
    // The API routes still answer as before.
    expect((await get('/readyz')).headers.get('content-type')).toMatch(/application\/json/);
  });

  it('exports endpoints as a text download', async () => {
    const policy = await get('/policies/api/export.txt');
    expect(policy.status).toBe(200);
    expect(policy.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(policy.headers.get('content-disposition')).toBe('attachment; filename="api-endpoints.txt"');
    expect(policy.text).toBe('github.com:443\nobjects.githubusercontent.com:443\nproxy.golang.org:443\nregistry.npmjs.org:443\n');
    const job = await get('/baselines/acme/api/export?workflow=.github/workflows/ci.yml&job=build');
    expect(job.headers.get('content-disposition')).toBe('attachment; filename="acme-api-ci-build-endpoints.txt"');
    expect(job.text).toBe('nodejs.org:443\nregistry.npmjs.org:443\n');
    const repository = await get('/baselines/acme/api/export');
    expect(repository.text).toBe('nodejs.org:443\nregistry.npmjs.org:443\nsandbox.payments.example.com:443\n');
    expect((await get('/baselines/acme/api/export?job=nope')).status).toBe(404);
  });

  it('serves the stylesheet with caching headers and 304 on a matching ETag', async () => {
    const versioned = await get(`/static/console.css?v=${CONSOLE_CSS_VERSION}`);
    expect(versioned.status).toBe(200);
    expect(versioned.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(versioned.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(versioned.headers.get('x-content-type-options')).toBe('nosniff');
    const etag = versioned.headers.get('etag')!;
    const again = await get('/static/console.css', { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect((await get('/static/console.css')).headers.get('cache-control')).toBe('public, max-age=3600');
    expect((await get('/')).text).toContain(`href="/static/console.css?v=${CONSOLE_CSS_VERSION}"`);
  });

  it('shows the history with who, when, commit and PR links, diffs and attachment changes', async () => {
    const page = await get('/history');
    expect(page.status).toBe(200);
    expect(page.text).not.toContain('<script');
    expect(page.text).toContain('Describe base &lt;script&gt;alert(&quot;xss&quot;)&lt;/script&gt;');
    expect(page.text).toContain('Eve &amp; &quot;Mallory</span>');
    expect(page.text).toContain(`href="https://github.com/${POLICY_REPOSITORY}/commit/${fixture.commits[1]}"`);
    expect(page.text).toContain(`href="https://github.com/${POLICY_REPOSITORY}/pull/2" rel="noreferrer">#2</a>`);
    expect(page.text).toContain('<td class="code add">+  - proxy.golang.org # go modules</td>');
    expect(page.text).toMatch(/Detached[\s\S]*?acme\/web/);
    expect(page.text).toMatch(/\(\d+ (days|months|years?) ago\)/);
    const api = await get('/policies/api/history');
    expect(api.text).toContain('History of api');
    expect(api.text).not.toContain('Describe base');
    expect(api.text).toContain('+ endpoint <code>proxy.golang.org:443</code>');
  });

  it('shows one commit\'s change of a policy in full at /policies/NAME/history/SHA', async () => {
    const page = await get(`/policies/api/history/${fixture.commits[1]!.slice(0, 10)}`);
    expect(page.status).toBe(200);
    expect(page.text).toContain('Allow the Go proxy for api');
    expect(page.text).not.toContain('Add the first policies');
    expect((await get('/policies/api/history/not-a-sha')).status).toBe(404);
  });

  it('answers "which policy applies?" with the chain and the with: block', async () => {
    const page = await get('/lookup?repository=acme/api&workflow=.github/workflows/ci.yml&cluster=arc-prod');
    expect(page.text).toMatch(/<a href="\/policies\/api">api<\/a><\/strong>.*wins, attached to .*repository/);
    // Each endpoint is its own unbreakable token (it wraps between endpoints only); the text is the same.
    expect(page.text.replace(/<\/?span[^>]*>/g, '')).toContain('allowed-endpoints: github.com:443 objects.githubusercontent.com:443 proxy.golang.org:443 registry.npmjs.org:443');
    expect(page.text).toContain('<span class="token">objects.githubusercontent.com:443</span>');
    expect(page.text.match(/class="shadowed"/g)).toHaveLength(2);
  });

  it('shows baselines per repository and job with stability and the recommendation', async () => {
    const list = await get('/baselines');
    expect(list.text).toContain('href="/baselines/acme/api"');
    const page = await get('/baselines/acme/api');
    expect(page.status).toBe(200);
    expect(page.text).toContain('<span class="badge stable">stable</span>');
    expect(page.text).toContain('<span class="badge collecting">collecting</span>');
    // The test job reached a name the api policy does not allow.
    expect(page.text).toContain('blocked by current policy');
    expect(page.text).toContain('egress-policy: block\nallowed-endpoints:\n  - nodejs.org:443\n  - registry.npmjs.org:443');
    expect((await get('/baselines/acme/nothing')).status).toBe(404);
  });

  it('filters baselines by ARC cluster: only repositories, jobs and endpoints of runs recorded there', async () => {
    const list = await get('/baselines?cluster=arc-prod');
    expect(list.status).toBe(200);
    expect(list.text).toContain('<option value="arc-prod" selected>arc-prod</option>');
    expect(list.text).toContain('<option value="arc-dev">arc-dev</option>');
    expect(list.text).toContain('href="/baselines/acme/api?cluster=arc-prod"');
    expect(list.text).not.toContain('href="/baselines/acme/web');
    const page = await get('/baselines/acme/api?cluster=arc-prod');
    expect(page.text).toContain('Only runs on ARC cluster <strong class="cluster">arc-prod</strong>');
    // build ran there 3 of its 5 runs and saw registry.npmjs.org there; the test job never did.
    expect(page.text).toContain('5 runs observed, 3 on cluster <strong class="cluster">arc-prod</strong>');
    expect(page.text).not.toContain('sandbox.payments.example.com');
    expect(page.text).not.toContain('<code>nodejs.org:443</code>');
    const exported = await get('/baselines/acme/api/export?cluster=arc-prod');
    expect(exported.headers.get('content-disposition')).toBe('attachment; filename="acme-api-arc-prod-endpoints.txt"');
    expect(exported.text).toBe('registry.npmjs.org:443\n');
    // Unfiltered, the job says where it ran.
    expect((await get('/baselines/acme/api')).text).toContain('ARC clusters: arc-prod (3 runs)');
    const unknown = await get('/baselines?cluster=arc-eu');
    expect(unknown.text).toContain('No run recorded ARC cluster arc-eu');
    // A value that is no cluster name is ignored, not echoed into a filter.
    expect((await get('/baselines?cluster=%3Cscript%3E')).text).toContain('href="/baselines/acme/web"');
  });

  it('picks up a new revision (cached per revision, not per request)', async () => {
    fixture.repo.write({ 'policies/extra.yml': 'egress-policy: audit\n' });
    const sha = fixture.repo.commit('Add extra (#5)', { date: '2024-04-26T10:00:00Z' });
    await server.refresh();
    const page = await get('/');
    expect(page.headers.get('x-egressctl-revision')).toBe(sha);
    expect(page.text).toContain('href="/policies/extra"');
    expect((await get('/policies/extra')).text).toContain('egress-policy: audit');
    expect((await get('/history')).text).toContain('Add extra');
  });
});

describe('console without a git source', () => {
  it('says there is no bundle yet (503), then shows the compiled policies without YAML or history', async () => {
    const running = await startServer({ source: null, port: 0, logger: quiet(), defaultMetrics: false, consoleHandler: createConsoleHandler() });
    try {
      const empty = await fetch(`${running.url}/`);
      expect(empty.status).toBe(503);
      expect(await empty.text()).toContain('No bundle served yet');

      const loaded = await loadPolicyRepository({ dir: fixture.repo.dir });
      const envelope = (revision: string, committedAt: string) =>
        serializeEnvelope(sealBundle(serializeBundle(buildRepositoryBundle(loaded.value, { revision, committedAt }))));
      expect(await running.publish(envelope('1'.repeat(40), '2024-05-01T00:00:00Z'))).toMatchObject({ status: 'accepted' });
      const policy = await (await fetch(`${running.url}/policies/base`)).text();
      expect(policy).toContain('<code>objects.githubusercontent.com:443</code>');
      expect(policy).toContain('the YAML as written, baselines and history are not in it');
      expect(policy).not.toContain('class="banner"');
      expect(await (await fetch(`${running.url}/history`)).text()).toContain('Start egressctl serve with --source');

      // An older bundle is refused: the server is degraded and every page says so.
      expect(await running.publish(envelope('2'.repeat(40), '2024-04-01T00:00:00Z'))).toMatchObject({ status: 'refused' });
      const degraded = await (await fetch(`${running.url}/`)).text();
      expect(degraded).toContain('class="banner"');
      expect(degraded).toContain('is older than the served');
    } finally {
      await running.close();
    }
  });
});
