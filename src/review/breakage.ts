/**
 * Breakage forecast: jobs in baselines whose effective policy changes to one in block mode, and
 * the endpoints they were seen using that it would not allow (agent wildcard rule, Harden-Runner's
 * implicit endpoints allowed). Only breakage the change introduces counts; an endpoint the base
 * blocked already is counted apart. Jobs whose effective policy does not change are skipped.
 */
import type { BaselineIndex } from '../baselines/index.js';
import type { CompiledPolicy } from '../policy/model.js';
import { EndpointMatcher } from './endpoints.js';
import type { JobBreakage } from './model.js';
import { scopeId, type ScopeAnalysis } from './scopes.js';

export interface BreakageForecast {
  breakage: JobBreakage[];
  alreadyBlocked: { jobs: number; endpoints: number };
  jobsObserved: number;
}

function matcherCache(compiled: Readonly<Record<string, CompiledPolicy>>): (name: string) => EndpointMatcher {
  const cache = new Map<string, EndpointMatcher>();
  return (name) => {
    let matcher = cache.get(name);
    if (!matcher) {
      const policy = compiled[name];
      matcher = new EndpointMatcher(policy?.['allowed-endpoints'] ?? [], { disableTelemetry: policy?.['disable-telemetry'] });
      cache.set(name, matcher);
    }
    return matcher;
  };
}

export function forecastBreakage(
  index: BaselineIndex | undefined,
  scopes: Pick<ScopeAnalysis, 'byKey'>,
  baseCompiled: Readonly<Record<string, CompiledPolicy>>,
  headCompiled: Readonly<Record<string, CompiledPolicy>>,
): BreakageForecast {
  const forecast: BreakageForecast = { breakage: [], alreadyBlocked: { jobs: 0, endpoints: 0 }, jobsObserved: 0 };
  if (!index) return forecast;
  const beforeMatcher = matcherCache(baseCompiled);
  const afterMatcher = matcherCache(headCompiled);

  for (const [repository, file] of index.files) {
    for (const [workflowPath, jobs] of file.workflows) {
      forecast.jobsObserved += jobs.size;
      const change = scopes.byKey.get(scopeId('workflow', `${repository}/${workflowPath}`));
      if (!change?.after || change.after.mode !== 'block') continue;
      const after = afterMatcher(change.after.policy);
      const before = change.before?.mode === 'block' ? beforeMatcher(change.before.policy) : undefined;

      for (const [job, baseline] of jobs) {
        const newlyBlocked: string[] = [];
        const alreadyBlocked: string[] = [];
        const endpointRuns: Record<string, number> = {};
        let runs = 0;
        for (const [endpoint, seen] of baseline.endpoints) {
          if (after.allows(endpoint)) continue;
          if (before && !before.allows(endpoint)) {
            alreadyBlocked.push(endpoint);
            continue;
          }
          newlyBlocked.push(endpoint);
          endpointRuns[endpoint] = seen.runs;
          runs = Math.max(runs, seen.runs);
        }
        if (alreadyBlocked.length > 0) {
          forecast.alreadyBlocked.jobs += 1;
          forecast.alreadyBlocked.endpoints += alreadyBlocked.length;
        }
        if (newlyBlocked.length === 0) continue;
        forecast.breakage.push({
          repository,
          workflow: workflowPath,
          job,
          key: `${repository}/${workflowPath}#${job}`,
          endpoints: newlyBlocked.sort(),
          runs,
          endpointRuns,
          observedRuns: baseline.runs,
          alreadyBlocked: alreadyBlocked.sort(),
          before: change.before && { policy: change.before.policy, mode: change.before.mode },
          after: { policy: change.after.policy, mode: change.after.mode },
          why: change.why.text,
        });
      }
    }
  }
  forecast.breakage.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return forecast;
}
