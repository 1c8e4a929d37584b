'use strict';
// Bursts, slow readers, floods (docs/DESIGN.md): bounded per-connection send
// queues (a slow reader is closed with 1013), floods from one socket do not
// stop the others, connection churn does not crash the node.
require('./lib/deps');
const { test } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { withServer } = require('./lib/server');
const { connect, tryConnect, session, randomId } = require('./lib/client');
const { getDoc } = require('./lib/http');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('a slow reader is closed with 1013 while the writer keeps getting acks quickly', async (t) => {
  await withServer({
    COLLAB_SEND_QUEUE_BYTES: '65536',
    COLLAB_RATE_LIMIT: '100000',
    COLLAB_RATE_BURST: '100000',
    COLLAB_RATE_LIMIT_BYTES: '1000000000',
    COLLAB_RATE_BURST_BYTES: '1000000000',
  }, async (s) => {
    const doc = randomId('e2e-slow');
    const slow = await session(s, { label: 'slow' });
    await slow.join(doc);
    const writer = await session(s, { label: 'writer' });
    await writer.join(doc);
    // the slow one stops reading from its TCP socket
    slow.ws._socket.pause();

    // 32 KiB replacements keep the document small while each op is big on
    // the wire; 40 MiB in all is far more than the kernel buffers hold.
    const CHUNK = 32 * 1024;
    const OPS = 1280;
    let rev = 0;
    let maxLatency = 0;
    const latencies = [];
    const t0 = Date.now();
    for (let i = 1; i <= OPS; i++) {
      const ch = String.fromCharCode(97 + (i % 26));
      const op = rev === 0 ? [ch.repeat(CHUNK)] : [ch.repeat(CHUNK), { d: CHUNK }];
      const start = Date.now();
      const ack = await writer.opAck(doc, rev, i, op);
      const dt = Date.now() - start;
      latencies.push(dt);
      maxLatency = Math.max(maxLatency, dt);
      rev = ack.rev;
    }
    const elapsed = Date.now() - t0;
    latencies.sort((a, b) => a - b);
    const p99 = latencies[Math.floor(latencies.length * 0.99)];
    t.diagnostic(`${OPS} ops of 32 KiB in ${elapsed} ms; ack latency p50 ${latencies[latencies.length >> 1]} ms, p99 ${p99} ms, max ${maxLatency} ms`);
    assert.equal(rev, OPS);
    // the stalled reader must not slow the writer down: no ack waits for it
    assert.ok(maxLatency < 3000, `max ack latency ${maxLatency} ms`);
    assert.ok(p99 < 1000, `p99 ack latency ${p99} ms`);

    // now read what the server managed to send the slow one: a gapless prefix
    // of the ops, then the close 1013
    slow.ws._socket.resume();
    const cl = await slow.waitClose(30000);
    const ops = slow.all.filter((m) => m.type === 'op').map((m) => m.rev);
    t.diagnostic(`slow reader got ${ops.length} ops before close ${JSON.stringify(cl)}`);
    assert.equal(cl.code, 1013, `slow reader closed with 1013, got ${JSON.stringify(cl)}`);
    assert.ok(ops.length < OPS, 'the slow reader was cut off before getting everything');
    assert.deepEqual(ops, Array.from({ length: ops.length }, (_, i) => i + 1), 'what it got is gapless');

    // the writer's socket is unaffected; the document is intact
    assert.ok(writer.isOpen);
    const d = await getDoc(s, doc);
    assert.equal(d.rev, OPS);
    assert.equal([...d.text].length, CHUNK);
    // the slow client can come back (a resume that replays one op)
    const back = await session(s, { label: 'back', client: slow.clientId });
    back.send({ type: 'join', doc, rev: OPS - 1 });
    const j = await back.next({ type: 'joined', doc }, 20000);
    assert.equal(j.rev, OPS);
    assert.deepEqual(back.all.filter((m) => m.type === 'op').map((m) => m.rev), [OPS]);
    back.close();
    writer.close();
  });
});

test('a flood of garbage frames from one socket does not stop the others', async (t) => {
  await withServer({}, async (s) => {
    const doc = randomId('e2e-flood');
    const good = await session(s, { label: 'good' });
    await good.join(doc);
    const peer = await session(s, { label: 'peer' });
    await peer.join(doc);

    const flooders = [];
    for (let k = 0; k < 3; k++) flooders.push(await session(s, { label: `flooder${k}` }));
    let stop = false;
    const flooding = flooders.map(async (f, k) => {
      const junk = ['{"type":', 'garbage', '[[[[[[[[', '{"type":"op","doc":"x","rev":0,"seq":1,"op":[0]}',
        JSON.stringify({ type: 'join', doc: '/bad' }), JSON.stringify({ type: 'nope', pad: 'x'.repeat(4000) })];
      let i = 0;
      while (!stop && f.isOpen && i < 200000) {
        // keep the client's own send buffer bounded
        if (f.ws.bufferedAmount > 1 << 20) { await sleep(1); continue; }
        f.ws.send(junk[(i + k) % junk.length]);
        if (++i % 500 === 0) await sleep(0);
      }
      return i;
    });

    // meanwhile the good client edits and the peer sees every op
    const latencies = [];
    let rev = 0;
    for (let i = 1; i <= 100; i++) {
      const start = Date.now();
      const ack = await good.opAck(doc, rev, i, rev === 0 ? ['x'] : [rev, 'x'], 10000);
      latencies.push(Date.now() - start);
      rev = ack.rev;
      await peer.next({ type: 'op', doc, rev });
    }
    const h = await s.fetch('/healthz');
    assert.equal(h.status, 200);
    await h.text();
    stop = true;
    const sent = await Promise.all(flooding);
    latencies.sort((a, b) => a - b);
    t.diagnostic(`flooders sent ${sent.join(', ')} frames; good client's ack p50 ${latencies[50]} ms, p90 ${latencies[90]} ms, p95 ${latencies[95]} ms, max ${latencies[99]} ms; ` +
      `flooders closed: ${flooders.map((f) => JSON.stringify(f.closeInfo)).join(', ')}`);
    assert.ok(latencies[90] < 1000, `p90 ack latency under flood ${latencies[90]} ms`);
    assert.ok(latencies[99] < 5000, `max ack latency under flood ${latencies[99]} ms`);
    assert.deepEqual(await getDoc(s, doc), { doc, rev: 100, text: 'x'.repeat(100) });
    for (const f of flooders) f.terminate();
    good.close();
    peer.close();
  });
});

test('many connections opened and closed quickly do not crash the node', async (t) => {
  await withServer({}, async (s) => {
    const doc = randomId('e2e-churn');
    const watcher = await session(s, { label: 'watcher' });
    await watcher.join(doc);
    let opened = 0;
    let refused = 0;
    const ROUNDS = 8;
    const BATCH = 40;
    for (let r = 0; r < ROUNDS; r++) {
      await Promise.all(Array.from({ length: BATCH }, async (_, i) => {
        const mode = (r * BATCH + i) % 5;
        if (mode === 0) {
          // raw TCP: half an HTTP upgrade, then gone
          await new Promise((resolve) => {
            const sock = net.connect(s.port, s.host, () => {
              sock.write('GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n');
              setTimeout(() => { sock.destroy(); resolve(); }, 5);
            });
            sock.on('error', resolve);
          });
          return;
        }
        const res = await tryConnect(s, {}).catch(() => null);
        if (!res || res.status !== 101) { refused++; return; }
        opened++;
        const c = res.client;
        if (mode === 1) { c.terminate(); return; }              // right after the upgrade
        c.send({ type: 'hello', client: randomId('churn'), v: 1 });
        if (mode === 2) { c.terminate(); return; }              // mid-handshake of the protocol
        c.send({ type: 'join', doc });
        c.send({ type: 'presence', doc, data: { i } });
        if (mode === 3) { c.terminate(); return; }              // joined, abruptly gone
        await c.next({ type: 'joined', doc }).catch(() => {});
        c.close();                                               // clean close
      }));
    }
    t.diagnostic(`${opened} sockets opened, ${refused} refused`);
    assert.ok(opened > ROUNDS * BATCH / 2, 'most upgrades succeeded');
    s.assertAlive();
    const h = await s.fetch('/healthz');
    assert.equal(h.status, 200);
    await h.text();
    // the node still serves: a new client edits, the watcher sees it
    const c = await connect(s);
    await c.hello();
    await c.join(doc);
    const ack = await c.opAck(doc, 0, 1, ['still alive']);
    assert.equal(ack.rev, 1);
    await watcher.next({ type: 'op', doc, rev: 1 });
    const m = await s.fetch('/metrics');
    assert.equal(m.status, 200);
    await m.text();
    c.close();
    watcher.close();
  });
});

test('a prompt reader is not cut off by a join answer bigger than the send queue', async () => {
  // COLLAB_SEND_QUEUE_BYTES bounds what waits for a *slow* reader (close
  // 1013: "too slow a reader"). A client that reads promptly must still be
  // able to join a document whose text (or resume replay) is larger than the
  // queue; otherwise with the defaults (64 MiB documents, 16 MiB queue) a
  // large document could never be opened.
  await withServer({
    COLLAB_SEND_QUEUE_BYTES: '65536',
    COLLAB_RATE_LIMIT: '100000',
    COLLAB_RATE_BURST: '100000',
    COLLAB_RATE_LIMIT_BYTES: '1000000000',
    COLLAB_RATE_BURST_BYTES: '1000000000',
  }, async (s) => {
    const doc = randomId('e2e-bigjoin');
    const w = await session(s, { label: 'writer' });
    await w.join(doc);
    const CHUNK = 30 * 1024;
    for (let i = 1; i <= 4; i++) await w.opAck(doc, i - 1, i, [(i - 1) * CHUNK, 'x'.repeat(CHUNK)].filter((c) => c !== 0));
    // 120 KiB of text in one `joined`
    const r = await session(s, { label: 'reader' });
    r.send({ type: 'join', doc });
    const j = await Promise.race([
      r.next({ type: 'joined', doc }, 20000),
      r.closed.then((cl) => { throw new Error(`full join of a 120 KiB document closed the prompt reader: ${JSON.stringify(cl)}`); }),
    ]);
    assert.equal(j.text.length, 4 * CHUNK);
    r.close();
    // a resume replaying 4 × 30 KiB
    const q = await session(s, { label: 'resumer' });
    q.send({ type: 'join', doc, rev: 0 });
    const jq = await Promise.race([
      q.next({ type: 'joined', doc }, 20000),
      q.closed.then((cl) => { throw new Error(`a resume replaying 120 KiB closed the prompt reader: ${JSON.stringify(cl)}`); }),
    ]);
    assert.equal(jq.rev, 4);
    q.close();
    w.close();
  });
});
