'use strict';
// Split brain, the simplest honest way: two clustered nodes (cluster ports
// set) started WITHOUT seeds, so each believes it is alone and owns every
// document, both on the same PostgreSQL. Clients on both edit the same
// documents: the fence (documents.epoch, checked by every commit) lets one
// actor commit at a time; the loser's actor stops, its clients hear
// `unavailable` (or their op waits for the re-resolve) and are answered by
// retrying with the same seq. Afterwards the op log is gapless, no (client,
// seq) is committed twice, every acked op is in the log with its acked rev,
// every op a client saw is the committed one. Then the split is healed
// (node A restarted with B as seed) and everything converges through both.
// docs/DESIGN.md contract 2 (one writer per document, even when nodes disagree
// about membership), contract 3.
require('./lib/deps');
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { randomId } = require('./lib/client');
const {
  sleep, mulberry32, seedFor, startLoad, settleAll, checkDocument, getDoc, waitFor,
} = require('./lib/durability');
const { Cluster, openSpread, stats, fmt, editorTrouble } = require('./lib/cluster');

const LOAD_MS = Number(process.env.E2E_CLUSTER_FENCE_MS || 5000);

let cluster;
let A;
let B;

before(async () => {
  cluster = await Cluster.create('cfence', 2);
  [A, B] = cluster.nodes;
  for (const n of cluster.nodes) delete n.env.COLLAB_SEEDS;  // each one alone
  await cluster.start();
});

after(async () => {
  if (cluster) {
    console.log(`# cluster_fence: log events ${JSON.stringify(cluster.eventSummary())}`);
    await cluster.shutdown();
  }
});

const run = { editors: [] };

test('two nodes without seeds both serve one document on one PostgreSQL: the fence keeps one history', { timeout: 120000 }, async (t) => {
  const rnd = mulberry32(seedFor(t));
  await sleep(500);
  assert.deepEqual([...A.members], [], 'A sees no member (it was given no seed)');
  assert.deepEqual([...B.members], [], 'B sees no member (it was given no seed)');
  const docs = [randomId('cfence'), randomId('cfence')];
  run.docs = docs;
  // per document: two editors on A, two on B
  const byDoc = await openSpread(cluster, docs, [A, B, A, B]);
  run.byDoc = byDoc;
  const editors = [...byDoc.values()].flat();
  run.editors = editors;
  for (const d of editors) assert.equal(d.socketNode, d.home.id, `${d.label}: welcome.node`);
  const stopLoad = startLoad(editors, rnd, { minPause: 5, maxPause: 20 });
  // watch documents.owner flip between the two nodes
  const flips = new Map(docs.map((d) => [d, { owners: new Set(), changes: 0, last: null }]));
  let watching = true;
  const watch = (async () => {
    while (watching) {
      const o = await cluster.owners(docs);
      for (const doc of docs) {
        const f = flips.get(doc);
        const row = o.get(doc);
        if (!row) continue;
        f.owners.add(row.owner);
        if (f.last !== null && f.last !== row.owner) f.changes++;
        f.last = row.owner;
      }
      await sleep(30);
    }
  })();
  const epoch0 = await cluster.owners(docs);
  try {
    await sleep(LOAD_MS);
  } finally {
    watching = false;
    await watch;
    await stopLoad();
  }
  // Both sides keep retrying until their ops are in: settle while split.
  await settleAll(editors, 60000);
  const epoch1 = await cluster.owners(docs);
  for (const doc of docs) {
    const f = flips.get(doc);
    t.diagnostic(`${doc}: epoch ${epoch0.get(doc).epoch} -> ${epoch1.get(doc).epoch} during ${LOAD_MS} ms of split-brain load; ` +
      `documents.owner seen ${[...f.owners].map((id) => cluster.nameOf(id)).join(',')}, ${f.changes} owner changes observed`);
    assert.ok(epoch1.get(doc).epoch - epoch0.get(doc).epoch >= 2,
      `${doc}: both nodes took the fence in turn (epoch ${epoch0.get(doc).epoch} -> ${epoch1.get(doc).epoch})`);
  }
  // The history is one history, whichever node is asked.
  for (const d of editors) d.errorsSeen = d.errors.splice(0);
  for (const doc of docs) {
    const ed = byDoc.get(doc);
    // (the editors of the side that lost last may not have heard the last
    // ops yet: a live actor that never tries to commit does not learn that
    // it lost the fence; checkDocument waits for each editor to reach the
    // log's head, so read through the node that committed last)
    const owner = cluster.byId(epoch1.get(doc).owner);
    const final = await getDoc(owner, doc, cluster.token());
    const ops = await cluster.services.sql(
      `SELECT count(*) || ',' || coalesce(max(rev), 0) || ',' || count(DISTINCT (client, seq)) FROM ops WHERE doc_id = '${doc}'`);
    assert.equal(ops.trim(), `${final.rev},${final.rev},${final.rev}`,
      `${doc}: the op log in PostgreSQL: count, max(rev), distinct (client, seq) all equal the head (${final.rev})`);
    // every acked op is in the log with its acked rev (via the owner's API)
    const acked = ed.flatMap((d) => d.acks.map((a) => ({ client: d.clientId, seq: a.seq, rev: a.rev, label: d.label })));
    const rows = await cluster.services.sql(`SELECT rev || '|' || client || '|' || seq FROM ops WHERE doc_id = '${doc}' ORDER BY rev`);
    const byRev = new Map(rows.trim().split('\n').filter(Boolean).map((l) => {
      const [rev, client, seq] = l.split('|');
      return [Number(rev), { client, seq: Number(seq) }];
    }));
    for (const a of acked) {
      const o = byRev.get(a.rev);
      assert.ok(o && o.client === a.client && o.seq === a.seq,
        `${doc}: ${a.label} was acked seq ${a.seq} as rev ${a.rev}; the log has ${JSON.stringify(o)}`);
    }
    const unavailable = ed.reduce((n, d) => n + d.unavailable.length, 0);
    t.diagnostic(`${doc}: ${final.rev} revisions, ${acked.length} acks, ${unavailable} unavailable/not_joined answers ` +
      `(retried), ${ed.reduce((n, d) => n + d.reconnects, 0)} reconnects`);
  }
});

test('the split heals (A restarted with B as seed): everything converges through both nodes', { timeout: 120000 }, async (t) => {
  assert.ok(run.editors.length > 0, 'the split-brain test did not run');
  const { byDoc, docs, editors } = run;
  await A.kill('SIGKILL');
  cluster.setSeeds([A], [B]);
  await A.start();
  await cluster.waitReady([A]);
  const members = await cluster.waitMembers();
  t.diagnostic(`members after the heal: ${JSON.stringify(members)}`);
  // some more edits through both nodes, then settle
  const rnd = mulberry32(7);
  const stopLoad = startLoad(editors, rnd, { minPause: 10, maxPause: 30 });
  await sleep(1500);
  await stopLoad();
  await settleAll(editors, 60000);
  for (const d of editors) d.errorsSeen = [...(d.errorsSeen || []), ...d.errors.splice(0)];
  let total = 0;
  for (const doc of docs) {
    const ed = byDoc.get(doc);
    const r = await checkDocument(B, doc, ed, { services: cluster.services });
    total += r.rev;
    for (const n of [A, B]) {
      const g = await getDoc(n, doc, cluster.token());
      assert.deepEqual({ rev: g.rev, text: g.text }, { rev: r.rev, text: ed[0].text }, `${doc}: GET on ${n.name}`);
    }
  }
  const lat = stats(editors.flatMap((d) => d.ackLatency.map((a) => a.ms)));
  t.diagnostic(`${total} revisions; ack latency over the run (retries included): ${fmt(lat)}`);
  console.log(`# cluster_fence: ack latency with the split brain ${fmt(lat)}`);
});

test('the only answers the clients heard were unavailable (retry with the same seq)', {
  timeout: 10000,
}, async (t) => {
  const codes = {};
  const trouble = [];
  for (const d of run.editors) {
    const other = [...(d.errorsSeen || []), ...d.unavailable.filter((u) => u.code && u.code !== 'unavailable')];
    for (const e of [...(d.errorsSeen || []), ...d.unavailable]) codes[e.code || 'unavailable'] = (codes[e.code || 'unavailable'] || 0) + 1;
    if (other.length) {
      const copy = { ...d, errors: d.errorsSeen || [], unavailable: d.unavailable.filter((u) => u.code && u.code !== 'unavailable'), problems: [] };
      trouble.push(`${d.label}: ${editorTrouble(copy).join('; ')}`);
    }
  }
  t.diagnostic(`answers heard by clients: ${JSON.stringify(codes)}`);
  for (const d of run.editors) d.stop();
  assert.deepEqual(trouble, [], 'no error other than unavailable');
});
