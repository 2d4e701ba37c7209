/**
 * With `delivery: variables` every attachment of an organization, repository or workflow is
 * written as an Actions variable (docs/reconciliation.md, "Variables"). GitHub refuses what does
 * not fit, so the policy PR's check refuses it first, located at the attachment: a value over
 * 48 KB, two workflow files of one repository that map to the same variable name, more
 * variables in a repository than GitHub allows.
 */
import {
  isValidVariableName,
  REPOSITORY_POLICY_VARIABLE,
  VARIABLE_LIMITS,
  valueBytes,
  variableValue,
  workflowVariableName,
} from './delivery.js';
import type { DiagnosticSink } from './diagnostics.js';
import { flattenPolicies } from './flatten.js';
import type { Attachment, PolicySet } from './model.js';

export function ruleVariablesFit({ repository, sink }: { repository: PolicySet; sink: DiagnosticSink }): void {
  if (repository.settings.delivery !== 'variables') return;
  const compiled = flattenPolicies(repository);
  const checkedValues = new Map<string, number>();
  /** `owner/repo` -> variable name -> the first workflow attachment that uses it. */
  const names = new Map<string, Map<string, Attachment>>();
  for (const attachment of repository.attachments) {
    if (attachment.type === 'cluster') continue;
    const policy = compiled[attachment.policy];
    // An unknown policy is reported by its own rule.
    if (policy) {
      let bytes = checkedValues.get(policy.name);
      if (bytes === undefined) {
        bytes = valueBytes(variableValue(policy));
        checkedValues.set(policy.name, bytes);
      }
      if (bytes > VARIABLE_LIMITS.valueBytes) {
        sink.error(
          'attachment/variable-too-large',
          attachment.at,
          `policy "${policy.name}" does not fit an Actions variable (delivery: variables): its value is ${bytes.toLocaleString('en-US')} bytes, GitHub allows ${VARIABLE_LIMITS.valueBytes.toLocaleString('en-US')}; use fewer or wildcard endpoints, or delivery: pull-request`,
        );
      }
    }
    if (attachment.type !== 'workflow') continue;
    const parts = attachment.key.split('/');
    if (parts.length < 5) continue;
    const repo = `${parts[0]}/${parts[1]}`;
    const name = workflowVariableName(attachment.key);
    if (!isValidVariableName(name)) {
      sink.error('attachment/variable-name', attachment.at, `workflow ${attachment.key} maps to the variable name ${name}, which GitHub does not accept (letters, digits and _ only)`);
      continue;
    }
    let byName = names.get(repo);
    if (!byName) {
      byName = new Map();
      names.set(repo, byName);
    }
    const first = byName.get(name);
    if (first && first.key !== attachment.key) {
      sink.error(
        'attachment/variable-collision',
        attachment.at,
        `workflows ${first.key} and ${attachment.key} both map to the Actions variable ${name} (delivery: variables): rename one of the files or attach the policy to the repository`,
      );
    } else if (!first) {
      byName.set(name, attachment);
      // The repository's own EGRESSCTL_REPO_POLICY counts too.
      if (byName.size + 1 === VARIABLE_LIMITS.perRepository + 1) {
        sink.error('attachment/variable-count', attachment.at, `repository ${repo} would need more than ${VARIABLE_LIMITS.perRepository} Actions variables (${REPOSITORY_POLICY_VARIABLE} and one per attached workflow), GitHub's limit per repository`);
      }
    }
  }
}
