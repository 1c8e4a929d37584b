#!/usr/bin/env node
// Builds the demo editor into OUT (argv[2], default ../build/web):
//   OUT/index.html                       (references the hashed assets)
//   OUT/assets/app-<contenthash>.js|.css, favicon-<contenthash>.svg
//                                        (immutable: the name changes with the content)
// src/app.js is bundled with its CSS and the client library
// (../clients/js/src/index.js) and that library's npm dependencies, which
// resolve from this folder's node_modules when clients/js has none.
import { build } from 'esbuild';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(process.argv[2] || path.join(here, '..', 'build', 'web'));
const assets = path.join(out, 'assets');
const client = path.resolve(here, '..', 'clients', 'js', 'src', 'index.js');

if (!fs.existsSync(client)) {
  console.error(`web/build.mjs: the client library is missing (${client})`);
  process.exit(1);
}

// Start from an empty assets folder so that stale hashed files do not pile up.
fs.rmSync(assets, { recursive: true, force: true });
fs.mkdirSync(assets, { recursive: true });

const result = await build({
  entryPoints: { app: path.join(here, 'src', 'app.js') },
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  minify: process.env.COLLAB_WEB_MINIFY !== '0',
  sourcemap: false,
  legalComments: 'none',
  outdir: assets,
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  nodePaths: [path.join(here, 'node_modules')],
  metafile: true,
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
});

const files = Object.keys(result.metafile.outputs).map((f) => path.basename(f));
const js = files.find((f) => /^app-[A-Z0-9]+\.js$/i.test(f));
const css = files.find((f) => /^app-[A-Z0-9]+\.css$/i.test(f));
if (!js || !css) {
  console.error(`web/build.mjs: expected app-<hash>.js and app-<hash>.css, got ${files.join(', ')}`);
  process.exit(1);
}

// the icon: copied under a name with its content hash, like the bundles
const iconBody = fs.readFileSync(path.join(here, 'src', 'favicon.svg'));
const icon = `favicon-${crypto.createHash('sha256').update(iconBody).digest('hex').slice(0, 8).toUpperCase()}.svg`;
fs.writeFileSync(path.join(assets, icon), iconBody);

const template = fs.readFileSync(path.join(here, 'src', 'index.html'), 'utf8');
const html = template.replace('%JS%', js).replace('%CSS%', css).replace('%ICON%', icon);
// write index.html last and atomically: a server never sees it point at
// assets that are not there yet
const tmp = path.join(out, `.index.html.${process.pid}`);
fs.writeFileSync(tmp, html);
fs.renameSync(tmp, path.join(out, 'index.html'));
console.log(`web: ${path.relative(process.cwd(), out) || '.'}/index.html -> assets/${js}, assets/${css}`);
