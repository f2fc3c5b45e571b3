import { recordAudit } from '../../shared/catalog/audit.js';
import { registerDefinitions } from '../../shared/catalog/definitions.js';
import { findActiveRun, insertRun, insertSteps, setStepsStatus, runSteps } from '../../shared/catalog/runs.js';
import { readCatalogState } from '../../shared/catalog/state.js';
import { ADVISORY_KEY_SQL, inTransaction } from '../../shared/db.js';
import { loadDefinitions } from '../../shared/definitions/loader.js';
import { enqueueSteps } from '../../shared/enqueue.js';
import { EXIT_FAILED } from '../../shared/errors.js';
import { withDatabase, type CommandContext } from '../context.js';
import { withQueues } from '../fleet-client.js';
import { followRun } from '../follow.js';
import { planUp } from '../planner.js';

export interface UpOptions {
  to?: string;
  set?: string;
  wait?: boolean;
  json?: boolean;
}

/**
 * Registers a run and its steps in one transaction (serialized per environment by an
 * advisory lock, so racing producers create one run), then enqueues the first stage.
 */
export async function upCommand(ctx: CommandContext, options: UpOptions): Promise<number> {
  const { config } = ctx;
  const definitions = await loadDefinitions(config.migrationsDir);
  return withDatabase(config, { create: true }, async (db) => {
    const t = db.tables;
    const outcome = await inTransaction(db.pool, async (client) => {
      await client.query(`SELECT pg_advisory_xact_lock(${ADVISORY_KEY_SQL})`, [`pgfm-producer:${config.ENVIRONMENT}`]);
      const state = await readCatalogState(client, t, config.ENVIRONMENT);
      const plan = planUp(definitions, state, { environment: config.ENVIRONMENT, to: options.to, setId: options.set });
      const active = await findActiveRun(client, t, config.ENVIRONMENT);
      if (active) return { kind: 'existing' as const, run: active, same: active.plan_hash === plan.hash };
      const steps = plan.stages.flat();
      if (steps.length === 0) return { kind: 'nothing' as const };
      await registerDefinitions(client, t, definitions);
      const byId = new Map(definitions.migrations.map((m) => [m.id, m]));
      const set = definitions.sets.find((s) => s.id === options.set);
      const autoRollback = steps.every((step) => byId.get(step.migrationId)!.meta.auto_rollback) && (set?.rollback_all_on_failure ?? true);
      const runId = await insertRun(client, t, {
        environment: config.ENVIRONMENT,
        direction: 'up',
        target: options.to ?? null,
        setId: options.set ?? null,
        rollbackOf: null,
        autoRollback,
        plan,
        planHash: plan.hash,
        createdBy: config.ACTOR,
      });
      await insertSteps(
        client,
        t,
        runId,
        steps.map((step) => ({ migrationId: step.migrationId, direction: 'up', stage: step.stage, kind: step.kind, checksum: byId.get(step.migrationId)!.checksum })),
      );
      const first = (await runSteps(client, t, runId)).filter((step) => step.stage === 0);
      const queued = await setStepsStatus(client, t, first.map((step) => step.step_id), 'queued', ['pending']);
      await recordAudit(client, t, {
        actor: config.ACTOR,
        action: 'run.created',
        environment: config.ENVIRONMENT,
        runId,
        details: { migrations: steps.length, stages: plan.stages.length, target: options.to ?? null, set: options.set ?? null },
      });
      return { kind: 'created' as const, runId, queued, steps: steps.length, stages: plan.stages.length };
    });

    if (outcome.kind === 'nothing') {
      ctx.out(options.json ? JSON.stringify({ runId: null, status: 'up-to-date' }) : `nothing to apply in ${config.ENVIRONMENT}`);
      return 0;
    }
    if (outcome.kind === 'existing') {
      const message = outcome.same
        ? `run ${outcome.run.run_id} is already applying this plan in ${config.ENVIRONMENT}`
        : `another run ${outcome.run.run_id} is active in ${config.ENVIRONMENT}; wait for it or cancel it`;
      ctx.out(options.json ? JSON.stringify({ runId: outcome.run.run_id, status: outcome.run.status, existing: true }) : message);
      if (!outcome.same) return EXIT_FAILED;
      if (!options.wait) return 0;
      const final = await followRun(db, outcome.run.run_id, options.json ? () => undefined : ctx.out);
      return final.status === 'completed' ? 0 : EXIT_FAILED;
    }
    await withQueues(config, (queues) => enqueueSteps(queues.steps, config, outcome.queued));
    ctx.out(
      options.json
        ? JSON.stringify({ runId: outcome.runId, status: 'running', migrations: outcome.steps, stages: outcome.stages })
        : `run ${outcome.runId}: ${outcome.steps} migrations in ${outcome.stages} stages queued for ${config.ENVIRONMENT}`,
    );
    if (!options.wait) return 0;
    const final = await followRun(db, outcome.runId, options.json ? () => undefined : ctx.out);
    if (options.json) ctx.out(JSON.stringify({ runId: outcome.runId, status: final.status, error: final.error }));
    return final.status === 'completed' ? 0 : EXIT_FAILED;
  });
}
