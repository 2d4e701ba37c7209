/**
 * A fast reader for attachments.yml in its plain, canonical form (section headers at column 0,
 * `  key: policy` entries, comments, blank lines). A long history re-reads the file at every
 * version, and at enterprise size (thousands of scopes) the full YAML parser dominates. Anything
 * outside that form, or anything the full parser would report (a bad key, a duplicate), returns
 * undefined, and the caller uses `parseAttachmentsFile`; where both answer, they agree (tested).
 */
import { scopeKeyProblem } from '../policy/attachments-file.js';
import { SCOPE_SECTIONS, type AttachmentSection, type ScopeType } from '../policy/model.js';

const SECTION_TYPES = new Map<string, ScopeType>(Object.entries(SCOPE_SECTIONS).map(([type, section]) => [section, type as ScopeType]));

const BLANK_OR_COMMENT = /^[ ]*(?:#.*)?$/;
const SECTION_LINE = /^([a-z]+):[ ]*(?:[ ]#.*)?$/;
/**
 * Plain keys and values only. Keys made of digits alone (or starting like a number without a
 * `/`) and values starting with a digit could be YAML numbers: those go to the full parser.
 */
const ENTRY_LINE = /^([ ]+)([A-Za-z0-9][A-Za-z0-9._/-]*):[ ]+([a-z][a-z0-9._-]{0,62})[ ]*(?:[ ]#.*)?$/;
const NOT_A_PLAIN_STRING_KEY = /^(?:null|true|false|[-+.]?\d[^/]*)$/i;
const NOT_A_PLAIN_STRING_VALUE = /^(?:null|true|false)$/i;

export interface FastAttachment {
  type: ScopeType;
  key: string;
  policy: string;
}

export function fastAttachments(text: string): FastAttachment[] | undefined {
  if (text.includes('\t')) return undefined;
  const attachments: FastAttachment[] = [];
  const seenSections = new Set<string>();
  const seenKeys = new Set<string>();
  let section: ScopeType | undefined;
  let sectionEntries = 0;
  let indent: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    if (BLANK_OR_COMMENT.test(line)) continue;
    const header = SECTION_LINE.exec(line);
    if (header) {
      const type = SECTION_TYPES.get(header[1] as AttachmentSection);
      if (!type || seenSections.has(type) || (section !== undefined && sectionEntries === 0)) return undefined;
      seenSections.add(type);
      section = type;
      sectionEntries = 0;
      indent = undefined;
      continue;
    }
    const entry = ENTRY_LINE.exec(line);
    if (!entry || section === undefined) return undefined;
    const [, entryIndent = '', written = '', policy = ''] = entry;
    if (indent !== undefined && entryIndent !== indent) return undefined;
    indent = entryIndent;
    if (NOT_A_PLAIN_STRING_KEY.test(written) || NOT_A_PLAIN_STRING_VALUE.test(policy)) return undefined;
    const key = written.toLowerCase();
    const scopeKey = `${section}\0${key}`;
    if (seenKeys.has(scopeKey) || scopeKeyProblem(section, key) !== undefined) return undefined;
    seenKeys.add(scopeKey);
    attachments.push({ type: section, key, policy });
    sectionEntries++;
  }
  if (section !== undefined && sectionEntries === 0) return undefined;
  return attachments;
}
