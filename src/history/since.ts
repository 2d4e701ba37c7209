/** `--since` values, read the same way in every time zone. */

const RELATIVE = /^(\d+)\s*(h|d|w)$/;
const UNIT_MS = { h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 } as const;
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?)(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * `2024-05-01` (midnight UTC), `2024-05-01T12:00[:00][Z|+02:00]` (no zone means UTC), or a
 * relative `36h`, `30d`, `2w` before `now`. Returns the instant as ISO UTC, or undefined when
 * the text is none of these.
 */
export function parseSince(text: string, now: Date = new Date()): string | undefined {
  const trimmed = text.trim();
  const relative = RELATIVE.exec(trimmed);
  if (relative) return new Date(now.getTime() - Number(relative[1]) * UNIT_MS[relative[2] as keyof typeof UNIT_MS]).toISOString();
  let iso: string | undefined;
  if (DATE_ONLY.test(trimmed)) iso = `${trimmed}T00:00:00Z`;
  else {
    const match = DATE_TIME.exec(trimmed);
    if (match) {
      const zone = match[3] ?? 'Z';
      iso = `${match[1]}T${match[2]}${zone.length === 5 ? `${zone.slice(0, 3)}:${zone.slice(3)}` : zone.toUpperCase()}`;
    }
  }
  if (iso === undefined) return undefined;
  const instant = Date.parse(iso);
  if (Number.isNaN(instant)) return undefined;
  // Date.parse rolls 2024-02-31 over to March: refuse days the month does not have.
  const [year, month, day] = iso.slice(0, 10).split('-').map(Number);
  const calendar = new Date(Date.UTC(year ?? 0, (month ?? 1) - 1, day ?? 1));
  if (calendar.getUTCMonth() !== (month ?? 1) - 1 || calendar.getUTCDate() !== day) return undefined;
  return new Date(instant).toISOString();
}
