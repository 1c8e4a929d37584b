// The restart storm's crowd (bench/restart-storm): --sockets JS clients
// (clients/js, the code a browser runs), each its own user on its own
// socket, joined to one of --docs documents, split over --procs worker
// processes (a process holds at most its fd limit of sockets).
//
// The parent prints "ready <sockets>" once every socket is joined and the
// documents hold text, then waits for a line on stdin (the script killed and
// restarted the node meanwhile) and measures from the moment the sockets
// went down until every document of every socket is synced again: how long
// each socket took, how many sockets it opened to get there, which errors the server
// answered. It prints one JSON line and exits 0 when every socket came
// back, 1 when some had not after --timeout seconds.
//
//   node storm.js --url ws://127.0.0.1:PORT/v1/ws --secret S
//     [--sockets 19000] [--docs 2000] [--procs 3] [--timeout 120]
//     [--concurrency 500] [--prefix storm/]
import { fork } from 'node:child_process';
import crypto from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { CollabClient } from '../../clients/js/src/index.js';
import WebSocket from '../../clients/js/node_modules/ws/index.js';

function args(argv) {
  const o = { sockets: 19000, docs: 2000, procs: 3, timeout: 120, concurrency: 500, prefix: 'storm/' };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '');
    if (!(k in o) && !['url', 'secret', 'from', 'to', 'worker'].includes(k)) throw new Error(`unknown option ${argv[i]}`);
    o[k] = typeof o[k] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
  }
  return o;
}

function mintToken(secret, sub) {
  const b64 = (x) => Buffer.from(JSON.stringify(x)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, docs: ['*'], exp: Math.floor(Date.now() / 1000) + 3600 })}`;
  return `${body}.${crypto.createHmac('sha256', secret).update(body).digest('base64url')}`;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

// `promise`, or an error after `seconds`.
function within(promise, seconds, what) {
  let timer;
  const late = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} within ${seconds} s`)), seconds * 1000); });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

// ---- A worker: sockets [from, to) ------------------------------------------

async function worker(o) {
  const from = Number(o.from);
  const to = Number(o.to);
  const errors = {};
  let sockets = 0; // opened, the first of each client included
  let downAt = null; // when the first of our sockets saw the node go
  const socks = [];
  const open = (i) => {
    const token = mintToken(o.secret, `storm-${i}`);
    const client = new CollabClient({
      urls: [o.url],
      token,
      pingIntervalMs: 0,
      createSocket: (url) => {
        sockets++;
        return new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
      },
    });
    const s = { client, doc: null, down: null, back: null };
    client.on('error', (e) => { errors[e.code] = (errors[e.code] ?? 0) + 1; });
    client.on('status', (st) => {
      if (st !== 'connected' && s.down === null && s.doc?.rev != null) {
        s.down = Date.now();
        downAt ??= s.down;
      }
    });
    client.connect();
    s.doc = client.doc(`${o.prefix}${i % o.docs}`);
    s.doc.on('state', (st) => {
      if (st === 'synced' && s.down !== null && s.back === null) s.back = Date.now();
    });
    socks.push(s);
    return s.doc.ready;
  };
  // Set up at most --concurrency at a time; the first socket of each
  // document writes a line, so that every document has text to load.
  const per = Math.max(1, Math.floor(o.concurrency / o.procs));
  for (let i = from; i < to; i += per) {
    const batch = [];
    for (let j = i; j < Math.min(to, i + per); j++) batch.push(open(j));
    await within(Promise.all(batch), 60, `sockets ${i}..${i + per} did not join`);
  }
  for (const s of socks.slice(0, Math.min(socks.length, o.docs))) {
    if (s.doc.text.length === 0) s.doc.insert(0, `document ${s.doc.id}: some text to load\n`.repeat(8));
  }
  await within(Promise.all(socks.map((s) => s.doc.whenSynced())), 60, 'the first lines were not acknowledged');
  process.send({ ready: socks.length });
  const openedBefore = sockets;
  process.on('message', (m) => {
    if (m !== 'report') return;
    const done = socks.filter((s) => s.back !== null);
    process.send({
      report: {
        sockets: socks.length,
        back: done.length,
        downAt,
        times: done.map((s) => s.back - s.down),
        reconnects: sockets - openedBefore,
        errors,
      },
    });
  });
}

// ---- The parent --------------------------------------------------------------

async function parent(o) {
  const me = fileURLToPath(import.meta.url);
  const n = Math.max(1, o.procs);
  const workers = [];
  for (let p = 0; p < n; p++) {
    const from = Math.floor((o.sockets * p) / n);
    const to = Math.floor((o.sockets * (p + 1)) / n);
    const argv = ['--worker', '1', '--from', String(from), '--to', String(to)];
    for (const k of ['url', 'secret', 'docs', 'procs', 'concurrency', 'prefix']) argv.push(`--${k}`, String(o[k]));
    workers.push(fork(me, argv, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  }
  const t0 = Date.now();
  let ready = 0;
  await Promise.all(workers.map((w) => new Promise((resolve, reject) => {
    w.on('message', (m) => { if (m.ready !== undefined) { ready += m.ready; resolve(); } });
    w.on('exit', (code) => reject(new Error(`worker exited with ${code} before it was ready`)));
  })));
  process.stdout.write(`ready ${ready} sockets in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  const lines = createInterface({ input: process.stdin });
  const restartedAt = await new Promise((resolve) => lines.once('line', (l) => resolve(Number(l) || Date.now())));
  const ask = () => Promise.all(workers.map((w) => new Promise((resolve) => {
    w.once('message', (m) => resolve(m.report));
    w.send('report');
  })));
  const deadline = Date.now() + o.timeout * 1000;
  let reports;
  for (;;) {
    reports = await ask();
    const back = reports.reduce((a, r) => a + r.back, 0);
    if (back === ready || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const times = reports.flatMap((r) => r.times).sort((a, b) => a - b);
  const downAt = Math.min(...reports.map((r) => r.downAt ?? Infinity));
  const lastBack = downAt + (times.at(-1) ?? 0);
  const errors = {};
  for (const r of reports) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  const out = {
    sockets: ready,
    back: times.length,
    restart_to_all_back_ms: times.length ? Math.max(0, Math.round(lastBack - restartedAt)) : null,
    down_ms: { p50: percentile(times, 50), p90: percentile(times, 90), p99: percentile(times, 99), max: times.at(-1) ?? null },
    reconnects: reports.reduce((a, r) => a + r.reconnects, 0), // sockets opened, refused ones included
    errors,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  for (const w of workers) w.kill('SIGTERM');
  process.exit(out.back === ready ? 0 : 1);
}

const o = args(process.argv.slice(2));
if (!o.url || !o.secret) {
  process.stderr.write('storm.js: --url and --secret are required\n');
  process.exit(2);
}
if (o.worker) worker(o).catch((e) => { process.stderr.write(`${e.stack}\n`); process.exit(1); });
else parent(o).catch((e) => { process.stderr.write(`${e.stack}\n`); process.exit(1); });
