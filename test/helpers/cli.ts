import { buildProgram } from '../../producer/cli.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the migrate CLI in-process with its own environment and captured output. */
export async function runCli(argv: string[], env: Record<string, string | undefined>): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const { run } = buildProgram({ LOG_LEVEL: 'silent', ...env } as NodeJS.ProcessEnv, {
    out: (line) => out.push(line),
    err: (line) => err.push(line),
  });
  const code = await run(argv);
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}
