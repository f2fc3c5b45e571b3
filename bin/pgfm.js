#!/usr/bin/env node
// `npx pgfm …` / the `pgfm` command: the CLI from the TypeScript source (through tsx) in a
// checkout, or the compiled one in the image (which holds dist/ and no source). Only pgfm's own
// output reaches stdout, unlike `npm run migrate`, whose banner breaks --json.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const source = path.join(root, 'producer', 'cli.ts');
let cli;
if (existsSync(source) && existsSync(path.join(root, 'node_modules', 'tsx'))) {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import(pathToFileURL(source).href);
} else {
  cli = await import(pathToFileURL(path.join(root, 'dist', 'producer', 'cli.js')).href);
}
await cli.main(process.argv.slice(2));
