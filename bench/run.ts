/** npm run bench -- <name> [options]: runs bench/<name>.ts. */
const name = process.argv[2];
const known = ['backfill', 'keys', 'seed'];
if (!name || !known.includes(name)) {
  process.stderr.write(`usage: npm run bench -- <${known.join('|')}> [options]\n`);
  process.exit(2);
}
await import(`./${name}.js`);
