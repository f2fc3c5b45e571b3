import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { DefinitionError } from '../../errors.js';
import { readDefinitionText } from '../read-text.js';
import type { LayoutRead, RawMigration, ScriptSource } from './source.js';

const NAME = String.raw`[^ \t:@#\\]+`;
const CHANGE_LINE = new RegExp(
  String.raw`^[ \t]*(?:([+-])[ \t]*)?(${NAME})(?:[ \t]+)?(?:\[([^\]]*)\][ \t]*)?(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)[ \t]*([^<]+)[ \t]+<([^>]+)>$`,
);
const TAG_LINE = new RegExp(String.raw`^[ \t]*@(${NAME})[ \t]+(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)[ \t]*([^<]+)[ \t]+<([^>]+)>$`);
const DEPENDENCY = new RegExp(String.raw`^(!?)(?:(${NAME})[:])?(?:([0-9a-f]{40})|(${NAME})(?:@(${NAME}))?|@(${NAME}))$`);

export interface SqitchChange {
  name: string;
  line: number;
  requires: string[];
  conflicts: string[];
  planned: string;
  planner: string;
  email: string;
  note: string;
  /** Tags that directly follow the change in the plan. */
  tags: string[];
  /** Change id, computed as Sqitch computes it (what its registry records). */
  changeId: string;
}

export interface SqitchPlan {
  project: string;
  uri: string | undefined;
  changes: SqitchChange[];
}

const unescapeNote = (note: string) => note.replace(/\\(\\|n|r)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : '\\'));
const sha1 = (kind: string, text: string) => {
  const bytes = Buffer.from(text, 'utf8');
  return createHash('sha1').update(`${kind} ${bytes.length}\0`).update(bytes).digest('hex');
};

/** A dependency as Sqitch writes it into a change's id: the project prefix only for another project's change. */
function dependencyString(raw: string, project: string): string {
  const match = DEPENDENCY.exec(raw.replace(/^!/, ''))!;
  const key = match[3] ?? (match[4] ? `${match[4]}${match[5] ? `@${match[5]}` : ''}` : `@${match[6]}`);
  return match[2] && match[2] !== project ? `${match[2]}:${key}` : key;
}

/** Parses sqitch.plan the way Sqitch does: pragmas, then change and tag lines; notes after `#`. */
export function parseSqitchPlan(text: string, file: string): SqitchPlan {
  const pragmas = new Map<string, string>();
  const changes: SqitchChange[] = [];
  let inHeader = true;
  const fail = (message: string, line: number) => new DefinitionError(message, { file, line });
  for (const [index, raw] of text.replace(/^\uFEFF/, '').split(/\r?\n/).entries()) {
    const line = index + 1;
    if (/^[ \t]*$/.test(raw)) {
      inHeader = false;
      continue;
    }
    if (/^[ \t]*#/.test(raw)) continue;
    const noteAt = raw.search(/[ \t]*#/);
    const body = noteAt === -1 ? raw : raw.slice(0, noteAt);
    const note = noteAt === -1 ? '' : unescapeNote(raw.slice(noteAt).replace(/^[ \t]*#[ \t]*/, '').trim());
    if (inHeader) {
      const pragma = /^[ \t]*%[ \t]*([^ \t=]+)(?:[ \t]*=[ \t]*(.+?))?[ \t]*$/.exec(body);
      if (!pragma) throw fail('invalid pragma: a blank line must come between the pragmas and the changes', line);
      pragmas.set(pragma[1]!, pragma[2] ?? '1');
      continue;
    }
    const tag = TAG_LINE.exec(body);
    if (tag) {
      const last = changes.at(-1);
      if (!last) throw fail(`tag @${tag[1]} comes before any change`, line);
      if (changes.some((change) => change.tags.includes(tag[1]!))) throw fail(`tag @${tag[1]} appears twice`, line);
      last.tags.push(tag[1]!);
      continue;
    }
    const change = CHANGE_LINE.exec(body);
    if (!change) throw fail(`not a Sqitch change or tag line: ${body.trim().slice(0, 80)}`, line);
    if (change[1] === '-') throw fail(`"-${change[2]}": revert lines in a plan are not supported`, line);
    const dependencies = (change[3] ?? '').split(/[ \t]+/).filter((dependency) => dependency !== '');
    for (const dependency of dependencies) if (!DEPENDENCY.exec(dependency)) throw fail(`"${dependency}" is not a dependency Sqitch understands`, line);
    if (new Set(dependencies).size !== dependencies.length) throw fail('a dependency is listed twice', line);
    const name = change[2]!;
    const sameName = changes.filter((other) => other.name === name);
    const previous = sameName.at(-1);
    if (previous && !changes.slice(changes.indexOf(previous)).some((other) => other.tags.length > 0)) {
      throw fail(`change ${name} appears twice without a tag between: a reworked change needs a tag after its earlier version`, line);
    }
    changes.push({
      name,
      line,
      requires: dependencies.filter((dependency) => !dependency.startsWith('!')),
      conflicts: dependencies.filter((dependency) => dependency.startsWith('!')).map((dependency) => dependency.slice(1)),
      planned: change[4]!,
      planner: change[5]!,
      email: change[6]!,
      note,
      tags: [],
      changeId: '',
    });
  }
  const project = pragmas.get('project');
  if (!project) throw fail('the plan has no %project pragma', 1);
  const uri = pragmas.get('uri');
  let parent: string | undefined;
  for (const change of changes) {
    const info = [
      `project ${project}`,
      ...(uri ? [`uri ${canonicalUri(uri)}`] : []),
      `change ${change.name}`,
      ...(parent ? [`parent ${parent}`] : []),
      `planner ${change.planner} <${change.email}>`,
      `date ${change.planned}`,
      ...(change.requires.length > 0 ? [`requires\n  + ${change.requires.map((dependency) => dependencyString(dependency, project)).join('\n  + ')}`] : []),
      ...(change.conflicts.length > 0 ? [`conflicts\n  - ${change.conflicts.map((dependency) => dependencyString(dependency, project)).join('\n  - ')}`] : []),
      ...(change.note ? ['', change.note] : []),
    ].join('\n');
    change.changeId = sha1('change', info);
    parent = change.changeId;
  }
  checkRequires(changes, project, file);
  return { project, uri, changes };
}

function canonicalUri(uri: string): string {
  try {
    return new URL(uri).href;
  } catch {
    return uri;
  }
}

/** As Sqitch checks a plan: a change required within the project comes earlier in the plan (`x@tag`: x before that tag). */
function checkRequires(changes: SqitchChange[], project: string, file: string): void {
  for (const [index, change] of changes.entries()) {
    for (const dependency of change.requires) {
      const match = DEPENDENCY.exec(dependency)!;
      if ((match[2] && match[2] !== project) || match[3]) continue;
      const earlier = changes.slice(0, index);
      const tagAt = (tag: string) => earlier.findIndex((other) => other.tags.includes(tag));
      const ok = match[6]
        ? tagAt(match[6]) !== -1
        : match[5]
          ? tagAt(match[5]) !== -1 && earlier.slice(0, tagAt(match[5]) + 1).some((other) => other.name === match[4])
          : earlier.some((other) => other.name === match[4]);
      if (!ok) {
        throw new DefinitionError(`change ${change.name} requires ${dependency}, which is not planned before it`, { file, line: change.line, migrationId: change.name, field: 'requires' });
      }
    }
  }
}

/** sqitch.conf settings pgfm honours: top_dir, plan_file and the script folders, from [core] or [engine "pg"]. */
function sqitchConfig(text: string): Map<string, string> {
  const settings = new Map<string, string>();
  let section = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/^\s+|\s*[#;].*$/g, '');
    const header = /^\[\s*([^\]\s]+)(?:\s+"([^"]*)")?\s*\]$/.exec(line);
    if (header) {
      section = header[2] ? `${header[1]}.${header[2]}` : header[1]!;
      continue;
    }
    const pair = /^([A-Za-z_]+)\s*=\s*(.*)$/.exec(line);
    if (pair && (section === 'core' || section === 'engine.pg')) {
      if (section === 'engine.pg' || !settings.has(pair[1]!)) settings.set(pair[1]!, pair[2]!.replace(/^"(.*)"$/, '$1'));
    }
  }
  return settings;
}

/**
 * Sqitch: `sqitch.plan` lists the changes in deploy order; each has deploy/, revert/ and
 * verify/ scripts named after it. A reworked change's earlier version keeps its scripts as
 * `<name>@<tag>.sql` and its id is `<name>@<tag>`; the latest version is `<name>`.
 */
export async function readSqitchLayout(dir: string): Promise<LayoutRead> {
  const confPath = path.join(dir, 'sqitch.conf');
  const config = existsSync(confPath) ? sqitchConfig(await readDefinitionText(confPath, 'sqitch.conf')) : new Map<string, string>();
  const top = config.get('top_dir') ?? '.';
  const planFile = path.normalize(config.get('plan_file') ?? path.join(top, 'sqitch.plan'));
  const plan = parseSqitchPlan(await readDefinitionText(path.join(dir, planFile), planFile), planFile);
  const scriptDir = (kind: 'deploy' | 'revert' | 'verify') => path.normalize(config.get(`${kind}_dir`) ?? path.join(top, kind));
  const read = async (kind: 'deploy' | 'revert' | 'verify', base: string, migrationId: string): Promise<ScriptSource | undefined> => {
    const file = path.join(scriptDir(kind), `${base}.sql`);
    if (!existsSync(path.join(dir, file))) return undefined;
    return { file, text: await readDefinitionText(path.join(dir, file), file, { migrationId }) };
  };
  const migrations: RawMigration[] = [];
  for (const [index, change] of plan.changes.entries()) {
    const later = plan.changes.slice(index + 1);
    const reworked = later.some((other) => other.name === change.name);
    let base = change.name;
    if (reworked) {
      const candidates = [...plan.changes.slice(index, index + 1 + later.findIndex((other) => other.name === change.name))].flatMap((other) => other.tags);
      const tag = candidates.find((candidate) => existsSync(path.join(dir, scriptDir('deploy'), `${change.name}@${candidate}.sql`))) ?? candidates[0]!;
      base = `${change.name}@${tag}`;
    }
    const id = base;
    const up = await read('deploy', base, id);
    if (!up) throw new DefinitionError(`change ${change.name} has no deploy script ${path.join(scriptDir('deploy'), `${base}.sql`)}`, { migrationId: id, file: planFile, line: change.line });
    migrations.push({
      id,
      folder: planFile,
      name: change.note || change.name,
      up,
      down: await read('revert', base, id),
      verify: await read('verify', base, id),
      toolVersion: change.changeId,
      requires: change.requires,
      conflicts: change.conflicts,
    });
  }
  return { layout: 'sqitch', migrations, warnings: [], project: plan.project };
}
