/**
 * A worker started while PostgreSQL is unreachable waits for it (one warning line per
 * attempt, backing off, no stack) and starts once it answers, instead of dying with the fleet
 * left down; with HEALTH_FILE it touches that file while PostgreSQL and Redis answer.
 */
import { stat } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startFleetFixture, type FleetFixture } from '../helpers/fixtures.js';
import { freePort, sleep, waitFor } from '../helpers/processes.js';

let fixture: FleetFixture | undefined;
let proxy: net.Server | undefined;
afterEach(async () => {
  await fixture?.stop();
  await new Promise((resolve) => (proxy ? proxy.close(resolve) : resolve(undefined)));
  fixture = undefined;
  proxy = undefined;
});

/** Forwards `port` to the local PostgreSQL: the database "comes back" when this starts listening. */
function forward(port: number): Promise<net.Server> {
  const server = net.createServer((client) => {
    const upstream = net.connect(5432, '127.0.0.1');
    client.pipe(upstream).pipe(client);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

describe('a worker whose database is not there yet', () => {
  it('waits for PostgreSQL with one line per attempt, starts when it answers, and keeps its health file fresh', async () => {
    fixture = await startFleetFixture('startup_wait', [], { startFleet: false });
    const port = await freePort();
    const healthFile = path.join(fixture.dir, 'health');
    const url = new URL(fixture.db.url);
    url.port = String(port);
    const worker = fixture.fleet.worker({ DATABASE_URL: url.toString(), HEALTH_FILE: healthFile, LOG_LEVEL: 'info' });
    await waitFor('two attempts', async () => worker.output.filter((line) => line.includes('PostgreSQL unreachable: retrying')).length >= 2, 20_000, 100);
    expect(worker.child.exitCode).toBeNull();
    expect(worker.output.some((line) => /^\s+at /.test(line))).toBe(false);
    for (const line of worker.output.filter((l) => l.includes('unreachable'))) expect(() => JSON.parse(line)).not.toThrow();
    proxy = await forward(port);
    await waitFor('the worker to start', async () => worker.output.some((line) => /"msg":"worker started"/.test(line)), 30_000, 100);
    expect(worker.output.some((line) => line.includes('PostgreSQL reachable again'))).toBe(true);
    const first = (await waitFor('the health file', async () => stat(healthFile).catch(() => undefined), 10_000, 100)).mtimeMs;
    await sleep(6_000);
    expect((await stat(healthFile)).mtimeMs).toBeGreaterThan(first);
  }, 90_000);
});
