import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { Config } from '../shared/config.js';

/**
 * Reserves `rows` from a fleet-wide token bucket in Redis (refilled at `rate` per second,
 * one second of burst) and returns how long the caller must wait before using them.
 * Taking first and paying the debt by waiting keeps many workers fair and the total rate exact.
 */
const TAKE = `
local rate = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or rate
local ts = tonumber(state[2]) or now
tokens = math.min(rate, tokens + (now - ts) * rate / 1000) - want
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[1], 600000)
if tokens >= 0 then return 0 end
return math.ceil(-tokens * 1000 / rate)
`;

export class RateLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /** Milliseconds to wait before processing `rows` rows under a limit of `rowsPerSecond` for `key`. */
  async reserve(key: string, rows: number, rowsPerSecond: number): Promise<number> {
    if (rowsPerSecond <= 0) return 0;
    const wait = await this.redis.eval(TAKE, 1, `${this.prefix}:rate:${key}`, rowsPerSecond, rows);
    return Number(wait);
  }
}

/**
 * Decides whether the database is healthy enough for another sub-batch. One check per
 * GOVERNOR_CHECK_MS per worker process; the reason is shown in status and Bull Board.
 */
export class HealthGovernor {
  private cache = new Map<string, { at: number; reason: string | null }>();

  constructor(private readonly config: Config) {}

  async check(client: pg.ClientBase, extraQuery?: string): Promise<string | null> {
    const key = extraQuery ?? '';
    const cached = this.cache.get(key);
    if (cached && Date.now() - cached.at < this.config.GOVERNOR_CHECK_MS) return cached.reason;
    const reason = await this.evaluate(client, extraQuery);
    this.cache.set(key, { at: Date.now(), reason });
    return reason;
  }

  private async evaluate(client: pg.ClientBase, extraQuery?: string): Promise<string | null> {
    const { rows } = await client.query<{ blocked: number; waiter: string | null; oldest_xact_ms: number | null; replica_lag_ms: number | null }>(
      `WITH blocked AS (
         SELECT a.pid, a.application_name, a.wait_event, left(a.query, 80) AS query FROM pg_stat_activity a
          WHERE a.wait_event_type = 'Lock' AND clock_timestamp() - a.query_start > make_interval(secs => $1::float8 / 1000)
            AND EXISTS (SELECT 1 FROM pg_stat_activity w WHERE w.pid = ANY (pg_blocking_pids(a.pid)) AND w.application_name LIKE 'pgfm-worker%'))
       SELECT
         (SELECT count(*)::int FROM blocked) AS blocked,
         (SELECT format('pid %s %s, %s lock: %s', pid, NULLIF(application_name, ''), wait_event, query) FROM blocked ORDER BY pid LIMIT 1) AS waiter,
         (SELECT (extract(epoch FROM max(clock_timestamp() - xact_start)) * 1000)::float8 FROM pg_stat_activity
           WHERE xact_start IS NOT NULL AND backend_type = 'client backend' AND pid <> pg_backend_pid()
             AND application_name NOT LIKE 'pgfm-%') AS oldest_xact_ms,
         (SELECT (extract(epoch FROM max(replay_lag)) * 1000)::float8 FROM pg_stat_replication) AS replica_lag_ms`,
      [this.config.GOVERNOR_LOCK_WAIT_MS],
    );
    const health = rows[0]!;
    if (health.blocked > 0) return `${health.blocked} session(s) waiting on locks held by the backfill (${health.waiter})`;
    if ((health.oldest_xact_ms ?? 0) > this.config.GOVERNOR_MAX_XACT_AGE_MS) {
      return `a transaction has been open for ${Math.round(health.oldest_xact_ms! / 1000)} s`;
    }
    if ((health.replica_lag_ms ?? 0) > this.config.GOVERNOR_MAX_REPLICATION_LAG_MS) {
      return `replication lag ${Math.round(health.replica_lag_ms!)} ms`;
    }
    for (const query of [this.config.GOVERNOR_HEALTH_QUERY, extraQuery]) {
      if (!query) continue;
      const result = await client.query(query);
      const value = result.rows[0] === undefined ? undefined : Object.values(result.rows[0])[0];
      if (value !== true) return `health query returned ${JSON.stringify(value ?? null)}`;
    }
    return null;
  }
}
