import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

// Nothing listens on port 1: a command that reached for the database would fail with exit 1.
const env = { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/nowhere', REDIS_URL: 'redis://127.0.0.1:1' };

describe('run and migration ids given on the command line', () => {
  it.each([
    ['cancel', '--run'],
    ['pause', '--run'],
    ['resume', '--run'],
    ['rollback', '--run'],
    ['status', '--run'],
    ['backups drop', '--run'],
    ['repair', '--migration'],
  ])('%s %s with a bad id: one line, exit 2, before any connection', async (command, option) => {
    // Migration ids are whatever the layout's tool calls them (any text); a control character is never one.
    const bad = option === '--run' ? 'not-an-id' : 'bad\u0007id';
    const result = await runCli([...command.split(' '), option, bad], env);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.split('\n')).toHaveLength(1);
    expect(result.stderr.startsWith(`error: ${option} ${JSON.stringify(bad)} is not a`), result.stderr).toBe(true);
  });

  it('lets a well-formed run id through to the database', async () => {
    const result = await runCli(['cancel', '--run', '6ad5398e-dc36-4962-9a07-863b5d59f020'], env);
    expect(result.code).toBe(1);
  });
});
