import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { endpointFromText, hostMatches, joinEndpoints, normalizeEndpoint, parseEndpoint } from '../../src/policy/endpoint.js';

const codes = (raw: string) => parseEndpoint(raw).issues.map((issue) => `${issue.severity}:${issue.code}`);

describe('parseEndpoint', () => {
  it.each([
    ['github.com', 'github.com:443'],
    ['GitHub.COM:443', 'github.com:443'],
    ['github.com.:8443', 'github.com:8443'],
    ['*.github.com', '*.github.com:443'],
    ['  registry.npmjs.org  ', 'registry.npmjs.org:443'],
  ])('normalizes %s to %s', (raw, expected) => {
    expect(parseEndpoint(raw).endpoint?.text).toBe(expected);
    expect(codes(raw)).toEqual([]);
  });

  it.each([
    ['https://github.com/owner', 'endpoint/scheme', 'github.com'],
    ['github.com/path', 'endpoint/path', 'github.com'],
    ['user@github.com', 'endpoint/userinfo', 'host[:port]'],
    ['[::1]:443', 'endpoint/ipv6', 'host name'],
    ['2001:db8::1', 'endpoint/ipv6', 'host name'],
    ['10.0.0.0/8', 'endpoint/cidr', 'ranges'],
    ['github.com:0', 'endpoint/port', '1 to 65535'],
    ['github.com:65536', 'endpoint/port', '1 to 65535'],
    ['github.com:http', 'endpoint/port', '1 to 65535'],
    ['*', 'endpoint/bare-wildcard', 'audit'],
    ['*:443', 'endpoint/bare-wildcard', 'audit'],
    ['*.*.github.com', 'endpoint/multiple-wildcards', 'one "*"'],
    ['git_hub.com', 'endpoint/invalid-host', 'DNS name'],
    ['a..b.com', 'endpoint/invalid-host', 'DNS name'],
    [`${'a'.repeat(64)}.com`, 'endpoint/invalid-host', '63'],
    [`${'a.'.repeat(127)}com`, 'endpoint/host-too-long', '253'],
    ['', 'endpoint/empty', 'host[:port]'],
    // DNS labels begin and end with a letter or digit.
    ['-', 'endpoint/invalid-host', 'starts or ends with "-"'],
    ['-foo.com', 'endpoint/invalid-host', '"-foo"'],
    ['foo-.com', 'endpoint/invalid-host', '"foo-"'],
    ['foo.-bar-.com:8443', 'endpoint/invalid-host', '"-bar-"'],
  ])('rejects %s with %s and a hint', (raw, code, hint) => {
    const parsed = parseEndpoint(raw);
    expect(parsed.endpoint).toBeUndefined();
    expect(parsed.issues).toHaveLength(1);
    expect(parsed.issues[0]?.code).toBe(code);
    expect(parsed.issues[0]?.message).toContain(hint);
  });

  it('warns about an IPv4 literal but accepts it', () => {
    expect(parseEndpoint('10.1.2.3:5432').endpoint?.text).toBe('10.1.2.3:5432');
    expect(codes('10.1.2.3:5432')).toEqual(['warning:endpoint/ipv4']);
  });

  it('warns about a wildcard without a dot and suggests *.name', () => {
    const parsed = parseEndpoint('*github.com');
    expect(parsed.endpoint?.text).toBe('*github.com:443');
    expect(parsed.issues[0]?.code).toBe('endpoint/loose-wildcard');
    expect(parsed.issues[0]?.message).toContain('"*.github.com"');
    expect(codes('*.github.com')).toEqual([]);
  });

  it('keeps hyphens next to a "*", which stands for characters', () => {
    expect(codes('build-*.example.com')).toEqual([]);
    expect(parseEndpoint('*-cache.example.com').endpoint?.text).toBe('*-cache.example.com:443');
    expect(parseEndpoint('*-cache.example.com').issues[0]?.message).toContain('"*.cache.example.com"');
  });

  it.each([
    ['api.*', 'api.evil.attacker.com'],
    ['api*', 'apievil.attacker.com'],
    ['foo.*.com', 'foo.evil.attacker.com'],
    ['foo.*.example.com:8443', 'foo.evil.attacker.example.com'],
  ])('warns that %s is wider than one label, since the agent splits on the first "*"', (raw, example) => {
    const parsed = parseEndpoint(raw);
    expect(parsed.endpoint).toBeDefined();
    expect(codes(raw)).toEqual(['warning:endpoint/wide-wildcard']);
    expect(parsed.issues[0]?.message).toContain(`"${example}"`);
  });

  it('does not warn about a "*" inside the first label, as in the agent\'s own productionresultssa*', () => {
    expect(codes('productionresultssa*.blob.core.windows.net')).toEqual([]);
    expect(codes('runner-*.example.com')).toEqual([]);
  });
});

describe('agent wildcard rule', () => {
  it('matches as the agent does', () => {
    expect(hostMatches('*.github.com', 'a.b.github.com')).toBe(true);
    expect(hostMatches('*.github.com', 'github.com')).toBe(false);
    expect(hostMatches('*github.com', 'evilgithub.com')).toBe(true);
    expect(hostMatches('github.com', 'GitHub.com.')).toBe(true);
    expect(hostMatches('productionresultssa*.blob.core.windows.net', 'productionresultssa12.blob.core.windows.net')).toBe(true);
  });

  const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/);
  const hostName = fc.array(label, { minLength: 1, maxLength: 4 }).map((labels) => labels.join('.'));

  it('property: a pattern matches exactly the names with its prefix and suffix', () => {
    fc.assert(
      fc.property(hostName, hostName, fc.nat(20), (name, other, cut) => {
        const at = cut % (name.length + 1);
        const pattern = `${name.slice(0, at)}*${name.slice(at)}`;
        // Every name matches a pattern made by inserting `*` into it.
        expect(hostMatches(pattern, name)).toBe(true);
        const expected = other.startsWith(name.slice(0, at)) && other.endsWith(name.slice(at));
        expect(hostMatches(pattern, other)).toBe(expected);
      }),
    );
  });

  it('property: *.suffix never matches the bare suffix', () => {
    fc.assert(
      fc.property(hostName, (name) => {
        expect(hostMatches(`*.${name}`, name)).toBe(false);
      }),
    );
  });
});

describe('normalization', () => {
  const label = fc.stringMatching(/^[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?$/);
  const entry = fc
    .tuple(fc.array(label, { minLength: 2, maxLength: 4 }), fc.option(fc.integer({ min: 1, max: 65535 })), fc.boolean())
    .map(([labels, port, trailingDot]) => `${labels.join('.')}${trailingDot ? '.' : ''}${port === null ? '' : `:${port}`}`);

  it('property: normalization is idempotent and lower-cases', () => {
    fc.assert(
      fc.property(entry, (raw) => {
        const once = normalizeEndpoint(raw);
        expect(once).toBeDefined();
        expect(normalizeEndpoint(once ?? '')).toBe(once);
        expect(once).toBe(once?.toLowerCase());
        expect(once).toMatch(/:\d+$/);
      }),
    );
  });

  it('property: joined lists are sorted, unique and on one line', () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 20 }), (raws) => {
        const texts = raws.map((raw) => normalizeEndpoint(raw) ?? '');
        const joined = joinEndpoints([...texts, ...texts]);
        expect(joined).not.toMatch(/\n/);
        const parts = joined === '' ? [] : joined.split(' ');
        expect(parts).toEqual([...new Set(texts)].sort());
      }),
    );
  });

  it('round-trips canonical text', () => {
    expect(endpointFromText('a.b:8080')).toEqual({ host: 'a.b', port: 8080, text: 'a.b:8080' });
  });
});
