'use strict';
// Many clients editing the same documents concurrently (random inserts and
// deletes, emoji and CJK) as fast as the one-op-in-flight discipline allows;
// afterwards every client and the server hold the same text, and the history
// is gapless and exactly-once.
require('./lib/deps');
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { isDeepStrictEqual } = require('node:util');
const { withServer } = require('./lib/server');
const { session, randomId } = require('./lib/client');
const { getDoc, allOps } = require('./lib/http');
const { OTDoc, randomOp, type } = require('./lib/otclient');
const { mulberry32 } = require('./lib/prng');

const DOCS = 3;
const CLIENTS_PER_DOC = 5;
const EDIT_MS = Number(process.env.E2E_CONVERGENCE_MS || 4000);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Checks the committed history of one document against the clients' view.
async function checkHistory(srv, doc, otdocs) {
  const final = await getDoc(srv, doc);
  // every client caught up with the server's rev, then holds the same text
  await Promise.all(otdocs.map((d) => d.waitRev(final.rev)));
  for (const d of otdocs) {
    assert.deepEqual(d.problems, [], `${d.client.label}: protocol problems`);
    assert.deepEqual(d.errors, [], `${d.client.label}: errors from the server`);
    assert.equal(d.rev, final.rev, `${d.client.label} rev`);
    assert.equal(d.text, final.text, `${d.client.label} text differs from the server's`);
  }
  const ops = await allOps(srv, doc);
  assert.deepEqual(ops.map((o) => o.rev), Array.from({ length: final.rev }, (_, i) => i + 1),
    'revisions 1..N, each exactly once');
  const seen = new Set();
  const perClient = new Map();
  let text = '';
  for (const o of ops) {
    const key = `${o.client}\u0000${o.seq}`;
    assert.ok(!seen.has(key), `(client, seq) committed twice: ${o.client} ${o.seq}`);
    seen.add(key);
    if (!perClient.has(o.client)) perClient.set(o.client, []);
    perClient.get(o.client).push(o.seq);
    text = type.apply(text, o.op);
  }
  assert.equal(text, final.text, 'replaying /ops from the empty text gives the server text');
  for (const [client, seqs] of perClient) {
    assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1),
      `seqs of ${client} are 1..k in commit order`);
  }
  // The server transforms a submitted op over B+1..N-1 with side 'left':
  // what it committed must be exactly what ot-text-unicode gives.
  const byClient = new Map(otdocs.map((d) => [d.clientId, d]));
  let checked = 0;
  for (const o of ops) {
    const d = byClient.get(o.client);
    const sends = d && d.sent.get(o.seq);
    assert.ok(sends, `committed op ${o.rev} (${o.client}/${o.seq}) was never sent`);
    const candidates = sends.map(({ op, base }) => {
      let x = op;
      for (let r = base + 1; r < o.rev; r++) x = type.transform(x, ops[r - 1].op, 'left');
      return x;
    });
    assert.ok(candidates.some((x) => isDeepStrictEqual(x, o.op)),
      `rev ${o.rev}: committed ${JSON.stringify(o.op)}, ot-text-unicode gives ${JSON.stringify(candidates)}`);
    checked++;
  }
  assert.equal(checked, ops.length);
  const acked = otdocs.reduce((n, d) => n + d.acked, 0);
  assert.equal(acked, final.rev, 'every committed op was acked to exactly one client');
  return { rev: final.rev, length: [...final.text].length };
}

async function run(t, { reconnectProb = 0 } = {}) {
  const seed = Number(process.env.E2E_SEED || Math.floor(Math.random() * 2 ** 31));
  t.diagnostic(`seed ${seed}`);
  const rnd = mulberry32(seed);
  await withServer({ COLLAB_RATE_LIMIT: '100000', COLLAB_RATE_BURST: '100000' }, async (srv) => {
    const docs = Array.from({ length: DOCS }, () => randomId('e2e-conv'));
    const byDoc = new Map(docs.map((d) => [d, []]));
    const all = [];
    for (const doc of docs) {
      for (let i = 0; i < CLIENTS_PER_DOC; i++) {
        const c = await session(srv, { label: `${doc}#${i}` });
        const d = new OTDoc(c, doc);
        await d.join();
        byDoc.get(doc).push(d);
        all.push(d);
      }
    }
    const deadline = Date.now() + EDIT_MS;
    let reconnects = 0;
    // halfway through, one more editor joins each document (a fresh join in
    // the middle of the stream: the seam between joined and the next op)
    const late = (async () => {
      await sleep(EDIT_MS / 2);
      const joined = [];
      for (const doc of docs) {
        const c = await session(srv, { label: `${doc}#late` });
        const d = new OTDoc(c, doc);
        await d.join();
        byDoc.get(doc).push(d);
        joined.push(d);
      }
      await Promise.all(joined.map(async (d) => {
        while (Date.now() < deadline) {
          d.submit(randomOp(d.text, rnd));
          await sleep(1 + Math.floor(rnd() * 3));
          if (d.errors.length > 0 || d.problems.length > 0) break;
        }
      }));
      return joined;
    })();
    await Promise.all(all.map(async (d) => {
      while (Date.now() < deadline) {
        // several local edits per turn; they compose while one op is in flight
        const k = 1 + Math.floor(rnd() * 3);
        for (let i = 0; i < k; i++) d.submit(randomOp(d.text, rnd));
        if (reconnectProb > 0 && rnd() < reconnectProb) {
          reconnects++;
          await d.reconnect(srv);
        }
        await sleep(Math.floor(rnd() * 3));
        if (d.errors.length > 0 || d.problems.length > 0) break;
      }
    }));
    all.push(...await late);
    await Promise.all(all.map((d) => d.settle(30000)));
    let total = 0;
    for (const doc of docs) {
      const r = await checkHistory(srv, doc, byDoc.get(doc));
      total += r.rev;
      t.diagnostic(`${doc}: ${r.rev} revisions, ${r.length} code points`);
    }
    if (reconnectProb > 0) t.diagnostic(`${reconnects} reconnects`);
    assert.ok(total >= DOCS * 10, `too few ops committed (${total}): the test did not exercise much`);
    for (const d of all) d.client.close();
    srv.assertAlive();
  });
}

test(`${DOCS} docs x ${CLIENTS_PER_DOC} clients, random concurrent edits converge`, async (t) => {
  await run(t);
});

test('convergence with random reconnects (resume + resend with the same seq)', async (t) => {
  await run(t, { reconnectProb: 0.01 });
});
