/**
 * What a failed delivery tells GitHub: local paths go, URLs stay (issue 23: a GitHub docs URL in
 * an error was shown as `https:<local path>`).
 */
import { describe, expect, it } from 'vitest';
import { publicMessage, withoutLocalPaths } from '../../src/app/failure.js';
import { GitError } from '../../src/util/errors.js';

describe('withoutLocalPaths', () => {
  it('keeps URLs whole, GitHub docs links included', () => {
    const message = 'Resource not accessible by integration - https://docs.github.com/rest/actions/variables#create-a-repository-variable';
    expect(withoutLocalPaths(message)).toBe(message);
    expect(withoutLocalPaths('see http://127.0.0.1:8080/v1/bundle and https://ghe.example.com/api/v3/repos')).toBe('see http://127.0.0.1:8080/v1/bundle and https://ghe.example.com/api/v3/repos');
  });

  it('hides local paths, also as file URLs and next to a URL', () => {
    expect(withoutLocalPaths("fatal: '/var/cache/egressctl/mirror/acme' does not appear to be a git repository")).toBe("fatal: '<local path>' does not appear to be a git repository");
    expect(withoutLocalPaths('open file:///home/runner/secret.key failed')).toBe('open file:<local path> failed');
    expect(withoutLocalPaths('cannot write /tmp/x/y (see https://docs.github.com/rest/git/refs)')).toBe('cannot write <local path> (see https://docs.github.com/rest/git/refs)');
    expect(withoutLocalPaths('C:\\Users\\runner\\key.pem missing')).toBe('<local path> missing');
  });

  it('publicMessage marks git errors and keeps their URLs', () => {
    expect(publicMessage(new GitError('push to https://github.com/acme/policies.git from /srv/mirror/acme refused'))).toBe('git: push to https://github.com/acme/policies.git from <local path> refused');
  });
});
