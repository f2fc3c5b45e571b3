/**
 * What a layout reader finds on disk, before any SQL is parsed: one entry per migration, in
 * the order its origin tool applies them. The loader turns these into definitions.
 */
export const LAYOUT_NAMES = ['pgfm', 'diesel', 'flyway', 'golang-migrate', 'dbmate', 'sqitch'] as const;
export type LayoutName = (typeof LAYOUT_NAMES)[number];

/** A script's text and where it came from (relative to the migrations directory, for messages). */
export interface ScriptSource {
  file: string;
  text: string;
  /** The origin tool runs it outside a transaction (Diesel run_in_transaction = false, dbmate transaction:false, Flyway executeInTransaction=false). */
  noTransaction?: boolean;
}

export interface RawMigration {
  /** The id the origin tool shows (folder name, file stem, Sqitch change); status, logs and the catalog use it. */
  id: string;
  /** The folder or file that holds the migration, relative to the migrations directory. */
  folder: string;
  /** A readable name (the description part of the id). */
  name: string;
  up: ScriptSource;
  /** Undefined: the tool has no down for it (irreversible); an empty text is a deliberate no-op. */
  down: ScriptSource | undefined;
  verify: ScriptSource | undefined;
  /** pgfm's own layout only: migration.yaml, relative. */
  metaFile?: string;
  /** How the origin tool records it in its own history table (Diesel's dash-less version, Flyway's version, Sqitch's change id...). */
  toolVersion: string;
  /** Flyway: the checksum Flyway records for the script (a repeatable is due again when it changes). */
  toolChecksum?: string;
  /** Flyway's R__ files: applied again whenever their checksum changes, after every versioned one. */
  repeatable?: boolean;
  /** Sqitch: changes it requires and conflicts with, as written in the plan. */
  requires?: string[];
  conflicts?: string[];
}

export interface LayoutRead {
  layout: LayoutName;
  migrations: RawMigration[];
  /** Files the tool itself would skip, worth a word (`validate` prints them). */
  warnings: string[];
  /** Sqitch: the project name (its registry rows are per project). */
  project?: string;
}
