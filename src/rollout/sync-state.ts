/**
 * Where each repository's last sync outcome is kept (docs/github-app.md, "Sync state"): one seam,
 * two backends. The file (`sync-report.json` in a state directory) is the default and what the
 * CLI uses; several App replicas share a Redis one (src/app/sync-state-redis.ts), so that every
 * replica's `/sync` page and `egressctl_sync_repositories` show what any of them synced.
 * Both follow the merge rules of sync-report.ts: `merge` replaces the repositories and variables a
 * run names and keeps the others; without it a run replaces its organization's entries.
 */
import path from 'node:path';
import { pruneSync, readSyncReport, recordSyncRun, syncGeneration, SYNC_REPORT_FILE, type OrganizationSync, type RecordOptions, type SyncReportFile } from './sync-report.js';

/** What the console and the metrics need: the whole report, as `sync-report.json` holds it. */
export interface SyncStateReader {
  /** Where the state is, for logs (`/var/lib/egressctl/sync-report.json`, `redis HOST:PORT`). */
  readonly description: string;
  read(): Promise<SyncReportFile>;
}

export interface SyncStateStore extends SyncStateReader {
  /**
   * Record one organization's run (`merge`: only what it names changes; otherwise its
   * organization's entries are replaced). With `generation`, rows of repositories a newer listing
   * does not name are not written; returns those repositories (a write left with nothing is not made).
   */
  record(run: OrganizationSync, options?: RecordOptions): Promise<string[]>;
  /**
   * Drop `organization`'s rows for repositories not in `listed` (a complete listing of its
   * installation's repositories: never call it with a failed or partial one), and keep the
   * listing as the organization's next generation. Returns the names dropped.
   */
  prune(organization: string, listed: readonly string[]): Promise<string[]>;
  /** The generation of the organization's last listing (0 before any): what a unit queued now carries to `record`. */
  generation(organization: string): Promise<number>;
  close(): Promise<void>;
}

/** `sync-report.json` in `dir`, written atomically, one write at a time per directory (one replica, or the CLI). */
export class FileSyncStateStore implements SyncStateStore {
  readonly description: string;

  constructor(readonly dir: string) {
    this.description = path.join(dir, SYNC_REPORT_FILE);
  }

  async record(run: OrganizationSync, options: RecordOptions = {}): Promise<string[]> {
    return (await recordSyncRun(this.dir, run, options)).dropped;
  }

  prune(organization: string, listed: readonly string[]): Promise<string[]> {
    return pruneSync(this.dir, organization, listed);
  }

  generation(organization: string): Promise<number> {
    return syncGeneration(this.dir, organization);
  }

  read(): Promise<SyncReportFile> {
    return readSyncReport(this.dir);
  }

  async close(): Promise<void> {
    // Nothing held open: each write is a whole file, renamed into place.
  }
}
