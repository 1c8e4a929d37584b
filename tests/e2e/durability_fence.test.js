'use strict';
// One writer per document (docs/DESIGN.md contract 2), shown without a cluster:
// two independent nodes on the same PostgreSQL both serve one document (what
// a split brain looks like to the store). Each load bumps the fencing epoch,
// so the other node's commits fail until it reloads: the nodes take turns,
// and the history must stay gapless and exactly-once, every ack must be in
// the log with its revision, and every op any client saw must be the
// committed one (durable before visible). At the end every client moves to
// one node and converges.
require('./lib/deps');
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { randomId } = require('./lib/client');
const {
  sleep, mulberry32, seedFor, startServices, Node, ResilientDoc, startLoad, settleAll,
  checkDocument, waitFor, metricsLine,
} = require('./lib/durability');
const { session } = require('./lib/client');

const LOAD_MS = Number(process.env.E2E_FENCE_MS || 4000);

let services;
let nodeA;
let nodeB;

before(async () => {
  services = await startServices('fence');
  nodeA = await Node.create(services);
  await nodeA.start();
  // same secret, so that one token works on both
  nodeB = await Node.create(services, { COLLAB_JWT_SECRET: nodeA.secret });
  await nodeB.start();
});

after(async () => {
  if (nodeA) await nodeA.kill().catch(() => {});
  if (nodeB) await nodeB.kill().catch(() => {});
  if (services) await services.stop();
});

test('two nodes writing one document through the same PostgreSQL: the fence keeps one history', { timeout: 240000 }, async (t) => {
  const rnd = mulberry32(seedFor(t));
  const docs = [randomId('dur-fence'), randomId('dur-fence')];
  const byDoc = new Map();
  for (const doc of docs) {
    const list = [];
    for (const [i, node] of [[0, nodeA], [1, nodeB], [2, nodeA], [3, nodeB]]) {
      const c = await session(node, { label: `${doc}#${i}@${node === nodeA ? 'A' : 'B'}` });
      const d = new ResilientDoc(c, doc, node);
      await d.join();
      list.push(d);
    }
    byDoc.set(doc, list);
  }
  const editors = [...byDoc.values()].flat();
  const stopLoad = startLoad(editors, rnd, { minPause: 5, maxPause: 20 });
  try {
    await sleep(LOAD_MS);
  } finally {
    await stopLoad();
  }
  // Everyone moves to node B (node A goes away), resumes and settles.
  await nodeA.kill();
  for (const d of editors) {
    d.node = nodeB;
    if (d.client.isOpen) d.client.terminate();
  }
  await settleAll(editors, 60000);
  let total = 0;
  for (const doc of docs) {
    const ed = byDoc.get(doc);
    const r = await checkDocument(nodeB, doc, ed, { services });
    total += r.rev;
    const epoch = (await services.sql(`SELECT epoch FROM documents WHERE doc_id = '${doc}'`)).trim();
    t.diagnostic(`${doc}: ${r.rev} revisions, epoch ${epoch}, ` +
      `acks ${ed.map((d) => d.acks.length).join('/')}, ` +
      `unavailable ${ed.reduce((n, d) => n + d.unavailable.length, 0)}, ` +
      `reconnects ${ed.reduce((n, d) => n + d.reconnects, 0)}`);
  }
  assert.ok(total >= 20, `too few ops committed (${total})`);
  t.diagnostic(await metricsLine(nodeB, ['collab_pg_']));
  for (const d of editors) d.stop();
  nodeB.assertAlive();
});
