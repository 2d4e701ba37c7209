import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { gitUrl, readAppConfig, signKeyPaths } from '../../src/app/config.js';
import { authEnv } from '../../src/app/git-mirror.js';
import { appCredentials } from '../../src/app/server-mount.js';
import { UsageError } from '../../src/util/errors.js';

describe('readAppConfig', () => {
  it('reads the policy repository (lower-cased), the URL template and the cache directory', () => {
    const config = readAppConfig({
      EGRESSCTL_POLICY_REPOSITORY: 'Acme/Egress-Policies',
      EGRESSCTL_GIT_URL_TEMPLATE: 'https://ghe.example.com/{owner}/{repo}.git',
      EGRESSCTL_APP_CACHE_DIR: '/var/cache/egressctl',
    });
    expect(config).toMatchObject({
      policyRepository: 'acme/egress-policies',
      gitUrlTemplate: 'https://ghe.example.com/{owner}/{repo}.git',
      cacheDir: '/var/cache/egressctl',
    });
    expect(readAppConfig({}, { cacheDir: '/srv/state/app-git' })).toMatchObject({ policyRepository: undefined, gitUrlTemplate: undefined, cacheDir: '/srv/state/app-git' });
  });

  it('says what is wrong with a bad setting', () => {
    expect(() => readAppConfig({ EGRESSCTL_POLICY_REPOSITORY: 'acme' })).toThrow(/expected owner\/repo/);
    expect(() => readAppConfig({ EGRESSCTL_GIT_URL_TEMPLATE: 'https://github.com/acme/x.git' })).toThrow(/needs both \{owner\} and \{repo\}/);
    expect(() => readAppConfig({ EGRESSCTL_GIT_URL_TEMPLATE: 'git@github.com:{owner}/{repo}.git' })).toThrow(UsageError);
  });

  it('reads the scheduled rollout settings (on by default every 6 h, 0 turns it off; action mode as `egressctl rollout --mode action`)', () => {
    const policy = { EGRESSCTL_POLICY_REPOSITORY: 'acme/egress-policies' };
    expect(readAppConfig(policy).rollout).toEqual({ intervalMs: 6 * 3_600_000, mode: 'inline' });
    expect(readAppConfig({ ...policy, EGRESSCTL_ROLLOUT_INTERVAL_HOURS: '0' }).rollout).toBeUndefined();
    expect(readAppConfig({}).rollout).toBeUndefined();
    expect(readAppConfig({ ...policy, EGRESSCTL_ROLLOUT_INTERVAL_HOURS: '6' }).rollout).toEqual({ intervalMs: 6 * 3_600_000, mode: 'inline' });
    expect(readAppConfig({ ...policy, EGRESSCTL_ROLLOUT_INTERVAL_HOURS: '0.5', EGRESSCTL_ROLLOUT_MODE: 'inline' }).rollout).toEqual({ intervalMs: 1_800_000, mode: 'inline' });
    const action = { ...policy, EGRESSCTL_ROLLOUT_INTERVAL_HOURS: '24', EGRESSCTL_ROLLOUT_MODE: 'action', EGRESSCTL_ROLLOUT_ACTION: 'acme/egressctl/actions/harden@v1', EGRESSCTL_ROLLOUT_SERVER: 'https://egressctl.acme.test:8443/base' };
    expect(readAppConfig(action).rollout).toEqual({
      intervalMs: 24 * 3_600_000,
      mode: 'action',
      action: { uses: 'acme/egressctl/actions/harden@v1', server: 'https://egressctl.acme.test:8443/base', audience: 'https://egressctl.acme.test:8443' },
    });
    expect(readAppConfig({ ...action, EGRESSCTL_ROLLOUT_AUDIENCE: 'egressctl', EGRESSCTL_ROLLOUT_ON_ERROR: 'audit' }).rollout?.action).toMatchObject({ audience: 'egressctl', onError: 'audit' });
  });

  it('says what is wrong with the rollout settings', () => {
    const policy = { EGRESSCTL_POLICY_REPOSITORY: 'acme/egress-policies' };
    for (const hours of ['-1', 'six', '1e3', '1000']) {
      expect(() => readAppConfig({ ...policy, EGRESSCTL_ROLLOUT_INTERVAL_HOURS: hours })).toThrow(/EGRESSCTL_ROLLOUT_INTERVAL_HOURS=".*": expected a number of hours > 0/);
    }
    expect(() => readAppConfig({ EGRESSCTL_ROLLOUT_INTERVAL_HOURS: '6' })).toThrow(/needs EGRESSCTL_POLICY_REPOSITORY/);
    expect(() => readAppConfig({ ...policy, EGRESSCTL_ROLLOUT_INTERVAL_HOURS: '0', EGRESSCTL_ROLLOUT_MODE: 'inline' })).toThrow(/EGRESSCTL_ROLLOUT_MODE is set but EGRESSCTL_ROLLOUT_INTERVAL_HOURS=0 turns the scheduled sync off/);
    const hours = { ...policy, EGRESSCTL_ROLLOUT_INTERVAL_HOURS: '6' };
    expect(() => readAppConfig({ ...hours, EGRESSCTL_ROLLOUT_MODE: 'pr' })).toThrow(/EGRESSCTL_ROLLOUT_MODE="pr": expected inline or action/);
    expect(() => readAppConfig({ ...hours, EGRESSCTL_ROLLOUT_SERVER: 'https://x.test' })).toThrow(/EGRESSCTL_ROLLOUT_SERVER goes with EGRESSCTL_ROLLOUT_MODE=action/);
    const action = { ...hours, EGRESSCTL_ROLLOUT_MODE: 'action' };
    expect(() => readAppConfig(action)).toThrow(/needs EGRESSCTL_ROLLOUT_ACTION=OWNER\/REPO\/actions\/harden@REF/);
    expect(() => readAppConfig({ ...action, EGRESSCTL_ROLLOUT_ACTION: 'acme/egressctl@v1', EGRESSCTL_ROLLOUT_SERVER: 'https://x.test' })).toThrow(/not "acme\/egressctl@v1"/);
    const withAction = { ...action, EGRESSCTL_ROLLOUT_ACTION: 'acme/egressctl/actions/harden@v1' };
    expect(() => readAppConfig(withAction)).toThrow(/needs EGRESSCTL_ROLLOUT_SERVER=URL/);
    expect(() => readAppConfig({ ...withAction, EGRESSCTL_ROLLOUT_SERVER: 'egressctl' })).toThrow(/EGRESSCTL_ROLLOUT_SERVER="egressctl": expected a URL/);
    expect(() => readAppConfig({ ...withAction, EGRESSCTL_ROLLOUT_SERVER: 'https://x.test', EGRESSCTL_ROLLOUT_ON_ERROR: 'ignore' })).toThrow(UsageError);
  });

  it('reads the work queue, the baselines flush and the sync retry settings', () => {
    const defaults = readAppConfig({}, { cacheDir: '/srv/state/app-git' });
    expect(defaults).toMatchObject({ queue: { kind: 'file', dir: path.resolve('/srv/state/app-git/queue') }, baselineFlushMs: 300_000, syncRetryMs: 60_000 });
    expect(readAppConfig({ EGRESSCTL_QUEUE: 'redis://127.0.0.1:6379', EGRESSCTL_BASELINE_FLUSH_SECONDS: '30', EGRESSCTL_SYNC_RETRY_SECONDS: '5' })).toMatchObject({
      queue: { kind: 'redis', url: 'redis://127.0.0.1:6379' },
      baselineFlushMs: 30_000,
      syncRetryMs: 5_000,
    });
    expect(() => readAppConfig({ EGRESSCTL_QUEUE: 'postgres://db' })).toThrow(/EGRESSCTL_QUEUE="postgres:\/\/db": expected redis:\/\/HOST:PORT/);
    expect(() => readAppConfig({ EGRESSCTL_BASELINE_FLUSH_SECONDS: '0' })).toThrow(/EGRESSCTL_BASELINE_FLUSH_SECONDS="0": expected whole seconds/);
    expect(() => readAppConfig({ EGRESSCTL_SYNC_RETRY_SECONDS: 'soon' })).toThrow(UsageError);
  });

  it('splits EGRESSCTL_SIGN_KEY into paths relative to the working directory', () => {
    expect(signKeyPaths({ EGRESSCTL_SIGN_KEY: 'a.pem, /keys/b.pem' }, '/work')).toEqual([path.resolve('/work/a.pem'), '/keys/b.pem']);
    expect(signKeyPaths({}, '/work')).toEqual([]);
  });
});

describe('gitUrl', () => {
  it('fills in owner and repo and drops a {token} user-info part (the token goes in a header)', () => {
    expect(gitUrl('https://x-access-token:{token}@github.com/{owner}/{repo}.git', { owner: 'acme', repo: 'policies' })).toBe('https://github.com/acme/policies.git');
    expect(gitUrl('http://127.0.0.1:9/git/{owner}/{repo}.git', { owner: 'acme', repo: 'a b' })).toBe('http://127.0.0.1:9/git/acme/a%20b.git');
  });

  it('refuses other credentials and a {token} anywhere else', () => {
    expect(() => gitUrl('https://bot:secret@github.com/{owner}/{repo}.git', { owner: 'a', repo: 'b' })).toThrow(/credentials in the URL/);
    expect(() => gitUrl('https://github.com/{owner}/{repo}.git?t={token}', { owner: 'a', repo: 'b' })).toThrow(/only as user-info/);
  });
});

describe('authEnv', () => {
  it('carries the token as an HTTP header in environment-only git config, with prompts and helpers off', () => {
    const env = authEnv('ghs_secret');
    expect(env).toMatchObject({ GIT_CONFIG_COUNT: '2', GIT_CONFIG_KEY_0: 'http.extraHeader', GIT_CONFIG_KEY_1: 'credential.helper', GIT_CONFIG_VALUE_1: '', GIT_TERMINAL_PROMPT: '0' });
    expect(env.GIT_CONFIG_VALUE_0).toBe(`Authorization: Basic ${Buffer.from('x-access-token:ghs_secret').toString('base64')}`);
  });
});

describe('appCredentials', () => {
  it('needs APP_ID, a private key and the webhook secret', () => {
    expect(appCredentials({})).toEqual({ present: [], missing: ['APP_ID', 'PRIVATE_KEY or PRIVATE_KEY_PATH', 'WEBHOOK_SECRET'] });
    expect(appCredentials({ APP_ID: '1', PRIVATE_KEY_PATH: 'k.pem', WEBHOOK_SECRET: 's' }).missing).toEqual([]);
    expect(appCredentials({ APP_ID: '1', WEBHOOK_SECRET: ' ' }).missing).toEqual(['PRIVATE_KEY or PRIVATE_KEY_PATH', 'WEBHOOK_SECRET']);
  });
});
