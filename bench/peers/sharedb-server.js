#!/usr/bin/env node
// ShareDB server for the side-by-side benchmark: one process, one core's
// worth of JavaScript, ShareDB's own WebSocket transport. The text type is
// `ot-text-unicode`, the type collab implements (docs/OT-ADAPTER.md), so
// both servers transform and apply the same ops.
//
//   node sharedb-server.js [--port 0] [--db memory|postgres]
//
// --db postgres needs PG_URL (postgresql://user@host:port/db); it creates
// sharedb-postgres's two tables if they are missing. Prints one line when
// ready: `sharedb listening on ws://127.0.0.1:PORT db=...`.
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');
const { WebSocketServer } = require('ws');
const ShareDB = require('sharedb');
const WebSocketJSONStream = require('@teamwork/websocket-json-stream');
const { args } = require('./lib/args');

ShareDB.types.register(require('ot-text-unicode').type);

async function makeDb(kind) {
  if (kind === 'memory') return new ShareDB.MemoryDB();
  if (kind !== 'postgres') throw new Error(`unknown --db ${kind}`);
  const url = process.env.PG_URL;
  if (!url) throw new Error('--db postgres needs PG_URL');
  // The package's own schema; idempotent (CREATE ... IF NOT EXISTS).
  const { Client } = require('pg');
  const c = new Client({ connectionString: url });
  await c.connect();
  const sql = path.join(path.dirname(require.resolve('sharedb-postgres')), 'structure.sql');
  await c.query(fs.readFileSync(sql, 'utf8'));
  await c.end();
  // pg's default pool is 10 connections: the same as ShareDB's docs use.
  return require('sharedb-postgres')({ connectionString: url });
}

async function main() {
  const opt = args({ port: 0, db: 'memory' });
  const backend = new ShareDB({ db: await makeDb(opt.db) });
  const server = http.createServer();
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => backend.listen(new WebSocketJSONStream(ws)));
  server.listen(Number(opt.port), '127.0.0.1', () => {
    console.log(`sharedb listening on ws://127.0.0.1:${server.address().port} db=${opt.db}`);
  });
  const stop = () => { wss.close(); server.close(); backend.close(() => process.exit(0)); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => { console.error(`sharedb-server: ${e.stack || e}`); process.exit(3); });
