/** Small formatting helpers shared by the console's pages. Pure. */
import { html, type Html } from './html.js';

/** `2024-05-01 12:00:00 UTC` for an ISO date-time; the text itself when it does not parse. */
export function utcText(iso: string): string {
  const time = Date.parse(iso);
  if (Number.isNaN(time)) return iso;
  return `${new Date(time).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

const UNITS: [string, number][] = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
];

/** "3 days ago", "in 2 hours", "just now": the largest whole unit. */
export function relativeTime(iso: string, now: Date): string {
  const time = Date.parse(iso);
  if (Number.isNaN(time)) return 'unknown time';
  const seconds = Math.round((now.getTime() - time) / 1000);
  const magnitude = Math.abs(seconds);
  if (magnitude < 60) return 'just now';
  for (const [unit, size] of UNITS) {
    const count = Math.floor(magnitude / size);
    if (count >= 1) {
      const text = `${count} ${unit}${count === 1 ? '' : 's'}`;
      return seconds >= 0 ? `${text} ago` : `in ${text}`;
    }
  }
  return 'just now';
}

/** A `<time>` element: absolute UTC, with the relative age next to it. */
export function timeHtml(iso: string, now: Date): Html {
  return html`<time datetime="${iso}" title="${iso}">${utcText(iso)}</time> <span class="age">(${relativeTime(iso, now)})</span>`;
}

/** `1234567` -> `1,234,567`. */
export function formatCount(count: number): string {
  return String(count).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

export function plural(count: number, singular: string, pluralForm = `${singular}s`): string {
  return `${formatCount(count)} ${count === 1 ? singular : pluralForm}`;
}

/** A commit sha as people read it; a `worktree-...` revision stays whole. */
export function shortSha(revision: string): string {
  return /^[0-9a-f]{40,64}$/.test(revision) ? revision.slice(0, 7) : revision;
}

export interface LinkSettings {
  /** e.g. `https://github.com` (http(s) only; anything else gives no links). */
  githubUrl: string;
  /** The policy repository on GitHub, `owner/repo`; unknown: commits are shown without links. */
  repository: string | undefined;
}

function repositoryBase(links: LinkSettings): string | undefined {
  if (!links.repository || !/^[A-Za-z0-9-]+\/[A-Za-z0-9._-]+$/.test(links.repository)) return undefined;
  if (!/^https?:\/\/[^\s/"'<>]+/i.test(links.githubUrl)) return undefined;
  return `${links.githubUrl.replace(/\/+$/, '')}/${links.repository}`;
}

export function commitUrl(links: LinkSettings, sha: string): string | undefined {
  const base = repositoryBase(links);
  return base && /^[0-9a-f]{7,64}$/.test(sha) ? `${base}/commit/${sha}` : undefined;
}

export function pullRequestUrl(links: LinkSettings, pr: number): string | undefined {
  const base = repositoryBase(links);
  return base ? `${base}/pull/${pr}` : undefined;
}

/** The short sha, linked to the commit on GitHub when the repository is known. */
export function commitHtml(links: LinkSettings, sha: string): Html {
  const url = commitUrl(links, sha);
  const text = html`<code title="${sha}">${shortSha(sha)}</code>`;
  return url ? html`<a href="${url}" rel="noreferrer">${text}</a>` : text;
}

export function pullRequestHtml(links: LinkSettings, pr: number | null): Html {
  if (pr === null) return html``;
  const url = pullRequestUrl(links, pr);
  return url ? html`<a href="${url}" rel="noreferrer">#${pr}</a>` : html`#${pr}`;
}
