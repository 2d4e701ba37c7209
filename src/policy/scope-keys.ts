/**
 * The grammar of scope keys (attachments.yml keys, bundle attachment keys), in one place:
 * `validate` checks attachments.yml with it and `compile` and every bundle consumer check the
 * bundle with it, so whatever validate accepts, compile accepts. schemas/bundle.schema.json
 * repeats these patterns for other tools; a test keeps the two equal.
 */
import type { ScopeType } from './model.js';

/** GitHub logins: letters, digits and single inner hyphens, up to 39 characters. */
const ORGANIZATION = '[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){0,38}';
/** GitHub repository names; "." and ".." are not names. */
const REPOSITORY = `${ORGANIZATION}/(?!\\.{1,2}(?:/|$))[a-z0-9._-]{1,100}`;
/**
 * A workflow file name as GitHub's OIDC `workflow_ref` carries it: no whitespace or control
 * characters (they cannot be matched reliably), no "/" and no "@" (where the ref begins).
 */
const WORKFLOW_FILE = '[^\\s\\x00-\\x1f\\x7f/@]+\\.ya?ml';
const CLUSTER = '[a-z0-9][a-z0-9._-]{0,252}';

/** Anchored pattern texts over lower-cased keys, by scope type (JSON Schema `pattern`s use the same text). */
export const SCOPE_KEY_PATTERN_TEXTS: Readonly<Record<ScopeType, string>> = {
  organization: `^${ORGANIZATION}$`,
  repository: `^${REPOSITORY}$`,
  workflow: `^${REPOSITORY}/\\.github/workflows/${WORKFLOW_FILE}$`,
  cluster: `^${CLUSTER}$`,
};

/** JSON Schema patterns are ECMAScript regular expressions with the "u" flag (as ajv runs them). */
export const SCOPE_KEY_PATTERNS: Readonly<Record<ScopeType, RegExp>> = {
  organization: new RegExp(SCOPE_KEY_PATTERN_TEXTS.organization, 'u'),
  repository: new RegExp(SCOPE_KEY_PATTERN_TEXTS.repository, 'u'),
  workflow: new RegExp(SCOPE_KEY_PATTERN_TEXTS.workflow, 'u'),
  cluster: new RegExp(SCOPE_KEY_PATTERN_TEXTS.cluster, 'u'),
};

/** Why a lower-cased scope key is malformed, or undefined when it is fine. */
export function scopeKeyProblem(type: ScopeType, key: string): string | undefined {
  if (SCOPE_KEY_PATTERNS[type].test(key)) return undefined;
  switch (type) {
    case 'organization':
      return `"${key}" is not an organization login: letters, digits and single hyphens, up to 39 characters`;
    case 'repository':
      return `"${key}" is not a repository: write owner/repo`;
    case 'workflow': {
      const match = /^([^/]+)\/([^/]+)\/\.github\/workflows\/([^/]+)$/.exec(key);
      if (!match || !SCOPE_KEY_PATTERNS.repository.test(`${match[1]}/${match[2]}`)) {
        return `"${key}" is not a workflow: write owner/repo/.github/workflows/<file>.yml`;
      }
      const file = match[3] ?? '';
      if (!/\.ya?ml$/.test(file)) return `"${key}" must name a .yml or .yaml file under .github/workflows/`;
      return `"${key}": the workflow file name "${file}" has whitespace, a control character or "@", which GitHub's workflow_ref cannot be matched against; rename the file`;
    }
    case 'cluster':
      return `"${key}" is not a cluster name: lower-case letters, digits, ".", "_" and "-"`;
  }
}
