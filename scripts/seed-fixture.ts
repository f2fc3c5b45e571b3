import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './processes.js';

/**
 * A migrations directory holding a subset of the repo's seed migrations (by id), with
 * optional text replacements in their files, e.g. to throttle a backfill for a crash test.
 */
export async function seedFixture(
  ids: string[],
  edits: Array<{ id: string; file: string; from: string; to: string }> = [],
): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pgfm-seed-'));
  await cp(path.join(ROOT, 'migrations', 'versions.yaml'), path.join(dir, 'versions.yaml'));
  for (const id of ids) await cp(path.join(ROOT, 'migrations', id), path.join(dir, id), { recursive: true });
  for (const edit of edits) {
    const file = path.join(dir, edit.id, edit.file);
    const text = await readFile(file, 'utf8');
    if (!text.includes(edit.from)) throw new Error(`fixture edit: ${edit.from} not found in ${edit.id}/${edit.file}`);
    await writeFile(file, text.replace(edit.from, edit.to));
  }
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
