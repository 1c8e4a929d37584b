import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeServer, until } from './fake-server.js';
import { makeClient, rng } from './helpers.js';
import { cpLength, type } from '../src/ot.js';

const ALPHABET = Array.from('abcxyz é字😀\n');

function randomEdit(doc, rnd) {
  const len = cpLength(doc.text);
  if (len > 0 && rnd() < 0.4) {
    const pos = Math.floor(rnd() * len);
    doc.delete(pos, 1 + Math.floor(rnd() * Math.min(4, len - pos)));
  } else {
    let s = '';
    for (let i = 1 + Math.floor(rnd() * 3); i > 0; i--) s += ALPHABET[Math.floor(rnd() * ALPHABET.length)];
    doc.insert(Math.floor(rnd() * (len + 1)), s);
  }
}

for (const [seed, batching] of [[1, false], [2, false], [3, false], [4, true], [5, true], [6, true]]) {
  const mode = batching ? ', batched delivery' : '';
  test(`random concurrent edits with drops and offline spells converge (seed ${seed}${mode})`, async () => {
    const rnd = rng(seed);
    const server = new FakeServer();
    server.batching = batching;
    server.commit('d', 'seed', ['start']);
    const clients = [0, 1, 2].map((i) => makeClient(server, { clientId: `c${i}` }));
    clients.forEach((c) => c.connect());
    const docs = clients.map((c) => c.doc('d'));
    await Promise.all(docs.map((d) => d.ready));
    for (let step = 0; step < 150; step++) {
      const i = Math.floor(rnd() * clients.length);
      const r = rnd();
      if (r < 0.03) clients[i].disconnect();
      else if (r < 0.08) clients[i].reconnect();
      else if (r < 0.1) [...server.sockets].find((s) => s.session?.client === `c${i}`)?.serverClose(1006);
      else if (r < 0.11) server.closeAll(1001);
      else randomEdit(docs[i], rnd);
      if (rnd() < 0.5) await new Promise((res) => setImmediate(res));
    }
    clients.forEach((c) => { if (c.status === 'offline') c.reconnect(); });
    await until(() => docs.every((d) => d.state === 'synced') &&
      docs.every((d) => d.rev === server.doc('d').ops.length), 'all synced', 10000);
    for (const d of docs) assert.equal(d.text, server.text('d'));
    // Exactly once: every (client, seq) committed once, seqs gapless.
    const bySeq = new Map();
    for (const o of server.doc('d').ops) {
      const k = `${o.client}/${o.seq}`;
      assert.ok(!bySeq.has(k), `duplicate commit ${k}`);
      bySeq.set(k, o);
    }
    if (batching) assert.ok(server.largestBatch > 1, 'some batch held several ops');
    // Replaying the log gives the text (the fake's own bookkeeping is sound).
    assert.equal(server.doc('d').ops.reduce((t, o) => type.apply(t, o.op), ''), server.text('d'));
  });
}
