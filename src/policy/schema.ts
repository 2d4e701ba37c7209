/**
 * The structural pass: JSON Schemas from `schemas/` (the same files editors use through
 * yaml-language-server) run by ajv; each ajv error becomes a located diagnostic.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { closest } from 'fastest-levenshtein';
import type { DiagnosticSink } from './diagnostics.js';
import { keyNodeAtPath, nodeAtPath, positionOf, type YamlFile } from './yaml.js';

/** `schemas/` sits at the package root, two levels above both src/policy and dist/policy. */
export const SCHEMAS_DIR = new URL('../../schemas/', import.meta.url);

const ajv = new Ajv({ allErrors: true, strict: false, verbose: true });
const validators = new Map<string, ValidateFunction>();

export function loadSchema(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`${name}.schema.json`, SCHEMAS_DIR), 'utf8')) as Record<string, unknown>;
}

export function schemaValidator(name: string): ValidateFunction {
  let validate = validators.get(name);
  if (!validate) {
    validate = ajv.compile(loadSchema(name));
    validators.set(name, validate);
  }
  return validate;
}

function pathSegments(instancePath: string): (string | number)[] {
  if (instancePath === '') return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((segment) => (/^\d+$/.test(segment) ? Number(segment) : segment));
}

function describePath(segments: readonly (string | number)[]): string {
  return segments.length === 0 ? 'the file' : `"${segments.map(String).join('.')}"`;
}

/**
 * Validate `yamlFile.value` against schema `name`; codes are `<kind>/unknown-key`,
 * `<kind>/missing-key`, `<kind>/invalid-type`, `<kind>/invalid-value`, `<kind>/schema`.
 * Returns true when the value is structurally valid.
 */
export function checkSchema(name: string, kind: string, yamlFile: YamlFile, sink: DiagnosticSink): boolean {
  const validate = schemaValidator(name);
  if (validate(yamlFile.value)) return true;
  for (const error of collapse(validate.errors ?? [])) reportSchemaError(kind, yamlFile, error, sink);
  return false;
}

/** Type errors for `type: [..]` unions arrive once; drop errors implied by a parent's. */
function collapse(errors: ErrorObject[]): ErrorObject[] {
  const seen = new Set<string>();
  return errors.filter((error) => {
    const key = `${error.instancePath}|${error.keyword}|${JSON.stringify(error.params)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function reportSchemaError(kind: string, yamlFile: YamlFile, error: ErrorObject, sink: DiagnosticSink): void {
  const segments = pathSegments(error.instancePath);
  const where = describePath(segments);
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(error.params['additionalProperty']);
      const known = Object.keys((error.parentSchema?.['properties'] as Record<string, unknown> | undefined) ?? {});
      const suggestion = known.length > 0 ? closest(key, known) : undefined;
      sink.error(
        `${kind}/unknown-key`,
        positionOf(yamlFile, keyNodeAtPath(yamlFile.doc, segments, key)),
        `unknown key "${key}"${suggestion ? `: did you mean "${suggestion}"?` : ''} (known keys: ${known.join(', ')})`,
      );
      return;
    }
    case 'required': {
      const key = String(error.params['missingProperty']);
      sink.error(`${kind}/missing-key`, positionOf(yamlFile, nodeAtPath(yamlFile.doc, segments)), `${where} is missing required key "${key}": add it`);
      return;
    }
    case 'type': {
      const expected = String(error.params['type']).replace(',', ' or ');
      sink.error(
        `${kind}/invalid-type`,
        positionOf(yamlFile, nodeAtPath(yamlFile.doc, segments)),
        `${where} must be ${article(expected)}, not ${describeValue(valueAt(yamlFile.value, segments))}`,
      );
      return;
    }
    case 'enum': {
      const allowed = (error.params['allowedValues'] as unknown[]).map(String);
      const actual = String(valueAt(yamlFile.value, segments));
      sink.error(
        `${kind}/invalid-value`,
        positionOf(yamlFile, nodeAtPath(yamlFile.doc, segments)),
        `${where} is "${actual}": use one of ${allowed.map((value) => `"${value}"`).join(', ')}${
          allowed.length > 1 ? ` (closest: "${closest(actual, allowed)}")` : ''
        }`,
      );
      return;
    }
    case 'pattern': {
      // Schemas carry the message editors show (patternErrorMessage) and, where a code is
      // already known to tools, that code; both are ignored by ajv.
      const schema = error.parentSchema ?? {};
      const code = typeof schema['x-egressctl-code'] === 'string' ? schema['x-egressctl-code'] : 'invalid-value';
      const hint = typeof schema['patternErrorMessage'] === 'string' ? schema['patternErrorMessage'] : `it must match ${String(error.params['pattern'])}`;
      sink.error(`${kind}/${code}`, positionOf(yamlFile, nodeAtPath(yamlFile.doc, segments)), `${where} is "${String(valueAt(yamlFile.value, segments))}": ${hint}`);
      return;
    }
    default:
      sink.error(`${kind}/schema`, positionOf(yamlFile, nodeAtPath(yamlFile.doc, segments)), `${where} ${error.message ?? 'is invalid'}`);
  }
}

function article(typeName: string): string {
  const words: Record<string, string> = {
    object: 'a mapping',
    array: 'a list',
    string: 'a string',
    boolean: 'true or false',
    integer: 'a whole number',
    number: 'a number',
    null: 'empty',
    'string or array': 'a string or a list',
    'string or object': 'a string or a mapping with "endpoint"',
    'object or null': 'a mapping',
  };
  return words[typeName] ?? typeName;
}

function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'empty';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} "${String(value)}"`;
}

function valueAt(value: unknown, segments: readonly (string | number)[]): unknown {
  let current = value;
  for (const segment of segments) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, unknown>)[segment];
  }
  return current;
}
