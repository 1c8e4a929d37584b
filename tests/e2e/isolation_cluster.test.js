'use strict';
// Isolation of the cluster port (issue "Isolation and hardening", defect 5;
// net/cluster_tunnel.hpp, docs/ISOLATION.md). Three nodes with a
// cluster key (COLLAB_CLUSTER_KEY) on private PostgreSQL + Redis, editors
// typing on them while outsiders knock:
//  1. the nodes prove the key to each other and form a cluster; each node
//     listens on its public ports only (no loopback hop for BASP);
//  2. raw TCP connections sending a BASP header that announces 1 GiB are
//     closed at once (no key), the node's memory does not move, refusals are
//     logged at most once a second with a count, the cluster does not notice;
//  3. a peer that proves the key and then announces a 1 GiB frame is cut off
//     before CAF reads the header (event=cluster_frame_refused), memory
//     unchanged;
//  4. a node with the wrong key never becomes a member (on either side);
//  5. outside --dev a cluster port without TLS or key (or with a short key)
//     refuses to start (exit 2); --dev starts with a warning;
//  6. mutual TLS: a node with a valid certificate of the cluster CA that
//     names another host is refused by the node that dialled it; nodes whose
//     certificates name the address dialled join; no loopback hop either;
//  7. a node with the right key joins the running cluster.
// The suite speaks the key handshake itself (JavaScript, below) to reach the
// frame check, and cross-checks the node's proof.
require('./lib/deps');
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { randomId } = require('./lib/client');
const {
  sleep, mulberry32, seedFor, startLoad, settleAll, checkDocument, waitFor, freePort,
} = require('./lib/durability');
const {
  Cluster, openSpread, editorTrouble, listeningSockets, memoryOf, runToExit,
} = require('./lib/cluster');
const { makeCa, makeLeaf, tlsEnv } = require('./lib/pki');

const GiB = 2 ** 30;
// What the node may grow by while it is attacked (an honest workload runs
// meanwhile); before the fix one 1 GiB header reserved 1 GiB.
const MAX_DATA_GROWTH = 256 * 2 ** 20;
const MAX_RSS_GROWTH = 64 * 2 ** 20;

let cluster;
let certDir;
const extras = []; // nodes started by the tests that are not members

before(async () => {
  cluster = await Cluster.create('iso', 3);
  await cluster.start();
  await cluster.waitMembers(20000);
});

after(async () => {
  for (const n of extras) await n.kill().catch(() => {});
  if (cluster) await cluster.shutdown();
  if (certDir) fs.rmSync(certDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------
// The cluster key handshake (net/cluster_auth.hpp), as a dialler.

const MAGIC = Buffer.from('COLLAB-CLUSTER/1');
const LABEL = Buffer.from('collab cluster key proof v1');

function proof(key, role, dialler, acceptor) {
  return crypto.createHmac('sha256', key).update(Buffer.concat([LABEL, Buffer.from(role), dialler, acceptor])).digest();
}

// Connects to `port` and proves `key`; resolves the socket once the node's
// own proof checked out (rejects if it does not, or the node closes).
function keyedConnect(port, key) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const mine = crypto.randomBytes(32);
    let buf = Buffer.alloc(0);
    let theirs = null;
    let done = false;
    const fail = (why) => { if (!done) { done = true; s.destroy(); reject(new Error(why)); } };
    s.on('connect', () => s.write(Buffer.concat([MAGIC, mine])));
    s.on('data', (d) => {
      if (done) return;
      buf = Buffer.concat([buf, d]);
      if (!theirs && buf.length >= 48) {
        if (!buf.subarray(0, 16).equals(MAGIC)) return fail(`no key hello from the node: ${buf.subarray(0, 16).toString('hex')}`);
        theirs = buf.subarray(16, 48);
        buf = buf.subarray(48);
        s.write(proof(key, 'D', mine, theirs));
      }
      if (theirs && buf.length >= 32) {
        if (!buf.subarray(0, 32).equals(proof(key, 'A', mine, theirs))) return fail('the node\'s proof does not check out');
        done = true;
        resolve(s);
      }
    });
    s.on('error', (e) => fail(e.message));
    s.on('close', () => fail('closed during the key handshake'));
  });
}

// A BASP header (CAF 0.17.6, net/cluster_frame.hpp): 32 bytes, big-endian.
function baspHeader(op, payloadLen, { opData = 0n, source = 0n, dest = 0n } = {}) {
  const b = Buffer.alloc(32);
  b[0] = op;
  b.writeUInt32BE(payloadLen, 4);
  b.writeBigUInt64BE(opData, 8);
  b.writeBigUInt64BE(source, 16);
  b.writeBigUInt64BE(dest, 24);
  return b;
}
const DIRECT_MESSAGE = 2;
const hugeFrame = () => baspHeader(DIRECT_MESSAGE, GiB, { source: 1n, dest: 1n });

// Resolves true when `s` closes within `ms`, else false (and destroys it).
function closedWithin(s, ms) {
  return new Promise((resolve) => {
    if (s.destroyed || s.closed) return resolve(true);
    const timer = setTimeout(() => { s.destroy(); resolve(false); }, ms);
    s.once('close', () => { clearTimeout(timer); resolve(true); });
  });
}

// A raw connection that writes `bytes` once connected (errors ignored: the
// node may close first). What the node sends is read and dropped: a paused
// socket would never see the node's FIN, so never 'close'.
function rawSend(port, bytes) {
  const s = net.connect(port, '127.0.0.1', () => s.write(bytes, () => {}));
  s.on('error', () => {});
  s.resume();
  return s;
}

// ---------------------------------------------------------------------------

function linesOf(n, event, since = 0) {
  return (n.allEvents || []).filter((e) => e.event === event && e.t >= since).map((e) => e.line);
}

// Every node: its members are exactly the other cluster nodes.
function assertFormed() {
  for (const n of cluster.live()) {
    assert.deepEqual([...n.members].sort(), cluster.live().filter((o) => o !== n).map((o) => o.id).sort(),
      `${n.name}: members are exactly the other nodes`);
  }
}

// Runs `fn` while editors type on two documents spread over the nodes;
// afterwards: no member_down since, every editor acked after `fn`, no
// error, the documents' histories are gapless and exactly-once.
async function undisturbed(t, label, fn) {
  const rnd = mulberry32(seedFor(t));
  const slug = `iso-${label.replace(/[^A-Za-z0-9]+/g, '-')}`;
  const docs = [randomId(slug), randomId(slug)];
  const byDoc = await openSpread(cluster, docs, cluster.live());
  const editors = [...byDoc.values()].flat();
  const stopLoad = startLoad(editors, rnd, { minPause: 20, maxPause: 60 });
  const since = Date.now();
  let result;
  let doneAt;
  try {
    await sleep(300);
    result = await fn(since);
    doneAt = Date.now();
    await sleep(1000);
  } finally {
    await stopLoad();
  }
  await settleAll(editors, 30000);
  const downs = cluster.nodes.flatMap((n) => linesOf(n, 'member_down', since).map((l) => `${n.name}: ${l}`));
  assert.deepEqual(downs, [], `no member_down while ${label}`);
  assertFormed();
  for (const doc of docs) {
    await checkDocument(cluster.nodes[0], doc, byDoc.get(doc), { services: cluster.services });
    for (const d of byDoc.get(doc)) {
      assert.deepEqual(editorTrouble(d), [], `${d.label}: no error, no unavailable`);
      assert.deepEqual(d.serverCloses(), [], `${d.label}: no socket closed by a server`);
      assert.ok(d.acks.some((a) => a.t > doneAt), `${d.label}: acks after ${label}`);
    }
  }
  for (const d of editors) d.stop();
  for (const n of cluster.nodes) n.assertAlive();
  return result;
}

// The ports a node listens on: its client port, its cluster port, and its
// admin port if it has one; nothing else, no Unix socket either.
function assertOnlyPublicPorts(n) {
  const s = listeningSockets(n.srv.proc.pid);
  const expected = [n.port, n.clusterPort, ...(n.adminPort ? [n.adminPort] : [])].sort((a, b) => a - b);
  assert.deepEqual(s.tcp.map((x) => x.port).sort((a, b) => a - b), expected,
    `${n.name}: listening TCP ports ${JSON.stringify(s.tcp)} (a loopback hop another process could reach?)`);
  assert.deepEqual(s.unix, [], `${n.name}: listening Unix sockets`);
}

// A node on the cluster's services that is not one of its members.
async function extraNode(name, env) {
  const n = await cluster.addNode({ COLLAB_NODE_ID: `iso-${cluster.tag}-${name}`, ...env });
  cluster.nodes.splice(cluster.nodes.indexOf(n), 1);
  Object.defineProperty(n, 'name', { value: name });
  extras.push(n);
  return n;
}

// ---------------------------------------------------------------------------

test('nodes with the cluster key form a cluster (auth=key) and listen on their public ports only', { timeout: 30000 }, async () => {
  for (const n of cluster.nodes) {
    const l = linesOf(n, 'cluster_listening');
    assert.equal(l.length, 1, `${n.name}: one cluster_listening line`);
    assert.match(l[0], /\bauth=key\b/, `${n.name}: cluster_listening says auth=key`);
    assert.match(l[0], /\bmax_frame_bytes=\d+/, `${n.name}: cluster_listening gives the frame limit`);
  }
  assertFormed();
  for (const n of cluster.nodes) assertOnlyPublicPorts(n);
});

test('raw connections announcing a 1 GiB BASP frame (no key) are closed, memory unchanged, refusals logged once a second',
  { timeout: 60000 }, async (t) => {
    const target = cluster.nodes[0];
    const pid = target.srv.proc.pid;
    const r = await undisturbed(t, 'raw 1 GiB headers', async (since) => {
      const before = memoryOf(pid);
      // four at once: before the fix each reserved 1 GiB and waited for it
      const socks = [0, 1, 2, 3].map(() => rawSend(target.clusterPort, hugeFrame()));
      const closed = await Promise.all(socks.map((s) => closedWithin(s, 8000)));
      // and a flood of them, one after the other
      const floodStart = Date.now();
      for (let i = 0; i < 30; i++) {
        const s = rawSend(target.clusterPort, hugeFrame());
        await closedWithin(s, 8000);
      }
      const floodMs = Date.now() - floodStart;
      await sleep(300);
      const afterMem = memoryOf(pid);
      return { before, after: afterMem, closed, floodMs, since };
    });
    t.diagnostic(`memory before ${JSON.stringify(r.before)} after ${JSON.stringify(r.after)}; flood of 30 took ${r.floodMs} ms`);
    assert.deepEqual(r.closed, [true, true, true, true], 'every connection announcing 1 GiB closed by the node');
    assert.ok(r.after.data - r.before.data < MAX_DATA_GROWTH,
      `VmData grew by ${r.after.data - r.before.data} bytes (a 1 GiB header was allocated?)`);
    assert.ok(r.after.rss - r.before.rss < MAX_RSS_GROWTH, `VmRSS grew by ${r.after.rss - r.before.rss} bytes`);
    // logged, but at most about once a second
    const lines = linesOf(target, 'cluster_auth_refused', r.since);
    t.diagnostic(`${lines.length} cluster_auth_refused lines for 34 connections; first: ${lines[0]}`);
    assert.ok(lines.length >= 1, 'the refusal is logged');
    const seconds = Math.ceil((Date.now() - r.since) / 1000);
    assert.ok(lines.length <= seconds + 1, `${lines.length} lines in ${seconds} s: not rate-limited`);
    // the next line counts what was not logged
    await sleep(1100);
    const s = rawSend(target.clusterPort, hugeFrame());
    await closedWithin(s, 8000);
    const next = await waitFor(() => linesOf(target, 'cluster_auth_refused', Date.now() - 1000).slice(-1)[0], 5000,
      'a cluster_auth_refused line after a quiet second');
    assert.match(next, /not_logged=[1-9]\d*/, `the line after the flood counts the lines not logged: ${next}`);
  });

test('a peer that proves the key and then announces a 1 GiB frame is cut off before CAF reads it', { timeout: 60000 }, async (t) => {
  const target = cluster.nodes[1];
  const pid = target.srv.proc.pid;
  const r = await undisturbed(t, 'authenticated 1 GiB headers', async (since) => {
    const before = memoryOf(pid);
    const closed = [];
    for (let i = 0; i < 4; i++) {
      const s = await keyedConnect(target.clusterPort, cluster.clusterKey);
      s.write(hugeFrame());
      // and what a peer streaming the payload would send next
      s.write(Buffer.alloc(4 * 2 ** 20, 0x61), () => {});
      s.on('error', () => {});
      closed.push(await closedWithin(s, 8000));
    }
    await sleep(300);
    return { before, after: memoryOf(pid), closed, since };
  });
  t.diagnostic(`memory before ${JSON.stringify(r.before)} after ${JSON.stringify(r.after)}`);
  assert.deepEqual(r.closed, [true, true, true, true], 'every authenticated connection announcing 1 GiB closed');
  assert.ok(r.after.data - r.before.data < MAX_DATA_GROWTH, `VmData grew by ${r.after.data - r.before.data} bytes`);
  assert.ok(r.after.rss - r.before.rss < MAX_RSS_GROWTH, `VmRSS grew by ${r.after.rss - r.before.rss} bytes`);
  const lines = linesOf(target, 'cluster_frame_refused', r.since);
  assert.ok(lines.length >= 1, 'event=cluster_frame_refused logged');
  assert.match(lines[0], /direction=in verdict=too_large payload_bytes=1073741824 max=\d+/, lines[0]);
  assert.deepEqual(linesOf(target, 'cluster_auth_refused', r.since), [], 'the right key was never refused');
});

// Connects to `port` and resolves the socket once the node sent its key
// hello (so it was accepted and holds a handshake place).
function helloed(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('data', () => resolve(s));
    s.once('error', reject);
    s.once('close', () => reject(new Error('closed before the node\'s hello')));
  });
}

test('silent connections hold at most max_handshakes places; one more is closed without a hello; the cluster undisturbed',
  { timeout: 60000 }, async (t) => {
    const target = cluster.nodes[2];
    const max = Number(/\bmax_handshakes=(\d+)/.exec(linesOf(target, 'cluster_listening')[0])[1]);
    const r = await undisturbed(t, 'silent handshakes', async (since) => {
      // all places taken by sockets that never say a word (well within the
      // handshake deadline: each is accepted as soon as it connects)
      const idle = await Promise.all(Array.from({ length: max }, () => helloed(target.clusterPort)));
      const extra = net.connect(target.clusterPort, '127.0.0.1');
      let got = 0;
      extra.on('data', (d) => { got += d.length; });
      extra.on('error', () => {});
      const closed = await closedWithin(extra, 8000);
      for (const s of idle) s.destroy();
      // the places come back: a peer with the key gets through again
      const peer = await waitFor(() => keyedConnect(target.clusterPort, cluster.clusterKey).catch(() => null), 10000,
        'a keyed connection after the silent ones left');
      peer.destroy();
      return { closed, got, since };
    });
    assert.ok(r.closed, 'the connection over the limit closed by the node');
    assert.equal(r.got, 0, 'the connection over the limit got no key hello (it never took a place)');
    const full = linesOf(target, 'cluster_handshakes_full', r.since);
    t.diagnostic(`max_handshakes=${max}; ${full[0]}`);
    assert.ok(full.length >= 1, 'event=cluster_handshakes_full logged');
  });

test('a node with the wrong cluster key never becomes a member; the cluster does not notice', { timeout: 60000 }, async (t) => {
  const intruder = await extraNode('wrong-key', { COLLAB_CLUSTER_KEY: crypto.randomBytes(24).toString('hex') });
  intruder.env.COLLAB_SEEDS = cluster.nodes.map((n) => n.clusterAddr).join(',');
  const since = await undisturbed(t, 'a wrong-key node knocks', async (s) => {
    await intruder.start();
    await sleep(4000);
    return s;
  });
  try {
    assert.ok(intruder.alive(), 'the wrong-key node runs (refused, not crashed)');
    assert.deepEqual(linesOf(intruder, 'member_up'), [], 'it logged no member_up');
    assert.equal(intruder.members.size, 0, 'it sees no member');
    for (const n of cluster.nodes) {
      const ups = linesOf(n, 'member_up', since).filter((l) => l.includes(intruder.id));
      assert.deepEqual(ups, [], `${n.name}: no member_up for the wrong-key node`);
    }
    const refused = cluster.nodes.flatMap((n) => linesOf(n, 'cluster_auth_refused', since));
    assert.ok(refused.some((l) => /wrong cluster key/.test(l)), `a member logged the wrong key: ${refused.slice(0, 3).join(' | ')}`);
    assert.ok(linesOf(intruder, 'cluster_auth_failed').some((l) => /wrong cluster key/.test(l)),
      'the wrong-key node logged event=cluster_auth_failed');
  } finally {
    await intruder.kill();
  }
});

test('outside --dev a cluster port needs a key or TLS (exit 2); a short key is refused; --dev starts with a warning',
  { timeout: 60000 }, async (t) => {
    const base = async () => ({
      COLLAB_JWT_SECRET: cluster.secret,
      COLLAB_BIND: '127.0.0.1',
      COLLAB_CLIENT_PORT: String(await freePort()),
      COLLAB_CLUSTER_PORT: String(await freePort()),
      COLLAB_CLUSTER_BIND: '127.0.0.1',
      COLLAB_NODE_ID: `iso-${cluster.tag}-cfg`,
      COLLAB_LOG_LEVEL: 'info',
    });
    const noKey = await runToExit(await base());
    t.diagnostic(`no key: ${JSON.stringify({ code: noKey.code, ready: noKey.ready })} ${noKey.output.filter((l) => /config_error/.test(l)).join(' | ')}`);
    assert.ok(!noKey.ready, `started without a key:\n${noKey.output.slice(-5).join('\n')}`);
    assert.equal(noKey.code, 2, `exit code without a key:\n${noKey.output.slice(-5).join('\n')}`);
    assert.ok(noKey.output.some((l) => /event=config_error.*COLLAB_CLUSTER_KEY/.test(l)), 'a config_error naming COLLAB_CLUSTER_KEY');

    const short = await runToExit({ ...(await base()), COLLAB_CLUSTER_KEY: 'short-key' });
    assert.equal(short.code, 2, `exit code with a 9-byte key:\n${short.output.slice(-5).join('\n')}`);
    assert.ok(short.output.some((l) => /event=config_error.*shorter/.test(l)), 'a config_error about the short key');

    const dev = await runToExit({ ...(await base()), COLLAB_DEV: '1' });
    assert.ok(dev.ready, `--dev without a key did not start:\n${dev.output.slice(-8).join('\n')}`);
    assert.ok(dev.output.some((l) => /event=cluster_unauthenticated/.test(l)), 'a loud warning in --dev');
    assert.ok(dev.output.some((l) => /event=cluster_listening.*\bauth=none\b/.test(l)), 'cluster_listening says auth=none');
  });

test('TLS: a certificate of the cluster CA for another name is refused by the node that dialled it; ' +
  'certificates naming the address join; no loopback hop', { timeout: 90000 }, async (t) => {
  certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'collab-iso-pki-'));
  const ca = makeCa(certDir, 'ca');
  const honest1 = makeLeaf(certDir, 'honest1', ca);
  const honest2 = makeLeaf(certDir, 'honest2', ca);
  const impostorCert = makeLeaf(certDir, 'impostor', ca, { san: 'DNS:elsewhere.invalid' });
  const tls = (leaf) => ({ ...tlsEnv(leaf, ca), COLLAB_CLUSTER_KEY: undefined });
  // The impostor dials nobody: only what the honest node does is judged.
  const impostor = await extraNode('impostor', { ...tls(impostorCert), COLLAB_SEEDS: undefined });
  const h1 = await extraNode('tls-h1', tls(honest1));
  h1.env.COLLAB_SEEDS = impostor.clusterAddr;
  await impostor.start();
  const since = Date.now();
  await h1.start();
  const failed = await waitFor(() => linesOf(h1, 'cluster_tls_failed').find((l) => l.includes(`:${impostor.clusterPort}`)), 10000,
    `${h1.name} refusing ${impostor.name}'s certificate (event=cluster_tls_failed)`);
  t.diagnostic(`${h1.name}: ${failed}`);
  assert.match(failed, /does not name 127\.0\.0\.1/, 'refused because the certificate names another host');
  await sleep(2000); // a few more dial attempts
  assert.deepEqual(linesOf(h1, 'member_up'), [], `${h1.name} never counted the impostor as a member`);
  assert.deepEqual(linesOf(impostor, 'member_up'), [], 'the impostor never counted the honest node as a member');
  assert.ok(linesOf(impostor, 'cluster_tls_refused', since).length >= 1, 'the impostor saw its handshakes fail');

  // the positive control: a certificate naming the address dialled joins
  const h2 = await extraNode('tls-h2', tls(honest2));
  h2.env.COLLAB_SEEDS = h1.clusterAddr;
  await h2.start();
  await waitFor(() => h1.members.has(h2.id) && h2.members.has(h1.id), 15000,
    `${h1.name} and ${h2.name} seeing each other (member_up)`);
  for (const n of [h1, h2]) {
    assert.match(linesOf(n, 'cluster_listening')[0], /\btls=true\b.*\bauth=tls\b/, `${n.name}: tls=true auth=tls`);
    assertOnlyPublicPorts(n);
  }
  for (const n of [impostor, h1, h2]) await n.kill();
});

test('a node with the right key joins the running cluster', { timeout: 60000 }, async () => {
  const n4 = await cluster.addNode();
  cluster.setSeeds([n4]);
  await cluster.start([n4]);
  await cluster.waitMembers(15000);
  assertOnlyPublicPorts(n4);
  await n4.stop();
});
