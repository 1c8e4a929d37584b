'use strict';
// PostgreSQL stopped under write load and restarted ~3 s later: meanwhile ops
// are answered `unavailable` (clients retry with the same seq after a backoff)
// and no ack is sent (durable before visible), /readyz is 503 naming postgres,
// /healthz stays 200; afterwards editing resumes by itself and the history is
// complete, gapless and exactly-once.
require('./lib/deps');
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { randomId } = require('./lib/client');
const {
  sleep, mulberry32, seedFor, startServices, Node, openEditors, startLoad, settleAll,
  checkDocument, readyz, healthz, waitFor, metricsLine, getDoc, fillDoc, allOps, resumeOnce,
  assertExactReplay,
} = require('./lib/durability');
const { session } = require('./lib/client');

const DOCS = 4;
const CLIENTS = 3;
const OUTAGE_MS = Number(process.env.E2E_OUTAGE_MS || 3000);

let services;
let node;

before(async () => {
  services = await startServices('pgout');
  // documents without subscribers passivate quickly (the "cold" document below)
  node = await Node.create(services, { COLLAB_DOC_IDLE_MS: '400' });
  await node.start();
});

after(async () => {
  if (node) await node.kill().catch(() => {});
  if (services) await services.stop();
});

test('PostgreSQL down under load: unavailable, no ack, not ready, then editing resumes', { timeout: 240000 }, async (t) => {
  const seed = seedFor(t);
  const rnd = mulberry32(seed);
  // (the store connects lazily: ready shortly after the start)
  await waitFor(async () => (await readyz(node)).status === 200, 30000, '/readyz 200 before the outage', 100);
  const docs = Array.from({ length: DOCS }, () => randomId('dur-pgout'));
  const byDoc = await openEditors(node, docs, CLIENTS);
  const editors = [...byDoc.values()].flat();
  // a cold document: written, then passivated (snapshot), not active when
  // PostgreSQL goes down
  const cold = randomId('dur-pgout-cold');
  const cw = await session(node, { label: 'cold writer' });
  await cw.join(cold);
  for (let s = 1; s <= 5; s++) await cw.opAck(cold, s - 1, s, [`${s}`]);
  const coldDoc = await getDoc(node, cold);
  cw.close();
  await waitFor(async () => (await services.sql(
    `SELECT count(*) FROM snapshots WHERE doc_id = '${cold}' AND rev = 5`)).trim() === '1',
  20000, 'the cold document to passivate (snapshot at rev 5)', 100);
  await sleep(300);

  const stopLoad = startLoad(editors, rnd);
  const probes = []; // {t, readyz, healthz}
  let coldJoin;
  let stopBegan;
  let stopDone;
  let startBegan;
  let startDone;
  try {
    // warm up: every editor has had an ack
    await waitFor(() => editors.every((d) => d.acks.length > 0), 20000, 'a first ack for every editor');
    await sleep(800);

    stopBegan = Date.now();
    await services.stopPg();
    stopDone = Date.now();
    t.diagnostic(`pg stop took ${stopDone - stopBegan} ms`);

    // while down: joining the cold document must not invent it (rev 0, empty)
    const cc = await session(node, { label: 'cold joiner' });
    cc.send({ type: 'join', doc: cold });
    coldJoin = cc.next((m) => m.doc === cold && (m.type === 'joined' || m.type === 'error'), 60000)
      .then((m) => ({ m, t: Date.now() }));

    // while down: probe /readyz and /healthz until the outage ends
    const until = stopDone + OUTAGE_MS;
    while (Date.now() < until) {
      const r = await readyz(node);
      probes.push({ t: Date.now(), readyz: r, healthz: await healthz(node) });
      await sleep(100);
    }
    node.assertAlive();

    startBegan = Date.now();
    await services.startPg();
    startDone = Date.now();
    t.diagnostic(`pg start took ${startDone - startBegan} ms`);

    // editing resumes by itself: every editor gets an ack after the restart
    await Promise.all(editors.map((d) => waitFor(() => d.acks.some((a) => a.t > startDone), 60000,
      `${d.label}: an ack after PostgreSQL came back (unavailable answers: ${d.unavailable.length})`)));
    await waitFor(async () => (await readyz(node)).status === 200, 30000, '/readyz 200 after the restart', 100);
  } finally {
    await stopLoad();
    if (stopDone && !startDone) await services.startPg().catch(() => {});
  }
  await settleAll(editors, 60000);

  // the cold document during the outage: `unavailable`, or the right text
  // once PostgreSQL is back, never an invented empty document
  const cj = await coldJoin;
  t.diagnostic(`join of the passivated document during the outage: ${JSON.stringify(cj.m)} after ${cj.t - stopDone} ms`);
  if (cj.m.type === 'error') {
    assert.equal(cj.m.code, 'unavailable', 'join during the outage');
  } else {
    assert.ok(cj.t >= startBegan, 'the passivated document was joined while PostgreSQL was down');
    assert.deepEqual({ rev: cj.m.rev, text: cj.m.text }, { rev: coldDoc.rev, text: coldDoc.text });
  }
  const cc2 = await session(node, { label: 'cold joiner after' });
  const j2 = await cc2.join(cold);
  assert.deepEqual({ rev: j2.rev, text: j2.text }, { rev: coldDoc.rev, text: coldDoc.text },
    'the passivated document after PostgreSQL came back');
  cc2.close();

  // no ack while PostgreSQL was down
  const lo = stopDone + 200;
  const hi = startBegan;
  const during = [];
  for (const d of editors) {
    for (const a of d.acks) if (a.t > lo && a.t < hi) during.push({ client: d.label, ...a });
  }
  assert.deepEqual(during, [], `acks between ${lo} (stop finished + 200 ms) and ${hi} (start began)`);

  // ops were answered `unavailable` meanwhile (and retried)
  const unavailableDuring = editors.reduce((n, d) =>
    n + d.unavailable.filter((u) => u.t > stopBegan && u.t < startDone + 2000).length, 0);
  t.diagnostic(`unavailable answers during the outage: ${unavailableDuring}`);
  assert.ok(unavailableDuring > 0, 'no op was answered `unavailable` while PostgreSQL was down');
  // a client that retries with the same seq must not find itself unsubscribed
  const dropped = editors.flatMap((d) => d.unavailable.filter((u) => u.code === 'not_joined')
    .map((u) => ({ client: d.label, ...u })));
  assert.deepEqual(dropped, [], 'retrying with the same seq was answered not_joined');
  t.diagnostic(`reconnects: ${editors.reduce((n, d) => n + d.reconnects, 0)}`);

  // /healthz 200 throughout; /readyz 503 naming postgres (after a short detection delay)
  assert.ok(probes.length > 0);
  assert.deepEqual(probes.filter((p) => p.healthz !== 200).map((p) => ({ t: p.t - stopDone, healthz: p.healthz })), [],
    '/healthz answers 200 while PostgreSQL is down');
  const notReady = probes.filter((p) => p.readyz.status === 503 && /postgres/i.test(p.readyz.body));
  assert.ok(notReady.length > 0,
    `/readyz never answered 503 naming postgres during the outage: ${JSON.stringify(probes.slice(-3).map((p) => p.readyz))}`);
  const firstNotReady = notReady[0].t - stopDone;
  t.diagnostic(`/readyz 503 after ${firstNotReady} ms: ${JSON.stringify(notReady[0].readyz.body.trim())}`);
  // once it noticed, it stays not ready until PostgreSQL is back
  const afterNoticed = probes.filter((p) => p.t >= notReady[0].t);
  assert.deepEqual(afterNoticed.filter((p) => p.readyz.status !== 503).map((p) => ({ t: p.t - stopDone, ...p.readyz })), [],
    '/readyz flapped back to ready while PostgreSQL was still down');

  let total = 0;
  for (const doc of docs) {
    const r = await checkDocument(node, doc, byDoc.get(doc), { services });
    total += r.rev;
    t.diagnostic(`${doc}: ${r.rev} revisions`);
  }
  assert.ok(total >= DOCS * 10, `too few ops committed (${total})`);
  t.diagnostic(await metricsLine(node, ['collab_pg_', 'collab_stream_']));
  for (const d of editors) d.stop();
  node.assertAlive();
});

test('PostgreSQL hung (SIGSTOP) under load: no ack while hung, then editing resumes, exactly once', { timeout: 240000 }, async (t) => {
  // longer than the store's deadlines (statement_timeout 5 s + watchdog), so
  // that commits in flight are cut and answered `unavailable` or verified
  const HANG_MS = Number(process.env.E2E_HANG_MS || 10000);
  const rnd = mulberry32(seedFor(t));
  await waitFor(async () => (await readyz(node)).status === 200, 30000, '/readyz 200 before the hang', 100);
  const docs = Array.from({ length: DOCS }, () => randomId('dur-pghang'));
  const byDoc = await openEditors(node, docs, CLIENTS);
  const editors = [...byDoc.values()].flat();
  const stopLoad = startLoad(editors, rnd);
  const probes = [];
  let frozen;
  let thawed;
  try {
    await waitFor(() => editors.every((d) => d.acks.length > 0), 20000, 'a first ack for every editor');
    await sleep(500);
    services.freezePg();
    frozen = Date.now();
    while (Date.now() < frozen + HANG_MS) {
      probes.push({ t: Date.now(), readyz: await readyz(node), healthz: await healthz(node) });
      await sleep(200);
    }
    node.assertAlive();
    services.thawPg();
    thawed = Date.now();
    await Promise.all(editors.map((d) => waitFor(() => d.acks.some((a) => a.t > thawed), 60000,
      `${d.label}: an ack after PostgreSQL resumed (unavailable answers: ${d.unavailable.length})`)));
    await waitFor(async () => (await readyz(node)).status === 200, 30000, '/readyz 200 after the hang', 100);
  } finally {
    if (frozen && !thawed) services.thawPg();
    await stopLoad();
  }
  await settleAll(editors, 60000);
  const during = editors.flatMap((d) => d.acks.filter((a) => a.t > frozen + 200 && a.t < thawed)
    .map((a) => ({ client: d.label, ...a, at: a.t - frozen })));
  assert.deepEqual(during, [], 'acks while PostgreSQL was hung');
  assert.deepEqual(probes.filter((p) => p.healthz !== 200).map((p) => ({ at: p.t - frozen, healthz: p.healthz })), [],
    '/healthz 200 while PostgreSQL is hung');
  const firstNotReady = probes.find((p) => p.readyz.status !== 200);
  t.diagnostic(`/readyz while hung: first not ready after ${firstNotReady ? firstNotReady.t - frozen : '-'} ms: ` +
    `${JSON.stringify([...new Set(probes.map((p) => `${p.readyz.status} ${p.readyz.body.trim().slice(0, 100)}`))])}`);
  t.diagnostic(`unavailable answers: ${editors.reduce((n, d) => n + d.unavailable.length, 0)}, ` +
    `ops resent: ${editors.reduce((n, d) => n + [...d.sent.values()].filter((x) => x.length > 1).length, 0)}`);
  for (const doc of docs) {
    const r = await checkDocument(node, doc, byDoc.get(doc), { services });
    t.diagnostic(`${doc}: ${r.rev} revisions`);
  }
  t.diagnostic(await metricsLine(node, ['collab_pg_']));
  for (const d of editors) d.stop();
  node.assertAlive();
});

test('resume while PostgreSQL is down and neither memory nor the stream holds the range: not a full-text answer',
  {
    timeout: 120000,
  }, async (t) => {
    // the actor keeps 20 ops; the stream of the document is deleted
    await node.stop();
    await node.start({ COLLAB_HISTORY_WINDOW: '20' });
    await waitFor(async () => (await readyz(node)).status === 200, 30000, '/readyz 200', 100);
    const doc = randomId('dur-pgout-resume');
    const eds = await fillDoc(node, doc, 100, { editors: 2, close: false });
    const log = await allOps(node, doc);
    const N = log.length;
    await services.redisRaw('DEL', `collab:{${doc}}:ops`);
    let answer;
    let after;
    await services.stopPg();
    try {
      // PostgreSQL is the only source of ops 11..N-20 now, and it is down
      answer = await resumeOnce(node, doc, 10, { timeoutMs: 30000 });
      t.diagnostic(`resume from 10 of ${N} while PostgreSQL is down: ` +
        `${answer.error ? JSON.stringify(answer.error) : `${answer.ops.length} ops, joined ${JSON.stringify({ ...answer.joined, text: answer.joined.text === undefined ? undefined : '…' })}`}`);
    } finally {
      await services.startPg();
    }
    await waitFor(async () => (await readyz(node)).status === 200, 30000, '/readyz 200 after the restart', 100);
    after = await resumeOnce(node, doc, 10, { timeoutMs: 30000 });
    assertExactReplay(after, log, 10);
    for (const d of eds) d.stop();
    // The ops exist (nothing is compacted): docs/PROTOCOL.md allows `joined` with
    // the text only "where R is older than what can be replayed"; a client
    // holding an unacked op cannot rebase it onto a text (docs/DESIGN.md contract 4:
    // resume is exact). A transient outage calls for `unavailable`.
    if (answer.error) {
      assert.equal(answer.error.code, 'unavailable', 'the resume during the outage');
    } else {
      assertExactReplay(answer, log, 10);
    }
  });

test('a node started while PostgreSQL is down: up, not ready, joins unavailable; ready and editing once it is back',
  { timeout: 120000 }, async (t) => {
    const doc = randomId('dur-pgout-boot');
    await node.stop();
    await services.stopPg();
    let pgStarted = false;
    try {
      const t0 = Date.now();
      await node.start();
      t.diagnostic(`collabd ready line ${Date.now() - t0} ms after the start, PostgreSQL down`);
      assert.equal(await healthz(node), 200, '/healthz');
      const r = await waitFor(async () => {
        const x = await readyz(node);
        return x.status === 503 ? x : null;
      }, 15000, '/readyz 503', 100);
      assert.match(r.body, /postgres/i, '/readyz names postgres');
      const c = await session(node, { label: 'early joiner' });
      c.send({ type: 'join', doc });
      const m = await c.next((x) => x.doc === doc && (x.type === 'joined' || x.type === 'error'), 30000);
      t.diagnostic(`join while PostgreSQL is down: ${JSON.stringify(m)}`);
      assert.equal(m.type, 'error', 'a join answered while PostgreSQL was never reachable');
      assert.equal(m.code, 'unavailable');
      c.close();
      await services.startPg();
      pgStarted = true;
      await waitFor(async () => (await readyz(node)).status === 200, 30000, '/readyz 200 once PostgreSQL is up', 100);
      const w = await session(node, { label: 'writer' });
      const j = await w.join(doc);
      assert.equal(j.rev, 0);
      assert.equal((await w.opAck(doc, 0, 1, ['hello'], 15000)).rev, 1);
      assert.deepEqual(await getDoc(node, doc), { doc, rev: 1, text: 'hello' });
      w.close();
    } finally {
      if (!pgStarted) await services.startPg().catch(() => {});
    }
  });
