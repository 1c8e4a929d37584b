'use strict';
// Mutual TLS between cluster nodes (the TLS tunnel under BASP,
// net/cluster_tunnel.hpp):
// COLLAB_CLUSTER_TLS_CERT / _KEY / _CA, all three or none.
//  1. three nodes with certificates from one CA form a cluster and behave like
//     a plain one (editors spread over the nodes converge, one owner per
//     document, gapless exactly-once history);
//  2. a node whose certificate is from another CA (trusting that CA, or
//     trusting the cluster's), and a plaintext node, never become members;
//     editing on the cluster goes on undisturbed; so do bare TCP connections
//     to a cluster port (a port scanner, a health check);
//  3. a partial TLS configuration is refused at start (exit code 2);
//  4. a hung member (SIGSTOP) is detected by BASP's heartbeat through the
//     tunnel within a few seconds, its
//     documents are taken over, and it comes back after SIGCONT.
// The certificates are made by the `openssl` CLI in a temporary folder
// (lib/pki.js: each names 127.0.0.1, the address the nodes dial); TLS alone
// authenticates these nodes (no cluster key).
require('./lib/deps');
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { randomId } = require('./lib/client');
const {
  sleep, mulberry32, seedFor, startLoad, settleAll, checkDocument, getDoc, waitFor, freePort,
} = require('./lib/durability');
const {
  Cluster, openSpread, openClusterEditor, stats, fmt, editorTrouble, docOwnedBy, rendezvousOwner, runToExit,
} = require('./lib/cluster');
const { openssl, makeCa, makeLeaf, tlsEnv } = require('./lib/pki');

const DOCS = Number(process.env.E2E_CLUSTER_TLS_DOCS || 6);
const LOAD_MS = Number(process.env.E2E_CLUSTER_TLS_MS || 5000);
const OUTSIDER_MS = Number(process.env.E2E_CLUSTER_TLS_OUTSIDER_MS || 5000);
const HANG_MS = Number(process.env.E2E_CLUSTER_TLS_HANG_MS || 6000);
// "a member that stops answering is dropped within about 3 s"; "comes back
// within about 5 s after SIGCONT" (the bounds the test allows)
const DETECT_MS = Number(process.env.E2E_CLUSTER_TLS_DETECT_MS || 5000);
const BACK_MS = Number(process.env.E2E_CLUSTER_TLS_BACK_MS || 5000);

// ---------------------------------------------------------------------------

let cluster;
let certDir;
let pki;
const outsiders = []; // nodes started by the test that are not members
const restarts = [];  // when formed() had to restart the cluster

before(async () => {
  certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'collab-ctls-pki-'));
  const ca1 = makeCa(certDir, 'ca1');
  const ca2 = makeCa(certDir, 'ca2');
  pki = {
    ca1, ca2,
    n1: makeLeaf(certDir, 'n1', ca1),
    n2: makeLeaf(certDir, 'n2', ca1),
    n3: makeLeaf(certDir, 'n3', ca1),
    rogue: makeLeaf(certDir, 'rogue', ca2),
  };
  // the rogue certificate really is not one of CA1's
  assert.throws(() => openssl(['verify', '-CAfile', ca1.cert, pki.rogue.cert], certDir),
    'openssl verify accepts the CA2 certificate against CA1');
  // TLS alone authenticates these nodes (no cluster key)
  cluster = await Cluster.create('ctls', 3, {}, { key: false });
  cluster.nodes.forEach((n, i) => Object.assign(n.env, tlsEnv(pki[`n${i + 1}`], ca1)));
  await cluster.start();
});

after(async () => {
  for (const n of outsiders) await n.kill().catch(() => {});
  if (cluster) await cluster.shutdown();
  if (certDir) fs.rmSync(certDir, { recursive: true, force: true });
});

// A node on the cluster's services, seeded with the members' cluster ports,
// that is not counted as one of them (not in cluster.nodes).
async function outsider(name, extra) {
  const n = await cluster.addNode({ COLLAB_NODE_ID: `ctls-${cluster.tag}-${name}`, ...extra });
  cluster.nodes.splice(cluster.nodes.indexOf(n), 1);
  Object.defineProperty(n, 'name', { value: name });
  n.env.COLLAB_SEEDS = cluster.nodes.map((m) => m.clusterAddr).join(',');
  outsiders.push(n);
  return n;
}

// Every member_up line (on `nodes`) that names `n` by id or cluster address.
function memberUpsNaming(nodes, n) {
  const out = [];
  for (const m of nodes) {
    for (const e of m.allEvents || []) {
      if (e.event === 'member_up' && (e.line.includes(`member=${n.id}`) || e.line.includes(`:${n.clusterPort}`))) {
        out.push(`${m.name}: ${e.line}`);
      }
    }
  }
  return out;
}

function linesOf(n, event) { return (n.allEvents || []).filter((e) => e.event === event).map((e) => e.line); }

// Membership lines of every node since `since` (without the seed retries).
function history(since, max) {
  return cluster.membershipHistory(since, 100000).filter((l) => !/seed_unreachable/.test(l)).slice(0, max).join('\n');
}

function membersView() {
  return Object.fromEntries(cluster.nodes.map((n) => [n.name, [...n.members].map((id) => cluster.nameOf(id)).sort()]));
}

// ---------------------------------------------------------------------------

test('three TLS nodes (CA1) form a cluster: tls=true, every node sees the two others', { timeout: 60000 }, async (t) => {
  for (const n of cluster.nodes) {
    const l = linesOf(n, 'cluster_listening');
    assert.equal(l.length, 1, `${n.name}: one event=cluster_listening line (${JSON.stringify(l)})`);
    assert.match(l[0], /\btls=true\b/, `${n.name}: cluster_listening says tls=true`);
  }
  const seen = await cluster.waitMembers(10000).catch((e) => {
    e.message += `\n--- membership since the start:\n` +
      `${history(0, 60)}`;
    throw e;
  });
  t.diagnostic(`members: ${JSON.stringify(seen)}`);
  for (const n of cluster.nodes) {
    for (const o of cluster.nodes) {
      if (o === n) continue;
      assert.ok(n.eventsOf('member_up').some((e) => e.line.includes(`member=${o.id}`)),
        `${n.name} logged event=member_up for ${o.name}`);
    }
  }
});

test(`TLS cluster: ${DOCS} docs x 3 editors on 3 nodes converge, one owner per document, gapless exactly-once`,
  { timeout: 90000 }, async (t) => {
    await formed(t);
    const rnd = mulberry32(seedFor(t));
    const docs = Array.from({ length: DOCS }, () => randomId('ctls'));
    const byDoc = await openSpread(cluster, docs, cluster.nodes);
    const editors = [...byDoc.values()].flat();
    for (const d of editors) assert.equal(d.socketNode, d.home.id, `${d.label}: welcome.node is its node`);
    const stopLoad = startLoad(editors, rnd, { minPause: 10, maxPause: 40 });
    let ownersEarly;
    try {
      await sleep(1000);
      ownersEarly = await cluster.owners(docs);
      await sleep(Math.max(0, LOAD_MS - 1000));
    } finally {
      await stopLoad();
    }
    await settleAll(editors, 60000);
    const ownersLate = await cluster.owners(docs);
    const ids = cluster.nodes.map((n) => n.id);
    let total = 0;
    for (const doc of docs) {
      const ed = byDoc.get(doc);
      const r = await checkDocument(cluster.nodes[0], doc, ed, { services: cluster.services });
      total += r.rev;
      for (const n of cluster.nodes) {
        const g = await getDoc(n, doc, cluster.token());
        assert.deepEqual({ rev: g.rev, text: g.text }, { rev: r.rev, text: ed[0].text }, `${doc}: GET on ${n.name}`);
      }
      const e = ownersEarly.get(doc);
      const l = ownersLate.get(doc);
      assert.ok(e && l && cluster.byId(l.owner), `${doc}: documents.owner ${JSON.stringify(l)} is a node id`);
      assert.deepEqual(l, { ...e, head: l.head }, `${doc}: one owner, its epoch does not move (membership stable)`);
      assert.equal(l.owner, rendezvousOwner(ids, doc), `${doc}: owner is the rendezvous owner over the 3 TLS nodes`);
      assert.equal(l.head, r.rev, `${doc}: documents.head_rev`);
      for (const d of ed) {
        assert.deepEqual(editorTrouble(d), [], `${d.label}: no error, no unavailable, no protocol problem`);
        assert.deepEqual(d.serverCloses(), [], `${d.label}: no socket closed by a server`);
      }
    }
    t.diagnostic(`owners: ${JSON.stringify(cluster.ownerSpread(ownersLate))}; ${total} revisions; ` +
      `ack latency ${fmt(stats(editors.flatMap((d) => d.ackLatency.map((a) => a.ms))))}`);
    assert.ok(total >= DOCS * 20, `too few ops committed (${total})`);
    for (const d of editors) d.stop();
    cluster.assertNoUnexpectedExit();
  });

test('the TLS cluster stayed formed since its start: no member_down, no join_refused, no flap', { timeout: 30000 }, async (t) => {
  // (a join request lost with a dropped link times out after 5 s: wait that long)
  const started = Math.min(...cluster.nodes.map((n) => (n.allEvents[0] || { t: Date.now() }).t));
  await sleep(Math.max(0, started + 6000 - Date.now()));
  // (up to the first restart by formed(), when the cluster had not formed)
  const until = restarts.length ? restarts[0] : Infinity;
  if (restarts.length) t.diagnostic(`judging the first start only: the cluster was restarted ${cluster.when(until)}`);
  const bad = [];
  for (const n of cluster.nodes) {
    const evs = n.allEvents.filter((e) => e.t < until);
    for (const e of evs) {
      if (['member_down', 'join_refused', 'join_failed', 'member_refused'].includes(e.event)) bad.push(`${n.name}: ${e.line}`);
    }
    const ups = evs.filter((e) => e.event === 'member_up').length;
    if (ups !== 2) bad.push(`${n.name}: ${ups} member_up lines for 2 peers`);
  }
  if (bad.length) t.diagnostic(`membership since the start:\n${history(0, 60)}`);
  assert.deepEqual(bad, [], 'membership events of a cluster that formed once and stayed formed');
});

// The cluster has formed (every node sees the two others); if it fell apart
// (an earlier test found a bug), restart its nodes so that the next test
// judges its own scenario. Resolves false when it had to.
async function formed(t) {
  try {
    await cluster.waitMembers(3000);
    return true;
  } catch (e) {
    t.diagnostic(`the cluster is not formed (${e.message.split('\n')[0]}): restarting its three nodes`);
    // (forming itself may fail, see the first test: a few attempts)
    for (let attempt = 1; ; attempt++) {
      restarts.push(Date.now());
      for (const n of cluster.nodes) await n.kill();
      cluster.note('restart all');
      try {
        // one node after the other (fewer simultaneous connects)
        for (const n of cluster.nodes) {
          await cluster.start([n]);
          await cluster.waitMembers(8000);
        }
        return false;
      } catch (e2) {
        t.diagnostic(`restart ${attempt}: ${e2.message.split('\n')[0]}`);
        if (attempt >= 3) throw e2;
      }
    }
  }
}

// One outsider knocks for OUTSIDER_MS while editors type on the cluster:
// it never becomes a member (on either side), its seed connections fail
// (event=seed_unreachable), and the cluster does not notice it at all.
async function outsiderRun(t, name, extra, expectTls) {
  await formed(t);
  const rnd = mulberry32(seedFor(t));
  const docs = Array.from({ length: 3 }, () => randomId(`ctls-${name}`));
  const byDoc = await openSpread(cluster, docs, cluster.nodes);
  const editors = [...byDoc.values()].flat();
  const stopLoad = startLoad(editors, rnd, { minPause: 20, maxPause: 60 });
  let r;
  let since;
  try {
    await sleep(500);
    r = await outsider(name, extra);
    since = Date.now();
    cluster.note(`start ${name}`);
    await r.start();
    const l = linesOf(r, 'cluster_listening');
    assert.match(l[0] || '', new RegExp(`\\btls=${expectTls}\\b`), `${name}: event=cluster_listening ... tls=${expectTls}`);
    await sleep(OUTSIDER_MS);
  } finally {
    await stopLoad();
  }
  const su = linesOf(r, 'seed_unreachable');
  t.diagnostic(`${name} after ${OUTSIDER_MS} ms: alive ${r.alive()}, ${su.length} seed_unreachable (last: ${su.slice(-1)[0]}), ` +
    `member_up ${JSON.stringify(linesOf(r, 'member_up'))}`);
  const counts = (ev) => cluster.nodes.map((n) => `${n.name} ${n.eventsOf(ev, since).length}`).join(', ');
  const troubleLines = () => `\nsince ${name} started: activate ${counts('activate')}; fenced ${counts('fenced')}` +
    `\n--- membership since ${name} started:\n` +
    `${history(since - 10, 60)}`;
  try {
    assert.deepEqual(memberUpsNaming(cluster.nodes, r), [], `no member of the cluster logged member_up for ${name}`);
    assert.deepEqual(linesOf(r, 'member_up'), [], `${name} logged no member_up itself`);
    assert.equal(r.members.size, 0, `${name} sees no member`);
    assert.ok(r.alive(), `${name} still running (refused, not crashed): ${JSON.stringify(r.srv.exited)}`);
    assert.ok(su.length > 0, `${name}: event=seed_unreachable logged (its seed connections fail); last lines\n` +
      `${r.output.slice(-8).join('\n')}`);
    // the members did not notice
    for (const n of cluster.nodes) {
      assert.deepEqual(n.eventsOf('member_down', since).map((e) => e.line), [],
        `${n.name}: no member_down while ${name} knocked${troubleLines()}`);
      assert.deepEqual([...n.members].sort(), cluster.nodes.filter((o) => o !== n).map((o) => o.id).sort(),
        `${n.name}: members are exactly the two other TLS nodes`);
    }
  } finally {
    await r.kill();
  }
  await settleAll(editors, 30000);
  const owners = await cluster.owners(docs);
  const ids = cluster.nodes.map((n) => n.id);
  for (const doc of docs) {
    const ed = byDoc.get(doc);
    const res = await checkDocument(cluster.nodes[0], doc, ed, { services: cluster.services });
    const o = owners.get(doc);
    assert.equal(cluster.nameOf(o.owner), cluster.nameOf(rendezvousOwner(ids, doc)),
      `${doc}: owned by its rendezvous owner among the TLS members (${JSON.stringify(o)})`);
    for (const d of ed) {
      assert.deepEqual(editorTrouble(d), [], `${d.label}: no error, no unavailable`);
      assert.deepEqual(d.serverCloses(), [], `${d.label}: no socket closed by a server`);
      assert.ok(d.acks.some((a) => a.t > since + OUTSIDER_MS / 2), `${d.label}: acks while ${name} knocked`);
    }
    assert.ok(res.rev >= 10, `${doc}: too few ops (${res.rev})`);
  }
  for (const d of editors) d.stop();
  cluster.assertNoUnexpectedExit();
}

test('an outsider with a CA2 certificate, trusting CA2, never joins; editing on the cluster unaffected',
  { timeout: 60000 }, (t) => outsiderRun(t, 'rogue-ca2', tlsEnv(pki.rogue, pki.ca2), true));

// it accepts the members' certificates: only their check of the client
// certificate can keep it out
test('an outsider with a CA2 certificate, trusting CA1, never joins; editing on the cluster unaffected',
  { timeout: 60000 }, (t) => outsiderRun(t, 'rogue-ca2-trusts-ca1', tlsEnv(pki.rogue, pki.ca1), true));

// (with a cluster key: a plain node needs one to start outside --dev)
test('a plaintext node (no TLS settings) never joins; editing on the cluster unaffected',
  { timeout: 60000 }, (t) => outsiderRun(t, 'plain', { COLLAB_CLUSTER_KEY: 'k'.repeat(32) }, false));

// What a port scanner or a TCP health check does to a member's cluster port:
// connect and close, or send a few bytes that are no TLS. The cluster does
// not notice.
test('bare TCP connections to a member\'s cluster port (connect+close, non-TLS bytes) do not disturb the cluster',
  { timeout: 60000 }, async (t) => {
    await formed(t);
    const rnd = mulberry32(seedFor(t));
    const docs = Array.from({ length: 3 }, () => randomId('ctls-poke'));
    const byDoc = await openSpread(cluster, docs, cluster.nodes);
    const editors = [...byDoc.values()].flat();
    const stopLoad = startLoad(editors, rnd, { minPause: 20, maxPause: 60 });
    const target = cluster.nodes[0];
    let since;
    try {
      await sleep(500);
      since = Date.now();
      cluster.note(`TCP pokes at ${target.name}`);
      const poke = (bytes) => new Promise((resolve) => {
        const s = net.connect(target.clusterPort, '127.0.0.1', () => {
          if (bytes) s.write(bytes);
          setTimeout(() => { s.destroy(); resolve(); }, bytes ? 200 : 0);
        });
        s.on('error', resolve);
      });
      await poke(null);
      await poke('GET / HTTP/1.0\r\n\r\n');
      await sleep(3000);
    } finally {
      await stopLoad();
    }
    const downs = cluster.nodes.flatMap((n) => n.eventsOf('member_down', since).map((e) => `${n.name}: ${e.line}`));
    const counts = (ev) => cluster.nodes.map((n) => `${n.name} ${n.eventsOf(ev, since).length}`).join(', ');
    assert.deepEqual(downs, [], `member_down after two TCP connections to ${target.name}'s cluster port` +
      `\nsince the pokes: activate ${counts('activate')}; fenced ${counts('fenced')}` +
      `\n--- membership since:\n${history(since - 10, 40)}` +
      `\nmembers now: ${JSON.stringify(membersView())}`);
    await settleAll(editors, 30000);
    for (const doc of docs) {
      await checkDocument(cluster.nodes[0], doc, byDoc.get(doc), { services: cluster.services });
      for (const d of byDoc.get(doc)) {
        assert.deepEqual(editorTrouble(d), [], `${d.label}: no error, no unavailable`);
        assert.ok(d.acks.some((a) => a.t > since + 1500), `${d.label}: acks after the pokes`);
      }
    }
    for (const d of editors) d.stop();
    for (const n of cluster.nodes) n.assertAlive();
  });

test('a partial TLS configuration is refused: exit code 2 and event=config_error', { timeout: 60000 }, async (t) => {
  const base = cluster.nodes[0].env;
  const cases = {
    'cert without key': { COLLAB_CLUSTER_TLS_CERT: pki.n1.cert, COLLAB_CLUSTER_TLS_CA: pki.ca1.cert },
    'cert only': { COLLAB_CLUSTER_TLS_CERT: pki.n1.cert },
    'key and CA without cert': { COLLAB_CLUSTER_TLS_KEY: pki.n1.key, COLLAB_CLUSTER_TLS_CA: pki.ca1.cert },
  };
  for (const [what, tls] of Object.entries(cases)) {
    const env = {
      COLLAB_PG_URL: base.COLLAB_PG_URL,
      COLLAB_REDIS_URL: base.COLLAB_REDIS_URL,
      COLLAB_JWT_SECRET: base.COLLAB_JWT_SECRET,
      COLLAB_BIND: '127.0.0.1',
      COLLAB_CLIENT_PORT: String(await freePort()),
      COLLAB_CLUSTER_PORT: String(await freePort()),
      COLLAB_CLUSTER_BIND: '127.0.0.1',
      COLLAB_SEEDS: cluster.nodes.map((n) => n.clusterAddr).join(','),
      COLLAB_NODE_ID: `ctls-${cluster.tag}-partial`,
      COLLAB_LOG_LEVEL: 'debug',
      ...tls,
    };
    const r = await runToExit(env);
    t.diagnostic(`${what}: exit ${JSON.stringify({ code: r.code, signal: r.signal })}; ` +
      `${r.output.filter((l) => /config_error/.test(l)).join(' | ')}`);
    assert.ok(!r.ready, `${what}: collabd started serving:\n${r.output.slice(-10).join('\n')}`);
    assert.equal(r.code, 2, `${what}: exit code (signal ${r.signal}):\n${r.output.slice(-10).join('\n')}`);
    assert.ok(r.output.some((l) => /event=config_error/.test(l)), `${what}: an event=config_error line:\n${r.output.join('\n')}`);
  }
  for (const n of cluster.nodes) n.assertAlive();
});

// State shared by the hang test and the one after it.
const hang = { editors: [] };

test('SIGSTOP one TLS node under load: member_down within seconds, its documents taken over; SIGCONT: member_up again',
  { timeout: 150000 }, async (t) => {
    await formed(t);
    const rnd = mulberry32(seedFor(t));
    const nodes = cluster.nodes;
    const ids = nodes.map((n) => n.id);
    const victim = nodes[1];
    const survivors = nodes.filter((n) => n !== victim);
    // two documents owned by each node (rendezvous, checked against PostgreSQL)
    const docs = nodes.flatMap((n) => [0, 1].map(() => docOwnedBy(`ctls-hang-${n.name}`, n, nodes)));
    const victimDocs = docs.filter((d) => rendezvousOwner(ids, d) === victim.id);
    const otherDocs = docs.filter((d) => !victimDocs.includes(d));
    // editors only on the survivors (sockets on the hung node are not judged)
    const byDoc = await openSpread(cluster, docs, survivors);
    const editors = [...byDoc.values()].flat();
    hang.editors = editors;
    const stopLoad = startLoad(editors, rnd, { minPause: 20, maxPause: 60 });
    // Each phase below that fails is recorded here (with its evidence) and
    // the scenario goes on, so that one run shows every deviation.
    const problems = [];
    const phase = async (what, fn) => {
      try {
        return await fn();
      } catch (e) {
        problems.push(`${what}: ${e.message}`);
        return undefined;
      }
    };
    const membership = (since) => `\n--- membership since SIGSTOP:\n${history(since - 10, 60)}`;
    const byName = (m) => Object.fromEntries([...m].map(([n, ms]) => [n.name, ms]));
    let stopAt;
    const report = {};
    try {
      await sleep(1500);
      const before = await cluster.owners(docs);
      for (const doc of docs) {
        assert.equal(cluster.nameOf(before.get(doc).owner), cluster.nameOf(rendezvousOwner(ids, doc)),
          `${doc}: documents.owner is the rendezvous owner before the hang`);
      }
      cluster.assertNoUnexpectedExit();

      // -- hang
      stopAt = Date.now();
      cluster.note(`SIGSTOP ${victim.name}`);
      victim.srv.proc.kill('SIGSTOP');
      victim.stopped = true;
      const downs = new Map();
      await phase(`member_down for the hung ${victim.name} within ${DETECT_MS} ms`, () => waitFor(() => {
        for (const s of survivors) {
          if (downs.has(s)) continue;
          const e = s.eventsOf('member_down', stopAt).find((x) => x.line.includes(`member=${victim.id}`));
          if (e) downs.set(s, e.t - stopAt);
        }
        return downs.size === survivors.length;
      }, DETECT_MS, `member_down for ${victim.name} on ${survivors.map((s) => s.name).join(' and ')}`, 20).catch((e) => {
        e.message += `\nmembers: ${JSON.stringify(membersView())}${membership(stopAt)}`;
        throw e;
      }));
      report.detectMs = byName(downs);
      const detectedAt = stopAt + (downs.size ? Math.max(...downs.values()) : DETECT_MS);
      // every document of the hung node acks again (on the survivors)
      const acked = new Map();
      const took = await phase(`${victim.name}'s documents taken over (acks again on the survivors)`, () => waitFor(() => {
        for (const doc of victimDocs) {
          if (acked.has(doc)) continue;
          const ts = byDoc.get(doc).flatMap((d) => d.acks.filter((a) => a.t > detectedAt)).map((a) => a.t);
          if (ts.length) acked.set(doc, Math.min(...ts) - stopAt);
        }
        return acked.size === victimDocs.length;
      }, 8000, `acks on ${victim.name}'s documents after member_down ` +
        `(${victimDocs.filter((d) => !acked.has(d)).join(', ')} not yet)`, 20).then(() => true).catch(async (e) => {
        const stuck = victimDocs.filter((d) => !acked.has(d));
        const now = await cluster.owners(stuck).catch(() => new Map());
        e.message += `\ndocuments.owner now: ${JSON.stringify(Object.fromEntries([...now].map(([d, o]) => [d, { ...o, owner: cluster.nameOf(o.owner) }])))}` +
          `\neditors of ${stuck[0]}: ${byDoc.get(stuck[0]).map((d) => `${d.label} connected=${d.connected} ` +
            `inflight seq ${JSON.stringify(d.inflight && d.inflight.seq)}, last ack ${d.acks.length ? cluster.when(d.acks[d.acks.length - 1].t) : 'none'}, ` +
            `${d.unavailable.length} unavailable, ${d.errors.length} errors`).join('; ')}` +
          `\n--- log lines about ${stuck[0]}:\n${cluster.docHistory(stuck[0]).join('\n')}${membership(stopAt)}`;
        throw e;
      }));
      report.takeoverMs = [...acked.values()];
      if (took) {
        await phase(`documents.owner of ${victim.name}'s documents moved to a survivor`, () => waitFor(async () => {
          const now = await cluster.owners(victimDocs);
          return victimDocs.every((d) => survivors.some((s) => s.id === now.get(d).owner) &&
            now.get(d).epoch > before.get(d).epoch);
        }, 5000, `documents.owner naming a survivor with a higher epoch`, 50));
        const during = await cluster.owners(docs);
        await phase('placement during the hang', async () => {
          for (const doc of docs) {
            if (victimDocs.includes(doc)) {
              assert.equal(cluster.nameOf(during.get(doc).owner), cluster.nameOf(rendezvousOwner(survivors.map((n) => n.id), doc)),
                `${doc}: taken over by its rendezvous owner among the survivors`);
            } else {
              assert.deepEqual({ owner: during.get(doc).owner, epoch: during.get(doc).epoch },
                { owner: before.get(doc).owner, epoch: before.get(doc).epoch }, `${doc}: a survivor's document stays where it was`);
            }
          }
        });
      }
      // hold the hang for a while: the survivors keep going
      await sleep(Math.max(0, stopAt + HANG_MS - Date.now()));
      // the survivors' own documents never stalled for long
      const gaps = {};
      for (const doc of otherDocs) {
        const ts = [stopAt, ...byDoc.get(doc).flatMap((d) => d.acks.map((a) => a.t)).filter((x) => x > stopAt)
          .sort((x, y) => x - y), Date.now()];
        let g = 0;
        for (let i = 1; i < ts.length; i++) g = Math.max(g, ts[i] - ts[i - 1]);
        gaps[doc] = g;
      }
      report.survivorDocMaxAckGapMs = gaps;
      await phase('the survivors\' own documents keep acking during the hang', async () => {
        for (const [doc, g] of Object.entries(gaps)) {
          assert.ok(g < 3000, `${doc} (owned by ${cluster.nameOf(before.get(doc).owner)}): no ack for ${g} ms while ${victim.name} hung`);
        }
      });

      // -- resume
      const contAt = Date.now();
      cluster.note(`SIGCONT ${victim.name}`);
      victim.srv.proc.kill('SIGCONT');
      victim.stopped = false;
      const ups = new Map();
      const back = await phase(`member_up again within ${BACK_MS} ms of SIGCONT`, () => waitFor(() => {
        for (const s of survivors) {
          if (ups.has(s)) continue;
          const e = s.eventsOf('member_up', contAt).find((x) => x.line.includes(`member=${victim.id}`));
          if (e) ups.set(s, e.t - contAt);
        }
        return ups.size === survivors.length && survivors.every((s) => victim.members.has(s.id));
      }, BACK_MS, `member_up for ${victim.name} on ${survivors.map((s) => s.name).join(' and ')} and ` +
        `${victim.name} seeing both`, 20).then(() => true).catch((e) => {
        e.message += ` (member_down lines since SIGSTOP: ${survivors.map((s) => s.eventsOf('member_down', stopAt).length).join('/')})` +
          `\nmembers: ${JSON.stringify(membersView())}${membership(stopAt)}`;
        throw e;
      }));
      report.backMs = byName(ups);
      report.victimOwnEvents = victim.allEvents.filter((e) => e.t >= stopAt && /^member_/.test(e.event))
        .map((e) => `${cluster.when(e.t)}: ${e.line.replace(/^.*?event=/, 'event=')}`);
      // its documents come back to it (rendezvous over three again)
      if (back) {
        let notBack = [];
        await phase(`${victim.name}'s documents back on it after SIGCONT`, () => waitFor(async () => {
          const now = await cluster.owners(victimDocs);
          notBack = victimDocs.filter((d) => now.get(d).owner !== victim.id);
          return notBack.length === 0;
        }, 15000, `documents.owner = ${victim.name}`, 50).catch((e) => {
          e.message += ` (not back: ${notBack.join(', ')})\n${notBack.slice(0, 1).map((d) => cluster.docHistory(d).join('\n')).join('')}`;
          throw e;
        }));
      }
      // a socket on the resumed node works again: one more editor per document there
      const late = [];
      await phase(`editors on ${victim.name} after SIGCONT`, async () => {
        for (const doc of docs) {
          const d = await openClusterEditor(cluster, doc, victim, `${doc}#${victim.name}-after`);
          byDoc.get(doc).push(d);
          editors.push(d);
          late.push(d);
        }
      });
      const stopLate = startLoad(late, rnd, { minPause: 20, maxPause: 60 });
      const resumedAt = Date.now();
      await phase('every editor acked after the resume', () => waitFor(() => editors.every((d) => d.acks.some((a) => a.t > resumedAt)), 15000,
        `an ack for every editor (missing: ${editors.filter((d) => !d.acks.some((a) => a.t > resumedAt)).map((d) => d.label).slice(0, 5).join(', ')})`))
        .finally(stopLate);
    } finally {
      if (victim.stopped) { try { victim.srv.proc.kill('SIGCONT'); } catch { /* gone */ } victim.stopped = false; }
      await stopLoad();
    }
    t.diagnostic(`hang of ${victim.name}: ${JSON.stringify(report, null, 1)}`);
    t.diagnostic(`log events: ${JSON.stringify(cluster.eventSummary())}`);
    console.log(`# cluster_tls: member_down after SIGSTOP ${JSON.stringify(report.detectMs)} ms; ` +
      `takeover acks ${fmt(stats(report.takeoverMs || []))}; member_up after SIGCONT ${JSON.stringify(report.backMs)} ms`);
    // the data, whatever happened above
    await settleAll(editors, 60000).catch((e) => { problems.push(`settle: ${e.message}`); });
    for (const d of editors) d.errorsSeen = d.errors.splice(0);
    const ownersEnd = await cluster.owners(docs);
    for (const doc of docs) {
      const ed = byDoc.get(doc);
      const r = await checkDocument(nodes[0], doc, ed, { services: cluster.services });
      for (const n of nodes) {
        const g = await getDoc(n, doc, cluster.token());
        assert.deepEqual({ rev: g.rev, text: g.text }, { rev: r.rev, text: ed[0].text }, `${doc}: GET on ${n.name}`);
      }
      const o = ownersEnd.get(doc);
      t.diagnostic(`${doc}: ${r.rev} revisions, owner ${cluster.nameOf(o.owner)} epoch ${o.epoch}, ` +
        `${ed.reduce((n, d) => n + d.unavailable.length, 0)} unavailable, ${ed.reduce((n, d) => n + d.reconnects, 0)} reconnects`);
    }
    for (const n of nodes) n.assertAlive();
    cluster.assertNoUnexpectedExit();
    assert.deepEqual(problems, [], `the hang of ${victim.name}`);
  });

test('editors on the survivors hear no error about the hang and keep their sockets', { timeout: 30000 }, async (t) => {
  assert.ok(hang.editors.length > 0, 'the hang run did not happen');
  const trouble = [];
  for (const d of hang.editors) {
    d.errors.unshift(...(d.errorsSeen || []));
    const tr = editorTrouble(d);
    if (tr.length) trouble.push(`${d.label}: ${tr.join('; ')}`);
    for (const c of d.serverCloses()) trouble.push(`${d.label}: socket on ${cluster.nameOf(c.node)} closed ${c.code}, ${cluster.when(c.t)}`);
  }
  for (const d of hang.editors) d.stop();
  assert.deepEqual(trouble, [], 'no error, no unavailable, no socket closed by a server');
});
