/** Temporary policy repositories (optionally real git repositories) for tests. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface TempRepo {
  dir: string;
  write(files: Record<string, string | Buffer | null>): void;
  git(...args: string[]): string;
  /** Stage everything and commit; returns the new commit SHA. */
  commit(message: string, options?: { author?: string; date?: string }): string;
  cleanup(): void;
}

const GIT_ENV = {
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_AUTHOR_NAME: 'Test Author',
  GIT_AUTHOR_EMAIL: 'author@example.com',
  GIT_COMMITTER_NAME: 'Test Committer',
  GIT_COMMITTER_EMAIL: 'committer@example.com',
};

export function makeTempRepo(files: Record<string, string | Buffer | null> = {}, options: { git?: boolean } = {}): TempRepo {
  const dir = mkdtempSync(path.join(tmpdir(), 'egressctl-test-'));
  const git = (...args: string[]) =>
    execFileSync('git', ['-C', dir, ...args], { env: { ...process.env, ...GIT_ENV }, encoding: 'utf8' });
  const repo: TempRepo = {
    dir,
    write(more) {
      for (const [relativePath, content] of Object.entries(more)) {
        const absolute = path.join(dir, relativePath);
        if (content === null) {
          rmSync(absolute, { force: true });
          continue;
        }
        mkdirSync(path.dirname(absolute), { recursive: true });
        writeFileSync(absolute, content);
      }
    },
    git,
    commit(message, commitOptions = {}) {
      git('add', '-A');
      const env: Record<string, string> = {};
      if (commitOptions.date) {
        env['GIT_AUTHOR_DATE'] = commitOptions.date;
        env['GIT_COMMITTER_DATE'] = commitOptions.date;
      }
      const args = ['commit', '-q', '--allow-empty', '-m', message];
      if (commitOptions.author) args.push(`--author=${commitOptions.author}`);
      execFileSync('git', ['-C', dir, ...args], { env: { ...process.env, ...GIT_ENV, ...env }, encoding: 'utf8' });
      return git('rev-parse', 'HEAD').trim();
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
  if (options.git) git('init', '-q', '-b', 'main');
  repo.write(files);
  return repo;
}

/** A small valid repository: two policies (one extends), attachments at all four scopes. */
export const SAMPLE_FILES: Record<string, string> = {
  'policies/base.yml': 'egress-policy: block\nallowed-endpoints:\n  - github.com:443\n  - objects.githubusercontent.com\n',
  'policies/api.yml': 'egress-policy: block\nextends: base\nallowed-endpoints: registry.npmjs.org proxy.golang.org:443\n',
  'policies/audit.yml': 'egress-policy: audit\n',
  'attachments.yml': [
    'clusters:',
    '  arc-prod: audit',
    'organizations:',
    '  acme: audit',
    'repositories:',
    '  acme/api: api',
    'workflows:',
    '  acme/api/.github/workflows/release.yml: base',
    '',
  ].join('\n'),
};
