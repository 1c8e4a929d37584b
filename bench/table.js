#!/usr/bin/env node
// The markdown table of bench/side-by-side, from one JSON file per system:
// collab-bench's --json or bench/peers/load.js's last line, plus the
// script's "row" (system name, load generator exit, PostgreSQL CPU seconds).
// Both generators print the same figures under the same keys (ops_per_s,
// acks, total_acks, ack_latency_ms, remote_latency_ms, server, bench,
// exit_code); collab-bench has no p95, so the table shows p50 and p99.
//
//   node bench/table.js --machine TEXT --workload TEXT FILE.json...
//
// Exit: 0 when every run exited 0 and committed ops, else 1.
'use strict';
const fs = require('fs');

const argv = process.argv.slice(2);
const meta = {};
while (argv[0] && argv[0].startsWith('--')) meta[argv.shift().slice(2)] = argv.shift();

const f = (x, d = 1) => (x === null || x === undefined || Number.isNaN(x) ? '-' : x.toFixed(d));
const mib = (b) => (b ? `${(b / 1048576).toFixed(0)} MiB` : '-');

let allOk = true;
const rows = argv.map((file) => {
  let r;
  try { r = JSON.parse(fs.readFileSync(file, 'utf8')); } catch { r = { row: { system: file, load_rc: 3 } }; }
  const row = r.row || {};
  const acks = r.acks || 0;
  const window = r.window_s || r.duration_s || 0;
  const s = r.server || {};
  // CPU seconds in the window per op acked in the window.
  const cpuUs = s.cpu_percent !== undefined && acks ? (s.cpu_percent / 100) * window * 1e6 / acks : null;
  const pgUs = row.pg_cpu_s !== null && row.pg_cpu_s !== undefined && r.total_acks
    ? (row.pg_cpu_s * 1e6) / r.total_acks : null;
  const ok = row.load_rc === 0 && r.exit_code === 0 && acks > 0;
  if (!ok) allOk = false;
  const a = r.ack_latency_ms || {}, d = r.remote_latency_ms || {};
  return [row.system, f(r.ops_per_s, 0), f(a.p50, 2), f(a.p99, 2), f(d.p50, 2), f(d.p99, 2),
    f(cpuUs, 0), f(pgUs, 0), mib(s.rss_peak_bytes), f(r.bench && r.bench.cpu_percent, 0),
    ok ? 'ok' : `FAILED (exit ${row.load_rc}${r.exit_code ? `/${r.exit_code}` : ''}, ${acks} acks)`];
});

const head = ['system', 'ops/s', 'ack p50 ms', 'ack p99 ms', 'delivery p50 ms', 'delivery p99 ms',
  'server CPU µs/op', 'PostgreSQL CPU µs/op', 'server peak RSS', 'load gen CPU %', 'result'];
if (meta.machine) console.log(`machine: ${meta.machine}`);
if (meta.workload) console.log(`workload: ${meta.workload}`);
console.log();
console.log(`| ${head.join(' | ')} |`);
console.log(`|${head.map((h, i) => (i === 0 || i === head.length - 1 ? '---' : '---:')).join('|')}|`);
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
process.exit(allOk ? 0 : 1);
