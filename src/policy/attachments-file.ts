/**
 * `attachments.yml`: scope -> policy (docs/architecture.md#attachments). Walks the YAML itself (not the JS value) so
 * two spellings of one scope are both seen and both lines named.
 */
import { isMap, isPair, isScalar } from 'yaml';
import type { DiagnosticSink, SourcePosition } from './diagnostics.js';
import { SCOPE_SECTIONS, type Attachment, type AttachmentSection, type ScopeType } from './model.js';
import { checkSchema } from './schema.js';
import { scopeKeyProblem } from './scope-keys.js';
import { parseYaml, positionOf } from './yaml.js';

const SECTION_TYPES = Object.fromEntries(
  Object.entries(SCOPE_SECTIONS).map(([type, section]) => [section, type as ScopeType]),
) as Record<AttachmentSection, ScopeType>;

export { scopeKeyProblem };

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
