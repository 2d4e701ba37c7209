/**
 * Hostile firewall decisions artifacts: the download through the Actions artifacts API is bounded
 * (bytes and one deadline for the body) and an archive that inflates past its cap, in one entry or
 * across many, is refused with a warning, never retried as a failure (docs/security.md).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ProbotOctokit } from 'probot';
import { afterEach, describe, expect, it } from 'vitest';
import { firewallEndpointsOf } from '../../src/app/github-firewall-decisions.js';
import { boundedFetch } from '../../src/util/bounded-fetch.js';
import { readZipEntries, ZipError } from '../../src/util/zip.js';
import { zipFiles } from '../support/github/zip.js';

const JOB = { owner: 'acme', repo: 'api', runId: 7, jobId: 70, jobKey: 'test', jobName: 'test' };

interface Warned { message: string }

function memoryLog(): { warned: Warned[]; log: { info(): void; debug(): void; error(): void; warn(fields: object, message: string): void } } {
  const warned: Warned[] = [];
  return { warned, log: { info() {}, debug() {}, error() {}, warn: (_fields: object, message: string) => warned.push({ message }) } };
}

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** GitHub's two routes: the run's artifact list, and a zip that is `zip` or, when absent, never ends. */
async function artifactServer(zip?: Buffer): Promise<{ url: string; sent: () => number }> {
  let sent = 0;
  server = createServer((req, res) => {
    if (req.url?.startsWith('/repos/acme/api/actions/runs/7/artifacts')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ total_count: 1, artifacts: [{ id: 5, name: 'firewall-decisions-70', expired: false }] }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/zip' });
    if (zip) {
      res.end(zip);
      return;
    }
    const chunk = Buffer.alloc(64 * 1024);
    const pump = (): void => {
      while (!res.destroyed && res.write(chunk)) sent += chunk.length;
      if (!res.destroyed) res.once('drain', pump);
    };
    pump();
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server!.address() as AddressInfo).port}`, sent: () => sent };
}

describe('firewall decisions artifacts from a hostile source', () => {
  it('stops reading a download that never ends at the byte cap and skips the job with a warning', async () => {
    const { url, sent } = await artifactServer();
    const client = new ProbotOctokit({ baseUrl: url, auth: 'test', retry: { enabled: false }, throttle: { enabled: false } });
    const { warned, log } = memoryLog();
    const endpoints = await firewallEndpointsOf(client, JOB, log, boundedFetch({ maxBytes: 1024 * 1024, timeoutMs: 10_000 }));
    expect(endpoints).toBeUndefined();
    expect(warned.map((item) => item.message).join('\n')).toMatch(/not read: .*1 MiB/);
    // The cap held: a few chunks past it at most (what sat in socket buffers), not the stream.
    expect(sent()).toBeLessThan(16 * 1024 * 1024);
  });

  it('skips, with a warning and without throwing, an archive whose entries inflate past the total cap', async () => {
    // 80 entries of 1 MiB of zeros: each under the per-entry cap, 80 MiB together.
    const files: Record<string, Buffer> = {};
    for (let index = 0; index < 80; index++) files[`part-${index}.json`] = Buffer.alloc(1024 * 1024);
    const bomb = zipFiles(files);
    expect(() => readZipEntries(bomb)).toThrow(ZipError);
    expect(() => readZipEntries(bomb)).toThrow(/more than .* bytes in all|inflates past/);
    const { url } = await artifactServer(bomb);
    const client = new ProbotOctokit({ baseUrl: url, auth: 'test', retry: { enabled: false }, throttle: { enabled: false } });
    const { warned, log } = memoryLog();
    await expect(firewallEndpointsOf(client, JOB, log)).resolves.toBeUndefined();
    expect(warned.map((item) => item.message).join('\n')).toMatch(/firewall decisions artifact of acme\/api job 70 not read: .*in all/);
  });

  it('still reads a well-formed artifact through the bounded download', async () => {
    const decisions = JSON.stringify({ decision: [{ url: 'https://registry.npmjs.org/left-pad' }, { url: 'http://deb.debian.org:80/debian' }] });
    const { url } = await artifactServer(zipFiles({ 'firewall-decisions-70.json': decisions }));
    const client = new ProbotOctokit({ baseUrl: url, auth: 'test', retry: { enabled: false }, throttle: { enabled: false } });
    const { log } = memoryLog();
    expect(await firewallEndpointsOf(client, JOB, log)).toEqual(['deb.debian.org:80', 'registry.npmjs.org:443']);
  });
});
