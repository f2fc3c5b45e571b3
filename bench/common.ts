import pg from 'pg';
import { buildProgram } from '../producer/cli.js';

export const ADMIN = process.env['BENCH_ADMIN_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export const databaseUrl = (name: string) => Object.assign(new URL(ADMIN), { pathname: `/${name}` }).toString();

/** Runs `work` on a connection of its own (to the admin database unless `url` says otherwise). */
export async function admin<T>(work: (client: pg.Client) => Promise<T>, url = ADMIN): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Runs a `migrate` command in this process; returns what it printed. */
export async function migrate(argv: string[], env: Record<string, string>): Promise<string[]> {
  const out: string[] = [];
  const errors: string[] = [];
  const { run } = buildProgram({ ...process.env, LOG_LEVEL: 'silent', ...env }, { out: (line) => out.push(line), err: (line) => errors.push(line) });
  const code = await run(argv);
  if (code !== 0) throw new Error(`migrate ${argv.join(' ')} exited ${code}: ${errors.join(' ')}`);
  return out;
}
