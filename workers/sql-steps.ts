import type pg from 'pg';
import { readStep } from '../shared/catalog/runs.js';
import { setStatementsDone } from '../shared/catalog/lifecycle.js';
import type { SqlScript } from '../shared/definitions/loader.js';
import type { SqlStatement } from '../shared/sql/statements.js';
import { quoteIdent } from '../shared/sql/quote.js';
import { advisorySessionUnlock, advisoryXactLock, applyTimeouts, expectAllTrue, tryAdvisorySessionLock } from './session.js';
import { alreadyDone, currentStatus, finish, inTx, markAlreadyDone, migrationLockKey, type ExecutionContext, type StepOutcome } from './step-context.js';
import { runStatement } from './statement-errors.js';

/** Schema steps: a file in one transaction, or statement by statement with progress recorded after each. */

export async function transactionalStep(client: pg.PoolClient, ctx: ExecutionContext, script: SqlScript): Promise<StepOutcome> {
  return inTx(client, async () => {
    await applyTimeouts(client, ctx.timeouts, true);
    await advisoryXactLock(client, migrationLockKey(ctx.run.environment, ctx.migration.migrationId));
    if (alreadyDone(ctx, await currentStatus(client, ctx))) return markAlreadyDone(client, ctx);
    if (ctx.step.direction === 'up') await expectAllTrue(client, ctx.migration.meta.prerequisite_checks, 'prerequisite check', ctx.migration.migrationId);
    let rows = 0;
    for (const statement of script.statements) rows += (await runStatement(client, script, statement)).rowCount ?? 0;
    await finish(client, ctx, { rowsAffected: rows, statementsDone: script.statements.length });
    return 'applied';
  });
}

/** Drops the INVALID index a failed CREATE INDEX CONCURRENTLY leaves behind, so a retry starts clean. */
async function dropInvalidIndex(client: pg.ClientBase, statement: SqlStatement): Promise<void> {
  const index = statement.concurrentIndex;
  if (!index) return;
  const { rows } = await client.query<{ schema: string }>(
    `SELECT n.nspname AS schema FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_index i ON i.indexrelid = c.oid
      WHERE n.nspname = COALESCE($1, current_schema()) AND c.relname = $2 AND NOT i.indisvalid`,
    [index.schema, index.name],
  );
  if (rows[0]) await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${quoteIdent(rows[0].schema)}.${quoteIdent(index.name)}`);
}

async function validIndexExists(client: pg.ClientBase, statement: SqlStatement): Promise<boolean> {
  const index = statement.concurrentIndex;
  if (!index) return false;
  const { rows } = await client.query(
    `SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_index i ON i.indexrelid = c.oid
      WHERE n.nspname = COALESCE($1, current_schema()) AND c.relname = $2 AND i.indisvalid`,
    [index.schema, index.name],
  );
  return rows.length > 0;
}

/**
 * Statements run one by one: a file with statements that cannot share a transaction, one its
 * tool runs without a transaction, or one that manages its own transactions (`BEGIN; ...
 * COMMIT;`, run as written). Progress is recorded in the statement's own transaction: with each
 * statement outside the file's blocks, and for a block of the file just before its COMMIT, so
 * a redelivered job goes on after the last committed statement or block and never repeats one.
 * Only a statement that cannot run in a transaction (CREATE INDEX CONCURRENTLY, VACUUM) can be
 * repeated, when an attempt dies between it and its record. A session-level advisory lock
 * keeps two workers off the same migration.
 */
export async function statementByStatementStep(client: pg.PoolClient, ctx: ExecutionContext, script: SqlScript): Promise<StepOutcome> {
  const { deps, step, migration } = ctx;
  const t = deps.tables;
  const key = migrationLockKey(ctx.run.environment, migration.migrationId);
  // Another live session owns the migration (a duplicate delivery): leave it to the owner; if
  // the owner dies, reconciliation sends the step out again.
  if (!(await tryAdvisorySessionLock(client, key))) return 'skipped';
  let inBlock = false;
  try {
    if (alreadyDone(ctx, await currentStatus(client, ctx))) return await markAlreadyDone(client, ctx);
    await applyTimeouts(client, ctx.timeouts, false);
    if (step.direction === 'up') await expectAllTrue(client, migration.meta.prerequisite_checks, 'prerequisite check', migration.migrationId);
    const done = (await readStep(client, t, step.step_id))!.statements_done;
    let rowsAffected = 0;
    for (let index = done; index < script.statements.length; index++) {
      const statement = script.statements[index]!;
      const control = statement.control?.kind;
      if (control !== undefined || inBlock) {
        if (control === 'COMMIT' && inBlock) await setStatementsDone(client, t, step.step_id, index + 1);
        const result = await runStatement(client, script, statement);
        if (control === undefined) rowsAffected += result.rowCount ?? 0;
        if (control === 'BEGIN' || control === 'START') inBlock = true;
        if (control === 'COMMIT' || control === 'ROLLBACK') inBlock = statement.control!.chain;
        if (!inBlock) await setStatementsDone(client, t, step.step_id, index + 1);
      } else if (statement.transactional) {
        await inTx(client, async () => {
          rowsAffected += (await runStatement(client, script, statement)).rowCount ?? 0;
          await setStatementsDone(client, t, step.step_id, index + 1);
        });
      } else {
        if (ctx.step.attempts > 0 && (await validIndexExists(client, statement))) {
          // An earlier attempt built it and died before recording that: nothing left to do.
          await setStatementsDone(client, t, step.step_id, index + 1);
          continue;
        }
        await dropInvalidIndex(client, statement);
        try {
          await runStatement(client, script, statement);
        } catch (error) {
          await dropInvalidIndex(client, statement).catch(() => undefined);
          throw error;
        }
        await setStatementsDone(client, t, step.step_id, index + 1);
      }
    }
    await inTx(client, async () => {
      await applyTimeouts(client, ctx.timeouts, true);
      await finish(client, ctx, { rowsAffected, statementsDone: script.statements.length });
    });
    return 'applied';
  } finally {
    // A statement that failed inside one of the file's own blocks left that transaction open, aborted.
    if (inBlock) await client.query('ROLLBACK').catch(() => undefined);
    await client.query('RESET lock_timeout; RESET statement_timeout').catch(() => undefined);
    await advisorySessionUnlock(client, key).catch(() => undefined);
  }
}

