import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { OperationError } from '../shared/errors.js';
import { activeRuns } from '../shared/catalog/runs.js';
import type { Tables } from '../shared/catalog/tables.js';
import type { Config } from '../shared/config.js';
import { enqueueSteps } from '../shared/enqueue.js';
import type { FleetQueues } from '../shared/events.js';
import { workerOptions } from '../shared/fleet.js';
import { QUEUES, type StepEvent } from '../shared/jobs.js';
import type { Logger } from '../shared/logger.js';
import { advanceRun } from './advance.js';
import { acquireLease, releaseLease } from '../shared/catalog/lease.js';
import { reconcileJobs } from './reconcile.js';

export interface CoordinatorDeps {
  config: Config;
  pool: pg.Pool;
  tables: Tables;
  logger: Logger;
  queues: FleetQueues;
  connection: Redis;
  id: string;
}

/**
 * One coordinator process. Every tick it takes or renews the lease; while it leads it
 * consumes step events, advances every active run and reconciles the queues with the
 * catalog. A standby keeps trying the lease and takes over when the leader stops renewing.
 */
export class Coordinator {
  private leading = false;
  private eventWorker: { worker: Worker; connection: Redis } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> = Promise.resolve();
  private stopped = false;
  private lastReconcile = 0;

  constructor(private readonly deps: CoordinatorDeps) {}

  start(): void {
    const loop = () => {
      if (this.stopped) return;
      this.ticking = this.tick()
        .catch((error) => this.deps.logger.error({ err: error }, 'coordinator tick failed'))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(loop, this.deps.config.COORDINATOR_TICK_MS);
        });
    };
    loop();
  }

  isLeader(): boolean {
    return this.leading;
  }

  async tick(): Promise<void> {
    const { config, pool, tables, logger, id } = this.deps;
    const leading = await acquireLease(pool, tables, id, config.COORDINATOR_LEASE_MS);
    if (leading !== this.leading) {
      logger.info({ leading }, leading ? 'became the active coordinator' : 'lost the lease: standing by');
      this.leading = leading;
      if (leading) this.startEventWorker();
      else await this.stopEventWorker();
    }
    if (!leading) return;
    if (Date.now() - this.lastReconcile >= config.COORDINATOR_TICK_MS * 3) {
      this.lastReconcile = Date.now();
      await reconcileJobs(pool, tables, this.deps.queues, config, logger);
    }
    for (const run of await activeRuns(pool, tables)) await this.advance(run.run_id);
  }

  private async advance(runId: string): Promise<void> {
    const { toEnqueue } = await advanceRun(this.deps.pool, this.deps.tables, runId);
    if (toEnqueue.length > 0) {
      this.deps.logger.info({ runId, steps: toEnqueue.map((s) => s.migration_id), direction: toEnqueue[0]!.direction }, 'stage queued');
      await enqueueSteps(this.deps.queues.steps, this.deps.config, toEnqueue);
    }
  }

  private startEventWorker(): void {
    const { config, connection, logger } = this.deps;
    const eventConnection = connection.duplicate();
    eventConnection.on('error', () => undefined);
    const worker = new Worker<StepEvent>(
      QUEUES.coordinator,
      async (job: Job<StepEvent>) => {
        if (!this.leading) throw new OperationError('not the active coordinator');
        await this.advance(job.data.runId);
      },
      workerOptions(config, eventConnection, 1),
    );
    worker.on('error', (error) => logger.error({ err: error }, 'coordinator event worker error'));
    this.eventWorker = { worker, connection: eventConnection };
  }

  private async stopEventWorker(): Promise<void> {
    const events = this.eventWorker;
    this.eventWorker = undefined;
    if (!events) return;
    await events.worker.close();
    events.connection.disconnect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.ticking;
    await this.stopEventWorker();
    if (this.leading) await releaseLease(this.deps.pool, this.deps.tables, this.deps.id).catch(() => undefined);
    this.leading = false;
  }
}

