/**
 * GitHub's native egress firewall, as its technical preview defines it (docs/github-firewall.md):
 * the file's path, its keys and modes, the runner label, the default hosts and the decisions
 * artifact. The preview says its rule format, schema, file discovery and APIs may change: every
 * name of the format lives in this one module, so a change of the preview is a change here.
 *
 * Source: github-early-access/actions-native-egress-firewall, README ("File-based enforcement",
 * "Configuration example", "Two delivery paths"), as of the technical preview of 2026-08-31.
 */

/** Which preview of the format this module writes (recorded in the managed file's header). */
export const FIREWALL_FORMAT = { name: 'actions-native-egress-firewall', version: 'technical-preview-2026-08-31' } as const;

/** The one policy file per repository, read from the ref the workflow runs on (case-sensitive). */
export const FIREWALL_FILE = '.github/egress-firewall.yaml';

/** Top-level keys of the file. */
export const FIREWALL_KEYS = { mode: 'mode', allow: 'allow', noDefaultUrls: 'no-default-urls' } as const;

/** `log` records and never blocks on purpose; `enforce` denies what `allow` (plus the defaults) does not list. */
export type FirewallMode = 'log' | 'enforce';
export const FIREWALL_MODES: readonly FirewallMode[] = ['log', 'enforce'];

/** The standard GitHub-hosted label that puts a job behind the firewall. */
export const FIREWALL_RUNNER_LABEL = 'ubuntu-24.04-firewall';

/** Labels of standard GitHub-hosted runners behind the firewall (a workflow_job's `labels` tell the App a job ran there). */
export const FIREWALL_RUNNER_LABELS: readonly string[] = [FIREWALL_RUNNER_LABEL, 'ubuntu-latest-firewall'];

export function isFirewallRunnerLabel(label: string): boolean {
  return FIREWALL_RUNNER_LABELS.includes(label.toLowerCase());
}

/**
 * The image a larger runner must be created with to run behind the firewall (README, "Two delivery
 * paths"). A larger runner's label is the name its administrator gave it, so which labels these are
 * is the organization's to say: `egressctl.yml` `github-firewall.larger-runners`.
 */
export const FIREWALL_LARGER_RUNNER_IMAGE = 'Ubuntu 24.04 with Firewall';

/**
 * Whether a job with these runner labels runs behind the firewall: a standard firewall label, or
 * one of the organization's larger runners on the firewall image (`largerRunners`, lower-cased).
 */
export function runsBehindFirewall(labels: readonly string[], largerRunners: readonly string[] = []): boolean {
  return labels.some((label) => isFirewallRunnerLabel(label) || largerRunners.includes(label.toLowerCase()));
}

/** Labels the runs-on rewrite moves to FIREWALL_RUNNER_LABEL; a value names the image change it means. */
export const FIREWALL_MOVABLE_LABELS: Readonly<Record<string, string | undefined>> = {
  'ubuntu-latest': undefined,
  'ubuntu-24.04': undefined,
  'ubuntu-22.04': 'Ubuntu 22.04 -> 24.04: a change of image (tool versions differ); check the job on the new image',
};

/**
 * What the firewall allows without being told (unless `no-default-urls: true`). The two wildcard
 * entries are GitHub-managed, expanded by GitHub from its /meta API; they are not a wildcard a
 * file may write. As host patterns in the agent's matching (split on the first `*`).
 */
export const FIREWALL_DEFAULT_HOSTS: readonly string[] = ['github.com', 'codeload.github.com', '*actions.githubusercontent.com', '*blob.core.windows.net'];

/** The run artifact with the firewall's decisions: `firewall-decisions-*.json`. */
export const DECISIONS_ARTIFACT = /^firewall-decisions-.*\.json$/;
/** An artifact's name, without `.json` (the Actions artifacts API lists names, the zip holds the file). */
export const DECISIONS_ARTIFACT_NAME = /^firewall-decisions-/;

/**
 * The only field of a decision confirmed publicly is `url`, under `decision[]`. Others are read
 * defensively (never required).
 */
export const DECISIONS_KEYS = { list: 'decision', url: 'url' } as const;

/**
 * What Harden-Runner itself reaches, so a job running both keeps working behind the firewall
 * (docs/github-firewall.md, "Harden-Runner behind the firewall"). From step-security/harden-runner
 * src/configs.ts (STEPSECURITY_API_URL, STEPSECURITY_TELEMETRY_URL) and src/install-agent.ts (the
 * agent is a GitHub release download: github.com redirects to the release asset hosts), and
 * step-security/agent dnsproxy.go (the agent resolves names over DNS-over-HTTPS at dns.google,
 * falling back to cloudflare-dns.com). step-security's own firewall file lists the same.
 */
export const HARDEN_RUNNER_HOSTS: readonly { host: string; why: string; telemetry?: true }[] = [
  { host: 'agent.api.stepsecurity.io', why: "Harden-Runner's API (monitor, TLS inspection status, job summary)" },
  { host: 'prod.app-api.stepsecurity.io', why: "Harden-Runner's telemetry (off with disable-telemetry)", telemetry: true },
  { host: 'dns.google', why: "the agent's DNS-over-HTTPS resolver" },
  { host: 'cloudflare-dns.com', why: "the agent's fallback DNS-over-HTTPS resolver" },
  { host: 'release-assets.githubusercontent.com', why: "the agent's download (a GitHub release asset)" },
  { host: 'objects.githubusercontent.com', why: "the agent's download (older release asset host)" },
];
/** Harden-Runner's download starts at github.com: with no-default-urls it must be listed. */
export const HARDEN_RUNNER_DOWNLOAD_HOST = 'github.com';

/** The managed marker: a file with this line was written by egressctl and is rewritten by it. */
export const MANAGED_MARKER = '# managed-by: egressctl';
export const MANAGED_MARKER_PATTERN = /^# managed-by: egressctl\b/m;
