/**
 * `npm run fuzz:integrity -- [--cases 1000] [--seed N] [--case I[,J…]] [--per-run 25] [--no-faults]
 *   [--budget SECONDS] [--timeout SECONDS] [--keep] [--verbose]`
 *
 * A longer differential campaign than the vitest file: random tables and backfills run through
 * a fleet (coordinator, 2 workers, private Redis) with faults, each compared with one plain
 * UPDATE of a copy and, after `rollback`, with the original. Prints `cases: N, failures: M`
 * and the seed; exits 1 on any failure.
 */
import { parseArgs } from 'node:util';
import { classify, runCampaign, startIntegrityEnv, type IntegrityEnv } from '../test/integrity/harness.js';

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '1000' },
    seed: { type: 'string' },
    case: { type: 'string', multiple: true },
    'per-run': { type: 'string', default: '25' },
    'no-faults': { type: 'boolean', default: false },
    budget: { type: 'string' },
    timeout: { type: 'string', default: '90' },
    keep: { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
  },
});

const integer = (name: string, text: string | undefined, min: number): number => {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) {
    console.error(`error: --${name} takes an integer >= ${min}, not ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return value;
};

const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : integer('seed', values.seed, 0);
const only = values.case?.flatMap((list) => list.split(',')).map((text) => integer('case', text, 0));
const cases = integer('cases', values.cases, 1);
const perRun = integer('per-run', values['per-run'], 1);

console.log(`seed: ${seed}`);
let env: IntegrityEnv | undefined;
const interrupted = async (signal: string) => {
  console.error(`${signal}: stopping the fleet and dropping the database`);
  await env?.stop().catch(() => undefined);
  process.exit(130);
};
process.once('SIGINT', () => void interrupted('SIGINT'));
process.once('SIGTERM', () => void interrupted('SIGTERM'));

let exitCode = 1;
try {
  env = await startIntegrityEnv('fuzz_integrity');
  const result = await runCampaign(env, {
    seed,
    cases,
    only,
    casesPerRun: perRun,
    faults: !values['no-faults'],
    budgetMs: values.budget === undefined ? undefined : integer('budget', values.budget, 1) * 1000,
    timeoutMs: integer('timeout', values.timeout, 1) * 1000,
    keepTables: values.keep,
    verbose: values.verbose,
  });
  for (const failure of result.failures) console.log(failure.message);
  console.log(`by kind:\n${classify(result.results)}`);
  console.log(`seed: ${seed}`);
  console.log(`cases: ${result.cases}, failures: ${result.failures.length}${result.cases < result.requested ? ` (${result.requested - result.cases} not run)` : ''} in ${(result.durationMs / 1000).toFixed(0)} s`);
  exitCode = result.failures.length === 0 && result.cases === result.requested ? 0 : 1;
} catch (error) {
  console.error(`error: ${(error as Error).stack ?? String(error)}`);
  exitCode = 1;
} finally {
  if (values.keep && env) {
    console.log(`--keep: database ${env.db.name} is left as it is; drop it with: psql -h 127.0.0.1 -U postgres -c 'DROP DATABASE "${env.db.name}" WITH (FORCE)'`);
    await env.stop({ keepDatabase: true });
  } else {
    await env?.stop().catch((error: Error) => console.error(`cleanup failed: ${error.message}`));
  }
}
process.exit(exitCode);
