/**
 * Breakage forecast: jobs in baselines whose effective policy changes to one in block mode, and
 * the endpoints they were seen using that it would not allow (agent wildcard rule, Harden-Runner's
 * implicit endpoints allowed). Only breakage the change introduces counts; an endpoint the base
 * blocked already is counted apart. Jobs whose effective policy does not change are skipped.
 *
 * The forecast is about one instant (docs/architecture.md#expiring-exceptions): both sides are
 * taken as they stand then (`policyAsOf`: an exception that has expired is absent), and an
 * endpoint the head allows only through exceptions is future breakage, dated by the last day the
 * head allows it, unless the base would stop allowing it as soon or sooner.
 */
import type { BaselineIndex } from '../baselines/index.js';
import { expiryInstant, nextExpiryInstant, policyAsOf } from '../policy/expiry.js';
import type { AttachmentMap, CompiledPolicy, EgressMode } from '../policy/model.js';
import { resolveScopes } from '../policy/resolve.js';
import { EndpointMatcher } from './endpoints.js';
import type { JobBreakage, JobExpiryBreakage } from './model.js';
import { scopeId, type ScopeAnalysis } from './scopes.js';

export interface BreakageForecast {
  breakage: JobBreakage[];
  /** Jobs that break later, when exceptions the head allows them through expire. */
  breakageLater: JobExpiryBreakage[];
  alreadyBlocked: { jobs: number; endpoints: number };
  jobsObserved: number;
}

export interface ForecastSide {
  compiled: Readonly<Record<string, CompiledPolicy>>;
  attachments: AttachmentMap;
}

/**
 * What one policy allows from the forecast's instant on: as it stands then, and again after each
 * of its remaining exceptions ends. Allowing only shrinks over time, so the first step that does
 * not allow an endpoint is when it breaks.
 */
class AllowanceTimeline {
  private readonly steps: { from: number; lastDay: string | undefined; matcher: EndpointMatcher }[] = [];

  constructor(policy: CompiledPolicy | undefined, at: number) {
    let current = policy && policyAsOf(policy, at);
    this.steps.push({ from: at, lastDay: undefined, matcher: matcherOf(current) });
    for (let from = nextExpiryInstant(current, at); current !== undefined && from !== undefined; from = nextExpiryInstant(current, from)) {
      const ending = from;
      const lastDay = Object.values(current['endpoint-expiry'] ?? {}).find((date) => expiryInstant(date) === ending);
      current = policyAsOf(current, from);
      this.steps.push({ from, lastDay, matcher: matcherOf(current) });
    }
  }

  /** When `endpoint` stops being allowed: `at` (blocked already), an exception's end, or never. */
  blockedFrom(endpoint: string): { from: number; lastDay?: string } {
    for (const step of this.steps) if (!step.matcher.allows(endpoint)) return step.lastDay === undefined ? { from: step.from } : { from: step.from, lastDay: step.lastDay };
    return { from: Number.POSITIVE_INFINITY };
  }
}

function matcherOf(policy: CompiledPolicy | undefined): EndpointMatcher {
  return new EndpointMatcher(policy?.['allowed-endpoints'] ?? [], { disableTelemetry: policy?.['disable-telemetry'] });
}

function timelineCache(compiled: Readonly<Record<string, CompiledPolicy>>, at: number): (name: string) => AllowanceTimeline {
  const cache = new Map<string, AllowanceTimeline>();
  return (name) => {
    let timeline = cache.get(name);
    if (!timeline) {
      timeline = new AllowanceTimeline(Object.hasOwn(compiled, name) ? compiled[name] : undefined, at);
      cache.set(name, timeline);
    }
    return timeline;
  };
}

function sameEndDates(a: CompiledPolicy, b: CompiledPolicy): boolean {
  const before = Object.entries(a['endpoint-expiry'] ?? {});
  const after = b['endpoint-expiry'] ?? {};
  return before.length === Object.keys(after).length && before.every(([endpoint, date]) => Object.hasOwn(after, endpoint) && after[endpoint] === date);
}

/**
 * Policies at both sides whose exceptions' end dates differ. A scope whose winner changed only
 * so is not in the precedence preview (what Harden-Runner is given today is the same), yet the
 * day its jobs break moves.
 */
function endDatesChanged(base: Readonly<Record<string, CompiledPolicy>>, head: Readonly<Record<string, CompiledPolicy>>): Set<string> {
  const names = new Set<string>();
  for (const [name, after] of Object.entries(head)) {
    const before = Object.hasOwn(base, name) ? base[name] : undefined;
    if (before && before !== after && !sameEndDates(before, after)) names.add(name);
  }
  return names;
}

interface ForecastScope {
  before: { policy: string; mode: EgressMode } | null;
  after: { policy: string; mode: EgressMode };
  why: string;
}

export function forecastBreakage(
  index: BaselineIndex | undefined,
  scopes: Pick<ScopeAnalysis, 'byKey'>,
  base: ForecastSide,
  head: ForecastSide,
  at: Date | number,
): BreakageForecast {
  const forecast: BreakageForecast = { breakage: [], breakageLater: [], alreadyBlocked: { jobs: 0, endpoints: 0 }, jobsObserved: 0 };
  if (!index) return forecast;
  const now = typeof at === 'number' ? at : at.getTime();
  const beforeTimeline = timelineCache(base.compiled, now);
  const afterTimeline = timelineCache(head.compiled, now);
  const newEndDates = endDatesChanged(base.compiled, head.compiled);

  const scopeOf = (repository: string, workflowPath: string): ForecastScope | undefined => {
    const change = scopes.byKey.get(scopeId('workflow', `${repository}/${workflowPath}`));
    if (change) return change.after ? { before: change.before && { policy: change.before.policy, mode: change.before.mode }, after: { policy: change.after.policy, mode: change.after.mode }, why: change.why.text } : undefined;
    if (newEndDates.size === 0) return undefined;
    // Not in the preview: the same policy wins at both sides (precedence of resolve.ts).
    const policy = resolveScopes(head.attachments, { repository, workflow: workflowPath }).policy;
    if (policy === null || !newEndDates.has(policy)) return undefined;
    const mode = head.compiled[policy]?.['egress-policy'] ?? 'audit';
    return { before: { policy, mode }, after: { policy, mode }, why: `policy ${policy} changed: an exception's end date` };
  };

  for (const [repository, file] of index.files) {
    for (const [workflowPath, jobs] of file.workflows) {
      forecast.jobsObserved += jobs.size;
      const change = scopeOf(repository, workflowPath);
      if (!change || change.after.mode !== 'block') continue;
      const after = afterTimeline(change.after.policy);
      const before = change.before?.mode === 'block' ? beforeTimeline(change.before.policy) : undefined;

      for (const [job, baseline] of jobs) {
        const newlyBlocked: string[] = [];
        const alreadyBlocked: string[] = [];
        const later: JobExpiryBreakage['endpoints'] = [];
        const endpointRuns: Record<string, number> = {};
        let runs = 0;
        for (const [endpoint, seen] of baseline.endpoints) {
          const blocked = after.blockedFrom(endpoint);
          if (blocked.from === Number.POSITIVE_INFINITY) continue;
          const blockedBefore = before ? before.blockedFrom(endpoint).from : Number.POSITIVE_INFINITY;
          if (blocked.from === now) {
            if (blockedBefore === now) {
              alreadyBlocked.push(endpoint);
              continue;
            }
            newlyBlocked.push(endpoint);
            endpointRuns[endpoint] = seen.runs;
            runs = Math.max(runs, seen.runs);
          } else if (blockedBefore > blocked.from && blocked.lastDay !== undefined) {
            // Only breakage the change brings: the base allowed it longer (or for good).
            later.push({ endpoint, expires: blocked.lastDay, runs: seen.runs });
          }
        }
        if (alreadyBlocked.length > 0) {
          forecast.alreadyBlocked.jobs += 1;
          forecast.alreadyBlocked.endpoints += alreadyBlocked.length;
        }
        const key = `${repository}/${workflowPath}#${job}`;
        if (later.length > 0) {
          later.sort((a, b) => (a.expires !== b.expires ? (a.expires < b.expires ? -1 : 1) : a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : 0));
          forecast.breakageLater.push({
            repository,
            workflow: workflowPath,
            job,
            key,
            endpoints: later,
            expires: (later[0] as JobExpiryBreakage['endpoints'][number]).expires,
            observedRuns: baseline.runs,
            before: change.before,
            after: change.after,
            why: change.why,
          });
        }
        if (newlyBlocked.length === 0) continue;
        forecast.breakage.push({
          repository,
          workflow: workflowPath,
          job,
          key,
          endpoints: newlyBlocked.sort(),
          runs,
          endpointRuns,
          observedRuns: baseline.runs,
          alreadyBlocked: alreadyBlocked.sort(),
          before: change.before,
          after: change.after,
          why: change.why,
        });
      }
    }
  }
  forecast.breakage.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  forecast.breakageLater.sort((a, b) => (a.expires !== b.expires ? (a.expires < b.expires ? -1 : 1) : a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return forecast;
}
