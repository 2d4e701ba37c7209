/**
 * GitHub's REST description (`@octokit/openapi`, api.github.com.json) as a route table and
 * lazily compiled ajv validators. Loaded once per process: parsing the 13 MB file takes
 * ~150 ms, indexing ~5 ms; validators compile on first use of an operation.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

type JsonSchema = Record<string, unknown>;

interface SpecParameter {
  $ref?: string;
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: JsonSchema;
  'x-multi-segment'?: boolean;
}

interface SpecOperation {
  operationId: string;
  parameters?: SpecParameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema?: JsonSchema }> };
}

interface Spec {
  paths: Record<string, Record<string, SpecOperation>>;
  components: { schemas: Record<string, JsonSchema>; parameters: Record<string, SpecParameter> };
}

type Segment =
  | { kind: 'literal'; value: string }
  | { kind: 'param'; name: string; multi: boolean }
  /** A segment mixing text and parameters, e.g. `{base}...{head}`. */
  | { kind: 'pattern'; regex: RegExp; names: string[] };

export interface Operation {
  /** Upper-case HTTP method. */
  readonly method: string;
  /** Path template as in the description, e.g. `/repos/{owner}/{repo}/git/refs`. */
  readonly template: string;
  /** `METHOD template`, the key used in request counts. */
  readonly route: string;
  readonly operationId: string;
  readonly parameters: readonly SpecParameter[];
  readonly bodyRequired: boolean;
  readonly bodyContentTypes: readonly string[];
  readonly segments: readonly Segment[];
  /** Literal segments, used to prefer the most specific template. */
  readonly literalCount: number;
}

export interface RouteMatch {
  readonly operation: Operation;
  readonly pathParams: Record<string, string>;
}

export interface ValidationFailure {
  /** Where: `path`, `query` or `body`. */
  readonly location: 'path' | 'query' | 'body';
  readonly errors: readonly ErrorObject[];
  readonly message: string;
}

export interface OpenApiLoadTimings {
  readonly readAndParseMs: number;
  readonly indexMs: number;
  readonly operations: number;
}

// ajv-formats is CommonJS; its default export is the plugin under `.default` in both the
// TypeScript view and at runtime (the module object carries `default` pointing to itself).
const addFormats = addFormatsModule.default;

function newAjv(coerceTypes: boolean): Ajv {
  // strict: false because GitHub's schemas carry OpenAPI keywords (example, x-github, ...).
  const ajv = new Ajv({ strict: false, allErrors: true, coerceTypes: coerceTypes ? 'array' : false });
  addFormats(ajv);
  // Formats GitHub uses that ajv-formats does not define.
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && Math.abs(n) < 2 ** 31 });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
  ajv.addFormat('double', { type: 'number', validate: () => true });
  ajv.addFormat('binary', true);
  ajv.addFormat('repo.nwo', /^[^/\s]+\/[^/\s]+$/);
  return ajv;
}

function compileSegments(template: string): Segment[] {
  return template
    .split('/')
    .slice(1)
    .map((part): Segment => {
      const whole = /^\{([^}]+)\}$/.exec(part);
      if (whole) return { kind: 'param', name: whole[1]!, multi: false };
      if (!part.includes('{')) return { kind: 'literal', value: part };
      const names: string[] = [];
      const source = part.replace(/\{([^}]+)\}|([^{]+)/g, (_m, name: string | undefined, text: string | undefined) => {
        if (name) {
          names.push(name);
          return '(.+?)';
        }
        return text!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      });
      return { kind: 'pattern', regex: new RegExp(`^${source}$`), names };
    });
}

function decodeSegment(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

/**
 * Matches decoded path parts against template segments. A multi-segment parameter
 * (`x-multi-segment`, e.g. `ref`, `path`) may absorb several parts joined by `/`.
 */
function matchSegments(
  segments: readonly Segment[],
  parts: readonly string[],
  si: number,
  pi: number,
  params: Record<string, string>,
): boolean {
  if (si === segments.length) return pi === parts.length;
  const segment = segments[si]!;
  // A path parameter is never empty: `/contents` or `/contents/` with no path is not an
  // operation of GitHub's description (github.com answers it, but nothing documents it).
  if (pi >= parts.length || (parts[pi] === '' && pi === parts.length - 1)) return false;
  const part = parts[pi]!;
  if (segment.kind === 'literal') {
    return part === segment.value && matchSegments(segments, parts, si + 1, pi + 1, params);
  }
  if (segment.kind === 'pattern') {
    const m = segment.regex.exec(part);
    if (!m) return false;
    segment.names.forEach((name, i) => (params[name] = m[i + 1]!));
    return matchSegments(segments, parts, si + 1, pi + 1, params);
  }
  if (part === '') return false;
  const remainingSegments = segments.length - si - 1;
  const maxEnd = segment.multi ? parts.length - remainingSegments : pi + 1;
  for (let end = maxEnd; end > pi; end--) {
    const taken = parts.slice(pi, end);
    if (taken.some((p) => p === '')) continue;
    params[segment.name] = taken.join('/');
    if (matchSegments(segments, parts, si + 1, end, params)) return true;
  }
  delete params[segment.name];
  return false;
}

export class OpenApiRoutes {
  readonly timings: OpenApiLoadTimings;
  private readonly byMethod = new Map<string, Map<string, Operation[]>>();
  private readonly paramValidators = new Map<Operation, ValidateFunction>();
  private readonly bodyValidators = new Map<Operation, ValidateFunction | null>();
  private readonly paramAjv = newAjv(true);
  private readonly bodyAjv = newAjv(false);

  constructor(
    private readonly spec: Spec,
    readAndParseMs: number,
  ) {
    const started = performance.now();
    let count = 0;
    for (const [template, item] of Object.entries(spec.paths)) {
      const segments = compileSegments(template);
      const first = segments[0];
      const firstKey = first?.kind === 'literal' ? first.value : '*';
      for (const [method, op] of Object.entries(item)) {
        if (!op || typeof op !== 'object' || !('operationId' in op)) continue;
        const parameters = (op.parameters ?? []).map((p) => this.resolveParameter(p));
        const multi = new Set(parameters.filter((p) => p['x-multi-segment']).map((p) => p.name));
        const withMulti = segments.map((s) => (s.kind === 'param' && multi.has(s.name) ? { ...s, multi: true } : s));
        const upper = method.toUpperCase();
        const operation: Operation = {
          method: upper,
          template,
          route: `${upper} ${template}`,
          operationId: op.operationId,
          parameters,
          bodyRequired: op.requestBody?.required === true,
          bodyContentTypes: Object.keys(op.requestBody?.content ?? {}),
          segments: withMulti,
          literalCount: withMulti.filter((s) => s.kind !== 'param').length,
        };
        let byFirst = this.byMethod.get(upper);
        if (!byFirst) this.byMethod.set(upper, (byFirst = new Map()));
        const bucket = byFirst.get(firstKey) ?? [];
        bucket.push(operation);
        byFirst.set(firstKey, bucket);
        count++;
      }
    }
    this.timings = { readAndParseMs, indexMs: performance.now() - started, operations: count };
  }

  private resolveParameter(p: SpecParameter): SpecParameter {
    if (!p.$ref) return p;
    const name = p.$ref.replace('#/components/parameters/', '');
    const resolved = this.spec.components.parameters[name];
    if (!resolved) throw new Error(`OpenAPI parameter ${p.$ref} not found`);
    return resolved;
  }

  /** The operation for a method and raw (still percent-encoded) pathname, or undefined. */
  match(method: string, pathname: string): RouteMatch | undefined {
    const rawParts = pathname.split('/').slice(1);
    const parts: string[] = [];
    for (const raw of rawParts) {
      const decoded = decodeSegment(raw);
      if (decoded === undefined) return undefined;
      parts.push(decoded);
    }
    const byFirst = this.byMethod.get(method.toUpperCase());
    if (!byFirst) return undefined;
    let best: RouteMatch | undefined;
    for (const operation of byFirst.get(parts[0] ?? '') ?? []) {
      const pathParams: Record<string, string> = {};
      if (!matchSegments(operation.segments, parts, 0, 0, pathParams)) continue;
      if (!best || operation.literalCount > best.operation.literalCount) best = { operation, pathParams };
    }
    return best;
  }

  /** All operations, for tests and diagnostics. */
  operations(): Operation[] {
    return [...this.byMethod.values()].flatMap((m) => [...m.values()].flat());
  }

  /** Validates path and query parameters (strings, coerced to the declared types). */
  validateParameters(
    operation: Operation,
    pathParams: Record<string, string>,
    query: URLSearchParams,
  ): ValidationFailure | undefined {
    let validate = this.paramValidators.get(operation);
    if (!validate) {
      validate = this.paramAjv.compile(this.parameterSchema(operation));
      this.paramValidators.set(operation, validate);
    }
    const queryObject: Record<string, string | string[]> = {};
    for (const key of new Set(query.keys())) {
      const all = query.getAll(key);
      queryObject[key] = all.length === 1 ? all[0]! : all;
    }
    const data = { path: { ...pathParams }, query: queryObject };
    if (validate(data)) return undefined;
    const errors = validate.errors ?? [];
    const location = errors.some((e) => e.instancePath.startsWith('/path')) ? 'path' : 'query';
    return { location, errors, message: this.paramAjv.errorsText(errors, { dataVar: 'request' }) };
  }

  private parameterSchema(operation: Operation): JsonSchema {
    const group = (where: 'path' | 'query'): JsonSchema => {
      const params = operation.parameters.filter((p) => p.in === where);
      return {
        type: 'object',
        properties: Object.fromEntries(params.map((p) => [p.name, p.schema ?? {}])),
        required: params.filter((p) => p.required).map((p) => p.name),
      };
    };
    return this.selfContained({ type: 'object', properties: { path: group('path'), query: group('query') } });
  }

  /**
   * Validates a JSON body. Undefined body means "no body sent". Returns undefined when
   * valid or when the operation takes no JSON body.
   */
  validateBody(operation: Operation, body: unknown): ValidationFailure | undefined {
    if (body === undefined) {
      if (operation.bodyRequired) {
        return { location: 'body', errors: [], message: 'request body is required but none was sent' };
      }
      return undefined;
    }
    let validate = this.bodyValidators.get(operation);
    if (validate === undefined) {
      const schema = this.jsonBodySchema(operation);
      validate = schema ? this.bodyAjv.compile(schema) : null;
      this.bodyValidators.set(operation, validate);
    }
    if (!validate || validate(body)) return undefined;
    const errors = validate.errors ?? [];
    return { location: 'body', errors, message: this.bodyAjv.errorsText(errors, { dataVar: 'body' }) };
  }

  private jsonBodySchema(operation: Operation): JsonSchema | undefined {
    const item = this.spec.paths[operation.template]?.[operation.method.toLowerCase()];
    const schema = item?.requestBody?.content['application/json']?.schema;
    return schema ? this.selfContained(schema) : undefined;
  }

  /**
   * A copy of `schema` whose `#/components/schemas/X` references point to `#/$defs/X`, with
   * the referenced components (transitively) under `$defs`, so ajv compiles it on its own.
   */
  private selfContained(schema: JsonSchema): JsonSchema {
    const defs: Record<string, unknown> = {};
    const pending: string[] = [];
    const rewrite = (node: unknown): unknown => {
      if (Array.isArray(node)) return node.map(rewrite);
      if (!node || typeof node !== 'object') return node;
      const record = node as Record<string, unknown>;
      if (typeof record.$ref === 'string') {
        const name = record.$ref.replace('#/components/schemas/', '');
        if (name === record.$ref) throw new Error(`unsupported OpenAPI reference ${record.$ref}`);
        if (!(name in defs)) {
          defs[name] = null;
          pending.push(name);
        }
        // OpenAPI 3.0 ignores siblings of $ref.
        return { $ref: `#/$defs/${name}` };
      }
      if (record.nullable === true && record.type === undefined) {
        // OpenAPI 3.0 allows `nullable` beside oneOf/anyOf without `type`; ajv does not.
        const { nullable: _nullable, ...rest } = record;
        return { anyOf: [rewrite(rest), { type: 'null' }] };
      }
      const out: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(record)) {
        // Examples are data, not schema; skipping them keeps compiled validators small.
        if (key === 'example' || key === 'examples') continue;
        out[key] = key === 'properties' || key === '$defs' ? rewriteMap(value) : rewrite(value);
      }
      return out;
    };
    const rewriteMap = (value: unknown): unknown =>
      value && typeof value === 'object'
        ? Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, rewrite(v)]))
        : value;
    const root = rewrite(schema) as JsonSchema;
    while (pending.length > 0) {
      const name = pending.pop()!;
      const component = this.spec.components.schemas[name];
      if (!component) throw new Error(`OpenAPI schema ${name} not found`);
      defs[name] = rewrite(component);
    }
    return Object.keys(defs).length > 0 ? { ...root, $defs: defs } : root;
  }
}

let cached: OpenApiRoutes | undefined;

/** Path of GitHub's description inside `@octokit/openapi` (never import its index: ~500 MB). */
export function openApiDescriptionPath(): string {
  const require = createRequire(import.meta.url);
  const packageJson = require.resolve('@octokit/openapi/package.json');
  return path.join(path.dirname(packageJson), 'generated', 'api.github.com.json');
}

/** The route table for api.github.com, parsed once per process. */
export function loadGitHubOpenApi(): OpenApiRoutes {
  if (cached) return cached;
  const started = performance.now();
  const spec = JSON.parse(readFileSync(openApiDescriptionPath(), 'utf8')) as Spec;
  cached = new OpenApiRoutes(spec, performance.now() - started);
  return cached;
}
