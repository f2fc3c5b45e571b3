import { lstat, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { DefinitionError, OperationError, type ErrorContext } from '../errors.js';

/** Largest definition file read (SQL or YAML); beyond this the file is refused before it is read. */
export const MAX_DEFINITION_FILE_BYTES = 128 * 1024 * 1024;

const BOM = [0xef, 0xbb, 0xbf] as const;

/** True when `target` is `root` or lies below it (both real, absolute paths). */
export function isInside(root: string, target: string): boolean {
  const relative = path.relative(root, target);
  return relative === '' || (!relative.startsWith(`..${path.sep}`) && relative !== '..' && !path.isAbsolute(relative));
}

/**
 * Real path of `absolute`, or a DefinitionError when it is a broken symbolic link.
 * `file` is the path relative to the migrations directory, for the message.
 */
export async function resolveLink(absolute: string, file: string, context: ErrorContext = {}): Promise<string> {
  try {
    return await realpath(absolute);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    const isLink = (await lstat(absolute).catch(() => undefined))?.isSymbolicLink() === true;
    const message = isLink ? `symbolic link ${file} is broken (${code}): its target cannot be read` : `cannot read ${file}: ${(error as Error).message}`;
    throw new DefinitionError(message, { ...context, file }, { cause: error });
  }
}

/** The first leading part of `file` (relative to `dir`, whose real path is `root`) that leads outside `root`: the link to blame. */
async function linkLeadingOutside(dir: string, root: string, file: string): Promise<string> {
  const parts = file.split(path.sep);
  for (let count = 1; count <= parts.length; count++) {
    const candidate = parts.slice(0, count).join(path.sep);
    const real = await realpath(path.join(dir, candidate)).catch(() => undefined);
    if (real !== undefined && !isInside(root, real)) return candidate;
  }
  return file;
}

/** Offset of the first byte that starts an invalid UTF-8 sequence (WHATWG decoder rules), or -1. */
function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const lead = bytes[i]!;
    if (lead < 0x80) {
      i++;
      continue;
    }
    let needed: number;
    let lower = 0x80;
    let upper = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) {
      needed = 1;
    } else if (lead >= 0xe0 && lead <= 0xef) {
      needed = 2;
      if (lead === 0xe0) lower = 0xa0;
      if (lead === 0xed) upper = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      needed = 3;
      if (lead === 0xf0) lower = 0x90;
      if (lead === 0xf4) upper = 0x8f;
    } else {
      return i;
    }
    for (let k = 1; k <= needed; k++) {
      const next = bytes[i + k];
      if (next === undefined || next < lower || next > upper) return i;
      lower = 0x80;
      upper = 0xbf;
    }
    i += needed + 1;
  }
  return -1;
}

/** 1-based line and column (in characters) of a byte offset whose prefix is valid UTF-8. */
function positionOf(bytes: Uint8Array, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    if (bytes[i] === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  let column = 1;
  for (let i = lineStart; i < offset; i++) if ((bytes[i]! & 0xc0) !== 0x80) column++;
  // Editors do not show a leading byte order mark.
  if (line === 1 && offset >= 3 && BOM.every((byte, index) => bytes[index] === byte)) column--;
  return { line, column };
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads one definition file (SQL or YAML) of the migrations directory as text.
 *
 * `absolute` must be `path.join(dir, file)`, with `file` relative to the migrations
 * directory `dir`. The file is read as bytes and refused with a DefinitionError naming it
 * when it is not valid UTF-8 or holds a NUL byte (line, column and byte offset of the first
 * bad byte), when it is not a regular file or too big, and when its real path (symbolic
 * links resolved) lies outside the real migrations directory. A leading UTF-8 byte order
 * mark is dropped.
 */
export async function readDefinitionText(absolute: string, file: string, context: ErrorContext = {}): Promise<string> {
  const where = { ...context, file };
  const depth = path.normalize(file).split(path.sep).length;
  let dir = path.resolve(absolute);
  for (let i = 0; i < depth; i++) dir = path.dirname(dir);
  if (path.join(dir, file) !== path.resolve(absolute)) throw new OperationError(`readDefinitionText: ${absolute} is not ${file} inside a directory`);

  const root = await realpath(dir);
  const real = await resolveLink(absolute, file, context);
  if (!isInside(root, real)) {
    const link = await linkLeadingOutside(dir, root, file);
    throw new DefinitionError(`symbolic link ${link} points outside the migrations folder (to ${real}): only links within it are followed`, {
      ...where,
      file: link,
    });
  }

  const stats = await stat(real);
  if (!stats.isFile()) throw new DefinitionError(`${file} is not a regular file`, where);
  if (stats.size > MAX_DEFINITION_FILE_BYTES) {
    throw new DefinitionError(
      `file is too big: ${stats.size} bytes (${(stats.size / 1024 / 1024).toFixed(1)} MiB), more than the limit of ${MAX_DEFINITION_FILE_BYTES / 1024 / 1024} MiB: split it`,
      where,
    );
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(real);
  } catch (error) {
    throw new DefinitionError(`cannot read ${file}: ${(error as Error).message}`, where, { cause: error });
  }

  const nul = bytes.indexOf(0);
  if (nul === -1) {
    let text: string | undefined;
    try {
      text = decoder.decode(bytes); // also drops a leading byte order mark
    } catch {
      // located below
    }
    if (text !== undefined) {
      // A byte order mark past the start is what concatenating files leaves: invisible in an
      // editor, and PostgreSQL reads it as part of a word.
      const stray = bytes.indexOf(Buffer.from(BOM), 1);
      if (stray === -1) return text;
      const position = positionOf(bytes, stray);
      throw new DefinitionError(`a byte order mark (U+FEFF) at offset ${stray}, line ${position.line} column ${position.column}, inside the file: remove it`, {
        ...where,
        line: position.line,
        column: position.column,
      });
    }
  }
  const invalid = firstInvalidUtf8(nul === -1 ? bytes : bytes.subarray(0, nul));
  const offset = invalid === -1 ? nul : invalid;
  if (offset === -1) throw new DefinitionError('not valid UTF-8: save the file as UTF-8', where);
  const position = positionOf(bytes, offset);
  const at = `at offset ${offset}, line ${position.line} column ${position.column}`;
  const message =
    invalid === -1
      ? `NUL byte (0x00) ${at}: a SQL or YAML file must not contain NUL bytes`
      : `not valid UTF-8 (byte 0x${bytes[offset]!.toString(16).padStart(2, '0')} ${at}): save the file as UTF-8`;
  throw new DefinitionError(message, { ...where, line: position.line, column: position.column });
}
