/**
 * The read-only web console, mounted by `egressctl serve` at `/` through the server's
 * ConsoleHandler hook. Server-rendered HTML that works without JavaScript:
 *   /                               policy store (filter: q, mode, scope; page)
 *   /policies/NAME                  one policy: YAML as written, endpoints, attachments, shadowing
 *   /policies/NAME/history[/SHA]    its audit log (one commit's change in full);  /history  everything's
 *   /policies/NAME/export.txt       its flattened endpoints, one a line (download)
 *   /lookup?org=&repository=&workflow=&cluster=   which policy applies, and the `with:` block
 *   /baselines, /baselines/OWNER/REPO             observed endpoints per job, recommendations (filter: q; cluster)
 *   /sync?status=                   the last sync report: per repository synced / out of sync / PR open
 *   /coverage?mode=&repository=     per job: what enforces it, in which mode, why not (from the last sync)
 *   /baselines/OWNER/REPO/export?workflow=&job=&cluster=   a job's (or workflow's, repository's) endpoints (download)
 *   /static/console.css             the stylesheet (versioned URL, cached)
 * Every page carries a strict Content-Security-Policy: no scripts at all, styles from here only.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { clustersIn, forCluster, jobsOnCluster, type JobRecommendation } from '../../baselines/recommend.js';
import { SCOPE_KEY_PATTERNS } from '../../policy/scope-keys.js';
import { DEFAULT_SETTINGS, POLICY_NAME_PATTERN, SCOPE_TYPES, type ScopeType } from '../../policy/model.js';
import { etagMatches } from '../http.js';
import type { ConsoleHandler, ServerState } from '../server.js';
import { ConsoleLoader, type SourceRef } from './load.js';
import type { ConsoleSnapshot } from './model.js';
import { pageParam } from './render-common.js';
import { renderBaselineList, renderBaselineRepository, summarizeBaselines, type RepositoryBaselineSummary } from './render-baselines.js';
import { renderNoBundle, renderNotFound } from './render-errors.js';
import { renderHistory } from './render-history.js';
import { renderPage, type PageBody, type PageContext } from './render-layout.js';
import { renderLookup } from './render-lookup.js';
import { renderPolicy } from './render-policy.js';
import { renderStore } from './render-store.js';
import { renderSync, variableLookup } from './render-sync.js';
import { COVERAGE_MODES, renderCoverage } from './render-coverage.js';
import { POLICY_VARIABLE, REPOSITORY_POLICY_VARIABLE, workflowVariableName } from '../../policy/delivery.js';
import type { SyncReportFile } from '../../rollout/sync-report.js';
import { FileSyncStateStore, type SyncStateReader } from '../../rollout/sync-state.js';
import { CONSOLE_CSS, CONSOLE_CSS_VERSION, FAVICON_SVG } from './style.js';

export { CONSOLE_CSS_VERSION } from './style.js';

export interface ConsoleOptions {
  /**
   * The policy repository on GitHub (`owner/repo`), for commit and PR links. Default: the git
   * source's `origin` remote when it is on the configured GitHub; unknown means no links.
   */
  policyRepository?: string | undefined;
  /** Overrides egressctl.yml's `github-url` for links. */
  githubUrl?: string | undefined;
  /** The clock for "3 days ago" (tests). */
  now?: () => Date;
  /** Where the last sync report is kept (sync-report.json): the App's state directory, or `egressctl sync --state-dir`. */
  syncReportDir?: string | undefined;
  /** Where the sync state is when it is not a directory (the App's Redis with several replicas); wins over `syncReportDir`. */
  syncState?: SyncStateReader | undefined;
}

export const CONSOLE_CSS_PATH = '/static/console.css';
export const FAVICON_PATH = '/static/favicon.svg';

/** Headers on every console response. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** Paths the console owns: unknown ones under these get its 404 page rather than the API's JSON. */
const CONSOLE_PREFIXES = ['/policies', '/history', '/lookup', '/baselines', '/sync', '/coverage', '/static/'];

interface Request {
  req: IncomingMessage;
  res: ServerResponse;
  state: ServerState;
  segments: string[];
  query: URLSearchParams;
}

function send(res: ServerResponse, status: number, body: string | Buffer, headers: Record<string, string>): void {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-length': String(bytes.length), ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : bytes);
}

function safeFileName(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'endpoints';
}

function sendText(res: ServerResponse, lines: readonly string[], fileName: string): void {
  send(res, 200, lines.length === 0 ? '' : `${lines.join('\n')}\n`, {
    'content-type': 'text/plain; charset=utf-8',
    'content-disposition': `attachment; filename="${safeFileName(fileName)}"`,
    'cache-control': 'no-cache',
  });
}

/** Path segments, percent-decoded; undefined when the path cannot be decoded. */
function pathSegments(pathname: string): string[] | undefined {
  const trimmed = pathname.length > 1 ? pathname.replace(/\/+$/, '') : pathname;
  try {
    return trimmed.split('/').slice(1).filter((segment, index, all) => !(segment === '' && all.length === 1)).map((segment) => decodeURIComponent(segment));
  } catch {
    return undefined;
  }
}

export function createConsoleHandler(options: ConsoleOptions = {}): ConsoleHandler {
  const loader = new ConsoleLoader();
  const now = options.now ?? (() => new Date());
  const syncState = options.syncState ?? (options.syncReportDir ? new FileSyncStateStore(options.syncReportDir) : undefined);
  const stylesheet = `${CONSOLE_CSS_PATH}?v=${CONSOLE_CSS_VERSION}`;
  // Per snapshot (so per revision): the baseline summaries and jobs by repository.
  const baselineViews = new WeakMap<ConsoleSnapshot, { summaries: RepositoryBaselineSummary[]; jobs: Map<string, JobRecommendation[]> }>();

  function baselineView(snapshot: ConsoleSnapshot) {
    let view = baselineViews.get(snapshot);
    if (!view && snapshot.repository) {
      const jobs = new Map<string, JobRecommendation[]>();
      for (const job of snapshot.repository.baselines.jobs) {
        const list = jobs.get(job.repository);
        if (list) list.push(job);
        else jobs.set(job.repository, [job]);
      }
      view = { summaries: summarizeBaselines(snapshot.repository.baselines), jobs };
      baselineViews.set(snapshot, view);
    }
    return view;
  }

  async function context(state: ServerState, source: SourceRef, snapshot: ConsoleSnapshot | undefined): Promise<PageContext> {
    const served = state.bundle?.bundle;
    const githubUrl = options.githubUrl ?? snapshot?.repository?.settings.githubUrl ?? DEFAULT_SETTINGS.githubUrl;
    const repository = options.policyRepository || (await loader.remoteRepository(source, githubUrl));
    const problem = state.degraded;
    const lastError = state.source.lastError;
    return {
      now: now(),
      revision: served?.revision,
      committedAt: served?.committedAt,
      degraded: problem
        ? { reason: problem.reason, message: problem.message, at: problem.at.toISOString() }
        : lastError && served
          ? { reason: 'source', message: `the source fails: ${lastError.message}`, at: lastError.at.toISOString() }
          : undefined,
      sourceKind: source.kind,
      links: { githubUrl, repository },
      stylesheet,
    };
  }

  function sendPage(res: ServerResponse, status: number, pageContext: PageContext, body: PageBody): void {
    send(res, status, renderPage(pageContext, body), {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-cache',
      ...(pageContext.revision ? { 'x-egressctl-revision': pageContext.revision } : {}),
    });
  }

  function sendStylesheet(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): void {
    const etag = `"${CONSOLE_CSS_VERSION}"`;
    // The versioned URL never changes content: cache it for good. The bare URL: for an hour.
    const cacheControl = query.get('v') === CONSOLE_CSS_VERSION ? 'public, max-age=31536000, immutable' : 'public, max-age=3600';
    if (etagMatches(req.headers['if-none-match'], etag)) {
      res.writeHead(304, { ...SECURITY_HEADERS, etag, 'cache-control': cacheControl });
      res.end();
      return;
    }
    send(res, 200, CONSOLE_CSS, { 'content-type': 'text/css; charset=utf-8', etag, 'cache-control': cacheControl });
  }

  async function syncReport(): Promise<SyncReportFile | undefined> {
    return syncState?.read();
  }

  async function route(request: Request): Promise<boolean> {
    const { res, state, segments, query } = request;
    const source: SourceRef = { kind: state.source.kind, location: state.source.location };
    const served = state.bundle?.bundle;
    const [first, second, third, fourth] = segments;
    const known =
      segments.length === 0 ||
      (first === 'policies' && (segments.length <= 3 || (segments.length === 4 && third === 'history'))) ||
      (first === 'history' && segments.length === 1) ||
      (first === 'lookup' && segments.length === 1) ||
      (first === 'sync' && segments.length === 1) ||
      (first === 'coverage' && segments.length === 1) ||
      (first === 'baselines' && (segments.length === 1 || segments.length === 3 || (segments.length === 4 && fourth === 'export')));
    if (!known) {
      const pathname = `/${segments.join('/')}`;
      const ours = CONSOLE_PREFIXES.some((prefix) => pathname === prefix.replace(/\/$/, '') || pathname.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`));
      if (!ours && !(request.req.headers.accept ?? '').includes('text/html')) return false;
      sendPage(res, 404, await context(state, source, undefined), renderNotFound(`There is no page at ${pathname}.`));
      return true;
    }
    if (!served) {
      sendPage(res, 503, await context(state, source, undefined), renderNoBundle(state.degraded?.message ?? state.source.lastError?.message));
      return true;
    }
    const snapshot = await loader.snapshot(served, source);
    const page = pageParam(query.get('page'));
    const pageContext = await context(state, source, snapshot);
    const show = (body: PageBody, status = 200): true => {
      sendPage(res, status, pageContext, body);
      return true;
    };

    if (segments.length === 0 || (first === 'policies' && segments.length === 1)) {
      const mode = query.get('mode');
      const scope = query.get('scope');
      return show(
        renderStore(
          snapshot.summaries,
          {
            query: (query.get('q') ?? '').slice(0, 200),
            mode: mode === 'block' || mode === 'audit' ? mode : '',
            scope: scope === 'none' || SCOPE_TYPES.includes(scope as ScopeType) ? (scope as ScopeType | 'none') : '',
          },
          page,
        ),
      );
    }

    if (first === 'policies' && second !== undefined) {
      const policy = POLICY_NAME_PATTERN.test(second) ? served.policies[second] : undefined;
      if (third === 'history') {
        if (!POLICY_NAME_PATTERN.test(second)) return show(renderNotFound(`"${second}" is not a policy name.`), 404);
        if (fourth !== undefined && !/^[0-9a-f]{7,64}$/i.test(fourth)) return show(renderNotFound(`"${fourth}" is not a commit sha.`), 404);
        const history = await loader.history(served, source, second);
        return show(renderHistory({ history, policy: second, policyExists: policy !== undefined, commit: fourth, page, links: pageContext.links, now: pageContext.now }));
      }
      if (!policy) {
        return show(renderNotFound(`There is no policy "${second}" at revision ${served.revision}.`, 'It may have been renamed or deleted: see the history.'), 404);
      }
      if (third === 'export.txt') {
        sendText(res, policy['allowed-endpoints'], `${policy.name}-endpoints.txt`);
        return true;
      }
      if (third !== undefined) return show(renderNotFound(`There is no page at /policies/${second}/${third}.`), 404);
      const file = `policies/${policy.name}.yml`;
      const text = snapshot.repository?.files.get(file);
      return show(
        renderPolicy({
          policy,
          policies: served.policies,
          index: snapshot.index,
          yaml: text !== undefined ? { text, file } : { missing: snapshot.repositoryMissing ?? `${file} is not in the source.` },
          historyAvailable: source.kind === 'git',
          page,
        }),
      );
    }

    if (first === 'history') {
      const history = await loader.history(served, source, undefined);
      return show(renderHistory({ history, policy: undefined, policyExists: false, page, links: pageContext.links, now: pageContext.now }));
    }

    if (first === 'sync') {
      const status = query.get('status') ?? '';
      // Any state the report may hold (the sync model grows states); the page escapes it.
      return show(renderSync(await syncReport(), /^[a-z][a-z-]{0,39}$/.test(status) ? status : ''));
    }

    if (first === 'coverage') {
      const mode = query.get('mode') ?? '';
      const wanted = COVERAGE_MODES.find((known) => known === mode) ?? '';
      return show(renderCoverage(await syncReport(), { mode: wanted, repository: (query.get('repository') ?? '').trim().slice(0, 200) }));
    }

    if (first === 'lookup') {
      const param = (name: string) => (query.get(name) ?? '').trim().slice(0, 300);
      const pin = snapshot.repository?.settings.hardenRunner ?? DEFAULT_SETTINGS.hardenRunner;
      const variables = snapshot.repository?.settings.delivery === 'variables' ? await syncReport() : undefined;
      const extra = variables
        ? (asked: { repository: string; workflow: string }) => {
            const repository = asked.repository.toLowerCase();
            if (!repository || !asked.workflow) return undefined;
            const org = repository.slice(0, repository.indexOf('/'));
            // The order the managed step reads them in (docs/reconciliation.md): workflow, repository, organization.
            return variableLookup(variables, repository, [
              { level: 'repository', target: repository, name: workflowVariableName(asked.workflow.replace(/@.*$/, '')) },
              // A repository attachment's own name (EGRESSCTL_REPO_POLICY): its steps never read the organization's.
              { level: 'repository', target: repository, name: REPOSITORY_POLICY_VARIABLE },
              { level: 'organization', target: org, name: POLICY_VARIABLE },
            ]);
          }
        : undefined;
      return show(renderLookup(served, { org: param('org'), repository: param('repository'), workflow: param('workflow'), cluster: param('cluster') }, pin, extra));
    }

    // Baselines.
    const view = baselineView(snapshot);
    if (!view) {
      return show({ ...renderNotFound(snapshot.repositoryMissing ?? 'Baselines are not available.'), title: 'Baselines', section: 'baselines' }, segments.length === 1 ? 200 : 404);
    }
    // `?cluster=NAME`: only runs recorded on that ARC cluster (docs/architecture.md#arc-clusters-in-baselines).
    const clusterParam = (query.get('cluster') ?? '').trim().toLowerCase();
    const cluster = SCOPE_KEY_PATTERNS.cluster.test(clusterParam) ? clusterParam : '';
    const index = snapshot.repository?.baselines;
    if (segments.length === 1) {
      const summaries = cluster && index ? summarizeBaselines(index, jobsOnCluster(index, cluster)) : view.summaries;
      return show(renderBaselineList(summaries, (query.get('q') ?? '').slice(0, 200), page, pageContext.now, { cluster, clusters: index ? clustersIn(index) : [] }));
    }
    const repository = `${second}/${third}`.toLowerCase();
    const allJobs = view.jobs.get(repository);
    const jobs = cluster ? allJobs?.flatMap((job) => forCluster(job, cluster) ?? []) : allJobs;
    if (!jobs && !snapshot.repository?.baselines.files.has(repository)) {
      return show(renderNotFound(`There is no baseline for ${second}/${third}.`, 'Baselines appear once audit-mode runs of the repository are imported.'), 404);
    }
    if (fourth !== 'export') return show(renderBaselineRepository(repository, jobs ?? [], served, page, pageContext.now, cluster || undefined));

    const workflowParam = (query.get('workflow') ?? '').trim().toLowerCase();
    const workflowPath = workflowParam === '' ? '' : workflowParam.includes('/') ? workflowParam.replace(/^.*?(\.github\/workflows\/)/, '$1') : `.github/workflows/${workflowParam}`;
    const jobParam = (query.get('job') ?? '').trim();
    const selected = (jobs ?? []).filter((job) => (workflowPath === '' || job.workflowPath === workflowPath) && (jobParam === '' || job.job === jobParam));
    if (selected.length === 0) {
      return show(renderNotFound(`No job of ${repository} matches workflow "${workflowParam}" and job "${jobParam}".`), 404);
    }
    const endpoints = [...new Set(selected.flatMap((job) => job.endpoints))].sort();
    const stem = workflowPath === '' ? '' : `-${(workflowPath.split('/').pop() ?? '').replace(/\.ya?ml$/, '')}`;
    sendText(res, endpoints, `${repository.replace('/', '-')}${stem}${jobParam ? `-${jobParam}` : ''}${cluster ? `-${cluster}` : ''}-endpoints.txt`);
    return true;
  }

  return async (req, res, state) => {
    const url = req.url ?? '/';
    const mark = url.indexOf('?');
    const pathname = mark === -1 ? url : url.slice(0, mark);
    const query = new URLSearchParams(mark === -1 ? '' : url.slice(mark + 1));
    if (pathname === CONSOLE_CSS_PATH) {
      sendStylesheet(req, res, query);
      return true;
    }
    if (pathname === FAVICON_PATH || pathname === '/favicon.ico') {
      send(res, 200, FAVICON_SVG, { 'content-type': 'image/svg+xml', 'cache-control': 'public, max-age=86400' });
      return true;
    }
    const segments = pathSegments(pathname);
    if (!segments) {
      send(res, 400, 'bad request: the path is not valid percent-encoding\n', { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      return true;
    }
    return route({ req, res, state, segments, query });
  };
}
