/**
 * Writing to the files the runner reads after a step: GITHUB_OUTPUT (step outputs) and
 * GITHUB_ENV (environment of later steps). Always the multi-line form with a random delimiter,
 * so no value (even one with newlines or `=`) can inject another entry.
 */
import { randomBytes } from 'node:crypto';
import { appendFile } from 'node:fs/promises';

export function githubFileEntries(values: Record<string, string>): string {
  let text = '';
  for (const [name, value] of Object.entries(values)) {
    if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(name)) throw new Error(`"${name}" is not a valid output or variable name`);
    let delimiter = `EGRESSCTL_${randomBytes(12).toString('hex')}`;
    while (value.includes(delimiter)) delimiter = `EGRESSCTL_${randomBytes(12).toString('hex')}`;
    text += `${name}<<${delimiter}\n${value}\n${delimiter}\n`;
  }
  return text;
}

export async function appendGithubFile(file: string, values: Record<string, string>): Promise<void> {
  await appendFile(file, githubFileEntries(values), 'utf8');
}
