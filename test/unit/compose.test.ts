import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../shared/config.js';
import { ROOT } from '../helpers/processes.js';

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  deploy?: { replicas?: number };
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  restart?: string;
  init?: boolean;
  ports?: string[];
}

const compose = parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service> };
const scripts = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
const fleetServices = ['worker', 'coordinator', 'board', 'migrate'];

describe('docker-compose.yml (Docker does not run here: checked by reading)', () => {
  it('has the services of the fleet', () => {
    expect(Object.keys(compose.services).sort()).toEqual(expect.arrayContaining(['postgres', 'redis', 'worker', 'coordinator', 'board', 'migrate']));
  });

  it('uses PostgreSQL 16+ and Redis 7 with noeviction and persistence, both health-checked', () => {
    const pgMajor = Number(/^postgres:(\d+)/.exec(compose.services['postgres']!.image ?? '')?.[1]);
    expect(pgMajor).toBeGreaterThanOrEqual(16);
    const redis = compose.services['redis']!;
    expect(redis.image).toMatch(/^redis:7/);
    expect(redis.command?.join(' ')).toMatch(/--maxmemory-policy noeviction/);
    expect(redis.command?.join(' ')).toMatch(/--appendonly yes/);
    expect(compose.services['postgres']!.healthcheck).toBeDefined();
    expect(redis.healthcheck).toBeDefined();
  });

  it('runs every fleet service as node on the built file of its start script (no npm as PID 1), with an init, from a built image', () => {
    for (const name of fleetServices) {
      const service = compose.services[name]!;
      const argv = [...(service.entrypoint ?? []), ...(service.command ?? [])];
      expect(argv[0], name).toBe('node');
      expect(Object.values(scripts), `${name}: ${argv.slice(0, 2).join(' ')}`).toContain(`node ${argv[1]}`);
      expect(service.build, name).toBe('.');
      expect(service.init, name).toBe(true);
    }
    for (const script of ['start:worker', 'start:coordinator', 'start:board', 'start:migrate']) {
      const entry = /^node (dist\/\S+)\.js$/.exec(scripts[script]!)?.[1];
      expect(entry, script).toBeDefined();
      // dist/x.js is compiled from x.ts by `npm run build` in the Dockerfile.
      expect(() => readFileSync(path.join(ROOT, `${entry!.replace(/^dist\//, '')}.ts`))).not.toThrow();
    }
    expect(dockerfile).toMatch(/RUN npm run build/);
    expect(dockerfile).toMatch(/^USER node$/m);
  });

  it('sets only environment variables the config accepts, with valid values', () => {
    const known = new Set(Object.keys(configSchema.shape));
    for (const name of fleetServices) {
      const environment = compose.services[name]!.environment ?? {};
      for (const key of Object.keys(environment)) expect(known.has(key), `${name}: ${key}`).toBe(true);
      // ${VAR:-default} takes its default; ${VAR:?message} must be set by the user: use a sample value.
      // Innermost first, so ${A:-${B:-x}} becomes x; empty values count as unset, as loadConfig counts them.
      const resolve = (value: string): string => {
        const next = value.replace(/\$\{(\w+):-([^${}]*)\}/g, '$2').replace(/\$\{(\w+):\?[^${}]*\}/g, 'a-sample-secret');
        return next === value ? value : resolve(next);
      };
      const resolved = Object.fromEntries(Object.entries(environment).map(([k, v]) => [k, resolve(String(v))]).filter(([, v]) => v !== ''));
      expect(configSchema.safeParse(resolved).success, `${name}: ${JSON.stringify(resolved)}`).toBe(true);
    }
  });

  it('publishes the board on the port it listens on, with credentials it requires', () => {
    const board = compose.services['board']!;
    expect(board.ports).toEqual([`${board.environment!['BOARD_PORT']}:${board.environment!['BOARD_PORT']}`]);
    // The board refuses to start without it; `:?` would make compose refuse every command, `run migrate` too.
    expect(board.environment!['BOARD_PASSWORD']).toBe('${BOARD_PASSWORD:-}');
    expect(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')).not.toMatch(/\$\{\w+:\?/);
    expect(board.healthcheck?.test.join(' ')).toContain('/healthz');
  });

  it('restarts and health-checks every long-running service; workers and coordinators through their health file', () => {
    for (const name of ['worker', 'coordinator', 'board']) {
      const service = compose.services[name]!;
      expect(service.restart, name).toBe('unless-stopped');
      expect(service.healthcheck, name).toBeDefined();
    }
    for (const name of ['worker', 'coordinator']) {
      const service = compose.services[name]!;
      expect(service.healthcheck!.test.join(' '), name).toContain(service.environment!['HEALTH_FILE']);
    }
    expect(compose.services['worker']!.environment!['ACTOR']).toMatch(/^\$\{ACTOR:-/);
  });

  it('scales workers, runs an active and a standby coordinator, and waits for healthy services', () => {
    expect(compose.services['worker']!.deploy?.replicas).toBeGreaterThanOrEqual(2);
    expect(compose.services['coordinator']!.deploy?.replicas).toBe(2);
    for (const name of fleetServices) {
      expect(compose.services[name]!.depends_on, name).toEqual({ postgres: { condition: 'service_healthy' }, redis: { condition: 'service_healthy' } });
    }
  });
});
