import { appendFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerDefinitions } from '../../shared/catalog/definitions.js';
import { setMigrationStatus } from '../../shared/catalog/lifecycle.js';
import { migrateCatalog } from '../../shared/catalog/internal-migrations.js';
import { catalogTables } from '../../shared/catalog/tables.js';
import { createPool } from '../../shared/db.js';
import { loadDefinitions } from '../../shared/definitions/loader.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { removeDir, writeMigrations } from '../helpers/fixtures.js';

const ID = '2025.04.01_000000_create_notes';

describe('repair accepts an edited applied migration, on the record', () => {
  let db: TestDatabase;
  let dir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase('repair');
    dir = await writeMigrations('repair', [{ id: ID, up: 'CREATE TABLE notes (id int PRIMARY KEY);\n', down: 'DROP TABLE notes;\n' }]);
    env = { DATABASE_URL: db.url, MIGRATIONS_DIR: dir };
    // The migration as applied: catalog rows with the checksum of the files as they were.
    const pool = createPool(db.url);
    const tables = catalogTables('migration_mgmt');
    const definitions = await loadDefinitions(dir);
    await migrateCatalog(pool, tables);
    await registerDefinitions(pool, tables, definitions);
    const migration = definitions.migrations[0]!;
    await setMigrationStatus(pool, tables, { migrationId: ID, environment: 'development', status: 'completed', checksum: migration.checksum, fileChecksums: migration.fileChecksums, runId: null });
    await pool.end();
  });

  afterAll(async () => {
    await db?.drop();
    await removeDir(dir);
  });

  it('refuses the drift, then accepts it through repair and records who did it and why', async () => {
    await appendFile(path.join(dir, ID, 'up.sql'), '-- a comment added after the fact\n');
    const refused = await runCli(['plan'], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(new RegExp(`migration ${ID} was changed after it was applied \\(up\\.sql\\).*file=${ID}/up\\.sql`));

    const repaired = await runCli(['repair', '--reason', 'comment only'], { ...env, ACTOR: 'alice' });
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(repaired.stdout).toBe(`accepted changes to ${ID}`);
    expect((await runCli(['plan'], env)).stdout.split('\n').at(-1)).toBe('nothing to apply in development');
    expect((await runCli(['repair'], env)).stdout).toBe('nothing to repair');

    const audit = await db.query(`SELECT actor, migration_id, details->>'reason' AS reason FROM migration_mgmt.audit_log WHERE action = 'repair'`);
    expect(audit.rows).toEqual([{ actor: 'alice', migration_id: ID, reason: 'comment only' }]);
  });
});
