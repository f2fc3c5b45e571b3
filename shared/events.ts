import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import { queueOptions } from './fleet.js';
import { deadLetterJobId, QUEUES, stepEventJobId, type DeadLetter, type StepEvent } from './jobs.js';

/** The queues a worker writes to besides its own: step events for the coordinator, and dead letters. */
export class FleetQueues {
  readonly steps: Queue;
  readonly chunks: Queue;
  readonly coordinator: Queue;
  readonly deadLetter: Queue;

  constructor(config: Config, connection: Redis, logger: Logger) {
    const options = queueOptions(config, connection);
    this.steps = new Queue(QUEUES.steps, options);
    this.chunks = new Queue(QUEUES.chunks, options);
    this.coordinator = new Queue(QUEUES.coordinator, options);
    this.deadLetter = new Queue(QUEUES.deadLetter, options);
    // Without a listener BullMQ prints a queue's connection errors with console.error, unredacted
    // (an AUTH failure's arguments hold the password): route them through the logger instead.
    for (const queue of [this.steps, this.chunks, this.coordinator, this.deadLetter]) {
      queue.on('error', (error) => logger.warn({ err: error, queue: queue.name }, 'queue connection error'));
    }
  }

  async notifyCoordinator(event: StepEvent, attempt: number): Promise<void> {
    await this.coordinator.add('step-event', event, {
      jobId: stepEventJobId(event, attempt),
      removeOnComplete: true,
      removeOnFail: 1000,
    });
  }

  async addDeadLetter(letter: DeadLetter): Promise<void> {
    await this.deadLetter.add('dead-letter', letter, { jobId: deadLetterJobId(letter.sourceJobId) });
  }

  async close(): Promise<void> {
    await Promise.all([this.steps.close(), this.chunks.close(), this.coordinator.close(), this.deadLetter.close()]);
  }
}
