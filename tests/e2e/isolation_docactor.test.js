'use strict';
// Isolation bounds of the document side (docs/DESIGN.md, contract 6), against a
// real collabd: the work of one op (components, transform over history), a
// client id owned by its user, and the cap on live documents per node. Each
// refusal is checked next to an honest request that is still served.
require('./lib/deps');
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { withServer } = require('./lib/server');
const { session, randomId } = require('./lib/client');

const newDoc = (p) => randomId(`e2e-iso-${p}`);

// `pairs` x (skip 1, insert "x"): 2 x pairs components.
function comb(pairs) {
  const op = [];
  for (let i = 0; i < pairs; ++i) op.push(1, 'x');
  return op;
}

test('one op is bounded by its components and its transform work', async () => {
  await withServer({
    COLLAB_MAX_OP_COMPONENTS: '40',
    COLLAB_MAX_TRANSFORM_WORK: '400',
  }, async (srv) => {
    const doc = newDoc('work');
    const a = await session(srv, { label: 'a' });
    const b = await session(srv, { label: 'b' });
    await a.join(doc);
    await b.join(doc);
    await a.opAck(doc, 0, 1, ['abcdefghijklmnopqrstuvwxyz']);
    // 42 components: too_large (refused while the frame is parsed), nothing
    // applied.
    let e = await b.op(doc, 1, 1, comb(21));
    assert.equal(e.type, 'error');
    assert.equal(e.code, 'too_large');
    assert.match(e.message, /more components than the limit of 40/);
    assert.equal(e.doc, doc);
    assert.equal(e.seq, 1);
    // 20 ops committed meanwhile; 40 components based on revision 1 are
    // too far behind for their size: 20 x (1 + 40) > 400.
    for (let seq = 2; seq <= 21; ++seq)
      await a.opAck(doc, seq - 1, seq, ['-']);
    e = await b.op(doc, 1, 1, comb(20));
    assert.equal(e.type, 'error');
    assert.equal(e.code, 'rev_too_old');
    assert.match(e.message, /too far behind for its size/);
    // Rebased on the current revision, the same op is accepted.
    const ack = await b.opAck(doc, 21, 1, comb(20));
    assert.equal(ack.rev, 22);
    // A small op as far behind is accepted too.
    assert.equal((await b.opAck(doc, 1, 2, [20, '!'])).rev, 23);
    a.close();
    b.close();
  });
});

test('a client id of another user is refused and its owner loses no edit', async () => {
  await withServer({}, async (srv) => {
    const doc = newDoc('spoof');
    const owner = await session(srv, { label: 'owner', tokenOpts: { sub: 'alice' } });
    await owner.join(doc);
    await owner.opAck(doc, 0, 1, ['mine ']);
    // Another user says hello with the owner's client id (ops carry it).
    const thief = await session(srv, {
      label: 'thief', client: owner.clientId, tokenOpts: { sub: 'mallory' },
    });
    thief.send({ type: 'join', doc });
    const e = await thief.error({ doc });
    assert.equal(e.code, 'forbidden');
    assert.match(e.message, /belongs to another user/);
    // The owner's next op is applied, not taken for a duplicate.
    const ack = await owner.opAck(doc, 1, 2, [5, 'again']);
    assert.equal(ack.rev, 2);
    // The same user on a second socket resends seq 2: re-acked once.
    const again = await session(srv, {
      label: 'owner2', client: owner.clientId, tokenOpts: { sub: 'alice' },
    });
    await again.join(doc);
    assert.equal((await again.opAck(doc, 1, 2, [5, 'again'])).rev, 2);
    const r = await srv.fetch(`/v1/docs/${doc}`, {
      headers: { authorization: `Bearer ${srv.token({ sub: 'alice' })}` },
    });
    assert.equal((await r.json()).text, 'mine again');
    for (const c of [owner, thief, again]) c.close();
  });
});

test('no document is activated over max_live_docs; live ones go on', async () => {
  await withServer({ COLLAB_MAX_LIVE_DOCS: '2' }, async (srv) => {
    const a = await session(srv, { label: 'a' });
    const [d1, d2, d3] = [newDoc('live1'), newDoc('live2'), newDoc('live3')];
    await a.join(d1);
    await a.join(d2);
    a.send({ type: 'join', doc: d3 });
    const e = await a.error({ doc: d3 });
    assert.equal(e.code, 'unavailable');
    assert.match(e.message, /live documents/);
    assert.equal((await a.opAck(d1, 0, 1, ['still here'])).rev, 1);
    a.close();
  });
});

// A storm of joins (a node restart with many sockets reconnecting): at most
// max_concurrent_activations documents load from PostgreSQL at once; the
// other joins wait and ask again, and every one of them is served.
test('a storm of joins loads a bounded number of documents at once', async (t) => {
  const { startServices } = require('./lib/durability');
  const services = await startServices('storm');
  try {
    await withServer({ ...services.env, COLLAB_MAX_CONCURRENT_ACTIVATIONS: '1' },
      async (srv) => {
        const docs = Array.from({ length: 40 }, () => newDoc('storm'));
        const clients = await Promise.all(
          docs.map((_, i) => session(srv, { label: `s${i}` })));
        // Every join sent at once, then every answer awaited.
        const joins = clients.map((c, i) => c.join(docs[i]));
        const joined = await Promise.all(joins);
        for (const j of joined)
          assert.equal(j.rev, 0);
        const metrics = await (await srv.fetch('/metrics')).text();
        const deferred = Number(
          /^collab_document_activations_deferred_total (\d+)/m.exec(metrics)[1]);
        t.diagnostic(`40 joins, 1 load at a time: ${deferred} activations deferred`);
        assert.ok(deferred > 0, `no activation was deferred (${deferred})`);
        // Every document works after the storm.
        await Promise.all(clients.map((c, i) => c.opAck(docs[i], 0, 1, ['x'])));
        for (const c of clients) c.close();
      });
  } finally {
    await services.stop();
  }
});

// Defect 7, HTTP activations: a read of a document that does not exist
// answers an empty document and creates nothing (no live actor, no row); a
// read of a stored, passivated document does not activate it either.
test('a read of a document creates nothing and activates nothing', async () => {
  const { startServices } = require('./lib/durability');
  const services = await startServices('peek');
  try {
    await withServer({ ...services.env, COLLAB_DOC_IDLE_MS: '200' }, async (srv) => {
      const live = async () => {
        const text = await (await srv.fetch('/metrics')).text();
        return Number(/^collab_live_documents (\d+)/m.exec(text)[1]);
      };
      const read = async (doc) => (await srv.fetch(`/v1/docs/${doc}`, {
        headers: { authorization: `Bearer ${srv.token()}` },
      })).json();
      const ghosts = Array.from({ length: 50 }, () => newDoc('ghost'));
      for (const doc of ghosts)
        assert.deepEqual(await read(doc), { doc, rev: 0, text: '' });
      assert.equal(await live(), 0);
      const rows = await services.sql(
        `SELECT count(*) FROM documents WHERE doc_id LIKE 'e2e-iso-ghost%'`);
      assert.equal(rows.trim(), '0');
      // A stored document: written, left, passivated; read from the store.
      const doc = newDoc('stored');
      const c = await session(srv, { label: 'writer' });
      await c.join(doc);
      await c.opAck(doc, 0, 1, ['hello']);
      await c.opAck(doc, 1, 2, [5, ' world']);
      c.close();
      const t0 = Date.now();
      while (await live() > 0 && Date.now() - t0 < 10000)
        await new Promise((r) => setTimeout(r, 100));
      assert.equal(await live(), 0, 'the document passivated');
      assert.deepEqual(await read(doc), { doc, rev: 2, text: 'hello world' });
      assert.equal(await live(), 0, 'the read did not activate it');
    });
  } finally {
    await services.stop();
  }
});
