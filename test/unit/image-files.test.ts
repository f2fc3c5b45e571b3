/**
 * The image as the Dockerfile builds it (Docker does not run here): the build stage's COPY lines
 * are applied to an empty folder, the build runs there, and every process the image starts
 * (`npm run start:*`) loads from that file set: a module the Dockerfile forgot to copy fails
 * with MODULE_NOT_FOUND instead of the config error each process gives without its settings.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');

/** The `COPY <src...> <dest>` lines of one stage (no --from), in order. */
function copies(dockerfile: string, stage: number): Array<{ sources: string[]; dest: string }> {
  const stages = dockerfile.split(/^FROM /m).slice(1);
  return stages[stage]!
    .split('\n')
    .filter((line) => /^COPY (?!--from)/.test(line))
    .map((line) => {
      const parts = line.replace(/^COPY /, '').trim().split(/\s+/);
      return { sources: parts.slice(0, -1), dest: parts.at(-1)! };
    });
}

describe('the image file set', () => {
  let dir: string;
  let scripts: Record<string, string>;

  beforeAll(async () => {
    const dockerfile = await readFile(path.join(ROOT, 'Dockerfile'), 'utf8');
    scripts = (JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    dir = await mkdtemp(path.join(os.tmpdir(), 'pgfm-image-'));
    for (const { sources, dest } of copies(dockerfile, 0)) {
      for (const source of sources) await cp(path.join(ROOT, source), path.join(dir, dest.endsWith('/') ? path.join(dest, path.basename(source)) : dest), { recursive: true });
    }
    // `npm ci` of the build stage: the repository's own node_modules stand in for it.
    await symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    await run('npm', ['run', 'build'], { cwd: dir });
    for (const { sources, dest } of copies(dockerfile, 1)) {
      for (const source of sources.filter((s) => !s.startsWith('package'))) await cp(path.join(ROOT, source), path.join(dir, dest), { recursive: true });
    }
  }, 180_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ['start:migrate', ['--version'], 0, /^\d+\.\d+\.\d+/],
    ['start:worker', [], 2, /invalid environment variable WORKER_CONCURRENCY/],
    ['start:coordinator', [], 2, /invalid environment variable WORKER_CONCURRENCY/],
    ['start:board', [], 2, /invalid environment variable WORKER_CONCURRENCY/],
  ])('%s loads every module it needs', async (script, args, code, output) => {
    const [node, entry] = scripts[script]!.split(' ') as [string, string];
    expect(node).toBe('node');
    const result = await run('node', [entry, ...args], { cwd: dir, env: { PATH: process.env['PATH'], WORKER_CONCURRENCY: '0', MIGRATIONS_DIR: path.join(dir, 'migrations') } }).then(
      (done) => ({ code: 0, text: done.stdout + done.stderr }),
      (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, text: error.stdout + error.stderr }),
    );
    expect(result.text).not.toMatch(/MODULE_NOT_FOUND|Cannot find module/);
    expect(result.code, result.text).toBe(code);
    expect(result.text).toMatch(output);
  });

  it('has the pgfm command (bin/pgfm.js) with the compiled CLI when no source is there', async () => {
    const runtime = await mkdtemp(path.join(os.tmpdir(), 'pgfm-runtime-'));
    try {
      // The runtime stage alone: dist/, bin/, migrations/ and the dependencies, no TypeScript source.
      for (const part of ['dist', 'bin', 'migrations', 'package.json']) await cp(path.join(dir, part), path.join(runtime, part), { recursive: true });
      await symlink(path.join(ROOT, 'node_modules'), path.join(runtime, 'node_modules'), 'dir');
      const result = await run('node', ['bin/pgfm.js', '--version'], { cwd: runtime, env: { PATH: process.env['PATH'] } });
      expect(result.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    } finally {
      await rm(runtime, { recursive: true, force: true });
    }
  });

  it('holds the migrations the image applies', async () => {
    const result = await run('node', ['dist/producer/cli.js', 'validate'], { cwd: dir, env: { PATH: process.env['PATH'], MIGRATIONS_DIR: path.join(dir, 'migrations') } });
    expect(result.stdout).toMatch(/^ok: \d+ migrations/);
  });
});
