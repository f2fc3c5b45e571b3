/**
 * Bring your own history: a Diesel, Flyway, golang-migrate, dbmate and Sqitch history, each
 * in its tool's layout and unchanged, run through a real fleet. For each:
 *   - the schema after all ups is the one psql gives applying the same files in the tool's order;
 *   - `down` of the reversible tail gives the schema psql gives running those downs;
 *   - on a database the tool migrated (psql plus the tool's own history table), `baseline`
 *     adopts what the table lists and `up` applies only the rest, to the same schema.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { jsonLines, startFleetFixture, type FleetFixture } from '../helpers/fixtures.js';
import { FOREIGN_LAYOUTS, writeHistory, type ForeignLayout } from './layouts.js';
import { applyWithPsql, idsAfterRevert, idsToRevert, revertTailWithPsql, schemaDump } from './reference.js';
import { recordToolHistory } from './tool-history.js';
import { createTestDatabase } from '../helpers/database.js';

/** Schemas and tables that are bookkeeping, not the application's schema: pgfm's catalog and each tool's history. */
const BOOKKEEPING_SCHEMAS = ['migration_mgmt', 'sqitch'];
const BOOKKEEPING_TABLES = ['public.__diesel_schema_migrations', 'public.flyway_schema_history', 'public.schema_migrations'];
const dump = (url: string) => schemaDump(url, BOOKKEEPING_SCHEMAS, BOOKKEEPING_TABLES);

const roots: string[] = [];
afterAll(async () => {
  await Promise.all(roots.map((root) => fs.rm(root, { recursive: true, force: true })));
});

describe.each(FOREIGN_LAYOUTS.map((layout) => [layout] as [ForeignLayout]))('a %s history, unchanged', (layout) => {
  it('applies as psql does, rolls its tail back as psql does, and after baseline applies only what is new', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), `pgfm-byo-${layout}-`));
    roots.push(root);
    const history = await writeHistory(layout, root);
    const reference = await createTestDatabase(`byo_${layout}_psql`);
    let fleet: FleetFixture | undefined;
    let adopter: FleetFixture | undefined;
    try {
      await applyWithPsql(layout, history, reference.url);
      const full = await dump(reference.url);

      fleet = await startFleetFixture(`byo_${layout}`, [], { env: { MIGRATIONS_DIR: history.dir }, workers: 1 });
      const validate = await fleet.cli(['validate', '--json']);
      expect(validate.code, validate.stderr).toBe(0);
      expect(jsonLines(validate.stdout)[0]).toMatchObject({ layout, migrations: history.ids.length });

      const up = await fleet.cli(['up', '--wait']);
      expect(up.code, up.stdout + up.stderr + fleet.fleet.logs()).toBe(0);
      expect(await dump(fleet.db.url)).toBe(full);
      const status = await fleet.cli(['status', '--json']);
      for (const id of history.ids) expect(status.stdout).toContain(JSON.stringify(id).slice(1, -1));

      // The reversible tail, undone through the fleet.
      const kept = idsAfterRevert(layout, history, history.reversibleTail).filter((id) => !id.startsWith('R__'));
      const down = await fleet.cli(['down', '--to', kept.at(-1)!, '--wait']);
      expect(down.code, down.stdout + down.stderr + fleet.fleet.logs()).toBe(0);
      await revertTailWithPsql(layout, history, reference.url, history.reversibleTail);
      expect(await dump(fleet.db.url)).toBe(await dump(reference.url));
      // One step further is a migration its tool cannot undo: refused before anything runs.
      const before = idsToRevert(layout, history, history.reversibleTail + 1).at(-1)!;
      const beyond = history.ids[history.ids.indexOf(before) - 1]!;
      const refused = await fleet.cli(['down', '--to', beyond]);
      if (history.migrations.find((m) => m.id === before)!.down === 'missing' || history.migrations.find((m) => m.id === before)!.down === 'broken') {
        expect(refused.code, refused.stdout + refused.stderr).toBe(2);
        expect(refused.stderr).toContain(`cannot go down past ${before}`);
      }
      await fleet.stop();
      fleet = undefined;

      // A database the origin tool migrated up to the tail: its own history table says so.
      adopter = await startFleetFixture(`byo_${layout}_baseline`, [], { env: { MIGRATIONS_DIR: history.dir }, workers: 1 });
      const appliedCount = layout === 'flyway' ? history.ids.length - history.reversibleTail - 1 : idsAfterRevert(layout, history, history.reversibleTail).length;
      await applyWithPsql(layout, history, adopter.db.url, { ids: history.ids.slice(0, appliedCount) });
      await recordToolHistory(layout, history, adopter.db.url, appliedCount);
      const baseline = await adopter.cli(['baseline', '--json']);
      expect(baseline.code, baseline.stdout + baseline.stderr).toBe(0);
      expect(jsonLines(baseline.stdout)[0]).toMatchObject({ adopted: history.ids.slice(0, appliedCount) });
      const rest = await adopter.cli(['up', '--wait', '--json']);
      expect(rest.code, rest.stdout + rest.stderr + adopter.fleet.logs()).toBe(0);
      const applied = await adopter.db.query<{ migration_id: string }>(
        `SELECT DISTINCT s.migration_id FROM migration_mgmt.steps s JOIN migration_mgmt.runs r USING (run_id) WHERE r.direction = 'up' ORDER BY 1`,
      );
      expect(applied.rows.map((row) => row.migration_id).sort()).toEqual(history.ids.slice(appliedCount).sort());
      expect(await dump(adopter.db.url)).toBe(full);
    } finally {
      await fleet?.stop();
      await adopter?.stop();
      await reference.drop();
    }
  }, 240_000);
});
