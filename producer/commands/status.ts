import { runChunks } from '../../shared/catalog/chunks.js';
import { backfillProgress } from '../../shared/catalog/progress.js';
import { latestRuns, readRun, runSteps } from '../../shared/catalog/runs.js';
import { readCatalogState } from '../../shared/catalog/state.js';
import { loadDefinitions } from '../../shared/definitions/loader.js';
import { BadInputError } from '../../shared/errors.js';
import { withDatabase, type CommandContext } from '../context.js';
import { table } from '../format.js';
import { followAndReport } from './report-run.js';

const seconds = (from: Date | null, to: Date | null) => (from ? (((to ?? new Date()).getTime() - from.getTime()) / 1000).toFixed(1) : null);

/** Without --run: every migration's status in ENVIRONMENT and the latest runs. With --run: that run's steps. */
/** `status --exit-code`: nothing to do, migrations pending, or something an operator must look at (drift, a failed migration). */
export const STATUS_EXIT = { UP_TO_DATE: 0, PENDING: 3, ATTENTION: 4 } as const;

export async function statusCommand(ctx: CommandContext, options: { run?: string; json?: boolean; exitCode?: boolean; watch?: boolean; timeout?: string }): Promise<number> {
  if (options.watch) {
    if (!options.run) throw new BadInputError('--watch follows one run: give --run <id>', { field: '--watch' });
    return watchRun(ctx, options.run, options);
  }
  if (options.run) return runStatus(ctx, options.run, options.json ?? false);
  const definitions = await loadDefinitions(ctx.config.migrationsDir, ctx.config.MIGRATIONS_LAYOUT);
  const { rows, runs } = await withDatabase(ctx.config, { create: false }, async (db) => {
    const state = db.catalogReady ? await readCatalogState(db.pool, db.tables, ctx.config.ENVIRONMENT) : undefined;
    const runs = db.catalogReady ? await latestRuns(db.pool, db.tables, 5) : [];
    const rows = definitions.migrations.map((migration) => {
      const applied = state?.migrations.get(migration.id);
      return {
        migrationId: migration.id,
        version: migration.meta.schema_version ?? null,
        type: migration.meta.type,
        status: applied?.status ?? 'pending',
        appliedAt: applied?.appliedAt?.toISOString() ?? null,
        drifted: applied?.status === 'completed' && applied.checksum !== migration.checksum && !migration.repeatable,
        due: applied?.status !== 'completed' || (migration.repeatable && applied.checksum !== migration.checksum),
      };
    });
    return { rows, runs };
  });
  const summary = {
    pending: rows.filter((row) => row.due && row.status !== 'failed').length,
    drifted: rows.filter((row) => row.drifted).length,
    failed: rows.filter((row) => row.status === 'failed').length,
  };
  const exitCode = !options.exitCode ? 0 : summary.drifted + summary.failed > 0 ? STATUS_EXIT.ATTENTION : summary.pending > 0 ? STATUS_EXIT.PENDING : STATUS_EXIT.UP_TO_DATE;
  if (options.json) {
    ctx.out(JSON.stringify({ environment: ctx.config.ENVIRONMENT, summary, migrations: rows.map(({ due: _due, ...row }) => row), runs }, null, 2));
    return exitCode;
  }
  ctx.out(`environment: ${ctx.config.ENVIRONMENT}`);
  ctx.out(
    table(
      ['migration', 'version', 'type', 'status', 'applied at'],
      rows.map((row) => [row.migrationId, row.version, row.type, row.drifted ? `${row.status} (changed since)` : row.status, row.appliedAt]),
    ),
  );
  if (runs.length > 0) {
    ctx.out('\nlatest runs:');
    ctx.out(table(['run', 'direction', 'status', 'created', 'by', 'error'], runs.map((r) => [r.run_id, r.direction, r.status, r.created_at.toISOString(), r.created_by, r.error])));
  }
  ctx.out(`\n${summary.pending} pending, ${summary.drifted} changed since applied, ${summary.failed} failed`);
  return exitCode;
}

async function runStatus(ctx: CommandContext, runId: string, json: boolean): Promise<number> {
  const { run, steps, chunks } = await withDatabase(ctx.config, { create: false }, async (db) => {
    if (!db.catalogReady) return { run: undefined, steps: [], chunks: [] };
    const run = await readRun(db.pool, db.tables, runId);
    return { run, steps: run ? await runSteps(db.pool, db.tables, runId) : [], chunks: run ? await runChunks(db.pool, db.tables, runId) : [] };
  });
  if (!run) throw new BadInputError(`unknown run ${runId}`, { runId, field: '--run' });
  const backfills = steps
    .filter((step) => chunks.some((chunk) => chunk.step_id === step.step_id))
    .map((step) => ({ migrationId: step.migration_id, ...backfillProgress(chunks.filter((chunk) => chunk.step_id === step.step_id)) }));
  if (json) {
    ctx.out(JSON.stringify({ run, steps, backfills, chunks }, null, 2));
    return 0;
  }
  ctx.out(`run ${run.run_id}  ${run.direction}  ${run.status}  created ${run.created_at.toISOString()} by ${run.created_by}${run.error ? `\nerror: ${run.error}` : ''}`);
  ctx.out(
    table(
      ['stage', 'dir', 'migration', 'kind', 'status', 'attempts', 'seconds', 'rows', 'last error'],
      steps.map((s) => [s.stage + 1, s.direction, s.migration_id, s.kind, s.status, s.attempts, seconds(s.started_at, s.finished_at), Number(s.rows_done) || null, s.last_error?.slice(0, 60)]),
    ),
  );
  for (const backfill of backfills) {
    ctx.out(
      `\nbackfill ${backfill.migrationId}: ${backfill.keysDone}/${backfill.keysTotal} keys (${backfill.percent}%), ${backfill.rowsChanged} rows changed, ` +
        `${backfill.rowsPerSecond} keys/s, ETA ${backfill.etaSeconds === null ? '-' : `${backfill.etaSeconds} s`}`,
    );
    ctx.out(
      table(
        ['chunk', 'status', 'keys done', 'keys', 'rows changed', 'batch size', 'last batch ms', 'throttle'],
        chunks
          .filter((chunk) => backfill.chunkIds.includes(chunk.chunk_id))
          .map((c) => [c.chunk_no, c.status, c.keys_done, c.keys_total, c.rows_changed, c.batch_size, c.last_batch_ms === null ? null : Math.round(Number(c.last_batch_ms)), c.throttle_state]),
      ),
    );
  }
  return 0;
}

/** Re-attaches to a run: follows it live as `up --wait` does. */
async function watchRun(ctx: CommandContext, runId: string, options: { json?: boolean; timeout?: string }): Promise<number> {
  return withDatabase(ctx.config, { create: false }, async (db) => {
    if (!db.catalogReady || !(await readRun(db.pool, db.tables, runId))) throw new BadInputError(`unknown run ${runId}`, { runId, field: '--run' });
    return followAndReport(ctx, db, runId, options);
  });
}
