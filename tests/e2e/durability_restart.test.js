'use strict';
// Restart durability: ops committed before a graceful stop (SIGTERM) are all
// there after the restart (text, rev, op log), and exactly-once survives it:
// an old seq resent after the restart is re-acked with its original rev. Also
// SIGTERM under load (clients reconnect after 1001, nothing lost) and a
// passivated document (snapshot) reloaded after kill -9.
require('./lib/deps');
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { session, randomId } = require('./lib/client');
const {
  sleep, mulberry32, seedFor, startServices, Node, openEditors, startLoad, settleAll,
  checkDocument, waitFor, getDoc, allOps,
} = require('./lib/durability');
const { type } = require('./lib/otclient');

let services;
let node;

before(async () => {
  services = await startServices('restart');
  node = await Node.create(services);
  await node.start();
});

after(async () => {
  if (node) await node.kill().catch(() => {});
  if (services) await services.stop();
});

// One writer per document: each op is made on the current revision.
async function writeOps(c, doc, fromSeq, n, rev) {
  const acks = [];
  for (let i = 0; i < n; i++) {
    const seq = fromSeq + i;
    const op = i % 7 === 3 ? ['😀'] : [`${seq % 10}`];
    const a = await c.opAck(doc, rev, seq, op, 15000);
    assert.equal(a.rev, rev + 1, `seq ${seq} acked as ${a.rev} on base ${rev}`);
    rev = a.rev;
    acks.push({ seq, rev: a.rev });
  }
  return { acks, rev };
}

test('graceful restart: text, rev and op log survive; old seqs re-acked with their original rev', { timeout: 120000 }, async (t) => {
  const docs = [randomId('dur-restart'), randomId('dur-restart')];
  const writers = [];
  for (const doc of docs) {
    const c = await session(node, { label: `${doc}#w` });
    const j = await c.join(doc);
    assert.equal(j.rev, 0);
    const r1 = await writeOps(c, doc, 1, 120, 0);
    // a second client, then the first again
    const c2 = await session(node, { label: `${doc}#w2` });
    await c2.join(doc);
    const r2 = await writeOps(c2, doc, 1, 30, r1.rev);
    await c.next((m) => m.type === 'op' && m.rev === r2.rev);
    const r3 = await writeOps(c, doc, 121, 30, r2.rev);
    writers.push({ doc, c, c2, acks: [...r1.acks, ...r3.acks], acks2: r2.acks, head: r3.rev });
  }
  const before = new Map();
  for (const w of writers) {
    before.set(w.doc, { doc: await getDoc(node, w.doc), ops: await allOps(node, w.doc) });
    assert.equal(before.get(w.doc).doc.rev, 180);
  }

  const closes = writers.flatMap((w) => [w.c.waitClose(20000), w.c2.waitClose(20000)]);
  const exit = await node.stop();
  assert.deepEqual(exit, { code: 0, signal: null }, 'collabd exits 0 after SIGTERM');
  for (const cl of await Promise.all(closes)) assert.equal(cl.code, 1001, 'sockets closed with 1001 on shutdown');

  await node.start();
  for (const w of writers) {
    const b = before.get(w.doc);
    const now = await getDoc(node, w.doc);
    assert.deepEqual(now, b.doc, `${w.doc}: text and rev after the restart`);
    assert.deepEqual(await allOps(node, w.doc), b.ops, `${w.doc}: op log after the restart`);
    let text = '';
    for (const o of b.ops) text = type.apply(text, o.op);
    assert.equal(text, now.text);
  }

  // exactly once across the restart
  for (const w of writers) {
    const c = await session(node, { client: w.c.clientId, label: `${w.doc}#w'` });
    const j = await c.join(w.doc, w.head);
    assert.ok(!('text' in j), 'resume at the head: joined without text');
    assert.equal(j.rev, w.head);
    for (const k of [0, 1, 59, 119, 120, 149]) {
      const { seq, rev } = w.acks[k];
      const base = rev - 1;
      const a = await c.op(w.doc, base, seq, ['dup'], 15000);
      assert.deepEqual({ type: a.type, seq: a.seq, rev: a.rev }, { type: 'ack', seq, rev },
        `${w.doc}: resent seq ${seq} after the restart: ${JSON.stringify(a)}`);
    }
    const c2 = await session(node, { client: w.c2.clientId, label: `${w.doc}#w2'` });
    await c2.join(w.doc, w.head);
    const last2 = w.acks2[w.acks2.length - 1];
    const a2 = await c2.op(w.doc, last2.rev - 1, last2.seq, ['dup'], 15000);
    assert.deepEqual({ type: a2.type, rev: a2.rev }, { type: 'ack', rev: last2.rev }, `${w.doc}: second client's last seq re-acked`);
    assert.equal((await getDoc(node, w.doc)).rev, w.head, `${w.doc}: the resent ops were not applied again`);
    await c2.expectNone((m) => m.type === 'op', 200);
    // the next seq commits as the next revision; a gap is refused
    const n = await c.opAck(w.doc, w.head, 151, ['next'], 15000);
    assert.equal(n.rev, w.head + 1);
    const gap = await c.op(w.doc, w.head + 1, 153, ['gap'], 15000);
    assert.equal(gap.type, 'error');
    assert.equal(gap.code, 'seq_gap');
    const fresh = await session(node, { label: 'fresh' });
    const fj = await fresh.join(w.doc);
    assert.equal(fj.rev, w.head + 1);
    assert.equal(fj.text, `next${before.get(w.doc).doc.text}`);
    for (const x of [c, c2, fresh]) x.close();
  }
  t.diagnostic('ok');
});

test('SIGTERM under load: clients reconnect after 1001 and nothing is lost', { timeout: 180000 }, async (t) => {
  const rnd = mulberry32(seedFor(t));
  const docs = [randomId('dur-term'), randomId('dur-term'), randomId('dur-term')];
  const byDoc = await openEditors(node, docs, 3);
  const editors = [...byDoc.values()].flat();
  const closeCodes = editors.map((d) => d.client.waitClose(60000).then((c) => c.code));
  const stopLoad = startLoad(editors, rnd);
  try {
    await waitFor(() => editors.every((d) => d.acks.length >= 3), 30000, 'some acks for every editor');
    const exit = await node.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, 'collabd exits 0 after SIGTERM under load');
    const restarted = Date.now();
    await node.start();
    await Promise.all(editors.map((d) => waitFor(() => d.acks.some((a) => a.t > restarted), 30000,
      `${d.label}: an ack after the restart`)));
  } finally {
    await stopLoad();
  }
  await settleAll(editors, 60000);
  const codes = await Promise.all(closeCodes);
  assert.deepEqual(codes.filter((c) => c !== 1001), [], 'every socket closed with 1001 by the shutdown');
  for (const doc of docs) {
    const r = await checkDocument(node, doc, byDoc.get(doc), { services });
    t.diagnostic(`${doc}: ${r.rev} revisions`);
  }
  for (const d of editors) d.stop();
});

test('a passivated document (snapshot) survives kill -9; exactly-once from the store', { timeout: 120000 }, async (t) => {
  await node.stop();
  await node.start({ COLLAB_DOC_IDLE_MS: '300', COLLAB_SNAPSHOT_EVERY: '1000' });
  const doc = randomId('dur-passive');
  const c = await session(node, { label: 'writer' });
  await c.join(doc);
  const { acks, rev } = await writeOps(c, doc, 1, 60, 0);
  const b = await getDoc(node, doc);
  const ops = await allOps(node, doc);
  c.close();
  await c.waitClose();
  // passivation writes a snapshot at the head
  await waitFor(async () => (await services.sql(
    `SELECT count(*) FROM snapshots WHERE doc_id = '${doc}' AND rev = ${rev}`)).trim() === '1',
  20000, `a snapshot of ${doc} at rev ${rev} after passivation`, 100);
  await sleep(200);
  await node.kill('SIGKILL');
  await node.start();
  assert.deepEqual(await getDoc(node, doc), b, 'text and rev from the snapshot');
  assert.deepEqual(await allOps(node, doc), ops, 'op log');
  const c2 = await session(node, { client: c.clientId, label: 'writer again' });
  await c2.join(doc, rev);
  for (const k of [0, 30, 59]) {
    const a = await c2.op(doc, acks[k].rev - 1, acks[k].seq, ['dup'], 15000);
    assert.deepEqual({ type: a.type, rev: a.rev }, { type: 'ack', rev: acks[k].rev },
      `seq ${acks[k].seq} re-acked after reload from the snapshot: ${JSON.stringify(a)}`);
  }
  const n = await c2.opAck(doc, rev, 61, ['z'], 15000);
  assert.equal(n.rev, rev + 1);
  c2.close();
});

test('SIGTERM while PostgreSQL is down: the node still exits; nothing acked is lost', { timeout: 180000 }, async (t) => {
  const rnd = mulberry32(seedFor(t));
  const docs = [randomId('dur-term-pgdown'), randomId('dur-term-pgdown')];
  const byDoc = await openEditors(node, docs, 3);
  const editors = [...byDoc.values()].flat();
  const stopLoad = startLoad(editors, rnd);
  let pgDown = false;
  let stopDone;
  try {
    await waitFor(() => editors.every((d) => d.acks.length >= 3), 30000, 'some acks for every editor');
    await services.stopPg();
    pgDown = true;
    stopDone = Date.now();
    await waitFor(() => editors.some((d) => d.unavailable.length > 0), 10000, 'an unavailable answer');
    const t0 = Date.now();
    node.srv.proc.kill('SIGTERM');
    const exit = await Promise.race([node.srv.exitPromise, sleep(20000).then(() => null)]);
    const ms = Date.now() - t0;
    t.diagnostic(`SIGTERM with PostgreSQL down: exit ${JSON.stringify(exit)} after ${ms} ms`);
    assert.ok(exit, 'collabd did not exit within 20 s of SIGTERM while PostgreSQL was down');
    await services.startPg();
    pgDown = false;
    const restarted = Date.now();
    await node.start();
    await Promise.all(editors.map((d) => waitFor(() => d.acks.some((a) => a.t > restarted), 30000,
      `${d.label}: an ack after the restart`)));
    const during = editors.flatMap((d) => d.acks.filter((a) => a.t > stopDone + 200 && a.t < restarted));
    assert.deepEqual(during, [], 'acks while PostgreSQL was down');
  } finally {
    if (pgDown) await services.startPg().catch(() => {});
    if (!node.alive()) await node.start().catch(() => {});
    await stopLoad();
  }
  await settleAll(editors, 60000);
  for (const doc of docs) {
    const r = await checkDocument(node, doc, byDoc.get(doc), { services });
    t.diagnostic(`${doc}: ${r.rev} revisions`);
  }
  for (const d of editors) d.stop();
});
