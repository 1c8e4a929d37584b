#!/usr/bin/env node
// Load generator for ShareDB and Hocuspocus: the workload of collab-bench
// (tools/collab-bench) against the peers, so bench/side-by-side can put the
// figures in one table.
//
//   node load.js --system sharedb|hocuspocus --url ws://127.0.0.1:PORT
//       [--docs 100] [--clients 4] [--rate 5] [--duration 10] [--warmup 1]
//       [--op-size 4] [--delete-ratio 0.2] [--server-pid PID] [--json]
//
// D docs x C clients, one WebSocket per client (as collab-bench). Each
// client edits its local copy at --rate edits/s (0 = saturation: the next
// edit as soon as the previous op is acked) with one op in flight: edits
// made meanwhile wait, merged, and go out together at the ack (ShareDB's
// own client discipline; collab-bench does the same). Edits: insert
// --op-size ASCII chars at a random place, or with --delete-ratio delete
// 1..op-size chars (every edit deletes above 20,000 chars).
//
// Measured in the --duration window after --warmup: acks/s ("committed
// ops/s"), ack latency (op sent -> the server's reply for it), delivery
// latency (op sent -> another client of the document has it; each insert's
// text is unique per document, which is how a receiver knows whose op it
// got), the server's CPU (utime+stime from /proc) and peak RSS. Then it
// stops editing, waits until every client is idle and the copies of each
// document agree (convergence), and prints a report and one JSON line.
// Exit: 0 good, 1 errors / not drained / diverged, 3 could not connect.
'use strict';
const { performance, monitorEventLoopDelay } = require('perf_hooks');
const { args } = require('./lib/args');
const { procCpuSeconds, procRssBytes, summary } = require('./lib/measure');

let opt;
try {
  opt = args({
    system: '', url: '', docs: 100, clients: 4, rate: 5, duration: 10, warmup: 1,
    opSize: 4, deleteRatio: 0.2, maxDocChars: 20000, serverPid: 0,
    connectTimeout: 30, drainTimeout: 30, json: false,
  });
} catch (e) {
  console.error(`load.js: ${e.message}`);
  process.exit(2);
}
const adapters = { sharedb: './lib/sharedb-client', hocuspocus: './lib/hocuspocus-client' };
if (!adapters[opt.system] || !opt.url) {
  console.error('load.js: need --system sharedb|hocuspocus and --url ws://...');
  process.exit(2);
}
const Client = require(adapters[opt.system]);

// What every client reports into; one process, one thread: no locking.
const w = {
  opt,
  windowStart: Infinity, windowEnd: Infinity, generating: false,
  ackLat: [], remoteLat: [], windowAcks: 0, windowEdits: 0, totalAcks: 0,
  errors: {},
  inWindow(t) { return t >= this.windowStart && t < this.windowEnd; },
  error(code) { this.errors[code] = (this.errors[code] || 0) + 1; },
  // An op of `client` was acked; it had been sent at `sentAt`.
  acked(client, sentAt) {
    const now = performance.now();
    this.totalAcks++;
    if (this.inWindow(now)) { this.windowAcks++; this.ackLat.push(now - sentAt); }
    if (this.generating && opt.rate === 0 && client.idle()) setImmediate(() => edit(client));
  },
  // The inserts of an op leave: remember when, for the other clients.
  sent(doc, texts) {
    const now = performance.now();
    for (const s of texts) if (doc.keys.has(s)) doc.keys.get(s).t = now;
  },
  // A client received an insert of someone else.
  remoteInsert(doc, s) {
    const k = doc.keys.get(s);
    if (!k || k.t === undefined) return; // merged with a neighbour: not ours to time
    const now = performance.now();
    if (this.inWindow(now)) this.remoteLat.push(now - k.t);
    if (--k.left === 0) doc.keys.delete(s);
  },
};

// Unique insert text per document: its edit counter in base 26.
function nextText(doc) {
  let n = doc.counter++, s = '';
  for (let i = 0; i < opt.opSize; i++) { s += String.fromCharCode(97 + (n % 26)); n = Math.floor(n / 26); }
  return s;
}

function edit(client) {
  if (!w.generating || client.failed) return;
  const len = client.length() - client.keep; // chars a delete may take
  if (len > 0 && (len > opt.maxDocChars || Math.random() < opt.deleteRatio)) {
    const n = Math.min(len, 1 + Math.floor(Math.random() * opt.opSize));
    client.remove(Math.floor(Math.random() * (len - n + 1)), n);
  } else {
    const s = nextText(client.doc);
    client.doc.keys.set(s, { t: undefined, left: opt.clients - 1 });
    client.insert(Math.floor(Math.random() * (client.length() + 1)), s);
  }
  if (w.inWindow(performance.now())) w.windowEdits++;
}

// Open-loop ticks at --rate with a random phase; catches up if late.
function startTicking(client, t0) {
  const period = 1000 / opt.rate;
  let next = t0 + Math.random() * period;
  const tick = () => {
    if (!w.generating) return;
    const now = performance.now();
    for (let n = 0; next <= now && n < 1000; n++) { edit(client); next += period; }
    if (next <= now) next = now + period;
    setTimeout(tick, next - now);
  };
  setTimeout(tick, next - t0);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const withTimeout = (p, s, what) => Promise.race([p,
  sleep(s * 1000).then(() => { throw new Error(`${what} timed out after ${s} s`); })]);

async function main() {
  const run = Math.random().toString(36).slice(2, 10);
  const docs = [];
  for (let d = 0; d < opt.docs; d++) docs.push({ name: `bench-${run}-d${d}`, keys: new Map(), counter: 0, clients: [] });
  const all = [];
  for (const doc of docs) for (let c = 0; c < opt.clients; c++) {
    const cl = new Client(w, doc, c, opt.url);
    doc.clients.push(cl);
    all.push(cl);
  }
  // The first client of each document creates it (ShareDB needs exactly one
  // create); the others join once it exists.
  const t0 = performance.now();
  try {
    await withTimeout(Promise.all(docs.map((d) => d.clients[0].connect(true))), opt.connectTimeout, 'connect');
    await withTimeout(Promise.all(all.filter((c) => c.index > 0).map((c) => c.connect(false))), opt.connectTimeout, 'connect');
  } catch (e) {
    console.error(`load.js: ${e.message}`);
    process.exit(3);
  }
  const connectS = (performance.now() - t0) / 1000;

  // Generate: warmup, then the measured window.
  const g0 = performance.now();
  w.windowStart = g0 + opt.warmup * 1000;
  w.windowEnd = w.windowStart + opt.duration * 1000;
  w.generating = true;
  for (const c of all) opt.rate > 0 ? startTicking(c, g0) : edit(c);
  await sleep(w.windowStart - performance.now());
  const pid = opt.serverPid;
  const cpu0 = pid ? procCpuSeconds(pid) : 0;
  const self0 = process.cpuUsage();
  // How late this process ran its callbacks: a load generator that lags
  // adds its lag to every latency it reports.
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  let rssPeak = 0;
  while (performance.now() < w.windowEnd) {
    if (pid) rssPeak = Math.max(rssPeak, procRssBytes(pid));
    await sleep(Math.min(100, w.windowEnd - performance.now()));
  }
  const cpu1 = pid ? procCpuSeconds(pid) : 0;
  const self1 = process.cpuUsage(self0);
  lag.disable();
  const windowS = opt.duration;
  w.generating = false;

  // Drain: every op acked and every copy the same.
  const d0 = performance.now();
  let drained = false, converged = false;
  while (performance.now() - d0 < opt.drainTimeout * 1000) {
    drained = all.every((c) => c.failed || c.idle());
    converged = drained && docs.every((d) => d.clients.every((c) => c.text() === d.clients[0].text()));
    if (converged) break;
    await sleep(20);
  }
  const drainS = (performance.now() - d0) / 1000;
  const failed = all.filter((c) => c.failed).length;
  const finalChars = docs.reduce((n, d) => n + d.clients[0].length(), 0);
  for (const c of all) c.close();

  const ops = w.windowAcks / windowS;
  const serverCpuS = cpu1 - cpu0;
  const r = {
    system: opt.system, url: opt.url, docs: opt.docs, clients_per_doc: opt.clients,
    connections: all.length, rate_per_client: opt.rate, saturation: opt.rate === 0,
    duration_s: opt.duration, warmup_s: opt.warmup, op_size: opt.opSize,
    delete_ratio: opt.deleteRatio, connect_s: connectS, window_s: windowS,
    ops_per_s: ops, acks: w.windowAcks, edits_per_s: w.windowEdits / windowS,
    ack_latency_ms: summary(w.ackLat), remote_latency_ms: summary(w.remoteLat),
    server: pid ? {
      pid, cpu_percent: (100 * serverCpuS) / windowS,
      cpu_us_per_op: w.windowAcks ? (serverCpuS * 1e6) / w.windowAcks : null,
      rss_peak_bytes: rssPeak,
    } : null,
    bench: {
      cpu_percent: (100 * (self1.user + self1.system)) / 1e6 / windowS,
      // The histogram holds whole timer intervals: take the interval off.
      event_loop_delay_p99_ms: Math.max(0, lag.percentile(99) / 1e6 - 10),
    },
    total_acks: w.totalAcks, errors: w.errors, failed_clients: failed,
    drained, drain_s: drainS, converged, final_chars: finalChars,
  };
  r.exit_code = !drained || !converged || failed || Object.keys(w.errors).length ? 1 : 0;
  if (!opt.json) printHuman(r);
  console.log(JSON.stringify(r));
  // Let the sockets close, then leave even if a library keeps a timer.
  setTimeout(() => process.exit(r.exit_code), 200);
}

function printHuman(r) {
  const lat = (name, s) => console.log(s.count
    ? `${name.padEnd(18)} p50 ${s.p50.toFixed(3)}  p95 ${s.p95.toFixed(3)}  p99 ${s.p99.toFixed(3)}  max ${s.max.toFixed(3)} ms  (n=${s.count})`
    : `${name.padEnd(18)} no samples`);
  console.log(`${r.system}: ${r.docs} docs x ${r.clients_per_doc} clients = ${r.connections} connections, ` +
    (r.saturation ? 'saturation (closed loop)' : `${r.rate_per_client} edits/s per client`) +
    `, op-size ${r.op_size}, ${r.duration_s} s + ${r.warmup_s} s warmup`);
  console.log(`connect:           ${r.connections} joined in ${r.connect_s.toFixed(3)} s`);
  console.log(`committed ops/s:   ${r.ops_per_s.toFixed(1)}   (${r.acks} acks; ${r.edits_per_s.toFixed(1)} edits/s)`);
  lat('ack latency:', r.ack_latency_ms);
  lat('remote delivery:', r.remote_latency_ms);
  if (r.server) {
    console.log(`server (pid ${r.server.pid}):  cpu ${r.server.cpu_percent.toFixed(1)}%  ` +
      `${r.server.cpu_us_per_op === null ? '-' : r.server.cpu_us_per_op.toFixed(1)} us/op  ` +
      `rss peak ${(r.server.rss_peak_bytes / 1048576).toFixed(1)} MiB`);
  }
  console.log(`bench:             cpu ${r.bench.cpu_percent.toFixed(1)}%, event loop delay p99 ${r.bench.event_loop_delay_p99_ms.toFixed(1)} ms`);
  console.log(`errors:            ${JSON.stringify(r.errors)}  failed clients: ${r.failed_clients}`);
  console.log(`drain:             ${r.drained ? 'quiet' : 'TIMED OUT'} in ${r.drain_s.toFixed(3)} s, ` +
    `convergence: ${r.converged ? 'OK' : 'FAILED'}, ${r.final_chars} chars in all docs`);
}

main().catch((e) => { console.error(`load.js: ${e.stack || e}`); process.exit(1); });
