/**
 * Is a decoded payload a bundle this version can serve? The JSON Schema
 * (schemas/bundle.schema.json) checks the shape; the rest checks what a schema cannot say:
 * names agree, every reference points at a policy in the bundle, endpoints are canonical.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { normalizeEndpoint } from '../policy/endpoint.js';
import { SCOPE_SECTIONS, SCOPE_TYPES } from '../policy/model.js';
import type { Bundle } from './build.js';

/** src/bundle and dist/bundle are both two levels below the package root, where schemas/ is. */
export const BUNDLE_SCHEMA_PATH = fileURLToPath(new URL('../../schemas/bundle.schema.json', import.meta.url));

/** At most this many problems are reported: one bad bundle should not flood a log. */
const MAX_PROBLEMS = 10;

let compiledSchema: ValidateFunction | undefined;

function schemaValidator(): ValidateFunction {
  if (!compiledSchema) {
    const schema = JSON.parse(readFileSync(BUNDLE_SCHEMA_PATH, 'utf8')) as object;
    const ajv = new Ajv2020({ allErrors: true, strict: true });
    addFormats.default(ajv, ['date-time']);
    compiledSchema = ajv.compile(schema);
  }
  return compiledSchema;
}

/**
 * Everything wrong with `value` as a bundle, as `<JSON pointer>: <problem>` lines; empty when it
 * is a valid bundle. The digest is not checked here (openBundle does that).
 */
export function bundleProblems(value: unknown): string[] {
  const validate = schemaValidator();
  if (!validate(value)) {
    // A propertyNames failure comes twice: the inner error (with the key) and a summary.
    const errors = (validate.errors ?? []).filter((error) => error.keyword !== 'propertyNames');
    return errors.slice(0, MAX_PROBLEMS).map(describeSchemaError);
  }
  return referenceProblems(value as Bundle).slice(0, MAX_PROBLEMS);
}

function referenceProblems(bundle: Bundle): string[] {
  const problems: string[] = [];
  const has = (name: string): boolean => Object.hasOwn(bundle.policies, name);
  for (const [key, policy] of Object.entries(bundle.policies)) {
    const at = `/policies/${pointerEscape(key)}`;
    if (policy.name !== key) problems.push(`${at}/name: is "${policy.name}", not the key it is stored under ("${key}")`);
    for (const parent of policy.extends ?? []) {
      if (parent === key) problems.push(`${at}/extends: the policy extends itself`);
      else if (!has(parent)) problems.push(`${at}/extends: "${parent}" is not a policy in the bundle`);
    }
    const endpoints = policy['allowed-endpoints'];
    endpoints.forEach((endpoint, index) => {
      if (normalizeEndpoint(endpoint) !== endpoint) {
        problems.push(`${at}/allowed-endpoints/${index}: "${endpoint}" is not a canonical host:port endpoint`);
      } else if (index > 0 && (endpoints[index - 1] as string) >= endpoint) {
        problems.push(`${at}/allowed-endpoints/${index}: "${endpoint}" is out of order (endpoints are sorted)`);
      }
    });
    const listed = new Set(endpoints);
    for (const [endpoint, date] of Object.entries(policy['endpoint-expiry'] ?? {})) {
      if (!listed.has(endpoint)) problems.push(`${at}/endpoint-expiry: "${endpoint}" expires on ${date} but is not in allowed-endpoints`);
    }
  }
  for (const type of SCOPE_TYPES) {
    const section = SCOPE_SECTIONS[type];
    for (const [key, policy] of Object.entries(bundle.attachments[section])) {
      if (!has(policy)) {
        problems.push(`/attachments/${section}/${pointerEscape(key)}: attached policy "${policy}" is not in the bundle`);
      }
    }
  }
  return problems;
}

function describeSchemaError(error: ErrorObject): string {
  const at = error.instancePath === '' ? '/' : error.instancePath;
  const params = error.params as Record<string, unknown>;
  if (error.keyword === 'additionalProperties') return `${at}: unknown member "${String(params.additionalProperty)}"`;
  if (error.keyword === 'enum') {
    return `${at}: ${error.message ?? 'not allowed'} (${(params.allowedValues as unknown[]).map(String).join(', ')})`;
  }
  if (error.propertyName !== undefined) return `${at}: key "${error.propertyName}" ${error.message ?? 'is not allowed here'}`;
  return `${at}: ${error.message ?? error.keyword}`;
}

function pointerEscape(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}
