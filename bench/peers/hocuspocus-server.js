#!/usr/bin/env node
// Hocuspocus (Yjs) server for the side-by-side benchmark: the plain server
// with its documents in memory and no extension (no persistence: its
// database extensions store a whole-document snapshot after a debounce, they
// are not in the path of an edit, so they would not change what is measured
// here; see BENCHMARKS.md).
//
//   node hocuspocus-server.js [--port 0]
//
// Prints one line when ready: `hocuspocus listening on ws://127.0.0.1:PORT`.
'use strict';
const { Server } = require('@hocuspocus/server');
const { args } = require('./lib/args');

async function main() {
  const opt = args({ port: 0 });
  const server = new Server({ address: '127.0.0.1', port: Number(opt.port), quiet: true, stopOnSignals: false });
  await server.listen();
  console.log(`hocuspocus listening on ws://127.0.0.1:${server.address.port}`);
  const stop = () => server.destroy().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => { console.error(`hocuspocus-server: ${e.stack || e}`); process.exit(3); });
