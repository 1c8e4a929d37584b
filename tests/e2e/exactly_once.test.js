'use strict';
// Exactly once (docs/PROTOCOL.md): an op whose (client, doc, seq) was committed is
// never applied again; the server re-acks it with its original revision.
require('./lib/deps');
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startServer, withServer } = require('./lib/server');
const { session, randomId } = require('./lib/client');
const { getDoc, allOps } = require('./lib/http');

let srv;
before(async () => { srv = await startServer(); });
after(async () => { if (srv) { const alive = srv.alive(); await srv.stop(); if (!alive) srv.assertAlive(); } });

const newDoc = () => randomId('e2e-once');

test('the same op resent after its ack is re-acked with the same rev, not re-applied', async () => {
  const doc = newDoc();
  const a = await session(srv, { label: 'A' });
  const w = await session(srv, { label: 'W' });
  try {
    await a.join(doc);
    await w.join(doc);
    const ack1 = await a.opAck(doc, 0, 1, ['hello']);
    assert.equal(ack1.rev, 1);
    await w.next({ type: 'op', doc, rev: 1 });

    const again = await a.op(doc, 0, 1, ['hello']);
    assert.deepEqual(again, { type: 'ack', doc, seq: 1, rev: 1 });
    assert.deepEqual(await getDoc(srv, doc), { doc, rev: 1, text: 'hello' });

    // a duplicate with a different base rev and a different op body is still
    // the same (client, doc, seq): re-acked, not applied
    const ack2 = await a.opAck(doc, 1, 2, [5, ' world']);
    assert.equal(ack2.rev, 2);
    const dup = await a.op(doc, 2, 1, [11, '!!!']);
    assert.deepEqual(dup, { type: 'ack', doc, seq: 1, rev: 1 }, 'an older committed seq is re-acked with its own rev');
    assert.deepEqual(await getDoc(srv, doc), { doc, rev: 2, text: 'hello world' });

    // the watcher never saw a second copy: barrier through a new op
    await a.opAck(doc, 2, 3, [11, '.']);
    const ops = [];
    for (;;) {
      const m = await w.next({ type: 'op', doc });
      ops.push(m.rev);
      if (m.rev === 3) break;
    }
    assert.deepEqual(ops, [2, 3], 'no duplicate broadcast');
    const hist = await allOps(srv, doc);
    assert.deepEqual(hist.map((o) => [o.rev, o.seq]), [[1, 1], [2, 2], [3, 3]]);
  } finally { a.close(); w.close(); }
});

test('a duplicate sent on a new socket with the same client id is re-acked', async () => {
  const doc = newDoc();
  const cid = randomId('tab');
  const a = await session(srv, { label: 'A1', client: cid });
  try {
    await a.join(doc);
    assert.equal((await a.opAck(doc, 0, 1, ['abc'])).rev, 1);
    assert.equal((await a.opAck(doc, 1, 2, [3, 'def'])).rev, 2);
  } finally { a.terminate(); }
  const a2 = await session(srv, { label: 'A2', client: cid });
  try {
    await a2.join(doc);
    // the ack of seq 2 was "lost": the client resends it on the new socket
    assert.deepEqual(await a2.op(doc, 1, 2, [3, 'def']), { type: 'ack', doc, seq: 2, rev: 2 });
    assert.deepEqual(await getDoc(srv, doc), { doc, rev: 2, text: 'abcdef' });
    // and the sequence continues at 3
    assert.deepEqual(await a2.op(doc, 2, 3, ['>']), { type: 'ack', doc, seq: 3, rev: 3 });
    assert.equal((await getDoc(srv, doc)).text, '>abcdef');
  } finally { a2.close(); }
});

test('an op committed while its sender was gone is learned on resume as its own op', async () => {
  const doc = newDoc();
  const cid = randomId('tab');
  const a = await session(srv, { label: 'A1', client: cid });
  const w = await session(srv, { label: 'W' });
  await w.join(doc);
  await a.join(doc);
  await a.opAck(doc, 0, 1, ['x']);
  // send seq 2 and drop the socket without reading the ack; W proves it committed
  a.send({ type: 'op', doc, rev: 1, seq: 2, op: [1, 'y'] });
  const seen = await w.next({ type: 'op', doc, rev: 2 });
  assert.equal(seen.client, cid);
  a.terminate();
  const a2 = await session(srv, { label: 'A2', client: cid });
  try {
    a2.send({ type: 'join', doc, rev: 1 });
    const j = await a2.next({ type: 'joined', doc });
    const replay = a2.all.filter((m) => m.type === 'op');
    assert.deepEqual(replay, [{ type: 'op', doc, rev: 2, client: cid, seq: 2, op: [1, 'y'] }]);
    assert.equal(j.rev, 2);
    // resending it anyway is harmless
    assert.deepEqual(await a2.op(doc, 1, 2, [1, 'y']), { type: 'ack', doc, seq: 2, rev: 2 });
    assert.deepEqual(await getDoc(srv, doc), { doc, rev: 2, text: 'xy' });
  } finally { a2.close(); w.close(); }
});

test('seq skipping ahead is refused with seq_gap (and nothing is applied)', async () => {
  const doc = newDoc();
  const a = await session(srv);
  try {
    await a.join(doc);
    const e1 = await a.op(doc, 0, 2, ['skip']);
    assert.equal(e1.type, 'error', JSON.stringify(e1));
    assert.equal(e1.code, 'seq_gap');
    assert.equal(e1.doc, doc);
    assert.equal(e1.seq, 2);
    await a.opAck(doc, 0, 1, ['one']);
    const e2 = await a.op(doc, 1, 3, ['three']);
    assert.equal(e2.code, 'seq_gap');
    assert.equal(e2.seq, 3);
    assert.deepEqual(await getDoc(srv, doc), { doc, rev: 1, text: 'one' });
    // the right next seq still works
    assert.equal((await a.opAck(doc, 1, 2, ['two '])).rev, 2);
  } finally { a.close(); }
});

test('seqs are per (client, doc): another doc starts at 1 again', async () => {
  const d1 = newDoc();
  const d2 = newDoc();
  const a = await session(srv);
  try {
    await a.join(d1);
    await a.join(d2);
    await a.opAck(d1, 0, 1, ['a']);
    await a.opAck(d1, 1, 2, ['b']);
    assert.equal((await a.opAck(d2, 0, 1, ['c'])).rev, 1);
  } finally { a.close(); }
});

test('two clients may use the same seq numbers independently', async () => {
  const doc = newDoc();
  const a = await session(srv);
  const b = await session(srv);
  try {
    await a.join(doc);
    await b.join(doc);
    assert.equal((await a.opAck(doc, 0, 1, ['a'])).rev, 1);
    assert.equal((await b.opAck(doc, 1, 1, ['b'])).rev, 2);
    assert.equal((await getDoc(srv, doc)).text, 'ba');
  } finally { a.close(); b.close(); }
});

test('an op sent before the previous one was acked (breaking the discipline)', async (t) => {
  // docs/PROTOCOL.md: at most one op per (client, doc) may be unacknowledged; the
  // next waits for the ack. It does not say what the server does with a
  // pipelined op. Acceptable: both applied in seq order and acked in order,
  // or the second refused with an error carrying its seq. Never: out-of-order
  // acks, a gap, a double application.
  const doc = newDoc();
  const a = await session(srv);
  try {
    await a.join(doc);
    a.send({ type: 'op', doc, rev: 0, seq: 1, op: ['a'] });
    a.send({ type: 'op', doc, rev: 1, seq: 2, op: [1, 'b'] });
    const r1 = await a.next((m) => m.seq === 1 && (m.type === 'ack' || m.type === 'error'));
    const r2 = await a.next((m) => m.seq === 2 && (m.type === 'ack' || m.type === 'error'));
    assert.deepEqual(r1, { type: 'ack', doc, seq: 1, rev: 1 });
    const d = await getDoc(srv, doc);
    if (r2.type === 'ack') {
      assert.ok(a.all.indexOf(r1) < a.all.indexOf(r2), 'acks in seq order');
      t.diagnostic('server behaviour: pipelined op accepted and acked in order');
      assert.deepEqual(r2, { type: 'ack', doc, seq: 2, rev: 2 });
      assert.deepEqual(d, { doc, rev: 2, text: 'ab' });
    } else {
      t.diagnostic(`server behaviour: pipelined op refused: ${JSON.stringify(r2)}; ` +
        `answered ${a.all.indexOf(r2) < a.all.indexOf(r1) ? 'before' : 'after'} the ack of seq 1`);
      assert.equal(r2.doc, doc);
      assert.deepEqual(d, { doc, rev: 1, text: 'a' });
      // and the client can then send seq 2 properly
      assert.equal((await a.opAck(doc, 1, 2, [1, 'b'])).rev, 2);
    }
  } finally { a.close(); }
});

test('rapid duplicates (resent many times while unacked) commit once', async (t) => {
  // Duplicates of an op that is still in flight: docs/PROTOCOL.md only says what
  // happens to a committed (client, doc, seq): re-ack with its revision.
  // Whatever the server answers to the copies, every ack says rev 1 and the
  // op is applied once.
  const doc = newDoc();
  const a = await session(srv);
  try {
    await a.join(doc);
    for (let i = 0; i < 10; i++) a.send({ type: 'op', doc, rev: 0, seq: 1, op: ['once'] });
    const isAnswer = (m) => m.seq === 1 && (m.type === 'ack' || m.type === 'error');
    const answers = [await a.next(isAnswer)];
    for (let i = 1; i < 10; i++) {
      const m = await a.maybe(isAnswer, 2000);
      if (!m) break;
      answers.push(m);
    }
    const acks = answers.filter((m) => m.type === 'ack');
    t.diagnostic(`answers to 10 copies: ${acks.length} acks, errors ${JSON.stringify(answers.filter((m) => m.type === 'error').map((m) => m.code))}`);
    assert.ok(acks.length >= 1, `at least one ack: ${JSON.stringify(answers)}`);
    for (const k of acks) assert.deepEqual(k, { type: 'ack', doc, seq: 1, rev: 1 });
    assert.deepEqual(await getDoc(srv, doc), { doc, rev: 1, text: 'once' });
    assert.equal((await a.opAck(doc, 1, 2, [4, '!'])).rev, 2);
  } finally { a.close(); }
});

test('a committed op resent long after (base older than the history window) is still re-acked', async () => {
  // Exactly once comes before rev_too_old: the duplicate is recognised by
  // (client, doc, seq), not transformed.
  await withServer({ COLLAB_HISTORY_WINDOW: '5' }, async (s) => {
    const doc = newDoc();
    const a = await session(s, { label: 'A' });
    const b = await session(s, { label: 'B' });
    await a.join(doc);
    await b.join(doc);
    assert.equal((await a.opAck(doc, 0, 1, ['A'])).rev, 1);
    let rev = 1;
    for (let i = 1; i <= 12; i++) rev = (await b.opAck(doc, rev, i, [rev, 'b'])).rev;
    assert.equal(rev, 13);
    assert.deepEqual(await a.op(doc, 0, 1, ['A']), { type: 'ack', doc, seq: 1, rev: 1 });
    assert.deepEqual(await getDoc(s, doc), { doc, rev: 13, text: `A${'b'.repeat(12)}` });
    // and on a new socket too
    const a2 = await session(s, { label: 'A2', client: a.clientId });
    await a2.join(doc);
    assert.deepEqual(await a2.op(doc, 0, 1, ['A']), { type: 'ack', doc, seq: 1, rev: 1 });
    assert.equal((await getDoc(s, doc)).rev, 13);
    a.close(); a2.close(); b.close();
  });
});

test('the same seq sent at once from two live sockets of one client id commits once', async () => {
  // The reconnect race: the old socket is not dead yet when the new one
  // resends. Both copies are (client, doc, seq) = the same op.
  const doc = newDoc();
  const cid = randomId('tab');
  const a1 = await session(srv, { label: 'A1', client: cid });
  const a2 = await session(srv, { label: 'A2', client: cid });
  try {
    await a1.join(doc);
    await a2.join(doc);
    for (let round = 1; round <= 20; round++) {
      const op = round === 1 ? ['r1'] : [round - 1, `${round % 10}`];
      a1.send({ type: 'op', doc, rev: round - 1, seq: round, op });
      a2.send({ type: 'op', doc, rev: round - 1, seq: round, op });
      const isAnswer = (m) => m.seq === round && (m.type === 'ack' || m.type === 'error');
      const [x, y] = await Promise.all([a1.next(isAnswer), a2.next(isAnswer)]);
      assert.deepEqual(x, { type: 'ack', doc, seq: round, rev: round }, `A1 round ${round}`);
      assert.deepEqual(y, { type: 'ack', doc, seq: round, rev: round }, `A2 round ${round}`);
    }
    const d = await getDoc(srv, doc);
    assert.equal(d.rev, 20);
    const hist = await allOps(srv, doc);
    assert.deepEqual(hist.map((o) => o.seq), Array.from({ length: 20 }, (_, i) => i + 1));
  } finally { a1.close(); a2.close(); }
});
