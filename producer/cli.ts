import { createInterface } from 'node:readline/promises';
import { Command, CommanderError } from 'commander';
import { pino } from 'pino';
import { loadConfig, loadEnvFile } from '../shared/config.js';
import { pgfmVersion } from '../shared/version.js';
import { EXIT_BAD_INPUT, EXIT_FAILED, MigratorError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { baselineCommand } from './commands/baseline.js';
import { backupsDropCommand, backupsListCommand } from './commands/backups.js';
import { cancelCommand } from './commands/cancel.js';
import { dlqListCommand, dlqPurgeCommand, dlqRetryCommand, dlqShowCommand } from './commands/dlq.js';
import { downCommand, rollbackCommand } from './commands/down.js';
import { historyCommand } from './commands/history.js';
import { initCommand } from './commands/init.js';
import { newCommand } from './commands/new.js';
import { pauseCommand, resumeCommand } from './commands/pause.js';
import { planCommand } from './commands/plan.js';
import { repairCommand } from './commands/repair.js';
import { statusCommand } from './commands/status.js';
import { upCommand } from './commands/up.js';
import { validateCommand } from './commands/validate.js';
import { checkIdentifierOptions } from './arguments.js';
import type { CommandContext } from './context.js';

type Action = (ctx: CommandContext, ...args: any[]) => Promise<number>;

/** Builds the `migrate` program; `run` resolves to the exit code. */
export function buildProgram(
  env: NodeJS.ProcessEnv,
  io: { out: (line: string) => void; err: (line: string) => void; redraw?: (text: string) => void; ask?: (question: string) => Promise<string> },
) {
  let exitCode = 0;
  let debug = false;
  const program = new Command('migrate')
    .description('Plan, apply and roll back PostgreSQL migrations through a BullMQ worker fleet')
    .version(pgfmVersion(), '-V, --version', 'print the version of pgfm')
    .option('--debug', 'print stack traces')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });

  const wrap =
    (action: Action) =>
    async (...args: unknown[]) => {
      debug = Boolean(program.opts()['debug']);
      const config = loadConfig(env);
      const logger = createLogger({ level: config.LOG_LEVEL, name: 'migrate' }, pino.destination(2));
      const options = args.at(-2) as Record<string, unknown>;
      checkIdentifierOptions(options);
      const positional = args.slice(0, -2);
      exitCode = await action({ config, logger, out: io.out, redraw: io.redraw, ask: io.ask }, ...positional, options);
    };

  program
    .command('init')
    .description('create or upgrade the catalog schema (every command that writes does this too)')
    .addHelpText('after', '\nExample:\n  npm run migrate -- init')
    .action(wrap(initCommand));
  program
    .command('validate')
    .description('validate migration definitions (no database needed)')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  npm run migrate -- validate')
    .action(wrap(validateCommand));
  program
    .command('plan')
    .description('show the stages of pending migrations for ENVIRONMENT')
    .option('--to <id|version>', 'stop at this migration id or schema version')
    .option('--set <id>', 'only this coordinated set and what it needs')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  npm run migrate -- plan\n  npm run migrate -- plan --set COORD-2025-001 --json')
    .action(wrap(planCommand));
  program
    .command('up')
    .description('apply pending migrations through the fleet: registers a run and queues its first stage')
    .option('--to <id|version>', 'stop at this migration id or schema version')
    .option('--set <id>', 'only this coordinated set and what it needs')
    .option('--wait', 'follow the run until it ends; exit 0 only if it completed')
    .option('--timeout <seconds>', 'with --wait: stop following after this long (exit 1; the run goes on)')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  npm run migrate -- up --wait\n  npm run migrate -- up --set COORD-2025-001\n  npm run migrate -- up --to 5.1.0')
    .action(wrap(upCommand));
  program
    .command('down')
    .description('undo every applied migration after --to, through the fleet (dependents first)')
    .requiredOption('--to <id>', 'the last migration to keep')
    .option('--wait', 'follow the run until it ends')
    .option('--yes', 'in production: go on without asking (otherwise type the database name on the terminal)')
    .option('--timeout <seconds>', 'with --wait: stop following after this long (exit 1; the run goes on)')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  npm run migrate -- down --to 2025.01.31_143000_add_veterinary_industry --wait')
    .action(wrap(downCommand));
  program
    .command('rollback')
    .description('roll back what one finished run applied, in reverse stage order')
    .requiredOption('--run <id>', 'the run to undo')
    .option('--wait', 'follow the rollback until it ends')
    .option('--yes', 'in production: go on without asking (otherwise type the database name on the terminal)')
    .option('--timeout <seconds>', 'with --wait: stop following after this long (exit 1; the run goes on)')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  npm run migrate -- rollback --run 6ad5398e-dc36-4962-9a07-863b5d59f020 --wait')
    .action(wrap(rollbackCommand));
  program
    .command('cancel')
    .description('stop an active run: queued steps are cancelled, a running step finishes')
    .requiredOption('--run <id>', 'the run to stop')
    .option('--reason <text>', 'why, for the audit log')
    .addHelpText('after', '\nExample:\n  npm run migrate -- cancel --run <run id> --reason "peak traffic"')
    .action(wrap(cancelCommand));
  program
    .command('pause')
    .description('pause a running run: backfill chunks stop after their current sub-batch, no new stage starts')
    .requiredOption('--run <id>', 'the run to pause')
    .addHelpText('after', '\nExample:\n  npm run migrate -- pause --run <run id>    (then: resume --run <run id>)')
    .action(wrap(pauseCommand));
  program
    .command('resume')
    .description('resume a paused run')
    .requiredOption('--run <id>', 'the run to resume')
    .addHelpText('after', '\nExample:\n  npm run migrate -- resume --run <run id>')
    .action(wrap(resumeCommand));
  program
    .command('status')
    .description('show every migration and its status in ENVIRONMENT, or one run with --run')
    .option('--run <id>', 'show this run: stages, steps, attempts, durations, errors')
    .option('--watch', 'with --run: follow the run live until it ends (re-attach after Ctrl-C or --timeout)')
    .option('--timeout <seconds>', 'with --watch: stop following after this long')
    .option('--exit-code', 'for CI: exit 0 when everything is applied, 3 when migrations are pending, 4 when an applied migration changed or one failed')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  npm run migrate -- status\n  npm run migrate -- status --run <run id> --json\n  npm run migrate -- status --run <run id> --watch')
    .action(wrap(statusCommand));
  program
    .command('history')
    .description('the audit trail of ENVIRONMENT, newest first: runs, applied and rolled-back migrations, repairs, baselines, retries')
    .option('--migration <id>', 'only entries about this migration')
    .option('--run <id>', 'only entries about this run')
    .option('--action <name>', 'only this action or family (run, migration.applied, repair, baseline, ...)')
    .option('--actor <name>', 'only what this actor did')
    .option('--since <time>', 'only entries from this date or time on')
    .option('--limit <n>', 'at most this many entries (default 50)')
    .option('--all-environments', 'every environment, not only ENVIRONMENT')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  npm run migrate -- history --migration 2025.01.31_143000_add_veterinary_industry\n  npm run migrate -- history --action repair --since 2025-01-01 --json')
    .action(wrap(historyCommand));
  const dlq = program.command('dlq').description('inspect and re-drive jobs that exhausted their retries');
  dlq
    .command('list')
    .description('list dead letters')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  npm run migrate -- dlq list --json')
    .action(wrap(dlqListCommand));
  dlq
    .command('show')
    .description('show one dead letter (JSON)')
    .argument('<id>')
    .addHelpText('after', '\nExample:\n  npm run migrate -- dlq show dead-step-15-g0')
    .action(wrap(dlqShowCommand));
  dlq
    .command('retry')
    .description('re-queue the failed step of a failed run under a new job id')
    .argument('<id>')
    .addHelpText('after', '\nExample:\n  npm run migrate -- dlq retry dead-step-15-g0')
    .action(wrap(dlqRetryCommand));
  dlq
    .command('purge')
    .description('remove one dead letter, or all with --all')
    .argument('[id]')
    .option('--all', 'remove every dead letter')
    .addHelpText('after', '\nExamples:\n  npm run migrate -- dlq purge dead-step-15-g0\n  npm run migrate -- dlq purge --all')
    .action(wrap(dlqPurgeCommand));
  program
    .command('new')
    .description('scaffold a migration folder named by the current UTC time')
    .argument('<slug>', 'lower-case words joined by underscores')
    .option('--type <type>', 'schema | data | index | function | policy | view')
    .addHelpText('after', '\nExample:\n  npm run migrate -- new add_invoice_due_date')
    .action(wrap(newCommand));
  const backups = program.command('backups').description('the old values kept for rolling backfills back');
  backups
    .command('list')
    .description('list backup tables')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  npm run migrate -- backups list')
    .action(wrap(backupsListCommand));
  backups
    .command('drop')
    .description('drop the backups of a finished run: completed and verified (its backfills can no longer be rolled back), or rolled back')
    .requiredOption('--run <id>', 'the finished run')
    .option('--force', 'also for a failed or cancelled run (rollback --run could then no longer restore its backfills)')
    .addHelpText('after', '\nExample:\n  npm run migrate -- backups drop --run <run id>')
    .action(wrap(backupsDropCommand));
  program
    .command('baseline')
    .description("adopt a database another tool migrated: record as applied what its history table lists (or everything up to --to), without running it")
    .option('--to <id>', 'the last migration already in the database (instead of reading the tool\'s history table)')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nExamples:\n  MIGRATIONS_DIR=db/migrations npm run migrate -- baseline          # reads __diesel_schema_migrations, flyway_schema_history, sqitch.changes or schema_migrations\n' +
        '  npm run migrate -- baseline --to 2025.01.31_143000_add_veterinary_industry',
    )
    .action(wrap(baselineCommand));
  program
    .command('repair')
    .description('accept edits to applied migrations (records their new checksums and who accepted them)')
    .option('--migration <id>', 'only this migration')
    .option('--reason <text>', 'why, for the audit log')
    .addHelpText('after', '\nExample:\n  ACTOR=alice npm run migrate -- repair --migration 2025.01.31_143000_add_veterinary_industry --reason "comment fix"')
    .action(wrap(repairCommand));

  const run = async (argv: string[]): Promise<number> => {
    // Under --json an error is one JSON object too (on stderr, as the one-line error would be).
    const json = argv.includes('--json');
    const report = (message: string, code: number, context: Record<string, unknown> = {}) =>
      io.err(json ? JSON.stringify({ error: { message, exitCode: code, ...Object.fromEntries(Object.entries(context).filter(([, v]) => v !== undefined)) } }) : `error: ${message}`);
    try {
      await program.parseAsync(argv, { from: 'user' });
      return exitCode;
    } catch (error) {
      if (error instanceof CommanderError) {
        return error.exitCode === 0 ? 0 : EXIT_BAD_INPUT;
      }
      if (error instanceof MigratorError) {
        if (json) report(error.message, error.exitCode, { ...error.context });
        else io.err(`error: ${error.describe()}`);
        if (debug) io.err(String(error.stack));
        return error.exitCode;
      }
      report((error as Error).message ?? String(error), EXIT_FAILED, { sqlstate: (error as { code?: unknown }).code });
      if (debug) io.err(String((error as Error).stack));
      return EXIT_FAILED;
    }
  };
  return { program, run };
}

/** The CLI as a process: `.env`, real stdout/stderr, a terminal's prompt and redraw; sets the exit code. */
export async function main(argv: string[]): Promise<void> {
  // Output piped into `head` and closed early is not an error of ours.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  try {
    loadEnvFile(process.env);
  } catch (error) {
    process.stderr.write(`error: ${(error as MigratorError).describe?.() ?? (error as Error).message}\n`);
    process.exit(EXIT_BAD_INPUT);
  }
  const { run } = buildProgram(process.env, {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    // On a terminal, live progress redraws one line; piped output gets plain lines instead.
    redraw: process.stdout.isTTY ? (text) => process.stdout.write(`\r\x1b[2K${text}`) : undefined,
    ask: process.stdin.isTTY
      ? async (question) => {
          const prompt = createInterface({ input: process.stdin, output: process.stderr });
          try {
            return await prompt.question(question);
          } finally {
            prompt.close();
          }
        }
      : undefined,
  });
  process.exitCode = await run(argv);
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) await main(process.argv.slice(2));
