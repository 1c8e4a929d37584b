'use strict';
// Three nodes, one PostgreSQL, one Redis. Clients spread over all three
// nodes edit the same documents concurrently (each document has an editor on
// every node, and some editors roam between nodes): everything converges (the
// editors' texts and GET /v1/docs/{id} on every node), the op log is gapless
// and exactly-once, each document keeps one owner (its epoch does not move
// while the membership is stable), and an op typed on one node reaches a
// client on another node in milliseconds (no polling): delivery latency
// p50/p99 is printed.
// docs/DESIGN.md "Cluster", contracts 2-3; docs/PROTOCOL.md "Exactly once".
require('./lib/deps');
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { performance } = require('node:perf_hooks');
const { randomId, session, connect } = require('./lib/client');
const {
  sleep, mulberry32, seedFor, startLoad, settleAll, checkDocument, getDoc, waitFor, metrics,
} = require('./lib/durability');
const {
  Cluster, openSpread, openClusterEditor, stats, fmt, editorTrouble, docOwnedBy, rendezvousOwner,
} = require('./lib/cluster');

const DOCS = Number(process.env.E2E_CLUSTER_DOCS || 6);
const LOAD_MS = Number(process.env.E2E_CLUSTER_MS || 8000);
const LAT_MS = Number(process.env.E2E_CLUSTER_LAT_MS || 6000);

let cluster;

before(async () => {
  cluster = await Cluster.create('cconv', 3);
  await cluster.start();
});

after(async () => {
  if (cluster) await cluster.shutdown();
});

test('three nodes: the cluster forms, every node is ready and serves any document', { timeout: 60000 }, async (t) => {
  const seen = await cluster.waitMembers();
  t.diagnostic(`members: ${JSON.stringify(seen)}`);
  const doc = randomId('cconv-hello');
  // a socket on each node, the same document, an op through each
  const cs = [];
  for (const n of cluster.nodes) {
    const c = await session(n, { label: `hello@${n.name}` });
    assert.equal(c.welcome.node, n.id, `welcome.node names the node holding the socket (${n.name})`);
    const j = await c.join(doc);
    cs.push({ c, rev: j.rev });
  }
  let rev = 0;
  for (let i = 0; i < cs.length; i++) {
    const { c } = cs[i];
    // wait until this socket saw everything before
    if (rev > 0) await c.next((m) => m.type === 'op' && m.doc === doc && m.rev === rev, 10000);
    const a = await c.opAck(doc, rev, 1, [`${i}`], 15000);
    assert.equal(a.rev, rev + 1);
    rev = a.rev;
  }
  for (const n of cluster.nodes) {
    const d = await getDoc(n, doc, cluster.token());
    assert.deepEqual({ rev: d.rev, text: d.text }, { rev: 3, text: '210' }, `GET on ${n.name}`);
  }
  const owners = await cluster.owners([doc]);
  const o = owners.get(doc);
  assert.ok(o && cluster.byId(o.owner), `documents.owner is a node id: ${JSON.stringify(o)}`);
  t.diagnostic(`${doc}: owner ${cluster.nameOf(o.owner)} epoch ${o.epoch}`);
  for (const { c } of cs) c.close();
});

// docs/PROTOCOL.md "Batched delivery", fan-out per node: the owner sends
// each batch once to the relay of each other node with subscribers, however
// many subscribers each node has.
test('batched viewers on three nodes: each batch crosses to each other node once', { timeout: 60000 }, async (t) => {
  await cluster.waitMembers(); // a settled placement: the document stays put
  const doc = randomId('cconv-fanout');
  const batched = async (n, label) => {
    const client = randomId('c');
    const c = await connect(n, { label, client });
    c.clientId = client;
    c.send({ type: 'hello', client, v: 1, batch: true });
    await c.next('welcome');
    await c.join(doc);
    return c;
  };
  const author = await batched(cluster.nodes[0], 'author');
  const viewers = [];
  for (const n of cluster.nodes) for (let i = 0; i < 8; i++) viewers.push(await batched(n, `v${i}@${n.name}`));
  try {
    const o = (await cluster.owners([doc])).get(doc);
    const owner = cluster.byId(o.owner);
    const before = await metrics(owner);
    const ops = 20;
    for (let seq = 1; seq <= ops; seq++) {
      author.send({ type: 'op', doc, rev: seq - 1, seq, op: ['x'] });
      await author.next((m) => m.type === 'ops' && m.ops.some((e) => e.client === author.clientId && e.seq === seq), 10000);
    }
    // Every viewer on every node saw every revision (single `op` frames
    // are legal too, around a join).
    const reached = (m) => (m.type === 'ops' && m.ops.some((e) => e.rev === ops)) || (m.type === 'op' && m.rev === ops);
    for (const v of viewers) await v.next(reached, 10000);
    const after = await metrics(owner);
    const d = (k) => (after[k] ?? 0) - (before[k] ?? 0);
    const batches = d('collab_delivery_batches_total');
    const remote = d('collab_delivery_remote_messages_total');
    t.diagnostic(`owner ${owner.name}: ${batches} batches, ${d('collab_delivery_messages_total')} messages, ${remote} to other nodes, for ${viewers.length + 1} subscribers on 3 nodes`);
    assert.ok(batches >= 1, 'batches were sent');
    // Two other nodes have subscribers: two cluster messages per batch, not 16.
    assert.ok(remote <= 2 * batches, `${remote} remote messages for ${batches} batches`);
    assert.ok(remote >= batches, 'the other nodes were reached through their relays');
  } finally {
    author.close();
    viewers.forEach((v) => v.close());
  }
});

test(`${DOCS} docs x 3 clients on 3 nodes edit concurrently (some roam): converge, gapless, exactly-once, one owner`,
  { timeout: 120000 }, async (t) => {
    const rnd = mulberry32(seedFor(t));
    const docs = Array.from({ length: DOCS }, () => randomId('cconv'));
    const byDoc = await openSpread(cluster, docs, cluster.nodes);
    const editors = [...byDoc.values()].flat();
    for (const d of editors) {
      assert.equal(d.socketNode, d.home.id, `${d.label}: welcome.node is its node`);
    }
    const stopLoad = startLoad(editors, rnd, { minPause: 5, maxPause: 25 });
    let roaming = true;
    let roams = 0;
    const roamLoop = (async () => {
      await sleep(1500);
      while (roaming) {
        // one editor drops its socket and resumes on another node
        const d = editors[Math.floor(rnd() * editors.length)];
        const others = cluster.nodes.filter((n) => n !== d.home);
        d.roam(others[Math.floor(rnd() * others.length)]);
        roams++;
        await sleep(300 + Math.floor(rnd() * 500));
      }
    })();
    let ownersEarly;
    try {
      await sleep(1000);
      ownersEarly = await cluster.owners(docs);
      await sleep(Math.max(0, LOAD_MS - 1000));
    } finally {
      roaming = false;
      await roamLoop;
      await stopLoad();
    }
    await settleAll(editors, 60000);
    const ownersLate = await cluster.owners(docs);

    let total = 0;
    for (const doc of docs) {
      const ed = byDoc.get(doc);
      const r = await checkDocument(cluster.nodes[0], doc, ed, { services: cluster.services });
      total += r.rev;
      // the same document through every node
      const views = [];
      for (const n of cluster.nodes) {
        const g = await getDoc(n, doc, cluster.token());
        views.push(g);
        assert.deepEqual({ rev: g.rev, text: g.text }, { rev: r.rev, text: ed[0].text },
          `${doc}: GET /v1/docs on ${n.name}`);
      }
      const e = ownersEarly.get(doc);
      const l = ownersLate.get(doc);
      assert.ok(l && cluster.byId(l.owner), `${doc}: documents.owner ${JSON.stringify(l)} is a node id`);
      assert.deepEqual(l, { ...e, head: l.head },
        `${doc}: owner and epoch stay put while the membership is stable (one owner, no ping-pong)`);
      assert.equal(l.head, r.rev, `${doc}: documents.head_rev`);
      for (const d of ed) {
        assert.deepEqual(editorTrouble(d), [], `${d.label}: no error, no unavailable, no protocol problem`);
        assert.deepEqual(d.serverCloses(), [], `${d.label}: no socket closed by a server`);
      }
      t.diagnostic(`${doc}: ${r.rev} revisions, ${r.length} code points, owner ${cluster.nameOf(l.owner)} ` +
        `epoch ${l.epoch}, sockets on ${[...new Set(ed.flatMap((d) => d.sockets))].map((id) => cluster.nameOf(id)).join(',')}`);
    }
    const ids = cluster.nodes.map((n) => n.id);
    const predicted = docs.filter((doc) => rendezvousOwner(ids, doc) === ownersLate.get(doc).owner).length;
    t.diagnostic(`owners: ${JSON.stringify(cluster.ownerSpread(ownersLate))}; ${predicted}/${docs.length} as ` +
      `predicted by rendezvous hashing; ${roams} roams; ${total} revisions`);
    const ack = stats(editors.flatMap((d) => d.ackLatency.map((a) => a.ms)));
    t.diagnostic(`ack latency (first send to ack): ${fmt(ack)}`);
    console.log(`# cluster_converge: ack latency ${fmt(ack)}`);
    assert.ok(total >= DOCS * 20, `too few ops committed (${total})`);
    for (const d of editors) d.stop();
    for (const n of cluster.nodes) n.assertAlive();
  });

test('cross-node delivery latency: an op typed on one node reaches clients on the others in milliseconds (no polling)',
  { timeout: 90000 }, async (t) => {
    // one document per writer node; a reader on every node (the writer's own
    // node included, for comparison)
    // writer on node i, owner (predicted by rendezvous hashing) node i+1:
    // a reader on node i+2 is on neither (writer -> owner -> reader: two hops)
    const N = cluster.nodes.length;
    const docs = cluster.nodes.map((n, i) => docOwnedBy(`cconv-lat-${n.name}`, cluster.nodes[(i + 1) % N], cluster.nodes));
    const writers = [];
    const samples = { cross: [], same: [], third: [], byPair: {} };
    const readers = [];
    for (let i = 0; i < docs.length; i++) {
      const doc = docs[i];
      const home = cluster.nodes[i];
      const w = await openClusterEditor(cluster, doc, home, `${doc}#writer@${home.name}`);
      writers.push(w);
      for (const n of cluster.nodes) {
        const c = await session(n, { label: `${doc}#reader@${n.name}` });
        await c.join(doc);
        const reader = { c, node: n, doc, writer: w };
        c.on('msg', (m) => {
          if (m.type !== 'op' || m.doc !== doc || m.client !== w.clientId) return;
          const sentAt = w.firstSent.get(m.seq);
          if (sentAt === undefined) return;
          const ms = performance.now() - sentAt;
          const cross = n !== home;
          (cross ? samples.cross : samples.same).push(ms);
          if (n !== home && n !== cluster.nodes[(i + 1) % N]) samples.third.push(ms);
          const k = `${home.name}->${n.name}`;
          (samples.byPair[k] = samples.byPair[k] || []).push(ms);
        });
        readers.push(reader);
      }
    }
    // a modest, steady rate: one op per writer every 40 ms (25/s each)
    let running = true;
    const loops = writers.map(async (w, i) => {
      let k = 0;
      while (running) {
        if (w.idle && w.connected) w.submit([String.fromCharCode(97 + ((k + i) % 26))]);
        k++;
        await sleep(40);
      }
    });
    await sleep(LAT_MS);
    running = false;
    await Promise.all(loops);
    await settleAll(writers, 20000);
    // every reader got every op
    for (const r of readers) {
      await waitFor(() => r.c.all.some((m) => m.type === 'op' && m.doc === r.doc && m.rev === r.writer.rev),
        10000, `${r.c.label} at rev ${r.writer.rev}`);
    }
    const owners = await cluster.owners(docs);
    for (let i = 0; i < docs.length; i++) {
      t.diagnostic(`${docs[i]}: writer on ${cluster.nodes[i].name}, owner ${cluster.nameOf(owners.get(docs[i]).owner)} ` +
        `(predicted ${cluster.nodes[(i + 1) % N].name}), ${writers[i].rev} ops`);
    }
    const third = stats(samples.third);
    t.diagnostic(`delivery latency, reader on neither the writer's nor the owner's node: ${fmt(third)}`);
    const cross = stats(samples.cross);
    const same = stats(samples.same);
    const ack = stats(writers.flatMap((w) => w.ackLatency.map((a) => a.ms)));
    t.diagnostic(`delivery latency, writer on one node -> reader on another: ${fmt(cross)}`);
    t.diagnostic(`delivery latency, writer and reader on the same node: ${fmt(same)}`);
    t.diagnostic(`writer ack latency: ${fmt(ack)}`);
    for (const [k, v] of Object.entries(samples.byPair)) t.diagnostic(`  ${k}: ${fmt(stats(v))}`);
    console.log(`# cluster_converge: cross-node delivery ${fmt(cross)}; third node ${fmt(third)}; same-node ${fmt(same)}; ack ${fmt(ack)}`);
    assert.ok(cross.n >= 50, `too few cross-node samples (${cross.n})`);
    assert.ok(cross.p99 < 2000, `cross-node delivery p99 ${cross.p99} ms: looks like polling`);
    for (const w of writers) {
      assert.deepEqual(editorTrouble(w), [], `${w.label}: trouble`);
      w.stop();
    }
    for (const r of readers) {
      const errs = r.c.all.filter((m) => m.type === 'error');
      assert.deepEqual(errs, [], `${r.c.label}: errors`);
      r.c.close();
    }
  });

// Last: it drains a node. A node's relay, once its handle has gone to the
// owner of a document, stays in CAF's registry; shutdown must end it, or the
// node never exits after SIGTERM (the harness's stop() hides that with a
// SIGKILL after 5 s, hence the drain here).
test('a node whose relay served another node\'s batches exits by itself on SIGTERM', { timeout: 60000 }, async () => {
  await cluster.waitMembers();
  const doc = randomId('cconv-relay-exit');
  const viewers = [];
  for (const n of cluster.nodes) {
    const client = randomId('c');
    const c = await connect(n, { label: `relay-exit@${n.name}`, client });
    c.send({ type: 'hello', client, v: 1, batch: true });
    await c.next('welcome');
    await c.join(doc);
    viewers.push({ c, n, client });
  }
  const o = (await cluster.owners([doc])).get(doc);
  const author = viewers.find((v) => v.n.id === o.owner);
  const other = viewers.find((v) => v.n.id !== o.owner);
  author.c.send({ type: 'op', doc, rev: 0, seq: 1, op: ['x'] });
  await other.c.next((m) => m.type === 'ops' && m.ops.some((e) => e.rev === 1), 10000);
  for (const v of viewers) v.c.close();
  const t0 = Date.now();
  const exited = await Promise.race([other.n.drain(), sleep(20000).then(() => null)]);
  assert.ok(exited, `${other.n.name} still running 20 s after SIGTERM (its relay never ended)`);
  assert.equal(exited.code, 0, `${other.n.name} exit: ${JSON.stringify(exited)} after ${Date.now() - t0} ms`);
});
