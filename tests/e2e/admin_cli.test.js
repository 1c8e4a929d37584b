'use strict';
// The admin API and collabctl (docs/ADMIN.md) against a live three-node
// cluster under load: editors typing on several documents, spread over the
// nodes, with known users. collabctl runs as a child process
// (--node 127.0.0.1:<admin port> --token T --json ...) and every answer is
// checked against what the test itself did or can see elsewhere: the
// sockets it opened (welcome.node/session), the revisions its clients
// settled on, GET /v1/docs/{id}/ops, PostgreSQL (documents.owner/epoch,
// ops, snapshots) and the Redis stream (collab:{ID}:ops). Then the
// operations: move, snapshot, evict, kick, token, revoke (user and jti),
// drain; the editors keep going through all of it and the final history is
// gapless, exactly-once and converged.
require('./lib/deps');
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { randomId, session, tryConnect } = require('./lib/client');
const { sleep, mulberry32, settleAll, checkDocument, waitFor, freePort, readyz, getDoc } = require('./lib/durability');
const { Cluster, docOwnedBy, rendezvousOwner, editorTrouble } = require('./lib/cluster');
const { decodePayload } = require('./lib/jwt');
const {
  collabctl, show, Ctl, adminHttp, clientHttp, openUserEditor, startTyping,
} = require('./lib/admin');

let cluster;
let ctl;
let n1;
let n2;
let n3;
const run = {
  editors: [],         // every UserDoc
  byDoc: new Map(),    // doc -> [UserDoc]
  probes: [],          // raw sockets opened by single tests (closed at their end)
  ready: false,
};
let docA;   // 4 subscribers: 2 on n1, 2 on n2; placed on n3
let hot;    // typed fast, placed on n1
let docsB;  // [placed on n1, on n2, on n3], one editor per node each
const ids = () => cluster.nodes.map((n) => n.id);

before(async () => {
  cluster = await Cluster.create('cadmin', 3, {}, { admin: true });
  [n1, n2, n3] = cluster.nodes;
  ctl = new Ctl(cluster.adminToken);
  await cluster.start();
  await cluster.waitMembers();
  // the admin port of every node listens
  await Promise.all(cluster.nodes.map((n) => waitFor(async () => (await adminHttp(n, '/admin/v1/nodes')).status !== 0,
    20000, `${n.name}: something listening on its admin port ${n.adminPort}`, 100)));
  run.startedAt = Date.now();

  docA = docOwnedBy('adm-a', n3, cluster.nodes);
  hot = docOwnedBy('adm-hot', n1, cluster.nodes);
  docsB = [n1, n2, n3].map((n, i) => docOwnedBy(`adm-b${i}`, n, cluster.nodes));
  const open = async (doc, home, user) => {
    const d = await openUserEditor(cluster, doc, home, user, `${doc}#${home.name}:${user}`);
    run.editors.push(d);
    if (!run.byDoc.has(doc)) run.byDoc.set(doc, []);
    run.byDoc.get(doc).push(d);
    return d;
  };
  // docA: users ann and bob on n1, cat and dan on n2, each with a presence
  const people = [['ann', n1], ['bob', n1], ['cat', n2], ['dan', n2]];
  for (const [i, [who, home]] of people.entries()) {
    const d = await open(docA, home, `u-${who}`);
    d.presence = { name: who, cursor: i + 1, color: `#${(i + 1) * 111}`, tags: ['admin-e2e', i] };
    d.client.send({ type: 'presence', doc: docA, data: d.presence });
  }
  for (const n of cluster.nodes) await open(hot, n, `u-hot-${n.name}`);
  for (const doc of docsB) for (const n of cluster.nodes) await open(doc, n, `u-${doc.split('-')[1]}-${n.name}`);
  const rnd = mulberry32(Number(process.env.E2E_SEED || Math.floor(Math.random() * 2 ** 31)));
  run.stopTyping = startTyping(run.editors, rnd, (d) => {
    if (d.doc === hot) return [25, 50];
    if (d.doc === docA) return [80, 200];
    return [150, 350];
  });
  await waitFor(() => run.editors.every((d) => d.acks.length > 0), 20000, 'an ack for every editor');
  // a few seconds of load first: the nodes' rates are sampled every second
  await sleep(Number(process.env.E2E_ADMIN_WARMUP_MS || 3000));
  run.ready = true;
});

after(async () => {
  if (!cluster) return;
  for (const c of run.probes) c.terminate();
  if (run.stopTyping) await run.stopTyping().catch(() => {});
  console.log(`# admin_cli: log events ${JSON.stringify(cluster.eventSummary())}`);
  await cluster.shutdown();
});

const editorsOf = (doc) => run.byDoc.get(doc);

// {nodeId: number of open sockets the test holds there}
function openSockets() {
  const out = {};
  for (const n of cluster.nodes) out[n.id] = 0;
  const sockets = [...run.editors.map((d) => d.client), ...run.probes];
  for (const c of sockets) {
    if (c.isOpen && c.welcome && c.welcome.node in out) out[c.welcome.node]++;
  }
  return out;
}

// Holds a document still: its editors stop typing and settle on one rev.
async function hold(doc) {
  const eds = editorsOf(doc);
  for (const d of eds) d.hold = true;
  await settleAll(eds, 30000);
  const rev = Math.max(...eds.map((d) => d.rev));
  await Promise.all(eds.map((d) => d.waitRev(rev, 20000)));
  await sleep(100);
  const revs = eds.map((d) => d.rev);
  assert.ok(revs.every((r) => r === rev), `${doc}: editors settled on one rev: ${revs}`);
  return rev;
}

function release(doc) {
  for (const d of editorsOf(doc)) d.hold = false;
}

// A raw session of `user` on `node` (counted as the test's socket).
async function probe(node, opts = {}) {
  const c = await session(node, { label: `probe@${node.name}`, ...opts });
  run.probes.push(c);
  return c;
}

function closeProbes() {
  for (const c of run.probes.splice(0)) c.close();
}

// Resolves the socket's close info, or null when it stays open for `ms`.
async function closedWithin(c, ms) {
  return Promise.race([c.closed, sleep(ms).then(() => null)]);
}

async function sqlRows(statement) {
  return (await cluster.services.sql(statement)).split('\n').map((l) => l.trim()).filter(Boolean);
}

const pick = (o, keys) => Object.fromEntries(keys.map((k) => [k, o[k]]));

const q = (s) => `'${s.replace(/'/g, "''")}'`;

function requireReady() {
  assert.ok(run.ready, 'the cluster and its editors did not start');
}

// ---------------------------------------------------------------------------

test('admin requests without the token are refused (401, collabctl exit 4); unreachable node: exit 3; bad usage: exit 2; the client port has no /admin', { timeout: 60000 }, async () => {
  requireReady();
  const token = cluster.adminToken;
  for (const n of cluster.nodes) {
    const none = await adminHttp(n, '/admin/v1/nodes');
    assert.equal(none.status, 401, `${n.name}: GET /admin/v1/nodes without Authorization: ${none.status} ${none.text}`);
    assert.equal(none.body && none.body.error, 'unauthorized', `${n.name}: error code of the 401: ${none.text}`);
    const wrong = await adminHttp(n, '/admin/v1/nodes', { token: `x${token}` });
    assert.equal(wrong.status, 401, `${n.name}: wrong token: ${wrong.status} ${wrong.text}`);
    assert.equal(wrong.body && wrong.body.error, 'unauthorized', `${n.name}: wrong token: ${wrong.text}`);
    const prefix = await adminHttp(n, '/admin/v1/nodes', { token: token.slice(0, -1) });
    assert.equal(prefix.status, 401, `${n.name}: the token minus its last character: ${prefix.status} ${prefix.text}`);
    const basic = await adminHttp(n, '/admin/v1/nodes', { headers: { Authorization: `Basic ${Buffer.from(`admin:${token}`).toString('base64')}` } });
    assert.equal(basic.status, 401, `${n.name}: Basic instead of Bearer: ${basic.status} ${basic.text}`);
    // refused before anything is done: no token minted, nothing looked up
    const mint = await adminHttp(n, '/admin/v1/tokens', { method: 'POST', body: { sub: 'intruder', docs: ['*'], ttl: 60 } });
    assert.equal(mint.status, 401, `${n.name}: POST /admin/v1/tokens without Authorization: ${mint.status} ${mint.text}`);
    assert.ok(!mint.text.includes('"token"'), `${n.name}: no token in a refusal: ${mint.text}`);
    const snap = await adminHttp(n, `/admin/v1/docs/${randomId('adm-nosuch')}/snapshot`, { method: 'POST', token: 'nope' });
    assert.equal(snap.status, 401, `${n.name}: POST snapshot with a wrong token (401 before 404): ${snap.status} ${snap.text}`);
    const ok = await adminHttp(n, '/admin/v1/nodes', { token });
    assert.equal(ok.status, 200, `${n.name}: with the token: ${ok.status} ${ok.text}`);
    assert.ok(ok.body && Array.isArray(ok.body.nodes), `${n.name}: {"nodes":[...]}: ${ok.text.slice(0, 300)}`);
    // the client port does not serve the admin API, not even with the token
    for (const tok of [undefined, token]) {
      const c = await clientHttp(n, '/admin/v1/nodes', { token: tok });
      assert.equal(c.status, 404, `${n.name}: GET /admin/v1/nodes on the client port (${tok ? 'admin token' : 'no token'}): ${c.status} ${c.text.slice(0, 200)}`);
    }
    const cp = await clientHttp(n, `/admin/v1/docs/${docA}`, { token });
    assert.equal(cp.status, 404, `${n.name}: GET /admin/v1/docs/ID on the client port: ${cp.status} ${cp.text.slice(0, 200)}`);
  }

  // collabctl: no token (nothing in the environment either), wrong token
  for (const n of cluster.nodes) {
    const r0 = await collabctl(['nodes'], { node: n.adminAddr, token: null });
    assert.equal(r0.code, 4, `no token: ${show(r0)}`);
    assert.ok(r0.stderr.trim().length > 0, `no token: a message on stderr: ${show(r0)}`);
    const r1 = await collabctl(['nodes'], { node: n.adminAddr, token: `wrong-${token}` });
    assert.equal(r1.code, 4, `wrong token: ${show(r1)}`);
    assert.ok(!r1.stdout.includes(n.id), `wrong token: no node list on stdout: ${show(r1)}`);
  }
  const rDrain = await collabctl(['drain', n1.id], { node: n2.adminAddr, token: 'nope' });
  assert.equal(rDrain.code, 4, `drain with a wrong token: ${show(rDrain)}`);
  // the token from $COLLAB_ADMIN_TOKEN and the node from $COLLAB_ADMIN_NODE
  const rEnv = await collabctl(['nodes'], { node: null, token: null, env: { COLLAB_ADMIN_TOKEN: token, COLLAB_ADMIN_NODE: n2.adminAddr } });
  assert.equal(rEnv.code, 0, `token and node from the environment: ${show(rEnv)}`);
  assert.deepEqual((rEnv.json.nodes || []).map((x) => x.node).sort(), ids().sort(), `nodes through $COLLAB_ADMIN_NODE: ${show(rEnv)}`);
  // global options after the command, as kubectl takes them
  const rAfter = await collabctl(['nodes', '--json', '--node', n2.adminAddr, '--token', token], { node: null, token: null, json: false });
  assert.equal(rAfter.code, 0, `global options after the command: ${show(rAfter)}`);
  assert.deepEqual((rAfter.json.nodes || []).map((x) => x.node).sort(), ids().sort(), `nodes --json: ${show(rAfter)}`);

  // an unreachable node: exit 3 with a message that says so
  const port = await freePort();
  const rU = await collabctl(['nodes'], { node: `127.0.0.1:${port}`, token, timeoutMs: 30000 });
  assert.equal(rU.code, 3, `unreachable node: ${show(rU)}`);
  assert.match(rU.stderr, new RegExp(`${port}|unreachable|refused|connect`, 'i'), `unreachable: a clear message on stderr: ${show(rU)}`);
  assert.ok(rU.ms < 20000, `unreachable answered in ${rU.ms} ms`);

  // bad usage: exit 2
  for (const args of [['frobnicate'], ['doc'], ['move', docA], ['kick'], ['revoke'], ['token', '--docs', 'x/*']]) {
    const r = await ctl.run(n1, args);
    assert.equal(r.code, 2, `bad usage ${JSON.stringify(args)}: ${show(r)}`);
  }

  // an error answer: exit 1, the message on stderr; the API says 404 not_found
  const nosuch = randomId('adm-nosuch');
  const rN = await ctl.run(n1, ['doc', nosuch]);
  assert.equal(rN.code, 1, `doc of a document nobody has live: ${show(rN)}`);
  assert.ok(rN.stderr.trim().length > 0, `the error message on stderr: ${show(rN)}`);
  const hN = await adminHttp(n1, `/admin/v1/docs/${nosuch}`, { token });
  assert.equal(hN.status, 404, `GET /admin/v1/docs/${nosuch}: ${hN.status} ${hN.text}`);
  assert.equal(hN.body && hN.body.error, 'not_found', `error code: ${hN.text}`);
  assert.equal(typeof (hN.body && hN.body.message), 'string', `errors carry a message: ${hN.text}`);
});

test('nodes: exactly the 3 nodes, up, with the test\'s sockets per node, the same through every node', { timeout: 60000 }, async (t) => {
  requireReady();
  const view = (a) => (a.nodes || []).map((x) => ({ node: x.node, state: x.state, connections: x.connections }))
    .sort((x, y) => (x.node < y.node ? -1 : 1));
  let last;
  try {
    await waitFor(async () => {
      const want = openSockets();
      const expected = ids().sort().map((id) => ({ node: id, state: 'up', connections: want[id] }));
      const answers = [];
      for (const n of cluster.nodes) answers.push({ via: n.name, view: view(await ctl.json(n, ['nodes'])) });
      last = { expected, answers };
      return answers.every((a) => JSON.stringify(a.view) === JSON.stringify(expected));
    }, 15000, 'nodes through each node to list the 3 nodes, up, with the sockets the test holds on each', 500);
  } catch (e) {
    for (const a of last.answers) assert.deepEqual(a.view, last.expected, `nodes through ${a.via} (test's open sockets ${JSON.stringify(openSockets())})`);
    throw e;
  }
  t.diagnostic(`sockets per node: ${JSON.stringify(openSockets())}`);

  // the other fields, through every node; static ones identical everywhere
  const docs = [docA, hot, ...docsB];
  const owners = await cluster.owners(docs);
  const headsBefore = [...owners.values()].reduce((s, o) => s + o.head, 0);
  const statics = [];
  for (const via of cluster.nodes) {
    const a = await ctl.json(via, ['nodes']);
    assert.equal(a.nodes.length, 3, `through ${via.name}: three nodes: ${JSON.stringify(a)}`);
    for (const n of cluster.nodes) {
      const x = a.nodes.find((y) => y.node === n.id);
      assert.ok(x, `through ${via.name}: ${n.name} listed`);
      assert.equal(x.client_port, n.port, `through ${via.name}: ${n.name} client_port`);
      assert.equal(x.admin_port, n.adminPort, `through ${via.name}: ${n.name} admin_port`);
      assert.equal(x.cluster_addr, n.clusterAddr, `through ${via.name}: ${n.name} cluster_addr`);
      assert.ok(Number.isFinite(x.uptime_s) && x.uptime_s >= 0 && x.uptime_s <= (Date.now() - run.startedAt) / 1000 + 60,
        `through ${via.name}: ${n.name} uptime_s ${x.uptime_s}`);
      assert.ok(typeof x.version === 'string' && x.version.length > 0, `through ${via.name}: ${n.name} version ${x.version}`);
      assert.ok(x.rss_bytes > 1e6, `through ${via.name}: ${n.name} rss_bytes ${x.rss_bytes}`);
      for (const k of ['sessions', 'documents', 'ops_per_s', 'ops_committed']) {
        assert.ok(Number.isFinite(x[k]) && x[k] >= 0, `through ${via.name}: ${n.name} ${k} = ${x[k]}`);
      }
      const mine = docs.filter((d) => owners.get(d).owner === n.id).length;
      assert.ok(x.documents >= mine, `through ${via.name}: ${n.name} has ${x.documents} live documents, PostgreSQL says it owns ${mine} of the test's`);
      if (owners.get(hot).owner === n.id) {
        assert.ok(x.ops_per_s > 0, `through ${via.name}: ${n.name} owns the hot document, ops_per_s ${x.ops_per_s}`);
      }
    }
    statics.push(a.nodes.map((x) => `${x.node} ${x.client_port} ${x.admin_port} ${x.cluster_addr} ${x.version}`).sort());
  }
  assert.deepEqual(statics[1], statics[0], 'n2 and n1 agree');
  assert.deepEqual(statics[2], statics[0], 'n3 and n1 agree');
  // ops_committed: every op committed in this cluster (all of them are the
  // test's) is counted by exactly one node
  const a = await ctl.json(n2, ['nodes']);
  const headsAfter = [...(await cluster.owners(docs)).values()].reduce((s, o) => s + o.head, 0);
  const total = a.nodes.reduce((s, x) => s + x.ops_committed, 0);
  assert.ok(total >= headsBefore && total <= headsAfter,
    `sum of ops_committed ${total} within the revisions committed before (${headsBefore}) and after (${headsAfter}) the request`);
});

test('docs: subscribers, owner (= documents.owner), rev (= what the clients settled on); --node filters; --sort ops|subs', { timeout: 60000 }, async (t) => {
  requireReady();
  const rev = await hold(docA);
  try {
    const docs = [docA, hot, ...docsB];
    const owners = await cluster.owners(docs);
    t.diagnostic(`owners: ${docs.map((d) => `${d}=${cluster.nameOf(owners.get(d).owner)} (placed ${cluster.nameOf(rendezvousOwner(ids(), d))})`).join(' ')}`);
    const list = await ctl.json(n2, ['docs']);
    assert.ok(Array.isArray(list.docs), `{"docs":[...]}: ${JSON.stringify(list).slice(0, 300)}`);
    assert.deepEqual(list.missing || [], [], 'no node missing');
    const byId = new Map(list.docs.map((d) => [d.doc, d]));
    for (const doc of docs) {
      const e = byId.get(doc);
      assert.ok(e, `${doc} listed (live)`);
      assert.equal(e.node, owners.get(doc).owner, `${doc}: node is documents.owner`);
      assert.equal(e.subscribers, editorsOf(doc).length, `${doc}: subscribers`);
      for (const k of ['rev', 'durable_rev', 'snapshot_rev', 'mailbox', 'ops_per_s', 'idle_s']) {
        assert.ok(Number.isFinite(e[k]) && e[k] >= 0, `${doc}: ${k} = ${e[k]}`);
      }
      assert.ok(e.durable_rev <= e.rev && e.snapshot_rev <= e.rev, `${doc}: durable_rev ${e.durable_rev}, snapshot_rev ${e.snapshot_rev} <= rev ${e.rev}`);
    }
    const a = byId.get(docA);
    assert.deepEqual({ subscribers: a.subscribers, node: a.node, rev: a.rev, durable_rev: a.durable_rev },
      { subscribers: 4, node: owners.get(docA).owner, rev, durable_rev: rev }, `${docA} (4 editors on n1 and n2, settled at rev ${rev})`);
    assert.equal(owners.get(docA).head, rev, `${docA}: documents.head_rev is the settled rev`);

    // --node N: the documents live on N, exactly
    const union = new Set();
    for (const [i, n] of cluster.nodes.entries()) {
      const via = cluster.nodes[(i + 1) % 3];
      const f = await ctl.json(via, ['docs', '--node', n.id]);
      assert.ok(Array.isArray(f.docs), `docs --node ${n.name}: ${JSON.stringify(f).slice(0, 300)}`);
      const wrong = f.docs.filter((d) => d.node !== n.id);
      assert.deepEqual(wrong.map((d) => `${d.doc}@${d.node}`), [], `docs --node ${n.name} (through ${via.name}): only ${n.name}'s documents`);
      const got = f.docs.map((d) => d.doc).filter((d) => docs.includes(d)).sort();
      const want = docs.filter((d) => owners.get(d).owner === n.id).sort();
      assert.deepEqual(got, want, `docs --node ${n.name}: the test's documents PostgreSQL places there`);
      for (const d of f.docs) union.add(d.doc);
    }
    assert.deepEqual([...union].sort(), list.docs.map((d) => d.doc).sort(), 'the three --node lists make up the whole list');

    // --sort ops: by ops_per_s, highest first; the hot document leads
    const byOps = await ctl.json(n3, ['docs', '--sort', 'ops']);
    const rates = byOps.docs.map((d) => d.ops_per_s);
    assert.deepEqual(rates, [...rates].sort((x, y) => y - x), `docs --sort ops: ops_per_s non-increasing: ${JSON.stringify(byOps.docs.map((d) => [d.doc, d.ops_per_s]))}`);
    assert.equal(byOps.docs[0].doc, hot, `docs --sort ops: the hot document (about 60 ops/s) first: ${JSON.stringify(byOps.docs.map((d) => [d.doc, d.ops_per_s]))}`);
    // ops_per_s of the hot document against its commits as the clients saw
    // them (each commit is acked to exactly one of its editors): a rate over
    // some trailing window of 1 to 10 s lies between the extremes of those
    const hotRate = byOps.docs[0].ops_per_s;
    const now = Date.now();
    const ackTimes = editorsOf(hot).flatMap((d) => d.acks.map((x) => x.t));
    const windows = [];
    for (let w = 1; w <= 10; w++) windows.push(ackTimes.filter((x) => x > now - w * 1000).length / w);
    const lo = Math.min(...windows);
    const hi = Math.max(...windows);
    t.diagnostic(`hot: ops_per_s ${hotRate}; the clients' commit rate over the last 1..10 s: ${windows.map((x) => x.toFixed(1)).join(' ')}`);
    assert.ok(hotRate > 0 && hotRate >= lo * 0.7 - 1 && hotRate <= hi * 1.3 + 1,
      `hot document: ops_per_s ${hotRate} within the clients' commit rates over trailing windows of 1..10 s (${lo.toFixed(1)}..${hi.toFixed(1)})`);
    // --sort subs: docA (4 subscribers) first
    const bySubs = await ctl.json(n1, ['docs', '--sort', 'subs']);
    const subs = bySubs.docs.map((d) => d.subscribers);
    assert.deepEqual(subs, [...subs].sort((x, y) => y - x), `docs --sort subs non-increasing: ${JSON.stringify(bySubs.docs.map((d) => [d.doc, d.subscribers]))}`);
    assert.equal(bySubs.docs[0].doc, docA, 'docs --sort subs: the 4-subscriber document first');
  } finally {
    release(docA);
  }
});

test('doc ID: subscribers (session, client, user, node, presence), recent_ops = the op log, stream = Redis, epoch = PostgreSQL', { timeout: 60000 }, async () => {
  requireReady();
  const rev = await hold(docA);
  try {
    const j = await ctl.json(n1, ['doc', docA]);
    const owner = (await cluster.owners([docA])).get(docA);
    assert.equal(j.doc, docA);
    assert.equal(j.node, owner.owner, 'node is documents.owner');
    assert.equal(j.rev, rev, 'rev is the one the clients settled on');
    assert.equal(j.epoch, owner.epoch, 'epoch is documents.epoch');
    assert.ok(j.history && j.history.to === rev && j.history.from >= 0 && j.history.from <= rev,
      `history {from <= to = rev ${rev}}: ${JSON.stringify(j.history)}`);

    // subscribers: exactly the 4 editors' sockets
    assert.ok(Array.isArray(j.subscribers), `subscribers is a list: ${JSON.stringify(j.subscribers)}`);
    const norm = (s) => ({ session: s.session, client: s.client, user: s.user, node: s.node, presence: s.presence });
    const got = j.subscribers.map(norm).sort((x, y) => (x.session < y.session ? -1 : 1));
    const want = editorsOf(docA).map((d) => ({
      session: d.client.welcome.session, client: d.clientId, user: d.user, node: d.client.welcome.node, presence: d.presence,
    })).sort((x, y) => (x.session < y.session ? -1 : 1));
    assert.deepEqual(got, want, 'subscribers: the 4 sockets, their users, their nodes, the presence they set');

    // recent_ops: the last 20 ops of the log, with the users PostgreSQL recorded
    const from = Math.max(0, rev - 20);
    const log = await clientHttp(n2, `/v1/docs/${docA}/ops?from=${from}&limit=20`, { token: cluster.token() });
    assert.equal(log.status, 200, `GET /v1/docs/${docA}/ops: ${log.status} ${log.text.slice(0, 200)}`);
    const users = new Map((await sqlRows(`SELECT rev || '|' || user_id FROM ops WHERE doc_id = ${q(docA)} AND rev > ${from}`))
      .map((l) => { const [r, u] = l.split('|'); return [Number(r), u]; }));
    const wantOps = log.body.ops.map((o) => ({ rev: o.rev, client: o.client, seq: o.seq, user: users.get(o.rev), op: o.op }));
    assert.equal(wantOps.length, Math.min(20, rev), 'the op log has the last 20 ops');
    assert.ok(Array.isArray(j.recent_ops), `recent_ops is a list: ${JSON.stringify(j.recent_ops)}`);
    const gotOps = j.recent_ops.map((o) => ({ rev: o.rev, client: o.client, seq: o.seq, user: o.user, op: o.op }))
      .sort((x, y) => x.rev - y.rev);
    assert.deepEqual(gotOps, wantOps, 'recent_ops: the last 20 ops of GET /v1/docs/{id}/ops (user from ops.user_id)');
    const editorUser = new Map(editorsOf(docA).map((d) => [d.clientId, d.user]));
    for (const o of gotOps) assert.equal(o.user, editorUser.get(o.client), `recent op ${o.rev}: the user of client ${o.client}`);

    // stream: the Redis stream itself
    const key = `collab:{${docA}}:ops`;
    const len = Number((await cluster.services.redisRaw('XLEN', key)).trim());
    const firstId = (await cluster.services.redisRaw('XRANGE', key, '-', '+', 'COUNT', '1')).split('\n')[0].trim();
    const lastId = (await cluster.services.redisRaw('XREVRANGE', key, '+', '-', 'COUNT', '1')).split('\n')[0].trim();
    assert.equal(lastId, `${rev}-0`, 'Redis: the stream ends at <rev>-0');
    assert.deepEqual(j.stream, { length: len, first_id: firstId, last_id: lastId }, `stream (XLEN ${key}, first and last id)`);
  } finally {
    release(docA);
  }
});

test('conns --node N: that node\'s sockets, with user, client, joined documents and message counts', { timeout: 60000 }, async () => {
  requireReady();
  const all = await ctl.json(n1, ['conns']);
  assert.deepEqual(all.missing || [], [], 'no node missing');
  let total = 0;
  for (const [i, n] of cluster.nodes.entries()) {
    const via = cluster.nodes[(i + 2) % 3];
    const r = await ctl.json(via, ['conns', '--node', n.id]);
    assert.ok(Array.isArray(r.conns), `conns --node ${n.name}: ${JSON.stringify(r).slice(0, 300)}`);
    const mine = run.editors.filter((d) => d.client.isOpen && d.client.welcome.node === n.id);
    const want = mine.map((d) => ({ node: n.id, session: d.client.welcome.session, user: d.user, client: d.clientId, docs: [d.doc] }))
      .sort((x, y) => (x.session < y.session ? -1 : 1));
    const got = r.conns.map((c) => ({ node: c.node, session: c.session, user: c.user, client: c.client, docs: [...(c.docs || [])].sort() }))
      .sort((x, y) => (x.session < y.session ? -1 : 1));
    assert.deepEqual(got, want, `conns --node ${n.name} (through ${via.name}): exactly the test's sockets there`);
    for (const c of r.conns) {
      assert.ok(c.messages_in > 0 && c.messages_out > 0, `${n.name} ${c.session}: messages_in ${c.messages_in}, messages_out ${c.messages_out}`);
      assert.ok(Number.isFinite(c.send_queue_bytes) && c.send_queue_bytes >= 0, `${c.session}: send_queue_bytes ${c.send_queue_bytes}`);
      assert.ok(Number.isFinite(c.connected_s) && c.connected_s >= 0, `${c.session}: connected_s ${c.connected_s}`);
      assert.match(String(c.remote), /127\.0\.0\.1/, `${c.session}: remote ${c.remote}`);
    }
    total += want.length;
  }
  assert.equal(all.conns.length, total, 'conns without --node: every node\'s sockets');
});

test('top --limit N: the N busiest documents (ops/s, then subscribers) and sessions (queued bytes, then messages in) over every node; --once prints the tables', { timeout: 30000 }, async () => {
  requireReady();
  const r = await ctl.json(n2, ['top', '--limit', '2']);
  assert.deepEqual(r.nodes.map((x) => x.node).sort(), ids().sort(), `top: every node: ${JSON.stringify(r.nodes)}`);
  assert.ok(r.docs.length >= 1 && r.docs.length <= 2, `top --limit 2: ${r.docs.length} documents`);
  assert.ok(r.conns.length >= 1 && r.conns.length <= 2, `top --limit 2: ${r.conns.length} sessions`);
  for (let i = 1; i < r.docs.length; i++) assert.ok(r.docs[i - 1].ops_per_s >= r.docs[i].ops_per_s, 'documents by ops/s');
  for (let i = 1; i < r.conns.length; i++) {
    assert.ok(r.conns[i - 1].send_queue_bytes >= r.conns[i].send_queue_bytes, 'sessions by queued bytes');
  }
  const text = await collabctl(['top', '--once', '--limit', '3'], { node: n1.adminAddr, token: cluster.adminToken, json: false });
  assert.equal(text.code, 0, show(text));
  assert.match(text.stdout, /busiest documents:/, show(text));
  assert.match(text.stdout, /busiest sessions:/, show(text));
  for (const id of ids()) assert.ok(text.stdout.includes(id), `top names ${id}: ${show(text)}`);
});

test('human-readable nodes and docs (no --json) name the nodes and the documents', { timeout: 30000 }, async () => {
  requireReady();
  const r = await collabctl(['nodes'], { node: n3.adminAddr, token: cluster.adminToken, json: false });
  assert.equal(r.code, 0, show(r));
  for (const id of ids()) assert.ok(r.stdout.includes(id), `nodes table names ${id}: ${show(r)}`);
  const d = await collabctl(['docs'], { node: n1.adminAddr, token: cluster.adminToken, json: false });
  assert.equal(d.code, 0, show(d));
  for (const doc of [docA, hot, ...docsB]) assert.ok(d.stdout.includes(doc), `docs table names ${doc}: ${show(d)}`);
});

test('snapshot DOC: snapshot_rev is the current rev (and PostgreSQL has it)', { timeout: 60000 }, async () => {
  requireReady();
  const doc = docsB[1];
  const rev = await hold(doc);
  try {
    const owner = (await cluster.owners([doc])).get(doc).owner;
    const r = await ctl.json(n3, ['snapshot', doc]);
    assert.deepEqual({ doc: r.doc, node: r.node, snapshot_rev: r.snapshot_rev }, { doc, node: owner, snapshot_rev: rev },
      `snapshot ${doc} (settled at ${rev}, owner ${cluster.nameOf(owner)})`);
    const [max] = await sqlRows(`SELECT coalesce(max(rev), -1) FROM snapshots WHERE doc_id = ${q(doc)}`);
    assert.equal(Number(max), rev, 'snapshots table: a snapshot at that rev');
    const j = await ctl.json(n2, ['doc', doc]);
    assert.equal(j.snapshot_rev, rev, 'doc shows the new snapshot_rev');
  } finally {
    release(doc);
  }
});

test('evict DOC: without subscribers it is gone from docs; with subscribers it is passivated and re-activated (new epoch), editors unharmed', { timeout: 60000 }, async (t) => {
  requireReady();
  // a document written by one session that then left
  const quiet = docOwnedBy('adm-q', n2, cluster.nodes);
  const w = await probe(n1, { label: 'q-writer' });
  await w.join(quiet);
  await w.opAck(quiet, 0, 1, ['a']);
  await w.opAck(quiet, 1, 2, [1, 'b']);
  await w.opAck(quiet, 2, 3, [2, 'c']);
  w.send({ type: 'leave', doc: quiet });
  await w.next({ type: 'left', doc: quiet });
  closeProbes();
  const qOwner = (await cluster.owners([quiet])).get(quiet).owner;
  await waitFor(async () => {
    const l = await ctl.json(n3, ['docs']);
    const e = l.docs.find((d) => d.doc === quiet);
    return e && e.subscribers === 0;
  }, 10000, `${quiet} live with 0 subscribers`, 200);
  const r = await ctl.json(n3, ['evict', quiet]);
  assert.deepEqual(pick(r, ['doc', 'node', 'rev']), { doc: quiet, node: qOwner, rev: 3 }, `evict ${quiet}: ${JSON.stringify(r)}`);
  const after1 = await ctl.json(n1, ['docs']);
  assert.ok(!after1.docs.some((d) => d.doc === quiet), `${quiet} no longer live: ${JSON.stringify(after1.docs.filter((d) => d.doc === quiet))}`);
  const rd = await ctl.run(n2, ['doc', quiet]);
  assert.equal(rd.code, 1, `doc ${quiet} after the eviction: ${show(rd)}`);
  const hd = await adminHttp(n2, `/admin/v1/docs/${quiet}`, { token: cluster.adminToken });
  assert.equal(hd.status, 404, `GET /admin/v1/docs/${quiet} after the eviction: ${hd.status} ${hd.text}`);
  assert.equal(hd.body && hd.body.error, 'not_found');
  const g = await getDoc(n3, quiet, cluster.token());
  assert.deepEqual({ rev: g.rev, text: g.text }, { rev: 3, text: 'abc' }, 'nothing lost by the eviction');

  // a document with 3 typing subscribers
  const doc = docsB[2];
  const eds = editorsOf(doc);
  const before0 = (await cluster.owners([doc])).get(doc);
  const at = Date.now();
  const e = await ctl.json(n1, ['evict', doc]);
  const after0 = (await cluster.owners([doc])).get(doc);
  assert.equal(e.doc, doc);
  assert.equal(e.node, before0.owner, 'evicted on its owner');
  assert.ok(e.rev >= before0.head && e.rev <= after0.head, `evict rev ${e.rev} within documents.head_rev before (${before0.head}) and after (${after0.head})`);
  let j;
  await waitFor(async () => {
    const rr = await ctl.run(n2, ['doc', doc]);
    j = rr.code === 0 ? rr.json : null;
    return j && j.epoch > before0.epoch && Array.isArray(j.subscribers) && j.subscribers.length === eds.length;
  }, 15000, `${doc} re-activated by its subscribers with a new epoch (last: ${JSON.stringify(j && { epoch: j.epoch, subscribers: j.subscribers })})`, 200);
  const pg = (await cluster.owners([doc])).get(doc);
  assert.equal(j.epoch, pg.epoch, 'the new epoch is documents.epoch');
  assert.ok(pg.epoch > before0.epoch, `documents.epoch ${before0.epoch} -> ${pg.epoch}`);
  assert.deepEqual(j.subscribers.map((s) => s.session).sort(), eds.map((d) => d.sessionId).sort(), 'the same subscribers');
  await waitFor(() => eds.every((d) => d.acks.some((x) => x.t > at)), 15000, `every editor of ${doc} acked after the eviction`);
  t.diagnostic(`evict ${doc}: epoch ${before0.epoch} -> ${pg.epoch}; server closes: ${JSON.stringify(eds.flatMap((d) => d.serverCloses().map((c) => c.code)))}`);
});

test('kick SESSION: that socket is closed with 1008, through another node; others stay', { timeout: 30000 }, async () => {
  requireReady();
  const victim = await probe(n2, { token: n2.token({ sub: 'u-kicked' }), label: 'kick-victim' });
  const bystander = await probe(n2, { token: n2.token({ sub: 'u-bystander' }), label: 'kick-bystander' });
  await victim.join(docsB[0]);
  await bystander.join(docsB[0]);
  const sid = victim.welcome.session;
  const r = await ctl.json(n1, ['kick', sid]);
  assert.deepEqual(pick(r, ['session', 'node']), { session: sid, node: n2.id }, `kick answer: ${JSON.stringify(r)}`);
  const closed = await closedWithin(victim, 5000);
  assert.ok(closed, 'the kicked socket closed within 5 s');
  assert.equal(closed.code, 1008, 'close code 1008');
  assert.ok(bystander.isOpen, 'the other socket on that node is still open');
  await bystander.ping(5000);
  const again = await ctl.run(n3, ['kick', sid]);
  assert.equal(again.code, 1, `kick of a closed session: ${show(again)}`);
  closeProbes();
});

test('token --sub U --docs x/* --ttl 60: works on the client port for x/..., forbidden elsewhere; --read is read-only', { timeout: 30000 }, async () => {
  requireReady();
  const now = Math.floor(Date.now() / 1000);
  const r = await ctl.json(n3, ['token', '--sub', 'u-tok', '--docs', 'x/*', '--ttl', '60']);
  assert.equal(typeof r.token, 'string', `token: ${JSON.stringify(r)}`);
  assert.ok(Math.abs(r.exp - (now + 60)) <= 5, `exp ${r.exp} is about now + 60 (${now + 60})`);
  const p = decodePayload(r.token);
  assert.equal(p.sub, 'u-tok');
  assert.deepEqual(p.docs, ['x/*']);
  assert.equal(p.exp, r.exp);
  for (const n of [n1, n2]) {
    const c = await probe(n, { token: r.token, label: `tok@${n.name}` });
    const x = `x/${randomId('adm')}`;
    const j = await c.join(x);
    assert.equal(j.rev, 0);
    const ack = await c.op(x, 0, 1, ['hi']);
    assert.equal(ack.type, 'ack', `op on ${x} with the minted token: ${JSON.stringify(ack)}`);
    const y = randomId('y');
    c.send({ type: 'join', doc: y });
    const err = await c.next((m) => m.doc === y && (m.type === 'joined' || m.type === 'error'));
    assert.equal(err.type === 'error' && err.code, 'forbidden', `join ${y} with a token for x/*: ${JSON.stringify(err)}`);
  }
  // bad token for the admin: the minted token is not an admin token
  const asAdmin = await adminHttp(n1, '/admin/v1/nodes', { token: r.token });
  assert.equal(asAdmin.status, 401, 'a client token is not an admin token');

  const rr = await ctl.json(n1, ['token', '--sub', 'u-reader', '--docs', 'z/a,z/b', '--read', 'r/*', '--ttl', '60']);
  const pr = decodePayload(rr.token);
  assert.deepEqual({ sub: pr.sub, docs: pr.docs, read: pr.read }, { sub: 'u-reader', docs: ['z/a', 'z/b'], read: ['r/*'] }, 'claims');
  const c = await probe(n3, { token: rr.token, label: 'reader' });
  const rdoc = `r/${randomId('adm')}`;
  await c.join(rdoc);
  const refused = await c.op(rdoc, 0, 1, ['no']);
  assert.equal(refused.type === 'error' && refused.code, 'forbidden', `op on a read-only document: ${JSON.stringify(refused)}`);
  const zj = await c.join('z/b');
  assert.equal(zj.type, 'joined');
  closeProbes();
});

test('revoke --sub U: U\'s sockets on every node closed with 1008 within 5 s, U\'s old token refused (401); another user unaffected', { timeout: 60000 }, async (t) => {
  requireReady();
  const now = Math.floor(Date.now() / 1000);
  const eveToken = cluster.token({ sub: 'u-eve', iat: now - 5 });
  const e1 = await probe(n1, { token: eveToken, label: 'eve@n1' });
  const e2 = await probe(n2, { token: eveToken, label: 'eve@n2' });
  const fred = await probe(n3, { token: cluster.token({ sub: 'u-fred', iat: now - 5 }), label: 'fred@n3' });
  for (const c of [e1, e2, fred]) await c.join(docsB[0]);
  const t0 = Date.now();
  const r = await ctl.json(n3, ['revoke', '--sub', 'u-eve']);
  assert.deepEqual(pick(r.revoked || {}, ['sub', 'jti']), { sub: 'u-eve', jti: undefined }, `revoked: ${JSON.stringify(r)}`);
  run.eveToken = eveToken;
  assert.equal(r.sessions_closed, 2, `sessions_closed: eve had 2 sockets: ${JSON.stringify(r)}`);
  assert.deepEqual([...(r.nodes || [])].sort(), ids().sort(), 'every live node applied it');
  const closes = await Promise.all([e1, e2].map((c) => closedWithin(c, Math.max(0, t0 + 5000 - Date.now()))));
  t.diagnostic(`eve's sockets closed after ${Date.now() - t0} ms or less: ${JSON.stringify(closes)}`);
  assert.deepEqual(closes.map((c) => c && c.code), [1008, 1008], 'eve\'s sockets on n1 and n2 closed with 1008 within 5 s');
  assert.ok(fred.isOpen, 'fred keeps his socket');
  await fred.ping(5000);
  for (const n of cluster.nodes) {
    const u = await tryConnect(n, { token: eveToken, label: 'eve-again' });
    if (u.client) { run.probes.push(u.client); }
    assert.equal(u.status, 401, `${n.name}: eve's old token at the upgrade: ${u.status} ${u.body || ''}`);
  }
  const fred2 = await tryConnect(n1, { token: cluster.token({ sub: 'u-fred', iat: now - 5 }) });
  if (fred2.client) run.probes.push(fred2.client);
  assert.equal(fred2.status, 101, 'fred can still connect');
  const list = await ctl.json(n1, ['revocations']);
  const entry = (list.revocations || []).find((x) => x.sub === 'u-eve');
  assert.ok(entry, `revocations lists u-eve: ${JSON.stringify(list)}`);
  assert.ok(Math.abs(entry.at - t0 / 1000) <= 5, `revoked at ${entry.at}, asked at ${t0 / 1000}`);
  // a token issued after the revocation is not refused
  await waitFor(() => Math.floor(Date.now() / 1000) > entry.at, 3000, 'a second after the revocation', 50);
  const fresh = await tryConnect(n2, { token: cluster.token({ sub: 'u-eve', iat: Math.floor(Date.now() / 1000) }) });
  if (fresh.client) run.probes.push(fresh.client);
  assert.equal(fresh.status, 101, `eve with a token issued after the revocation: ${fresh.status} ${fresh.body || ''}`);
  closeProbes();
});

test('revoke --jti J: that token\'s socket closed with 1008 within 5 s and refused again; the same user\'s other token unaffected', { timeout: 60000 }, async () => {
  requireReady();
  const j1 = randomId('jti');
  const j2 = randomId('jti');
  const tok1 = cluster.token({ sub: 'u-gil', jti: j1 });
  const tok2 = cluster.token({ sub: 'u-gil', jti: j2 });
  const g1 = await probe(n2, { token: tok1, label: 'gil-j1@n2' });
  const g2 = await probe(n3, { token: tok2, label: 'gil-j2@n3' });
  for (const c of [g1, g2]) await c.join(docsB[1]);
  const t0 = Date.now();
  const r = await ctl.json(n1, ['revoke', '--jti', j1]);
  assert.deepEqual(pick(r.revoked || {}, ['sub', 'jti']), { sub: undefined, jti: j1 }, `revoked: ${JSON.stringify(r)}`);
  run.revokedJti = tok1;
  run.revokedJtiId = j1;
  run.otherJti = tok2;
  assert.equal(r.sessions_closed, 1, `sessions_closed: ${JSON.stringify(r)}`);
  const closed = await closedWithin(g1, Math.max(0, t0 + 5000 - Date.now()));
  assert.equal(closed && closed.code, 1008, `the socket of the revoked token closed with 1008 within 5 s: ${JSON.stringify(closed)}`);
  assert.ok(g2.isOpen, 'the same user\'s socket with the other token stays open');
  await g2.ping(5000);
  for (const n of [n1, n3]) {
    const u = await tryConnect(n, { token: tok1 });
    if (u.client) run.probes.push(u.client);
    assert.equal(u.status, 401, `${n.name}: the revoked token at the upgrade: ${u.status} ${u.body || ''}`);
  }
  const ok = await tryConnect(n1, { token: tok2 });
  if (ok.client) run.probes.push(ok.client);
  assert.equal(ok.status, 101, 'the other token still connects');
  const list = await ctl.json(n2, ['revocations']);
  assert.ok((list.revocations || []).some((x) => x.jti === j1), `revocations lists ${j1}: ${JSON.stringify(list)}`);
  closeProbes();
});

test('move DOC NODE: the document relocates under load (doc, documents.owner), its editors keep going', { timeout: 60000 }, async (t) => {
  requireReady();
  const eds = editorsOf(docA);
  const before0 = (await cluster.owners([docA])).get(docA);
  const target = before0.owner === n1.id ? n2 : n1;
  // a move to a node that does not exist is an error and moves nothing
  const bad = await ctl.run(n1, ['move', docA, 'no-such-node']);
  assert.equal(bad.code, 1, `move to an unknown node: ${show(bad)}`);
  assert.equal((await cluster.owners([docA])).get(docA).owner, before0.owner, 'not moved by the failed request');

  const at = Date.now();
  const r = await ctl.json(n2, ['move', docA, target.id]);
  const ms = Date.now() - at;
  assert.deepEqual(pick(r, ['doc', 'from', 'to']), { doc: docA, from: before0.owner, to: target.id }, `move answer: ${JSON.stringify(r)}`);
  const j = await ctl.json(n3, ['doc', docA]);
  assert.equal(j.node, target.id, 'doc shows the new owner as soon as move answered');
  const pg = (await cluster.owners([docA])).get(docA);
  assert.equal(pg.owner, target.id, 'documents.owner is the new node');
  assert.ok(pg.epoch > before0.epoch, `documents.epoch ${before0.epoch} -> ${pg.epoch}`);
  assert.equal(j.epoch, pg.epoch, 'doc shows the new epoch');
  let subs;
  await waitFor(async () => {
    subs = (await ctl.json(n3, ['doc', docA])).subscribers;
    return JSON.stringify(subs.map((s) => s.session).sort()) === JSON.stringify(eds.map((d) => d.sessionId).sort());
  }, 10000, `the 4 subscribers of ${docA} follow it to ${target.name} (last: ${JSON.stringify(subs)})`, 200);
  await waitFor(() => eds.every((d) => d.acks.some((x) => x.t > at + ms)), 15000, `every editor of ${docA} acked after the move`);
  // it stays where it was put
  await sleep(3000);
  const j2 = await ctl.json(n1, ['doc', docA]);
  const pg2 = (await cluster.owners([docA])).get(docA);
  assert.deepEqual({ doc: j2.node, pg: pg2.owner, epoch: pg2.epoch }, { doc: target.id, pg: target.id, epoch: pg.epoch },
    `${docA} still on ${target.name} 3 s after the move (placement did not take it back)\n${cluster.docHistory(docA).join('\n')}`);
  t.diagnostic(`move ${docA} ${cluster.nameOf(before0.owner)} -> ${target.name}: ${ms} ms; editors' server closes: ${JSON.stringify(eds.flatMap((d) => d.serverCloses().map((c) => c.code)))}`);
  run.moved = { doc: docA, to: target.id };
});

test('drain NODE: nodes shows it draining, its documents move away, its clients get 1001 and resume elsewhere', { timeout: 90000 }, async (t) => {
  requireReady();
  closeProbes();
  const docs = [docA, hot, ...docsB];
  const owners0 = await cluster.owners(docs);
  const onN3 = run.editors.filter((d) => d.client.isOpen && d.socketNode === n3.id);
  t.diagnostic(`before the drain: documents on n3 ${docs.filter((d) => owners0.get(d).owner === n3.id).join(', ')}; ${onN3.length} editors on n3`);
  const at = Date.now();
  const r = await ctl.json(n1, ['drain', n3.id]);
  n3.draining = true;      // the harness' editors reconnect elsewhere
  n3.expectExit = true;    // whether it exits once drained is not the test's concern
  assert.deepEqual(pick(r, ['node', 'state']), { node: n3.id, state: 'draining' }, `drain answer: ${JSON.stringify(r)}`);
  for (const via of [n1, n2]) {
    const a = await ctl.json(via, ['nodes']);
    const x = a.nodes.find((y) => y.node === n3.id);
    if (!n3.alive() && (!x || x.state === 'down')) {
      // a drained node may exit; then it is down (or gone) rather than draining
      t.diagnostic(`n3 exited before nodes answered through ${via.name}: ${JSON.stringify(x)}`);
    } else {
      assert.equal(x && x.state, 'draining', `nodes through ${via.name} right after the drain: ${JSON.stringify(a.nodes.map((y) => [y.node, y.state]))}`);
    }
    for (const o of [n1, n2]) assert.equal(a.nodes.find((y) => y.node === o.id).state, 'up', `${o.name} still up`);
  }
  let left;
  await waitFor(async () => {
    const rr = await ctl.run(n1, ['docs', '--node', n3.id]);
    left = rr.code === 0 ? rr.json.docs : rr;
    return Array.isArray(left) && left.length === 0;
  }, 30000, `no live document on n3 (last: ${JSON.stringify(left)})`, 250);
  let stuck = [];
  await waitFor(async () => {
    const now = await cluster.owners(docs);
    stuck = docs.filter((d) => now.get(d).owner === n3.id);
    return stuck.length === 0;
  }, 20000, 'documents.owner: none of the test\'s documents on n3', 100).catch((e) => {
    e.message += `; still on n3: ${stuck.join(', ')}\n${cluster.docHistory(stuck[0]).join('\n')}`;
    throw e;
  });
  await waitFor(() => onN3.every((d) => d.connected && d.socketNode && d.socketNode !== n3.id), 20000,
    'n3\'s editors resumed on another node');
  for (const d of onN3) {
    const codes = d.serverCloses().filter((c) => c.node === n3.id && c.t >= at).map((c) => c.code);
    assert.deepEqual(codes, [1001], `${d.label}: its socket on n3 closed once with 1001`);
  }
  const moved = Date.now();
  await waitFor(() => docs.every((doc) => editorsOf(doc).some((d) => d.acks.some((x) => x.t > moved))), 15000,
    'every document acks after the drain');
  if (n3.alive()) {
    const st = await ctl.json(n2, ['nodes']);
    assert.equal(st.nodes.find((y) => y.node === n3.id).state, 'draining', 'n3 stays draining');
    assert.equal((await readyz(n3)).status, 503, 'a draining node answers /readyz 503');
  }
  t.diagnostic(`drain: documents gone from n3 and editors resumed within ${moved - at} ms; n3 ${n3.alive() ? 'still runs' : `exited ${JSON.stringify(n3.srv.exited)}`}`);
});

test('after everything: nothing acked lost, gapless, exactly-once, converged; no client heard an error', { timeout: 90000 }, async (t) => {
  requireReady();
  await run.stopTyping();
  for (const d of run.editors) d.hold = false;
  await settleAll(run.editors, 60000);
  const docs = [docA, hot, ...docsB];
  let total = 0;
  for (const doc of docs) {
    const eds = editorsOf(doc);
    const r = await checkDocument(n1, doc, eds, { services: cluster.services });
    total += r.rev;
    const g = await getDoc(n2, doc, cluster.token());
    assert.deepEqual({ rev: g.rev, text: g.text }, { rev: r.rev, text: eds[0].text }, `${doc}: GET on n2`);
  }
  const trouble = [];
  for (const d of run.editors) {
    const tr = editorTrouble(d);
    if (tr.length) trouble.push(`${d.label}: ${tr.join('; ')}`);
  }
  const closes = run.editors.flatMap((d) => d.serverCloses().map((c) => `${d.label}: ${c.code} on ${cluster.nameOf(c.node)}, ${cluster.when(c.t)}`));
  t.diagnostic(`${total} revisions over ${docs.length} documents; server closes: ${JSON.stringify(closes)}`);
  assert.deepEqual(trouble, [], 'no error, no unavailable, no not_joined');
  assert.deepEqual(closes.filter((c) => !/: 1001 on/.test(c)), [], 'editors\' sockets closed by a server only with 1001');
  cluster.assertNoUnexpectedExit();
  for (const d of run.editors) d.stop();
});

test('a node that starts later refuses the revoked user and token (the list is read from Redis)', { timeout: 60000 }, async () => {
  requireReady();
  assert.ok(run.eveToken && run.revokedJti, 'the revocation tests did not run');
  const n4 = await cluster.addNode();
  cluster.setSeeds([n4], [n1, n2, n3, n4]);
  await n4.start();
  await cluster.waitReady([n4]);
  const eve = await tryConnect(n4, { token: run.eveToken });
  if (eve.client) eve.client.terminate();
  assert.equal(eve.status, 401, `n4: the revoked user's old token: ${eve.status} ${eve.body || ''}`);
  const jti = await tryConnect(n4, { token: run.revokedJti });
  if (jti.client) jti.client.terminate();
  assert.equal(jti.status, 401, `n4: the revoked jti: ${jti.status} ${jti.body || ''}`);
  const other = await tryConnect(n4, { token: run.otherJti });
  if (other.client) other.client.terminate();
  assert.equal(other.status, 101, 'n4: the same user\'s other token');
  const list = await ctl.json(n4, ['revocations']);
  assert.ok(list.revocations.some((x) => x.sub === 'u-eve') && list.revocations.some((x) => x.jti === run.revokedJtiId),
    `revocations through n4: ${JSON.stringify(list)}`);
});
