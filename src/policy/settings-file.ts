/** `egressctl.yml`: optional settings; every key has a default (DEFAULT_SETTINGS). */
import type { DiagnosticSink } from './diagnostics.js';
import { DEFAULT_SETTINGS, type DeliveryMode, type FirewallRunsOnMode, type Settings, type UnattachedMode } from './model.js';
import { checkSchema } from './schema.js';
import { nodeAtPath, parseYaml, positionOf } from './yaml.js';

const PIN = /^([A-Za-z0-9-]+\/[A-Za-z0-9._-]+)@([0-9a-f]{40})$/;

interface RawSettings {
  organizations?: string[];
  'default-branch'?: string;
  'harden-runner'?: { uses: string; version: string };
  baselines?: { 'stable-after-runs'?: number };
  'github-url'?: string;
  unattached?: UnattachedMode;
  delivery?: DeliveryMode;
  'github-firewall'?: { enabled?: boolean; 'runs-on'?: FirewallRunsOnMode; 'no-default-urls'?: boolean };
}

export function parseSettingsFile(file: string, text: string, sink: DiagnosticSink): Settings {
  const yamlFile = parseYaml(file, text, sink);
  if (yamlFile.value === undefined || yamlFile.value === null) return structuredClone(DEFAULT_SETTINGS);
  if (!checkSchema('egressctl', 'settings', yamlFile, sink)) return structuredClone(DEFAULT_SETTINGS);
  const raw = yamlFile.value as RawSettings;
  const settings = structuredClone(DEFAULT_SETTINGS);
  if (raw.organizations) settings.organizations = [...new Set(raw.organizations.map((org) => org.toLowerCase()))].sort();
  if (raw['default-branch']) settings.defaultBranch = raw['default-branch'];
  if (raw.unattached) settings.unattached = raw.unattached;
  if (raw.delivery) settings.delivery = raw.delivery;
  if (raw.baselines?.['stable-after-runs'] !== undefined) settings.stableAfterRuns = raw.baselines['stable-after-runs'];
  if (raw['github-url'] !== undefined) {
    if (/^https?:\/\/[^\s/]+/.test(raw['github-url'])) settings.githubUrl = raw['github-url'].replace(/\/+$/, '');
    else sink.error('settings/github-url', positionOf(yamlFile, nodeAtPath(yamlFile.doc, ['github-url'])), 'github-url must be an http(s) URL such as https://github.com');
  }
  const firewall = raw['github-firewall'];
  if (firewall) {
    settings.githubFirewall = {
      enabled: firewall.enabled ?? false,
      runsOn: firewall['runs-on'] ?? 'leave',
      noDefaultUrls: firewall['no-default-urls'] ?? false,
    };
    if (!settings.githubFirewall.enabled && (firewall['runs-on'] === 'rewrite' || firewall['no-default-urls'] !== undefined)) {
      sink.warning(
        'settings/github-firewall-disabled',
        positionOf(yamlFile, nodeAtPath(yamlFile.doc, ['github-firewall'])),
        'github-firewall settings have no effect while enabled is not true: set enabled: true to write .github/egress-firewall.yaml',
      );
    }
  }
  const pin = raw['harden-runner'];
  if (pin) {
    const match = PIN.exec(pin.uses);
    if (!match) {
      sink.error(
        'settings/harden-runner-pin',
        positionOf(yamlFile, nodeAtPath(yamlFile.doc, ['harden-runner', 'uses'])),
        `"${pin.uses}" is not pinned by a full commit SHA: write owner/repo@<40 hex characters> (tags and branches can move)`,
      );
    } else {
      settings.hardenRunner = { repository: match[1] ?? '', sha: match[2] ?? '', version: pin.version };
    }
  }
  return settings;
}
