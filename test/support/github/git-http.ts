/**
 * git's smart HTTP protocol for the stand-in's repositories, through `git http-backend`
 * (the CGI program that ships with git), spawned once per request.
 */
import { spawn } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface GitHttpRequest {
  /** Directory holding `<owner>/<name>` repositories. */
  readonly projectRoot: string;
  /** `/<owner>/<name>/<git path>`, e.g. `/acme/api/info/refs`. */
  readonly pathInfo: string;
  /** Login of the authenticated caller; enables receive-pack (push). */
  readonly remoteUser: string | undefined;
}

/** Runs `git http-backend` for one request and relays its CGI answer. */
export function serveGitHttp(req: IncomingMessage, res: ServerResponse, options: GitHttpRequest): Promise<number> {
  const url = new URL(req.url ?? '/', 'http://standin.invalid');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    GIT_PROJECT_ROOT: options.projectRoot,
    GIT_HTTP_EXPORT_ALL: '1',
    PATH_INFO: options.pathInfo,
    REQUEST_METHOD: req.method ?? 'GET',
    QUERY_STRING: url.search.replace(/^\?/, ''),
    CONTENT_TYPE: String(req.headers['content-type'] ?? ''),
    REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
    SERVER_PROTOCOL: 'HTTP/1.1',
    GATEWAY_INTERFACE: 'CGI/1.1',
  };
  if (req.headers['content-length']) env.CONTENT_LENGTH = String(req.headers['content-length']);
  if (req.headers['content-encoding']) env.HTTP_CONTENT_ENCODING = String(req.headers['content-encoding']);
  if (req.headers['git-protocol']) env.HTTP_GIT_PROTOCOL = String(req.headers['git-protocol']);
  if (options.remoteUser) env.REMOTE_USER = options.remoteUser;

  return new Promise((resolve) => {
    const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.stdin.on('error', () => undefined);
    req.pipe(child.stdin);
    // A client that hangs up mid-request (a killed App) never ends stdin: git http-backend would wait
    // on it for ever. The answer is only sent once git exited, so a close before that is a hang-up.
    res.on('close', () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    const fail = (message: string) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(message);
      resolve(500);
    };
    child.on('error', (error) => fail(`git http-backend failed to start: ${error.message}`));
    child.on('close', (code) => {
      const output = Buffer.concat(out);
      let split = output.indexOf('\r\n\r\n');
      let separatorLength = 4;
      if (split === -1) {
        split = output.indexOf('\n\n');
        separatorLength = 2;
      }
      if (split === -1) {
        fail(`git http-backend exited ${code}: ${Buffer.concat(err).toString('utf8')}`);
        return;
      }
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of output.subarray(0, split).toString('latin1').split(/\r?\n/)) {
        const colon = line.indexOf(':');
        if (colon === -1) continue;
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10) || 500;
        else headers[name] = value;
      }
      res.writeHead(status, headers);
      res.end(output.subarray(split + separatorLength));
      resolve(status);
    });
  });
}
