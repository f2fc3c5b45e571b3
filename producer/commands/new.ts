import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { detectLayout } from '../../shared/definitions/layouts/detect.js';
import { MIGRATION_ID, migrationMetaSchema } from '../../shared/definitions/schema.js';
import { BadInputError } from '../../shared/errors.js';
import type { CommandContext } from '../context.js';

const pad = (n: number) => String(n).padStart(2, '0');

export function migrationIdFor(slug: string, now: Date): string {
  const stamp = `${now.getUTCFullYear()}.${pad(now.getUTCMonth() + 1)}.${pad(now.getUTCDate())}_${pad(now.getUTCHours())}${pad(now.getUTCMinutes())}${pad(now.getUTCSeconds())}`;
  const id = `${stamp}_${slug}`;
  if (!MIGRATION_ID.test(id)) {
    throw new BadInputError(`"${slug}" is not a valid slug: use lower-case letters, digits and single underscores`, { field: 'slug' });
  }
  return id;
}

/** Scaffolds a migration folder named by the current UTC time. */
export async function newCommand(ctx: CommandContext, slug: string, options: { type?: string }): Promise<number> {
  const layout = ctx.config.MIGRATIONS_LAYOUT === 'auto' && existsSync(ctx.config.migrationsDir) ? await detectLayout(ctx.config.migrationsDir) : ctx.config.MIGRATIONS_LAYOUT;
  if (layout !== 'pgfm' && layout !== 'auto') {
    throw new BadInputError(`${ctx.config.migrationsDir} holds a ${layout} history: new scaffolds pgfm's own layout; add the migration the way ${layout} names its files`, { field: 'MIGRATIONS_LAYOUT' });
  }
  const id = migrationIdFor(slug, new Date());
  const folder = path.join(ctx.config.migrationsDir, id);
  if (existsSync(folder)) throw new BadInputError(`${folder} already exists`, { migrationId: id });
  const type = options.type ?? 'schema';
  const types = migrationMetaSchema.shape.type.unwrap().options as readonly string[];
  if (!types.includes(type)) throw new BadInputError(`--type ${type} is not a migration type: ${types.join(', ')}`, { field: '--type' });
  await mkdir(folder, { recursive: true });
  const data = type === 'data';
  // A declarative backfill needs no down.sql while its up.sql changes no schema (the backup restores the rows).
  await writeFile(path.join(folder, 'up.sql'), data ? `-- ${id}: preparation before the backfill (keep it to SELECT 1 if there is none)\nSELECT 1;\n` : `-- ${id}: forward change\n`);
  if (!data) await writeFile(path.join(folder, 'down.sql'), `-- ${id}: exact inverse of up.sql (left empty, undoing it changes nothing)\n`);
  await writeFile(
    path.join(folder, 'migration.yaml'),
    [
      `description: ${slug.replace(/_/g, ' ')}`,
      `type: ${type}`,
      'impact: low',
      '# schema_version: "1.0.0"',
      '# depends_on: []        # default: the previous migration (linear history)',
      '# max_lock_duration: 5  # seconds a statement may wait for a lock',
      '# post_validations: ["SELECT true"]',
      ...(data
        ? [
            'backfill:',
            '  table: app.items          # the table to change, batch by batch across the fleet',
            '  set:',
            "    name: upper(name)       # column: expression (one SQL expression each)",
            "  where: name <> upper(name)  # optional: only rows that need it",
            '  # key: [id]               # default: the primary key',
            '  # max_rows_per_second: 10000',
          ]
        : []),
      '',
    ].join('\n'),
  );
  ctx.out(folder);
  return 0;
}
