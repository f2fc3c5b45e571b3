import { randomBytes } from 'node:crypto';
import { startProcess, type Proc } from './processes.js';

/** Settings that make crash recovery fast enough for tests; the fleet shares them. */
export const FAST_FLEET = {
  JOB_LOCK_MS: '2000',
  STALLED_INTERVAL_MS: '1000',
  COORDINATOR_LEASE_MS: '2000',
  COORDINATOR_TICK_MS: '300',
  BACKOFF_BASE_MS: '200',
  BACKOFF_MAX_MS: '2000',
  SHUTDOWN_GRACE_MS: '3000',
  LOG_LEVEL: 'info',
};

export function uniquePrefix(label: string): string {
  return `t_${label}_${randomBytes(3).toString('hex')}`;
}

/** Real worker and coordinator processes sharing one environment; `stop` ends every one of them. */
export class Fleet {
  readonly procs: Proc[] = [];
  private count = 0;

  constructor(readonly env: Record<string, string>) {}

  worker(extra: Record<string, string> = {}): Proc {
    return this.track(startProcess(`worker-${++this.count}`, 'workers/main.ts', { ...FAST_FLEET, ...this.env, ...extra }));
  }

  coordinator(extra: Record<string, string> = {}): Proc {
    return this.track(startProcess(`coordinator-${++this.count}`, 'coordinator/main.ts', { ...FAST_FLEET, ...this.env, ...extra }));
  }

  private track(proc: Proc): Proc {
    this.procs.push(proc);
    return proc;
  }

  async kill(proc: Proc, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill(signal);
    await proc.exited;
  }

  /** Log lines of every process, for a failing test's message. */
  logs(): string {
    return this.procs.map((p) => `--- ${p.name}\n${p.output.slice(-40).join('\n')}`).join('\n');
  }

  async stop(): Promise<void> {
    await Promise.all(this.procs.map((proc) => this.kill(proc, 'SIGKILL')));
  }
}
