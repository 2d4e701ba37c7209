/**
 * `/v1/policy` under load with OIDC verification (docs/architecture.md#scale), each load beside its ceiling
 * measured in the same run on the same machine:
 *   1. fresh tokens: every request a distinct valid token (a full RS256 verification each);
 *      ceiling: jose jwtVerify in a plain loop in-process (no HTTP at all). Target >= 0.7x.
 *   2. repeated tokens: a pool of 1,000 tokens reused (the verified-token cache answers);
 *      ceiling: nginx serving the same JSON as a static file. Target >= 0.5x.
 * Plus p99 at a fixed 2,000 req/s, RSS before/after the repeated-token run, and the time from a
 * commit to its bundle being visible through a chained replica (target < 2 s).
 *
 * The server runs in a child process, autocannon in this one. nginx gets one worker process,
 * like the one node event loop it is compared with (the machine has 2 cores and the load
 * generator needs one). BENCH_LONG=1: longer runs (60 s) and more fresh tokens.
 *
 *   node --import tsx bench/server.ts
 */
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSign, generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon, { type AutocannonOptions, type AutocannonResult } from 'autocannon';
import { importJWK, jwtVerify } from 'jose';
import { makeTempRepo } from '../test/support/policy-repo.js';
import { SIGNED_ANSWER_MEDIA_TYPE } from '../src/server/api.js';
import type { BenchSection } from './types.js';

const LONG = process.env.BENCH_LONG === '1';
const REPEATED_SECONDS = Number(process.env.BENCH_SERVER_SECONDS ?? (LONG ? 60 : 20));
const FRESH_TOKENS = Number(process.env.BENCH_FRESH_TOKENS ?? (LONG ? 40_000 : 12_000));
const CONNECTIONS = 32;
/** Extra node flags for the primary server child, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`. */
const CHILD_FLAGS = (process.env.BENCH_SERVER_NODE_FLAGS ?? '').split(' ').filter((flag) => flag !== '');
/** BENCH_SERVER_QUICK=1: only the fresh-token and fixed-rate runs (for profiling). */
const QUICK = process.env.BENCH_SERVER_QUICK === '1';
const AUDIENCE = 'egressctl-bench';
const here = path.dirname(fileURLToPath(import.meta.url));

interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  non2xx: number;
  errors: number;
}

function base64url(value: string | Buffer): string {
  return Buffer.from(value).toString('base64url');
}

/** RS256 tokens with node:crypto directly: signing 10k+ tokens with WebCrypto would take longer. */
function tokenMinter(issuer: string): { jwk: Record<string, unknown>; mint: (index: number) => string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'bench', alg: 'RS256', use: 'sig' };
  const header = base64url(JSON.stringify({ alg: 'RS256', kid: 'bench', typ: 'JWT' }));
  const now = Math.floor(Date.now() / 1000);
  return {
    jwk,
    mint(index) {
      const payload = base64url(
        JSON.stringify({
          iss: issuer,
          aud: AUDIENCE,
          iat: now,
          nbf: now - 5,
          exp: now + 3600,
          jti: `${index}-${randomBytes(6).toString('hex')}`,
          sub: 'repo:acme/api:ref:refs/heads/main',
          repository: 'acme/api',
          repository_owner: 'acme',
          workflow_ref: 'acme/api/.github/workflows/release.yml@refs/heads/main',
          job_workflow_ref: 'acme/api/.github/workflows/release.yml@refs/heads/main',
          ref: 'refs/heads/main',
          run_id: String(1_000_000 + index),
        }),
      );
      const signer = createSign('RSA-SHA256');
      signer.update(`${header}.${payload}`);
      return `${header}.${payload}.${signer.sign(privateKey).toString('base64url')}`;
    },
  };
}

async function load(url: string, tokens: readonly string[], options: { amount?: number; duration?: number; overallRate?: number; accept?: string }): Promise<LoadResult> {
  const extra = options.accept ? { accept: options.accept } : {};
  let next = 0;
  let lastResponse = 0;
  const started = performance.now();
  const result = await runAutocannon({
    url,
    connections: options.overallRate ? 16 : CONNECTIONS,
    pipelining: 1,
    ...(options.amount ? { amount: options.amount } : { duration: options.duration ?? 10 }),
    ...(options.overallRate ? { overallRate: options.overallRate } : {}),
    requests: [
      {
        method: 'GET',
        path: '/v1/policy',
        setupRequest: (request: Record<string, unknown>) => {
          const token = tokens[next++ % tokens.length];
          return { ...request, headers: { authorization: `Bearer ${token}`, ...extra } };
        },
      },
    ],
  }, () => {
    lastResponse = performance.now();
  });
  return {
    // A fixed amount finishes in a few seconds, and autocannon notices the end on a 1 s tick:
    // its per-second average and its duration are whole seconds (12,000 in 2.4 s read as
    // 6,000/s). Total over the time to the last response instead.
    rps: options.amount ? result.requests.total / ((lastResponse - started) / 1000) : result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

/** autocannon's callback form, which also exposes each response (for exact elapsed time). */
function runAutocannon(options: AutocannonOptions, onResponse: () => void): Promise<AutocannonResult> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(options, (error, result) => (error ? reject(error) : resolve(result)));
    instance.on('response', onResponse);
  });
}

function startChild(options: Record<string, unknown>, flags: readonly string[] = []): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(here, 'server-child.ts'), [JSON.stringify(options)], { execArgv: [...flags, '--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (message: { type: string; url: string }) => resolve({ child, url: message.url }));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`server child exited with ${code}`)));
  });
}

function childRss(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    const onMessage = (message: { type: string; rss: number }): void => {
      if (message.type !== 'rss') return;
      child.off('message', onMessage);
      resolve(message.rss);
    };
    child.on('message', onMessage);
    child.send({ type: 'rss' });
  });
}

/** Max and p99 event-loop delay (ms) in the child since `resetLoop`. */
function childLoop(child: ChildProcess): Promise<{ max: number; p99: number }> {
  return new Promise((resolve) => {
    const onMessage = (message: { type: string; max: number; p99: number }): void => {
      if (message.type !== 'loop') return;
      child.off('message', onMessage);
      resolve({ max: message.max, p99: message.p99 });
    };
    child.on('message', onMessage);
    child.send({ type: 'loop' });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.once('exit', () => resolve());
    child.send({ type: 'close' });
  });
}

/** nginx with one worker serving `body` at /v1/policy, on a free loopback port. */
async function startNginx(body: string): Promise<{ url: string; stop: () => Promise<void>; version: string } | { skipped: string }> {
  let binary = ['/usr/sbin/nginx', 'nginx'].find((candidate) => spawnSync(candidate, ['-v']).status === 0);
  if (!binary && spawnSync('apt-get', ['install', '-y', 'nginx'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0) {
    binary = '/usr/sbin/nginx';
  }
  if (!binary) return { skipped: 'nginx is not installed (apt-get install -y nginx)' };
  const version = spawnSync(binary, ['-v'], { encoding: 'utf8' }).stderr.trim().replace(/^nginx version: /, '');
  const port = await new Promise<number>((resolve) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address() as AddressInfo;
      probe.close(() => resolve(free));
    });
  });
  const dir = mkdtempSync(path.join(tmpdir(), 'egressctl-nginx-'));
  chmodSync(dir, 0o755);
  mkdirSync(path.join(dir, 'html', 'v1'), { recursive: true });
  writeFileSync(path.join(dir, 'html', 'v1', 'policy'), body);
  chmodSync(path.join(dir, 'html'), 0o755);
  chmodSync(path.join(dir, 'html', 'v1'), 0o755);
  const config = [
    'daemon off;',
    'master_process on;',
    'worker_processes 1;',
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/error.log warn;`,
    'events { worker_connections 1024; }',
    'http {',
    '  access_log off;',
    `  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;`,
    '  keepalive_requests 1000000;',
    '  server {',
    `    listen 127.0.0.1:${port};`,
    `    root ${dir}/html;`,
    '    location = /v1/policy { default_type application/json; add_header Cache-Control no-store; }',
    '  }',
    '}',
    '',
  ].join('\n');
  writeFileSync(path.join(dir, 'nginx.conf'), config);
  const child = spawn(binary, ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      if ((await fetch(`${url}/v1/policy`)).status === 200) break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return {
    url,
    version,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        });
        child.kill('SIGQUIT');
      }),
  };
}

/** A policy repository with a realistic answer: a workflow policy of 40 endpoints. */
function benchRepository(): ReturnType<typeof makeTempRepo> {
  const endpoints = Array.from({ length: 40 }, (_, index) => `  - service-${index}.example.com`).join('\n');
  const repo = makeTempRepo(
    {
      'policies/base.yml': 'egress-policy: block\nallowed-endpoints:\n  - github.com\n  - api.github.com\n',
      'policies/release.yml': `egress-policy: block\nextends: base\nallowed-endpoints:\n${endpoints}\n`,
      'policies/org.yml': 'egress-policy: audit\n',
      'attachments.yml': 'organizations:\n  acme: org\nrepositories:\n  acme/api: base\nworkflows:\n  acme/api/.github/workflows/release.yml: release\n',
    },
    { git: true },
  );
  repo.commit('bench policies');
  return repo;
}

async function commitToReplica(repo: ReturnType<typeof makeTempRepo>, replicaUrl: string, round: number): Promise<number> {
  const current = await fetch(`${replicaUrl}/v1/bundle`);
  const etag = current.headers.get('etag') ?? '';
  await current.arrayBuffer();
  const poll = fetch(`${replicaUrl}/v1/bundle?wait=30`, { headers: { 'if-none-match': etag } });
  await new Promise((resolve) => setTimeout(resolve, 50));
  repo.write({ 'policies/org.yml': `egress-policy: audit\ndescription: round ${round}\n` });
  const started = performance.now();
  const sha = repo.commit(`round ${round}`);
  const response = await poll;
  await response.arrayBuffer();
  if (response.headers.get('x-egressctl-revision') !== sha) throw new Error('the replica answered with another revision');
  return performance.now() - started;
}

export async function runServerBench(): Promise<BenchSection> {
  const issuerServer = createServer();
  await new Promise<void>((resolve) => issuerServer.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(issuerServer.address() as AddressInfo).port}`;
  const minter = tokenMinter(issuer);
  issuerServer.on('request', (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [minter.jwk] }));
  });
  const repo = benchRepository();
  let primary: ChildProcess | undefined;
  let replica: ChildProcess | undefined;
  try {
    const mintStart = performance.now();
    const fresh = Array.from({ length: FRESH_TOKENS }, (_, index) => minter.mint(index));
    const warm = Array.from({ length: 500 }, (_, index) => minter.mint(FRESH_TOKENS + index));
    const pool = Array.from({ length: 1_000 }, (_, index) => minter.mint(FRESH_TOKENS + 1_000 + index));
    const mintSeconds = (performance.now() - mintStart) / 1000;

    // Ceiling 1: bare RS256 verification with jose, in a loop, in this process.
    const key = await importJWK(minter.jwk, 'RS256');
    const ceilingTokens = fresh.slice(0, Math.min(5_000, fresh.length));
    for (const token of warm.slice(0, 200)) await jwtVerify(token, key, { issuer, audience: AUDIENCE, algorithms: ['RS256'] });
    const verifyStart = performance.now();
    for (const token of ceilingTokens) await jwtVerify(token, key, { issuer, audience: AUDIENCE, algorithms: ['RS256'] });
    const verifyPerSecond = ceilingTokens.length / ((performance.now() - verifyStart) / 1000);

    const started = await startChild({ source: repo.dir, oidc: { issuer, audience: AUDIENCE, jwksUrl: issuer }, defaultMetrics: true }, CHILD_FLAGS);
    primary = started.child;
    const url = started.url;
    const sample = await fetch(`${url}/v1/policy`, { headers: { authorization: `Bearer ${pool[0]}` } });
    const body = await sample.text();
    if (sample.status !== 200) throw new Error(`the server answered ${sample.status}: ${body}`);

    await load(url, warm, { amount: warm.length });
    primary.send({ type: 'loop-reset' });
    const freshLoad = await load(url, fresh, { amount: fresh.length });
    const freshLoop = await childLoop(primary);
    const ratio = (value: number, ceiling: number): string => `${(value / ceiling).toFixed(2)}x`;
    const ms = (value: number): string => `${value.toFixed(1)} ms`;
    if (QUICK) {
      // The full run has verified the pool during the repeated-token run; do the same here.
      await load(url, pool, { amount: pool.length * 3 });
      primary.send({ type: 'loop-reset' });
      const quickRate = await load(url, pool, { duration: 10, overallRate: 2_000 });
      const quickLoop = await childLoop(primary);
      const lines = [
        `fresh: ${Math.round(freshLoad.rps)} req/s vs ceiling ${Math.round(verifyPerSecond)} = ${ratio(freshLoad.rps, verifyPerSecond)}; p50 ${ms(freshLoad.p50)} p99 ${ms(freshLoad.p99)}; loop delay max ${ms(freshLoop.max)}; ${freshLoad.non2xx} non-2xx, ${freshLoad.errors} errors`,
        `2,000 req/s: p50 ${ms(quickRate.p50)} p99 ${ms(quickRate.p99)}; loop delay max ${ms(quickLoop.max)} p99 ${ms(quickLoop.p99)}; ${quickRate.non2xx} non-2xx, ${quickRate.errors} errors`,
      ];
      return { title: 'Server (quick)', markdown: lines.join('\n') };
    }

    // The same fresh tokens against a second server that signs its answers (a new process: no
    // token is cached there), the runners asking for the signed envelope.
    const signedStarted = await startChild(
      { source: repo.dir, oidc: { issuer, audience: AUDIENCE, jwksUrl: issuer }, defaultMetrics: true, signKeyPem: generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() },
      CHILD_FLAGS,
    );
    const signedSample = await fetch(`${signedStarted.url}/v1/policy`, { headers: { authorization: `Bearer ${pool[0]}`, accept: SIGNED_ANSWER_MEDIA_TYPE } });
    const signedBody = await signedSample.text();
    if (signedSample.status !== 200) throw new Error(`the signing server answered ${signedSample.status}: ${signedBody}`);
    await load(signedStarted.url, warm, { amount: warm.length, accept: SIGNED_ANSWER_MEDIA_TYPE });
    const signedLoad = await load(signedStarted.url, fresh, { amount: fresh.length, accept: SIGNED_ANSWER_MEDIA_TYPE });
    await stopChild(signedStarted.child);

    const rssBefore = await childRss(primary);
    const repeatedLoad = await load(url, pool, { duration: REPEATED_SECONDS });
    const rssAfter = await childRss(primary);
    primary.send({ type: 'loop-reset' });
    const atRate = await load(url, pool, { duration: 10, overallRate: 2_000 });
    const atRateLoop = await childLoop(primary);

    const nginx = await startNginx(body);
    let nginxLoad: LoadResult | undefined;
    let nginxNote: string;
    if ('skipped' in nginx) {
      nginxNote = nginx.skipped;
    } else {
      await load(nginx.url, pool, { duration: 2 });
      nginxLoad = await load(nginx.url, pool, { duration: Math.min(REPEATED_SECONDS, 15) });
      nginxNote = `${nginx.version}, 1 worker process`;
      await nginx.stop();
    }

    const replicaStarted = await startChild({ source: `${url}/v1/bundle`, defaultMetrics: false });
    replica = replicaStarted.child;
    const propagation: number[] = [];
    for (let round = 1; round <= 3; round++) propagation.push(await commitToReplica(repo, replicaStarted.url, round));

    const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
    const rps = (value: number): string => Math.round(value).toLocaleString('en');
    const failures = (run: LoadResult): string => (run.non2xx + run.errors === 0 ? '' : ` (${run.non2xx} non-2xx, ${run.errors} errors)`);
    const lines = [
      `\`/v1/policy\` with GitHub-style OIDC tokens (RS256, 2048-bit), ${body.length}-byte answer, ${CONNECTIONS} connections, autocannon in the parent process and the server in a child process (2 cores shared). Ceilings measured in the same run.`,
      '',
      '| load | server req/s | ceiling | ceiling req/s | ratio | target | p50 | p99 |',
      '|---|---|---|---|---|---|---|---|',
      `| fresh tokens (${fresh.length.toLocaleString('en')} distinct, each verified once)${failures(freshLoad)} | ${rps(freshLoad.rps)} | jose \`jwtVerify\` loop in-process | ${rps(verifyPerSecond)} | ${ratio(freshLoad.rps, verifyPerSecond)} | >= 0.7x | ${ms(freshLoad.p50)} | ${ms(freshLoad.p99)} |`,
      `| fresh tokens, signed answers (same ${fresh.length.toLocaleString('en')} tokens, another server process, ${signedBody.length}-byte envelope)${failures(signedLoad)} | ${rps(signedLoad.rps)} | jose \`jwtVerify\` loop in-process | ${rps(verifyPerSecond)} | ${ratio(signedLoad.rps, verifyPerSecond)} | cost < 10% of the unsigned ratio | ${ms(signedLoad.p50)} | ${ms(signedLoad.p99)} |`,
      nginxLoad
        ? `| repeated tokens (pool of 1,000, ${REPEATED_SECONDS} s)${failures(repeatedLoad)} | ${rps(repeatedLoad.rps)} | nginx static file (${nginxNote}) | ${rps(nginxLoad.rps)} | ${ratio(repeatedLoad.rps, nginxLoad.rps)} | >= 0.5x | ${ms(repeatedLoad.p50)} | ${ms(repeatedLoad.p99)} |`
        : `| repeated tokens (pool of 1,000, ${REPEATED_SECONDS} s) | ${rps(repeatedLoad.rps)} | nginx: ${nginxNote} | - | - | >= 0.5x | ${ms(repeatedLoad.p50)} | ${ms(repeatedLoad.p99)} |`,
      '',
      `- At a fixed 2,000 req/s (repeated tokens, 10 s): p50 ${ms(atRate.p50)}, p99 ${ms(atRate.p99)}${failures(atRate)}; server event-loop delay max ${ms(atRateLoop.max)} (p99 ${ms(atRateLoop.p99)}).`,
      `- Signed answers cost the fresh-token ratio ${(((freshLoad.rps - signedLoad.rps) / freshLoad.rps) * 100).toFixed(1)}% (${ratio(freshLoad.rps, verifyPerSecond)} unsigned, ${ratio(signedLoad.rps, verifyPerSecond)} signed): each envelope is signed once per scope and revision and then served from the answer cache.`,
      `- Server event-loop delay during the fresh-token run: max ${ms(freshLoop.max)}.`,
      `- Server RSS before / after the ${REPEATED_SECONDS} s repeated-token run: ${mib(rssBefore)} / ${mib(rssAfter)}.`,
      `- Commit -> visible through a chained replica (git source, fs watch; replica long-polls the first server): ${propagation.map((value) => ms(value)).join(', ')} (target < 2 s).`,
      `- nginx p50 / p99 for reference: ${nginxLoad ? `${ms(nginxLoad.p50)} / ${ms(nginxLoad.p99)}` : 'n/a'}. Token minting (not measured load): ${fresh.length + warm.length + pool.length} tokens in ${mintSeconds.toFixed(1)} s.`,
    ];
    return { title: 'Server: /v1/policy with OIDC verification', markdown: lines.join('\n') };
  } finally {
    if (replica) await stopChild(replica);
    if (primary) await stopChild(primary);
    issuerServer.close();
    repo.cleanup();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  runServerBench().then(
    (section) => {
      console.log(`## ${section.title}\n\n${section.markdown}`);
      process.exit(0);
    },
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
