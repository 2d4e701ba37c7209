/**
 * `attachments.yml`: scope -> policy (DESIGN 2.3). Walks the YAML itself (not the JS value) so
 * two spellings of one scope are both seen and both lines named.
 */
import { isMap, isPair, isScalar } from 'yaml';
import type { DiagnosticSink, SourcePosition } from './diagnostics.js';
import { SCOPE_SECTIONS, type Attachment, type AttachmentSection, type ScopeType } from './model.js';
import { checkSchema } from './schema.js';
import { parseYaml, positionOf } from './yaml.js';

const SECTION_TYPES = Object.fromEntries(
  Object.entries(SCOPE_SECTIONS).map(([type, section]) => [section, type as ScopeType]),
) as Record<AttachmentSection, ScopeType>;

const ORGANIZATION = /^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){0,38}$/;
const REPOSITORY_NAME = /^[a-z0-9._-]{1,100}$/;
const CLUSTER = /^[a-z0-9](?:[a-z0-9._-]{0,252})$/;

/** Why a scope key is malformed, or undefined when it is fine. Keys are lower-cased first. */
export function scopeKeyProblem(type: ScopeType, key: string): string | undefined {
  switch (type) {
    case 'organization':
      return ORGANIZATION.test(key) ? undefined : `"${key}" is not an organization login: letters, digits and single hyphens, up to 39 characters`;
    case 'repository': {
      const [owner = '', name = '', ...rest] = key.split('/');
      return rest.length === 0 && ORGANIZATION.test(owner) && REPOSITORY_NAME.test(name) && name !== '.' && name !== '..'
        ? undefined
        : `"${key}" is not a repository: write owner/repo`;
    }
    case 'workflow': {
      const match = /^([^/]+)\/([^/]+)\/\.github\/workflows\/([^/]+)$/.exec(key);
      if (!match || scopeKeyProblem('repository', `${match[1]}/${match[2]}`) !== undefined) {
        return `"${key}" is not a workflow: write owner/repo/.github/workflows/<file>.yml`;
      }
      return /\.ya?ml$/.test(match[3] ?? '') ? undefined : `"${key}" must name a .yml or .yaml file under .github/workflows/`;
    }
    case 'cluster':
      return CLUSTER.test(key) ? undefined : `"${key}" is not a cluster name: lower-case letters, digits, ".", "_" and "-"`;
  }
}

export function parseAttachmentsFile(file: string, text: string, sink: DiagnosticSink): Attachment[] {
  const yamlFile = parseYaml(file, text, sink, { duplicateKeysMaxDepth: 0 });
  if (yamlFile.value === undefined || yamlFile.value === null) return [];
  if (!checkSchema('attachments', 'attachment', yamlFile, sink) && (typeof yamlFile.value !== 'object' || Array.isArray(yamlFile.value))) {
    return [];
  }
  const root = yamlFile.doc.contents;
  if (!isMap(root)) return [];
  const attachments: Attachment[] = [];
  for (const sectionPair of root.items) {
    if (!isPair(sectionPair) || !isScalar(sectionPair.key)) continue;
    const type = SECTION_TYPES[String(sectionPair.key.value) as AttachmentSection];
    if (!type || !isMap(sectionPair.value)) continue;
    const seen = new Map<string, SourcePosition>();
    for (const pair of sectionPair.value.items) {
      if (!isScalar(pair.key)) continue;
      const written = String(pair.key.value);
      const key = written.toLowerCase();
      const at = positionOf(yamlFile, pair.key);
      const problem = scopeKeyProblem(type, key);
      if (problem) {
        sink.error('attachment/invalid-key', at, problem);
        continue;
      }
      const first = seen.get(key);
      if (first) {
        sink.error(
          'attachment/duplicate-scope',
          at,
          `${type} "${written}" is attached at line ${first.line} and again at line ${at.line} (names compare case-insensitively): one policy per scope, keep one line`,
        );
        continue;
      }
      seen.set(key, at);
      if (isScalar(pair.value) && typeof pair.value.value === 'string') {
        attachments.push({ type, key, policy: pair.value.value, at: positionOf(yamlFile, pair.value) });
      }
    }
  }
  return attachments;
}
