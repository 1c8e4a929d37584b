'use strict';
// Elastic cluster under load: three nodes, then a fourth joins (seeded with
// the others): the documents whose rendezvous owner is now the newcomer move
// to it (documents.owner/epoch in PostgreSQL), the others stay put, and no
// client notices beyond a late ack (clients on nodes 1-3 keep their sockets,
// hear no error). Then the fourth node is drained (SIGTERM): its documents
// move back, its clients are closed with 1001 (not 1006) and resume on
// another node without losing anything, and it exits 0.
// docs/DESIGN.md "Cluster" (Elastic, Moves), "no health checks, abrupt shutdown";
// docs/PROTOCOL.md close 1001, /readyz.
require('./lib/deps');
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { randomId } = require('./lib/client');
const {
  sleep, mulberry32, seedFor, startLoad, settleAll, checkDocument, getDoc, waitFor, readyz, metrics,
} = require('./lib/durability');
const {
  Cluster, openSpread, openClusterEditor, stats, fmt, editorTrouble, docOwnedBy, rendezvousOwner,
} = require('./lib/cluster');

const DOCS = Number(process.env.E2E_CLUSTER_JOIN_DOCS || 20);
const PHASE_MS = Number(process.env.E2E_CLUSTER_PHASE_MS || 2000);
const CYCLES = Number(process.env.E2E_CLUSTER_CYCLES || 4);

let cluster;
let n4;

before(async () => {
  cluster = await Cluster.create('cjoin', 3);
  await cluster.start();
  await cluster.waitMembers();
  n4 = await cluster.addNode();  // not started yet
  cluster.setSeeds([n4]);        // every node, itself included
});

after(async () => {
  if (cluster) {
    console.log(`# cluster_join_drain: log events ${JSON.stringify(cluster.eventSummary())}`);
    await cluster.shutdown();
  }
});

const run = { editors: [], n4editors: [], phases: {} };

test('a fourth node joins under load: about a quarter of the documents move to it, nobody notices', { timeout: 120000 }, async (t) => {
  const rnd = mulberry32(seedFor(t));
  const [n1, n2, n3] = cluster.nodes;
  const four = cluster.nodes.map((n) => n.id);
  const three = [n1, n2, n3].map((n) => n.id);
  // random documents, plus a few that surely move (so the test never runs dry)
  const docs = Array.from({ length: DOCS }, () => randomId('cjoin'));
  while (docs.filter((d) => rendezvousOwner(four, d) === n4.id).length < 3) {
    docs.push(docOwnedBy('cjoin-mv', n4, cluster.nodes));
  }
  run.docs = docs;
  const byDoc = await openSpread(cluster, docs, [n1, n2, n3]);
  run.byDoc = byDoc;
  const editors = [...byDoc.values()].flat();
  run.editors = editors;
  run.stopLoad = startLoad(editors, rnd, { minPause: 20, maxPause: 60 });
  run.rnd = rnd;

  await sleep(PHASE_MS);
  const owners0 = await cluster.owners(docs);
  run.owners0 = owners0;
  for (const doc of docs) {
    assert.equal(owners0.get(doc).owner, rendezvousOwner(three, doc), `${doc}: owner before the join`);
  }
  t.diagnostic(`owners before the join: ${JSON.stringify(cluster.ownerSpread(owners0))}`);

  // the join
  const joinAt = Date.now();
  run.joinAt = joinAt;
  await n4.start();
  await cluster.waitReady([n4]);
  const members = await cluster.waitMembers();
  t.diagnostic(`members after the join: ${JSON.stringify(members)}`);
  const movers = docs.filter((d) => rendezvousOwner(four, d) === n4.id);
  await waitFor(async () => {
    const now = await cluster.owners(movers);
    return movers.every((d) => now.get(d).owner === n4.id);
  }, 20000, `the ${movers.length} documents placed on n4 owned by it in PostgreSQL`, 20);
  const movedAt = Date.now();
  // every moved document acks again
  await waitFor(() => movers.every((doc) => byDoc.get(doc).some((d) => d.acks.some((a) => a.t > movedAt))),
    20000, 'acks on every moved document');
  run.movedAt = movedAt;
  await sleep(PHASE_MS);
  const owners1 = await cluster.owners(docs);
  run.owners1 = owners1;
  const changed = docs.filter((d) => owners1.get(d).owner !== owners0.get(d).owner);
  t.diagnostic(`owners after the join: ${JSON.stringify(cluster.ownerSpread(owners1))}; ` +
    `${changed.length}/${docs.length} documents moved (expected about a quarter), join -> moved ${movedAt - joinAt} ms`);
  for (const doc of docs) {
    const o0 = owners0.get(doc);
    const o1 = owners1.get(doc);
    if (movers.includes(doc)) {
      assert.equal(o1.owner, n4.id, `${doc}: moved to n4`);
      assert.ok(o1.epoch > o0.epoch, `${doc}: epoch bumped by the takeover (${o0.epoch} -> ${o1.epoch})`);
    } else {
      assert.deepEqual({ owner: o1.owner, epoch: o1.epoch }, { owner: o0.owner, epoch: o0.epoch },
        `${doc}: not placed on n4, stays where it was (no needless move)`);
    }
  }
  assert.ok(changed.length >= 1 && changed.length <= Math.ceil(docs.length / 2),
    `${changed.length} of ${docs.length} documents moved: expected about a quarter`);
  // move pause: how late were the acks of ops sent around the move
  const windowed = (list) => list.flatMap((d) => d.ackLatency.filter((a) => a.t >= joinAt && a.t <= movedAt + 1000).map((a) => a.ms));
  const pauseMoved = stats(windowed(movers.flatMap((doc) => byDoc.get(doc))));
  const pauseStayed = stats(windowed(docs.filter((d) => !movers.includes(d)).flatMap((doc) => byDoc.get(doc))));
  t.diagnostic(`ack latency around the join, moved documents: ${fmt(pauseMoved)}`);
  t.diagnostic(`ack latency around the join, documents that stayed: ${fmt(pauseStayed)}`);
  console.log(`# cluster_join_drain: join -> moved ${movedAt - joinAt} ms; move pause (max ack latency of moved docs) ${pauseMoved.max} ms; ${fmt(pauseMoved)}`);
  run.phases.join = { changed: changed.length, docs: docs.length, joinToMovedMs: movedAt - joinAt, pauseMoved, pauseStayed };

  // nobody noticed: no socket closed by a server, no error (checked in detail below)
  const closes = editors.flatMap((d) => d.serverCloses().map((c) => `${d.label}: closed ${c.code} on ${cluster.nameOf(c.node)}, ${cluster.when(c.t)}`));
  assert.deepEqual(closes, [], 'clients on nodes 1-3 keep their sockets through the join');
  n4.assertAlive();
});

test('clients on n4 edit; then n4 is drained (SIGTERM): documents move back, its clients get 1001 and resume elsewhere', { timeout: 120000 }, async (t) => {
  assert.ok(run.editors.length > 0, 'the join test did not run');
  const { byDoc, docs, owners0, owners1 } = run;
  // one more editor on n4 for some documents (moved ones and others)
  const picked = docs.slice(0, Math.min(8, docs.length));
  for (const doc of picked) {
    const d = await openClusterEditor(cluster, doc, n4, `${doc}#n4`);
    assert.equal(d.socketNode, n4.id, 'welcome.node is n4');
    byDoc.get(doc).push(d);
    run.n4editors.push(d);
  }
  run.stopN4Load = startLoad(run.n4editors, run.rnd, { minPause: 20, maxPause: 60 });
  await sleep(PHASE_MS);
  const n4Acks = run.n4editors.reduce((n, d) => n + d.acks.length, 0);
  assert.ok(n4Acks > 0, 'editors on n4 got acks');

  // drain: SIGTERM; /readyz polled until the process is gone
  const drainAt = Date.now();
  run.drainAt = drainAt;
  const exited = n4.drain();
  const ready = [];
  let gone = false;
  exited.then(() => { gone = true; });
  const poll = (async () => {
    while (!gone) {
      const r = await readyz(n4);
      ready.push({ ms: Date.now() - drainAt, status: r.status, body: r.body.slice(0, 80) });
      await sleep(5);
    }
  })();
  const exit = await Promise.race([exited, sleep(30000).then(() => null)]);
  await poll;
  assert.ok(exit, 'n4 exited within 30 s of SIGTERM');
  const exitMs = Date.now() - drainAt;
  run.readyDuringDrain = ready;
  assert.deepEqual(exit, { code: 0, signal: null }, 'a drained node exits 0');
  const drained = drainedLine(n4, drainAt);
  assert.ok(drained && drained.left === 0, `n4 drained with documents_left=${drained && drained.left} after ${exitMs} ms; ` +
    `activated on n4 after its SIGTERM: ${JSON.stringify(n4.eventsOf('activate', drainAt).map((e) => e.line.replace(/^.*?doc=/, 'doc=')))}`);
  // its clients: closed 1001, then resumed on another node
  for (const d of run.n4editors) {
    const closes = d.serverCloses().filter((c) => c.node === n4.id);
    assert.deepEqual(closes.map((c) => c.code), [1001], `${d.label}: its socket on n4 closed once with 1001`);
  }
  await waitFor(() => run.n4editors.every((d) => d.connected && d.socketNode && d.socketNode !== n4.id),
    20000, 'n4\'s clients resumed on another node');
  const closedAt = Math.max(...run.n4editors.flatMap((d) => d.serverCloses().map((c) => c.t)));
  // documents back where they were before n4 joined
  const remaining = [n1Id(), n2Id(), n3Id()];
  let stuck = [];
  await waitFor(async () => {
    const now = await cluster.owners(docs);
    stuck = docs.filter((d) => !remaining.includes(now.get(d).owner));
    return stuck.length === 0;
  }, 20000, 'no document owned by n4 any more', 20).catch((e) => {
    e.message += `; still on n4: ${stuck.join(', ')}\n${stuck.slice(0, 2).map((d) => cluster.docHistory(d).join('\n')).join('\n---\n')}`;
    throw e;
  });
  const owners2 = await cluster.owners(docs);
  for (const doc of docs) {
    const o0 = owners0.get(doc);
    const o1 = owners1.get(doc);
    const o2 = owners2.get(doc);
    assert.equal(o2.owner, o0.owner, `${doc}: back with its owner from before the join`);
    if (o1.owner === n4.id) assert.ok(o2.epoch > o1.epoch, `${doc}: epoch bumped when it left n4`);
    else assert.equal(o2.epoch, o1.epoch, `${doc}: not on n4, not moved by the drain`);
  }
  const moved = docs.filter((d) => owners1.get(d).owner === n4.id);
  await waitFor(() => moved.every((doc) => byDoc.get(doc).some((d) => d.acks.some((a) => a.t > closedAt))),
    20000, 'acks on every document that left n4');
  const windowed = (list) => list.flatMap((d) => d.ackLatency.filter((a) => a.t >= drainAt && a.t <= drainAt + exitMs + 1000).map((a) => a.ms));
  const pause = stats(windowed(moved.flatMap((doc) => byDoc.get(doc))));
  const closeMs = closedAt - drainAt;
  t.diagnostic(`drain: SIGTERM -> sockets closed ${closeMs} ms, -> exit ${exitMs} ms; ack latency of the documents ` +
    `leaving n4 during the drain: ${fmt(pause)}`);
  t.diagnostic(`/readyz on n4 during the drain: ${JSON.stringify(compress(ready))}`);
  console.log(`# cluster_join_drain: drain SIGTERM -> 1001 ${closeMs} ms -> exit ${exitMs} ms; move pause ${pause.max} ms`);
  run.phases.drain = { closeMs, exitMs, pause };

  cluster.assertNoUnexpectedExit();
});

test(`${CYCLES} more join/drain cycles of n4 under load: every document keeps accepting ops, moves only between its two owners`, { timeout: 120000 }, async (t) => {
  assert.ok(run.editors.length > 0, 'the join test did not run');
  const { byDoc, docs, owners0 } = run;
  const four = cluster.nodes.map((n) => n.id);
  const movers = docs.filter((d) => rendezvousOwner(four, d) === n4.id);
  const figures = [];
  for (let c = 0; c < CYCLES; c++) {
    // join
    const joinAt = Date.now();
    await n4.start();
    await cluster.waitReady([n4]);
    await cluster.waitMembers();
    await waitFor(async () => {
      const now = await cluster.owners(movers);
      return movers.every((d) => now.get(d).owner === n4.id);
    }, 20000, `cycle ${c}: the moving documents on n4`, 20);
    const movedAt = Date.now();
    await everyDocAcks(byDoc, docs, movedAt, `cycle ${c} after the join`);
    await sleep(300 + Math.floor(run.rnd() * 700));
    // drain
    const drainAt = Date.now();
    const exit = await Promise.race([n4.drain(), sleep(30000).then(() => null)]);
    assert.deepEqual(exit, { code: 0, signal: null }, `cycle ${c}: n4 drained and exited 0 within 30 s`);
    const exitAt = Date.now();
    const drained = drainedLine(n4, drainAt);
    const late = n4.eventsOf('activate', drainAt).map((e) => e.line.replace(/^.*?doc=/, 'doc='));
    assert.ok(drained && drained.left === 0,
      `cycle ${c}: n4 drained with documents_left=${drained && drained.left} after ${exitAt - drainAt} ms; ` +
      `activated on n4 after its SIGTERM: ${JSON.stringify(late)}`);
    let stuck = [];
    await waitFor(async () => {
      const now = await cluster.owners(docs);
      stuck = docs.filter((d) => now.get(d).owner !== owners0.get(d).owner);
      return stuck.length === 0;
    }, 20000, `cycle ${c}: every document back with its owner before the join`, 20).catch((e) => {
      e.message += `; not back: ${stuck.join(', ')}\n${stuck.slice(0, 2).map((d) => cluster.docHistory(d).join('\n')).join('\n---\n')}` +
        `\n--- membership since the drain:\n${cluster.membershipHistory(drainAt - 10).join('\n')}`;
      throw e;
    });
    await everyDocAcks(byDoc, docs, exitAt, `cycle ${c} after the drain`);
    figures.push({ joinToMoved: movedAt - joinAt, drainToExit: exitAt - drainAt });
    await sleep(300 + Math.floor(run.rnd() * 700));
  }
  t.diagnostic(`cycles: ${JSON.stringify(figures)}`);
  cluster.assertNoUnexpectedExit();
});

// n4's `event=drained documents_left=N` line after `since`: {left, t}.
function drainedLine(node, since) {
  const e = node.eventsOf('drained', since)[0];
  if (!e) return null;
  const m = /documents_left=(\d+)/.exec(e.line);
  return { left: m ? Number(m[1]) : NaN, t: e.t };
}

// Every document gets an ack after `since` within 15 s (or the test fails
// with the server's log lines about one that does not).
async function everyDocAcks(byDoc, docs, since, what) {
  let missing = [];
  await waitFor(() => {
    missing = docs.filter((doc) => !byDoc.get(doc).some((d) => d.acks.some((a) => a.t > since)));
    return missing.length === 0;
  }, 15000, `${what}: an ack on every document`, 20).catch((e) => {
    const doc = missing[0];
    const ed = byDoc.get(doc);
    e.message += `; no ack on ${missing.join(', ')}; ${doc}: editors ${ed.map((d) => `${d.label} rev ${d.rev} ` +
      `connected ${d.connected} last errors ${JSON.stringify(d.errors.slice(-2))} ${d.lastReconnectError || ''}`).join(' | ')}` +
      `\n${cluster.docHistory(doc).join('\n')}`;
    throw e;
  });
}

test('after the join and the drain: nothing acked lost, gapless, exactly-once, converged through every node', { timeout: 120000 }, async (t) => {
  assert.ok(run.editors.length > 0, 'the join test did not run');
  const { byDoc, docs } = run;
  await sleep(PHASE_MS / 2);
  if (run.stopN4Load) await run.stopN4Load();
  await run.stopLoad();
  const all = [...byDoc.values()].flat();
  await settleAll(all, 60000);
  for (const d of all) d.errorsSeen = d.errors.splice(0);
  let total = 0;
  for (const doc of docs) {
    const ed = byDoc.get(doc);
    const r = await checkDocument(cluster.nodes[0], doc, ed, { services: cluster.services });
    total += r.rev;
    for (const n of cluster.nodes.slice(0, 3)) {
      const g = await getDoc(n, doc, cluster.token());
      assert.deepEqual({ rev: g.rev, text: g.text }, { rev: r.rev, text: ed[0].text }, `${doc}: GET on ${n.name}`);
    }
  }
  t.diagnostic(`${total} revisions over ${docs.length} documents; log events: ${JSON.stringify(cluster.eventSummary())}`);
  // clients on nodes 1-3 kept their sockets through join and drain
  const closes = run.editors.flatMap((d) => d.serverCloses().map((c) => `${d.label}: closed ${c.code} on ${cluster.nameOf(c.node)}, ${cluster.when(c.t)}`));
  assert.deepEqual(closes, [], 'clients on nodes 1-3 keep their sockets through the join and the drain');
  cluster.assertNoUnexpectedExit();
});

function n1Id() { return cluster.nodes[0].id; }
function n2Id() { return cluster.nodes[1].id; }
function n3Id() { return cluster.nodes[2].id; }

// [{ms, status}] -> runs of equal status: [{from, to, status, n}]
function compress(list) {
  const out = [];
  for (const r of list) {
    const last = out[out.length - 1];
    if (last && last.status === r.status) { last.to = r.ms; last.n++; } else out.push({ from: r.ms, to: r.ms, status: r.status, n: 1, body: r.body });
  }
  return out;
}

test('/readyz answers 503 while the node drains (a load balancer stops sending clients there)', { timeout: 10000 }, async () => {
  const ready = run.readyDuringDrain || [];
  const c = compress(ready);
  assert.ok(ready.some((r) => r.status === 503), `a 503 from /readyz between SIGTERM and the exit: ${JSON.stringify(c)}`);
  const first = ready.findIndex((r) => r.status !== 200);
  assert.ok(ready.slice(first).every((r) => r.status !== 200), `never ready again once draining: ${JSON.stringify(c)}`);
  const firstBad = ready.find((r) => r.status !== 200 && r.status !== 503 && r.status !== 0);
  assert.equal(firstBad, undefined, `/readyz answers 503 (or nothing once the process is gone): ${JSON.stringify(c)}`);
});

test('no client hears an error about the join or the drain (only late acks)', {
  timeout: 10000,
}, async (t) => {
  const trouble = [];
  const codes = {};
  for (const d of [...run.editors, ...run.n4editors]) {
    d.errors.unshift(...(d.errorsSeen || []));
    const tr = editorTrouble(d);
    if (tr.length) trouble.push(`${d.label}: ${tr.join('; ')}`);
    for (const e of [...d.unavailable, ...d.errors]) codes[e.code || 'unavailable'] = (codes[e.code || 'unavailable'] || 0) + 1;
  }
  t.diagnostic(`errors heard by clients: ${JSON.stringify(codes)}`);
  for (const d of [...run.editors, ...run.n4editors]) d.stop();
  assert.deepEqual(trouble, [], 'no error, no unavailable, no not_joined');
});

// Last: it stops the cluster. A node alone cannot hand its documents to
// anyone: it passivates them (a snapshot each) once its sockets are closed,
// instead of waiting out the 10 s deadline of a move that cannot happen.
test('the last node drains alone: its documents passivate and it exits at once', { timeout: 90000 }, async (t) => {
  const [n1, n2, n3] = cluster.nodes;
  await n2.drain();
  await n3.drain();
  await waitFor(async () => (await metrics(n1)).collab_live_documents > 0, 10000, 'live documents on n1');
  const live = (await metrics(n1)).collab_live_documents;
  const t0 = Date.now();
  const exited = await n1.drain();
  const ms = Date.now() - t0;
  const passivated = n1.eventsOf('passivated').map((e) => e.line);
  t.diagnostic(`n1 alone with ${live} live documents: exit ${JSON.stringify(exited)} ${ms} ms after SIGTERM; ${passivated.join(' ')}`);
  assert.equal(exited.code, 0, `n1 exit ${JSON.stringify(exited)}`);
  assert.ok(ms < 5000, `a lone node exits within 5 s of SIGTERM, not after the move deadline (${ms} ms)`);
  assert.equal(passivated.length, 1, 'one passivation');
  assert.match(passivated[0], /documents_left=0/);
});
