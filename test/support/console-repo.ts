/**
 * A policy repository with a history, for the console's handler and browser tests: four commits
 * by different people (one with `<script>` in its message, author and a policy description), an
 * origin remote on github.com (so commits and PRs get links) and baseline files (runs on two ARC clusters
 * and GitHub-hosted ones).
 */
import { makeTempRepo, type TempRepo } from './policy-repo.js';

export const POLICY_REPOSITORY = 'acme/egress-policies';
export const SCRIPT = '<script>alert("xss")</script>';

const ATTACHMENTS_V1 = ['clusters:', '  arc-prod: audit', 'organizations:', '  acme: audit', 'repositories:', '  acme/api: api', '  acme/web: audit', ''].join('\n');
const ATTACHMENTS_V2 = [
  'clusters:',
  '  arc-prod: audit',
  'organizations:',
  '  acme: audit',
  'repositories:',
  '  acme/api: api',
  '  acme/web: audit',
  'workflows:',
  '  acme/api/.github/workflows/release.yml: base',
  '',
].join('\n');
const ATTACHMENTS_V3 = [
  'clusters:',
  '  arc-prod: audit',
  'organizations:',
  '  acme: audit',
  'repositories:',
  '  acme/api: api',
  'workflows:',
  '  acme/api/.github/workflows/release.yml: base',
  '',
].join('\n');

const BASELINE = `repository: acme/api
workflows:
  .github/workflows/ci.yml:
    build:
      runs: 5
      firstSeen: 2024-04-01T09:00:00Z
      lastSeen: 2024-04-20T09:00:00Z
      lastGrowth: { run: 1, runId: "101", at: 2024-04-01T09:00:00Z }
      clusters:
        arc-prod: { runs: 3, firstSeen: 2024-04-02T09:00:00Z, lastSeen: 2024-04-20T09:00:00Z }
      endpoints:
        registry.npmjs.org:443: { runs: 5, firstSeen: 2024-04-01T09:00:00Z, lastSeen: 2024-04-20T09:00:00Z, clusters: [arc-prod] }
        nodejs.org:443: { runs: 2, firstSeen: 2024-04-01T09:00:00Z, lastSeen: 2024-04-19T09:00:00Z }
      implicit:
        codeload.github.com:443: { runs: 5, firstSeen: 2024-04-01T09:00:00Z, lastSeen: 2024-04-20T09:00:00Z }
      addresses:
        168.63.129.16:53: { runs: 5, firstSeen: 2024-04-01T09:00:00Z, lastSeen: 2024-04-20T09:00:00Z }
      recentRuns: [ "101", "102", "103", "104", "105" ]
    test:
      runs: 2
      firstSeen: 2024-04-18T09:00:00Z
      lastSeen: 2024-04-20T09:00:00Z
      lastGrowth: { run: 2, runId: "202", at: 2024-04-20T09:00:00Z }
      endpoints:
        registry.npmjs.org:443: { runs: 2, firstSeen: 2024-04-18T09:00:00Z, lastSeen: 2024-04-20T09:00:00Z }
        sandbox.payments.example.com:443: { runs: 1, firstSeen: 2024-04-20T09:00:00Z, lastSeen: 2024-04-20T09:00:00Z }
      recentRuns: [ "201", "202" ]
`;

/** Runs of acme/web on another ARC cluster only, so the baselines page's cluster filter has something to leave out. */
const WEB_BASELINE = `repository: acme/web
workflows:
  .github/workflows/deploy.yml:
    deploy:
      runs: 2
      firstSeen: 2024-04-05T09:00:00Z
      lastSeen: 2024-04-06T09:00:00Z
      lastGrowth: { run: 1, runId: "301", at: 2024-04-05T09:00:00Z }
      clusters:
        arc-dev: { runs: 2, firstSeen: 2024-04-05T09:00:00Z, lastSeen: 2024-04-06T09:00:00Z }
      endpoints:
        charts.example.com:443: { runs: 2, firstSeen: 2024-04-05T09:00:00Z, lastSeen: 2024-04-06T09:00:00Z, clusters: [arc-dev] }
      recentRuns: [ "301", "302" ]
`;

export interface ConsoleRepo {
  repo: TempRepo;
  /** Commit shas, oldest first. */
  commits: string[];
}

/** The repository at its fourth commit. Caller cleans up (`repo.cleanup()`). */
export function makeConsoleRepo(): ConsoleRepo {
  const repo = makeTempRepo(
    {
      'egressctl.yml': 'github-url: https://github.com\n',
      'policies/base.yml': 'egress-policy: block\nallowed-endpoints:\n  - github.com:443\n  - objects.githubusercontent.com\n',
      'policies/api.yml': 'egress-policy: block\nextends: base\nallowed-endpoints: registry.npmjs.org\n',
      'policies/audit.yml': 'egress-policy: audit\n',
      'attachments.yml': ATTACHMENTS_V1,
      'baselines/acme/api.yml': BASELINE,
      'baselines/acme/web.yml': WEB_BASELINE,
    },
    { git: true },
  );
  repo.git('remote', 'add', 'origin', `https://github.com/${POLICY_REPOSITORY}.git`);
  const commits: string[] = [];
  commits.push(repo.commit('Add the first policies (#1)', { author: 'Alice Admin <alice@example.com>', date: '2024-04-01T10:00:00Z' }));
  repo.write({
    'policies/api.yml': 'egress-policy: block\nextends: base\nallowed-endpoints:\n  - registry.npmjs.org\n  - proxy.golang.org # go modules\n',
    'attachments.yml': ATTACHMENTS_V2,
  });
  commits.push(repo.commit('Allow the Go proxy for api; pin release to base (#2)', { author: 'Bob Builder <bob@example.com>', date: '2024-04-10T10:00:00Z' }));
  repo.write({
    'policies/base.yml': `description: "Shared base ${SCRIPT.replace(/"/g, '\\"')}"\negress-policy: block\nallowed-endpoints:\n  - github.com:443\n  - objects.githubusercontent.com\n`,
  });
  commits.push(repo.commit(`Describe base ${SCRIPT}`, { author: 'Eve & "Mallory" <eve@example.com>', date: '2024-04-20T10:00:00Z' }));
  repo.write({ 'policies/lonely.yml': 'egress-policy: block\nallowed-endpoints: example.com\n', 'attachments.yml': ATTACHMENTS_V3 });
  commits.push(repo.commit('Add lonely, detach acme/web (#4)', { author: 'Alice Admin <alice@example.com>', date: '2024-04-25T10:00:00Z' }));
  return { repo, commits };
}
