/** `egressctl.yml`: optional settings; every key has a default (DEFAULT_SETTINGS). */
import type { DiagnosticSink } from './diagnostics.js';
import { DEFAULT_SETTINGS, type ClusterMapping, type DeliveryMode, type FirewallRunsOnMode, type Settings, type UnattachedMode } from './model.js';
import { checkSchema } from './schema.js';
import { scopeKeyProblem } from './scope-keys.js';
import { keyNodeAtPath, nodeAtPath, parseYaml, positionOf, type YamlFile } from './yaml.js';

const PIN = /^([A-Za-z0-9-]+\/[A-Za-z0-9._-]+)@([0-9a-f]{40})$/;

interface RawSettings {
  organizations?: string[];
  'default-branch'?: string;
  'harden-runner'?: { uses: string; version: string };
  baselines?: { 'stable-after-runs'?: number };
  'github-url'?: string;
  unattached?: UnattachedMode;
  delivery?: DeliveryMode;
  'hook-runners'?: string[];
  clusters?: Record<string, { 'runner-groups'?: string[]; labels?: string[] } | null>;
  'github-firewall'?: { enabled?: boolean; 'runs-on'?: FirewallRunsOnMode; 'no-default-urls'?: boolean; 'larger-runners'?: string[] };
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
  if (raw['hook-runners']) settings.hookRunners = [...raw['hook-runners']];
  if (raw.baselines?.['stable-after-runs'] !== undefined) settings.stableAfterRuns = raw.baselines['stable-after-runs'];
  if (raw.clusters) settings.clusters = parseClusters(yamlFile, raw.clusters, sink);
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
      ...(firewall['larger-runners'] ? { largerRunners: [...new Set(firewall['larger-runners'].map((label) => label.trim().toLowerCase()))].sort() } : {}),
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

/**
 * `clusters: {NAME: {runner-groups: [...], labels: [...]}}`. The schema checked the shape; these
 * rules check what it cannot: the name is a cluster scope key, and no runner group or label set
 * points at two clusters (a job would be counted on whichever comes first).
 */
function parseClusters(yamlFile: YamlFile, raw: NonNullable<RawSettings['clusters']>, sink: DiagnosticSink): ClusterMapping[] {
  const clusters: ClusterMapping[] = [];
  const groupOwner = new Map<string, { cluster: string; line: number }>();
  const labelSetOwner = new Map<string, { cluster: string; line: number }>();
  for (const [written, entry] of Object.entries(raw)) {
    const name = written.trim().toLowerCase();
    const keyAt = positionOf(yamlFile, keyNodeAtPath(yamlFile.doc, ['clusters'], written));
    const problem = scopeKeyProblem('cluster', name);
    if (problem) {
      sink.error('settings/cluster-name', keyAt, `${problem} (the cluster's key in attachments.yml)`);
      continue;
    }
    if (clusters.some((cluster) => cluster.name === name)) {
      sink.error('settings/cluster-duplicate', keyAt, `cluster "${written}" is listed twice (names are compared lower-cased): merge the two entries`);
      continue;
    }
    const lower = (values: readonly string[] | undefined) => [...new Set((values ?? []).map((value) => value.trim().toLowerCase()).filter((value) => value !== ''))];
    const cluster: ClusterMapping = { name, runnerGroups: lower(entry?.['runner-groups']), labels: lower(entry?.labels).sort() };
    if (cluster.runnerGroups.length === 0 && cluster.labels.length === 0) {
      sink.error('settings/cluster-empty', keyAt, `cluster "${written}" names no runner group and no label: add runner-groups: [GROUP] or labels: [LABEL] so the App can tell its jobs`);
      continue;
    }
    cluster.runnerGroups.forEach((group, index) => {
      const at = positionOf(yamlFile, nodeAtPath(yamlFile.doc, ['clusters', written, 'runner-groups', index]));
      const owner = groupOwner.get(group);
      if (owner && owner.cluster !== name) {
        sink.error('settings/cluster-runner-group', at, `runner group "${group}" is already listed under cluster "${owner.cluster}" (line ${owner.line}): a runner group belongs to one cluster`);
      } else {
        groupOwner.set(group, { cluster: name, line: at.line });
      }
    });
    if (cluster.labels.length > 0) {
      const at = positionOf(yamlFile, nodeAtPath(yamlFile.doc, ['clusters', written, 'labels']));
      const key = cluster.labels.join('\n');
      const owner = labelSetOwner.get(key);
      if (owner) sink.error('settings/cluster-labels', at, `cluster "${written}" has the same labels as cluster "${owner.cluster}" (line ${owner.line}): the App could not tell their jobs apart`);
      else labelSetOwner.set(key, { cluster: name, line: at.line });
    }
    clusters.push(cluster);
  }
  return clusters;
}
