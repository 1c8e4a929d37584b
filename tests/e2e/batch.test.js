'use strict';
// Batched delivery (docs/PROTOCOL.md, hello `batch`) against a real collabd:
// the hello and welcome, one `ops` frame per tick shared by every batched
// session (a sender's own op in it is its ack), v1 sessions served as
// before on the same document, consecutive revisions without gaps or
// repeats, and everyone converging on the stored text.
require('./lib/deps');
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('./lib/server');
const { connect, session, randomId } = require('./lib/client');
const { getDoc } = require('./lib/http');

let srv;
// A small frame rate per document: 4 batched sessions get a 150 ms tick (the
// longest, batch_tick_max_ms), so the ops of several senders share a frame.
before(async () => { srv = await startServer({ COLLAB_BATCH_FRAMES_PER_S: '20' }); });
after(async () => { if (srv) { const alive = srv.alive(); await srv.stop(); if (!alive) srv.assertAlive(); } });

async function batchedSession(label) {
  const client = randomId('c');
  const c = await connect(srv, { label, client });
  c.clientId = client;
  c.send({ type: 'hello', client, v: 1, batch: true });
  c.welcome = await c.next('welcome');
  return c;
}

// Follows one session's view of `doc`: every committed op in order, from
// `op` frames and `ops` entries alike; acks counted apart.
function follow(c, doc, rev) {
  const view = { rev, ops: [], acks: 0, opsFrames: 0, largest: 0, gaps: [] };
  c.ws.on('message', (data) => {
    const m = JSON.parse(data.toString());
    if (m.doc !== doc) return;
    const take = (o) => {
      if (o.rev !== view.rev + 1) view.gaps.push(`${view.rev} -> ${o.rev}`);
      view.rev = o.rev;
      view.ops.push(o);
    };
    if (m.type === 'op') take(m);
    else if (m.type === 'ack') { view.acks++; view.rev = m.rev; }
    else if (m.type === 'ops') {
      view.opsFrames++;
      view.largest = Math.max(view.largest, m.ops.length);
      m.ops.forEach(take);
    }
  });
  return view;
}

test('hello batch is confirmed in welcome; without it welcome is v1', async () => {
  const b = await batchedSession('B');
  const v = await session(srv, { label: 'V' });
  try {
    assert.equal(b.welcome.batch, true);
    assert.equal(v.welcome.batch, undefined);
    b.send({ type: 'hello', client: 'x', v: 1, batch: 'yes' });
    const e = await b.next('error');
    assert.equal(e.code, 'bad_request'); // a second hello, whatever it says
  } finally { b.close(); v.close(); }
});

test('batched senders are acked by their op in a shared ops frame; v1 is unchanged', async () => {
  const doc = randomId('e2e-batch');
  const senders = await Promise.all(['A', 'B', 'C'].map(batchedSession));
  const watcher = await batchedSession('W');
  const v1 = await session(srv, { label: 'V1' });
  const all = [...senders, watcher, v1];
  try {
    const views = [];
    for (const c of all) {
      const j = await c.join(doc);
      views.push(follow(c, doc, j.rev));
    }
    const rounds = 15;
    // Each sender keeps one op in flight and waits for it in a batch.
    await Promise.all(senders.map(async (c, i) => {
      const view = views[i];
      for (let seq = 1; seq <= rounds; seq++) {
        c.send({ type: 'op', doc, rev: view.rev, seq, op: [String.fromCharCode(97 + i)] });
        await c.next((m) => m.type === 'ops' && m.ops.some((o) => o.client === c.clientId && o.seq === seq), 10000);
      }
    }));
    const total = rounds * senders.length;
    const stored = await getDoc(srv, doc);
    assert.equal(stored.rev, total);
    // Let the last batch reach everyone.
    const deadline = Date.now() + 5000;
    while (views.some((v) => v.rev < total) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    views.forEach((v, i) => {
      assert.deepEqual(v.gaps, [], `${all[i].label}: consecutive revisions`);
      assert.equal(v.rev, total, `${all[i].label}: saw every revision`);
    });
    // Batched sessions: no ack frames, every op (their own included) in ops frames.
    for (let i = 0; i < 4; i++) {
      assert.equal(views[i].acks, 0, `${all[i].label}: no ack frames`);
      assert.equal(views[i].ops.length, total);
    }
    assert.ok(views[3].largest > 1, `some ops frame held several ops (largest ${views[3].largest})`);
    assert.ok(views[3].opsFrames < total, `fewer frames (${views[3].opsFrames}) than ops (${total})`);
    // The v1 session: op frames only, none of them its own (it sent none).
    assert.equal(views[4].opsFrames, 0);
    assert.equal(views[4].ops.length, total);
    // Applying the ops as delivered gives the stored text.
    const { type } = require('ot-text-unicode');
    for (const v of views) assert.equal(v.ops.reduce((t, o) => type.apply(t, o.op), ''), stored.text);
  } finally { all.forEach((c) => c.close()); }
});
