'use strict';
// Preflight: every suite requires this first, so that a missing `npm ci`
// fails loudly instead of as an obscure MODULE_NOT_FOUND deep in a test.
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const missing = ['ws', 'ot-text-unicode'].filter(
  (m) => !fs.existsSync(path.join(root, 'node_modules', m, 'package.json')));
if (missing.length > 0) {
  process.stderr.write(
    `\ne2e: missing npm packages (${missing.join(', ')}) in ${root}/node_modules.\n` +
    `e2e: run \`npm ci --prefix ${root}\` first.\n\n`);
  process.exit(1);
}
const major = Number(process.versions.node.split('.')[0]);
if (major < 20) {
  process.stderr.write(`\ne2e: Node >= 20 required, this is ${process.version}\n\n`);
  process.exit(1);
}
