'use strict';
// Seeds that are DNS names (issue 15): collabd resolves them (now and every
// 30 s) and membership dials the addresses, never the name. Here the name is
// `localhost`: n2 and n3 are told only `localhost:<n1's cluster port>`, and
// all three meet (n2 and n3 find each other through n1).
require('./lib/deps');
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Cluster } = require('./lib/cluster');

let cluster;

before(async () => {
  cluster = await Cluster.create('cdns', 3);
  const [n1, n2, n3] = cluster.nodes;
  delete n1.env.COLLAB_SEEDS;
  for (const n of [n2, n3]) n.env.COLLAB_SEEDS = `localhost:${n1.clusterPort}`;
  await cluster.start();
});

after(async () => {
  if (cluster) await cluster.shutdown();
});

test('nodes given only a DNS name as their seed resolve it and form the cluster', { timeout: 60000 }, async (t) => {
  const view = await cluster.waitMembers(20000);
  t.diagnostic(`members: ${JSON.stringify(view)}`);
  const [n1, n2, n3] = cluster.nodes;
  for (const n of [n2, n3]) {
    const lines = n.eventsOf('seed_resolved').map((e) => e.line);
    assert.ok(lines.some((l) => l.includes(`addr=127.0.0.1:${n1.clusterPort}`)),
      `${n.name} resolved localhost to n1's address: ${JSON.stringify(lines)}`);
  }
  assert.deepEqual(n1.eventsOf('seed_resolved'), [], 'n1 has no seed to resolve');
});
