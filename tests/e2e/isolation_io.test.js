'use strict';
// Isolation at the socket layer (docs/DESIGN.md contract 6, docs/ISOLATION.md):
// input backpressure (max-input-bytes), the node's send budget
// (send-queue-node-bytes), sockets per user (429), request heads over
// max-header-bytes (431), accept out of file descriptors (back-off, bounded
// logging, a metric), and sockets that leave nothing behind when they close.
require('./lib/deps');
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { withServer } = require('./lib/server');
const { connect, tryConnect, session, randomId } = require('./lib/client');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const MiB = 1 << 20;
// Message rate limits out of the way: these tests are about bytes.
const NO_RATE_LIMIT = {
  COLLAB_RATE_LIMIT: '1000000',
  COLLAB_RATE_BURST: '1000000',
  COLLAB_RATE_LIMIT_BYTES: '1000000000000',
  COLLAB_RATE_BURST_BYTES: '1000000000000',
};

// VmRSS, VmHWM (peak) of a process, in bytes.
function memoryOf(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)[1]) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

// CPU seconds (user + system) a process used so far (USER_HZ is 100).
function cpuSecondsOf(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

// The value of an unlabelled metric in /metrics, or undefined.
async function metric(s, name) {
  const res = await s.fetch('/metrics');
  const text = await res.text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

// Sends `request` on a raw TCP socket; resolves with everything the server
// sent until it closed (`onResponse` runs once the head has arrived).
// `halfOpen`: the socket does not end its side when the server ends its own.
function rawExchange(s, request, { onResponse, timeoutMs = 15000, halfOpen = false } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port: s.port, host: s.host, allowHalfOpen: halfOpen });
    const chunks = [];
    let responded = false;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no close within ${timeoutMs} ms; got ${Buffer.concat(chunks).toString().slice(0, 200)}`));
    }, timeoutMs);
    sock.on('connect', () => sock.write(request));
    sock.on('data', (d) => {
      chunks.push(d);
      if (!responded && Buffer.concat(chunks).includes('\r\n\r\n')) {
        responded = true;
        if (onResponse) onResponse(sock);
      }
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      const status = Number((/^HTTP\/1\.1 (\d+)/.exec(text) || [])[1]);
      resolve({ status, text, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
  });
}

// One WebSocket opened and closed by hand on a raw socket (cheaper than the
// `ws` client, so that many thousands fit in a test): upgrade, close frame,
// wait for the server's close and end of stream.
const CLOSE_1000 = Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]);  // masked, key 0
function rawOpenClose(s, token) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(s.port, s.host);
    let head = Buffer.alloc(0);
    let upgraded = false;
    sock.on('connect', () => sock.write(
      `GET /v1/ws HTTP/1.1\r\nHost: ${s.host}:${s.port}\r\nUpgrade: websocket\r\n` +
      'Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n' +
      `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer ${token}\r\n\r\n`));
    sock.on('data', (d) => {
      if (upgraded) { sock.end(); return; }  // the server's close frame
      head = Buffer.concat([head, d]);
      const i = head.indexOf('\r\n\r\n');
      if (i < 0) return;
      if (!head.subarray(0, 12).toString().startsWith('HTTP/1.1 101')) {
        sock.destroy();
        reject(new Error(`upgrade refused: ${head.subarray(0, i).toString()}`));
        return;
      }
      upgraded = true;
      sock.write(CLOSE_1000);
      if (head.length > i + 4) sock.end();
    });
    sock.on('error', reject);
    sock.on('close', () => resolve());
  });
}

test('a socket flooding large frames is not read past max-input-bytes; another socket is served; memory stays bounded', async (t) => {
  const MAX_INPUT = 2 * MiB;
  await withServer({
    ...NO_RATE_LIMIT,
    COLLAB_MAX_INPUT_BYTES: String(MAX_INPUT),
    COLLAB_MAX_OP_COMPONENTS: '100000000',
    COLLAB_ACTOR_THREADS: '1',
  }, async (s) => {
    const honest = await session(s, { label: 'honest' });
    const flooder = await session(s, { label: 'flooder' });
    const before = memoryOf(s.proc.pid);
    // 0.8 MB ops of ~270k components: each costs the connection actor far
    // more to decode than the socket to read.
    const FRAMES = 200;
    const body = '1,"a",'.repeat(133000);
    let answers = 0;
    flooder.on('msg', (m) => { if (m.type === 'error') answers++; });
    for (let i = 1; i <= FRAMES; i++) {
      flooder.send(`{"type":"op","doc":"e2e-flood","rev":0,"seq":${i},"op":[${body}1]}`);
    }
    // Meanwhile: the honest socket is answered while the flooder's frames
    // are handled (a count of them, not a time: the actor threads take
    // turns, so only a few of the flooder's frames go before a ping), and
    // the node's unprocessed input stays near the bound.
    let maxUnprocessed = 0;
    let pings = 0;
    let maxPassed = 0;  // flooder frames answered while one ping waited
    const deadline = Date.now() + 120000;
    while (answers < FRAMES && Date.now() < deadline) {
      const sentAt = answers;
      await honest.ping(60000);
      maxPassed = Math.max(maxPassed, answers - sentAt);
      pings++;
      maxUnprocessed = Math.max(maxUnprocessed, await metric(s, 'collab_unprocessed_input_bytes'));
      await sleep(20);
    }
    const after = memoryOf(s.proc.pid);
    const pauses = await metric(s, 'collab_input_pauses_total');
    t.diagnostic(`${answers}/${FRAMES} frames answered, ${pings} pings answered meanwhile; ` +
      `at most ${maxPassed} of the flooder's frames answered while a ping waited; ` +
      `input pauses ${pauses}; max unprocessed input seen ${maxUnprocessed} B; ` +
      `RSS ${before.rss >> 20} MiB before, peak ${after.hwm >> 20} MiB`);
    assert.equal(answers, FRAMES, 'every frame was handled in the end');
    assert.ok(pauses > 0, 'the flooder\'s socket stopped being read');
    assert.ok(maxPassed <= FRAMES / 6, `${maxPassed} of the flooder's frames went before one ping`);
    assert.ok(maxUnprocessed <= MAX_INPUT + MiB, `unprocessed input ${maxUnprocessed} B`);
    // 160 MB were sent; what waits for the actor is bounded by the limit.
    assert.ok(after.hwm - before.rss < 100 * MiB,
      `peak RSS grew by ${(after.hwm - before.rss) >> 20} MiB`);
    assert.equal(await metric(s, 'collab_unprocessed_input_bytes'), 0);
    flooder.close();
    honest.close();
  });
});

test('over the node send budget the sockets with the most queued close 1013 first; an honest reader keeps receiving', async (t) => {
  const CAP = 8 * MiB;
  await withServer({
    ...NO_RATE_LIMIT,
    COLLAB_SEND_QUEUE_BYTES: String(256 * MiB),  // the per-socket bound stays out of the way
    COLLAB_SEND_QUEUE_NODE_BYTES: String(CAP),
    COLLAB_HISTORY_WINDOW: '20',
    COLLAB_LOG_LEVEL: 'info',
  }, async (s) => {
    const doc = randomId('e2e-budget');
    const writer = await session(s, { label: 'writer' });
    await writer.join(doc);
    const honest = await session(s, { label: 'honest' });
    await honest.join(doc);
    const stalled = [];
    for (let k = 0; k < 8; k++) {
      const c = await session(s, { label: `stalled${k}` });
      await c.join(doc);
      stalled.push(c);
    }
    // The server names every socket it closes for the budget; a reader is
    // resumed at once so that it reads what was sent and the close frame.
    const bySession = new Map(stalled.map((c) => [c.welcome.session, c]));
    const shed = [];
    s.lines.on('line', (line) => {
      const m = /session=(\S+) event=send_budget_close/.exec(line);
      const c = m && bySession.get(m[1]);
      if (c && !shed.includes(c)) {
        shed.push(c);
        c.ws._socket.resume();
      }
    });
    // stalled0 stops reading at once, the others 60 ops (7.5 MiB) later:
    // stalled0 has by far the most queued when the node first goes over.
    stalled[0].ws._socket.pause();
    const CHUNK = 128 * 1024;
    const OPS = 200;
    let rev = 0;
    for (let i = 1; i <= OPS; i++) {
      if (i === 60) for (const c of stalled.slice(1)) c.ws._socket.pause();
      const ch = String.fromCharCode(97 + (i % 26));
      const op = rev === 0 ? [ch.repeat(CHUNK)] : [ch.repeat(CHUNK), { d: CHUNK }];
      rev = (await writer.opAck(doc, rev, i, op, 20000)).rev;
      await honest.next({ type: 'op', doc, rev }, 20000);
    }
    await sleep(500);
    for (const c of stalled) if (!shed.includes(c)) c.ws._socket.resume();
    t.diagnostic(`closed for the send budget, in order: ${shed.map((c) => c.label).join(', ')}`);
    assert.ok(shed.length > 0, 'the node closed sockets over its send budget');
    assert.equal(shed[0], stalled[0], 'the biggest queue was closed first');
    for (const c of shed) {
      const cl = await c.waitClose(20000);
      assert.deepEqual(cl, { code: 1013, reason: 'the node is over its send budget' }, c.label);
      const revs = c.all.filter((m) => m.type === 'op').map((m) => m.rev);
      assert.deepEqual(revs, Array.from({ length: revs.length }, (_, i) => i + 1), `${c.label} got a gapless prefix`);
    }
    // The honest reader and the writer were never touched.
    assert.equal(rev, OPS);
    assert.ok(honest.isOpen && writer.isOpen);
    assert.deepEqual(honest.all.filter((m) => m.type === 'op').map((m) => m.rev),
      Array.from({ length: OPS }, (_, i) => i + 1));
    assert.equal(await metric(s, 'collab_send_budget_closes_total'), shed.length);
    for (const c of stalled) c.close();
    honest.close();
    writer.close();
  });
});

test('answers queued for readers that stopped reading stay within the send budget: RSS stays bounded', async (t) => {
  // Each `joined` carries the whole text and is encoded for its receiver:
  // 12 readers that stop reading and join 40 documents of 256 KiB are asked
  // to hold 120 MiB.
  const CAP = 8 * MiB;
  await withServer({
    ...NO_RATE_LIMIT,
    COLLAB_SEND_QUEUE_BYTES: String(256 * MiB),
    COLLAB_SEND_QUEUE_NODE_BYTES: String(CAP),
  }, async (s) => {
    const DOCS = 40;
    const TEXT = 256 * 1024;
    const docs = Array.from({ length: DOCS }, () => randomId('e2e-rss'));
    const writer = await session(s, { label: 'writer' });
    for (const d of docs) {
      await writer.join(d);
      await writer.opAck(d, 0, 1, ['x'.repeat(TEXT)]);
    }
    const readers = [];
    for (let k = 0; k < 12; k++) readers.push(await session(s, { label: `reader${k}` }));
    const honest = await session(s, { label: 'honest' });
    const before = memoryOf(s.proc.pid);
    for (const r of readers) {
      r.ws._socket.pause();
      for (const d of docs) r.send({ type: 'join', doc: d });
    }
    // An honest client joins every document meanwhile and gets every text.
    for (const d of docs) {
      const j = await honest.join(d);
      assert.equal(j.text.length, TEXT);
    }
    // Until the node stops closing readers (every answer was queued or dropped).
    let closes = 0;
    for (let stable = 0, i = 0; i < 120 && (stable < 8 || closes === 0); i++) {
      await sleep(250);
      const now = await metric(s, 'collab_send_budget_closes_total');
      stable = now === closes ? stable + 1 : 0;
      closes = now;
    }
    // Readers chosen are closed on their own threads, soon after: then what
    // stays queued fits the budget.
    let queued = await metric(s, 'collab_send_queue_bytes');
    for (let i = 0; i < 20 && queued > CAP; i++) {
      await sleep(250);
      queued = await metric(s, 'collab_send_queue_bytes');
    }
    const after = memoryOf(s.proc.pid);
    t.diagnostic(`${closes} readers closed for the send budget; queued now ${queued} B; ` +
      `RSS ${before.rss >> 20} MiB before, peak ${after.hwm >> 20} MiB`);
    assert.ok(closes >= readers.length / 2, `${closes} closes`);
    assert.ok(queued <= CAP, `${queued} B still queued`);
    assert.ok(after.hwm - before.rss < 48 * MiB, `peak RSS grew by ${(after.hwm - before.rss) >> 20} MiB`);
    const ack = await writer.opAck(docs[0], 1, 2, [TEXT, 'y']);
    assert.equal(ack.rev, 2);
    for (const r of readers) r.terminate();
    honest.close();
    writer.close();
  });
});

test('a user gets max-sockets-per-user sockets on a node; the next upgrade is refused 429 until one closes', async () => {
  await withServer({ COLLAB_MAX_SOCKETS_PER_USER: '3' }, async (s) => {
    const alice = () => s.token({ sub: 'alice' });
    const open = [];
    for (let i = 0; i < 3; i++) open.push(await session(s, { token: alice(), label: `alice${i}` }));
    const refused = await tryConnect(s, { token: alice() });
    assert.equal(refused.status, 429);
    assert.equal(refused.headers['retry-after'], '1', 'a 429 says when to try again');
    const body = JSON.parse(refused.body);
    assert.equal(body.error, 'too_many');
    assert.match(body.message, /max-sockets-per-user/);
    // Another user is not affected; alice's sockets still work.
    const bob = await session(s, { token: s.token({ sub: 'bob' }), label: 'bob' });
    await open[0].ping();
    // A socket closed (cleanly, or cut off) gives its slot back.
    const reconnect = async () => {
      for (let i = 0; i < 100; i++) {
        const r = await tryConnect(s, { token: alice() });
        if (r.status === 101) return r.client;
        assert.equal(r.status, 429);
        await sleep(50);
      }
      throw new Error('no slot came back');
    };
    open[0].close();
    await open[0].waitClose();
    const again = await reconnect();
    assert.equal((await tryConnect(s, { token: alice() })).status, 429);
    open[1].terminate();
    const again2 = await reconnect();
    assert.ok(await metric(s, 'collab_user_socket_refusals_total') >= 2);
    for (const c of [again, again2, open[2], bob]) c.close();
  });
});

test('a request head over max-header-bytes is answered 431 and the connection closes', async (t) => {
  await withServer({ COLLAB_MAX_HEADER_BYTES: '4096' }, async (s) => {
    const get = (pad) => `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(pad)}\r\n\r\n`;
    // Under the limit: served, kept alive (closed here by the client).
    const ok = await rawExchange(s, get(3000), { onResponse: (sock) => sock.end() });
    assert.equal(ok.status, 200);
    const big = await rawExchange(s, get(5000));
    assert.equal(big.status, 431);
    assert.match(big.text, /\r\nConnection: close\r\n/i);
    assert.equal(JSON.parse(big.body).error, 'too_large');
    // The upgrade goes through the same parser: a huge cookie is refused too.
    const upgrade = await tryConnect(s, { cookie: `collab_token=${'b'.repeat(8000)}` });
    assert.equal(upgrade.status, 431);
    // A peer that keeps sending after its 431 (and never closes) gets the
    // answer all the same, and is cut off by the closing bound (5 s) rather
    // than held open (slowloris after the answer).
    let trickle;
    const started = Date.now();
    const slow = await rawExchange(s, get(5000), {
      timeoutMs: 20000,
      halfOpen: true,
      onResponse: (sock) => { trickle = setInterval(() => sock.write('x'.repeat(100)), 100); },
    });
    clearInterval(trickle);
    t.diagnostic(`a peer sending on after its 431 was cut off after ${Date.now() - started} ms`);
    assert.equal(slow.status, 431);
    assert.equal((await s.fetch('/healthz')).status, 200);
  });
});

test('out of file descriptors, accept backs off, logs a line a second at most, counts the failures and recovers', async (t) => {
  // collabd runs with a low descriptor limit (a wrapper script sets it).
  const real = process.env.COLLABD || path.resolve(__dirname, '..', '..', 'build', 'bin', 'collabd');
  const wrapper = path.join(os.tmpdir(), `collabd-nofile-${process.pid}.sh`);
  fs.writeFileSync(wrapper, `#!/bin/sh\nulimit -n 96\nexec ${JSON.stringify(real)} "$@"\n`, { mode: 0o755 });
  const saved = process.env.COLLABD;
  process.env.COLLABD = wrapper;
  try {
    await withServer({}, async (s) => {
      const failedLines = [];
      s.lines.on('line', (l) => { if (/event=accept_failed/.test(l)) failedLines.push(l); });
      const watcher = await session(s, { label: 'watcher' });
      const inUse = fs.readdirSync(`/proc/${s.proc.pid}/fd`).length;
      // More connections than descriptors are left: the rest wait in the
      // backlog and every accept fails with EMFILE.
      const flood = [];
      for (let i = 0; i < 96 - inUse + 40; i++) {
        flood.push(await new Promise((resolve, reject) => {
          const sock = net.connect(s.port, s.host, () => resolve(sock));
          sock.on('error', reject);
        }));
      }
      await sleep(300);
      const cpu0 = cpuSecondsOf(s.proc.pid);
      const t0 = Date.now();
      await sleep(3000);
      const cpu = cpuSecondsOf(s.proc.pid) - cpu0;
      const window = (Date.now() - t0) / 1000;
      // Sockets already open are served meanwhile.
      await watcher.ping();
      const linesWhileOut = failedLines.length;
      for (const sock of flood) sock.destroy();
      // Recovers: the listener accepts again within its back-off (<= 1 s).
      let healthy = false;
      for (let i = 0; i < 100 && !healthy; i++) {
        try { healthy = (await s.fetch('/healthz')).status === 200; } catch { await sleep(100); }
      }
      assert.ok(healthy, 'the node accepts again');
      const errors = await metric(s, 'collab_accept_errors_total');
      t.diagnostic(`${inUse} descriptors in use at start; ${flood.length} connections; ` +
        `${errors} failed accepts counted; ${linesWhileOut} log lines and ${cpu.toFixed(2)} s CPU in ${window.toFixed(1)} s out of descriptors`);
      assert.ok(errors > 0, 'the failures are counted');
      assert.ok(linesWhileOut >= 1, 'the failure is logged');
      assert.ok(linesWhileOut <= Math.ceil(window) + 2, `${linesWhileOut} log lines`);
      assert.match(failedLines[0], /failed_since_last_log=\d+/);
      assert.ok(cpu < window / 4, `${cpu} s of CPU in ${window} s`);
      const c = await session(s, { label: 'after' });
      await c.ping();
      c.close();
      watcher.close();
    });
  } finally {
    if (saved === undefined) delete process.env.COLLABD; else process.env.COLLABD = saved;
    fs.rmSync(wrapper, { force: true });
  }
});

test('sockets that once sent a large frame do not keep its memory', async (t) => {
  await withServer(NO_RATE_LIMIT, async (s) => {
    const N = 120;
    const clients = [];
    for (let i = 0; i < N; i++) clients.push(await session(s, { label: `big${i}` }));
    const before = memoryOf(s.proc.pid);
    // One at a time: the node never holds more than one such frame at once.
    const frame = `{"type":"ping","pad":"${'p'.repeat(900 * 1024)}"}`;
    for (const c of clients) {
      c.send(frame);
      await c.next((m) => m.type === 'pong' || m.type === 'error');
    }
    const after = memoryOf(s.proc.pid);
    t.diagnostic(`RSS ${before.rss >> 20} MiB before, ${after.rss >> 20} MiB after ${N} frames of 900 KiB on ${N} sockets`);
    // Kept per socket, that would be over 100 MiB.
    assert.ok(after.rss - before.rss < 40 * MiB, `RSS grew by ${(after.rss - before.rss) >> 20} MiB`);
    for (const c of clients) c.close();
  });
});

test('20,000 WebSockets opened and closed leave the node where it was', async (t) => {
  // Tokens expire within seconds so that no expiry timer outlives the run:
  // this measures what sockets and sessions leave behind.
  await withServer({}, async (s) => {
    const cycles = async (n) => {
      let next = 0;
      const worker = async () => {
        let token = null;
        let minted = 0;
        while (next < n) {
          next++;
          if (Date.now() - minted > 500) { token = s.token({ sub: 'churn', ttl: 2 }); minted = Date.now(); }
          await rawOpenClose(s, token);
        }
      };
      await Promise.all(Array.from({ length: 16 }, worker));
    };
    const settle = async () => {
      await sleep(3500);  // every token expired, every socket gone
      for (let i = 0; i < 50 && await metric(s, 'collab_connections') !== 0; i++) await sleep(100);
    };
    // Warm-up at the same pace for longer than a token lives: the allocator
    // keeps the pages of the run's peak (closed connections wait for their
    // short tokens' expiry), so only a second run shows what each cycle
    // leaves.
    await cycles(10000);
    await settle();
    const before = memoryOf(s.proc.pid);
    const started = Date.now();
    await cycles(20000);
    const elapsed = Date.now() - started;
    await settle();
    const after = memoryOf(s.proc.pid);
    t.diagnostic(`20000 cycles in ${elapsed} ms; RSS ${before.rss >> 10} KiB before, ${after.rss >> 10} KiB after`);
    assert.equal(await metric(s, 'collab_connections'), 0);
    assert.equal(await metric(s, 'collab_send_queue_bytes'), 0);
    assert.equal(await metric(s, 'collab_unprocessed_input_bytes'), 0);
    assert.ok(after.rss - before.rss < 4 * MiB, `RSS grew by ${(after.rss - before.rss) >> 10} KiB`);
    const c = await session(s, { token: s.token({ sub: 'churn' }) });
    await c.ping();
    c.close();
  });
});
