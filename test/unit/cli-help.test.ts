import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../producer/cli.js';
import { runCli } from '../helpers/cli.js';

function leaves(command: Command, path: string[] = []): string[][] {
  return command.commands.flatMap((child) => (child.commands.length > 0 ? leaves(child, [...path, child.name()]) : [[...path, child.name()]]));
}

const { program } = buildProgram({}, { out: () => undefined, err: () => undefined });
const commands = leaves(program).filter((path) => path.join(' ') !== 'help');

describe('migrate --help', () => {
  it('knows at least the documented commands', () => {
    expect(commands.map((path) => path.join(' '))).toEqual(
      expect.arrayContaining(['validate', 'plan', 'up', 'status', 'down', 'rollback', 'cancel', 'pause', 'resume', 'new', 'repair', 'init', 'dlq list', 'dlq retry', 'backups drop']),
    );
  });

  it.each(commands.map((path) => [path.join(' '), path] as const))('%s --help exits 0 and shows an example', async (_name, path) => {
    const result = await runCli([...path, '--help'], {});
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: migrate /);
    expect(result.stdout).toMatch(/Examples?:\n {2}(\S+=\S+ )?npm run migrate -- /);
  });

  it('answers an unknown command or option with usage and exit code 2', async () => {
    expect((await runCli(['frobnicate'], {})).code).toBe(2);
    expect((await runCli(['plan', '--frobnicate'], {})).code).toBe(2);
    expect((await runCli(['rollback'], {})).code).toBe(2);
  });
});
