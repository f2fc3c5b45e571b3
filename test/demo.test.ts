import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { ADMIN_URL } from './helpers/database.js';
import { freePort, startProcess } from './helpers/processes.js';

describe('npm run demo', () => {
  const database = `pgfm_demo_test_${randomBytes(3).toString('hex')}`;

  afterAll(async () => {
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).finally(() => admin.end());
  });

  it('runs end to end with a small data set and exits 0', async () => {
    const demo = startProcess('demo', 'scripts/demo.ts', { DEMO_ADMIN_URL: ADMIN_URL }, ['--rows', '5000', '--port', String(await freePort()), '--database', database]);
    const code = await demo.exited;
    const output = demo.output.join('\n');
    expect(code, output).toBe(0);
    expect(output).toMatch(/run [0-9a-f-]{36} completed/);
    expect(output).toMatch(/2025\.01\.31_160002_unified_satisfaction_view\s+5\.2\.0\s+view\s+completed/);
    expect(output).toMatch(/rolled_back: 2025\.02\.01_090001_demo_require_primary_phone: 2025\.02\.01_090001_demo_require_primary_phone\/up\.sql:\d+: column \\?"phone_primary\\?" of relation \\?"customers\\?" contains null values/);
    expect(output).toMatch(/dead-step-\d+-g0\s+2025\.02\.01_090001_demo_require_primary_phone\s+up/);
    expect(output).toMatch(/Bull Board: http:\/\/127\.0\.0\.1:\d+\/ {2}user demo, password \S+/);
  }, 180_000);
});
